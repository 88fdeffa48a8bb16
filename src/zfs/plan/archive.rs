//! Archive mode: stage a clone of the blank, archive the old root under its time, promote the
//! clone; and the pruning of old archives by the retention rules.

use super::{kind_name, list, runtime, Builder, NOT_CARRIED};
use crate::error::Result;
use crate::retention::{self, Stamp};
use crate::zfs::model::{Effect, Kind, Pool, ARCHIVE_PROPERTY};
use crate::zfs::name::{Dataset, MAX_NAME};
use crate::zfs::{ArchiveTo, Config};

fn automounts(canmount: &str, mountpoint: &str) -> bool {
    canmount == "on" && !matches!(mountpoint, "legacy" | "none")
}

pub(super) fn archive_job(b: &mut Builder<'_>, archive: &ArchiveTo, now: i64) -> Result<()> {
    let cfg = b.cfg;
    let r = b.root().to_string();
    let t = cfg.staging().as_str().to_string();
    let s = cfg.snapshot.as_str();
    let a = archive.parent.as_str();
    let root = b.ds(&r).cloned().expect("recovered");

    let mut children = Vec::new();
    for (n, _) in b.pool.descendants(&r) {
        children.push(n.clone());
    }
    if !children.is_empty() {
        return Err(runtime(format!(
            "{r} has child datasets ({}): archiving the root would move them into the archive with it: nothing was changed; move them beside the root (zfs rename) or drop --archive-dir (zfs rollback leaves child datasets alone)",
            list(&children, 3)
        )));
    }
    if automounts(&root.canmount, &root.mountpoint) {
        return Err(runtime(format!(
            "{r} has canmount=on and mountpoint={}: zfs would mount the new root and every archive by itself: nothing was changed; set canmount=noauto (zfs set canmount=noauto {r}), the initrd mounts / explicitly",
            root.mountpoint
        )));
    }
    let parent_ds = b.ds(a).cloned();
    let archive_mountpoint = match (&parent_ds, root.local.get("mountpoint")) {
        (_, Some(own)) => own.clone(),
        (None, None) => "none".into(),
        (Some(p), None) if matches!(p.mountpoint.as_str(), "legacy" | "none") => {
            p.mountpoint.clone()
        }
        (Some(p), None) => format!("{}/...", p.mountpoint.trim_end_matches('/')),
    };
    if automounts(&root.canmount, &archive_mountpoint) {
        return Err(runtime(format!(
            "archives of {r} would inherit mountpoint {archive_mountpoint} from --archive-dir {a} and be mounted by zfs mount -a: nothing was changed; set mountpoint=none on {a} (zfs set mountpoint=none {a}) or canmount=noauto on {r}"
        )));
    }
    let create_parent = match &parent_ds {
        Some(p) if p.kind != Kind::Filesystem => {
            return Err(runtime(format!(
                "--archive-dir {a} is a {}, not a filesystem: nothing was changed; choose another --archive-dir",
                kind_name(&p.kind)
            )))
        }
        Some(_) => false,
        None => {
            let parent = archive.parent.parent().expect("checked: not a pool");
            if b.ds(parent.as_str()).is_none() {
                return Err(runtime(format!(
                    "--archive-dir {a} does not exist and neither does {parent}: nothing was changed; create it (zfs create -p -o canmount=off -o mountpoint=none {a}) or choose another --archive-dir"
                )));
            }
            true
        }
    };

    let mut props = Vec::new();
    for (k, v) in root.local.iter() {
        if !NOT_CARRIED.contains(&k.as_str()) {
            props.push((k.clone(), v.clone()));
        }
    }
    let cut = root
        .snaps()
        .iter()
        .position(|x| x.name == s)
        .expect("recovered");
    let newer = root.snaps().len() - cut - 1;
    if newer > 0 {
        b.plan.notes.push(format!(
            "{newer} snapshot(s) of {r} newer than the blank go into the archive with the old root"
        ));
    }

    let mut taken = Vec::new();
    for (n, _) in b.pool.children(a) {
        taken.push(Dataset::from_listed(n).basename().to_string());
    }
    let stamps: Vec<Stamp> = taken.iter().filter_map(|t| retention::parse(t)).collect();
    let (base, behind) = retention::next_name(now, stamps, |n| taken.iter().any(|t| t == n));
    if behind {
        b.plan.warnings.push(format!(
            "the clock ({}) is behind the newest archive: naming the new one {base} so it sorts after it",
            retention::format(Stamp { secs: now, seq: 0 })
        ));
    }
    let name = archive.parent.child(&base);
    if let Some(long) = root
        .snaps()
        .iter()
        .map(|x| format!("{name}@{}", x.name))
        .find(|full| full.len() > MAX_NAME)
    {
        return Err(runtime(format!(
            "archiving {r} would give its snapshot the name {long}, longer than ZFS allows: nothing was changed; choose a shorter --archive-dir"
        )));
    }

    // The archive parent first: creating it is the one step that needs an encrypted pool's key
    // (a new dataset inherits the encryption root's key; a clone, a rename and a promote do
    // not), so without the key the run stops before anything else changed.
    if create_parent {
        b.push(
            Effect::Create {
                name: a.to_string(),
                props: vec![
                    ("canmount".into(), "off".into()),
                    ("mountpoint".into(), "none".into()),
                ],
            },
            "the archive parent (never mounted)",
        )?;
    }
    b.push(
        Effect::Clone {
            snapshot: cfg.dataset.at(s),
            name: t.clone(),
            props,
        },
        "stage the new root: a clone of the blank with the root's own properties",
    )?;
    prune(b, archive, now, 1)?;
    b.push(
        Effect::SetProperty {
            name: r.clone(),
            property: ARCHIVE_PROPERTY.into(),
            value: base,
        },
        "mark the old root as an archive blankroot made (only marked archives are pruned)",
    )?;
    b.push(
        Effect::Rename {
            from: r.clone(),
            to: name.to_string(),
        },
        "archive the old root (its snapshots go with it)",
    )?;
    b.push(
        Effect::Rename {
            from: t,
            to: r.clone(),
        },
        "the new root takes the root's name",
    )?;
    b.push(
        Effect::Promote { name: r },
        "the new root takes over the blank; the archive becomes its clone",
    )?;
    b.plan.archive = Some(name.to_string());
    Ok(())
}

