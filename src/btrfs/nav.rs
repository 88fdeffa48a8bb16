//! Opening names under the top level without ever following a symlink or leaving the mount, and
//! telling what each name is.

use super::ioctl::{self, SUBVOL_INO};
use super::plan::{Entry, Nested, Subvol, Tree, RETIRED_XATTR};
use crate::error::{Error, Result};
use crate::names::Name;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    fgetxattr, fstat, ioctl_getflags, openat, openat2, Dir, FileType, Mode, OFlags, ResolveFlags,
};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Opens `rel` beneath `dir` as a directory for reading (ioctls work on such descriptors).
pub fn open_dir(dir: impl AsFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
    openat2(
        dir,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )
}

/// The directory a name lives in (the top level for a name directly under it).
pub fn open_parent(top: BorrowedFd<'_>, name: &Name) -> rustix::io::Result<OwnedFd> {
    let parent = name
        .parent()
        .map(|p| p.to_path())
        .unwrap_or_else(|| ".".into());
    open_dir(top, &parent)
}

/// What `rel` (beneath `dir`) is, with an open directory when it is one.
pub fn classify_at(
    dir: BorrowedFd<'_>,
    rel: &Path,
) -> rustix::io::Result<(Entry, Option<OwnedFd>)> {
    let path_fd = match openat2(
        dir,
        rel,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok((Entry::Absent, None)),
        Err(Errno::LOOP) => return Ok((Entry::ThroughSymlink, None)),
        Err(Errno::NOTDIR) => return Ok((Entry::NotDirectory, None)),
        Err(e) => return Err(e),
    };
    let st = fstat(&path_fd)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => return Ok((Entry::Symlink, None)),
        FileType::Directory => {}
        _ => return Ok((Entry::NotDirectory, None)),
    }
    let fd = openat(
        &path_fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if st.st_ino != SUBVOL_INO {
        return Ok((Entry::PlainDir, Some(fd)));
    }
    let sub = subvol(&fd)?;
    Ok((Entry::Subvolume(sub), Some(fd)))
}

pub fn subvol(fd: &OwnedFd) -> rustix::io::Result<Subvol> {
    let info = ioctl::subvol_info(fd)?;
    Ok(Subvol {
        id: info.id,
        read_only: ioctl::is_read_only(fd)?,
        uuid: info.uuid,
        parent_uuid: info.parent_uuid,
        generation: info.generation,
        otransid: info.otransid,
        flags: flags(fd)?,
    })
}

/// The inode attributes (`chattr`) of an open file.
pub fn flags(fd: impl AsFd) -> rustix::io::Result<u32> {
    match ioctl_getflags(fd) {
        Ok(f) => Ok(f.bits()),
        // A filesystem without attributes has none that block anything.
        Err(Errno::NOTTY | Errno::NOTSUP | Errno::INVAL) => Ok(0),
        Err(e) => Err(e),
    }
}

/// The attributes of the directory that holds `rel` (beneath `dir`).
fn parent_flags(dir: BorrowedFd<'_>, rel: &Path) -> rustix::io::Result<u32> {
    let parent = match rel.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match open_dir(dir, parent) {
        Ok(fd) => flags(&fd),
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => Ok(0),
        Err(e) => Err(e),
    }
}

/// blankroot's mark on a subvolume's top directory ([`RETIRED_XATTR`]).
pub fn mark(fd: &OwnedFd) -> rustix::io::Result<Option<String>> {
    let mut buf = [0u8; 256];
    match fgetxattr(fd, RETIRED_XATTR, &mut buf[..]) {
        Ok(n) => Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned())),
        Err(Errno::NODATA | Errno::NOTSUP | Errno::RANGE) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The directory has no entries besides `.` and `..`.
fn is_empty(fd: &OwnedFd) -> rustix::io::Result<bool> {
    for entry in Dir::read_from(fd)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a name under the top level is.
pub fn classify(top: BorrowedFd<'_>, name: &Name) -> Result<(Entry, Option<OwnedFd>)> {
    classify_at(top, &name.to_path()).map_err(|e| Error::io(format!("looking at {name}"), e))
}

/// A name and, when it is a subvolume, every subvolume inside it.
pub fn tree(top: BorrowedFd<'_>, name: &Name) -> Result<Tree> {
    let (entry, fd) = classify(top, name)?;
    let looking = |e| Error::io(format!("looking at {name}"), e);
    let mut t = Tree {
        parent_flags: parent_flags(top, &name.to_path()).map_err(looking)?,
        ..Tree::absent()
    };
    if let (Entry::Subvolume(_), Some(fd)) = (&entry, fd) {
        collect_nested(name, &fd, &mut t.nested)?;
        t.mark = mark(&fd).map_err(looking)?;
        t.empty = is_empty(&fd).map_err(looking)?;
    }
    t.entry = entry;
    Ok(t)
}

/// Appends the subvolumes inside the subvolume `fd` (named `name`), children before parents.
/// Each one is proven twice: the kernel lists it as a child of this subvolume, and its path,
/// opened beneath this subvolume without following symlinks, is a subvolume with that id.
/// Returns whether there were any.
pub fn collect_nested(name: &Name, fd: &OwnedFd, out: &mut Vec<Nested>) -> Result<bool> {
    let children = ioctl::children(fd)
        .map_err(|e| Error::io(format!("listing the subvolumes inside {name}"), e))?;
    for &(id, dirid) in &children {
        let rel = ioctl::child_path(fd, dirid, id).map_err(|e| {
            Error::io(
                format!("finding the path of subvolume id {id} inside {name}"),
                e,
            )
        })?;
        let child = name.join_rel(&rel);
        let unproven = |why: String| {
            Error::runtime(format!("cannot prove that subvolume id {id} at {child} is inside {name} ({why}): nothing was changed"))
        };
        let rel_path = Path::new(OsStr::from_bytes(&rel));
        let (entry, cfd) =
            classify_at(fd.as_fd(), rel_path).map_err(|e| unproven(e.to_string()))?;
        let (Entry::Subvolume(sub), Some(cfd)) = (entry.clone(), cfd) else {
            return Err(unproven(format!("{child} is {entry:?}")));
        };
        if sub.id != id {
            return Err(unproven(format!("{child} is subvolume id {}", sub.id)));
        }
        let parent_flags = parent_flags(fd.as_fd(), rel_path)
            .map_err(|e| Error::io(format!("looking at the directory holding {child}"), e))?;
        let has_children = collect_nested(&child, &cfd, out)?;
        out.push(Nested {
            name: child,
            sub,
            has_children,
            parent_flags,
        });
    }
    Ok(!children.is_empty())
}
