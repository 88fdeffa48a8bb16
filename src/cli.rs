//! The command line: parsing (syntax only; meaning is checked by the commands) and dispatch.

pub use crate::check::CheckArgs;
pub use crate::diff::DiffArgs;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::status::{self, Status};
use crate::{kmsg, rollback};
use log::LevelFilter;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
blankroot: put / back to a blank snapshot at every boot (Btrfs and ZFS)

Usage:
  blankroot rollback --device DEV [--subvolume NAME] (--blank NAME | --empty)
                     [--archive-dir DIR [--keep N] [--keep-days D]] [--protect NAME]...
                     [--dry-run] [--allow-outside-initrd] [--status-file PATH] [--fs auto|btrfs|zfs]
                     [--min-free-space SIZE] [--log-level error|warn|info|debug]
  blankroot rollback --dataset POOL/DATASET [--snapshot blank] [--import [--force-import]]
                     [--archive-dir POOL/PATH [--keep N] [--keep-days D]] [--zfs-command PATH]
                     [--dry-run] [--allow-outside-initrd] [--status-file PATH]
  blankroot status [--status-file PATH] [--json] [--check]
  blankroot diff [--device DEV [--subvolume NAME] [--blank NAME] | --dataset POOL/DATASET
                 [--snapshot NAME] | --root PATH] [--persisted PATH]... [--persisted-from FILE]
                 [--config FILE] [--json] [--include-nix-managed]
  blankroot check [the rollback options] [--config FILE]
  blankroot --help | --version

rollback (Btrfs): mounts the top level of DEV (subvolid=5) and replaces the subvolume NAME
(default `root`) with a writable snapshot of the read-only blank (default `root-blank`), or with
an empty subvolume (--empty). The old root and every subvolume nested in it are deleted, or with
--archive-dir moved to DIR/<UTC time> and old archives pruned (--keep N newest, counting the new
one; --keep-days D by the time in their names). Names are relative to the top level. Everything
is checked before the first change; --protect NAME refuses to run if NAME is inside the root.
Below --min-free-space (default 256M, or 5% of a smaller filesystem) of free data or metadata
space the root is deleted instead of archived, with a warning. Runs only in an initrd
(/etc/initrd-release) unless --allow-outside-initrd; `rd.blankroot=0` on the kernel command
line skips it.

status: prints the record of the last run (--json: as written). --check exits 1 unless that
record is from this boot and the run did not fail.

diff: lists what the next boot erases: every path created, modified (content, mode, owner, link
target, type) or deleted in the live root compared with the blank, nested subvolumes included,
grouped by directory. Leaves out other mounts, --persisted paths (and those of the configuration)
and what NixOS recreates at every boot (/etc links into the store, /tmp, /run; listed with
--include-nix-managed). Without target options it reads /etc/blankroot/config.json (or --config),
else the last run's status record, else looks at the filesystem mounted on /. --root PATH alone:
everything on PATH's filesystem is ephemeral (tmpfs root). Never writes; the Btrfs top level is
mounted read-only. Exit 0 listed, 1 failed or incomplete, 2 usage error.

check: the rollback's preflight on the running system, read-only: prints a verdict. Exit 0 ok,
1 problems found, 2 usage error.

Exit codes: 0 done or skipped on purpose, 1 runtime failure, 2 usage or configuration error.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsChoice {
    Auto,
    Btrfs,
    Zfs,
}

