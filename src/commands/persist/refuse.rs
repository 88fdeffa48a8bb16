//! What `persist` refuses, before anything is written: a store on a filesystem the next boot
//! wipes (every copy would go with it), and a PATH that is persisted already — a bind mount
//! from the store (what impermanence and preservation mount), a path beneath one, or a symlink
//! into it — that overlaps the store, or that is a mount point of its own (another filesystem
//! survives the boot anyway). Read from `/proc/self/mountinfo`: a bind mount shows there as
//! the store's filesystem (`major:minor`) with the directory it shows (`fs_root`).

use super::Request;
use crate::copy::paths::Wanted;
use crate::copy::source::{self, Found};
use crate::mountinfo::{self, Mount};
use rustix::fs::{readlinkat, FileType};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct Store {
    /// As given, and with symlinks resolved (what mountinfo names).
    given: PathBuf,
    real: PathBuf,
    mounts: Vec<Mount>,
    /// The store's filesystem and the store's directory in it.
    dev: String,
    fs_path: PathBuf,
}

fn resolved(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Store {
    pub fn check(req: &Request) -> Result<Store, String> {
        let given = req.store.clone();
        let real = resolved(&given);
        let mounts = mountinfo::read();
        let m = mountinfo::mount_of(&mounts, &real)
            .ok_or_else(|| {
                format!(
                    "the store {}: not found in /proc/self/mountinfo",
                    given.display()
                )
            })?
            .clone();
        let fs_path = m
            .fs_root
            .join(real.strip_prefix(&m.mount_point).unwrap_or(Path::new("")));
        for w in &req.wiped {
            let w = resolved(w);
            // The target's own mount: the store lies in its tree when it is on the same
            // filesystem beneath the directory the target shows (a nested subvolume too: the
            // rollback deletes those with the root).
            let target = mounts.iter().rev().find(|t| t.mount_point == w);
            let inside = m.mount_point == w
                || target.is_some_and(|t| t.dev == m.dev && fs_path.starts_with(&t.fs_root));
            if inside {
                let of = req.config.as_ref().map_or_else(
                    || "blankroot wipes /".to_string(),
                    |c| format!("a target of {}", c.display()),
                );
                return Err(format!(
                    "persist: the store {} lies on {}, which the next boot wipes ({of}): every copy would be wiped with it; give --to a directory on a persistent filesystem",
                    given.display(),
                    w.display()
                ));
            }
        }
        Ok(Store {
            given,
            real,
            dev: m.dev.clone(),
            fs_path,
            mounts,
        })
    }

    /// The store as shown in messages and in the entries (`/persist`).
    pub fn shown(&self) -> String {
        let s = self.given.display().to_string();
        let t = s.trim_end_matches('/');
        if t.is_empty() {
            "/".into()
        } else {
            t.into()
        }
    }

    /// The PATH is not in the store, does not hold it, and is not on a mount of its own.
    pub fn path(&self, w: &Wanted) -> Result<(), String> {
        let p: PathBuf = Path::new("/").join(w.parts.iter().collect::<PathBuf>());
        if p.starts_with(&self.real) || self.real.starts_with(&p) || p.starts_with(&self.given) {
            return Err(format!(
                "{} and the store {} overlap: persist copies paths outside the store into it",
                w.shown,
                self.shown()
            ));
        }
        let Some(m) = mountinfo::mount_of(&self.mounts, &p) else {
            return Ok(());
        };
        if m.dev == self.dev && m.fs_root.starts_with(&self.fs_path) {
            let rel = m
                .fs_root
                .strip_prefix(&self.fs_path)
                .unwrap_or(Path::new(""));
            let from = Path::new(&self.shown()).join(rel);
            return Err(if m.mount_point == p {
                format!(
                    "{} is a bind mount of {} from the store: it is persisted already",
                    w.shown,
                    from.display()
                )
            } else {
                format!(
                    "{} lies under {}, a bind mount of {} from the store: it is persisted already",
                    w.shown,
                    m.mount_point.display(),
                    from.display()
                )
            });
        }
        if m.mount_point == p {
            return Err(format!(
                "{} is a mount point ({} {}): another filesystem is not wiped with the root; persist copies what lies on the root",
                w.shown, m.fstype, m.source
            ));
        }
        Ok(())
    }

    /// The PATH is not a symlink into the store (preservation's `how = "symlink"`).
    pub fn not_linked(&self, w: &Wanted, found: &Found) -> Result<(), String> {
        if source::kind(&found.stat) != FileType::Symlink {
            return Ok(());
        }
        let Ok(target) = readlinkat(&found.dir, found.name.as_os_str(), Vec::new()) else {
            return Ok(());
        };
        let target = Path::new(OsStr::from_bytes(target.as_bytes()));
        if target.starts_with(&self.given) || target.starts_with(&self.real) {
            return Err(format!(
                "{} is a symlink to {}, in the store: it is persisted already",
                w.shown,
                target.display()
            ));
        }
        Ok(())
    }
}
