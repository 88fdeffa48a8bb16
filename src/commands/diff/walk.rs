//! The comparison: both trees walked side by side, directory by directory, every name in either
//! side looked at. Nothing is written and no symlink is followed.
//!
//! Recall is complete by construction: every name of every directory present on either side is
//! visited (the union of both listings), except the subtrees the filter leaves out by path and,
//! when a change list is given (ZFS), the subtrees it proves unchanged. A name present on both
//! sides is compared on type, permission bits, owner, and content: the bytes of a regular file,
//! the target of a symlink, the numbers of a device. Only when size, inode number, ctime and mtime
//! all agree are a regular file's bytes taken as equal without reading them: on Btrfs a snapshot
//! shares the blank's inodes, and any write or metadata change sets a new ctime, which user space
//! cannot set back.
//!
//! How a tree is read is a [`Source`]: through file descriptors (`fds`: `readdir` and `statx`),
//! or from Btrfs metadata read in bulk (`bulk`). The comparison is this one code for both.

use super::filter::Filter;
use super::model::{Change, Diff, Entry, Kind, Perms, Reason, What, Whats};
use rustix::fd::OwnedFd;
use rustix::fs::{openat, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::{CStr, CString, OsStr};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use super::fds::{open_dir_at, stat_at, Fast};

const SUBVOL_INO: u64 = 256;

/// What the comparison needs to know of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub ino: u64,
    pub ctime: (i64, u32),
    pub mtime: (i64, u32),
    pub rdev: (u32, u32),
    pub mnt_id: Option<u64>,
}

impl Meta {
    pub fn perms(&self) -> Perms {
        Perms {
            uid: self.uid,
            gid: self.gid,
            mode: self.perm,
        }
    }
}

/// A directory entry: name, inode number and type as the directory listing gives them.
pub struct Name {
    pub name: CString,
    pub ino: u64,
    pub kind: Option<Kind>,
    /// The entry names the top directory of Btrfs subvolume `ino` (bulk reading only).
    pub subvol: bool,
}

/// How one side of the comparison is read. `Dir`: an open directory of either side.
pub trait Source {
    type Dir;
    /// The entries of a directory, sorted by name bytes.
    fn names(&mut self, dir: &Self::Dir) -> rustix::io::Result<Vec<Name>>;
    /// The directory itself (the roots of the comparison).
    fn stat_dir(&mut self, dir: &Self::Dir) -> Option<Meta>;
    /// An entry; `one_sided`: the other side has no such name. `None`: gone since listed.
    fn stat(
        &mut self,
        dir: &Self::Dir,
        n: &Name,
        one_sided: bool,
    ) -> rustix::io::Result<Option<Meta>>;
    fn readlink(&mut self, dir: &Self::Dir, n: &Name) -> Option<Vec<u8>>;
    /// A directory entry `n` that `m` says is a directory.
    fn open_dir(&mut self, dir: &Self::Dir, n: &Name, m: &Meta) -> rustix::io::Result<Self::Dir>;
    /// A regular file, for reading its bytes.
    fn open_file(&mut self, dir: &Self::Dir, n: &Name) -> rustix::io::Result<std::fs::File>;
    /// Whether two regular files of `size` bytes hold the same bytes, when the source can tell
    /// without reading them (`None`: read them).
    fn same_bytes(
        &mut self,
        _live: (&Self::Dir, &Name),
        _blank: (&Self::Dir, &Name),
        _size: u64,
    ) -> Option<bool> {
        None
    }
}

/// Which subtrees may differ (ZFS: from `zfs diff`). Names present on both sides and not in
/// `dirty` are unchanged and skipped.
pub struct Hint<'a> {
    pub dirty: &'a super::zfs::Dirty,
}

pub struct Walker<'a> {
    pub filter: &'a Filter,
    /// Mount id of the live root: a live directory with another one is a mount point.
    pub live_mount: Option<u64>,
    /// Mark nested Btrfs subvolumes (directories with inode 256).
    pub btrfs: bool,
    pub hint: Option<Hint<'a>>,
    /// Names never looked at in the root directory (ZFS's `.zfs`).
    pub hidden_at_root: &'a [&'a str],
    /// Btrfs, read through file descriptors: sizes of one-sided files from bulk-read inode
    /// tables.
    pub fast: Option<Fast<'a>>,
    pub diff: Diff,
}

