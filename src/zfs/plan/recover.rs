//! After an interrupted run: recognise the state it left and plan the steps that finish it.

use super::{kind_name, list, runtime, Builder};
use crate::error::Result;
use crate::zfs::model::{dataset_of, Ds, Effect, Kind};

/// Brings the pool back to the state every job starts from (the root exists and holds the
/// blank, the staging name is free) after an interrupted run. Returns false when that also
/// finished the interrupted run's job (the new root was never in use).
pub(super) fn recover(b: &mut Builder<'_>) -> Result<bool> {
    let cfg = b.cfg;
    let r = cfg.dataset.as_str().to_string();
    let t = cfg.staging();
    let t = t.as_str();
    let s = cfg.snapshot.as_str();
    let blank = cfg.dataset.at(s);
    match (b.ds(&r).cloned(), b.ds(t).cloned()) {
        (None, None) => Err(runtime(format!(
            "dataset {r} does not exist: nothing was changed; check --dataset (zfs list -r {pool}), or create the root and its blank: zfs create -o canmount=noauto -o mountpoint=legacy {r} && zfs snapshot {blank}",
            pool = cfg.dataset.pool()
        ))),
        (None, Some(staged)) => {
            let origin = check_staging(b, t, &staged, None)?;
            b.plan.notes.push(format!(
                "{r} does not exist but {t}, an unused clone of {origin}, does: an earlier run stopped between its two renames; finishing it"
            ));
            b.plan.warnings.push(format!(
                "finished the run of an earlier boot that stopped part-way: the root from before it is {}",
                dataset_of(&origin)
            ));
            b.push(
                Effect::Rename {
                    from: t.into(),
                    to: r.clone(),
                },
                "the new root takes the root's name",
            )?;
            b.push(
                Effect::Promote { name: r.clone() },
                "the new root takes over the blank",
            )?;
            Ok(false)
        }
        (Some(root), staged) => {
            check_root(&r, &root)?;
            if !root.has_snapshot(s) {
                match &root.origin {
                    Some(origin) if origin.split_once('@').map(|x| x.1) == Some(s) => {
                        b.plan.notes.push(format!(
                            "{r} is a clone of {origin} and does not hold @{s} itself: an earlier run stopped before promoting it; promoting it now"
                        ));
                        b.push(
                            Effect::Promote { name: r.clone() },
                            "the root takes over the blank it was cloned from",
                        )?;
                    }
                    _ => {
                        let have: Vec<String> = root.snaps().iter().map(|x| x.name.clone()).collect();
                        let have = if have.is_empty() {
                            "it has no snapshots".to_string()
                        } else {
                            format!("its snapshots: {}", list(&have, 5))
                        };
                        return Err(runtime(format!(
                            "snapshot {blank} does not exist ({have}): nothing was changed; take the blank of the empty root right after creating it (zfs snapshot {blank}) or fix --snapshot; `blankroot init` makes it, held"
                        )));
                    }
                }
            }
            if staged.is_some() {
                let staged = b.ds(t).cloned().expect("still there");
                check_staging(b, t, &staged, Some(&blank))?;
                b.plan.notes.push(format!(
                    "{t} is left over from an interrupted run (an unused clone of the blank): destroying it"
                ));
                b.push(
                    Effect::Destroy {
                        name: t.into(),
                        recursive: false,
                    },
                    "leftover staging clone of the blank",
                )?;
            }
            Ok(true)
        }
    }
}

fn check_root(r: &str, root: &Ds) -> Result<()> {
    if root.kind != Kind::Filesystem {
        return Err(runtime(format!(
            "{r} is a {}, not a filesystem: nothing was changed; --dataset names the dataset mounted on /",
            kind_name(&root.kind)
        )));
    }
    if root.mounted {
        return Err(runtime(format!(
            "{r} is mounted: nothing was changed; blankroot must run before the root is mounted (in the initrd, before sysroot.mount)"
        )));
    }
    Ok(())
}

/// The staging dataset must be what blankroot leaves there: an unmounted clone of the blank
/// (`expected` origin when known) with no snapshot and no child. Returns its origin.
fn check_staging(b: &Builder<'_>, t: &str, staged: &Ds, expected: Option<&str>) -> Result<String> {
    let s = b.cfg.snapshot.as_str();
    let why = match &staged.origin {
        _ if staged.kind != Kind::Filesystem => {
            Some(format!("it is a {}", kind_name(&staged.kind)))
        }
        None => Some("it is not a clone".to_string()),
        Some(o) if expected.is_some_and(|e| e != o) => Some(format!("it is a clone of {o}")),
        Some(o) if o.split_once('@').map(|x| x.1) != Some(s) => {
            Some(format!("it is a clone of {o}"))
        }
        Some(o) if !b.ds(dataset_of(o)).is_some_and(|d| d.has_snapshot(s)) => {
            Some(format!("its origin {o} is gone"))
        }
        Some(_) if !staged.snaps().is_empty() => Some("it has snapshots".to_string()),
        Some(_) if b.pool.descendants(t).next().is_some() => {
            Some("it has child datasets".to_string())
        }
        Some(_) if staged.mounted => Some("it is mounted".to_string()),
        Some(_) => None,
    };
    match why {
        None => Ok(staged.origin.clone().expect("checked")),
        Some(why) => Err(runtime(format!(
            "{t} exists and is not an unused clone of the blank left by blankroot ({why}): nothing was changed; rename or destroy it, blankroot needs that name to stage the new root"
        ))),
    }
}
