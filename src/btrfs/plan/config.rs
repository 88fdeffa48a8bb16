//! What the command line asks of a Btrfs rollback, checked on the names alone.

use crate::error::{Error, Result};
use crate::names::Name;
use crate::retention::Policy;

/// The staging name is this prefix and the root's last component, beside the root.
pub const STAGING_PREFIX: &str = ".blankroot-new-";

/// The longest last component of a root: the staging name must fit in a file name (255 bytes).
pub const ROOT_NAME_MAX: usize = crate::names::NAME_MAX - STAGING_PREFIX.len();

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Blank(Name),
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub dir: Name,
    pub policy: Policy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub root: Name,
    pub source: Source,
    pub archive: Option<Archive>,
    pub protect: Vec<Name>,
    /// Below this much free data or metadata space, archive mode deletes instead
    /// (default: [`default_min_free`]).
    pub min_free: Option<u64>,
    /// Prune archive-named subvolumes blankroot did not mark too (archives of older versions
    /// and of the impermanence script).
    pub prune_unmarked: bool,
}

/// 256 MiB, or 5% of a smaller filesystem (VM images): "the disk is full" in either case.
pub fn default_min_free(total: u64) -> u64 {
    (256u64 << 20).min(total / 20)
}

impl Config {
    /// Where the new root is made before it takes the root's name.
    pub fn staging(&self) -> Name {
        self.root
            .sibling(&format!("{STAGING_PREFIX}{}", self.root.basename()))
    }

    /// What the names alone say is wrong (usage errors, before anything is mounted).
    pub fn validate(&self) -> Result<()> {
        let root = &self.root;
        let clash = |msg: String| Err(Error::usage(msg));
        if root.basename().len() > ROOT_NAME_MAX {
            return clash(format!("--subvolume {root}: the last component is longer than {ROOT_NAME_MAX} bytes, too long to stage a new root beside it; use a shorter name"));
        }
        if let Source::Blank(blank) = &self.source {
            if blank == root {
                return clash(format!("--blank {blank} is the root itself; the blank must be a separate read-only snapshot such as `{root}-blank`"));
            }
            if blank.is_within(root) {
                return clash(format!("--blank {blank} lies inside the root {root}, which is replaced every boot; keep the blank beside the root (e.g. `{root}-blank`)"));
            }
            if root.is_within(blank) {
                return clash(format!("--subvolume {root} lies inside the blank {blank}; give the root subvolume itself"));
            }
            if *blank == self.staging() {
                return clash(format!(
                    "--blank {blank} is blankroot's staging name; rename the blank"
                ));
            }
        }
        if let Some(archive) = &self.archive {
            let dir = &archive.dir;
            if dir.is_within(root) || root.is_within(dir) {
                return clash(format!("--archive-dir {dir} and --subvolume {root} overlap; put the archive directory beside the root (e.g. `old_roots`)"));
            }
            if let Source::Blank(blank) = &self.source {
                if dir.is_within(blank) || blank.is_within(dir) {
                    return clash(format!("--archive-dir {dir} and --blank {blank} overlap; keep the blank out of the archive directory"));
                }
            }
        }
        for p in &self.protect {
            if p.is_within(root) {
                return clash(format!("--protect {p} lies inside the root {root}, which is wiped every boot; move that subvolume out of the root or drop --protect {p}"));
            }
            if root.is_within(p) {
                return clash(format!("--protect {p} contains the root {root}; protect the subvolumes beside the root, not above it"));
            }
        }
        Ok(())
    }
}