#[derive(Default, Clone, Copy)]
struct Count {
    listed: u64,
    left_out: u64,
    /// Names the blank has in this directory (from `dir`; not summed up the tree).
    blank_names: usize,
}

/// One comparison: the walker's settings and findings, and how the trees are read.
struct Run<'a, S> {
    w: Walker<'a>,
    src: S,
}

impl<'a> Walker<'a> {
    pub fn new(filter: &'a Filter) -> Walker<'a> {
        Walker {
            filter,
            live_mount: None,
            btrfs: false,
            hint: None,
            hidden_at_root: &[],
            fast: None,
            diff: Diff::default(),
        }
    }

    /// Compares the tree at `live` with the tree at `blank` (an empty tree when `None`), read
    /// through file descriptors.
    pub fn compare(mut self, live: &OwnedFd, blank: Option<&OwnedFd>) -> Diff {
        let src = super::fds::Fds {
            fast: self.fast.take(),
        };
        let (l, b) = (src.root(live), blank.map(|b| src.root(b)));
        match (l, b) {
            (Ok(l), None) => self.compare_in(src, l, None),
            (Ok(l), Some(Ok(b))) => self.compare_in(src, l, Some(b)),
            (Err(e), _) | (_, Some(Err(e))) => {
                let mut d = self.diff;
                d.errors
                    .push(format!("cannot open /: {}", std::io::Error::from(e)));
                d
            }
        }
    }

    /// Compares two trees read from `src`.
    pub fn compare_in<S: Source>(self, src: S, live: S::Dir, blank: Option<S::Dir>) -> Diff {
        let mut run = Run { w: self, src };
        let l = run.src.stat_dir(&live);
        let b = blank.as_ref().and_then(|b| run.src.stat_dir(b));
        if let (Some(l), Some(b)) = (l, b) {
            let what = metadata_changes(&l, &b);
            if !what.is_empty() {
                run.w.diff.entries.push(Entry {
                    path: PathBuf::new(),
                    change: Change::Modified,
                    kind: Kind::Dir,
                    was: None,
                    size: 0,
                    what,
                    target: None,
                    subvolume: false,
                    perms: Some(l.perms()),
                });
            }
        }
        run.dir(Some(&live), blank.as_ref(), Path::new(""));
        let mut diff = run.w.diff;
        diff.sort();
        diff
    }
}

impl<S: Source> Run<'_, S> {
    fn error(&mut self, rel: &Path, what: &str, e: Errno) {
        self.w.diff.errors.push(format!(
            "{what} {}: {}",
            super::output::show(rel),
            std::io::Error::from(e)
        ));
    }