#[derive(Debug, Clone)]
pub struct RollbackArgs {
    pub fs: FsChoice,
    pub device: Option<PathBuf>,
    pub subvolume: Option<String>,
    pub blank: Option<String>,
    pub empty: bool,
    pub archive_dir: Option<String>,
    pub keep: Option<u32>,
    pub keep_days: Option<u32>,
    pub protect: Vec<String>,
    pub dry_run: bool,
    pub allow_outside_initrd: bool,
    pub status_file: PathBuf,
    pub min_free: Option<u64>,
    pub log_level: LevelFilter,
    pub dataset: Option<String>,
    pub snapshot: Option<String>,
    pub import: bool,
    pub force_import: bool,
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
            protect: Vec::new(),
            dry_run: false,
            allow_outside_initrd: false,
            status_file: PathBuf::from(status::DEFAULT_PATH),
            min_free: None,
            log_level: LevelFilter::Info,
            dataset: None,
            snapshot: None,
            import: false,
            force_import: false,
            zfs_command: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StatusArgs {
    pub status_file: PathBuf,
    pub json: bool,
    pub check: bool,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per run
pub enum Command {
    Rollback(RollbackArgs),
    Status(StatusArgs),
    Diff(DiffArgs),
    Check(CheckArgs),
    Help,
    Version,
}

/// Walks the words after the subcommand, splitting `--opt=value`.
struct Words {
    items: std::vec::IntoIter<OsString>,
    pending: Option<String>,
}

impl Words {
    fn next_option(&mut self) -> Result<Option<String>> {
        let Some(word) = self.items.next() else {
            return Ok(None);
        };
        let word = word
            .into_string()
            .map_err(|w| Error::usage(format!("argument {w:?} is not UTF-8")))?;
        if !word.starts_with("--") {
            return Err(Error::usage(format!(
                "unexpected argument {word:?}; see blankroot --help"
            )));
        }
        match word.split_once('=') {
            Some((opt, value)) => {
                self.pending = Some(value.to_string());
                Ok(Some(opt.to_string()))
            }
            None => Ok(Some(word)),
        }
    }

    fn value(&mut self, opt: &str) -> Result<OsString> {
        if let Some(v) = self.pending.take() {
            return Ok(v.into());
        }
        match self.items.next() {
            Some(v) if !v.to_string_lossy().starts_with("--") => Ok(v),
            _ => Err(Error::usage(format!(
                "{opt} needs a value; see blankroot --help"
            ))),
        }
    }

    fn string(&mut self, opt: &str) -> Result<String> {
        self.value(opt)?
            .into_string()
            .map_err(|v| Error::usage(format!("{opt} {v:?}: not UTF-8")))
    }

    fn flag(&mut self, opt: &str) -> Result<bool> {
        match self.pending.take() {
            Some(v) => Err(Error::usage(format!("{opt} takes no value (got {v:?})"))),
            None => Ok(true),
        }
    }
}

fn once<T>(slot: &mut Option<T>, opt: &str, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(Error::usage(format!("{opt} is given twice; give it once")));
    }
    *slot = Some(value);
    Ok(())
}

fn number(opt: &str, raw: &str) -> Result<u32> {
    raw.parse()
        .map_err(|_| Error::usage(format!("{opt} {raw:?}: not a whole number")))
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

pub fn parse(args: Vec<OsString>) -> Result<Command> {
    let mut items = args.into_iter();
    let _program = items.next();
    let Some(sub) = items.next() else {
        return Err(Error::usage(
            "no command given; try `blankroot rollback ...` or `blankroot --help`",
        ));
    };
    let rest: Vec<OsString> = items.collect();
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help);
    }
    let mut w = Words {
        items: rest.into_iter(),
        pending: None,
    };
    match sub.to_str() {
        Some("--help" | "-h" | "help") => Ok(Command::Help),
        Some("--version" | "-V") => Ok(Command::Version),
        Some("rollback") => parse_rollback(&mut w).map(Command::Rollback),
        Some("status") => parse_status(&mut w).map(Command::Status),
        Some("diff") => parse_diff(&mut w).map(Command::Diff),
        Some("check") => parse_check(&mut w).map(Command::Check),
        _ => Err(Error::usage(format!(
            "unknown command {sub:?}; the commands are rollback, status, diff and check (see blankroot --help)"
        ))),
    }
}

fn parse_rollback(w: &mut Words) -> Result<RollbackArgs> {
    parse_rollback_with(w, "rollback", &mut |_, _| Ok(false))
}

/// The rollback options as words (`["--device", "/dev/vda2", ...]`, as in the "args" of
/// /etc/blankroot/config.json), parsed exactly as `blankroot rollback` parses them.
pub fn parse_rollback_words(words: impl IntoIterator<Item = OsString>) -> Result<RollbackArgs> {
    let mut w = Words {
        items: words.into_iter().collect::<Vec<_>>().into_iter(),
        pending: None,
    };
    parse_rollback(&mut w)
}

