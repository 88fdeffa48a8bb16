//! Btrfs: the real inspection and plan (`btrfs::inspect`, `plan::plan`) run against a read-only
//! mount of the top level. The one refusal that does not apply is "the root is mounted": it is,
//! on a running system, and the rollback runs before it is mounted. Every other refusal of the
//! real run is a problem here, and so are two things the real run cannot see: a subvolume inside
//! the root mounted somewhere (the next boot deletes it with the root) and `/` mounted from
//! another subvolume than the one configured (the next boot would not reset `/`).
//!
//! What must not be lost is looked for in the root subvolume itself, in that read-only mount:
//! what the wipe takes, including what lies under a mount point. Where the root is mounted (on
//! `/` on the system it runs), the mount points of other filesystems on it survive.

use super::persist::{self, Lists, View};
use super::tree::Tree;
use super::Verdict;
use crate::btrfs::inspect;
use crate::btrfs::mount::TopMount;
use crate::btrfs::plan::{self, Source};
use crate::error::Result;
use crate::host::Host;
use crate::mountinfo::{self, Mount};
use crate::names::Name;
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
use std::path::Path;

pub fn check(
    device: &Path,
    mount_options: Option<&str>,
    cfg: &plan::Config,
    lists: &Lists,
    host: &Host,
) -> Verdict {
    let mut v = Verdict {
        title: format!(
            "btrfs {}: root {} from {}",
            device.display(),
            cfg.root,
            match &cfg.source {
                Source::Blank(b) => format!("the blank {b}"),
                Source::Empty => "an empty subvolume (--empty)".into(),
            }
        ),
        ..Verdict::default()
    };
    let at = Checked {
        device,
        mount_options,
        cfg,
        lists,
        host,
    };
    if let Err(e) = at.run(&mut v) {
        v.problems.push(e.message);
    }
    v
}

struct Checked<'a> {
    device: &'a Path,
    mount_options: Option<&'a str>,
    cfg: &'a plan::Config,
    lists: &'a Lists,
    host: &'a Host,
}

