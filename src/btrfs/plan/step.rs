//! The steps a plan is made of, what each reserves, and the plan as `--dry-run` prints it.

use crate::btrfs::quota::{Limit, Qgroup};
use crate::names::Name;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    DeleteSubvolume {
        name: Name,
        id: u64,
        why: &'static str,
    },
    MakeWritable {
        name: Name,
        id: u64,
        why: &'static str,
    },
    /// `quota`: the old root's quota group settings, given to the new subvolume.
    Snapshot {
        source: Name,
        source_id: u64,
        dest: Name,
        quota: Option<Qgroup>,
    },
    CreateEmpty {
        dest: Name,
        quota: Option<Qgroup>,
    },
    MakeDir {
        name: Name,
    },
    /// `id` is None for a subvolume made by an earlier step of the same plan.
    Rename {
        from: Name,
        id: Option<u64>,
        to: Name,
    },
    /// Gives the new root the old root's quota limits.
    LimitQuota {
        name: Name,
        limit: Limit,
        shown: String,
    },
    /// Sets [`super::RETIRED_XATTR`] to `value` on the subvolume's top directory.
    Mark {
        name: Name,
        id: u64,
        value: String,
    },
    /// `renameat2(RENAME_EXCHANGE)`: the staging subvolume and the root swap names in one step,
    /// so the root's name never goes missing. `staging_id` is None when an earlier step made it.
    Exchange {
        staging: Name,
        staging_id: Option<u64>,
        root: Name,
        root_id: u64,
    },
    /// Commit the transaction: unmounting the top level syncs it, without waiting for the
    /// cleaner thread that frees the old root's blocks (it goes on after `sysroot.mount`).
    Commit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::DeleteSubvolume { name, id, why } => {
                write!(f, "delete subvolume {name} (id {id}, {why})")
            }
            Step::MakeWritable { name, id, why } => {
                write!(f, "make subvolume {name} (id {id}) writable {why}")
            }
            Step::Snapshot {
                source,
                source_id,
                dest,
                quota,
            } => {
                write!(f, "snapshot {source} (id {source_id}) to {dest} (writable)")?;
                with_quota(f, quota)
            }
            Step::CreateEmpty { dest, quota } => {
                write!(f, "create empty subvolume {dest}")?;
                with_quota(f, quota)
            }
            Step::MakeDir { name } => write!(f, "create directory {name}"),
            Step::Rename {
                from,
                id: Some(id),
                to,
            } => write!(f, "rename {from} (id {id}) to {to}"),
            Step::Rename { from, id: None, to } => write!(f, "rename {from} to {to}"),
            Step::LimitQuota { name, shown, .. } => {
                write!(f, "give {name} the old root's quota limit ({shown})")
            }
            Step::Mark { name, id, value } => write!(
                f,
                "mark subvolume {name} (id {id}) as the root blankroot retires ({}={value})",
                super::RETIRED_XATTR
            ),
            Step::Exchange {
                staging, root, root_id, ..
            } => write!(
                f,
                "swap {staging} and {root} (id {root_id}) in one rename (RENAME_EXCHANGE): {root} is the new root, the old one is at {staging}"
            ),
            Step::Commit => write!(
                f,
                "commit the transaction (unmount the top level, which syncs it)"
            ),
        }
    }
}

fn with_quota(f: &mut fmt::Formatter<'_>, quota: &Option<Qgroup>) -> fmt::Result {
    match quota {
        Some(q) if !q.parents.is_empty() => {
            write!(
                f,
                " in the old root's quota groups ({})",
                q.describe_groups()
            )
        }
        _ => Ok(()),
    }
}

impl Step {
    /// Metadata space the kernel reserves before it carries the step out, in bytes.
    ///
    /// Measured on Linux 6.18 (16 KiB nodes, free-space tree; `tests/btrfs_full_disk.rs` fills a
    /// disk to every level in between): a transaction reserves, for each item it may touch,
    /// nodesize × 8 levels × 2 for the item and twice that again for its delayed references.
    /// Renaming a subvolume touches 9 items (10 into another directory), swapping two
    /// subvolumes 17, `mkdir` 5. Snapshots, subvolume creation and deletion and setting an
    /// extended attribute draw on the global reserve as well: they went through with the least
    /// space the measurement could leave, so they count nothing here.
    pub fn reservation(&self, nodesize: u64) -> u64 {
        let items = match self {
            Step::Exchange { .. } => 17,
            Step::Rename { from, to, .. } if from.parent() == to.parent() => 9,
            Step::Rename { .. } => 10,
            Step::MakeDir { .. } => 5,
            Step::LimitQuota { .. } => 1,
            _ => 0,
        };
        items * nodesize * 8 * 2 * 3
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Delete,
    Archive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub steps: Vec<Step>,
    /// The archive this run makes (the newest, when it also finishes an earlier run's).
    pub archive: Option<Name>,
    pub pruned: Vec<Name>,
    pub left_alone: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn new(mode: Mode) -> Plan {
        Plan {
            mode,
            steps: Vec::new(),
            archive: None,
            pruned: Vec::new(),
            left_alone: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::steps::numbered(f, &self.steps)
    }
}
