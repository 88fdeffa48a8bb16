//! The command line: its clap definition (`args`, with the help texts in `help`; syntax only),
//! parsing and one-line usage errors (`usage`), and dispatch: the target options become a
//! request that `target` validates, and the commands get the result, never the parser's types.
//! `blankroot-docs` renders the man page and the shell completions from the same definition
//! ([`command`]).

#[macro_use]
mod help;
mod args;
mod targets;
#[cfg(test)]
mod tests;
mod usage;

pub use args::{RollbackArgs, RollbackCommand, StatusArgs, TargetArgs};
pub use targets::configured as configured_targets;
pub use usage::{parse, parse_rollback_words, Command};

use crate::commands::rollback;
use crate::config;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::kmsg;
use crate::mount_point::MountPoint;
use crate::status::{self, Status};
use args::{Cli, DiffCommand};
use clap::CommandFactory;
use log::LevelFilter;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The whole command line as clap sees it, for the man page and the completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The whole program: parse, run, exit code.
pub fn main(args: Vec<OsString>) -> u8 {
    let host = Host::system();
    let record_file = record_file_named(&args);
    match parse(args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            0
        }
        Ok(Command::Rollback(cmd)) => {
            kmsg::init(cmd.rollback.log_level);
            let opts = cmd.rollback.options();
            match &cmd.config {
                Some(file) if cmd.rollback.target.names_a_root() => rollback::run(
                    &opts,
                    Err(Error::usage(format!(
                        "give either the target options or --config {}, not both",
                        file.display()
                    ))),
                    &host,
                ),
                Some(file) => rollback::run_all(&opts, rollback_targets(file, &cmd.which), &host),
                None => rollback::run(
                    &opts,
                    targets::from_options(&cmd.rollback.target, &cmd.which),
                    &host,
                ),
            }
        }
        Ok(Command::Status(args)) => status_command(&args, &host),
        Ok(other) => {
            // The commands that look at a running system: errors on stderr.
            match run_on_system(other, &host) {
                Ok(code) => code,
                Err(e) => report(&e),
            }
        }
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
                s.skip_reason = skip
                    .is_some()
                    .then(|| status::SKIPPED_BY_KERNEL_COMMAND_LINE.to_string());
                s.exit_code = if skip.is_some() { 0 } else { e.exit_code() };
                s.boot_id = host.boot_id();
                s.started_at = crate::time::rfc3339(crate::time::unix_now());
                let _ = s.write(&record_file);
            }
            if skip.is_some() {
                0
            } else {
                e.exit_code()
            }
        }
    }
}

/// The targets `rollback --config FILE [TARGET...]` runs.
fn rollback_targets(file: &Path, which: &[String]) -> Result<Vec<crate::target::Target>> {
    let (path, cfg) = config::load(file)?.expect("a named configuration is loaded or refused");
    targets::select(targets::configured(&path, &cfg)?, which, &path)
}

/// Where a rollback whose command line does not parse leaves its record: the `--status-file`
/// or the `--mount-point` it was given if they can be told, else the root's record file, so a
/// broken target's unit never writes over another target's record.
fn record_file_named(args: &[OsString]) -> PathBuf {
    let value = |opt: &str| {
        let eq = format!("{opt}=");
        args.iter().enumerate().rev().find_map(|(i, a)| {
            let a = a.to_str()?;
            if a == opt {
                args.get(i + 1).and_then(|v| v.to_str()).map(str::to_string)
            } else {
                a.strip_prefix(&eq).map(str::to_string)
            }
        })
    };
    if let Some(f) = value("--status-file") {
        return PathBuf::from(f);
    }
    let base = Path::new(status::DEFAULT_PATH);
    match value("--mount-point").map(|m| MountPoint::parse("--mount-point", &m)) {
        Some(Ok(m)) => status::path_for(base, &m),
        Some(Err(_)) => base.with_file_name("status.unknown-target.json"),
        None => base.to_path_buf(),
    }
}

