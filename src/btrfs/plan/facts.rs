//! What the plan is decided on: the filesystem as `btrfs::inspect` found it, read-only.

use crate::btrfs::ioctl::Space;
use crate::btrfs::quota::Qgroup;
use crate::names::Name;

/// Inode attributes (`chattr`) that make the kernel refuse to delete or rename an entry:
/// `FS_IMMUTABLE_FL` and `FS_APPEND_FL` from `linux/fs.h`.
pub const IMMUTABLE: u32 = 0x10;
pub const APPEND_ONLY: u32 = 0x20;

/// The extended attribute blankroot sets on a root it retires, before the swap: the name of the
/// archive it becomes, or [`DELETE_MARK`]. It tells, after a crash, that the subvolume at the
/// staging name is the old root, and, in the archive directory, which archives blankroot made.
/// (`trusted.` needs CAP_SYS_ADMIN to read or write.) Defined below the engines, in `archived`,
/// because the copy engine (`copy`) leaves it out of every copy.
pub use crate::archived::RETIRED_XATTR;
pub const DELETE_MARK: &str = "delete";

/// A subvolume as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subvol {
    pub id: u64,
    pub read_only: bool,
    pub uuid: [u8; 16],
    pub parent_uuid: [u8; 16],
    /// The last transaction that changed it, and the one that made it: equal for a snapshot
    /// nobody has written to since.
    pub generation: u64,
    pub otransid: u64,
    /// Attributes of its top directory (`IMMUTABLE`, `APPEND_ONLY`, ...).
    pub flags: u32,
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
    pub fn describe(&self) -> &'static str {
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
    /// Attributes of the directory that holds its entry.
    pub parent_flags: u32,
}

/// A subvolume and every subvolume inside it, deepest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub entry: Entry,
    pub nested: Vec<Nested>,
    /// Attributes of the directory that holds the name.
    pub parent_flags: u32,
    /// The value of [`RETIRED_XATTR`] on its top directory.
    pub mark: Option<String>,
    /// Its top directory has no entries.
    pub empty: bool,
}

impl Tree {
    pub fn absent() -> Tree {
        Tree {
            entry: Entry::Absent,
            nested: Vec::new(),
            parent_flags: 0,
            mark: None,
            empty: false,
        }
    }

    pub fn subvol(&self) -> Option<&Subvol> {
        match &self.entry {
            Entry::Subvolume(s) => Some(s),
            _ => None,
        }
    }

    /// Its id and the ids of every subvolume in it.
    pub fn ids(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        self.subvol()
            .map(|s| s.id)
            .into_iter()
            .chain(self.nested.iter().map(|n| n.sub.id))
    }

    /// The same tree after `from` was renamed to `to`.
    pub fn moved(&self, from: &Name, to: &Name) -> Tree {
        let mut t = self.clone();
        for n in &mut t.nested {
            n.name = n
                .name
                .rebase(from, to)
                .expect("nested names lie inside the tree");
        }
        t
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
    /// Attributes of the archive directory (0 when it is missing).
    pub archive_dir_flags: u32,
    /// Id of the subvolume that holds (or would hold) the archive directory.
    pub archive_container: Option<u64>,
    pub archives: Vec<ArchiveEntry>,
    pub protected: Vec<(Name, Entry)>,
    pub default_subvol: u64,
    /// The root's quota group settings that a new subvolume would not have (quotas on, and a
    /// limit or a parent group set).
    pub root_qgroup: Option<Qgroup>,
    pub mounts: Vec<Mounted>,
    pub space: Space,
    /// Metadata space a reservation can get now (see `btrfs::space`).
    pub metadata_available: u64,
    pub now: i64,
}
