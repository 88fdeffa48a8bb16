//! The Btrfs engine: mount the top level, gather facts, plan, carry the plan out.

pub mod exec;
pub mod inspect;
pub mod ioctl;
pub mod mount;
pub mod nav;
pub mod plan;
pub mod quota;
pub mod space;

use crate::error::Result;
use mount::TopMount;
use plan::{Config, Plan};
use std::path::Path;

/// Replaces the root as configured (or, with `dry_run`, prints what it would do) and returns the
/// plan that was carried out.
pub fn rollback(device: &Path, cfg: &Config, dry_run: bool, now: i64) -> Result<Plan> {
    let top = TopMount::mount(device, dry_run)?;
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
    Ok(plan)
}
