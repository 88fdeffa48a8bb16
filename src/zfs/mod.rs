//! The ZFS engine: put the root dataset back to its blank snapshot.
//!
//! `--dataset POOL/PATH` names the root (the ZFS posts of saylesss88 (2026): `rpool/local/root`), `--snapshot` its blank
//! (default `blank`). Everything is read first (`inspect`, read-only `zfs list`/`zfs get`), then
//! planned (`plan`, pure, printed by `--dry-run`), then carried out one `zfs` command per step
//! (`exec`). Names are checked against the ZFS rules (`name`) before any program runs; `zfs` and
//! `zpool` are started directly, never through a shell (`cmd`). Datasets other than the root, its
//! staging clone and the pruned archives are never named in a command that changes anything.
//!
//! # Delete mode
//!
//! `zfs rollback -r ROOT@BLANK`: one atomic command. The snapshots newer than the blank are
//! destroyed by it; they are listed first, logged by name and recorded in the status file
//! (`destroyed_snapshots`). A newer snapshot that is held or has a clone makes the rollback fail,
//! so that is refused before anything runs.
//!
//! # Archive mode (`--archive-dir POOL/PATH`)
//!
//! ZFS cannot move a dataset "into a folder" while keeping its name free, so the old root is
//! renamed under the archive parent and a clone of the blank takes its place. The steps, with
//! `T` the staging name `.blankroot-new-<root>` beside the root and `A/N` the new archive (named by
//! the UTC time, as on Btrfs):
//!
//! 1. `zfs clone -o <the root's own properties> ROOT@BLANK T`: stage the new root. A clone takes
//!    its properties from its parent, so the root's locally set (or received) ones, such as
//!    `mountpoint=legacy` and `canmount=noauto`, are given again explicitly.
//! 2. `zfs create -o canmount=off -o mountpoint=none A` when the archive parent is missing.
//! 3. `zfs destroy [-r] A/OLD` for each archive the retention rules prune (never the newest).
//! 4. `zfs rename ROOT A/N`: the old root, with all its snapshots, becomes the archive.
//! 5. `zfs rename T ROOT`: the new root takes the root's name.
//! 6. `zfs promote ROOT`: the blank (and the snapshots before it) move from `A/N` to the new
//!    root; `A/N` becomes a clone of `ROOT@BLANK`, so it can be pruned on its own later.
//!
//! Why a crash between any two steps is safe: every step is one atomic ZFS operation, and each
//! state between them is recognised by the next run from names and origins alone:
//!
//! - root present and holding the blank, no `T`: nothing was done, or everything was.
//! - root holding the blank and `T` present (crash after 1–3): `T` is an unused clone of
//!   `ROOT@BLANK`, checked to be exactly that (origin, no snapshots, no children, unmounted) and
//!   destroyed; the job is then done again. Pruned archives stay pruned; that is what was asked.
//! - root absent, `T` a clone of `X@BLANK` (crash after 4): the old root is safe in `X`; the next
//!   run renames `T` to the root and promotes it, and stops there: the root was never in use, so
//!   a second archive would only be an empty copy of the blank.
//! - root a clone of `X@BLANK` that does not hold the blank itself (crash after 5, or a failed
//!   promote): the root may have been booted from, so it is promoted and then archived as usual.
//!
//! A failure of step 1 (or of anything before the first rename) leaves the root as it was. The
//! planner applies its own steps to a model of the pool (`model`), so the job that follows a
//! recovery is planned on the pool as the recovery leaves it, and the unit tests crash every plan
//! after every step and check that the next plan finishes the job.
//!
//! Archive mode refuses (before anything runs) a root with child datasets (they would be moved
//! into the archive, whereas a rollback leaves them alone) and a root or archive that ZFS would
//! mount by itself (`canmount=on` with a mountpoint path): a clone made in the initrd must not be
//! mounted, and archives must not be mounted by `zfs mount -a`.

pub mod archives;
pub mod blank;
pub mod cmd;
pub mod exec;
pub mod inspect;
pub mod model;
pub mod mount;
pub mod name;
pub mod plan;
pub mod skip;

use crate::error::{Error, Result};
use crate::report::Report;
use crate::retention::Policy;
use crate::status::Action;
use name::{Dataset, MAX_NAME};
use std::path::PathBuf;

/// The staging clone's name is this prefix and the root's last component, beside the root.
pub const STAGING_PREFIX: &str = ".blankroot-new-";

/// The longest archive name (`2026-11-22T02:20:50Z.999999999`).
const ARCHIVE_NAME_MAX: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    /// The pool must already be imported.
    No,
    /// `zpool import -N POOL` when it is not.
    Yes,
    /// `zpool import -N -f POOL` when it is not.
    Force,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveTo {
    pub parent: Dataset,
    pub policy: Policy,
}

