//! The Btrfs rollback decision: from facts gathered about the filesystem to an ordered list of
//! steps. Pure: no system call here, so every case is unit tested and `--dry-run` prints it.
//!
//! Order of the steps, chosen so that a crash at any instant leaves a disk on which the next run
//! finishes the job and nothing outside the root and the pruned archives is lost:
//!
//! 1. delete a staging subvolume left by an interrupted run (a fresh copy of the blank, nothing else);
//! 2. make the new root at the staging name `.blankroot-new-ROOT` beside the root (snapshot of the
//!    blank, or an empty subvolume): if this fails, nothing has been touched yet;
//! 3. prune old archives (never the newest), deepest nested subvolume first;
//! 4. archive mode: move the root into the archive directory; delete mode: delete the root's
//!    nested subvolumes, deepest first, then the root;
//! 5. rename the staging subvolume to the root's name;
//! 6. commit the transaction, by unmounting: a sync before the unmount would wake the cleaner
//!    thread and make the unmount wait for it.
//!
//! A rerun after a crash sees a root that is whole, partly deleted or absent (recreated from the
//! blank), and a staging copy it can prove to be its own (a writable snapshot of the blank holding
//! no subvolume), which it deletes and makes again.

use crate::btrfs::ioctl::Space;
use crate::error::{Error, Result};
use crate::names::Name;
use crate::retention::{self, Policy, Stamp};
use std::fmt;

pub const STAGING_PREFIX: &str = ".blankroot-new-";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Blank(Name),
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub dir: Name,
    pub policy: Policy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub root: Name,
    pub source: Source,
    pub archive: Option<Archive>,
    pub protect: Vec<Name>,
    /// Below this much free data or metadata space, archive mode deletes instead
    /// (default: [`default_min_free`]).
    pub min_free: Option<u64>,
}

/// 256 MiB, or 5% of a smaller filesystem (VM images): "the disk is full" in either case.
pub fn default_min_free(total: u64) -> u64 {
    (256u64 << 20).min(total / 20)
}

impl Config {
    /// Where the new root is made before it takes the root's name.
    pub fn staging(&self) -> Name {
        self.root
            .sibling(&format!("{STAGING_PREFIX}{}", self.root.basename()))
    }

    /// What the names alone say is wrong (usage errors, before anything is mounted).
    pub fn validate(&self) -> Result<()> {
        let root = &self.root;
        let clash = |msg: String| Err(Error::usage(msg));
        if root.basename().len() + STAGING_PREFIX.len() > crate::names::NAME_MAX {
            return clash(format!("--subvolume {root}: the last component is too long to stage a new root beside it; use a shorter name"));
        }
        if let Source::Blank(blank) = &self.source {
            if blank == root {
                return clash(format!("--blank {blank} is the root itself; the blank must be a separate read-only snapshot such as `{root}-blank`"));
            }
            if blank.is_within(root) {
                return clash(format!("--blank {blank} lies inside the root {root}, which is replaced every boot; keep the blank beside the root (e.g. `{root}-blank`)"));
            }
            if root.is_within(blank) {
                return clash(format!("--subvolume {root} lies inside the blank {blank}; give the root subvolume itself"));
            }
            if *blank == self.staging() {
                return clash(format!(
                    "--blank {blank} is blankroot's staging name; rename the blank"
                ));
            }
        }
        if let Some(archive) = &self.archive {
            let dir = &archive.dir;
            if dir.is_within(root) || root.is_within(dir) {
                return clash(format!("--archive-dir {dir} and --subvolume {root} overlap; put the archive directory beside the root (e.g. `old_roots`)"));
            }
            if let Source::Blank(blank) = &self.source {
                if dir.is_within(blank) || blank.is_within(dir) {
                    return clash(format!("--archive-dir {dir} and --blank {blank} overlap; keep the blank out of the archive directory"));
                }
            }
        }
        for p in &self.protect {
            if p.is_within(root) {
                return clash(format!("--protect {p} lies inside the root {root}, which is wiped every boot; move that subvolume out of the root or drop --protect {p}"));
            }
            if root.is_within(p) {
                return clash(format!("--protect {p} contains the root {root}; protect the subvolumes beside the root, not above it"));
            }
        }
        Ok(())
    }
}

/// A subvolume as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subvol {
    pub id: u64,
    pub read_only: bool,
    pub uuid: [u8; 16],
    pub parent_uuid: [u8; 16],
}

