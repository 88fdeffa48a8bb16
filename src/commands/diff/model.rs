//! What a diff is made of: one entry per path that differs between the live root and the blank.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    pub fn from_mode(mode: u32) -> Kind {
        match mode & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            0o020000 => Kind::CharDevice,
            0o060000 => Kind::BlockDevice,
            _ => Kind::Unknown,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::CharDevice => "chardev",
            Kind::BlockDevice => "blockdev",
            Kind::Unknown => "unknown",
        }
    }
}

/// How a path differs. `Deleted` means the blank has it and the live root does not: the next boot
/// brings it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    Created,
    Modified,
    Deleted,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Modified => "modified",
            Change::Deleted => "deleted",
        }
    }

    pub fn sign(self) -> char {
        match self {
            Change::Created => '+',
            Change::Modified => '~',
            Change::Deleted => '-',
        }
    }
}

/// What differs in a modified entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    /// File type (file became a directory, ...).
    Type,
    /// Bytes of a regular file.
    Content,
    /// Target of a symlink.
    Target,
    /// Major/minor of a device node.
    Device,
    /// Permission bits (including setuid, setgid, sticky).
    Mode,
    /// Owner or group.
    Owner,
}

/// A set of `What`s; listed in the order of `What`'s declaration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Whats(u8);

impl Whats {
    pub fn add(&mut self, w: What) {
        self.0 |= 1 << w as u8;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = What> {
        [
            What::Type,
            What::Content,
            What::Target,
            What::Device,
            What::Mode,
            What::Owner,
        ]
        .into_iter()
        .filter(move |w| self.0 & (1 << *w as u8) != 0)
    }
}

impl What {
    pub fn word(self) -> &'static str {
        match self {
            What::Type => "type",
            What::Content => "content",
            What::Target => "target",
            What::Device => "device",
            What::Mode => "mode",
            What::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the root (`etc/passwd`); shown as `/etc/passwd`.
    pub path: PathBuf,
    pub change: Change,
    /// The live entry's type (the blank's for `Deleted`).
    pub kind: Kind,
    /// For a type change: the blank's type.
    pub was: Option<Kind>,
    /// Apparent size in bytes of what is lost (the live entry; for `Deleted`, the blank's).
    pub size: u64,
    pub what: Whats,
    /// A symlink's target (the live one; for `Deleted`, the blank's).
    pub target: Option<Vec<u8>>,
    /// The top directory of a nested Btrfs subvolume (deleted with the root).
    pub subvolume: bool,
    /// Owner and permission bits of the live entry (the blank's for `Deleted`), when known.
    pub perms: Option<Perms>,
}

/// Owner, group and permission bits (setuid, setgid and sticky included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Perms {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Why a path was left out of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Another filesystem or subvolume is mounted there: it survives the boot.
    MountPoint,
    /// Given by --persisted or the configuration's persisted list.
    Persisted,
}

impl Reason {
    pub fn word(self) -> &'static str {
        match self {
            Reason::MountPoint => "mount point",
            Reason::Persisted => "persisted",
        }
    }
}

/// The result of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Sorted by path, component by component.
    pub entries: Vec<Entry>,
    /// Paths not looked into, with why (sorted).
    pub left_out: Vec<(PathBuf, Reason)>,
    /// Entries left out as recreated by NixOS at every boot (not counting what is inside them).
    pub recreated: u64,
    /// Notes for the reader (how the comparison was made).
    pub notes: Vec<String>,
    /// Paths that could not be read: the listing is incomplete (exit code 1).
    pub errors: Vec<String>,
    /// Directories whose whole content the next boot takes: the live directory holds something
    /// and all of it is listed as created (the blank has nothing there, nothing in it is left
    /// out), with the live directory's owner and mode (a directory that is in the blank
    /// unchanged has no entry of its own); for `--suggest`, sorted like `entries`.
    pub whole: Vec<(PathBuf, Option<Perms>)>,
}

/// Path order, component by component (`a` < `a/b` < `a b`), as bytes with `/` lowest.
pub fn bytes_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

/// `bytes_cmp` of two paths.
pub fn path_order(a: &std::path::Path, b: &std::path::Path) -> std::cmp::Ordering {
    use std::os::unix::ffi::OsStrExt;
    bytes_cmp(a.as_os_str().as_bytes(), b.as_os_str().as_bytes())
}

fn path_cmp(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    path_order(&a.path, &b.path)
}

impl Diff {
    pub fn sort(&mut self) {
        // The walker produces path order already; anything else is sorted here. Of entries with
        // the same path, the first one made is kept (the sort is stable).
        self.entries.sort_by(path_cmp);
        // Bytes, not `Path`'s `==` (which compares components, several times slower): the
        // paths are all made by joining names, so the same path is the same bytes.
        self.entries
            .dedup_by(|a, b| a.path.as_os_str() == b.path.as_os_str());
        crate::sort::asc(&mut self.left_out);
        self.left_out.dedup();
    }

    /// Puts every path under `dir` (a target mounted on `/home` lists `home/...`); the order
    /// stays.
    pub fn rebase(&mut self, dir: &std::path::Path) {
        let under = |p: &mut PathBuf| {
            *p = if p.as_os_str().is_empty() {
                dir.to_path_buf()
            } else {
                dir.join(&*p)
            }
        };
        self.entries.iter_mut().for_each(|e| under(&mut e.path));
        self.left_out.iter_mut().for_each(|e| under(&mut e.0));
        self.whole.iter_mut().for_each(|e| under(&mut e.0));
    }

    /// Adds a directory to `whole`, in path order, once (an insertion, not a sort: one sort
    /// fewer in a binary whose size counts).
    pub fn add_whole(&mut self, path: PathBuf, perms: Option<Perms>) {
        if let Err(at) = self.whole.binary_search_by(|w| path_order(&w.0, &path)) {
            self.whole.insert(at, (path, perms));
        }
    }
}
