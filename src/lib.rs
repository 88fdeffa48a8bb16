//! blankroot: put `/` back to a blank snapshot at every boot, from the initrd, without ever losing
//! what was meant to persist.
//!
//! The decision (`plan`, `retention`) is kept apart from the effect (`btrfs`, `zfs`), so the
//! decision can be unit tested and printed by `--dry-run`.

pub mod btrfs;
pub mod check;
pub mod cli;
pub mod diff;
pub mod error;
pub mod failpoint;
pub mod host;
pub mod kmsg;
pub mod lock;
pub mod mountinfo;
pub mod names;
pub mod probe;
pub mod retention;
pub mod rollback;
pub mod status;
pub mod steps;
pub mod time;
pub mod zfs;
pub mod zfs_label;
