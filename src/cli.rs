//! The command line: its clap definition (syntax only; meaning is checked by the commands), usage
//! errors as one line, and dispatch. `blankroot-docs` renders the man page and the shell
//! completions from the same definition ([`command`]).

pub use crate::check::CheckArgs;
pub use crate::diff::DiffArgs;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::status::{self, Status};
use crate::{kmsg, rollback};
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use log::LevelFilter;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

// The help texts: clap prints them as written (no wrapping), so they are wrapped here.

macro_rules! rollback_text {
    () => {
        "\
Put / back to the blank, from the initrd, before the root is mounted.

Btrfs (--device DEV): mounts the top level of DEV (subvolid=5) and replaces the subvolume NAME
(default `root`) with a writable snapshot of the read-only blank (default `root-blank`), or with
an empty subvolume (--empty). The old root and every subvolume nested in it are deleted, or with
--archive-dir moved to DIR/<UTC time> and old archives pruned (--keep N newest, counting the new
one; --keep-days D by the time in their names). Names are relative to the top level. Everything
is checked before the first change; --protect NAME refuses to run if NAME is inside the root.
Below --min-free-space (default 256M, or 5% of a smaller filesystem) of free data or metadata
space the root is deleted instead of archived, with a warning.

ZFS (--dataset POOL/DATASET): rolls the dataset back to its blank snapshot (--snapshot, default
`blank`) with `zfs rollback -r`, after naming the newer snapshots that destroys; with
--archive-dir POOL/PATH the old root is renamed to POOL/PATH/<UTC time> and a clone of the blank
takes its place. --import imports the pool first (zpool import -N) if it is not imported. zfs
and zpool are run from PATH, or from beside --zfs-command; never through a shell.

Runs only in an initrd (/etc/initrd-release) unless --allow-outside-initrd, once per boot there;
`rd.blankroot=0` on the kernel command line skips it. Each run leaves a record in --status-file."
    };
}

macro_rules! status_text {
    () => {
        "\
Print the record of the last run (--json: as written).

--check exits 1 unless that record is from this boot and the run did not fail."
    };
}

macro_rules! diff_text {
    () => {
        "\
List what the next boot erases.

Every path created, modified (content, mode, owner, link target, type) or deleted in the live
root compared with the blank, nested subvolumes included, grouped by directory. Leaves out other
mounts, --persisted paths (and those of the configuration) and what NixOS recreates at every
boot (/etc links into the store, /tmp, /run; listed with --include-nix-managed). Without target
options it reads /etc/blankroot/config.json (or --config), else the last run's status record,
else looks at the filesystem mounted on /. --root PATH alone: everything on PATH's filesystem is
ephemeral (tmpfs root). Never writes; the Btrfs top level is mounted read-only.
Exit 0 listed, 1 failed or incomplete, 2 usage error."
    };
}

macro_rules! check_text {
    () => {
        "\
Check that the next boot's rollback will go through.

The rollback's preflight on the running system, read-only: prints a verdict. The target comes
from the rollback options, else from /etc/blankroot/config.json (or --config).
Exit 0 ok, 1 problems found, 2 usage error."
    };
}

macro_rules! exit_codes_text {
    () => {
        "Exit codes: 0 done or skipped on purpose, 1 runtime failure, 2 usage or configuration error."
    };
}

macro_rules! kill_switch_text {
    () => {
        "Kill switch: `rd.blankroot=0` (or no, false, off) on the kernel command line turns the rollback
off for that boot, even when its command line or configuration is broken."
    };
}

/// The first line of `blankroot --help`.
const ABOUT: &str = "Put / back to a blank snapshot at every boot (Btrfs and ZFS)";

const LONG_ABOUT: &str = "\
Put / back to a blank snapshot at every boot (Btrfs and ZFS).

blankroot runs in the initrd, before the root filesystem is mounted, and replaces the root
subvolume (Btrfs) or dataset (ZFS) with a copy of a blank snapshot, so that only what is kept
elsewhere on purpose survives a reboot. Everything is checked before the first change, and each
run leaves a record that the booted system can check (blankroot status --check).";

