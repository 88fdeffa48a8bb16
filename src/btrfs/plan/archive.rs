//! Archive mode: where a retired root goes, and which old archives are pruned.
//!
//! Only subvolumes blankroot archived are pruned: their name is an archive time and their top
//! directory carries [`RETIRED_XATTR`] with that same name (set before the swap). A subvolume
//! renamed into the directory, an archive renamed by hand, plain directories and archives of
//! other tools are left alone and reported — unless `--prune-unmarked`, which also prunes
//! unmarked subvolumes with archive-time names (the archives of blankroot before 0.2 and of
//! the impermanence script).

use super::retire::{delete_tree, locked};
use super::{
    default_min_free, runtime, Archive, ArchiveEntry, Config, Entry, Facts, Plan, Step, Subvol,
    Tree,
};
use super::{APPEND_ONLY, IMMUTABLE, RETIRED_XATTR};
use crate::error::Result;
use crate::names::Name;
use crate::retention::{self, Stamp};

pub struct Archiver<'a> {
    dir: &'a Name,
    archive: &'a Archive,
    facts: &'a Facts,
    /// Too little free space: this boot deletes the root instead of archiving it.
    pub low: bool,
    /// The archive directory does not exist yet (and no step has made it).
    missing: bool,
    /// Every archive-time name in the directory, and those this plan adds.
    stamps: Vec<Stamp>,
    candidates: Vec<(String, Stamp, &'a Subvol, &'a Tree)>,
    added: usize,
}

impl<'a> Archiver<'a> {
    pub fn new(
        cfg: &'a Config,
        archive: &'a Archive,
        f: &'a Facts,
        container: u64,
        p: &mut Plan,
    ) -> Result<Archiver<'a>> {
        let dir = &archive.dir;
        let entry = f
            .archive_dir
            .as_ref()
            .expect("inspect looks at the archive directory");
        match entry {
            Entry::Absent | Entry::PlainDir => {}
            Entry::Subvolume(_) => return Err(runtime(format!(
                "archive directory {dir} is a subvolume: nothing was changed; the root cannot be moved into another subvolume, use a plain directory beside the root (e.g. `old_roots`)"
            ))),
            other => return Err(runtime(format!(
                "archive directory {dir} {}: nothing was changed; make it a plain directory or choose another --archive-dir", other.describe()
            ))),
        }
        if f.archive_container != Some(container) {
            return Err(runtime(format!(
                "archive directory {dir} is not in the same subvolume as the root {}: nothing was changed; the root can only be moved within one subvolume, put the archive directory beside it", cfg.root
            )));
        }
        if f.archive_dir_flags & IMMUTABLE != 0 {
            return Err(locked(Some(dir), IMMUTABLE, "moving the old root into it"));
        }
        let min_free = cfg
            .min_free
            .unwrap_or_else(|| default_min_free(f.space.total));
        let low = f.space.data < min_free || f.space.metadata < min_free;
        if low {
            p.warnings.push(format!(
                "ONLY {} MiB FREE FOR DATA AND {} MiB FOR METADATA (under the {} MiB minimum): DELETING THE ROOT INSTEAD OF ARCHIVING IT THIS BOOT; free space, prune {dir} or lower --keep",
                f.space.data >> 20, f.space.metadata >> 20, min_free >> 20
            ));
        }
        let mut a = Archiver {
            dir,
            archive,
            facts: f,
            low,
            missing: *entry == Entry::Absent,
            stamps: Vec::new(),
            candidates: Vec::new(),
            added: 0,
        };
        a.sort_entries(cfg, p);
        Ok(a)
    }

    /// Sorts the directory's entries into prune candidates and what is left alone (and why).
    fn sort_entries(&mut self, cfg: &Config, p: &mut Plan) {
        for s in sort_archives(cfg, self.dir, self.facts) {
            if let Some(stamp) = s.stamp {
                self.stamps.push(stamp);
            }
            match (s.left_alone, &s.entry.tree.entry, s.stamp) {
                (Some(reason), _, _) => p.left_alone.push(format!("{} ({reason})", s.name)),
                (None, Entry::Subvolume(sub), Some(stamp)) => {
                    let base = s.entry.name.to_string_lossy().into_owned();
                    self.candidates.push((base, stamp, sub, &s.entry.tree));
                }
                (None, _, _) => unreachable!("only archive-named subvolumes are candidates"),
            }
        }
    }

    /// Where the next retired root goes: a name after every archive, the directory made first
    /// when it is missing. `None` in a low-space boot (the root is deleted instead).
    pub fn destination(&mut self, p: &mut Plan) -> Option<Name> {
        if self.low {
            return None;
        }
        if self.missing {
            p.steps.push(Step::MakeDir {
                name: self.dir.clone(),
            });
            self.missing = false;
        }
        let f = self.facts;
        let taken = |n: &str| f.archives.iter().any(|e| e.name.as_os_str() == n);
        let (base, behind) = retention::next_name(f.now, self.stamps.iter().copied(), taken);
        if behind {
            p.warnings.push(format!(
                "the clock ({}) is behind the newest archive: naming the new one {base} so it sorts after it",
                retention::format(Stamp { secs: f.now, seq: 0 })
            ));
        }
        self.stamps
            .push(retention::parse(&base).expect("a name we made"));
        self.added += 1;
        Some(self.dir.child(base))
    }

    /// Deletes the archives the retention rules select (never the newest, never what this
    /// plan adds).
    pub fn prune(&self, p: &mut Plan) -> Result<()> {
        let listed: Vec<(String, Stamp)> =
            self.candidates.iter().map(|c| (c.0.clone(), c.1)).collect();
        let verdict = retention::select(&listed, self.archive.policy, self.facts.now, self.added);
        p.warnings.extend(verdict.warnings);
        for name in &verdict.prune {
            let (_, _, sub, tree) = self
                .candidates
                .iter()
                .find(|c| &c.0 == name)
                .expect("pruned names are candidates");
            let full = self.dir.child(name);
            delete_tree(p, &full, sub, tree, "pruned archive")?;
            p.pruned.push(full);
        }
        Ok(())
    }
}

