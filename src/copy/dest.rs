//! Where a PATH goes: `/PATH` on the running system, or `DIR/PATH` with `--to DIR`. The
//! directories on the way are resolved inside that root (`RESOLVE_IN_ROOT`: an absolute symlink
//! under `--to DIR` stays under DIR, as it would for a system whose root DIR is); the last
//! component is never followed: what is there is replaced (with `--force`), not written through.

use super::paths::Wanted;
use super::source::{kind, kind_name};
use rustix::fd::OwnedFd;
use rustix::fs::{
    fchmod, fchown, fstat, mkdirat, open, openat2, statat, AtFlags, FileType, Gid, Mode, OFlags,
    ResolveFlags, Stat, Uid,
};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub struct Dest {
    root: OwnedFd,
    /// `--to DIR` as given; `None` for `/`.
    to: Option<PathBuf>,
}

/// What is at a destination now.
pub struct Probe {
    /// The directory that holds it, when every directory on the way exists.
    pub parent: Option<OwnedFd>,
    /// How many of the PATH's directories exist (the rest are made like the source's).
    pub existing_dirs: usize,
    /// What is there (not followed), if anything.
    pub existing: Option<Stat>,
    /// The device of the deepest directory that exists on the way.
    pub dev: u64,
}

fn open_in_root(root: &OwnedFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
    if rel.as_os_str().is_empty() {
        return openat2(
            root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::empty(),
        );
    }
    openat2(
        root,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

impl Dest {
    pub fn open(to: Option<&Path>) -> Result<Dest, String> {
        let at = to.unwrap_or(Path::new("/"));
        let root = open(
            at,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT => format!(
                "--to {}: does not exist; create the directory first",
                at.display()
            ),
            Errno::NOTDIR => format!("--to {}: is not a directory", at.display()),
            e => format!("--to {}: {e}", at.display()),
        })?;
        Ok(Dest {
            root,
            to: to.map(Path::to_path_buf),
        })
    }

    /// Where `w` goes, as shown: `/etc/ssh` or `DIR/etc/ssh`.
    pub fn shown(&self, w: &Wanted) -> String {
        match &self.to {
            None => w.shown.clone(),
            Some(d) => format!(
                "{}{}",
                d.display().to_string().trim_end_matches('/'),
                w.shown
            ),
        }
    }

    /// What is at `w`'s destination, without changing anything.
    pub fn probe(&self, w: &Wanted) -> Result<Probe, String> {
        let dirs = &w.parts[..w.parts.len() - 1];
        let mut parent = Some(open_in_root(&self.root, Path::new("")).map_err(|e| e.to_string())?);
        let mut dev = fstat(parent.as_ref().unwrap())
            .map_err(|e| e.to_string())?
            .st_dev;
        let mut existing_dirs = 0;
        let mut rel = PathBuf::new();
        for part in dirs {
            rel.push(part);
            match open_in_root(&self.root, &rel) {
                Ok(fd) => {
                    dev = fstat(&fd).map_err(|e| e.to_string())?.st_dev;
                    parent = Some(fd);
                    existing_dirs += 1;
                }
                Err(Errno::NOENT) => {
                    parent = None;
                    break;
                }
                Err(Errno::NOTDIR) => {
                    return Err(format!(
                        "{} is in the way: it is not a directory (nothing was copied)",
                        self.shown_rel(&rel)
                    ))
                }
                Err(e) => return Err(format!("{}: {e}", self.shown_rel(&rel))),
            }
        }
        let existing = match &parent {
            None => None,
            Some(p) => match statat(p, w.parts.last().unwrap(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(format!("{}: {e}", self.shown(w))),
            },
        };
        Ok(Probe {
            parent,
            existing_dirs,
            existing,
            dev,
        })
    }

    fn shown_rel(&self, rel: &Path) -> String {
        match &self.to {
            None => format!("/{}", rel.display()),
            Some(d) => format!(
                "{}/{}",
                d.display().to_string().trim_end_matches('/'),
                rel.display()
            ),
        }
    }

    /// Makes the directories on the way to `w` that are missing, each with the owner and mode
    /// of the source's (`like`, one per directory of the PATH), and returns the last.
    pub fn make_parents(&self, w: &Wanted, probe: Probe, like: &[Stat]) -> Result<OwnedFd, String> {
        if let Some(p) = probe.parent {
            return Ok(p);
        }
        let dirs = &w.parts[..w.parts.len() - 1];
        let mut rel: PathBuf = dirs[..probe.existing_dirs].iter().collect();
        let mut cur =
            open_in_root(&self.root, &rel).map_err(|e| format!("{}: {e}", self.shown_rel(&rel)))?;
        for (i, part) in dirs.iter().enumerate().skip(probe.existing_dirs) {
            rel.push(part);
            let made = match mkdirat(&cur, part, Mode::from_raw_mode(0o700)) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(e) => return Err(format!("making {}: {e}", self.shown_rel(&rel))),
            };
            let next = open_in_root(&self.root, &rel)
                .map_err(|e| format!("opening {}: {e}", self.shown_rel(&rel)))?;
            if made {
                let st = &like[i];
                let _ = fchown(
                    &next,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                );
                let _ = fchmod(&next, Mode::from_raw_mode(st.st_mode & 0o7777));
            }
            cur = next;
        }
        Ok(cur)
    }
}

/// Whether the copy of `src` (in `from`: `the archive`) may go to `to`, where `existing` is
/// (`Dest::probe`), with or without `force`: the refusal, one line, names the fix.
pub fn may_replace(
    existing: Option<&Stat>,
    src: &Stat,
    from: &str,
    force: bool,
    to: &str,
) -> Result<(), String> {
    let dir = |st: &Stat| kind(st) == FileType::Directory;
    match existing {
        Some(e) if !force => Err(format!(
            "{to} exists (a {}): pass --force to replace it{}",
            kind_name(e),
            if dir(e) && dir(src) {
                format!(" ({from}'s entries are copied into it, replacing those of the same name)")
            } else {
                String::new()
            }
        )),
        Some(e) if dir(e) && !dir(src) => Err(format!(
            "{to} is a directory and {from} has a {} there: move it away first (--force never removes a directory)",
            kind_name(src)
        )),
        _ => Ok(()),
    }
}

/// What the copy does at its destination: `new`, `merged into the directory there`, ...
pub fn what_happens(existing: Option<&Stat>, src: &Stat) -> String {
    let dir = |st: &Stat| kind(st) == FileType::Directory;
    match existing {
        None => "new".to_string(),
        Some(e) if dir(e) && dir(src) => "merged into the directory there".to_string(),
        Some(e) => format!("replaces the {} there", kind_name(e)),
    }
}