// Usage lines: the continuation lines line up under `Usage: blankroot COMMAND `.

macro_rules! rollback_usage {
    () => {
        "\
blankroot rollback --device DEV [--subvolume NAME] (--blank NAME | --empty)
                         [--archive-dir DIR [--keep N] [--keep-days D] [--prune-unmarked]]
                         [--protect NAME]... [--min-free-space SIZE] [--mount-options OPTS]
                         [--fs auto|btrfs] [OPTIONS]
       blankroot rollback --dataset POOL/DATASET [--snapshot NAME] [--import [--force-import]]
                         [--archive-dir POOL/PATH [--keep N] [--keep-days D] [--prune-unmarked]]
                         [--zfs-command PATH] [--fs auto|zfs] [OPTIONS]"
    };
}

macro_rules! status_usage {
    () => {
        "blankroot status [--status-file PATH] [--json] [--check]"
    };
}

macro_rules! diff_usage {
    () => {
        "\
blankroot diff [--device DEV [--subvolume NAME] [--blank NAME] | --dataset POOL/DATASET
                      [--snapshot NAME] | --root PATH] [--persisted PATH]... [--persisted-from FILE]...
                      [--config FILE] [--json] [--include-nix-managed]"
    };
}

macro_rules! check_usage {
    () => {
        "blankroot check [the rollback's options | --config FILE]"
    };
}

const USAGE: &str = concat!(
    rollback_usage!(),
    "\n       ",
    status_usage!(),
    "\n       ",
    diff_usage!(),
    "\n       ",
    check_usage!(),
    "\n       blankroot help [COMMAND] | --help | --version

The rollback's OPTIONS: [--dry-run] [--allow-outside-initrd] [--status-file PATH]
                        [--lock-wait SECONDS] [--log-level error|warn|info|debug]"
);

const AFTER_HELP: &str = concat!(
    "rollback: ",
    rollback_text!(),
    "\n\nstatus: ",
    status_text!(),
    "\n\ndiff: ",
    diff_text!(),
    "\n\ncheck: ",
    check_text!(),
    "\n\n",
    exit_codes_text!(),
    "\n",
    kill_switch_text!(),
    "\n\n`blankroot COMMAND --help` lists the options of a command; `man blankroot` has them all."
);

/// Exit codes and the kill switch, after each command's options.
const COMMAND_AFTER_HELP: &str = concat!(exit_codes_text!(), "\n", kill_switch_text!());

const BTRFS: &str = "Btrfs options";
const ZFS: &str = "ZFS options";
const ARCHIVES: &str = "Archive options";

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
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    #[command(
        about = "Put / back to the blank (in the initrd, before / is mounted)",
        long_about = rollback_text!(),
        override_usage = rollback_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Rollback(RollbackArgs),
    #[command(
        about = "Print the record of the last run",
        long_about = status_text!(),
        override_usage = status_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Status(StatusArgs),
    #[command(
        about = "List what the next boot erases (read-only)",
        long_about = diff_text!(),
        override_usage = diff_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Diff(DiffCommand),
    #[command(
        about = "Check that the next boot's rollback will go through (read-only)",
        long_about = check_text!(),
        override_usage = check_usage!(),
        after_help = COMMAND_AFTER_HELP
    )]
    Check(CheckCommand),
}

/// The whole command line as clap sees it, for the man page and the completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsChoice {
    Auto,
    Btrfs,
    Zfs,
}

