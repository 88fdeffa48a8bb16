//! The clap definition of the command line: syntax only; what the words mean is checked in
//! `target` and by the commands.

use super::help::*;
use crate::error::{Error, Result};
use crate::status;
use crate::target::FsChoice;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};
use log::LevelFilter;
use std::ffi::OsStr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "blankroot",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    override_usage = USAGE,
    after_help = AFTER_HELP,
    subcommand_value_name = "COMMAND",
    subcommand_help_heading = "Commands"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Sub,
}

#[derive(Debug, Subcommand)]
pub(super) enum Sub {
    #[command(
        about = "Put / back to the blank (in the initrd, before / is mounted)",
        long_about = rollback_text!(),
        override_usage = rollback_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Rollback(Deferred<RollbackCommand>),
    #[command(
        about = "Print the record of the last run",
        long_about = status_text!(),
        override_usage = status_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Status(Deferred<StatusArgs>),
    #[command(
        about = "List what the next boot erases (read-only)",
        long_about = diff_text!(),
        override_usage = diff_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Diff(Deferred<DiffCommand>),
    #[command(
        about = "Check that the next boot's rollback will go through (read-only)",
        long_about = check_text!(),
        override_usage = check_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Check(Deferred<CheckCommand>),
    #[command(
        about = "List the archived roots (read-only)",
        long_about = archives_text!(),
        override_usage = archives_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Archives(Deferred<ArchivesCommand>),
    #[command(
        about = "Copy paths back out of an archived root",
        long_about = restore_text!(),
        override_usage = restore_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Restore(Deferred<RestoreCommand>),
    #[command(
        about = "Copy live paths into the persistent store",
        long_about = persist_text!(),
        override_usage = persist_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Persist(Deferred<PersistCommand>),
    #[command(
        about = "Make the blank of a target (once; safe to run again)",
        long_about = init_text!(),
        override_usage = init_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Init(Deferred<InitCommand>),
    #[command(
        name = "skip-next-boot",
        about = "Leave the root as it is at the next boot, once",
        long_about = skip_text!(),
        override_usage = skip_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    SkipNextBoot(Deferred<SkipCommand>),
}

/// A command's options, added to its clap `Command` only when that command is the one parsed
/// (`Command::defer`). Building every option of every command is most of what a start costs:
/// measured with callgrind, `blankroot --version` ran 1.86 M instructions, 85% of them in
/// `Cli::command()` (the options of all seven commands, `TargetArgs` six times); under qemu TCG,
/// where the boot unit starts, that was ~57 ms more than a minimal static program
/// (bench/boot-cost.sh). Help, the man page and completions build the deferred parts as before.
#[derive(Debug, Clone, Default)]
pub struct Deferred<T>(pub T);

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|c| keep_texts(c, T::augment_args))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|c| keep_texts(c, T::augment_args_for_update))
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// The derive sets a command's about texts from the struct's doc comment: run later than the
/// command's own attributes (those of `Sub`'s variants), it would replace them. Keep them.
fn keep_texts(c: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = c.get_about().cloned();
    let long_about = c.get_long_about().cloned();
    let mut c = augment(c);
    if let Some(a) = about {
        c = c.about(a);
    }
    if let Some(a) = long_about {
        c = c.long_about(a);
    }
    c
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Deferred<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Deferred)
    }
    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