fn status_command(args: &StatusArgs, host: &Host) -> u8 {
    let configured = match targets::load(args.config.as_deref()) {
        Ok(Some((path, cfg))) => match targets::configured(&path, &cfg) {
            Ok(t) => Some(t),
            Err(e) => return report(&e),
        },
        Ok(None) => None,
        Err(e) if args.config.is_some() => return report(&e),
        // A broken installed configuration: the records still tell what happened.
        Err(_) => None,
    };
    use crate::commands::status::Format;
    let format = match (args.format, args.json) {
        (Some(f), true) if f != Format::Json => {
            return report(&Error::usage("--json is --format json: give one of them"))
        }
        (Some(f), _) => f,
        (None, true) => Format::Json,
        (None, false) => Format::Text,
    };
    if args.output.is_some() && format == Format::Text {
        return report(&Error::usage(
            "--output writes JSON or metrics: add --format prometheus (or --json)",
        ));
    }
    let opts = crate::commands::status::Options {
        status_file: args.status_file.clone(),
        format,
        check: args.check,
        targets: configured,
        output: args.output.clone(),
    };
    crate::commands::status::run(&opts, host)
}

/// A failure before `check` or `diff` started: one line on stderr, its exit code.
fn report(e: &Error) -> u8 {
    eprintln!("blankroot: error: {e}");
    e.exit_code()
}

fn run_on_system(command: Command, host: &Host) -> Result<u8> {
    Ok(match command {
        Command::Diff(d) => crate::commands::diff::run(&diff_request(d)?),
        Command::Check(c) if c.stale => {
            let cfg = match &c.config {
                Some(f) => crate::config::load(f)?,
                None => crate::config::load_default()?,
            };
            let Some((_, cfg)) = cfg else {
                return Err(Error::usage(format!(
                    "check --stale: no configuration at {}: give the one that names the persistence entries with --config FILE",
                    crate::config::DEFAULT_PATH
                )));
            };
            crate::commands::check::stale::run(&cfg, c.json)?
        }
        Command::Check(c) => {
            let (ts, cfg) =
                targets::of_command(&c.rollback.target, &c.which, c.config.as_deref(), false)?;
            let opts = crate::commands::check::Options {
                persisted: c.persisted,
                persisted_from: c.persisted_from,
                strict: c.strict,
                config: cfg.map(|c| c.1),
                record: c.record,
            };
            crate::commands::check::run_all(&ts, &opts, host)
        }
        Command::Archives(a) => {
            let which: Vec<String> = a.which.into_iter().collect();
            let (ts, _) = targets::of_command(&a.target, &which, a.config.as_deref(), true)?;
            crate::commands::archives::run(&ts[0], a.json)
        }
        Command::Restore(r) => {
            let which = restore_target(&r)?;
            let (ts, _) = targets::of_command(&r.target, &which, r.config.as_deref(), true)?;
            let req = crate::commands::restore::Request {
                from: r.from,
                to: r.to,
                force: r.force,
                dry_run: r.dry_run,
                paths: r.paths,
            };
            crate::commands::restore::run(&ts[0], &req)
        }
        Command::Persist(p) => crate::commands::persist::run(&persist_request(p)?),
        Command::Init(i) => {
            let which: Vec<String> = i.which.into_iter().collect();
            let (ts, cfg) = targets::of_command(&i.target, &which, i.config.as_deref(), true)?;
            let req = crate::commands::init::Request {
                dirs: &i.dirs,
                config: cfg.as_ref().map(|c| &c.1),
                dry_run: i.dry_run,
            };
            crate::commands::init::run(&ts[0], &req)
        }
        Command::SkipNextBoot(k) => {
            let (ts, _) = targets::of_command(&k.target, &k.which, k.config.as_deref(), false)?;
            crate::commands::skip::run_all(&ts, k.cancel)
        }
        Command::Rollback(_) | Command::Status(_) | Command::Help(_) => {
            unreachable!("handled by main")
        }
    })
}

