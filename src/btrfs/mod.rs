//! The Btrfs engine: mount the top level, gather the facts (`inspect`, read-only), decide
//! (`plan`, pure: printed by `--dry-run`), carry the plan out (`exec`, one ioctl or rename per
//! step).

pub mod archives;
pub mod blank;
pub mod exec;
pub mod extents;
pub mod inspect;
pub mod ioctl;
pub mod mount;
pub mod nav;
pub mod plan;
pub mod quota;
pub mod skip;
pub mod space;
pub mod tree;

use crate::error::Result;
use crate::report::Report;
use crate::status::Action;
use mount::TopMount;
use plan::Config;
use std::path::Path;

/// Replaces the root as configured (or, with `dry_run`, only plans it) and reports what was
/// done. `mount_options` go beside `subvolid=5` in the top-level mount.
pub fn rollback(
    device: &Path,
    mount_options: Option<&str>,
    cfg: &Config,
    dry_run: bool,
    now: i64,
) -> Result<Report> {
    let top = TopMount::mount(device, mount_options, dry_run)?;
    if let Some(req) = skip::pending_for(&top, &cfg.root)? {
        return skipped(top, &req, &cfg.root, dry_run);
    }
    let facts = inspect::inspect(&top, cfg, now)?;
    let plan = plan::plan(cfg, &facts)?;
    for note in &plan.notes {
        log::info!("{note}");
    }
    for entry in &plan.left_alone {
        log::warn!("left alone in the archive directory: {entry}");
    }
    for warning in &plan.warnings {
        log::warn!("{warning}");
    }
    if dry_run {
        top.unmount()?;
    } else {
        exec::execute(top, &plan)?;
    }
    Ok(Report {
        action: Some(if plan.archive.is_some() {
            Action::Archived
        } else {
            Action::RolledBack
        }),
        archive: plan.archive.as_ref().map(|a| a.to_string()),
        pruned: plan.pruned.iter().map(|p| p.to_string()).collect(),
        destroyed_snapshots: Vec::new(),
        left_alone: plan.left_alone.clone(),
        warnings: plan.warnings.clone(),
        plan_text: plan.to_string(),
    })
}

/// A skip-next-boot request is pending: the root stays as it is, and the request is cleared
/// (durably: the unmount commits) before the run ends. A crash before the commit leaves the
/// request, so at worst one more boot is skipped; a boot asked to be skipped is never wiped.
fn skipped(
    top: TopMount,
    req: &skip::Request,
    root: &crate::names::Name,
    dry_run: bool,
) -> Result<Report> {
    let why = format!(
        "skip-next-boot was requested at {} (blankroot skip-next-boot): the root {root} is left as it is this boot",
        req.requested_at
    );
    if dry_run {
        top.unmount()?;
        return Ok(Report {
            action: Some(Action::Skipped),
            plan_text: format!("  1. leave the root as it is ({why}), and clear the request\n"),
            ..Report::default()
        });
    }
    log::warn!("{why}; clearing the request");
    crate::failpoint::hit("skip-clear");
    let mut warnings = vec![why];
    match skip::clear_for(&top, root) {
        Ok(_) => top.commit()?,
        Err(e) => {
            warnings.push(format!(
                "{e}: the request stays, so the next boot is skipped too; remove {} from the top level by hand",
                skip::MARKER
            ));
            log::error!("{}", warnings[1]);
            top.unmount()?;
        }
    }
    Ok(Report {
        action: Some(Action::Skipped),
        warnings,
        ..Report::default()
    })
}