/// How retention sees one entry of the archive directory.
pub struct Sorted<'a> {
    pub entry: &'a ArchiveEntry,
    /// `DIR/NAME`.
    pub name: Name,
    /// The archive time in its name, when it is one.
    pub stamp: Option<Stamp>,
    /// Why retention never prunes it; `None` for a prune candidate (an archive-named
    /// subvolume blankroot may delete).
    pub left_alone: Option<String>,
}

/// The entries of the archive directory `dir` as retention sees them, in the order read.
/// Shared by the rollback's pruning and `blankroot archives`.
pub fn sort_archives<'a>(cfg: &Config, dir: &Name, f: &'a Facts) -> Vec<Sorted<'a>> {
    let protected: Vec<(&Name, u64)> = f
        .protected
        .iter()
        .filter_map(|(n, e)| match e {
            Entry::Subvolume(s) => Some((n, s.id)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for e in &f.archives {
        let name = dir.child(&e.name);
        let stamp = e.name.to_str().and_then(retention::parse);
        let left_alone = match (&e.tree.entry, stamp) {
            (Entry::Subvolume(_), None) => {
                Some("a subvolume whose name is not an archive time".to_string())
            }
            (Entry::Subvolume(_), Some(_)) => why_not(cfg, f, dir, &name, &e.tree, &protected),
            (Entry::PlainDir, _) => Some("a plain directory".into()),
            (Entry::Symlink, _) => Some("a symlink".into()),
            _ => Some("not a directory".into()),
        };
        out.push(Sorted {
            entry: e,
            name,
            stamp,
            left_alone,
        });
    }
    out
}

/// Why the archive-named subvolume `name` must not be pruned, if it must not.
fn why_not(
    cfg: &Config,
    f: &Facts,
    dir: &Name,
    name: &Name,
    tree: &Tree,
    protected: &[(&Name, u64)],
) -> Option<String> {
    let marked = tree.mark.as_deref() == Some(name.basename());
    if !marked && !cfg.prune_unmarked {
        return Some(format!(
            "not marked as an archive blankroot made ({RETIRED_XATTR}); prune it by hand, or pass --prune-unmarked"
        ));
    }
    if let Some(p) = cfg
        .protect
        .iter()
        .find(|p| p.is_within(name) || name.is_within(p))
    {
        return Some(format!("protected by --protect {p}"));
    }
    if let Some((p, id)) = protected
        .iter()
        .find(|(_, id)| tree.ids().any(|t| t == *id))
    {
        return Some(format!(
            "holds subvolume id {id}, protected by --protect {p}"
        ));
    }
    let mounted = f.mounts.iter().any(|m| {
        Name::parse("m", &m.fs_path).is_ok_and(|mp| mp.is_within(name) || name.is_within(&mp))
    });
    if mounted {
        return Some("mounted".into());
    }
    if tree.ids().any(|id| id == f.default_subvol) {
        return Some("the default subvolume".into());
    }
    let Entry::Subvolume(s) = &tree.entry else {
        unreachable!("only subvolumes are candidates")
    };
    let locks = [(Some(name.clone()), s.flags)]
        .into_iter()
        .chain(Some((Some(dir.clone()), tree.parent_flags)))
        .chain(tree.nested.iter().flat_map(|n| {
            [
                (Some(n.name.clone()), n.sub.flags),
                (n.name.parent(), n.parent_flags),
            ]
        }));
    for (path, flags) in locks {
        if flags & (IMMUTABLE | APPEND_ONLY) != 0 {
            let what = if flags & IMMUTABLE != 0 {
                "immutable"
            } else {
                "append-only"
            };
            let path = path.map_or("the top level".to_string(), |p| p.to_string());
            return Some(format!(
                "{path} is {what} (chattr), so it cannot be deleted"
            ));
        }
    }
    None
}
