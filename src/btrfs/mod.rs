//! The Btrfs engine: mount the top level, gather the facts (`inspect`, read-only), decide
//! (`plan`, pure: printed by `--dry-run`), carry the plan out (`exec`, one ioctl or rename per
//! step).

pub mod archives;
pub mod exec;
pub mod inspect;
pub mod ioctl;
pub mod mount;
pub mod nav;
pub mod plan;
pub mod quota;
pub mod space;

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
    crate::probe::require_btrfs(device)?;
    let top = TopMount::mount(device, mount_options, dry_run)?;
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
