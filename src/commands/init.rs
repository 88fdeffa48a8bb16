//! `blankroot init [TARGET]`: makes the blank of a target, explicitly (the rollback never makes
//! one), safe to run twice: an existing blank is left as it is (on ZFS, held if it is not).
//! Btrfs: a read-only subvolume beside the root holding the mount points the target needs
//! (`btrfs::blank`); ZFS: the held snapshot of an empty root (`zfs::blank`), or a refusal that
//! prints the way there from a populated one. Everything is checked before the first change.

use crate::btrfs::{blank as bblank, mount::TopMount};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::mount_point::MountPoint;
use crate::target::{Fs, Target};
use crate::zfs::blank::{self as zblank, State};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Request<'a> {
    /// `--dir`: more directories the blank holds, as the running system sees them.
    pub dirs: &'a [PathBuf],
    /// The configuration the target came from (its mounts and other targets).
    pub config: Option<&'a Config>,
    pub dry_run: bool,
}

pub fn run(t: &Target, req: &Request<'_>) -> u8 {
    match init(t, req) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            e.exit_code()
        }
    }
}

fn init(t: &Target, req: &Request<'_>) -> Result<()> {
    let wanted = wanted(&t.mount_point, req)?;
    if !rustix::process::geteuid().is_root() {
        return Err(Error::runtime(
            "init needs root: it mounts the filesystem and makes a subvolume or snapshot; run it with sudo",
        ));
    }
    let _lock = crate::commands::rollback::lock_for(t, Duration::from_secs(30))?;
    match &t.fs {
        Fs::Btrfs { config, .. } if config.source == crate::btrfs::plan::Source::Empty => {
            println!("init: {} is rolled back to an empty subvolume (--empty): it needs no blank; nothing was changed", t.mount_point);
            Ok(())
        }
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let crate::btrfs::plan::Source::Blank(blank) = &config.source else {
                unreachable!("--empty is handled above")
            };
            let top = TopMount::mount(device, mount_options.as_deref(), req.dry_run)?;
            let for_ = format!("the blank {blank} for {}", t.mount_point);
            if let Some(id) = bblank::find(&top, blank)? {
                println!(
                    "init: {for_} is there already (subvolume {id}, read-only): left as it is"
                );
                return top.unmount();
            }
            let dirs = bblank::dirs(&top, &config.root, &wanted);
            let listed: Vec<String> = dirs
                .iter()
                .filter(|d| !d.rel.as_os_str().is_empty())
                .map(|d| t.mount_point.join(&d.rel).display().to_string())
                .collect();
            let with = match listed.len() {
                0 => "no directory".to_string(),
                1 => format!("1 directory: {}", listed[0]),
                n => format!("{n} directories: {}", listed.join(" ")),
            };
            let populated = bblank::populated(&top, &config.root);
            if req.dry_run {
                println!("would make {for_} (read-only) with {with}\ndry run: nothing was changed");
                return top.unmount();
            }
            let id = bblank::make(&top, blank, &dirs)?;
            top.commit()?;
            println!("init: made {for_} (subvolume {id}, read-only) with {with}");
            if populated {
                next_boot(t, config.archive.as_ref().map(|a| a.dir.to_string()));
            }
            Ok(())
        }
        Fs::Zfs(c) => {
            let tools =
                crate::zfs::cmd::Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            let blank = c.dataset.at(&c.snapshot);
            let state = zblank::state(&tools, c)?;
            if state == State::Missing {
                if let Some(found) = zblank::content(&tools, c.dataset.as_str())? {
                    return Err(Error::runtime(format!(
                        "init: {} holds a populated root ({found}, and maybe more): its blank must be a snapshot of an empty root, and the running system cannot be emptied; nothing was changed.\n{}",
                        c.dataset,
                        zblank::steps(c)
                    )));
                }
            }
            let plan = zblank::plan(c, state);
            if req.dry_run {
                let shown: Vec<String> = plan
                    .iter()
                    .map(|a| format!("zfs {}", a.join(" ")))
                    .collect();
                if let State::Exists(n) = state {
                    println!("init: the blank {blank} is there already ({n} hold(s)): it gets blankroot's hold if it lacks it");
                }
                println!(
                    "would run: {}\ndry run: nothing was changed",
                    shown.join("; ")
                );
                return Ok(());
            }
            let changed = zblank::execute(&tools, &plan)?;
            let hold = format!(
                "held: zfs release {} {blank} before destroying it",
                zblank::HOLD_TAG
            );
            match (state, changed) {
                (State::Missing, _) => {
                    println!("init: made the blank {blank} of the empty root ({hold})")
                }
                (_, true) => println!("init: the blank {blank} is there already: {hold} now"),
                (_, false) => {
                    println!("init: the blank {blank} is there already (held): left as it is")
                }
            }
            Ok(())
        }
    }
}

/// What the first boot after `init` does to a populated root.
fn next_boot(t: &Target, archive: Option<String>) {
    match archive {
        Some(dir) => println!(
            "init: {} holds data now: the next boot keeps it as an archive in {dir} (blankroot archives, blankroot restore); persist what must survive first (blankroot diff --suggest, blankroot persist)",
            t.mount_point
        ),
        None => eprintln!(
            "blankroot: warning: {} holds data now and the target has no --archive-dir: the next boot deletes it; persist what must survive first (blankroot diff --suggest, blankroot persist)",
            t.mount_point
        ),
    }
}

/// The directories the blank needs, relative to the target: each mount point inside it that
/// the configuration lists (its mounts and other targets) and no nearer one hides, and `--dir`.
fn wanted(target: &MountPoint, req: &Request<'_>) -> Result<Vec<PathBuf>> {
    let mut points: Vec<PathBuf> = Vec::new();
    if let Some(c) = req.config {
        points.extend(c.mounts.iter().map(|m| PathBuf::from(&m.mount_point)));
        points.extend(
            c.target_entries()
                .into_iter()
                .map(|e| PathBuf::from(e.mount_point)),
        );
    }
    let inside = |p: &Path| target.holds(p) && p != target.as_path();
    let inner: Vec<&PathBuf> = points.iter().filter(|p| inside(p)).collect();
    let mut out: Vec<PathBuf> = inner
        .iter()
        .filter(|p| !inner.iter().any(|q| q != *p && p.starts_with(q)))
        .filter_map(|p| target.strip(p))
        .collect();
    for d in req.dirs {
        let m = MountPoint::parse("--dir", &d.to_string_lossy())?;
        match target.strip(m.as_path()) {
            Some(rel) if !rel.as_os_str().is_empty() => out.push(rel),
            _ => {
                return Err(Error::usage(format!(
                    "--dir {}: not inside the target {target}: give a directory beneath it, as the running system sees it (like {})",
                    d.display(),
                    target.join(Path::new("nix")).display()
                )))
            }
        }
    }
    Ok(out)
}
