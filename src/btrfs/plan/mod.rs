//! The Btrfs rollback decision: from the facts `btrfs::inspect` gathered to an ordered list of
//! steps. Pure: no system call here, so every case is unit tested and `--dry-run` prints it; the
//! executor (`btrfs::exec`) carries the steps out, one ioctl or rename each.
//!
//! The order is chosen so that the root's name exists at every instant once it existed, and a
//! crash at any instant leaves a disk on which the next run finishes the job:
//!
//! 1. leftovers of an interrupted run (`staging`): a missing root is made again from the blank
//!    before anything else (a snapshot, which works on a full disk where a rename does not); a
//!    pristine copy of the blank at the staging name is reused; an old root an interrupted run
//!    retired is archived or deleted, as its run meant to;
//! 2. the new root at `.blankroot-new-ROOT` beside the root: a writable snapshot of the blank, or
//!    an empty subvolume (the archive directory is made before it, when missing);
//! 3. the old root is marked ([`RETIRED_XATTR`] = its archive name, or `delete`): after a crash
//!    this proves that what sits at the staging name is the root blankroot retired;
//! 4. the swap: one `renameat2(RENAME_EXCHANGE)` of the two names. If it fails, the old root is
//!    in place; once it succeeds, `ROOT` is the new root;
//! 5. the old root, now at the staging name, is retired: archive mode moves it to
//!    `DIR/<UTC time>`; delete mode deletes its nested subvolumes, deepest first, then it;
//! 6. old archives are pruned (only those blankroot marked, never the newest);
//! 7. the transaction is committed by unmounting the top level.
//!
//! Every refusal comes before the first step: what is deleted or renamed is proven a subvolume
//! at the configured names, is neither mounted, the default subvolume nor protected, carries no
//! immutable or append-only attribute (nor does the directory holding it), and the metadata
//! space the largest step reserves is free.

mod archive;
mod config;
mod facts;
mod retire;
mod staging;
mod step;
#[cfg(test)]
mod tests;

pub use config::{default_min_free, Archive, Config, Source, ROOT_NAME_MAX, STAGING_PREFIX};
pub use facts::{
    ArchiveEntry, Entry, Facts, Mounted, Nested, Subvol, Tree, APPEND_ONLY, DELETE_MARK, IMMUTABLE,
    RETIRED_XATTR,
};
pub use step::{Mode, Plan, Step};

use crate::error::{Error, Result};
use crate::names::Name;
use archive::Archiver;
pub use archive::{sort_archives, Sorted};
use retire::{retire, unlocked};
use staging::Staged;

fn runtime(msg: String) -> Error {
    Error::runtime(msg)
}

/// Room left over the largest reservation, in metadata blocks: what the snapshot and the marks
/// of the same run use up before it (a few blocks each).
const SLACK_NODES: u64 = 64;