/// `diff`'s request: the target from its options, else from the configuration (read also for
/// its persisted paths); with neither, `diff` finds one itself.
fn diff_request(d: DiffCommand) -> Result<crate::commands::diff::Request> {
    let named = d.rollback.target.names_a_root();
    let loaded = match &d.config {
        Some(p) => config::load(p)?,
        None if !named && d.root.is_none() => config::load_default()?,
        None => None,
    };
    let mut req = crate::commands::diff::Request {
        root: d.root,
        persisted_from: d.persisted_from,
        json: d.json,
        include_nix_managed: d.include_nix_managed,
        suggest: d.suggest,
        persist_dir: d.persist_dir,
        ..crate::commands::diff::Request::default()
    };
    if let Some((path, cfg)) = &loaded {
        req.notes.push(format!("configuration: {}", path.display()));
        req.persisted
            .extend(cfg.persisted.iter().map(PathBuf::from));
        req.configured_persist_dir = cfg.persist_dir.as_ref().map(PathBuf::from);
    }
    req.persisted.extend(d.persisted);
    let which: Vec<String> = d.which.into_iter().collect();
    req.target = if named {
        Some(targets::from_options(&d.rollback.target, &which)?)
    } else if req.root.is_some() {
        if !which.is_empty() {
            return Err(Error::usage(
                "--root PATH alone diffs the tree at PATH: drop TARGET, or give the target options",
            ));
        }
        None
    } else {
        match &loaded {
            Some((path, cfg)) => {
                let which = if which.is_empty() { vec!["/".to_string()] } else { which };
                targets::select(targets::configured(path, cfg)?, &which, path)?.pop()
            }
            None if which.iter().any(|w| w != "/") => {
                return Err(Error::usage(format!(
                    "no configuration ({}) to find the target {} in: give --config FILE or the target options",
                    config::DEFAULT_PATH,
                    which[0]
                )))
            }
            None => None,
        }
    };
    Ok(req)
}

/// `persist`'s request: the store from --to, else the configuration's persist_dir; the wiped
/// filesystems from the configuration's targets (`/` without a configuration: blankroot wipes
/// it wherever it runs).
fn persist_request(p: args::PersistCommand) -> Result<crate::commands::persist::Request> {
    let loaded = targets::load(p.config.as_deref())?;
    let store = match (p.to, &loaded) {
        (Some(to), _) => to,
        (None, Some((_, cfg))) if cfg.persist_dir.is_some() => {
            PathBuf::from(cfg.persist_dir.clone().unwrap_or_default())
        }
        (None, Some((path, _))) => {
            return Err(Error::usage(format!(
                "persist: {} has no persist_dir: give --to STORE, the persistent directory (such as /persist)",
                path.display()
            )))
        }
        (None, None) => {
            return Err(Error::usage(format!(
                "persist: no configuration ({}): give --to STORE, the persistent directory (such as /persist)",
                config::DEFAULT_PATH
            )))
        }
    };
    let wiped = match &loaded {
        Some((_, cfg)) => cfg
            .target_entries()
            .into_iter()
            .map(|t| PathBuf::from(t.mount_point))
            .collect(),
        None => vec![PathBuf::from("/")],
    };
    Ok(crate::commands::persist::Request {
        paths: p.paths,
        store,
        wiped,
        config: loaded.map(|(path, _)| path),
        force: p.force,
        dry_run: p.dry_run,
    })
}

/// The target of `restore`: `--target`, else the target whose mount point holds the paths
/// (from the configuration; all paths must lie in one target). Empty: the root.
fn restore_target(r: &args::RestoreCommand) -> Result<Vec<String>> {
    if let Some(t) = &r.target_mount {
        return Ok(vec![t.clone()]);
    }
    if r.target.names_a_root() {
        return Ok(Vec::new());
    }
    let Some((path, cfg)) = targets::load(r.config.as_deref())? else {
        return Ok(Vec::new());
    };
    let all = targets::configured(&path, &cfg)?;
    let points: Vec<MountPoint> = all.iter().map(|t| t.mount_point.clone()).collect();
    let mut owner: Option<&MountPoint> = None;
    for p in &r.paths {
        let o = crate::mount_point::owner(&points, p);
        match (owner, o) {
            (_, None) => {}
            (None, o) => owner = o,
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                return Err(Error::usage(format!(
                    "{} lies in the target {b}, the other paths in {a}: restore the paths of one target at a time (--target)",
                    p.display()
                )))
            }
        }
    }
    Ok(owner.map(|m| vec![m.to_string()]).unwrap_or_default())
}