    fn dir(&mut self, live: Option<&S::Dir>, blank: Option<&S::Dir>, rel: &Path) -> Count {
        let mut count = Count::default();
        let list = |d: Option<&S::Dir>, this: &mut Self| match d.map(|d| this.src.names(d)) {
            None => Vec::new(),
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                this.error(rel, "cannot list", e);
                Vec::new()
            }
        };
        let watch = self.w.filter.watches(rel);
        let live_names = list(live, self);
        let blank_names = list(blank, self);
        count.blank_names = blank_names.len();
        let (mut i, mut j) = (0, 0);
        while i < live_names.len() || j < blank_names.len() {
            let (l, b) = match (live_names.get(i), blank_names.get(j)) {
                (Some(l), Some(b)) if l.name == b.name => {
                    i += 1;
                    j += 1;
                    (Some(l), Some(b))
                }
                (Some(l), Some(b)) if l.name < b.name => {
                    i += 1;
                    (Some(l), None)
                }
                (Some(l), None) => {
                    i += 1;
                    (Some(l), None)
                }
                (_, Some(b)) => {
                    j += 1;
                    (None, Some(b))
                }
                (None, None) => unreachable!(),
            };
            let c = self.entry(
                l.and(live).map(|d| (d, l.unwrap())),
                b.and(blank).map(|d| (d, b.unwrap())),
                rel,
                watch,
            );
            count.listed += c.listed;
            count.left_out += c.left_out;
        }
        count
    }

    fn entry(
        &mut self,
        live: Option<(&S::Dir, &Name)>,
        blank: Option<(&S::Dir, &Name)>,
        parent: &Path,
        watch: bool,
    ) -> Count {
        crate::progress::tick(1, 0);
        let name: &CStr = &live.or(blank).expect("one side at least").1.name;
        let os = OsStr::from_bytes(name.to_bytes());
        let mut rel = parent.join(os);
        let left_out = Count {
            left_out: 1,
            ..Count::default()
        };
        if parent.as_os_str().is_empty() && self.w.hidden_at_root.iter().any(|h| os == *h) {
            return Count::default();
        }
        if watch {
            if let Some(reason) = self.w.filter.excluded(&rel) {
                self.w.diff.left_out.push((rel, reason));
                return left_out;
            }
            if self.w.filter.recreated_path(&rel) {
                self.w.diff.recreated += 1;
                return left_out;
            }
        }
        if let (Some(hint), Some(_), Some(_)) = (&self.w.hint, live, blank) {
            if !hint.dirty.contains(&rel) {
                return Count::default();
            }
        }
        let one_sided = live.is_none() || blank.is_none();
        let stat = |side: Option<(&S::Dir, &Name)>, this: &mut Self| match side {
            None => None,
            Some((d, n)) => match this.src.stat(d, n, one_sided) {
                Ok(m) => m,
                Err(e) => {
                    this.error(&rel, "cannot stat", e);
                    None
                }
            },
        };
        let l = stat(live, self);
        let b = stat(blank, self);
        if let (Some(l), Some(mount)) = (&l, self.w.live_mount) {
            if l.mnt_id.is_some_and(|m| m != mount) {
                self.w.diff.left_out.push((rel, Reason::MountPoint));
                return left_out;
            }
        }
        let link =
            |side: Option<(&S::Dir, &Name)>, m: &Option<Meta>, this: &mut Self| match (side, m) {
                (Some((d, n)), Some(m)) if m.kind == Kind::Symlink => this.src.readlink(d, n),
                _ => None,
            };
        let l_target = link(live, &l, self);
        if let Some(l) = &l {
            if self
                .w
                .filter
                .recreated_link(&rel, l.kind, l_target.as_deref())
            {
                self.w.diff.recreated += 1;
                return left_out;
            }
        }
        let b_target = link(blank, &b, self);
        let open =
            |side: Option<(&S::Dir, &Name)>, m: &Option<Meta>, this: &mut Self| match (side, m) {
                (Some((d, n)), Some(m)) if m.kind == Kind::Dir => {
                    match this.src.open_dir(d, n, m) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            this.error(&rel, "cannot open", e);
                            None
                        }
                    }
                }
                _ => None,
            };
        let (l_dir, b_dir) = (open(live, &l, self), open(blank, &b, self));
        let what = match (&l, &b, live, blank) {
            (Some(lm), Some(bm), Some(ls), Some(bs)) => {
                self.changes(lm, bm, &l_target, &b_target, ls, bs, &rel)
            }
            _ => Whats::default(),
        };
        // Only a directory's path is needed past its entry (most entries are files: one copy
        // of a path fewer each).
        let path = if l_dir.is_some() || b_dir.is_some() {
            rel.clone()
        } else {
            std::mem::take(&mut rel)
        };
        // The entry goes before what is inside it: the listing comes out in path order.
        let entry = match (&l, &b) {
            (None, None) => None,
            (Some(l), None) => Some(self.new_entry(path, Change::Created, l, l_target)),
            (None, Some(b)) => Some(self.new_entry(path, Change::Deleted, b, b_target)),
            (Some(lm), Some(bm)) => (!what.is_empty()).then(|| {
                let mut e = self.new_entry(path, Change::Modified, lm, l_target);
                if lm.kind != bm.kind {
                    e.was = Some(bm.kind);
                }
                e.what = what;
                e
            }),
        };
        let created_dir =
            matches!(&entry, Some(e) if e.change == Change::Created && e.kind == Kind::Dir);
        let pushed = entry.is_some();
        if let Some(e) = entry {
            self.w.diff.entries.push(e);
        }
        let inner = if l_dir.is_some() || b_dir.is_some() {
            self.dir(l_dir.as_ref(), b_dir.as_ref(), &rel)
        } else {
            Count::default()
        };
        if created_dir && inner.listed == 0 && inner.left_out > 0 {
            // Holds only what is left out: made again by whoever makes its contents. Nothing
            // was listed inside it, so its entry is still the last one.
            self.w.diff.entries.pop();
            return Count {
                left_out: inner.left_out + 1,
                ..Count::default()
            };
        }
        // Everything in it is lost: the blank has nothing there and nothing inside is left out
        // (what is inside was all listed, as created).
        if l_dir.is_some()
            && inner.blank_names == 0
            && inner.left_out == 0
            && (inner.listed > 0 || pushed)
        {
            self.w.diff.add_whole(rel, l.map(|m| m.perms()));
        }
        Count {
            listed: inner.listed + u64::from(pushed),
            left_out: inner.left_out,
            blank_names: 0,
        }
    }

    fn new_entry(&self, path: PathBuf, change: Change, m: &Meta, target: Option<Vec<u8>>) -> Entry {
        Entry {
            path,
            change,
            kind: m.kind,
            was: None,
            size: match m.kind {
                Kind::File | Kind::Symlink => m.size,
                _ => 0,
            },
            what: Whats::default(),
            target,
            subvolume: self.w.btrfs && m.kind == Kind::Dir && m.ino == SUBVOL_INO,
            perms: Some(m.perms()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn changes(
        &mut self,
        l: &Meta,
        b: &Meta,
        l_target: &Option<Vec<u8>>,
        b_target: &Option<Vec<u8>>,
        live: (&S::Dir, &Name),
        blank: (&S::Dir, &Name),
        rel: &Path,
    ) -> Whats {
        let mut what = metadata_changes(l, b);
        if l.kind != b.kind {
            what.add(What::Type);
        } else {
            match l.kind {
                Kind::File => match self.same_bytes(l, b, live, blank) {
                    Ok(true) => {}
                    Ok(false) => what.add(What::Content),
                    Err(e) => {
                        self.error(rel, "cannot read", e);
                        what.add(What::Content);
                    }
                },
                Kind::Symlink if l_target != b_target => what.add(What::Target),
                Kind::CharDevice | Kind::BlockDevice if l.rdev != b.rdev => what.add(What::Device),
                _ => {}
            }
        }
        what
    }

    /// Whether two regular files hold the same bytes.
    fn same_bytes(
        &mut self,
        l: &Meta,
        b: &Meta,
        live: (&S::Dir, &Name),
        blank: (&S::Dir, &Name),
    ) -> rustix::io::Result<bool> {
        if l.size != b.size {
            return Ok(false);
        }
        if l.ino == b.ino && l.ctime == b.ctime && l.mtime == b.mtime {
            return Ok(true);
        }
        if let Some(same) = self.src.same_bytes(live, blank, l.size) {
            return Ok(same);
        }
        let mut x = self.src.open_file(live.0, live.1)?;
        let mut y = self.src.open_file(blank.0, blank.1)?;
        let (mut bx, mut by) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        loop {
            let n = read_full(&mut x, &mut bx)?;
            let m = read_full(&mut y, &mut by)?;
            if n != m || bx[..n] != by[..m] {
                return Ok(false);
            }
            if n == 0 {
                return Ok(true);
            }
        }
    }
}

fn metadata_changes(l: &Meta, b: &Meta) -> Whats {
    let mut what = Whats::default();
    if l.kind != b.kind {
        // A different type of file: its mode and owner are new too.
        return what;
    }
    // A symlink's permission bits mean nothing and cannot be set.
    if l.perm != b.perm && l.kind != Kind::Symlink {
        what.add(What::Mode);
    }
    if (l.uid, l.gid) != (b.uid, b.gid) {
        what.add(What::Owner);
    }
    what
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> rustix::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Errno::from_io_error(&e).unwrap_or(Errno::IO)),
        }
    }
    Ok(done)
}

/// Opens an existing directory by path (the roots of a comparison), following no symlink at the
/// last component.
pub fn open_path(path: &Path) -> rustix::io::Result<OwnedFd> {
    openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The mount id of a directory.
pub fn mount_id(fd: &OwnedFd) -> Option<u64> {
    stat_at(rustix::fd::AsFd::as_fd(fd), c".")
        .ok()
        .flatten()
        .and_then(|m| m.mnt_id)
}

pub fn is_btrfs(fd: &OwnedFd) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type as u32 == crate::btrfs::mount::BTRFS_MAGIC)
}