/// The rollback options plus a command's own: `extra` is offered every option the rollback does
/// not know and returns true when it took it.
fn parse_rollback_with(
    w: &mut Words,
    command: &str,
    extra: &mut dyn FnMut(&str, &mut Words) -> Result<bool>,
) -> Result<RollbackArgs> {
    let mut a = RollbackArgs::default();
    let (mut fs, mut status_file, mut min_free, mut log_level) = (None, None, None, None);
    while let Some(opt) = w.next_option()? {
        match opt.as_str() {
            "--fs" => {
                let v = match w.string(&opt)?.as_str() {
                    "auto" => FsChoice::Auto,
                    "btrfs" => FsChoice::Btrfs,
                    "zfs" => FsChoice::Zfs,
                    other => {
                        return Err(Error::usage(format!(
                            "--fs {other:?}: use auto, btrfs or zfs"
                        )))
                    }
                };
                once(&mut fs, &opt, v)?
            }
            "--device" => once(&mut a.device, &opt, PathBuf::from(w.value(&opt)?))?,
            "--subvolume" => once(&mut a.subvolume, &opt, w.string(&opt)?)?,
            "--blank" => once(&mut a.blank, &opt, w.string(&opt)?)?,
            "--empty" => a.empty = w.flag(&opt)?,
            "--archive-dir" => once(&mut a.archive_dir, &opt, w.string(&opt)?)?,
            "--keep" => {
                let v = number(&opt, &w.string(&opt)?)?;
                once(&mut a.keep, &opt, v)?
            }
            "--keep-days" => {
                let v = number(&opt, &w.string(&opt)?)?;
                once(&mut a.keep_days, &opt, v)?
            }
            "--protect" => a.protect.push(w.string(&opt)?),
            "--dry-run" => a.dry_run = w.flag(&opt)?,
            "--allow-outside-initrd" => a.allow_outside_initrd = w.flag(&opt)?,
            "--status-file" => once(&mut status_file, &opt, PathBuf::from(w.value(&opt)?))?,
            "--min-free-space" => {
                let v = size(&opt, &w.string(&opt)?)?;
                once(&mut min_free, &opt, v)?
            }
            "--log-level" => {
                let v = match w.string(&opt)?.as_str() {
                    "error" => LevelFilter::Error,
                    "warn" | "warning" => LevelFilter::Warn,
                    "info" => LevelFilter::Info,
                    "debug" => LevelFilter::Debug,
                    other => {
                        return Err(Error::usage(format!(
                            "--log-level {other:?}: use error, warn, info or debug"
                        )))
                    }
                };
                once(&mut log_level, &opt, v)?
            }
            "--dataset" => once(&mut a.dataset, &opt, w.string(&opt)?)?,
            "--snapshot" => once(&mut a.snapshot, &opt, w.string(&opt)?)?,
            "--import" => a.import = w.flag(&opt)?,
            "--force-import" => a.force_import = w.flag(&opt)?,
            "--zfs-command" => once(&mut a.zfs_command, &opt, PathBuf::from(w.value(&opt)?))?,
            _ if extra(&opt, w)? => {}
            _ => {
                return Err(Error::usage(format!(
                    "unknown option {opt} for {command}; see blankroot --help"
                )))
            }
        }
    }
    a.fs = fs.unwrap_or(FsChoice::Auto);
    a.status_file = status_file.unwrap_or(a.status_file);
    a.min_free = min_free;
    a.log_level = log_level.unwrap_or(a.log_level);
    Ok(a)
}

fn parse_status(w: &mut Words) -> Result<StatusArgs> {
    let mut a = StatusArgs {
        status_file: PathBuf::from(status::DEFAULT_PATH),
        json: false,
        check: false,
    };
    let mut file = None;
    while let Some(opt) = w.next_option()? {
        match opt.as_str() {
            "--status-file" => once(&mut file, &opt, PathBuf::from(w.value(&opt)?))?,
            "--json" => a.json = w.flag(&opt)?,
            "--check" => a.check = w.flag(&opt)?,
            _ => {
                return Err(Error::usage(format!(
                    "unknown option {opt} for status; see blankroot --help"
                )))
            }
        }
    }
    a.status_file = file.unwrap_or(a.status_file);
    Ok(a)
}

fn parse_diff(w: &mut Words) -> Result<DiffArgs> {
    let (mut root, mut config) = (None, None);
    let (mut persisted, mut persisted_from) = (Vec::new(), Vec::new());
    let (mut json, mut include_nix_managed) = (false, false);
    let target = parse_rollback_with(w, "diff", &mut |opt, w| {
        match opt {
            "--root" => once(&mut root, opt, PathBuf::from(w.value(opt)?))?,
            "--config" => once(&mut config, opt, PathBuf::from(w.value(opt)?))?,
            "--persisted" => persisted.push(PathBuf::from(w.value(opt)?)),
            "--persisted-from" => persisted_from.push(PathBuf::from(w.value(opt)?)),
            "--json" => json = w.flag(opt)?,
            "--include-nix-managed" => include_nix_managed = w.flag(opt)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(DiffArgs {
        target,
        root,
        config,
        persisted,
        persisted_from,
        json,
        include_nix_managed,
    })
}

fn parse_check(w: &mut Words) -> Result<CheckArgs> {
    let mut config = None;
    let target = parse_rollback_with(w, "check", &mut |opt, w| {
        match opt {
            "--config" => once(&mut config, opt, PathBuf::from(w.value(opt)?))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(CheckArgs { target, config })
}

/// The whole program: parse, run, exit code.
pub fn main(args: Vec<OsString>) -> u8 {
    let host = Host::system();
    match parse(args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            0
        }
        Ok(Command::Version) => {
            println!("blankroot {}", env!("CARGO_PKG_VERSION"));
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