/// The options of `rollback` (also taken by `diff` and `check`, and read from the "args" of
/// /etc/blankroot/config.json).
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
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
    /// Check everything and print the plan; change nothing
    #[arg(long, overrides_with = "dry_run")]
    pub dry_run: bool,
    /// Run without /etc/initrd-release (only on a disk that is not in use)
    #[arg(long, overrides_with = "allow_outside_initrd")]
    pub allow_outside_initrd: bool,
    /// Where the record of the run is written
    #[arg(long, value_name = "PATH", default_value = status::DEFAULT_PATH,
          allow_hyphen_values = true, value_parser = PATH, value_hint = clap::ValueHint::FilePath)]
    pub status_file: PathBuf,
    /// Below this free data or metadata space, delete instead of archive
    /// [default: 256M, or 5% of a smaller filesystem]
    #[arg(long = "min-free-space", value_name = "SIZE", help_heading = BTRFS,
          allow_hyphen_values = true, value_parser = SIZE, verbatim_doc_comment)]
    pub min_free: Option<u64>,
    /// How much to log (stderr and /dev/kmsg)
    #[arg(long, value_name = "LEVEL", default_value = "info", allow_hyphen_values = true,
          value_parser = Value::choices(log_level, &["error", "warn", "info", "debug"]))]
    pub log_level: LevelFilter,
    /// How long to wait for another run on the same disk to finish, in seconds [default: 30]
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true, value_parser = NUMBER)]
    pub lock_wait: Option<u32>,
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
}

impl Default for RollbackArgs {
    fn default() -> Self {
        RollbackArgs {
            fs: FsChoice::Auto,
            device: None,
            subvolume: None,
            blank: None,
            empty: false,
            archive_dir: None,
            keep: None,
            keep_days: None,
            prune_unmarked: false,
            protect: Vec::new(),
            dry_run: false,
            allow_outside_initrd: false,
            status_file: PathBuf::from(status::DEFAULT_PATH),
            min_free: None,
            log_level: LevelFilter::Info,
            lock_wait: None,
            mount_options: None,
            dataset: None,
            snapshot: None,
            import: false,
            force_import: false,
            zfs_command: None,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The record to read
    #[arg(long, value_name = "PATH", default_value = status::DEFAULT_PATH,
          allow_hyphen_values = true, value_parser = PATH, value_hint = clap::ValueHint::FilePath)]
    pub status_file: PathBuf,
    /// Print the record as written (JSON)
    #[arg(long, overrides_with = "json")]
    pub json: bool,
    /// Exit 1 unless the record is from this boot and the run did not fail
    #[arg(long, overrides_with = "check")]
    pub check: bool,
}

/// `diff`: its own options, then the rollback's (the target).
#[derive(Debug, Args)]
struct DiffCommand {
    /// Alone: everything on PATH's filesystem is erased (tmpfs root);
    /// with --device or --dataset: read the live tree at PATH
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::DirPath, verbatim_doc_comment)]
    root: Option<PathBuf>,
    /// The configuration to read [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    config: Option<PathBuf>,
    /// Leave out PATH: it survives the boot (repeatable)
    #[arg(long, value_name = "PATH", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::AnyPath)]
    persisted: Vec<PathBuf>,
    /// Leave out the paths FILE lists (one a line, or JSON) (repeatable)
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    persisted_from: Vec<PathBuf>,
    /// Print JSON, one line per change
    #[arg(long, overrides_with = "json")]
    json: bool,
    /// List what NixOS recreates at every boot too
    #[arg(long, overrides_with = "include_nix_managed")]
    include_nix_managed: bool,
    #[command(flatten, next_help_heading = "Rollback options")]
    target: RollbackArgs,
}

/// `check`: its own option, then the rollback's.
#[derive(Debug, Args)]
struct CheckCommand {
    /// Read the rollback options from FILE [default: /etc/blankroot/config.json]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, value_parser = PATH,
          value_hint = clap::ValueHint::FilePath)]
    config: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Rollback options")]
    target: RollbackArgs,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per run