/// A ZFS rollback, fully validated (names checked, options consistent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub dataset: Dataset,
    pub snapshot: String,
    pub import: Import,
    pub archive: Option<ArchiveTo>,
    pub zfs_command: Option<PathBuf>,
    /// Prune archive-named datasets blankroot did not mark too.
    pub prune_unmarked: bool,
}

impl Config {
    /// Where the new root is staged before it takes the root's name.
    pub fn staging(&self) -> Dataset {
        self.dataset
            .sibling(&format!("{STAGING_PREFIX}{}", self.dataset.basename()))
    }
}

impl Config {
    /// Checks the names against the ZFS rules and against each other; nothing is run and
    /// nothing is read from disk. `archive`: `--archive-dir` and its retention.
    pub fn new(
        dataset: &str,
        snapshot: &str,
        import: Import,
        archive: Option<(String, Policy)>,
        zfs_command: Option<PathBuf>,
        prune_unmarked: bool,
    ) -> Result<Config> {
        let dataset = Dataset::parse("--dataset", dataset)?;
        if dataset.is_pool() {
            return Err(Error::usage(format!(
                "--dataset {dataset} is a whole pool: give the dataset mounted on / (like {dataset}/local/root); a pool's top dataset holds every other dataset and cannot be renamed or archived"
            )));
        }
        let snapshot = name::snapshot("--snapshot", snapshot)?;
        let blank = dataset.at(&snapshot);
        if blank.len() > MAX_NAME {
            return Err(Error::usage(format!(
                "--snapshot {snapshot}: {blank} is longer than {MAX_NAME} bytes; use a shorter name"
            )));
        }
        if let Some(p) = &zfs_command {
            if !p.is_absolute() {
                return Err(Error::usage(format!(
                    "--zfs-command {}: give an absolute path, like /sbin/zfs",
                    p.display()
                )));
            }
        }
        let mut cfg = Config {
            dataset,
            snapshot,
            import,
            archive: None,
            zfs_command,
            prune_unmarked,
        };
        let staging = cfg.staging();
        if staging.as_str().len() > MAX_NAME {
            return Err(Error::usage(format!(
                "--dataset {}: the last component is too long to stage a new root beside it; use a shorter name",
                cfg.dataset
            )));
        }
        if let Some((dir, policy)) = archive {
            let parent = Dataset::parse("--archive-dir", &dir)?;
            check_archive_parent(&cfg, &parent)?;
            cfg.archive = Some(ArchiveTo { parent, policy });
        }
        Ok(cfg)
    }
}

fn check_archive_parent(cfg: &Config, a: &Dataset) -> Result<()> {
    let r = &cfg.dataset;
    let t = cfg.staging();
    let suggestion = r.sibling("old_roots");
    let bad = |why: String| {
        Err(Error::usage(format!(
            "--archive-dir {a}: {why}; use a dataset of its own such as {suggestion}"
        )))
    };
    if a.is_pool() {
        return bad("is a whole pool".into());
    }
    if a.pool() != r.pool() {
        return bad(format!(
            "is in pool {} but the root is in pool {}, and zfs rename cannot move a dataset between pools",
            a.pool(),
            r.pool()
        ));
    }
    if r.parent().as_ref() == Some(a) {
        return bad(format!(
            "is the root's parent, so archives would sit beside {r} and its sibling datasets"
        ));
    }
    if a.is_within(r) || r.is_within(a) {
        return bad(format!("overlaps the root {r}"));
    }
    if a.is_within(&t) || t.is_within(a) {
        return bad(format!("overlaps blankroot's staging name {t}"));
    }
    let longest = a.as_str().len() + 1 + ARCHIVE_NAME_MAX + 1 + cfg.snapshot.len();
    if longest > MAX_NAME {
        return bad(format!(
            "archive snapshot names ({a}/<time>@{}) would be longer than {MAX_NAME} bytes",
            cfg.snapshot
        ));
    }
    Ok(())
}