pub fn plan(cfg: &Config, f: &Facts) -> Result<Plan> {
    let mut p = Plan::new(if cfg.archive.is_some() {
        Mode::Archive
    } else {
        Mode::Delete
    });
    let root = &cfg.root;
    let staging = cfg.staging();
    let blank = blank(cfg, f, &mut p)?;
    let root_sub = match &f.root.entry {
        Entry::Subvolume(s) => Some(s),
        Entry::Absent => None,
        other => return Err(runtime(format!(
            "root {root} {}: nothing was changed; blankroot only replaces a subvolume: move it aside and create the subvolume, or fix --subvolume", other.describe()
        ))),
    };
    let Some(container) = f.root_container else {
        return Err(runtime(format!("the directory that should hold the root {root} does not exist: nothing was changed; fix --subvolume")));
    };
    refuse_mounted(cfg, f)?;
    let staged = staging::classify(&cfg.source, &f.staging, blank.map(|b| b.1));
    if root_sub.is_some() {
        refuse_untouchable(root, &f.root, f)?;
    }
    if matches!(staged, Staged::Retired(_) | Staged::Pristine(_)) {
        refuse_untouchable(&staging, &f.staging, f)?;
    }
    let mut archiver = match &cfg.archive {
        Some(a) => Some(Archiver::new(cfg, a, f, container, &mut p)?),
        None => None,
    };
    if archiver.as_ref().is_some_and(|a| a.low) {
        p.mode = Mode::Delete;
    }
    let mut dest = |p: &mut Plan| archiver.as_mut().and_then(|a| a.destination(p));
    let mark = f.staging.mark.as_deref();

    match root_sub {
        None => {
            p.notes.push(format!("the root {root} does not exist (a previous run was interrupted, or this is the first run): making it before anything else"));
            p.steps.push(make_new(cfg, blank, root.clone(), None));
            match &staged {
                Staged::Absent => {}
                Staged::Pristine(s) => {
                    p.notes.push(format!("{staging} is a pristine copy left by an interrupted run: deleting it"));
                    retire::delete_tree(&mut p, &staging, s, &f.staging, "leftover staging copy")?;
                }
                Staged::Retired(s) => {
                    p.notes.push(format!("{staging} is the old root an interrupted run retired: finishing its job"));
                    let to = dest(&mut p);
                    retire(&mut p, &staging, s, &f.staging, mark, to)?;
                }
                Staged::Foreign(why) => p.warnings.push(format!(
                    "{staging} {} and is not blankroot's{}: left alone; move it away, blankroot needs that name at the next boot",
                    f.staging.entry.describe(),
                    because(why)
                )),
            }
        }
        Some(rs) => {
            let mut reuse = None;
            let mut finished = None;
            match &staged {
                Staged::Absent => {}
                Staged::Pristine(s) => {
                    p.notes.push(format!("{staging} is a pristine copy left by an interrupted run: it becomes the new root"));
                    reuse = Some(s.id);
                }
                Staged::Retired(s) => {
                    p.notes.push(format!("{staging} is the old root an interrupted run retired: finishing its job"));
                    let to = dest(&mut p);
                    retire(&mut p, &staging, s, &f.staging, mark, to)?;
                    finished = Some(*s);
                }
                Staged::Foreign(why) => return Err(runtime(format!(
                    "{staging} {} and is not a copy of the blank left by blankroot{}: nothing was changed; move it away (blankroot needs that name to stage the new root)",
                    f.staging.entry.describe(),
                    because(why)
                ))),
            }
            let unused = finished.is_some_and(|old| {
                staging::unused_new_root(&cfg.source, rs, &f.root, blank.map(|b| b.1), old)
            });
            if unused {
                p.notes.push(format!("the root {root} is the copy of the blank that interrupted run made, unused since: it stays"));
            } else {
                let doing = format!("swapping the new root with {root}");
                unlocked(Some(root), rs.flags, &doing)?;
                unlocked(root.parent().as_ref(), f.root.parent_flags, &doing)?;
                let to = dest(&mut p);
                if to.is_none() {
                    // Checked on the names the user sees, before the swap renames them.
                    retire::deletable(root, rs, &f.root)?;
                }
                if reuse.is_none() {
                    let quota = f.root_qgroup.clone();
                    p.steps.push(make_new(cfg, blank, staging.clone(), quota));
                }
                if let Some(q) = &f.root_qgroup {
                    if let Some(limit) = q.limit() {
                        p.steps.push(Step::LimitQuota {
                            name: staging.clone(),
                            limit,
                            shown: q.describe_limit(),
                        });
                    }
                }
                if rs.read_only {
                    p.steps.push(Step::MakeWritable {
                        name: root.clone(),
                        id: rs.id,
                        why: "so it can be marked",
                    });
                }
                let value = to
                    .as_ref()
                    .map_or(DELETE_MARK, |d| d.basename())
                    .to_string();
                p.steps.push(Step::Mark {
                    name: root.clone(),
                    id: rs.id,
                    value: value.clone(),
                });
                p.steps.push(Step::Exchange {
                    staging: staging.clone(),
                    staging_id: reuse,
                    root: root.clone(),
                    root_id: rs.id,
                });
                let moved = f.root.moved(root, &staging);
                retire(&mut p, &staging, rs, &moved, Some(&value), to)?;
            }
        }
    }
    if let Some(a) = &archiver {
        a.prune(&mut p)?;
    }
    p.steps.push(Step::Commit);
    headroom(f, &p)?;
    Ok(p)
}

fn because(why: &str) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    }
}

