//! The metadata of a copied entry: owner, extended attributes (ACLs included), mode, then the
//! access and modification times (the change time cannot be set). In that order: `chown`
//! clears set-user-ID bits and `security.capability`, so the mode and the attributes come after
//! it; setting an ACL sets the group bits of the mode, which the source's mode (set next) agrees
//! with; the times come last because every change before moves them.
//!
//! Copied attributes: `user.*`, `security.*`, `trusted.*` (listed only to root) and the POSIX
//! ACLs (`system.posix_acl_access`, `system.posix_acl_default`); never blankroot's own mark
//! on an archive (`trusted.blankroot.retired`). ACLs the new entry inherited from a default ACL
//! of its destination directory, and the source does not have, are removed. Symlinks and
//! device nodes are reached by name (`/proc/self/fd/N/NAME` for their attributes); the rest by
//! an open descriptor.

use crate::archived::RETIRED_XATTR;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::fs::{
    chmodat, chownat, fchmod, fchown, fgetxattr, flistxattr, fremovexattr, fsetxattr, fstat,
    futimens, lgetxattr, llistxattr, lremovexattr, lsetxattr, statat, utimensat, AtFlags, FileType,
    Gid, Mode, Stat, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

const ACLS: [&str; 2] = ["system.posix_acl_access", "system.posix_acl_default"];

/// An entry, by descriptor or by name in a directory (symlinks, devices, FIFOs, sockets).
#[derive(Clone, Copy)]
pub enum Node<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a OsStr),
}

impl Node<'_> {
    fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        p.push(name);
        p
    }

    fn list(&self, buf: &mut [u8]) -> rustix::io::Result<Vec<OsString>> {
        let n = match self {
            Node::Fd(fd) => flistxattr(fd, &mut *buf)?,
            Node::At(d, name) => llistxattr(Self::proc_path(*d, name), &mut *buf)?,
        };
        Ok(buf[..n]
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| OsStr::from_bytes(n).to_owned())
            .collect())
    }

    fn get(&self, name: &OsStr, buf: &mut [u8]) -> rustix::io::Result<Vec<u8>> {
        let n = match self {
            Node::Fd(fd) => fgetxattr(fd, name, &mut *buf)?,
            Node::At(d, entry) => lgetxattr(Self::proc_path(*d, entry), name, &mut *buf)?,
        };
        Ok(buf[..n].to_vec())
    }

    fn set(&self, name: &OsStr, value: &[u8]) -> rustix::io::Result<()> {
        match self {
            Node::Fd(fd) => fsetxattr(fd, name, value, XattrFlags::empty()),
            Node::At(d, entry) => {
                lsetxattr(Self::proc_path(*d, entry), name, value, XattrFlags::empty())
            }
        }
    }

    fn remove(&self, name: &OsStr) -> rustix::io::Result<()> {
        match self {
            Node::Fd(fd) => fremovexattr(fd, name),
            Node::At(d, entry) => lremovexattr(Self::proc_path(*d, entry), name),
        }
    }
}

/// Whether an attribute is copied.
pub fn copied(name: &[u8]) -> bool {
    if name == RETIRED_XATTR.as_bytes() {
        return false;
    }
    ["user.", "security.", "trusted."]
        .iter()
        .any(|p| name.starts_with(p.as_bytes()))
        || ACLS.iter().any(|a| name == a.as_bytes())
}

fn ts(sec: i64, nsec: u64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    }
}

