//! What an interrupted run may have left at the staging name, and whether it is blankroot's.
//!
//! Only two things ever sit there: the new root before the swap (a pristine copy of the blank,
//! or an empty subvolume) and, after the swap, the old root, marked before the swap. Anything
//! else is somebody else's and is never deleted.

use super::{Source, Subvol, Tree};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staged<'a> {
    Absent,
    /// A copy of the blank (or an empty subvolume) nobody has changed: the new root of a run
    /// that stopped before the swap. It holds nothing anybody wrote.
    Pristine(&'a Subvol),
    /// The old root of a run that stopped after the swap (it carries blankroot's mark).
    Retired(&'a Subvol),
    /// Not blankroot's; why (empty when it is not even a subvolume).
    Foreign(String),
}

/// `blank` is the blank's subvolume (None with `--empty`).
pub fn classify<'a>(source: &Source, tree: &'a Tree, blank: Option<&Subvol>) -> Staged<'a> {
    let Some(s) = tree.subvol() else {
        return match tree.entry {
            super::Entry::Absent => Staged::Absent,
            _ => Staged::Foreign(String::new()),
        };
    };
    match pristine(source, s, tree, blank) {
        Ok(()) => Staged::Pristine(s),
        Err(_) if tree.mark.is_some() => Staged::Retired(s),
        Err(why) => Staged::Foreign(why),
    }
}

/// Why `s` is not a pristine new root, if it is not.
///
/// A copy of the blank: a writable snapshot of it (its parent UUID is the blank's), holding no
/// subvolume, whose last change is the transaction that made it. The generation is a weaker
/// proof than comparing the content, and it is enough: a change in the very transaction that
/// made the copy would have to come within the seconds between blankroot's snapshot and the
/// commit, by somebody writing into a hidden name under a private mount of the top level.
/// With `--empty`: an empty subvolume, which holds nothing to lose whatever made it.
fn pristine(
    source: &Source,
    s: &Subvol,
    tree: &Tree,
    blank: Option<&Subvol>,
) -> Result<(), String> {
    if !tree.nested.is_empty() {
        return Err(format!("it holds {} subvolume(s)", tree.nested.len()));
    }
    if s.read_only {
        return Err("it is read-only".into());
    }
    match (source, blank) {
        (Source::Empty, _) if tree.empty => Ok(()),
        (Source::Empty, _) => Err("it is not empty".into()),
        (Source::Blank(name), Some(b)) if s.parent_uuid != b.uuid => {
            Err(format!("it is not a snapshot of the blank {name}"))
        }
        (Source::Blank(_), _) if s.generation != s.otransid => Err(format!(
            "it was changed after it was made (transaction {} after {})",
            s.generation, s.otransid
        )),
        (Source::Blank(_), Some(_)) => Ok(()),
        (Source::Blank(name), None) => Err(format!("the blank {name} cannot be compared")),
    }
}

/// After finishing a run that stopped after its swap: whether the root is still the fresh copy
/// that run made, unused since (then it stays; a second archive would only hold a copy of the
/// blank). The swap changed both subvolumes in one transaction, and deleting or moving the old
/// root changes it again, so a root nobody wrote to is no newer than the retired one.
pub fn unused_new_root(
    source: &Source,
    root: &Subvol,
    tree: &Tree,
    blank: Option<&Subvol>,
    retired: &Subvol,
) -> bool {
    if !tree.nested.is_empty() || root.read_only {
        return false;
    }
    match (source, blank) {
        (Source::Empty, _) => tree.empty,
        (Source::Blank(_), Some(b)) => {
            root.parent_uuid == b.uuid && root.generation <= retired.generation
        }
        (Source::Blank(_), None) => false,
    }
}
