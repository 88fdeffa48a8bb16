//! The archived roots as both engines list them (Btrfs: subvolumes in the archive directory;
//! ZFS: datasets under the archive parent), for `blankroot archives` and for `restore`, which
//! picks one by name or as `latest`. Read from the engines; nothing here touches a disk.

use crate::error::{Error, Result};
use crate::retention::Stamp;

/// The mark the Btrfs engine sets on a root it retires (`btrfs::plan::RETIRED_XATTR`).
pub const RETIRED_XATTR: &str = "trusted.blankroot.retired";

/// One archived root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    /// Its own name, the archive time: `2026-11-22T02:20:50Z`, `2024-3-5_10:11:12`.
    pub name: String,
    /// Where it is: `old_roots/2026-11-22T02:20:50Z` (relative to the Btrfs top level) or
    /// `rpool/local/old_roots/2026-11-22T02:20:50Z` (a ZFS dataset).
    pub path: String,
    /// The time in its name.
    pub stamp: Stamp,
    /// blankroot made it (the mark on it is its own name); unmarked ones are archives of
    /// blankroot before 0.2 or of other tools, which retention leaves alone.
    pub marked: bool,
    /// Btrfs: the subvolumes inside it, as paths of the old root (`/var/lib/machines`); ZFS: its
    /// child datasets.
    pub nested: Vec<String>,
    /// Btrfs: referenced bytes (with its nested subvolumes) when quotas are on; ZFS: `used`.
    pub size_bytes: Option<u64>,
}

/// An entry of the archive directory (or parent) that retention never prunes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    pub name: String,
    pub reason: String,
}

/// What the archive directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The archive directory (Btrfs) or parent dataset (ZFS).
    pub dir: String,
    /// Newest first.
    pub archives: Vec<Archived>,
    pub left_alone: Vec<LeftAlone>,
    /// Why sizes are unknown, when they are (`quotas are off`).
    pub size_unknown: Option<String>,
    /// Said once, above the list (`old_roots does not exist yet`).
    pub notes: Vec<String>,
}

impl Listing {
    /// Puts the archives newest first: by the time in their names, then by name. (An insertion
    /// sort: there are a few archives, and the binary's size budget has no room for one more
    /// instance of the standard sort.)
    pub fn sort(&mut self) {
        let key = |a: &Archived| (a.stamp, a.name.clone());
        let mut sorted: Vec<Archived> = Vec::with_capacity(self.archives.len());
        for a in self.archives.drain(..) {
            let at = sorted
                .iter()
                .position(|s| key(s) < key(&a))
                .unwrap_or(sorted.len());
            sorted.insert(at, a);
        }
        self.archives = sorted;
    }

    /// The archive `latest` means: the newest.
    pub fn latest(&self) -> Option<&Archived> {
        self.archives.first()
    }

    /// The archive `--from` names: `latest`, an archive's name, or its full path.
    pub fn pick(&self, from: &str) -> Result<&Archived> {
        if from == "latest" {
            return self.latest().ok_or_else(|| {
                Error::runtime(format!(
                    "there are no archives in {}: nothing to restore from (archive mode keeps the old root at each boot: --archive-dir, or boot.blankroot.archive.enable on NixOS)",
                    self.dir
                ))
            });
        }
        if let Some(a) = self
            .archives
            .iter()
            .find(|a| a.name == from || a.path == from)
        {
            return Ok(a);
        }
        if let Some(l) = self
            .left_alone
            .iter()
            .find(|l| l.name == from || l.name.rsplit('/').next() == Some(from))
        {
            if !self.archives.iter().any(|a| a.path == l.name) {
                return Err(Error::runtime(format!(
                    "--from {from}: {} is not an archive ({}): restore reads only archives; see blankroot archives",
                    l.name, l.reason
                )));
            }
        }
        let names: Vec<&str> = self.archives.iter().map(|a| a.name.as_str()).collect();
        Err(Error::runtime(format!(
            "--from {from}: no such archive in {} ({}); see blankroot archives",
            self.dir,
            if names.is_empty() {
                "there are none".to_string()
            } else {
                format!("archives: latest, {}", names.join(", "))
            }
        )))
    }
}

