//! Retiring an old root (moving it into the archive, or deleting it with its nested
//! subvolumes), and the attribute checks that come before: the kernel refuses to delete or
//! rename an entry that is immutable or append-only, or that sits in a directory that is.

use super::{runtime, Plan, Step, Subvol, Tree};
use super::{APPEND_ONLY, IMMUTABLE};
use crate::error::{Error, Result};
use crate::names::Name;

/// The refusal for an entry (`None`: the top level) whose attributes block `doing`.
pub fn locked(path: Option<&Name>, flags: u32, doing: &str) -> Error {
    let (what, letter) = if flags & IMMUTABLE != 0 {
        ("immutable", 'i')
    } else {
        ("append-only", 'a')
    };
    let (shown, arg) = match path {
        Some(p) => (p.to_string(), format!("<top>/{p}")),
        None => ("the top-level directory".to_string(), "<top>".to_string()),
    };
    runtime(format!(
        "{shown} is {what} (chattr +{letter}), so {doing} would fail: nothing was changed; clear it with `chattr -{letter} {arg}` (on the top level mounted with subvolid=5)"
    ))
}

/// Refuses when `flags` (of `path`) block `doing`.
pub fn unlocked(path: Option<&Name>, flags: u32, doing: &str) -> Result<()> {
    if flags & (IMMUTABLE | APPEND_ONLY) != 0 {
        return Err(locked(path, flags, doing));
    }
    Ok(())
}

/// Refuses when an attribute would stop the deletion of `name` (subvolume `sub`) or of a
/// subvolume nested in it.
pub fn deletable(name: &Name, sub: &Subvol, tree: &Tree) -> Result<()> {
    let deleting = |n: &Name| format!("deleting {n}");
    unlocked(Some(name), sub.flags, &deleting(name))?;
    unlocked(name.parent().as_ref(), tree.parent_flags, &deleting(name))?;
    for n in &tree.nested {
        unlocked(Some(&n.name), n.sub.flags, &deleting(&n.name))?;
        unlocked(n.name.parent().as_ref(), n.parent_flags, &deleting(&n.name))?;
    }
    Ok(())
}

/// Deletes `name` (subvolume `sub`, with the nested subvolumes of `tree`, named under `name`):
/// read-only ones that hold others are made writable, the nested ones go deepest first.
pub fn delete_tree(
    p: &mut Plan,
    name: &Name,
    sub: &Subvol,
    tree: &Tree,
    why: &'static str,
) -> Result<()> {
    deletable(name, sub, tree)?;
    let writable = "so the subvolumes in it can be deleted";
    if sub.read_only && !tree.nested.is_empty() {
        p.steps.push(Step::MakeWritable {
            name: name.clone(),
            id: sub.id,
            why: writable,
        });
    }
    for n in tree
        .nested
        .iter()
        .rev()
        .filter(|n| n.sub.read_only && n.has_children)
    {
        p.steps.push(Step::MakeWritable {
            name: n.name.clone(),
            id: n.sub.id,
            why: writable,
        });
    }
    for n in &tree.nested {
        p.steps.push(Step::DeleteSubvolume {
            name: n.name.clone(),
            id: n.sub.id,
            why: "nested",
        });
    }
    p.steps.push(Step::DeleteSubvolume {
        name: name.clone(),
        id: sub.id,
        why,
    });
    Ok(())
}

/// Retires the old root found at `at` (after the swap, the staging name): into the archive at
/// `dest`, or deleted when `dest` is None. `mark` is its mark as it stands.
pub fn retire(
    p: &mut Plan,
    at: &Name,
    sub: &Subvol,
    tree: &Tree,
    mark: Option<&str>,
    dest: Option<Name>,
) -> Result<()> {
    let Some(dest) = dest else {
        return delete_tree(p, at, sub, tree, "the old root");
    };
    let doing = format!("moving {at} to {dest}");
    unlocked(Some(at), sub.flags, &doing)?;
    unlocked(at.parent().as_ref(), tree.parent_flags, &doing)?;
    if mark != Some(dest.basename()) {
        p.steps.push(Step::Mark {
            name: at.clone(),
            id: sub.id,
            value: dest.basename().to_string(),
        });
    }
    p.steps.push(Step::Rename {
        from: at.clone(),
        id: Some(sub.id),
        to: dest.clone(),
    });
    p.archive = Some(dest);
    Ok(())
}