/// What a name turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Absent,
    Symlink,
    /// A component on the way to the name is a symlink.
    ThroughSymlink,
    /// A file, a device, or a component on the way that is not a directory.
    NotDirectory,
    PlainDir,
    Subvolume(Subvol),
}

impl Entry {
    fn describe(&self) -> &'static str {
        match self {
            Entry::Absent => "does not exist",
            Entry::Symlink => "is a symlink",
            Entry::ThroughSymlink => "is reached through a symlink",
            Entry::NotDirectory => "is not a directory",
            Entry::PlainDir => "is a plain directory, not a subvolume",
            Entry::Subvolume(_) => "is a subvolume",
        }
    }
}

/// A subvolume inside another one, proven by id and by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nested {
    pub name: Name,
    pub sub: Subvol,
    /// It holds subvolumes of its own.
    pub has_children: bool,
}

/// A subvolume and every subvolume inside it, deepest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub entry: Entry,
    pub nested: Vec<Nested>,
}

impl Tree {
    pub fn absent() -> Tree {
        Tree {
            entry: Entry::Absent,
            nested: Vec::new(),
        }
    }
}

/// An entry of the archive directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    pub name: std::ffi::OsString,
    pub tree: Tree,
}

/// A mount of this filesystem elsewhere: which path of the filesystem, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    pub fs_path: String,
    pub mountpoint: String,
}

/// Everything the plan depends on, gathered read-only by `btrfs::inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub root: Tree,
    /// Id of the subvolume holding the root's directory entry (None: that directory is missing).
    pub root_container: Option<u64>,
    pub blank: Option<Entry>,
    pub staging: Tree,
    pub archive_dir: Option<Entry>,
    /// Id of the subvolume that holds (or would hold) the archive directory.
    pub archive_container: Option<u64>,
    pub archives: Vec<ArchiveEntry>,
    pub protected: Vec<(Name, Entry)>,
    pub default_subvol: u64,
    pub mounts: Vec<Mounted>,
    pub space: Space,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    DeleteSubvolume {
        name: Name,
        id: u64,
        why: &'static str,
    },
    MakeWritable {
        name: Name,
        id: u64,
    },
    Snapshot {
        source: Name,
        source_id: u64,
        dest: Name,
    },
    CreateEmpty {
        dest: Name,
    },
    MakeDir {
        name: Name,
    },
    /// `id` is None for the staging subvolume, made by an earlier step of the same plan.
    Rename {
        from: Name,
        id: Option<u64>,
        to: Name,
    },
    /// Commit the transaction: unmounting the top level syncs it, without waiting for the
    /// cleaner thread that frees the old root's blocks (it goes on after `sysroot.mount`).
    Commit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::DeleteSubvolume { name, id, why } => {
                write!(f, "delete subvolume {name} (id {id}, {why})")
            }
            Step::MakeWritable { name, id } => write!(
                f,
                "make subvolume {name} (id {id}) writable so the subvolumes in it can be deleted"
            ),
            Step::Snapshot {
                source,
                source_id,
                dest,
            } => write!(f, "snapshot {source} (id {source_id}) to {dest} (writable)"),
            Step::CreateEmpty { dest } => write!(f, "create empty subvolume {dest}"),
            Step::MakeDir { name } => write!(f, "create directory {name}"),
            Step::Rename {
                from,
                id: Some(id),
                to,
            } => write!(f, "rename {from} (id {id}) to {to}"),
            Step::Rename { from, id: None, to } => write!(f, "rename {from} to {to}"),
            Step::Commit => write!(
                f,
                "commit the transaction (unmount the top level, which syncs it)"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Delete,
    Archive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub steps: Vec<Step>,
    pub archive: Option<Name>,
    pub pruned: Vec<Name>,
    pub left_alone: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        numbered(f, &self.steps)
    }
}

/// The steps of a plan, one numbered line each (what `--dry-run` prints), for both engines.
pub fn numbered<T: fmt::Display>(f: &mut fmt::Formatter<'_>, steps: &[T]) -> fmt::Result {
    for (i, step) in steps.iter().enumerate() {
        writeln!(f, "{:>3}. {step}", i + 1)?;
    }
    Ok(())
}

fn runtime(msg: String) -> Error {
    Error::runtime(msg)
}

