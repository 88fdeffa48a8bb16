//! The command line: its clap definition (`args`, with the help texts in `help`; syntax only),
//! parsing and one-line usage errors (`usage`), and dispatch: the target options become a
//! request that `target` validates, and the commands get the result, never the parser's types.
//! `blankroot-docs` renders the man page and the shell completions from the same definition
//! ([`command`]).

#[macro_use]
mod help;
mod args;
#[cfg(test)]
mod tests;
mod usage;

pub use args::{RollbackArgs, StatusArgs, TargetArgs};
pub use usage::{parse, parse_rollback_words, Command};

use crate::commands::rollback;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::status::{self, Status};
use crate::target::{self, Target};
use crate::{config, kmsg};
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
    match parse(args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            0
        }
        Ok(Command::Rollback(args)) => {
            kmsg::init(args.log_level);
            rollback::run(
                &args.options(),
                target::resolve(&args.target.request()),
                &host,
            )
        }
        Ok(Command::Status(args)) => {
            let opts = crate::commands::status::Options {
                status_file: args.status_file.clone(),
                json: args.json,
                check: args.check,
            };
            crate::commands::status::run(&opts, &host, pending_skip)
        }
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

/// A skip-next-boot request pending for the installed configuration's root (best effort:
/// nothing is said when there is no configuration or the disk cannot be read).
fn pending_skip() -> Option<String> {
    let (path, cfg) = config::load_default().ok()??;
    let target = configured_target(&path, &cfg).ok()?;
    crate::commands::skip::pending(&target).ok()?
}

/// A failure before `check` or `diff` started: one line on stderr, its exit code.
fn report(e: &Error) -> u8 {
    eprintln!("blankroot: error: {e}");
    e.exit_code()
}

/// The rollback target in a configuration's "args", parsed as `blankroot rollback` parses its
/// command line.
fn configured_target(path: &Path, c: &config::Config) -> Result<Target> {
    let in_config = |e: Error| Error::usage(format!("{}: \"args\": {}", path.display(), e.message));
    let args = parse_rollback_words(c.args.iter().map(Into::into)).map_err(in_config)?;
    target::resolve(&args.target.request()).map_err(in_config)
}

/// The target of a command that looks at a running system: its target options, else the
/// configuration (`--config FILE`, or the installed one), which it also returns.
fn target_or_config(
    t: &TargetArgs,
    config_file: Option<&Path>,
) -> Result<(Target, Option<config::Config>)> {
    if t.names_a_root() {
        if config_file.is_some() {
            return Err(Error::usage(
                "give either the target options or --config FILE, not both",
            ));
        }
        return Ok((target::resolve(&t.request())?, None));
    }
    let loaded = match config_file {
        Some(p) => config::load(p)?,
        None => config::load_default()?,
    };
    let Some((path, cfg)) = loaded else {
        return Err(Error::usage(format!(
            "no target: give the target options (--device ... or --dataset ...) or install {}",
            config::DEFAULT_PATH
        )));
    };
    Ok((configured_target(&path, &cfg)?, Some(cfg)))
}

fn run_on_system(command: Command, host: &Host) -> Result<u8> {
    Ok(match command {
        Command::Diff(d) => crate::commands::diff::run(&diff_request(d)?),
        Command::Check(c) => {
            let (t, cfg) = target_or_config(&c.rollback.target, c.config.as_deref())?;
            let opts = crate::commands::check::Options {
                persisted: c.persisted,
                persisted_from: c.persisted_from,
                strict: c.strict,
                config: cfg,
            };
            crate::commands::check::run(&t, &opts, host)
        }
        Command::Archives(a) => {
            let (t, _) = target_or_config(&a.target, a.config.as_deref())?;
            crate::commands::archives::run(&t, a.json)
        }
        Command::Restore(r) => {
            let (t, _) = target_or_config(&r.target, r.config.as_deref())?;
            let req = crate::commands::restore::Request {
                from: r.from,
                to: r.to,
                force: r.force,
                dry_run: r.dry_run,
                paths: r.paths,
            };
            crate::commands::restore::run(&t, &req)
        }
        Command::SkipNextBoot(k) => {
            let (t, _) = target_or_config(&k.target, k.config.as_deref())?;
            crate::commands::skip::run(&t, k.cancel)
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
    req.target = if named {
        Some(target::resolve(&d.rollback.target.request())?)
    } else if req.root.is_some() {
        None
    } else {
        match &loaded {
            Some((path, cfg)) => Some(configured_target(path, cfg)?),
            None => None,
        }
    };
    Ok(req)
}
