//! ZFS: the engine's own inspection and plan (`zfs::inspect`, `zfs::plan`), with the root taken
//! as unmounted for the same reason as on Btrfs; the engine warns about the newer snapshots
//! `zfs rollback -r` would destroy, and this check about a blank snapshot without a `zfs hold`.
//!
//! What must not be lost is looked for where the root dataset is mounted (on `/` on the system
//! it runs); the other filesystems mounted on it (child datasets, bind mounts) survive. What a
//! mount hides cannot be seen there.

use super::persist::{self, Lists, View};
use super::tree::Tree;
use super::Verdict;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::mountinfo::{self, Mount};
use std::path::Path;

/// The tag `check` suggests for the hold.
pub const HOLD_TAG: &str = "blankroot";

pub fn check(c: &crate::zfs::Config, lists: &Lists, host: &Host) -> Verdict {
    let mut v = Verdict {
        title: format!("zfs {} from {}", c.dataset, c.dataset.at(&c.snapshot)),
        ..Verdict::default()
    };
    if let Err(e) = inner(c, lists, host, &mut v) {
        v.problems.push(e.message);
    }
    v
}

/// The ZFS engine's own inspection and plan, with the root taken as unmounted.
fn inner(c: &crate::zfs::Config, lists: &Lists, host: &Host, v: &mut Verdict) -> Result<()> {
    use crate::zfs::{cmd::Tools, inspect, plan};
    let tools = Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
    let pool = c.dataset.pool();
    if !inspect::pool_imported(&tools, pool)? {
        return Err(Error::runtime(format!(
            "pool {pool} is not imported here, so it cannot be checked (at boot, --import imports it)"
        )));
    }
    let mut facts = inspect::gather(&tools, c, crate::time::unix_now())?;
    let root = c.dataset.to_string();
    let requested = facts
        .pool
        .get(&root)
        .and_then(|ds| ds.local.get(crate::zfs::skip::PROPERTY));
    if let Some(when) = requested {
        v.notes.push(super::btrfs::skip_note(when));
    }
    if let Some(ds) = facts.pool.datasets.get_mut(&root) {
        if ds.mounted {
            v.notes.push(format!(
                "{root} is mounted (as expected on a running system: the rollback runs before it is mounted)"
            ));
            ds.mounted = false;
        }
    }
    let p = plan::plan(c, &facts)?;
    v.notes.extend(p.notes.iter().cloned());
    v.warnings.extend(p.warnings.iter().cloned());
    for l in &p.left_alone {
        v.notes
            .push(format!("left alone in the archive parent: {l}"));
    }
    v.plan = p.to_string();
    let blank = facts
        .pool
        .get(&root)
        .and_then(|ds| ds.snaps().iter().find(|s| s.name == c.snapshot));
    if blank.is_some_and(|s| !s.held) {
        let full = c.dataset.at(&c.snapshot);
        v.warnings.push(format!(
            "the blank snapshot {full} has no hold: a stray `zfs destroy` (of it, or -r of the dataset) would take it and every later rollback would refuse; add one: `zfs hold {HOLD_TAG} {}`",
            persist::sh_word(full.to_string().as_ref())
        ));
    }
    match view(&host.mounts(), &root, lists, v) {
        Some(view) => v.losses = persist::findings(&view, lists),
        None => v.notes.push(format!(
            "{root} is not mounted here: what must not be lost on it was not looked for (mount it, or run check on the system it is the root of)"
        )),
    }
    Ok(())
}

/// Where the dataset is mounted (on `/` if it is), with the other filesystems mounted on it.
fn view(mounts: &[Mount], dataset: &str, lists: &Lists, v: &mut Verdict) -> Option<View> {
    let zfs = |m: &&Mount| (m.fstype == "zfs" || m.fstype == "fuse.zfs") && m.source == dataset;
    let at = mounts
        .iter()
        .filter(zfs)
        .find(|m| m.mount_point == Path::new("/"))
        .or_else(|| mounts.iter().find(zfs))?;
    let dir = super::open_dir(&at.mount_point).ok()?;
    let mut other = Vec::new();
    for (rel, m) in mountinfo::below(mounts, &at.mount_point) {
        let rel = lists.mount_point.join(&rel);
        if m.dev != at.dev {
            if persist::watched(&rel, lists) {
                v.notes.extend(super::overlay_note(m));
            }
            other.push(rel);
        }
    }
    Some(View {
        tree: Tree {
            dir,
            mount_point: lists.mount_point.clone(),
        },
        at: Some(at.mount_point.clone()),
        mounts: other,
        beneath: None,
    })
}