/// Destroys the archives the retention rules select, and records what is left alone and why.
pub(super) fn prune(
    b: &mut Builder<'_>,
    archive: &ArchiveTo,
    now: i64,
    adding: usize,
) -> Result<()> {
    let mut candidates: Vec<(String, Stamp)> = Vec::new();
    for s in sort_archives(&b.pool, b.cfg, archive.parent.as_str()) {
        match (s.left_alone, s.stamp) {
            (Some(reason), _) => b.plan.left_alone.push(format!("{} ({reason})", s.name)),
            (None, Some(stamp)) => candidates.push((s.base, stamp)),
            (None, None) => unreachable!("a name that is not a time has a reason"),
        }
    }
    let verdict = retention::select(&candidates, archive.policy, now, adding);
    b.plan.warnings.extend(verdict.warnings);
    for base in verdict.prune {
        let full = archive.parent.child(&base).to_string();
        let snaps: Vec<String> = b
            .ds(&full)
            .expect("a candidate")
            .snaps()
            .iter()
            .map(|x| format!("{full}@{}", x.name))
            .collect();
        b.push(
            Effect::Destroy {
                name: full.clone(),
                recursive: !snaps.is_empty(),
            },
            "prune an old archive",
        )?;
        b.plan.destroyed_snapshots.extend(snaps);
        b.plan.pruned.push(full);
    }
    Ok(())
}

/// How retention sees one dataset directly under the archive parent.
pub struct Sorted {
    /// The full dataset name.
    pub name: String,
    /// Its last component.
    pub base: String,
    /// The archive time in its name, when it is one.
    pub stamp: Option<Stamp>,
    /// Why retention never destroys it; `None` for a prune candidate.
    pub left_alone: Option<String>,
}

/// The datasets directly under the archive parent `parent`, in name order, as retention sees
/// them. Shared by the rollback's pruning and `blankroot archives`.
pub fn sort_archives(pool: &Pool, cfg: &Config, parent: &str) -> Vec<Sorted> {
    let mut out = Vec::new();
    for (full, ds) in pool.children(parent) {
        let base = Dataset::from_listed(full).basename().to_string();
        let stamp = retention::parse(&base);
        let mounted = ds.mounted || pool.descendants(full).any(|(_, d)| d.mounted);
        let dependents = pool.dependents(full);
        let held = ds.snaps().iter().find(|x| x.held);
        let left_alone = if ds.kind != Kind::Filesystem {
            Some(format!("a {}", kind_name(&ds.kind)))
        } else if stamp.is_none() {
            Some("its name is not an archive time".to_string())
        } else if ds.mark.as_deref() != Some(base.as_str()) && !cfg.prune_unmarked {
            Some(format!(
                "not marked as an archive blankroot made ({ARCHIVE_PROPERTY}); destroy it by hand, or pass --prune-unmarked"
            ))
        } else if pool.descendants(full).next().is_some() {
            Some("it has child datasets".to_string())
        } else if mounted {
            Some("mounted".to_string())
        } else if let Some((clone, origin)) = dependents.first() {
            Some(format!("{clone} is a clone of its snapshot {origin}"))
        } else {
            held.map(|h| format!("its snapshot @{} is held", h.name))
        };
        out.push(Sorted {
            name: full.clone(),
            base,
            stamp,
            left_alone,
        });
    }
    out
}
