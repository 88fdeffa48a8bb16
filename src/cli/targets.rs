//! Which targets a command is about: the target options (one target, `--mount-point` or the
//! TARGET word naming its mount point), else the configuration's targets (`--config FILE` or
//! the installed one), all of them or those named by mount point.

use super::usage::parse_rollback_words;
use super::TargetArgs;
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::mount_point::MountPoint;
use crate::target::{self, Target};
use std::path::{Path, PathBuf};

/// Every target of a configuration, in its order, each parsed as `blankroot rollback` parses its
/// options. A mount point listed twice is refused.
pub fn configured(path: &Path, c: &Config) -> Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for (i, entry) in c.target_entries().iter().enumerate() {
        let member = if c.targets.is_empty() {
            "\"args\"".to_string()
        } else {
            format!("\"targets\"[{i}] ({})", entry.mount_point)
        };
        let in_config =
            |e: Error| Error::usage(format!("{}: {member}: {}", path.display(), e.message));
        let mount_point =
            MountPoint::parse("\"mount_point\"", &entry.mount_point).map_err(in_config)?;
        let args = parse_rollback_words(entry.args.iter().map(Into::into)).map_err(in_config)?;
        let mut request = args.target.request();
        match &request.mount_point {
            Some(m) if MountPoint::parse("--mount-point", m).map_err(in_config)? != mount_point => {
                return Err(in_config(Error::usage(format!(
                    "--mount-point {m} in \"args\" differs from \"mount_point\"; drop it from \"args\""
                ))))
            }
            _ => request.mount_point = Some(mount_point.to_string()),
        }
        let t = target::resolve(&request).map_err(in_config)?;
        if out.iter().any(|o| o.mount_point == t.mount_point) {
            return Err(in_config(Error::usage(format!(
                "the target {} is listed twice; list each mount point once",
                t.mount_point
            ))));
        }
        out.push(t);
    }
    Ok(out)
}

/// Of `all` (from `path`), the targets `which` names by mount point, in the order given; all of
/// them when `which` is empty.
pub fn select(all: Vec<Target>, which: &[String], path: &Path) -> Result<Vec<Target>> {
    if which.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for w in which {
        let m = MountPoint::parse("TARGET", w)?;
        match all.iter().find(|t| t.mount_point == m) {
            Some(t) if !out.contains(t) => out.push(t.clone()),
            Some(_) => {}
            None => {
                let known: Vec<String> = all.iter().map(|t| t.mount_point.to_string()).collect();
                return Err(Error::usage(format!(
                    "{} has no target {m}: its targets are {} (a target is named by its mount point)",
                    path.display(),
                    known.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// A configuration and the file it was read from.
pub type Loaded = (PathBuf, Config);

/// The configuration named on the command line, else the installed one if there is one.
pub fn load(config_file: Option<&Path>) -> Result<Option<Loaded>> {
    match config_file {
        Some(p) => config::load(p),
        None => config::load_default(),
    }
}

/// The targets of a command: from its target options (one target; `which` may name its mount
/// point), else from the configuration (returned too). `default_root`: with nothing named, only
/// the root target (`diff`, `archives`, `restore`), else all.
pub fn of_command(
    t: &TargetArgs,
    which: &[String],
    config_file: Option<&Path>,
    default_root: bool,
) -> Result<(Vec<Target>, Option<Loaded>)> {
    if t.names_a_root() {
        if config_file.is_some() {
            return Err(Error::usage(
                "give either the target options or --config FILE, not both",
            ));
        }
        return Ok((vec![from_options(t, which)?], None));
    }
    let Some((path, cfg)) = load(config_file)? else {
        return Err(Error::usage(format!(
            "no target: give the target options (--device ... or --dataset ...) or install {}",
            config::DEFAULT_PATH
        )));
    };
    let all = configured(&path, &cfg)?;
    let root = ["/".to_string()];
    let which = if which.is_empty() && default_root {
        &root[..]
    } else {
        which
    };
    let chosen = select(all, which, &path)?;
    Ok((chosen, Some((path, cfg))))
}

/// The one target the options name; a TARGET word is its mount point (as `--mount-point`).
pub fn from_options(t: &TargetArgs, which: &[String]) -> Result<Target> {
    let mut request = t.request();
    match (which, &request.mount_point) {
        ([], _) => {}
        ([w], None) => request.mount_point = Some(w.clone()),
        ([w], Some(m)) if MountPoint::parse("TARGET", w)? == MountPoint::parse("--mount-point", m)? => {}
        ([w], Some(m)) => {
            return Err(Error::usage(format!(
                "TARGET {w} and --mount-point {m} differ: give the mount point once"
            )))
        }
        _ => {
            return Err(Error::usage(
                "the target options name one target: give at most one TARGET (its mount point) with them, or use --config FILE",
            ))
        }
    }
    target::resolve(&request)
}