/// The target options: which root, how it is rolled back (taken by every command that looks at
/// a root, and read from the "args" of /etc/blankroot/config.json).
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// The root's filesystem (auto: from --device or --dataset)
    #[arg(long, value_name = "FS", default_value = "auto", allow_hyphen_values = true,
          value_parser = Value::choices(fs, &["auto", "btrfs", "zfs"]))]
    pub fs: FsChoice,
    /// Btrfs: the device that holds the root subvolume
    #[arg(long, value_name = "DEV", help_heading = BTRFS, allow_hyphen_values = true,
          value_parser = PATH, value_hint = clap::ValueHint::FilePath)]
    pub device: Option<PathBuf>,
    /// The root subvolume, relative to the top level [default: root]
    #[arg(long, value_name = "NAME", help_heading = BTRFS, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub subvolume: Option<String>,
    /// The read-only blank the root is copied from [default: root-blank]
    #[arg(long, value_name = "NAME", help_heading = BTRFS, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub blank: Option<String>,
    /// Recreate the root as an empty subvolume instead of from a blank
    #[arg(long, help_heading = BTRFS, overrides_with = "empty")]
    pub empty: bool,
    /// Move the old root to DIR/<UTC time> instead of deleting it (ZFS: POOL/PATH)
    #[arg(long, value_name = "DIR", help_heading = ARCHIVES, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub archive_dir: Option<String>,
    /// Keep the N newest archives, counting the new one
    #[arg(long, value_name = "N", help_heading = ARCHIVES, allow_hyphen_values = true,
          value_parser = NUMBER)]
    pub keep: Option<u32>,
    /// Prune archives older than D days (by the time in their names)
    #[arg(long, value_name = "D", help_heading = ARCHIVES, allow_hyphen_values = true,
          value_parser = NUMBER)]
    pub keep_days: Option<u32>,
    /// Also prune archive-named subvolumes (datasets) blankroot did not mark as its own
    /// (archives of blankroot 0.1 and of the impermanence script)
    #[arg(long, help_heading = ARCHIVES, overrides_with = "prune_unmarked")]
    pub prune_unmarked: bool,
    /// Refuse to run if the subvolume NAME is inside the root; never prune it (repeatable)
    #[arg(long, value_name = "NAME", help_heading = BTRFS, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub protect: Vec<String>,
    /// Below this free data or metadata space, delete instead of archive
    /// [default: 256M, or 5% of a smaller filesystem]
    #[arg(long = "min-free-space", value_name = "SIZE", help_heading = BTRFS,
          allow_hyphen_values = true, value_parser = SIZE, verbatim_doc_comment)]
    pub min_free: Option<u64>,
    /// Extra options for the top-level mount, after subvolid=5 (not applied yet)
    #[arg(long, value_name = "OPTS", help_heading = BTRFS, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub mount_options: Option<String>,
    /// ZFS: the root dataset
    #[arg(long, value_name = "POOL/DATASET", help_heading = ZFS, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub dataset: Option<String>,
    /// The dataset's blank snapshot [default: blank]
    #[arg(long, value_name = "NAME", help_heading = ZFS, allow_hyphen_values = true,
          value_parser = TEXT)]
    pub snapshot: Option<String>,
    /// Import the pool (zpool import -N) when it is not imported
    #[arg(long, help_heading = ZFS, overrides_with = "import")]
    pub import: bool,
    /// With --import: import with -f (a pool last used by another system)
    #[arg(long, help_heading = ZFS, overrides_with = "force_import")]
    pub force_import: bool,
    /// The zfs program, with zpool beside it [default: from PATH]
    #[arg(long, value_name = "PATH", help_heading = ZFS, allow_hyphen_values = true,
          value_parser = PATH, value_hint = clap::ValueHint::ExecutablePath)]
    pub zfs_command: Option<PathBuf>,
    /// Where the target is mounted: / (the root) or another filesystem the configuration
    /// wipes, such as /home [default: /]
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = TEXT,
          value_hint = clap::ValueHint::DirPath, verbatim_doc_comment)]
    pub mount_point: Option<String>,
}

/// The options of `rollback`: the target options and its own (also taken by `diff` and `check`,
/// which ignore the rollback's own, and read from the "args" of /etc/blankroot/config.json).
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Check everything and print the plan; change nothing
    #[arg(long, overrides_with = "dry_run")]
    pub dry_run: bool,
    /// Run without /etc/initrd-release (only on a disk that is not in use)
    #[arg(long, overrides_with = "allow_outside_initrd")]
    pub allow_outside_initrd: bool,
    /// Where the record of the run is written [default: /run/blankroot/status.json; for a
    /// target other than /, status.<escaped mount point>.json beside it]
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath, verbatim_doc_comment)]
    pub status_file: Option<PathBuf>,
    /// How much to log (stderr and /dev/kmsg)
    #[arg(long, value_name = "LEVEL", default_value = "info", allow_hyphen_values = true,
          value_parser = Value::choices(log_level, &["error", "warn", "info", "debug"]))]
    pub log_level: LevelFilter,
    /// How long to wait for another run on the same disk to finish, in seconds [default: 30]
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true, value_parser = NUMBER)]
    pub lock_wait: Option<u32>,
    /// Run in the booted system, before the target is mounted (the stage-2 unit of a target
    /// whose device only the booted system unlocks); not for /, refused while anything of the
    /// target is mounted
    #[arg(long, overrides_with = "before_mount", verbatim_doc_comment)]
    pub before_mount: bool,
}