/// `512 B`, `4.0 KiB`, `1.2 GiB`: one decimal, rounded to the nearest (integers only: float formatting
/// would cost the static binary some 13 KB).
pub fn size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut u = 0;
    while u + 1 < units.len() && bytes >> (10 * (u + 1)) > 0 {
        u += 1;
    }
    if u == 0 {
        return format!("{bytes} B");
    }
    // bytes < 1024^(u+1), so this is under 10 * 2^20: no overflow.
    let tenths = ((bytes >> (10 * (u - 1))) * 10 + 512) >> 10;
    format!("{}.{} {}", tenths / 10, tenths % 10, units[u])
}

/// `archives` or `restore` on a target without `--archive-dir`.
pub fn archive_mode_off() -> Error {
    Error::usage(
        "no --archive-dir: archive mode is off, so the wipe keeps nothing to list or restore; give --archive-dir DIR (on NixOS: boot.blankroot.archive.enable = true)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::parse;

    fn archived(name: &str) -> Archived {
        Archived {
            name: name.into(),
            path: format!("old/{name}"),
            stamp: parse(name).unwrap(),
            marked: true,
            nested: Vec::new(),
            size_bytes: None,
        }
    }

    fn listing() -> Listing {
        let mut l = Listing {
            dir: "old".into(),
            archives: [
                "2026-11-20T00:00:00Z",
                "2026-11-22T00:00:00Z",
                "2026-11-22T00:00:00Z.1",
                "2026-11-21_23:00:00",
            ]
            .map(archived)
            .to_vec(),
            left_alone: vec![
                LeftAlone {
                    name: "old/notes".into(),
                    reason: "a plain directory".into(),
                },
                LeftAlone {
                    name: "old/2026-11-20T00:00:00Z".into(),
                    reason: "not marked".into(),
                },
            ],
            ..Listing::default()
        };
        l.sort();
        l
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(4096), "4.0 KiB");
        assert_eq!(size(1_288_490_189), "1.2 GiB");
        assert_eq!(size(1023 << 20), "1023.0 MiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn newest_first_and_latest_is_the_newest() {
        let l = listing();
        let names: Vec<&str> = l.archives.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "2026-11-22T00:00:00Z.1",
                "2026-11-22T00:00:00Z",
                "2026-11-21_23:00:00",
                "2026-11-20T00:00:00Z"
            ]
        );
        assert_eq!(l.pick("latest").unwrap().name, "2026-11-22T00:00:00Z.1");
        assert_eq!(l.pick("2026-11-21_23:00:00").unwrap().name, names[2]);
        assert_eq!(l.pick("old/2026-11-22T00:00:00Z").unwrap().name, names[1]);
        // Left alone by retention but an archive all the same (unmarked): it can be restored.
        assert_eq!(l.pick("2026-11-20T00:00:00Z").unwrap().name, names[3]);
    }

    #[test]
    fn what_is_not_an_archive_is_named() {
        let l = listing();
        let e = l.pick("notes").unwrap_err();
        assert!(
            e.message
                .contains("old/notes is not an archive (a plain directory)"),
            "{e}"
        );
        let e = l.pick("2020-01-01T00:00:00Z").unwrap_err();
        assert!(
            e.message
                .contains("no such archive in old (archives: latest, 2026-11-22T00:00:00Z.1,"),
            "{e}"
        );
        let e = Listing {
            dir: "old".into(),
            ..Listing::default()
        }
        .pick("latest")
        .unwrap_err();
        assert!(e.message.starts_with("there are no archives in old"), "{e}");
        assert_eq!(e.exit_code(), 1);
    }
}
