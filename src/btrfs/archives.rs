//! The archives in the archive directory, as retention sees them (`plan::sort_archives`), for
//! `blankroot archives` and `restore`. Read-only: the caller mounts the top level read-only.

use super::mount::TopMount;
use super::plan::{self, Config, Entry};
use super::{inspect, nav, quota};
use crate::archived::{Archived, LeftAlone, Listing};
use crate::error::{Error, Result};
use crate::names::Name;
use rustix::fd::OwnedFd;

/// The archive directory's entries: the archives (subvolumes named by an archive time), newest
/// first, and what retention leaves alone.
pub fn list(top: &TopMount, cfg: &Config, now: i64) -> Result<Listing> {
    let Some(archive) = &cfg.archive else {
        return Err(crate::archived::archive_mode_off());
    };
    let dir = &archive.dir;
    let facts = inspect::inspect(top, cfg, now)?;
    let mut listing = Listing {
        dir: dir.to_string(),
        ..Listing::default()
    };
    match facts.archive_dir.as_ref().expect("inspected with an archive") {
        Entry::PlainDir => {}
        Entry::Absent => listing.notes.push(format!(
            "the archive directory {dir} does not exist yet: no root was archived"
        )),
        other => {
            return Err(Error::runtime(format!(
                "the archive directory {dir} {}: blankroot archives only into a plain directory; fix --archive-dir",
                other.describe()
            )))
        }
    }
    let sizes = quota::referenced(top.fd()).map_err(|e| Error::io("reading the quota tree", e))?;
    if let quota::Sizes::Unknown(why) = &sizes {
        listing.size_unknown = Some(why.to_string());
    }
    for s in plan::sort_archives(cfg, dir, &facts) {
        let tree = &s.entry.tree;
        if let (Entry::Subvolume(_), Some(stamp)) = (&tree.entry, s.stamp) {
            let base = s.name.basename().to_string();
            // Paths of the old root, sorted (as paths: the sort the binary has already).
            let mut nested: Vec<std::path::PathBuf> = tree
                .nested
                .iter()
                .filter(|n| n.name.is_within(&s.name))
                .map(|n| {
                    let inside = &n.name.components()[s.name.components().len()..];
                    std::iter::once(std::ffi::OsStr::new("/"))
                        .chain(inside.iter().map(|c| c.as_os_str()))
                        .collect()
                })
                .collect();
            crate::sort::asc(&mut nested);
            let nested = nested
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let size_bytes = match &sizes {
                quota::Sizes::Known(map) => {
                    let parts: Option<Vec<u64>> =
                        tree.ids().map(|id| map.get(&id).copied()).collect();
                    parts.map(|p| p.iter().sum())
                }
                quota::Sizes::Unknown(_) => None,
            };
            listing.archives.push(Archived {
                marked: tree.mark.as_deref() == Some(base.as_str()),
                name: base,
                path: s.name.to_string(),
                stamp,
                nested,
                size_bytes,
            });
        }
        if let Some(reason) = s.left_alone {
            listing.left_alone.push(LeftAlone {
                name: s.name.to_string(),
                reason,
            });
        }
    }
    listing.sort();
    Ok(listing)
}

/// The top directory of an archive `list` returned, opened beneath the top level without
/// following symlinks; it must still be a subvolume.
pub fn open(top: &TopMount, archive: &Archived) -> Result<OwnedFd> {
    let name = Name::parse("archive", &archive.path)?;
    match nav::classify(top.fd(), &name)? {
        (Entry::Subvolume(_), Some(fd)) => Ok(fd),
        (other, _) => Err(Error::runtime(format!(
            "the archive {name} {} now: nothing was copied; see blankroot archives",
            other.describe()
        ))),
    }
}
