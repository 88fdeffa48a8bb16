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

use super::filter::Filter;
use super::inodes::{self, Table};
use super::model::{Change, Diff, Entry, Kind, Perms, Reason, What, Whats};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{openat, readlinkat, statx, AtFlags, Dir, FileType, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use std::ffi::{CStr, CString, OsStr};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<Option<Meta>> {
    match statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    ) {
        Ok(s) => Ok(Some(Meta {
            kind: Kind::from_mode(u32::from(s.stx_mode)),
            perm: u32::from(s.stx_mode) & 0o7777,
            uid: s.stx_uid,
            gid: s.stx_gid,
            size: s.stx_size,
            ino: s.stx_ino,
            ctime: (s.stx_ctime.tv_sec, s.stx_ctime.tv_nsec),
            mtime: (s.stx_mtime.tv_sec, s.stx_mtime.tv_nsec),
            rdev: (s.stx_rdev_major, s.stx_rdev_minor),
            mnt_id: (s.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(s.stx_mnt_id),
        })),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens a directory beneath `dir` without following a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A directory entry: name, inode number and type as the directory listing gives them.
pub struct Name {
    pub name: CString,
    pub ino: u64,
    pub kind: Option<Kind>,
}

/// The entries of a directory, sorted by name bytes.
fn names(fd: &OwnedFd) -> rustix::io::Result<Vec<Name>> {
    let dup = openat(
        fd,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    for item in Dir::new(dup)? {
        let item = item?;
        let name = item.file_name();
        if name != c"." && name != c".." {
            let kind = match item.file_type() {
                FileType::RegularFile => Some(Kind::File),
                FileType::Directory => Some(Kind::Dir),
                FileType::Symlink => Some(Kind::Symlink),
                FileType::Fifo => Some(Kind::Fifo),
                FileType::Socket => Some(Kind::Socket),
                FileType::CharacterDevice => Some(Kind::CharDevice),
                FileType::BlockDevice => Some(Kind::BlockDevice),
                _ => None,
            };
            out.push(Name {
                name: name.to_owned(),
                ino: item.ino(),
                kind,
            });
        }
    }
    // Names are unique in a directory: no order among equals to keep.
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Bulk-read inode tables of Btrfs subvolumes (see `inodes`), loaded for a subvolume once it
/// has shown `LOAD_AFTER` one-sided files.
pub struct Fast<'a> {
    pub fs: BorrowedFd<'a>,
    /// By subvolume id (a few subvolumes: a list is enough).
    tables: Vec<(u64, Option<Table>)>,
    seen: Vec<(u64, u32)>,
}

const LOAD_AFTER: u32 = 64;

impl<'a> Fast<'a> {
    pub fn new(fs: BorrowedFd<'a>) -> Fast<'a> {
        Fast {
            fs,
            tables: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn item(&mut self, subvol: u64, ino: u64) -> Option<inodes::Item> {
        if let Some((_, t)) = self.tables.iter().find(|t| t.0 == subvol) {
            return t.as_ref().and_then(|t| t.get(ino));
        }
        let seen = match self.seen.iter().position(|s| s.0 == subvol) {
            Some(i) => &mut self.seen[i].1,
            None => {
                self.seen.push((subvol, 0));
                &mut self.seen.last_mut().expect("just pushed").1
            }
        };
        *seen += 1;
        if *seen < LOAD_AFTER {
            return None;
        }
        let table = inodes::load(self.fs, subvol).ok();
        let item = table.as_ref().and_then(|t| t.get(ino));
        self.tables.push((subvol, table));
        item
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
    /// Btrfs: sizes of one-sided files from bulk-read inode tables.
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

    /// Compares the tree at `live` with the tree at `blank` (an empty tree when `None`).
    pub fn compare(mut self, live: &OwnedFd, blank: Option<&OwnedFd>) -> Diff {
        let root_meta = |fd: &OwnedFd| stat_at(fd.as_fd(), c".").ok().flatten();
        if let (Some(l), Some(b)) = (root_meta(live), blank.and_then(root_meta)) {
            let what = metadata_changes(&l, &b);
            if !what.is_empty() {
                self.diff.entries.push(Entry {
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
        let sub = |fd: &OwnedFd| crate::btrfs::ioctl::subvol_info(fd).map_or(0, |i| i.id);
        let subs = match &self.fast {
            Some(_) => (sub(live), blank.map_or(0, sub)),
            None => (0, 0),
        };
        self.dir(Some(live), blank, Path::new(""), subs);
        self.diff.sort();
        self.diff
    }

    fn error(&mut self, rel: &Path, what: &str, e: Errno) {
        self.diff.errors.push(format!(
            "{what} {}: {}",
            super::output::show(rel),
            std::io::Error::from(e)
        ));
    }

    /// `subs`: the subvolume ids holding `live` and `blank` (Btrfs fast path; 0 otherwise).
    fn dir(
        &mut self,
        live: Option<&OwnedFd>,
        blank: Option<&OwnedFd>,
        rel: &Path,
        subs: (u64, u64),
    ) -> Count {
        let mut count = Count::default();
        let list = |fd: Option<&OwnedFd>, this: &mut Self| match fd.map(names) {
            None => Vec::new(),
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                this.error(rel, "cannot list", e);
                Vec::new()
            }
        };
        let watch = self.filter.watches(rel);
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
                l.and(live).map(|fd| (fd, l.unwrap())),
                b.and(blank).map(|fd| (fd, b.unwrap())),
                rel,
                subs,
                watch,
            );
            count.listed += c.listed;
            count.left_out += c.left_out;
        }
        count
    }

    /// A one-sided non-directory's type and size from the inode table, when it has it and
    /// agrees with the directory listing on the type.
    fn quick(&mut self, n: &Name, subvol: u64) -> Option<Meta> {
        let kind = n.kind.filter(|k| *k != Kind::Dir)?;
        let item = self.fast.as_mut()?.item(subvol, n.ino)?;
        (Kind::from_mode(item.mode) == kind).then_some(Meta {
            kind,
            perm: item.mode & 0o7777,
            uid: item.uid,
            gid: item.gid,
            size: item.size,
            ino: n.ino,
            ctime: (0, 0),
            mtime: (0, 0),
            rdev: (0, 0),
            mnt_id: None,
        })
    }

    fn entry(
        &mut self,
        live: Option<(&OwnedFd, &Name)>,
        blank: Option<(&OwnedFd, &Name)>,
        parent: &Path,
        subs: (u64, u64),
        watch: bool,
    ) -> Count {
        let name: &CStr = &live.or(blank).expect("one side at least").1.name;
        let os = OsStr::from_bytes(name.to_bytes());
        let rel = parent.join(os);
        let left_out = Count {
            left_out: 1,
            ..Count::default()
        };
        if parent.as_os_str().is_empty() && self.hidden_at_root.iter().any(|h| os == *h) {
            return Count::default();
        }
        if watch {
            if let Some(reason) = self.filter.excluded(&rel) {
                self.diff.left_out.push((rel, reason));
                return left_out;
            }
            if self.filter.recreated_path(&rel) {
                self.diff.recreated += 1;
                return left_out;
            }
        }
        if let (Some(hint), Some(_), Some(_)) = (&self.hint, live, blank) {
            if !hint.dirty.contains(&rel) {
                return Count::default();
            }
        }
        let one_sided = live.is_none() || blank.is_none();
        let stat = |side: Option<(&OwnedFd, &Name)>, sub: u64, this: &mut Self| match side {
            None => None,
            Some((fd, n)) => {
                if one_sided {
                    if let Some(m) = this.quick(n, sub) {
                        return Some(m);
                    }
                }
                match stat_at(fd.as_fd(), name) {
                    Ok(m) => m,
                    Err(e) => {
                        this.error(&rel, "cannot stat", e);
                        None
                    }
                }
            }
        };
        let l = stat(live, subs.0, self);
        let b = stat(blank, subs.1, self);
        let (live, blank) = (live.map(|s| s.0), blank.map(|s| s.0));
        if let (Some(l), Some(mount)) = (&l, self.live_mount) {
            if l.mnt_id.is_some_and(|m| m != mount) {
                self.diff.left_out.push((rel, Reason::MountPoint));
                return left_out;
            }
        }
        let link = |fd: Option<&OwnedFd>, m: &Option<Meta>| -> Option<Vec<u8>> {
            match (fd, m) {
                (Some(fd), Some(m)) if m.kind == Kind::Symlink => readlinkat(fd, name, Vec::new())
                    .ok()
                    .map(|t| t.into_bytes()),
                _ => None,
            }
        };
        let l_target = link(live, &l);
        if let Some(l) = &l {
            if self
                .filter
                .recreated_link(&rel, l.kind, l_target.as_deref())
            {
                self.diff.recreated += 1;
                return left_out;
            }
        }
        let b_target = link(blank, &b);
        let open = |fd: Option<&OwnedFd>, m: &Option<Meta>, this: &mut Self| match (fd, m) {
            (Some(fd), Some(m)) if m.kind == Kind::Dir => match open_dir_at(fd.as_fd(), name) {
                Ok(d) => Some(d),
                Err(e) => {
                    this.error(&rel, "cannot open", e);
                    None
                }
            },
            _ => None,
        };
        let (l_dir, b_dir) = (open(live, &l, self), open(blank, &b, self));
        // The entry goes before what is inside it: the listing comes out in path order.
        let entry = match (&l, &b) {
            (None, None) => None,
            (Some(l), None) => Some(self.new_entry(rel.clone(), Change::Created, l, l_target)),
            (None, Some(b)) => Some(self.new_entry(rel.clone(), Change::Deleted, b, b_target)),
            (Some(lm), Some(bm)) => {
                let what = match (live, blank) {
                    (Some(lf), Some(bf)) => {
                        self.changes(lm, bm, &l_target, &b_target, lf, bf, name, &rel)
                    }
                    _ => Whats::default(),
                };
                (!what.is_empty()).then(|| {
                    let mut e = self.new_entry(rel.clone(), Change::Modified, lm, l_target);
                    if lm.kind != bm.kind {
                        e.was = Some(bm.kind);
                    }
                    e.what = what;
                    e
                })
            }
        };
        let created_dir =
            matches!(&entry, Some(e) if e.change == Change::Created && e.kind == Kind::Dir);
        let pushed = entry.is_some();
        if let Some(e) = entry {
            self.diff.entries.push(e);
        }
        let inner = if l_dir.is_some() || b_dir.is_some() {
            let child_sub = |fd: &Option<OwnedFd>, m: &Option<Meta>, parent: u64| match (fd, m) {
                (Some(fd), Some(m)) if parent != 0 && m.ino == SUBVOL_INO => {
                    crate::btrfs::ioctl::subvol_info(fd).map_or(0, |i| i.id)
                }
                _ => parent,
            };
            let subs = (child_sub(&l_dir, &l, subs.0), child_sub(&b_dir, &b, subs.1));
            self.dir(l_dir.as_ref(), b_dir.as_ref(), &rel, subs)
        } else {
            Count::default()
        };
        if created_dir && inner.listed == 0 && inner.left_out > 0 {
            // Holds only what is left out: made again by whoever makes its contents. Nothing
            // was listed inside it, so its entry is still the last one.
            self.diff.entries.pop();
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
            self.diff.add_whole(rel, l.map(|m| m.perms()));
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
            subvolume: self.btrfs && m.kind == Kind::Dir && m.ino == SUBVOL_INO,
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
        live: &OwnedFd,
        blank: &OwnedFd,
        name: &CStr,
        rel: &Path,
    ) -> Whats {
        let mut what = metadata_changes(l, b);
        if l.kind != b.kind {
            what.add(What::Type);
        } else {
            match l.kind {
                Kind::File => match same_bytes(l, b, live, blank, name) {
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

/// Whether two regular files hold the same bytes.
fn same_bytes(
    l: &Meta,
    b: &Meta,
    live: &OwnedFd,
    blank: &OwnedFd,
    name: &CStr,
) -> rustix::io::Result<bool> {
    if l.size != b.size {
        return Ok(false);
    }
    if l.ino == b.ino && l.ctime == b.ctime && l.mtime == b.mtime {
        return Ok(true);
    }
    let open = |dir: &OwnedFd| -> rustix::io::Result<std::fs::File> {
        openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map(std::fs::File::from)
    };
    let (mut x, mut y) = (open(live)?, open(blank)?);
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
    stat_at(fd.as_fd(), c".")
        .ok()
        .flatten()
        .and_then(|m| m.mnt_id)
}

pub fn is_btrfs(fd: &OwnedFd) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type as u32 == crate::btrfs::mount::BTRFS_MAGIC)
}
