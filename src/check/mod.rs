//! `blankroot check`: the rollback's preflight on the running system, without writing anything.
//!
//! Btrfs: the real inspection and plan (`btrfs::inspect`, `plan::plan`) run against a read-only
//! mount of the top level. The one refusal that does not apply is "the root is mounted": it is,
//! on a running system, and the rollback runs before it is mounted. Every other refusal of the
//! real run is a problem here, and so are two things the real run cannot see: a subvolume inside
//! the root mounted somewhere (the next boot deletes it with the root) and `/` mounted from
//! another subvolume than the one configured (the next boot would not reset `/`).
//!
//! ZFS: the ZFS engine's own inspection and plan (`zfs::inspect`, `zfs::plan`), with the root
//! taken as unmounted for the same reason; the engine warns about the newer snapshots
//! `zfs rollback -r` would destroy.

use crate::btrfs::inspect;
use crate::btrfs::mount::TopMount;
use crate::btrfs::plan::{self, Source};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::mountinfo;
use crate::names::Name;
use crate::probe;
use crate::target::Target;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What the check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub title: String,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
    /// The steps the rollback would take, as its dry run prints them.
    pub plan: String,
}

impl Verdict {
    pub fn render(&self) -> String {
        let mut out = format!("blankroot check: {}\n", self.title);
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        if !self.plan.is_empty() {
            out += "  the next boot's rollback would:\n";
            for line in self.plan.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        for p in &self.problems {
            let _ = writeln!(out, "  PROBLEM: {p}");
        }
        out += &match (self.problems.len(), self.warnings.len()) {
            (0, 0) => "verdict: OK: the next boot's rollback will go through\n".to_string(),
            (0, w) => format!(
                "verdict: OK with {w} warning{}: the next boot's rollback will go through\n",
                if w == 1 { "" } else { "s" }
            ),
            (p, _) => format!(
                "verdict: {p} PROBLEM{} found: fix before rebooting\n",
                if p == 1 { "" } else { "S" }
            ),
        };
        out
    }
}

/// What `check` is given besides the target.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--persisted`: survive the boot (besides the configuration's).
    pub persisted: Vec<PathBuf>,
    pub persisted_from: Vec<PathBuf>,
    /// `--strict`: what must not be lost and would be is a problem (exit 1), not a warning.
    pub strict: bool,
    /// The configuration the target came from, when it did.
    pub config: Option<crate::config::Config>,
}

/// Runs `blankroot check` on `target` and returns the exit code: 0 ok, 1 problems found.
pub fn run(target: &Target, _opts: &Options, host: &Host) -> u8 {
    let mut v = check(target);
    if let Some(word) = host.kill_switch() {
        v.notes.push(format!(
            "{word} is on this boot's kernel command line (it only matters on the next boot's)"
        ));
    }
    print!("{}", v.render());
    if v.problems.is_empty() {
        0
    } else {
        1
    }
}

pub fn check(target: &Target) -> Verdict {
    match target {
        Target::Btrfs {
            device,
            config,
            mount_options,
        } => btrfs(device, mount_options.as_deref(), config),
        Target::Zfs(config) => zfs(config),
    }
}

fn btrfs(device: &Path, mount_options: Option<&str>, cfg: &plan::Config) -> Verdict {
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
    if let Err(e) = btrfs_inner(device, mount_options, cfg, &mut v) {
        v.problems.push(e.message);
    }
    v
}

fn btrfs_inner(
    device: &Path,
    mount_options: Option<&str>,
    cfg: &plan::Config,
    v: &mut Verdict,
) -> Result<()> {
    probe::require_btrfs(device)?;
    let top = TopMount::mount(device, mount_options, true)?;
    let mut facts = inspect::inspect(&top, cfg, crate::time::unix_now())?;
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
    live_root(&top, cfg, v);
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
    top.unmount()?;
    Ok(())
}

/// `/` must be the configured root when `/` is on this filesystem.
fn live_root(top: &TopMount, cfg: &plan::Config, v: &mut Verdict) {
    let mounts = mountinfo::read();
    let Some(ours) = mounts.iter().find(|m| m.mount_point == top.path()) else {
        return;
    };
    let Some(slash) = mountinfo::mount_of(&mounts, Path::new("/")) else {
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

fn zfs(c: &crate::zfs::Config) -> Verdict {
    let mut v = Verdict {
        title: format!("zfs {} from {}", c.dataset, c.dataset.at(&c.snapshot)),
        ..Verdict::default()
    };
    if let Err(e) = zfs_inner(c, &mut v) {
        v.problems.push(e.message);
    }
    v
}

/// The ZFS engine's own inspection and plan, with the root taken as unmounted.
fn zfs_inner(c: &crate::zfs::Config, v: &mut Verdict) -> Result<()> {
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
    Ok(())
}