pub fn plan(cfg: &Config, f: &Facts) -> Result<Plan> {
    let mut p = Plan {
        mode: if cfg.archive.is_some() {
            Mode::Archive
        } else {
            Mode::Delete
        },
        steps: Vec::new(),
        archive: None,
        pruned: Vec::new(),
        left_alone: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let root = &cfg.root;
    let staging = cfg.staging();

    let blank = match (&cfg.source, &f.blank) {
        (Source::Blank(name), Some(Entry::Subvolume(s))) => {
            if !s.read_only {
                p.warnings.push(format!("the blank {name} is writable: anything written to it reappears in every new root; make it read-only with `btrfs property set -ts <top>/{name} ro true`"));
            }
            Some((name, s))
        }
        (Source::Blank(name), Some(Entry::Absent)) => return Err(runtime(format!(
            "blank snapshot {name} does not exist: nothing was changed; create it from an empty root (`btrfs subvolume snapshot -r <top>/{root} <top>/{name}` right after creating {root}) or pass --empty"
        ))),
        (Source::Blank(name), Some(other)) => return Err(runtime(format!(
            "blank snapshot {name} {}: nothing was changed; it must be a read-only snapshot (`btrfs subvolume snapshot -r`)", other.describe()
        ))),
        (Source::Blank(_), None) => unreachable!("inspect looks at the blank when there is one"),
        (Source::Empty, _) => None,
    };

    let root_sub = match &f.root.entry {
        Entry::Subvolume(s) => Some(s),
        Entry::Absent => {
            p.notes.push(format!("the root {root} does not exist (a previous run was interrupted, or this is the first run): creating it"));
            None
        }
        other => return Err(runtime(format!(
            "root {root} {}: nothing was changed; blankroot only replaces a subvolume: move it aside and create the subvolume, or fix --subvolume", other.describe()
        ))),
    };
    let Some(container) = f.root_container else {
        return Err(runtime(format!("the directory that should hold the root {root} does not exist: nothing was changed; fix --subvolume")));
    };

    for m in &f.mounts {
        let Ok(path) = Name::parse("mount", &m.fs_path) else {
            continue;
        };
        if path.is_within(root) || path.is_within(&staging) {
            return Err(runtime(format!(
                "{path} is mounted at {}: nothing was changed; blankroot must run before the root is mounted (unmount it first)", m.mountpoint
            )));
        }
    }

    if let Some(s) = root_sub {
        let in_root = std::iter::once(s.id).chain(f.root.nested.iter().map(|n| n.sub.id));
        if let Some(id) = in_root.clone().find(|id| *id == f.default_subvol) {
            return Err(runtime(format!(
                "subvolume id {id} in the root {root} is the filesystem's default subvolume, which btrfs cannot delete: nothing was changed; run `btrfs subvolume set-default 5 <top>` (mount with subvol= instead)"
            )));
        }
        for (name, entry) in &f.protected {
            if let Entry::Subvolume(ps) = entry {
                if in_root.clone().any(|id| id == ps.id) {
                    return Err(Error::usage(format!(
                        "protected subvolume {name} (id {}) is inside the root {root} and would be deleted: nothing was changed; move it out of the root", ps.id
                    )));
                }
            }
        }
    }

    match &f.staging.entry {
        Entry::Absent => {}
        Entry::Subvolume(s) if is_our_staging(s, &f.staging, blank.map(|b| b.1)) => {
            p.notes.push(format!("{staging} is left over from an interrupted run: deleting it"));
            p.steps.push(Step::DeleteSubvolume { name: staging.clone(), id: s.id, why: "leftover staging copy of the blank" });
        }
        other => return Err(runtime(format!(
            "{staging} {} and is not a copy of the blank left by blankroot: nothing was changed; move it away (blankroot needs that name to stage the new root)",
            other.describe()
        ))),
    }

    match blank {
        Some((name, s)) => p.steps.push(Step::Snapshot {
            source: name.clone(),
            source_id: s.id,
            dest: staging.clone(),
        }),
        None => p.steps.push(Step::CreateEmpty {
            dest: staging.clone(),
        }),
    }

    let mut archive_into = None;
    if let Some(archive) = &cfg.archive {
        archive_into = plan_archive(cfg, archive, f, root_sub.is_some(), container, &mut p)?;
    }

    match (root_sub, archive_into) {
        (Some(s), Some(dest)) => {
            if f.archive_dir == Some(Entry::Absent) {
                p.steps.push(Step::MakeDir {
                    name: cfg.archive.as_ref().unwrap().dir.clone(),
                });
            }
            p.steps.push(Step::Rename {
                from: root.clone(),
                id: Some(s.id),
                to: dest.clone(),
            });
            p.archive = Some(dest);
        }
        (Some(s), None) => {
            p.mode = Mode::Delete;
            delete_tree(&mut p.steps, root, s, &f.root.nested, "the old root");
        }
        (None, _) => {
            p.mode = if cfg.archive.is_some() {
                Mode::Archive
            } else {
                Mode::Delete
            }
        }
    }
    p.steps.push(Step::Rename {
        from: staging,
        id: None,
        to: root.clone(),
    });
    p.steps.push(Step::Commit);
    Ok(p)
}

/// A staging subvolume is ours when it is a writable copy of the blank (or, with --empty, a plain
/// new subvolume) that holds no subvolume: then it holds nothing anybody wrote.
fn is_our_staging(s: &Subvol, tree: &Tree, blank: Option<&Subvol>) -> bool {
    let copy_of_source = match blank {
        Some(b) => s.parent_uuid == b.uuid,
        None => s.parent_uuid == [0; 16],
    };
    copy_of_source && !s.read_only && tree.nested.is_empty()
}

fn delete_tree(
    steps: &mut Vec<Step>,
    name: &Name,
    sub: &Subvol,
    nested: &[Nested],
    why: &'static str,
) {
    if sub.read_only && !nested.is_empty() {
        steps.push(Step::MakeWritable {
            name: name.clone(),
            id: sub.id,
        });
    }
    for n in nested
        .iter()
        .rev()
        .filter(|n| n.sub.read_only && n.has_children)
    {
        steps.push(Step::MakeWritable {
            name: n.name.clone(),
            id: n.sub.id,
        });
    }
    for n in nested {
        steps.push(Step::DeleteSubvolume {
            name: n.name.clone(),
            id: n.sub.id,
            why: "nested",
        });
    }
    steps.push(Step::DeleteSubvolume {
        name: name.clone(),
        id: sub.id,
        why,
    });
}

/// Prunes old archives (adding their steps) and returns where the root goes, or `None` when it
/// is deleted instead (too little free space).
fn plan_archive(
    cfg: &Config,
    archive: &Archive,
    f: &Facts,
    root_exists: bool,
    container: u64,
    p: &mut Plan,
) -> Result<Option<Name>> {
    let dir = &archive.dir;
    match f.archive_dir.as_ref().expect("inspect looks at the archive directory") {
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

    let protected = |name: &Name| {
        cfg.protect
            .iter()
            .any(|p| p.is_within(name) || name.is_within(p))
    };
    let mut candidates = Vec::new();
    for e in &f.archives {
        let name = dir.child(&e.name);
        let reason = match &e.tree.entry {
            Entry::Subvolume(s) => match e.name.to_str().and_then(retention::parse) {
                None => Some("a subvolume whose name is not an archive time"),
                Some(_) if protected(&name) => Some("protected by --protect"),
                Some(_)
                    if f.mounts.iter().any(|m| {
                        Name::parse("m", &m.fs_path).is_ok_and(|mp| mp.is_within(&name))
                    }) =>
                {
                    Some("mounted")
                }
                Some(_)
                    if std::iter::once(s.id)
                        .chain(e.tree.nested.iter().map(|n| n.sub.id))
                        .any(|id| id == f.default_subvol) =>
                {
                    Some("the default subvolume")
                }
                Some(stamp) => {
                    candidates.push((
                        e.name.to_string_lossy().into_owned(),
                        stamp,
                        s,
                        &e.tree.nested,
                    ));
                    None
                }
            },
            Entry::PlainDir => Some("a plain directory"),
            Entry::Symlink => Some("a symlink"),
            _ => Some("not a directory"),
        };
        if let Some(reason) = reason {
            p.left_alone.push(format!("{name} ({reason})"));
        }
    }
    let adding = root_exists && !low;
    let listed: Vec<(String, Stamp)> = candidates.iter().map(|c| (c.0.clone(), c.1)).collect();
    let verdict = retention::select(&listed, archive.policy, f.now, adding);
    p.warnings.extend(verdict.warnings);
    for name in &verdict.prune {
        let (_, _, sub, nested) = candidates
            .iter()
            .find(|c| &c.0 == name)
            .expect("pruned names are candidates");
        let full = dir.child(name);
        delete_tree(&mut p.steps, &full, sub, nested, "pruned archive");
        p.pruned.push(full);
    }
    if !adding {
        return Ok(None);
    }
    let taken = |n: &str| f.archives.iter().any(|e| e.name.as_os_str() == n);
    Ok(Some(dir.child(retention::new_name(f.now, taken))))
}