pub enum Command {
    Rollback(RollbackArgs),
    Status(StatusArgs),
    Diff(DiffArgs),
    Check(CheckArgs),
    /// `--help`, `--version`, `help`: the text to print (exit 0).
    Help(String),
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

/// clap's error as one line that names the option, in the words blankroot has always used.
fn usage_error(e: &clap::Error, command: Option<&str>) -> Error {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        Some(ContextValue::Strings(v)) => v.first().map(String::as_str),
        _ => None,
    };
    if let Some(message) = context(ContextKind::Custom) {
        return Error::usage(message);
    }
    // `--device <DEV>` and `--frobnicate=1` name `--device` and `--frobnicate`.
    let name = |kind| context(kind).map(|a| a.split([' ', '=']).next().unwrap_or(a));
    let (arg, value) = (
        name(ContextKind::InvalidArg),
        context(ContextKind::InvalidValue),
    );
    let see = "see blankroot --help";
    let message = match (e.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(a)) if a.starts_with("--") => match command {
            Some(c) => format!("unknown option {a} for {c}; {see}"),
            None => format!("unknown option {a}; {see}"),
        },
        (ErrorKind::UnknownArgument, Some(a)) => format!("unexpected argument {a:?}; {see}"),
        (ErrorKind::ArgumentConflict, Some(a)) if name(ContextKind::PriorArg) == Some(a) => {
            format!("{a} is given twice; give it once")
        }
        (ErrorKind::InvalidValue, Some(a)) if value.unwrap_or_default().is_empty() => {
            format!("{a} needs a value; {see}")
        }
        (ErrorKind::TooManyValues, Some(a)) => {
            format!("{a} takes no value (got {:?})", value.unwrap_or_default())
        }
        (ErrorKind::InvalidSubcommand, _) => format!(
            "unknown command {:?}; the commands are rollback, status, diff and check (see blankroot --help)",
            context(ContextKind::InvalidSubcommand).unwrap_or_default()
        ),
        (ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand, _) => {
            "no command given; try `blankroot rollback ...` or `blankroot --help`".to_string()
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!("{}; {see}", first.trim_start_matches("error: ").trim())
        }
    };
    Error::usage(message)
}

pub fn parse(args: Vec<OsString>) -> Result<Command> {
    // No option comes before the command, so the second word names it (for the messages).
    let named = args
        .get(1)
        .and_then(|w| w.to_str())
        .filter(|w| ["rollback", "status", "diff", "check"].contains(w))
        .map(str::to_string);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Command::Help(e.render().to_string()))
        }
        Err(e) => return Err(usage_error(&e, named.as_deref())),
    };
    Ok(match cli.command {
        Sub::Rollback(a) => Command::Rollback(a),
        Sub::Status(a) => Command::Status(a),
        Sub::Diff(d) => Command::Diff(DiffArgs {
            target: d.target,
            root: d.root,
            config: d.config,
            persisted: d.persisted,
            persisted_from: d.persisted_from,
            json: d.json,
            include_nix_managed: d.include_nix_managed,
        }),
        Sub::Check(c) => Command::Check(CheckArgs {
            target: c.target,
            config: c.config,
        }),
    })
}

/// The rollback options as words (`["--device", "/dev/vda2", ...]`, as in the "args" of
/// /etc/blankroot/config.json), parsed exactly as `blankroot rollback` parses them.
pub fn parse_rollback_words(words: impl IntoIterator<Item = OsString>) -> Result<RollbackArgs> {
    let cmd = RollbackArgs::augment_args(
        clap::Command::new("rollback")
            .no_binary_name(true)
            .disable_help_flag(true),
    );
    let usage = |e: clap::Error| usage_error(&e, Some("rollback"));
    let mut matches = cmd.try_get_matches_from(words).map_err(usage)?;
    RollbackArgs::from_arg_matches_mut(&mut matches).map_err(usage)
}

/// The whole program: parse, run, exit code.
pub fn main(args: Vec<OsString>) -> u8 {
    let host = Host::system();
    match parse(args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            0
        }
        Ok(Command::Rollback(args)) => {
            kmsg::init(args.log_level);
            rollback::run(&args, &host)
        }
        Ok(Command::Status(args)) => status_command(&args, &host),
        Ok(Command::Diff(args)) => crate::diff::run(&args),
        Ok(Command::Check(args)) => crate::check::run(&args, &host),
        Err(e) => {
            kmsg::init(LevelFilter::Info);
            let skip = host.in_initrd().then(|| host.kill_switch()).flatten();
            if let Some(word) = &skip {
                // The kill switch wins even over a command line that does not parse.
                log::warn!(
                    "{word} on the kernel command line: blankroot is off for this boot ({e})"
                );
            } else {
                log::error!("{e}");
            }
            if host.in_initrd() {
                // A broken command line at boot still leaves a record for the booted system.
                let action = if skip.is_some() {
                    status::Action::Skipped
                } else {
                    status::Action::Failed
                };
                let mut s = Status::new(action);
                s.error = skip.is_none().then(|| e.message.clone());
                s.exit_code = if skip.is_some() { 0 } else { e.exit_code() };
                s.boot_id = host.boot_id();
                s.started_at = crate::time::rfc3339(crate::time::unix_now());
                let _ = s.write(std::path::Path::new(status::DEFAULT_PATH));
            }
            if skip.is_some() {
                0
            } else {
                e.exit_code()
            }
        }
    }
}