/// `rollback`: the rollback's options for one target, or the targets of a configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct RollbackCommand {
    #[command(flatten)]
    pub rollback: RollbackArgs,
    /// Roll back the targets of FILE (the "targets" of a config.json), one after the other,
    /// each with its own lock and record
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath, verbatim_doc_comment)]
    pub config: Option<PathBuf>,
    /// With --config: only these targets, by mount point [default: all]; without it: the
    /// mount point of the target the options name (as --mount-point)
    #[arg(value_name = "TARGET", value_parser = MOUNT, verbatim_doc_comment)]
    pub which: Vec<String>,
}

impl Default for RollbackArgs {
    fn default() -> Self {
        RollbackArgs {
            target: TargetArgs::default(),
            dry_run: false,
            allow_outside_initrd: false,
            status_file: None,
            log_level: LevelFilter::Info,
            lock_wait: None,
            before_mount: false,
        }
    }
}

impl TargetArgs {
    /// It names a root (`--device` or `--dataset`).
    pub fn names_a_root(&self) -> bool {
        self.device.is_some() || self.dataset.is_some()
    }

    /// The target options, for `target::resolve`.
    pub fn request(&self) -> crate::target::Request {
        crate::target::Request {
            fs: self.fs,
            device: self.device.clone(),
            subvolume: self.subvolume.clone(),
            blank: self.blank.clone(),
            empty: self.empty,
            archive_dir: self.archive_dir.clone(),
            keep: self.keep,
            keep_days: self.keep_days,
            prune_unmarked: self.prune_unmarked,
            protect: self.protect.clone(),
            min_free: self.min_free,
            mount_options: self.mount_options.clone(),
            dataset: self.dataset.clone(),
            snapshot: self.snapshot.clone(),
            import: self.import,
            force_import: self.force_import,
            zfs_command: self.zfs_command.clone(),
            mount_point: self.mount_point.clone(),
        }
    }
}

impl RollbackArgs {
    /// The rollback's own options.
    pub fn options(&self) -> crate::commands::rollback::Options {
        crate::commands::rollback::Options {
            dry_run: self.dry_run,
            allow_outside_initrd: self.allow_outside_initrd,
            status_file: self.status_file.clone(),
            lock_wait: self.lock_wait,
            before_mount: self.before_mount,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The record to read
    #[arg(long, value_name = "PATH", default_value = status::DEFAULT_PATH,
          allow_hyphen_values = true, value_parser = PATH, value_hint = clap::ValueHint::FilePath)]
    pub status_file: PathBuf,
    /// Print the records as JSON (the root's as written, every target's in "targets"); the same
    /// as --format json
    #[arg(long, overrides_with = "json", verbatim_doc_comment)]
    pub json: bool,
    /// How to print: text, json, or prometheus (node-exporter's textfile format: result,
    /// duration, skips, archives and the last check's findings per target)
    #[arg(long, value_name = "FORMAT", allow_hyphen_values = true, verbatim_doc_comment,
          value_parser = Value::choices(format, &["text", "json", "prometheus"]))]
    pub format: Option<crate::commands::status::Format>,
    /// Exit 1 unless every target's record is from this boot and its run did not fail
    #[arg(long, overrides_with = "check")]
    pub check: bool,
    /// Write the JSON or the metrics to FILE instead of stdout, whole or not at all (a
    /// temporary name beside it, then a rename: node-exporter never reads half a file)
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath, verbatim_doc_comment)]
    pub output: Option<PathBuf>,
    /// The configuration whose targets to report [default: /etc/blankroot/config.json, if
    /// present; else the records found beside --status-file]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath, verbatim_doc_comment)]
    pub config: Option<PathBuf>,
}

