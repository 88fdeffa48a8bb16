//! Opening names under the top level without ever following a symlink or leaving the mount, and
//! telling what each name is.

use super::ioctl::{self, SUBVOL_INO};
use crate::error::{Error, Result};
use crate::names::Name;
use crate::plan::{Entry, Nested, Subvol, Tree};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{fstat, openat, openat2, FileType, Mode, OFlags, ResolveFlags};
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
    })
}

/// What a name under the top level is.
pub fn classify(top: BorrowedFd<'_>, name: &Name) -> Result<(Entry, Option<OwnedFd>)> {
    classify_at(top, &name.to_path()).map_err(|e| Error::io(format!("looking at {name}"), e))
}

/// A name and, when it is a subvolume, every subvolume inside it.
pub fn tree(top: BorrowedFd<'_>, name: &Name) -> Result<Tree> {
    let (entry, fd) = classify(top, name)?;
    let mut nested = Vec::new();
    if let (Entry::Subvolume(_), Some(fd)) = (&entry, fd) {
        collect_nested(name, &fd, &mut nested)?;
    }
    Ok(Tree { entry, nested })
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
        let has_children = collect_nested(&child, &cfd, out)?;
        out.push(Nested {
            name: child,
            sub,
            has_children,
        });
    }
    Ok(!children.is_empty())
}
