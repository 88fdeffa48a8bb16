//! Making a target's blank (`blankroot init`, issue 16): a read-only subvolume beside the root
//! that holds only directories (the mount points other filesystems need inside the target), made
//! without touching the root, so it works at install time and on a system that has run for years.
//!
//! The blank is made under a temporary name beside it (`.blankroot-init-NAME`), filled, made
//! read-only, then renamed to its name with `RENAME_NOREPLACE`: the blank's name only ever names
//! a finished blank, and an existing one is never replaced. A crash leaves at most the temporary
//! subvolume, which the next run deletes (a subvolume of that name, beside the blank) and makes
//! again.

use super::ioctl;
use super::mount::TopMount;
use super::nav;
use super::plan::Entry;
use crate::error::{Error, Result};
use crate::names::Name;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{chmodat, chownat, fchmod, fchown, fstat, mkdirat, renameat_with};
use rustix::fs::{AtFlags, FileType, Gid, Mode, RenameFlags, Uid};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const TEMP_PREFIX: &str = ".blankroot-init-";

/// A directory of the blank (relative to its top; empty: the top itself), with the owner and
/// mode it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub rel: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// What the blank's name holds: a read-only subvolume (its id), or nothing.
pub fn find(top: &TopMount, blank: &Name) -> Result<Option<u64>> {
    let (entry, _) = nav::classify(top.fd(), blank)?;
    let what = match entry {
        Entry::Absent => return Ok(None),
        Entry::Subvolume(s) if s.read_only => return Ok(Some(s.id)),
        Entry::Subvolume(_) => "a writable subvolume",
        other => other.describe(),
    };
    Err(Error::runtime(format!(
        "init: --blank {blank} exists and is {what}, not a read-only blank: blankroot never replaces it; nothing was changed (remove or rename it, or give another --blank)"
    )))
}

/// The blank's directories: its top, then each of `wanted` (relative paths) with every
/// directory on the way, in order. Owner and mode come from the same directory in the root
/// when it is one there (never through a symlink), else root's 0755.
pub fn dirs(top: &TopMount, root: &Name, wanted: &[PathBuf]) -> Vec<Dir> {
    let mut rels = vec![PathBuf::new()];
    for w in wanted {
        let mut at = PathBuf::new();
        for c in w.components() {
            at.push(c);
            if !rels.contains(&at) {
                rels.push(at.clone());
            }
        }
    }
    crate::sort::asc(&mut rels);
    let root_fd = nav::open_dir(top.fd(), &root.to_path()).ok();
    rels.into_iter()
        .map(|rel| {
            let st = root_fd.as_ref().and_then(|fd| {
                let p = if rel.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &rel
                };
                let (e, fd) = nav::classify_at(fd.as_fd(), p).ok()?;
                matches!(e, Entry::PlainDir | Entry::Subvolume(_))
                    .then(|| fstat(fd?).ok())
                    .flatten()
            });
            match st {
                Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Dir {
                    rel,
                    uid: st.st_uid,
                    gid: st.st_gid,
                    mode: st.st_mode & 0o7777,
                },
                _ => Dir {
                    rel,
                    uid: 0,
                    gid: 0,
                    mode: 0o755,
                },
            }
        })
        .collect()
}

/// The root holds something (a populated system: what the next boot archives or deletes).
pub fn populated(top: &TopMount, root: &Name) -> bool {
    let Ok(fd) = nav::open_dir(top.fd(), &root.to_path()) else {
        return false;
    };
    rustix::fs::Dir::read_from(&fd).is_ok_and(|d| {
        d.filter_map(|e| e.ok())
            .any(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
    })
}

/// Makes the blank (see the module documentation) and returns its subvolume id.
pub fn make(top: &TopMount, blank: &Name, dirs: &[Dir]) -> Result<u64> {
    let io = |what: &str, e| Error::io(format!("init: {what}"), e);
    let parent = nav::open_parent(top.fd(), blank).map_err(|e| {
        io(
            &format!("opening the directory of --blank {blank} (it must exist)"),
            e,
        )
    })?;
    let mut temp = OsString::from(TEMP_PREFIX);
    temp.push(blank.basename_os());
    let temp_path = Path::new(&temp);
    match nav::classify_at(parent.as_fd(), temp_path).map_err(|e| io("looking for a leftover", e))? {
        (Entry::Absent, _) => {}
        (Entry::Subvolume(_), Some(fd)) => {
            // Deleted only when that loses nothing: it holds directories and nothing else.
            let found = crate::dirs::first_content(fd.as_fd(), crate::dirs::Other::Content)
                .map_err(|e| io("reading a leftover", e))?;
            if let Some(f) = found {
                return Err(Error::runtime(format!(
                    "init: {} beside --blank {blank} holds {f}: it is not an unfinished blank; remove it and run init again; nothing was changed",
                    temp_path.display()
                )));
            }
            drop(fd);
            ioctl::destroy(&parent, &temp)
                .map_err(|e| io("deleting the unfinished blank of an earlier run", e))?;
            log::info!("deleted {} left by an init that did not finish", temp_path.display());
        }
        (e, _) => {
            return Err(Error::runtime(format!(
                "init: {} beside --blank {blank} {}, not a subvolume blankroot made: remove it and run init again; nothing was changed",
                temp_path.display(),
                e.describe()
            )))
        }
    }
    ioctl::create_subvolume(&parent, &temp, None)
        .map_err(|e| io(&format!("creating {}", temp_path.display()), e))?;
    crate::failpoint::hit("init-created");
    let fd = nav::open_dir(&parent, temp_path).map_err(|e| io("opening the new blank", e))?;
    fill(&fd, dirs).map_err(|e| io("making the blank's directories", e))?;
    ioctl::set_read_only(&fd, true).map_err(|e| io("making the blank read-only", e))?;
    crate::failpoint::hit("init-read-only");
    renameat_with(
        &parent,
        &temp,
        &parent,
        blank.basename_os(),
        RenameFlags::NOREPLACE,
    )
    .map_err(|e| io(&format!("renaming the new blank to {blank}"), e))?;
    let id = ioctl::subvol_info(&fd)
        .map_err(|e| io("reading the blank's id", e))?
        .id;
    ioctl::sync(&fd).map_err(|e| io("syncing", e))?;
    Ok(id)
}

fn fill(fd: &OwnedFd, dirs: &[Dir]) -> rustix::io::Result<()> {
    for d in dirs {
        let mode = Mode::from_raw_mode(d.mode);
        let (uid, gid) = (Uid::from_raw(d.uid), Gid::from_raw(d.gid));
        if d.rel.as_os_str().is_empty() {
            fchown(fd, Some(uid), Some(gid))?;
            fchmod(fd, mode)?;
            continue;
        }
        mkdirat(fd, &d.rel, Mode::from_raw_mode(0o700))?;
        chownat(fd, &d.rel, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
        chmodat(fd, &d.rel, mode, AtFlags::empty())?;
    }
    Ok(())
}