fn status_command(args: &StatusArgs, host: &Host) -> u8 {
    let record = match Status::read(&args.status_file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("blankroot: {e}");
            return e.exit_code();
        }
    };
    let boot = host.boot_id();
    if args.json {
        println!("{}", record.to_json());
    } else {
        print!("{}", record.render(boot.as_deref()));
    }
    let this_boot = record.boot_id.is_some() && record.boot_id == boot;
    if args.check && !(this_boot && record.succeeded()) {
        eprintln!(
            "blankroot: {}",
            if this_boot {
                "the rollback failed this boot: / was not reset"
            } else {
                "the rollback did not run this boot: / was not reset"
            }
        );
        return 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn words(line: &[&str]) -> Vec<OsString> {
        std::iter::once("blankroot")
            .chain(line.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn rollback(line: &[&str]) -> RollbackArgs {
        let mut all = vec!["rollback"];
        all.extend(line);
        match parse(words(&all)) {
            Ok(Command::Rollback(a)) => a,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    /// The one-line message of a usage error (exit code 2).
    fn error(line: &[&str]) -> String {
        match parse(words(line)) {
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{line:?}: {e}");
                assert!(!e.message.contains('\n'), "{line:?}: {e}");
                e.message
            }
            Ok(c) => panic!("{line:?} was accepted: {c:?}"),
        }
    }

    #[test]
    fn every_rollback_option_in_both_spellings() {
        let a = rollback(&[]);
        assert_eq!(a.fs, FsChoice::Auto);
        assert_eq!(a.status_file, PathBuf::from(status::DEFAULT_PATH));
        assert_eq!(a.log_level, LevelFilter::Info);
        assert_eq!(a.min_free, None);
        assert!(a.protect.is_empty() && !a.dry_run && !a.empty && !a.import);
        let spaced: Vec<&str> = "--fs btrfs --device /dev/vda2 --subvolume @root --blank @blank \
            --archive-dir old --keep 3 --keep-days 30 --protect a --protect b/c \
            --status-file /tmp/s.json --min-free-space 256M --log-level warning \
            --dataset rpool/r --snapshot s --zfs-command /sbin/zfs"
            .split_whitespace()
            .collect();
        let joined: Vec<String> = spaced
            .chunks(2)
            .map(|pair| format!("{}={}", pair[0], pair[1]))
            .collect();
        let joined: Vec<&str> = joined.iter().map(String::as_str).collect();
        for line in [&spaced[..], &joined[..]] {
            let a = rollback(line);
            assert_eq!(a.fs, FsChoice::Btrfs);
            assert_eq!(a.device, Some(PathBuf::from("/dev/vda2")));
            assert_eq!(a.subvolume.as_deref(), Some("@root"));
            assert_eq!(a.blank.as_deref(), Some("@blank"));
            assert_eq!(a.archive_dir.as_deref(), Some("old"));
            assert_eq!((a.keep, a.keep_days), (Some(3), Some(30)));
            assert_eq!(a.protect, ["a", "b/c"]);
            assert_eq!(a.status_file, PathBuf::from("/tmp/s.json"));
            assert_eq!(a.min_free, Some(256 << 20));
            assert_eq!(a.log_level, LevelFilter::Warn);
            assert_eq!(a.dataset.as_deref(), Some("rpool/r"));
            assert_eq!(a.snapshot.as_deref(), Some("s"));
            assert_eq!(a.zfs_command, Some(PathBuf::from("/sbin/zfs")));
        }
        let a = rollback(&[
            "--empty",
            "--dry-run",
            "--allow-outside-initrd",
            "--import",
            "--force-import",
            "--dry-run",
        ]);
        assert!(a.empty && a.dry_run && a.allow_outside_initrd && a.import && a.force_import);
        for (word, level) in [
            ("error", LevelFilter::Error),
            ("warn", LevelFilter::Warn),
            ("info", LevelFilter::Info),
            ("debug", LevelFilter::Debug),
        ] {
            assert_eq!(rollback(&["--log-level", word]).log_level, level);
        }
        assert_eq!(rollback(&["--fs", "zfs"]).fs, FsChoice::Zfs);
        assert_eq!(rollback(&["--fs=auto"]).fs, FsChoice::Auto);
        assert_eq!(
            rollback(&["--subvolume=a=b"]).subvolume.as_deref(),
            Some("a=b")
        );
        assert_eq!(
            rollback(&["--subvolume", "-a"]).subvolume.as_deref(),
            Some("-a")
        );
        assert_eq!(rollback(&["--subvolume="]).subvolume.as_deref(), Some(""));
    }

    #[test]
    fn status_diff_and_check_options() {
        let Ok(Command::Status(s)) = parse(words(&["status"])) else {
            panic!()
        };
        assert_eq!(s.status_file, PathBuf::from(status::DEFAULT_PATH));
        assert!(!s.json && !s.check);
        let Ok(Command::Status(s)) = parse(words(&[
            "status",
            "--json",
            "--check",
            "--status-file=/tmp/x",
        ])) else {
            panic!()
        };
        assert!(s.json && s.check && s.status_file == Path::new("/tmp/x"));
        let Ok(Command::Diff(d)) = parse(words(&[
            "diff",
            "--device",
            "/dev/vda2",
            "--root=/mnt",
            "--persisted",
            "/etc/nixos",
            "--persisted=/var/lib",
            "--persisted-from",
            "a.json",
            "--persisted-from=b.txt",
            "--config",
            "c.json",
            "--json",
            "--include-nix-managed",
            "--keep=2",
        ])) else {
            panic!()
        };
        assert_eq!(d.target.device, Some(PathBuf::from("/dev/vda2")));
        assert_eq!(d.target.keep, Some(2));
        assert_eq!(d.root, Some(PathBuf::from("/mnt")));
        assert_eq!(
            d.persisted,
            [Path::new("/etc/nixos"), Path::new("/var/lib")]
        );
        assert_eq!(d.persisted_from, [Path::new("a.json"), Path::new("b.txt")]);
        assert_eq!(d.config, Some(PathBuf::from("c.json")));
        assert!(d.json && d.include_nix_managed);
        let Ok(Command::Diff(d)) = parse(words(&["diff"])) else {
            panic!()
        };
        assert!(d.root.is_none() && d.persisted.is_empty() && !d.json);
        let Ok(Command::Check(c)) = parse(words(&[
            "check",
            "--dataset",
            "rpool/r",
            "--config=/etc/c.json",
            "--import",
        ])) else {
            panic!()
        };
        assert_eq!(c.target.dataset.as_deref(), Some("rpool/r"));
        assert!(c.target.import);
        assert_eq!(c.config, Some(PathBuf::from("/etc/c.json")));
    }

    #[test]
    fn usage_errors_are_one_line_and_exit_2() {
        let see = "see blankroot --help";
        for (line, want) in [
            (
                &["rollback", "--frobnicate"][..],
                format!("unknown option --frobnicate for rollback; {see}"),
            ),
            (
                &["rollback", "--frobnicate=1"],
                format!("unknown option --frobnicate for rollback; {see}"),
            ),
            (
                &["diff", "--frobnicate"],
                format!("unknown option --frobnicate for diff; {see}"),
            ),
            (
                &["check", "--json"],
                format!("unknown option --json for check; {see}"),
            ),
            (
                &["status", "--device", "x"],
                format!("unknown option --device for status; {see}"),
            ),
            (
                &["rollback", "--device", "a", "--device", "b"],
                "--device is given twice; give it once".into(),
            ),
            (
                &["rollback", "--keep", "1", "--keep=2"],
                "--keep is given twice; give it once".into(),
            ),
            (
                &["status", "--status-file", "a", "--status-file", "b"],
                "--status-file is given twice; give it once".into(),
            ),
            (
                &["rollback", "--device"],
                format!("--device needs a value; {see}"),
            ),
            (
                &["rollback", "--device", "--dry-run"],
                format!("--device needs a value; {see}"),
            ),
            (
                &["rollback", "--dry-run=yes"],
                "--dry-run takes no value (got \"yes\")".into(),
            ),
            (
                &["rollback", "--fs", "ext4"],
                "--fs \"ext4\": use auto, btrfs or zfs".into(),
            ),
            (
                &["rollback", "--log-level", "trace"],
                "--log-level \"trace\": use error, warn, info or debug".into(),
            ),
            (
                &["rollback", "--keep", "two"],
                "--keep \"two\": not a whole number".into(),
            ),
            (
                &["rollback", "--keep-days=-1"],
                "--keep-days \"-1\": not a whole number".into(),
            ),
            (
                &["rollback", "--min-free-space", "1X"],
                "--min-free-space \"1X\": unknown unit; use K, M, G or T".into(),
            ),
            (
                &["rollback", "--min-free-space", "lots"],
                "--min-free-space \"lots\": unknown unit; use K, M, G or T".into(),
            ),
            (
                &["rollback", "--min-free-space", "M"],
                "--min-free-space \"M\": not a size like 256M".into(),
            ),
            (
                &["rollback", "--min-free-space", "99999999999T"],
                "--min-free-space \"99999999999T\": too large".into(),
            ),
            (
                &["rollback", "stray"],
                format!("unexpected argument \"stray\"; {see}"),
            ),
            (
                &[],
                "no command given; try `blankroot rollback ...` or `blankroot --help`".into(),
            ),
            (
                &["frobnicate"],
                "unknown command \"frobnicate\"; the commands are rollback, status, diff and check (see blankroot --help)".into(),
            ),
        ] {
            assert_eq!(error(line), want, "{line:?}");
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn help_and_version_are_printed_with_exit_0() {
        let printed = |line: &[&str]| match parse(words(line)) {
            Ok(Command::Help(text)) => text,
            other => panic!("{line:?}: {other:?}"),
        };
        let version = format!("blankroot {}\n", env!("CARGO_PKG_VERSION"));
        assert_eq!(printed(&["--version"]), version);
        assert_eq!(printed(&["-V"]), version);
        let top = printed(&["--help"]);
        assert_eq!(printed(&["help"]), top);
        for what in [
            "rollback: Put / back",
            "status: Print the record",
            "diff: List what the next boot erases",
            "check: Check that the next boot's rollback",
            "Exit codes: 0 done or skipped on purpose, 1 runtime failure, 2 usage",
            "`rd.blankroot=0`",
            "blankroot rollback --dataset POOL/DATASET",
        ] {
            assert!(top.contains(what), "{what:?} missing from:\n{top}");
        }
        assert!(printed(&["-h"]).contains("Exit codes"));
        for (line, what) in [
            (&["rollback", "--help"][..], "--min-free-space <SIZE>"),
            (&["rollback", "-h"], "--lock-wait <SECONDS>"),
            (&["help", "rollback"], "--prune-unmarked"),
            (&["diff", "--help"], "--persisted-from <FILE>"),
            (&["diff", "--help"], "--zfs-command <PATH>"),
            (&["check", "-h"], "--config <FILE>"),
            (
                &["check", "--device", "x", "--help"],
                "--mount-options <OPTS>",
            ),
            (&["status", "--help"], "--check"),
        ] {
            let text = printed(line);
            assert!(
                text.contains(what),
                "{line:?}: {what:?} missing from:\n{text}"
            );
            assert!(text.contains("Exit codes"), "{line:?}");
        }
        assert_eq!(
            error(&["rollback", "--version"]),
            "unknown option --version for rollback; see blankroot --help"
        );
    }

    #[test]
    fn the_newer_rollback_options() {
        let a = rollback(&[]);
        assert_eq!(
            (a.lock_wait, a.prune_unmarked, a.mount_options),
            (None, false, None)
        );
        for line in [
            &[
                "--lock-wait",
                "30",
                "--prune-unmarked",
                "--mount-options",
                "degraded,device=/dev/vdb",
            ][..],
            &[
                "--lock-wait=30",
                "--prune-unmarked",
                "--mount-options=degraded,device=/dev/vdb",
            ],
        ] {
            let a = rollback(line);
            assert_eq!(a.lock_wait, Some(30));
            assert!(a.prune_unmarked);
            assert_eq!(a.mount_options.as_deref(), Some("degraded,device=/dev/vdb"));
        }
        assert_eq!(
            error(&["rollback", "--lock-wait", "1.5"]),
            "--lock-wait \"1.5\": not a whole number"
        );
        assert_eq!(
            error(&["rollback", "--lock-wait=1", "--lock-wait=2"]),
            "--lock-wait is given twice; give it once"
        );
        let Ok(Command::Diff(d)) = parse(words(&["diff", "--lock-wait", "5", "--prune-unmarked"]))
        else {
            panic!()
        };
        assert_eq!(
            (d.target.lock_wait, d.target.prune_unmarked),
            (Some(5), true)
        );
        let Ok(Command::Check(c)) = parse(words(&["check", "--mount-options", "degraded"])) else {
            panic!()
        };
        assert_eq!(c.target.mount_options.as_deref(), Some("degraded"));
        let a = parse_rollback_words(["--lock-wait", "7", "--prune-unmarked"].map(OsString::from))
            .unwrap();
        assert_eq!((a.lock_wait, a.prune_unmarked), (Some(7), true));
    }

    #[test]
    fn values_that_are_not_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"/dev/\xff".to_vec());
        let mut line = words(&["rollback", "--device"]);
        line.push(bad.clone());
        let Ok(Command::Rollback(a)) = parse(line) else {
            panic!()
        };
        assert_eq!(a.device, Some(PathBuf::from(&bad)));
        let mut line = words(&["rollback", "--subvolume"]);
        line.push(bad);
        let e = parse(line).unwrap_err();
        assert_eq!(e.message, "--subvolume \"/dev/\\xFF\": not UTF-8");
    }

    #[test]
    fn sizes() {
        assert_eq!(size("--x", "1048576"), Ok(1 << 20));
        assert_eq!(size("--x", "512K"), Ok(512 << 10));
        assert_eq!(size("--x", "256m"), Ok(256 << 20));
        assert_eq!(size("--x", "2G"), Ok(2 << 30));
        assert_eq!(size("--x", "1T"), Ok(1 << 40));
        assert_eq!(size("--x", "0"), Ok(0));
        assert_eq!(
            size("--x", "").unwrap_err().message,
            "--x \"\": not a size like 256M"
        );
        assert_eq!(
            size("--x", "16777216T").unwrap_err().message,
            "--x \"16777216T\": too large"
        );
    }

    #[test]
    fn the_configuration_words_parse_as_the_rollback_options() {
        let a = parse_rollback_words(["--device", "/dev/vda2", "--protect=x"].map(OsString::from))
            .unwrap();
        assert_eq!(a.device, Some(PathBuf::from("/dev/vda2")));
        assert_eq!(a.protect, ["x"]);
        let e = parse_rollback_words(["--bogus"].map(OsString::from)).unwrap_err();
        assert_eq!(
            e.message,
            "unknown option --bogus for rollback; see blankroot --help"
        );
        assert_eq!(e.exit_code(), 2);
        assert!(parse_rollback_words(["--help"].map(OsString::from)).is_err());
        assert!(parse_rollback_words(["rollback"].map(OsString::from)).is_err());
        assert!(parse_rollback_words(["--device"].map(OsString::from)).is_err());
    }
}
