//! The walker's way of reading a tree through file descriptors: `readdir`, then one `statx` per
//! name (ZFS, tmpfs, `--root`, and Btrfs when its metadata cannot be read in bulk).

use super::model::Kind;
use super::walk::{Meta, Name, Source};
use crate::btrfs::tree::Tree;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{openat, readlinkat, statx, AtFlags, Dir, FileType, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use std::ffi::CStr;

const SUBVOL_INO: u64 = 256;

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

/// Opens a regular file beneath `dir` for reading, without following a symlink.
pub fn open_file_at(dir: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<std::fs::File> {
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map(std::fs::File::from)
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
                subvol: false,
            });
        }
    }
    // Names are unique in a directory: no order among equals to keep.
    crate::sort::by(&mut out, &|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Bulk-read inode tables of Btrfs subvolumes, loaded for a subvolume once it has shown
/// `LOAD_AFTER` one-sided files: their sizes then come from the table instead of `statx`.
pub struct Fast<'a> {
    pub fs: BorrowedFd<'a>,
    /// By subvolume id (a few subvolumes: a list is enough).
    tables: Vec<(u64, Option<Tree>)>,
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

    fn item(&mut self, subvol: u64, ino: u64) -> Option<crate::btrfs::tree::Inode> {
        if let Some((_, t)) = self.tables.iter().find(|t| t.0 == subvol) {
            return t.as_ref().and_then(|t| t.inode(ino)).copied();
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
        let table = crate::btrfs::tree::read(self.fs, subvol).ok();
        let item = table.as_ref().and_then(|t| t.inode(ino)).copied();
        self.tables.push((subvol, table));
        item
    }
}

/// A directory open on one side, with the Btrfs subvolume holding it (0 without `Fast`).
pub struct FdDir {
    pub fd: OwnedFd,
    sub: u64,
}

/// Reads through file descriptors.
pub struct Fds<'a> {
    pub fast: Option<Fast<'a>>,
}

impl Fds<'_> {
    /// The root of one side of a comparison.
    pub fn root(&self, fd: &OwnedFd) -> rustix::io::Result<FdDir> {
        let sub = match &self.fast {
            Some(_) => crate::btrfs::ioctl::subvol_info(fd).map_or(0, |i| i.id),
            None => 0,
        };
        Ok(FdDir {
            fd: rustix::io::fcntl_dupfd_cloexec(fd, 0)?,
            sub,
        })
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
}

impl Source for Fds<'_> {
    type Dir = FdDir;

    fn names(&mut self, dir: &FdDir) -> rustix::io::Result<Vec<Name>> {
        names(&dir.fd)
    }

    fn stat_dir(&mut self, dir: &FdDir) -> Option<Meta> {
        stat_at(dir.fd.as_fd(), c".").ok().flatten()
    }

    fn stat(&mut self, dir: &FdDir, n: &Name, one_sided: bool) -> rustix::io::Result<Option<Meta>> {
        if one_sided {
            if let Some(m) = self.quick(n, dir.sub) {
                return Ok(Some(m));
            }
        }
        stat_at(dir.fd.as_fd(), &n.name)
    }

    fn readlink(&mut self, dir: &FdDir, n: &Name) -> Option<Vec<u8>> {
        readlinkat(&dir.fd, &*n.name, Vec::new())
            .ok()
            .map(|t| t.into_bytes())
    }

    fn open_dir(&mut self, dir: &FdDir, n: &Name, m: &Meta) -> rustix::io::Result<FdDir> {
        let fd = open_dir_at(dir.fd.as_fd(), &n.name)?;
        let sub = if dir.sub != 0 && m.ino == SUBVOL_INO {
            crate::btrfs::ioctl::subvol_info(&fd).map_or(0, |i| i.id)
        } else {
            dir.sub
        };
        Ok(FdDir { fd, sub })
    }

    fn open_file(&mut self, dir: &FdDir, n: &Name) -> rustix::io::Result<std::fs::File> {
        open_file_at(dir.fd.as_fd(), &n.name)
    }
}
