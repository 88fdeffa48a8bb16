//! Gathering the facts the plan needs, without writing anything.

use super::mount::TopMount;
use super::plan::{ArchiveEntry, Config, Entry, Facts, Source};
use super::{ioctl, nav, quota, space};
use crate::error::{Error, Result};
use crate::names::Name;
use rustix::fd::BorrowedFd;
use rustix::fs::Dir;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

pub fn inspect(top: &TopMount, cfg: &Config, now: i64) -> Result<Facts> {
    let t = top.fd();
    let root = nav::tree(t, &cfg.root)?;
    let root_qgroup = match root.subvol() {
        Some(s) => quota::of(t, s.id)
            .map_err(|e| Error::io("reading the root's quota group", e))?
            .filter(|q| !q.is_plain()),
        None => None,
    };
    let root_container = container(t, cfg.root.parent())?;
    let blank = match &cfg.source {
        Source::Blank(name) => Some(nav::classify(t, name)?.0),
        Source::Empty => None,
    };
    let staging = nav::tree(t, &cfg.staging())?;

    let (mut archive_dir, mut archive_container, mut archives) = (None, None, Vec::new());
    let mut archive_dir_flags = 0;
    if let Some(a) = &cfg.archive {
        let (entry, fd) = nav::classify(t, &a.dir)?;
        if let Some(fd) = &fd {
            archive_dir_flags =
                nav::flags(fd).map_err(|e| Error::io(format!("looking at {}", a.dir), e))?;
        }
        archive_container = match (&entry, &fd) {
            (Entry::PlainDir, Some(fd)) => Some(id_of(fd)?),
            (Entry::Absent, _) => nearest_container(t, &a.dir)?,
            _ => None,
        };
        if let (Entry::PlainDir, Some(fd)) = (&entry, fd) {
            let what = |e| Error::io(format!("reading the archive directory {}", a.dir), e);
            for item in Dir::read_from(&fd).map_err(what)? {
                let item = item.map_err(what)?;
                let name = OsStr::from_bytes(item.file_name().to_bytes()).to_owned();
                if name == "." || name == ".." {
                    continue;
                }
                archives.push(ArchiveEntry {
                    tree: nav::tree(t, &a.dir.child(&name))?,
                    name,
                });
            }
        }
        archive_dir = Some(entry);
    }

    let free = ioctl::free_space(t).map_err(|e| Error::io("reading free space", e))?;
    let mut protected = Vec::new();
    for p in &cfg.protect {
        protected.push((p.clone(), nav::classify(t, p)?.0));
    }
    Ok(Facts {
        root,
        root_container,
        blank,
        staging,
        archive_dir,
        archive_dir_flags,
        archive_container,
        archives,
        protected,
        root_qgroup,
        default_subvol: ioctl::default_subvolume(t)
            .map_err(|e| Error::io("reading the default subvolume", e))?,
        mounts: top.other_mounts(),
        metadata_available: if crate::failpoint::ignore_headroom() {
            u64::MAX
        } else {
            space::metadata_available(&free)
        },
        space: free,
        now,
    })
}

fn id_of(fd: &rustix::fd::OwnedFd) -> Result<u64> {
    ioctl::subvol_info(fd)
        .map(|i| i.id)
        .map_err(|e| Error::io("reading a subvolume id", e))
}

/// The subvolume that holds directory `dir` (the top level when `None`); `None` if `dir` is
/// missing or not a directory.
fn container(top: BorrowedFd<'_>, dir: Option<Name>) -> Result<Option<u64>> {
    let Some(dir) = dir else {
        return Ok(Some(ioctl::FS_TREE));
    };
    match nav::classify(top, &dir)? {
        (Entry::PlainDir | Entry::Subvolume(_), Some(fd)) => Ok(Some(id_of(&fd)?)),
        _ => Ok(None),
    }
}

/// For a directory still to be made: the subvolume of its nearest existing ancestor.
fn nearest_container(top: BorrowedFd<'_>, dir: &Name) -> Result<Option<u64>> {
    let mut up = dir.parent();
    loop {
        match &up {
            None => return container(top, None),
            Some(p) => match nav::classify(top, p)?.0 {
                Entry::Absent => up = p.parent(),
                _ => return container(top, up),
            },
        }
    }
}
