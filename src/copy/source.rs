//! Reading the source (an archive, the running system): every name is opened one component at
//! a time beneath the directory that holds it, with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV)` and `O_NOFOLLOW`: a symlink is never followed (one at the end of a name is
//! opened as the link itself, `O_PATH`), and no mount is crossed (but on the way to a PATH of
//! the running system, `Place::cross_mounts`). Nested Btrfs subvolumes are
//! not mounts (they only have their own `st_dev`), so their content is read like any other
//! directory's; `tests/restore_btrfs.rs` shows it.

use super::paths::Wanted;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{fstat, openat2, readlinkat, Dir, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// The entry `name` of `dir` itself, never what it points to (`O_PATH`, for `fstat`).
pub fn open_path(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat2(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        BENEATH,
    )
}

/// The directory `name` of `dir`, for reading its entries.
pub fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        BENEATH,
    )
}

/// The regular file `name` of `dir`, for reading; `O_NONBLOCK` so that something swapped in
/// for it (a FIFO) cannot block, `O_NOCTTY` for a terminal.
pub fn open_file(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        BENEATH,
    )
}

/// The metadata of the entry `name` of `dir` (a symlink's own).
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<Stat> {
    fstat(open_path(dir, name)?)
}

/// The same inode as the one stat'ed before (nothing was swapped in between).
pub fn same(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode
}

pub fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// `file`, `directory`, `symlink`, ...
pub fn kind_name(st: &Stat) -> &'static str {
    match kind(st) {
        FileType::RegularFile => "file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// A PATH found in the source.
pub struct Found {
    /// The directories on the way (`/var`, `/var/lib` for `/var/lib/foo`), for making the
    /// missing ones at the destination like them.
    pub parents: Vec<Stat>,
    /// The directory that holds it.
    pub dir: OwnedFd,
    pub name: OsString,
    pub stat: Stat,
}

/// Where a PATH is looked up, for `lookup` and its refusals.
pub struct Place<'a> {
    /// `the archive 2026-11-22T02:20:50Z`, `the running system`.
    pub name: &'a str,
    /// The command, for "restore never follows symlinks".
    pub cmd: &'a str,
    /// Other mounts may be crossed on the way to the PATH (the running system's /home); an
    /// archive is one filesystem, where a mount on the way is refused. The PATH itself and
    /// what lies inside it are never on another mount.
    pub cross_mounts: bool,
}

/// Finds `w` in `place`, whose top directory is `root`, without following a symlink; the
/// refusal says which component is in the way.
pub fn lookup(root: &OwnedFd, w: &Wanted, place: &Place<'_>) -> Result<Found, String> {
    let at = place.name;
    let mut dir =
        open_dir(root.as_fd(), OsStr::new(".")).map_err(|e| format!("opening {at}: {e}"))?;
    let flags = if place.cross_mounts {
        BENEATH.difference(ResolveFlags::NO_XDEV)
    } else {
        BENEATH
    };
    let mut shown = String::new();
    let mut parents = Vec::new();
    let last = w.parts.len() - 1;
    for (i, part) in w.parts.iter().enumerate() {
        shown.push('/');
        shown.push_str(&part.to_string_lossy());
        let missing = || {
            if i == last {
                format!("{} is not in {at}", w.shown)
            } else {
                format!("{} is not in {at} ({shown} is not there)", w.shown)
            }
        };
        let flags = if i == last { BENEATH } else { flags };
        let st = match open_with(dir.as_fd(), part, OFlags::PATH, flags).and_then(fstat) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Err(missing()),
            Err(Errno::XDEV) => return Err(format!("{shown} in {at} is another mount")),
            Err(e) => return Err(format!("looking at {shown} in {at}: {e}")),
        };
        if i == last {
            return Ok(Found {
                parents,
                dir,
                name: part.clone(),
                stat: st,
            });
        }
        match kind(&st) {
            FileType::Directory => {}
            FileType::Symlink => {
                let target = readlinkat(dir.as_fd(), part.as_os_str(), Vec::new())
                    .map(|t| {
                        OsStr::from_bytes(t.as_bytes())
                            .to_string_lossy()
                            .into_owned()
                    })
                    .unwrap_or_else(|_| "?".into());
                return Err(format!(
                    "in {at}, {shown} is a symlink (to {target}): {} never follows symlinks; give the path it points to instead of {}",
                    place.cmd, w.shown
                ));
            }
            _ => {
                return Err(format!(
                    "{} is not in {at} ({shown} is a {} there)",
                    w.shown,
                    kind_name(&st)
                ))
            }
        }
        let next = open_with(dir.as_fd(), part, OFlags::RDONLY | OFlags::DIRECTORY, flags)
            .map_err(|e| format!("opening {shown} in {at}: {e}"))?;
        let st2 = fstat(&next).map_err(|e| format!("looking at {shown}: {e}"))?;
        if !same(&st, &st2) {
            return Err(format!("{shown} in {at} changed while it was read"));
        }
        parents.push(st2);
        dir = next;
    }
    unreachable!("a PATH has at least one component")
}

fn open_with(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    how: OFlags,
    flags: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    openat2(
        dir,
        name,
        how | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        flags,
    )
}

/// The entries of a directory (without `.` and `..`), sorted by name. (Sorted as paths: one
/// component each, so in byte order, with the sort the binary has already.)
pub fn entries(dir: &OwnedFd) -> rustix::io::Result<Vec<OsString>> {
    let mut names: Vec<PathBuf> = Vec::new();
    for e in Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).into());
        }
    }
    crate::sort::asc(&mut names);
    Ok(names.into_iter().map(PathBuf::into_os_string).collect())
}

/// Calls `each(path, stat)` for `name` (in `dir`) and, for a directory, everything inside it,
/// parents first; what cannot be read is reported as `Err` at its path.
pub fn walk(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    st: &Stat,
    shown: &str,
    each: &mut dyn FnMut(&str, std::result::Result<&Stat, String>),
) {
    each(shown, Ok(st));
    if kind(st) != FileType::Directory {
        return;
    }
    let listed = open_dir(dir, name).and_then(|fd| Ok((entries(&fd)?, fd)));
    let (names, fd) = match listed {
        Ok(x) => x,
        Err(e) => return each(shown, Err(format!("cannot read the directory: {e}"))),
    };
    for n in names {
        let child = format!("{shown}/{}", n.to_string_lossy());
        match stat_at(fd.as_fd(), &n) {
            Ok(cst) => walk(fd.as_fd(), &n, &cst, &child, each),
            Err(e) => each(&child, Err(e.to_string())),
        }
    }
}