impl Checked<'_> {
    fn run(&self, v: &mut Verdict) -> Result<()> {
        let cfg = self.cfg;
        let top = TopMount::mount(self.device, self.mount_options, true)?;
        let mut facts = inspect::inspect(&top, cfg, crate::time::unix_now())?;
        if let Some(req) = crate::btrfs::skip::pending_for(&top, &cfg.root)? {
            v.notes.push(skip_note(&req.requested_at));
        }
        let staging = cfg.staging();
        let mut kept = Vec::new();
        for m in std::mem::take(&mut facts.mounts) {
            match Name::parse("mount", &m.fs_path) {
                Ok(p) if p == cfg.root => v.notes.push(format!(
                    "the root {} is mounted at {} (as expected on a running system: the rollback runs before it is mounted)",
                    cfg.root, m.mountpoint
                )),
                Ok(p) if p.is_within(&cfg.root) => v.problems.push(format!(
                    "{p} is mounted at {} but lies inside the root {}: the next boot deletes it with the root; move it out of the root (e.g. a top-level subvolume) if it must persist",
                    m.mountpoint, cfg.root
                )),
                Ok(p) if p.is_within(&staging) => kept.push(m),
                _ => {}
            }
        }
        facts.mounts = kept;
        let mounts = self.host.mounts();
        live_root(&mounts, &top, cfg, v);
        match plan::plan(cfg, &facts) {
            Ok(p) => {
                v.notes.append(&mut p.notes.clone());
                v.warnings.extend(p.warnings.iter().cloned());
                for l in &p.left_alone {
                    v.notes
                        .push(format!("left alone in the archive directory: {l}"));
                }
                let min_free = cfg
                    .min_free
                    .unwrap_or_else(|| plan::default_min_free(facts.space.total));
                if cfg.archive.is_none()
                    && (facts.space.metadata < min_free || facts.space.data < min_free)
                {
                    v.warnings.push(format!(
                        "only {} MiB free for data and {} MiB for metadata (under --min-free-space {} MiB): deleting the root may fail",
                        facts.space.data >> 20,
                        facts.space.metadata >> 20,
                        min_free >> 20
                    ));
                }
                v.plan = p.to_string();
            }
            Err(e) => v.problems.push(e.message),
        }
        if let Some(view) = self.view(&mounts, &top, v) {
            v.losses = persist::findings(&view, self.lists);
        }
        top.unmount()?;
        Ok(())
    }

    /// The root subvolume in the top-level mount, with where it is mounted and what is mounted
    /// on it there.
    fn view(&self, mounts: &[Mount], top: &TopMount, v: &mut Verdict) -> Option<View> {
        let cfg = self.cfg;
        let dir = openat2(
            top.fd(),
            cfg.root.to_path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
        )
        .ok()?;
        let root_path = Path::new("/").join(cfg.root.to_path());
        let ours = mounts.iter().find(|m| m.mount_point == top.path());
        let at = ours.and_then(|o| mountinfo::mounted_from(mounts, &o.dev, &root_path));
        let mut view = View {
            tree: Tree {
                dir,
                mount_point: self.lists.mount_point.clone(),
            },
            at: at.map(|m| m.mount_point.clone()),
            mounts: Vec::new(),
            beneath: Some(self.mount_command()),
        };
        match (at, ours) {
            (Some(at), Some(ours)) => {
                // Mounts of what lies inside the root are wiped with it.
                let inside = |m: &Mount| m.dev == ours.dev && m.fs_root.starts_with(&root_path);
                for (rel, m) in mountinfo::below(mounts, &at.mount_point) {
                    let rel = self.lists.mount_point.join(&rel);
                    if m.mount_point != top.path() && !inside(m) {
                        if persist::watched(&rel, self.lists) {
                            v.notes.extend(super::overlay_note(m));
                        }
                        view.mounts.push(rel);
                    }
                }
            }
            _ => {
                if !self.lists.persistence.is_empty() {
                    v.notes.push(format!(
                        "the root {} is not mounted here: the persistent copies of the configuration's persisted paths were not compared with it",
                        cfg.root
                    ));
                }
            }
        }
        Some(view)
    }

    /// Mounts the root subvolume read-only on "$d", for copying what a mount hides.
    fn mount_command(&self) -> String {
        let mut opts = format!("ro,subvol={}", self.cfg.root);
        if let Some(o) = self.mount_options {
            opts = format!("{opts},{o}");
        }
        format!(
            "mount -o {} {} \"$d\"",
            persist::sh_word(opts.as_ref()),
            persist::sh_word(self.device.as_os_str())
        )
    }
}

/// `/` must be the configured root when `/` is on this filesystem.
fn live_root(mounts: &[Mount], top: &TopMount, cfg: &plan::Config, v: &mut Verdict) {
    let Some(ours) = mounts.iter().find(|m| m.mount_point == top.path()) else {
        return;
    };
    let Some(slash) = mountinfo::mount_of(mounts, Path::new("/")) else {
        return;
    };
    let root_path = Path::new("/").join(cfg.root.to_path());
    if slash.dev != ours.dev {
        v.notes.push(format!(
            "/ is not on this filesystem ({} {}): checking a disk this system does not run from",
            slash.fstype, slash.source
        ));
    } else if slash.fs_root != root_path {
        v.problems.push(format!(
            "/ is mounted from {} of this filesystem, not from the root {}: the next boot would not reset /; fix --subvolume",
            slash.fs_root.display(),
            cfg.root
        ));
    }
}

/// The note for a pending skip-next-boot request (both engines).
pub(super) fn skip_note(requested_at: &str) -> String {
    format!(
        "a skip-next-boot request (made {requested_at}) is pending: the next boot leaves the root as it is, once (`blankroot skip-next-boot --cancel` withdraws it)"
    )
}