/// Gives `dst` the metadata of `src` (stat'ed as `st`); returns what could not be kept.
pub fn apply(src: Node<'_>, dst: Node<'_>, st: &Stat, buf: &mut [u8]) -> Vec<String> {
    let mut lost = Vec::new();
    let symlink = FileType::from_raw_mode(st.st_mode) == FileType::Symlink;
    let (uid, gid) = (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    );
    // Already the owner (a root-owned source copied by root): no `chown`, which on Btrfs is an
    // inode update of its own.
    let now = match dst {
        Node::Fd(fd) => fstat(fd),
        Node::At(d, name) => statat(d, name, AtFlags::SYMLINK_NOFOLLOW),
    };
    let owned = now.is_ok_and(|n| (n.st_uid, n.st_gid) == (st.st_uid, st.st_gid));
    let owner = match dst {
        _ if owned => Ok(()),
        Node::Fd(fd) => fchown(fd, uid, gid),
        Node::At(d, name) => chownat(d, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW),
    };
    if let Err(e) = owner {
        lost.push(format!("owner {}:{} ({e})", st.st_uid, st.st_gid));
    }
    xattrs(src, dst, buf, &mut lost);
    if !symlink {
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let r = match dst {
            Node::Fd(fd) => fchmod(fd, mode),
            Node::At(d, name) => chmodat(d, name, mode, AtFlags::empty()),
        };
        if let Err(e) = r {
            lost.push(format!("mode {:o} ({e})", st.st_mode & 0o7777));
        }
    }
    let times = Timestamps {
        last_access: ts(st.st_atime, st.st_atime_nsec),
        last_modification: ts(st.st_mtime, st.st_mtime_nsec),
    };
    let r = match dst {
        Node::Fd(fd) => futimens(fd, &times),
        Node::At(d, name) => utimensat(d, name, &times, AtFlags::SYMLINK_NOFOLLOW),
    };
    if let Err(e) = r {
        lost.push(format!("times ({e})"));
    }
    lost
}

fn xattrs(src: Node<'_>, dst: Node<'_>, buf: &mut [u8], lost: &mut Vec<String>) {
    // The ACLs the new entry inherited (from a default ACL of its directory), to remove those
    // the source lacks; without a list, each is removed blindly.
    let inherited: Vec<&str> = match dst.list(buf) {
        Ok(have) => ACLS
            .into_iter()
            .filter(|a| have.iter().any(|h| h.as_bytes() == a.as_bytes()))
            .collect(),
        Err(_) => ACLS.to_vec(),
    };
    let names = match src.list(buf) {
        Ok(n) => n,
        // A filesystem (or a symlink on one) without extended attributes has none to copy.
        Err(Errno::NOTSUP) => Vec::new(),
        Err(e) => {
            lost.push(format!("extended attributes (listing them: {e})"));
            return;
        }
    };
    let wanted: Vec<&OsString> = names.iter().filter(|n| copied(n.as_bytes())).collect();
    for name in &wanted {
        match src.get(name, buf) {
            Ok(value) => {
                if let Err(e) = dst.set(name, &value) {
                    lost.push(format!("{} ({e})", name.to_string_lossy()));
                }
            }
            // Gone since it was listed.
            Err(Errno::NODATA) => {}
            Err(e) => lost.push(format!("{} (reading it: {e})", name.to_string_lossy())),
        }
    }
    for acl in inherited {
        if wanted.iter().any(|n| n.as_bytes() == acl.as_bytes()) {
            continue;
        }
        match dst.remove(OsStr::new(acl)) {
            Ok(()) | Err(Errno::NODATA | Errno::NOTSUP) => {}
            Err(e) => lost.push(format!("{acl}: an inherited ACL stayed ({e})")),
        }
    }
}

/// Node for an open descriptor.
pub fn fd<Fd: AsFd>(f: &Fd) -> Node<'_> {
    Node::Fd(f.as_fd())
}

#[cfg(test)]
mod tests {
    #[test]
    fn which_attributes_are_copied() {
        for n in [
            "user.note",
            "security.capability",
            "trusted.overlay.opaque",
            "system.posix_acl_access",
            "system.posix_acl_default",
        ] {
            assert!(super::copied(n.as_bytes()), "{n}");
        }
        for n in [
            "trusted.blankroot.retired",
            "system.nfs4_acl",
            "btrfs.compression",
            "usr.x",
        ] {
            assert!(!super::copied(n.as_bytes()), "{n}");
        }
    }
}