/// Replaces the root as configured (or, with `dry_run`, only plans it) and reports what was done.
pub fn rollback(c: &Config, dry_run: bool, now: i64) -> Result<Report> {
    let tools = cmd::Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
    log::debug!(
        "using {} and {}",
        tools.path(cmd::Tool::Zfs).display(),
        tools.path(cmd::Tool::Zpool).display()
    );
    let pool = c.dataset.pool();
    if !inspect::pool_imported(&tools, pool)? {
        let force = match c.import {
            Import::No => {
                return Err(Error::runtime(format!(
                    "pool {pool} is not imported: nothing was changed; pass --import (blankroot then runs zpool import -N {pool}), or order blankroot after the pool's import (NixOS: after zfs-import-{pool}.service)"
                )))
            }
            Import::Yes => false,
            Import::Force => true,
        };
        let argv = inspect::import_argv(pool, force);
        if dry_run {
            return Ok(Report {
                action: Some(action(c)),
                plan_text: format!(
                    "  1. zpool {}   # the pool is not imported: the rest is planned after importing it\n",
                    argv.join(" ")
                ),
                ..Report::default()
            });
        }
        inspect::import(&tools, pool, force)?;
    }
    let facts = inspect::gather(&tools, c, now)?;
    let requested = facts
        .pool
        .get(c.dataset.as_str())
        .and_then(|root| root.local.get(skip::PROPERTY).cloned());
    if let Some(when) = requested {
        return skipped(&tools, c, &when, dry_run);
    }
    let plan = plan::plan(c, &facts)?;
    for note in &plan.notes {
        log::info!("{note}");
    }
    for snap in &plan.destroyed_snapshots {
        log::info!("destroying snapshot {snap}");
    }
    for entry in &plan.left_alone {
        log::warn!("left alone in the archive parent: {entry}");
    }
    for warning in &plan.warnings {
        log::warn!("{warning}");
    }
    if !dry_run {
        exec::execute(&tools, &plan)?;
    }
    Ok(Report {
        action: Some(action(c)),
        archive: plan.archive.clone(),
        pruned: plan.pruned.clone(),
        destroyed_snapshots: plan.destroyed_snapshots.clone(),
        left_alone: plan.left_alone.clone(),
        warnings: plan.warnings.clone(),
        plan_text: plan.to_string(),
    })
}

/// A skip-next-boot request is set on the root: it stays as it is, and the request is cleared
/// (`zfs inherit`, on disk when it returns) before the run ends. A crash in between leaves the
/// request, so at worst one more boot is skipped; a boot asked to be skipped is never wiped.
fn skipped(tools: &cmd::Tools, c: &Config, when: &str, dry_run: bool) -> Result<Report> {
    let why = format!(
        "skip-next-boot was requested at {when} (blankroot skip-next-boot): the root {} is left as it is this boot",
        c.dataset
    );
    if dry_run {
        return Ok(Report {
            action: Some(Action::Skipped),
            plan_text: format!(
                "  1. zfs inherit {} {}   # {why}; clear the request\n",
                skip::PROPERTY,
                c.dataset
            ),
            ..Report::default()
        });
    }
    log::warn!("{why}; clearing the request");
    crate::failpoint::hit("skip-clear");
    let mut warnings = vec![why];
    if let Err(e) = skip::clear(tools, &c.dataset) {
        warnings.push(format!(
            "{e}: the request stays, so the next boot is skipped too; clear it with `zfs inherit {} {}`",
            skip::PROPERTY,
            c.dataset
        ));
        log::error!("{}", warnings[1]);
    }
    Ok(Report {
        action: Some(Action::Skipped),
        warnings,
        ..Report::default()
    })
}

fn action(c: &Config) -> Action {
    if c.archive.is_some() {
        Action::Archived
    } else {
        Action::RolledBack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(dataset: &str, snapshot: &str, archive: Option<&str>) -> Result<Config> {
        let archive = archive.map(|a| (a.to_string(), Policy::default()));
        Config::new(dataset, snapshot, Import::No, archive, None, false)
    }

    #[test]
    fn the_seed_layout_is_accepted() {
        let c = new("rpool/local/root", "blank", Some("rpool/local/old_roots")).unwrap();
        assert_eq!(c.snapshot, "blank");
        assert_eq!(c.staging().as_str(), "rpool/local/.blankroot-new-root");
    }

    #[test]
    fn bad_names_are_usage_errors() {
        let cases = [
            (new("rpool/local/root", "a;b", None), "--snapshot"),
            (new("rpool", "blank", None), "is a whole pool"),
            (new("a; rm -rf /", "blank", None), "nothing was run"),
            (
                new("rpool/local/root", "blank", Some("rpool")),
                "is a whole pool",
            ),
            (
                new("rpool/local/root", "blank", Some("tank/old")),
                "between pools",
            ),
            (
                new("rpool/local/root", "blank", Some("rpool/local/root/old")),
                "overlaps the root",
            ),
            (
                new("rpool/local/root", "blank", Some("rpool/local")),
                "is the root's parent",
            ),
            (
                new(
                    "rpool/local/root",
                    "blank",
                    Some("rpool/local/.blankroot-new-root"),
                ),
                "staging",
            ),
            (
                new("rpool/local/root", "blank", Some("rpool/x; reboot")),
                "';' is not allowed",
            ),
            (
                Config::new(
                    "rpool/r",
                    "blank",
                    Import::No,
                    None,
                    Some("zfs".into()),
                    false,
                ),
                "absolute path",
            ),
        ];
        for (r, text) in cases {
            let e = r.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{}", e.message);
            assert!(e.message.contains(text), "{text}: {}", e.message);
            assert!(!e.message.contains('\n'), "{}", e.message);
        }
    }
}
