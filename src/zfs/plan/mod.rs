//! The ZFS rollback decision: from the pool as listed to the ordered list of `zfs` commands.
//! Pure: nothing is run here, so every case is unit tested and `--dry-run` prints the result.
//! The order of the steps and why a crash between any two of them is safe is explained in the
//! documentation of [`crate::zfs`].

mod archive;
pub use archive::{sort_archives, Sorted};
mod recover;

use super::cmd::Tool;
use super::model::{Ds, Effect, Kind, Pool};
use super::name::shell_word;
use super::Config;
use crate::error::{Error, Result};
use std::fmt;
use std::fmt::Write;

/// Properties that a clone cannot be given (they come from the origin or its encryption root).
const NOT_CARRIED: &[&str] = &[
    "casesensitivity",
    "encryption",
    "encryptionroot",
    "keyformat",
    "keylocation",
    "keystatus",
    "normalization",
    "origin",
    super::model::ARCHIVE_PROPERTY,
    super::skip::PROPERTY,
    "pbkdf2iters",
    "pbkdf2salt",
    "utf8only",
    "version",
    "volblocksize",
    "volsize",
];

/// Everything the plan depends on, gathered read-only by `zfs::inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub pool: Pool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub effect: Effect,
    pub why: String,
}

impl Step {
    /// The command that carries the step out.
    pub fn argv(&self) -> (Tool, Vec<String>) {
        let opts = |props: &[(String, String)]| {
            let mut o = Vec::new();
            for (k, v) in props {
                o.push("-o".to_string());
                o.push(format!("{k}={v}"));
            }
            o
        };
        let mut args: Vec<String> = Vec::new();
        match &self.effect {
            Effect::Create { name, props } => {
                args.push("create".into());
                args.extend(opts(props));
                args.push(name.clone());
            }
            Effect::Clone {
                snapshot,
                name,
                props,
            } => {
                args.push("clone".into());
                args.extend(opts(props));
                args.extend([snapshot.clone(), name.clone()]);
            }
            Effect::Rename { from, to } => args.extend(["rename".into(), from.clone(), to.clone()]),
            Effect::Promote { name } => args.extend(["promote".into(), name.clone()]),
            Effect::Destroy { name, recursive } => {
                args.push("destroy".into());
                if *recursive {
                    args.push("-r".into());
                }
                args.push(name.clone());
            }
            Effect::SetProperty {
                name,
                property,
                value,
            } => args.extend(["set".into(), format!("{property}={value}"), name.clone()]),
            Effect::Rollback { snapshot } => {
                args.extend(["rollback".into(), "-r".into(), snapshot.clone()])
            }
        }
        (Tool::Zfs, args)
    }

    /// The command as one line, for logs and the dry run.
    pub fn command(&self) -> String {
        let (tool, args) = self.argv();
        let words: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
        format!("{} {}", tool.name(), words.join(" "))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}   # {}", self.command(), self.why)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The archive this run makes (a dataset name).
    pub archive: Option<String>,
    pub pruned: Vec<String>,
    /// Every snapshot the plan destroys (newer than the blank, or in pruned archives).
    pub destroyed_snapshots: Vec<String>,
    pub left_alone: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::steps::numbered(f, &self.steps)
    }
}

fn runtime(msg: String) -> Error {
    Error::runtime(msg)
}

fn list(names: &[String], max: usize) -> String {
    let mut out = names
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > max {
        let _ = write!(out, " and {} more", names.len() - max);
    }
    out
}

/// A plan being built, with the pool as the steps so far leave it.
struct Builder<'a> {
    cfg: &'a Config,
    pool: Pool,
    plan: Plan,
}

impl Builder<'_> {
    fn push(&mut self, effect: Effect, why: impl Into<String>) -> Result<()> {
        let step = Step {
            effect,
            why: why.into(),
        };
        self.pool.apply(&step.effect).map_err(|e| {
            runtime(format!(
                "`{}` would fail ({e}): nothing was changed; fix that in the pool first",
                step.command()
            ))
        })?;
        self.plan.steps.push(step);
        Ok(())
    }

    fn root(&self) -> &str {
        self.cfg.dataset.as_str()
    }

    fn ds(&self, name: &str) -> Option<&Ds> {
        self.pool.get(name)
    }
}

pub fn plan(cfg: &Config, facts: &Facts) -> Result<Plan> {
    let mut b = Builder {
        cfg,
        pool: facts.pool.clone(),
        plan: Plan::default(),
    };
    let job = recover::recover(&mut b)?;
    match (&cfg.archive, job) {
        (None, true) => delete_job(&mut b)?,
        (Some(a), true) => archive::archive_job(&mut b, a, facts.now)?,
        (Some(a), false) => {
            archive::prune(&mut b, a, facts.now, 0)?;
        }
        (None, false) => {}
    }
    Ok(b.plan)
}

fn delete_job(b: &mut Builder<'_>) -> Result<()> {
    let r = b.root().to_string();
    let s = b.cfg.snapshot.clone();
    let blank = b.cfg.dataset.at(&s);
    let root = b.ds(&r).cloned().expect("recovered");
    let cut = root
        .snaps()
        .iter()
        .position(|x| x.name == s)
        .expect("recovered");
    let newer: Vec<String> = root.snaps()[cut + 1..]
        .iter()
        .map(|x| format!("{r}@{}", x.name))
        .collect();
    for (snap, full) in root.snaps()[cut + 1..].iter().zip(&newer) {
        if snap.held {
            return Err(runtime(format!(
                "snapshot {full} (newer than the blank) is held, so zfs rollback -r cannot destroy it: nothing was changed; release it (zfs holds {full}; zfs release TAG {full})"
            )));
        }
        if let Some(clone) = b.pool.clones_of(full).first() {
            return Err(runtime(format!(
                "snapshot {full} (newer than the blank) is the origin of {clone}, so zfs rollback -r would fail: nothing was changed; promote or destroy {clone} (zfs promote {clone})"
            )));
        }
    }
    if !newer.is_empty() {
        b.plan.warnings.push(format!(
            "zfs rollback -r destroys {} snapshot(s) of {r} newer than the blank ({}); snapshot tools (zfs-auto-snapshot, sanoid) lose theirs: exclude the root from them (zfs set com.sun:auto-snapshot=false {r})",
            newer.len(),
            list(&newer, 3)
        ));
        b.plan.destroyed_snapshots.extend(newer);
    }
    b.push(
        Effect::Rollback { snapshot: blank },
        "put the root back to the blank",
    )
}

fn kind_name(k: &Kind) -> &str {
    match k {
        Kind::Filesystem => "filesystem",
        Kind::Volume => "volume",
        Kind::Other(s) => s,
    }
}

#[cfg(test)]
mod tests;
