//! blankroot: put `/` back to a blank snapshot at every boot, from the initrd, without ever losing
//! what was meant to persist.
//!
//! One direction of imports: the command line (`cli`) parses words into requests; the commands
//! (`commands::rollback`, `commands::check`, `commands::diff`, ...) take them; `target` and
//! `config` turn a request or the installed configuration into validated targets; the engines
//! (`btrfs`, `zfs`) gather facts, plan (pure, printed by `--dry-run`) and carry the plan out;
//! below them the pure helpers (`names`, `retention`, `steps`, `time`, ...). `tests/layering.rs`
//! keeps it so.

// The command line.
pub mod cli;
// The commands.
pub mod commands;
// From request to engine configuration.
pub mod config;
pub mod target;
// The engines.
pub mod btrfs;
pub mod zfs;
// What they share.
pub mod archived;
pub mod copy;
pub mod dirs;
pub mod error;
pub mod failpoint;
pub mod host;
pub mod kmsg;
pub mod lock;
pub mod metrics;
pub mod mount_point;
pub mod mountinfo;
pub mod names;
pub mod probe;
pub mod progress;
pub mod report;
pub mod retention;
pub mod sort;
pub mod sparse;
pub mod status;
pub mod steps;
pub mod time;
pub mod zfs_label;