/// `diff`: its own options, then the rollback's (the target).
#[derive(Debug, Args)]
pub struct DiffCommand {
    /// The target, by mount point (/home) [default: /]
    #[arg(value_name = "TARGET", value_parser = MOUNT)]
    pub which: Option<String>,
    /// Alone: everything on PATH's filesystem is erased (tmpfs root);
    /// with --device or --dataset: read the live tree at PATH
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::DirPath, verbatim_doc_comment)]
    pub root: Option<PathBuf>,
    /// The configuration to read [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// Leave out PATH: it survives the boot (repeatable)
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::AnyPath)]
    pub persisted: Vec<PathBuf>,
    /// Leave out the paths FILE lists (one a line, or JSON) (repeatable)
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub persisted_from: Vec<PathBuf>,
    /// Print JSON, one line per change
    #[arg(long, overrides_with = "json")]
    pub json: bool,
    /// List what NixOS recreates at every boot too
    #[arg(long, overrides_with = "include_nix_managed")]
    pub include_nix_managed: bool,
    /// Print one Nix expression of persistence entries for what would be lost, ready to paste
    #[arg(long, value_name = "MODULE", allow_hyphen_values = true,
          value_parser = Value::choices(suggest, &["impermanence", "preservation"]))]
    pub suggest: Option<crate::commands::diff::Suggest>,
    /// With --suggest: the persistent directory the entries go to
    /// [default: the one the configuration persists to, else /persist]
    #[arg(long, value_name = "DIR", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::DirPath, verbatim_doc_comment)]
    pub persist_dir: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Rollback options")]
    pub rollback: RollbackArgs,
}

/// `check`: its own options, then the rollback's.
#[derive(Debug, Args)]
pub struct CheckCommand {
    /// The targets to check, by mount point [default: every target of the configuration]
    #[arg(value_name = "TARGET", value_parser = MOUNT)]
    pub which: Vec<String>,
    /// Read the rollback options from FILE [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// PATH survives the boot (repeatable; besides the configuration's)
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::AnyPath)]
    pub persisted: Vec<PathBuf>,
    /// The paths FILE lists survive the boot (one a line, or JSON) (repeatable)
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub persisted_from: Vec<PathBuf>,
    /// Exit 1 when something that must not be lost would be (warnings otherwise)
    #[arg(long, overrides_with = "strict")]
    pub strict: bool,
    /// Also write the counts of what was found to FILE (JSON), for `blankroot status --format
    /// prometheus` [its default: /run/blankroot/check.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath, verbatim_doc_comment)]
    pub record: Option<PathBuf>,
    /// List what the persistent stores hold that no persistence entry of the configuration
    /// names any more, with sizes, newest change first (read-only)
    #[arg(long, conflicts_with_all = ["which", "persisted", "persisted_from", "strict", "record"])]
    pub stale: bool,
    /// With --stale: one JSON object ({"stores": [...], "stale": [...]})
    #[arg(long)]
    pub json: bool,
    #[command(flatten, next_help_heading = "Rollback options")]
    pub rollback: RollbackArgs,
}

/// `archives`: the target options (with --archive-dir), from the configuration when absent.
#[derive(Debug, Args)]
pub struct ArchivesCommand {
    /// The target, by mount point (/home) [default: /]
    #[arg(value_name = "TARGET", value_parser = MOUNT)]
    pub which: Option<String>,
    /// Read the target options from FILE [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// Print JSON: {"archives": [...], "left_alone": [...]}
    #[arg(long, overrides_with = "json")]
    pub json: bool,
    #[command(flatten, next_help_heading = "Target options")]
    pub target: TargetArgs,
}

