//! Parsing: words to a [`Command`], and clap's errors as blankroot's one-line usage errors.

use super::args::{
    ArchivesCommand, CheckCommand, Cli, DiffCommand, InitCommand, PersistCommand, RestoreCommand,
    RollbackArgs, RollbackCommand, SkipCommand, StatusArgs, Sub,
};
use crate::error::{Error, Result};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, FromArgMatches, Parser};
use std::ffi::OsString;

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per run
pub enum Command {
    Rollback(RollbackCommand),
    Status(StatusArgs),
    Diff(DiffCommand),
    Check(CheckCommand),
    Archives(ArchivesCommand),
    Restore(RestoreCommand),
    Persist(PersistCommand),
    Init(InitCommand),
    SkipNextBoot(SkipCommand),
    /// `--help`, `--version`, `help`: the text to print (exit 0).
    Help(String),
}

const COMMANDS: [&str; 9] = [
    "rollback",
    "status",
    "diff",
    "check",
    "archives",
    "restore",
    "persist",
    "init",
    "skip-next-boot",
];

/// clap's error as one line that names the option, in the words blankroot has always used.
pub(super) fn usage_error(e: &clap::Error, command: Option<&str>) -> Error {
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
        // clap's first line ends in a colon, the names follow on the next lines.
        (ErrorKind::MissingRequiredArgument, Some(a)) => match command {
            Some(c) => format!("{c}: an option given needs {a} too; {see}"),
            None => format!("an option given needs {a} too; {see}"),
        },
        (ErrorKind::InvalidSubcommand, _) => {
            let (last, rest) = COMMANDS.split_last().expect("commands");
            format!(
                "unknown command {:?}; the commands are {} and {last} (see blankroot --help)",
                context(ContextKind::InvalidSubcommand).unwrap_or_default(),
                rest.join(", ")
            )
        }
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
        .filter(|w| COMMANDS.contains(w))
        .map(str::to_string);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Command::Help(e.render().to_string()))
        }
        Err(e) => return Err(usage_error(&e, named.as_deref())),
    };
    Ok(match cli.command {
        Sub::Rollback(a) => Command::Rollback(a.0),
        Sub::Status(a) => Command::Status(a.0),
        Sub::Diff(d) => Command::Diff(d.0),
        // check itself has no JSON output (as in 0.2): only its --stale listing does.
        Sub::Check(c) if c.0.json && !c.0.stale => {
            return Err(Error::usage(
                "unknown option --json for check (it goes with --stale: blankroot check --stale --json); see blankroot --help",
            ))
        }
        Sub::Check(c) => Command::Check(c.0),
        Sub::Archives(a) => Command::Archives(a.0),
        Sub::Restore(r) => Command::Restore(r.0),
        Sub::Persist(p) => Command::Persist(p.0),
        Sub::Init(i) => Command::Init(i.0),
        Sub::SkipNextBoot(k) => Command::SkipNextBoot(k.0),
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