/// The blank as found, or the refusal; a warning when it is writable.
fn blank<'f>(
    cfg: &'f Config,
    f: &'f Facts,
    p: &mut Plan,
) -> Result<Option<(&'f Name, &'f Subvol)>> {
    let root = &cfg.root;
    match (&cfg.source, &f.blank) {
        (Source::Blank(name), Some(Entry::Subvolume(s))) => {
            if !s.read_only {
                p.warnings.push(format!("the blank {name} is writable: anything written to it reappears in every new root; make it read-only with `btrfs property set -ts <top>/{name} ro true`"));
            }
            Ok(Some((name, s)))
        }
        (Source::Blank(name), Some(Entry::Absent)) => Err(runtime(format!(
            "blank snapshot {name} does not exist: nothing was changed; create it from an empty root (`btrfs subvolume snapshot -r <top>/{root} <top>/{name}` right after creating {root}) or pass --empty; `blankroot init` makes it, beside a root of any age"
        ))),
        (Source::Blank(name), Some(other)) => Err(runtime(format!(
            "blank snapshot {name} {}: nothing was changed; it must be a read-only snapshot (`btrfs subvolume snapshot -r`)", other.describe()
        ))),
        (Source::Blank(_), None) => unreachable!("inspect looks at the blank when there is one"),
        (Source::Empty, _) => Ok(None),
    }
}

/// The step that makes a new root at `dest`, with the old root's quota group settings.
fn make_new(
    cfg: &Config,
    blank: Option<(&Name, &Subvol)>,
    dest: Name,
    quota: Option<crate::btrfs::quota::Qgroup>,
) -> Step {
    match (&cfg.source, blank) {
        (Source::Blank(_), Some((name, s))) => Step::Snapshot {
            source: name.clone(),
            source_id: s.id,
            dest,
            quota,
        },
        _ => Step::CreateEmpty { dest, quota },
    }
}

fn refuse_mounted(cfg: &Config, f: &Facts) -> Result<()> {
    let staging = cfg.staging();
    for m in &f.mounts {
        let Ok(path) = Name::parse("mount", &m.fs_path) else {
            continue;
        };
        if path.is_within(&cfg.root) || path.is_within(&staging) {
            return Err(runtime(format!(
                "{path} is mounted at {}: nothing was changed; blankroot must run before the root is mounted (unmount it first)", m.mountpoint
            )));
        }
    }
    Ok(())
}

/// A tree this run deletes or renames must hold neither the default subvolume nor a protected
/// one.
fn refuse_untouchable(name: &Name, tree: &Tree, f: &Facts) -> Result<()> {
    if let Some(id) = tree.ids().find(|id| *id == f.default_subvol) {
        return Err(runtime(format!(
            "subvolume id {id} in {name} is the filesystem's default subvolume, which btrfs cannot delete: nothing was changed; run `btrfs subvolume set-default 5 <top>` (mount with subvol= instead)"
        )));
    }
    for (p, entry) in &f.protected {
        if let Entry::Subvolume(ps) = entry {
            if tree.ids().any(|id| id == ps.id) {
                return Err(Error::usage(format!(
                    "protected subvolume {p} (id {}) is inside {name} and would be deleted: nothing was changed; move it out of {name}", ps.id
                )));
            }
        }
    }
    Ok(())
}

/// Refuses when the metadata space the largest step reserves is not free: the kernel would
/// refuse that step, part-way through the plan.
fn headroom(f: &Facts, p: &Plan) -> Result<()> {
    let node = u64::from(f.space.nodesize.max(4096));
    let Some((step, need)) = p
        .steps
        .iter()
        .map(|s| (s, s.reservation(node)))
        .max_by_key(|(_, need)| *need)
    else {
        return Ok(());
    };
    if need == 0 {
        return Ok(());
    }
    let need = need + SLACK_NODES * node;
    if f.metadata_available < need {
        let kib = |b: u64| b.div_ceil(1024);
        return Err(runtime(format!(
            "only {} KiB of metadata space is free and one step (\"{step}\") needs about {} KiB: nothing was changed and the old root stays in place; free some space on this filesystem (delete files or snapshots you do not need, or old archives) and boot again",
            kib(f.metadata_available),
            kib(need)
        )));
    }
    Ok(())
}