/// `restore`: what to copy back, from which archive, to where.
#[derive(Debug, Args)]
pub struct RestoreCommand {
    /// Read the target options from FILE [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// The target the paths were in, by mount point [default: the target whose mount point
    /// holds the paths]
    #[arg(long = "target", value_name = "TARGET", allow_hyphen_values = true,
          value_parser = MOUNT, verbatim_doc_comment)]
    pub target_mount: Option<String>,
    /// The archive to copy from: its name, or latest
    #[arg(long, value_name = "NAME", default_value = "latest", allow_hyphen_values = true,
          value_parser = TEXT)]
    pub from: String,
    /// Copy under DIR (DIR/etc/ssh/...) instead of into the running system
    #[arg(long, value_name = "DIR", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::DirPath)]
    pub to: Option<PathBuf>,
    /// Replace what exists at a destination
    #[arg(long, overrides_with = "force")]
    pub force: bool,
    /// List what would be copied; copy nothing
    #[arg(long, overrides_with = "dry_run")]
    pub dry_run: bool,
    /// Absolute paths as they were in the old root (/etc/ssh/ssh_host_ed25519_key)
    #[arg(value_name = "PATH", required = true, value_parser = PATH,
          value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    #[command(flatten, next_help_heading = "Target options")]
    pub target: TargetArgs,
}

/// `persist`: what to copy into the persistent store, and where the store is.
#[derive(Debug, Args)]
pub struct PersistCommand {
    /// Read persist_dir and the wiped targets from FILE [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// The persistent store: PATH goes to STORE/PATH [default: the configuration's persist_dir]
    #[arg(long, value_name = "STORE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::DirPath)]
    pub to: Option<PathBuf>,
    /// Merge into what exists at a destination (the copy's entries replace those of the
    /// same name; nothing else there is removed)
    #[arg(long, overrides_with = "force", verbatim_doc_comment)]
    pub force: bool,
    /// Check everything and say what would be copied; copy nothing
    #[arg(long, overrides_with = "dry_run")]
    pub dry_run: bool,
    /// Absolute paths on the running system (/var/lib/foo)
    #[arg(value_name = "PATH", required = true, value_parser = PATH,
          value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
}

/// `init`: the target whose blank to make, and the directories it holds.
#[derive(Debug, Args)]
pub struct InitCommand {
    /// The target, by mount point (/home) [default: /]
    #[arg(value_name = "TARGET", value_parser = MOUNT)]
    pub which: Option<String>,
    /// Read the target options, mounts and other targets from FILE
    /// [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath, verbatim_doc_comment)]
    pub config: Option<PathBuf>,
    /// A directory the blank holds besides the mount points of the configuration, as the
    /// running system sees it (/nix)
    #[arg(long = "dir", value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::DirPath, verbatim_doc_comment)]
    pub dirs: Vec<PathBuf>,
    /// Check everything and say what would be made; change nothing
    #[arg(long, overrides_with = "dry_run")]
    pub dry_run: bool,
    #[command(flatten, next_help_heading = "Target options")]
    pub target: TargetArgs,
}

/// `skip-next-boot`: a one-shot request, on the disk, to leave the root alone next boot.
#[derive(Debug, Args)]
pub struct SkipCommand {
    /// The targets to leave alone, by mount point [default: every target]
    #[arg(value_name = "TARGET", value_parser = MOUNT)]
    pub which: Vec<String>,
    /// Read the target options from FILE [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// Remove a pending request instead
    #[arg(long, overrides_with = "cancel")]
    pub cancel: bool,
    #[command(flatten, next_help_heading = "Target options")]
    pub target: TargetArgs,
}

/// Reads the value of an option (`--opt VALUE` or `--opt=VALUE`) into a `T`, with blankroot's
/// own messages. A value may begin with one `-` (`--subvolume -x`), not with two: in
/// `--device --dry-run` the value is missing.
#[derive(Clone, Copy)]
struct Value<T: 'static> {
    read: fn(&str, &OsStr) -> Result<T>,
    /// Shown in the help and offered by the completions.
    choices: &'static [&'static str],
}

impl<T> Value<T> {
    const fn new(read: fn(&str, &OsStr) -> Result<T>) -> Value<T> {
        Value { read, choices: &[] }
    }

    const fn choices(
        read: fn(&str, &OsStr) -> Result<T>,
        choices: &'static [&'static str],
    ) -> Value<T> {
        Value { read, choices }
    }
}

const PATH: Value<PathBuf> = Value::new(|_, v| Ok(PathBuf::from(v)));
const TEXT: Value<String> = Value::new(text);
/// A TARGET word: a mount point (kept as given; `MountPoint::parse` normalises it later).
const MOUNT: Value<String> = Value::new(|_, v| {
    let t = text("TARGET", v)?;
    if !t.starts_with('/') {
        return Err(Error::usage(format!(
            "unexpected argument {t:?}: a TARGET is the mount point of a target, such as / or /home; see blankroot --help"
        )));
    }
    crate::mount_point::MountPoint::parse("TARGET", &t)?;
    Ok(t)
});
const NUMBER: Value<u32> = Value::new(|opt, v| number(opt, &text(opt, v)?));
const SIZE: Value<u64> = Value::new(|opt, v| size(opt, &text(opt, v)?));

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Value<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> std::result::Result<T, clap::Error> {
        let opt = arg
            .and_then(clap::Arg::get_long)
            .map_or_else(String::new, |l| format!("--{l}"));
        let read = if value.as_encoded_bytes().starts_with(b"--") {
            Err(Error::usage(format!(
                "{opt} needs a value; see blankroot --help"
            )))
        } else {
            (self.read)(&opt, value)
        };
        read.map_err(|e| {
            let mut err = clap::Error::new(ErrorKind::ValueValidation);
            err.insert(ContextKind::Custom, ContextValue::String(e.message));
            err
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        if self.choices.is_empty() {
            return None;
        }
        Some(Box::new(
            self.choices.iter().map(|c| PossibleValue::new(*c)),
        ))
    }
}

fn text(opt: &str, v: &OsStr) -> Result<String> {
    v.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::usage(format!("{opt} {v:?}: not UTF-8")))
}

fn number(opt: &str, raw: &str) -> Result<u32> {
    raw.parse()
        .map_err(|_| Error::usage(format!("{opt} {raw:?}: not a whole number")))
}

fn fs(opt: &str, v: &OsStr) -> Result<FsChoice> {
    match text(opt, v)?.as_str() {
        "auto" => Ok(FsChoice::Auto),
        "btrfs" => Ok(FsChoice::Btrfs),
        "zfs" => Ok(FsChoice::Zfs),
        other => Err(Error::usage(format!(
            "{opt} {other:?}: use auto, btrfs or zfs"
        ))),
    }
}

fn suggest(opt: &str, v: &OsStr) -> Result<crate::commands::diff::Suggest> {
    match text(opt, v)?.as_str() {
        "impermanence" => Ok(crate::commands::diff::Suggest::Impermanence),
        "preservation" => Ok(crate::commands::diff::Suggest::Preservation),
        other => Err(Error::usage(format!(
            "{opt} {other:?}: use impermanence or preservation"
        ))),
    }
}

fn format(opt: &str, v: &OsStr) -> Result<crate::commands::status::Format> {
    use crate::commands::status::Format;
    match text(opt, v)?.as_str() {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        "prometheus" => Ok(Format::Prometheus),
        other => Err(Error::usage(format!(
            "{opt} {other:?}: use text, json or prometheus"
        ))),
    }
}

fn log_level(opt: &str, v: &OsStr) -> Result<LevelFilter> {
    match text(opt, v)?.as_str() {
        "error" => Ok(LevelFilter::Error),
        "warn" | "warning" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        other => Err(Error::usage(format!(
            "{opt} {other:?}: use error, warn, info or debug"
        ))),
    }
}

/// `1048576`, `512K`, `256M`, `2G`, `1T` (powers of 1024).
pub fn size(opt: &str, raw: &str) -> Result<u64> {
    let (digits, shift) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => {
                    return Err(Error::usage(format!(
                        "{opt} {raw:?}: unknown unit; use K, M, G or T"
                    )))
                }
            };
            (&raw[..i], shift)
        }
        _ => (raw, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| Error::usage(format!("{opt} {raw:?}: not a size like 256M")))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| Error::usage(format!("{opt} {raw:?}: too large")))
}
