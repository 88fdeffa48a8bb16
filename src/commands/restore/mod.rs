//! `blankroot restore`: copies paths back out of an archived root (issue 11). Never writes into
//! an archive: Btrfs archives are read through a read-only private mount of the top level, ZFS
//! ones through a read-only mount of the archive dataset (`zfs::mount`).
//!
//! In order: the PATHs are checked (`paths`, usage errors), the archive is picked from the
//! engine's listing (`--from NAME`, default `latest`), every PATH is looked up in the archive
//! (`source`) and at its destination (`dest`); any refusal — a PATH not in the archive or
//! reached through a symlink, an existing destination without `--force`, a destination inside an
//! archive — stops everything before anything is written. Then each PATH is copied (`copy`,
//! the engine in `crate::copy`), and what could not be copied is listed.

use crate::archived::{archive_mode_off, size, Listing};
use crate::btrfs::{self, mount::TopMount};
use crate::copy::{self, dest, paths, source};
use crate::error::{Error, Result};
use crate::target::{Fs, Target};
use crate::zfs::{self, mount::ReadOnlyMount};
use dest::Dest;
use paths::Wanted;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{fstat, FileType};
use std::path::{Path, PathBuf};

/// What to restore, from where, to where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// An archive's name, or `latest`.
    pub from: String,
    /// Copy under this directory instead of into `/`.
    pub to: Option<PathBuf>,
    pub force: bool,
    pub dry_run: bool,
    /// Absolute paths as they were in the old root.
    pub paths: Vec<PathBuf>,
}

pub fn run(target: &Target, req: &Request) -> u8 {
    match restore(target, req) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            e.exit_code()
        }
    }
}

fn restore(target: &Target, req: &Request) -> Result<u8> {
    let wanted = paths::parse_all(&req.paths, paths::RESTORE)?;
    // A target other than `/`: its archives hold the tree below its mount point.
    let under: Vec<std::ffi::OsString> = target
        .mount_point
        .as_path()
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_owned()),
            _ => None,
        })
        .collect();
    for w in &wanted {
        if w.below(&under).is_none() && !under.is_empty() {
            return Err(Error::usage(format!(
                "restore: PATH {} is not below {}, the target whose archives are read: give paths under {} (or --target)",
                w.shown, target.mount_point, target.mount_point
            )));
        }
    }
    let archive_dir_given = match &target.fs {
        Fs::Btrfs { config, .. } => config.archive.is_some(),
        Fs::Zfs(c) => c.archive.is_some(),
    };
    if !archive_dir_given {
        return Err(archive_mode_off());
    }
    if !rustix::process::geteuid().is_root() {
        return Err(Error::runtime(
            "restore needs root: it mounts the archive read-only and keeps owners; run it with sudo",
        ));
    }
    let dest = Dest::open(req.to.as_deref()).map_err(Error::runtime)?;
    let now = crate::time::unix_now();
    match &target.fs {
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let top = TopMount::mount(device, mount_options.as_deref(), true)?;
            let listing = btrfs::archives::list(&top, config, now)?;
            let archive = listing.pick(&req.from)?;
            let root = btrfs::archives::open(&top, archive)?;
            let devices = btrfs_devices(&top, &listing);
            let code = job(&root, &archive.path, &devices, &wanted, &under, &dest, req);
            drop(root);
            top.unmount()?;
            Ok(code)
        }
        Fs::Zfs(c) => {
            let tools =
                zfs::cmd::Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            let listing = zfs::archives::list(&tools, c, now)?;
            let archive = listing.pick(&req.from)?;
            let mounted = ReadOnlyMount::mount(&tools, &archive.path)?;
            let root = mounted
                .fd()
                .try_clone_to_owned()
                .map_err(|e| Error::io("duplicating a descriptor", e))?;
            let devices: Vec<u64> = fstat(&root).map(|s| s.st_dev).into_iter().collect();
            let code = job(&root, &archive.path, &devices, &wanted, &under, &dest, req);
            drop(root);
            mounted.unmount()?;
            Ok(code)
        }
    }
}

/// The devices of every archive and of the subvolumes inside them (each Btrfs subvolume has
/// its own `st_dev`, the same through every mount): no destination may be on one.
fn btrfs_devices(top: &TopMount, listing: &Listing) -> Vec<u64> {
    let mut devs = Vec::new();
    for a in &listing.archives {
        let Ok(fd) = btrfs::archives::open(top, a) else {
            continue;
        };
        devs.extend(fstat(&fd).map(|s| s.st_dev));
        for n in &a.nested {
            if let Ok(nfd) = btrfs::nav::open_dir(&fd, Path::new(n.trim_start_matches('/'))) {
                devs.extend(fstat(&nfd).map(|s| s.st_dev));
            }
        }
    }
    devs
}

struct Item<'a> {
    wanted: &'a Wanted,
    found: source::Found,
    probe: dest::Probe,
    to: String,
}

/// Everything is checked before anything is written; then each PATH is copied. `under`: the
/// target's mount point, whose components the PATHs begin with and the archive lacks.
#[allow(clippy::too_many_arguments)]
fn job(
    root: &OwnedFd,
    archive: &str,
    devices: &[u64],
    wanted: &[Wanted],
    under: &[std::ffi::OsString],
    dest: &Dest,
    req: &Request,
) -> u8 {
    let mut refused = Vec::new();
    let mut items = Vec::new();
    for w in wanted {
        let to = dest.shown(w);
        let inside = w.below(under).expect("checked before anything was mounted");
        let place = source::Place {
            name: &format!("the archive {archive}"),
            cmd: "restore",
            cross_mounts: false,
        };
        let checked = source::lookup(root, &inside, &place).and_then(|mut found| {
            if !under.is_empty() {
                // The mount point's directories, if made under --to, look like the target's top.
                let top = fstat(root).map_err(|e| format!("looking at {archive}: {e}"))?;
                found.parents.splice(0..0, std::iter::repeat_n(top, under.len()));
            }
            let probe = dest.probe(w)?;
            if devices.contains(&probe.dev) {
                return Err(format!(
                    "{to} lies inside an archive: restore never writes into an archive; choose another --to"
                ));
            }
            dest::may_replace(
                probe.existing.as_ref(),
                &found.stat,
                "the archive",
                req.force,
                &to,
            )?;
            Ok(Item {
                wanted: w,
                found,
                probe,
                to: to.clone(),
            })
        });
        match checked {
            Ok(item) => items.push(item),
            Err(why) => refused.push(why),
        }
    }
    if !refused.is_empty() {
        return copy::refused("restore", &refused, wanted.len());
    }
    if req.dry_run {
        dry_run(archive, &items);
        return 0;
    }
    copy_all(archive, items, dest, req)
}

fn dry_run(archive: &str, items: &[Item<'_>]) {
    println!("restore from {archive} (dry run: nothing is copied)");
    let (mut entries, mut bytes) = (0u64, 0u64);
    for item in items {
        println!(
            "{} -> {} ({})",
            item.wanted.shown,
            item.to,
            dest::what_happens(item.probe.existing.as_ref(), &item.found.stat)
        );
        let f = &item.found;
        source::walk(
            f.dir.as_fd(),
            &f.name,
            &f.stat,
            &item.wanted.shown,
            &mut |path, st| match st {
                Ok(st) => {
                    entries += 1;
                    let size = if source::kind(st) == FileType::RegularFile {
                        bytes += st.st_size as u64;
                        format!(", {}", size(st.st_size as u64))
                    } else {
                        String::new()
                    };
                    println!("  would copy {path} ({}{size})", source::kind_name(st));
                }
                Err(why) => println!("  cannot copy {path}: {why}"),
            },
        );
    }
    println!(
        "would copy {entries} entries, {} of file content",
        size(bytes)
    );
}

fn copy_all(archive: &str, items: Vec<Item<'_>>, dest: &Dest, req: &Request) -> u8 {
    let mut copier = copy::Copier::new("restore", "the archive");
    let (mut full, mut partial, mut none) = (Vec::new(), Vec::new(), Vec::new());
    println!("restore from {archive}");
    for item in items {
        copier.entries = 0;
        copier.bytes = 0;
        let before = copier.problems.len();
        let existing = item.probe.existing;
        let parent = dest.make_parents(item.wanted, item.probe, &item.found.parents);
        let put = match &parent {
            Ok(p) => {
                // (ended before anything is printed of this path)
                let _progress = crate::progress::begin("restore");
                copier.put(
                    &item.found,
                    p,
                    item.wanted.parts.last().expect("a PATH has a name"),
                    existing.as_ref(),
                    &item.wanted.shown,
                )
            }
            Err(why) => {
                copier
                    .problems
                    .push(format!("{}: not copied: {why}", item.wanted.shown));
                false
            }
        };
        if let Ok(p) = &parent {
            let _ = rustix::fs::syncfs(p);
        }
        let summary = format!(
            "{} -> {}: {} entr{}, {}",
            item.wanted.shown,
            item.to,
            copier.entries,
            if copier.entries == 1 { "y" } else { "ies" },
            size(copier.bytes)
        );
        match (put, copier.problems.len() == before) {
            (true, true) => {
                println!("restored {summary}");
                full.push(item.wanted.shown.clone());
            }
            (true, false) => {
                println!("partly restored {summary} (what is missing is listed on stderr)");
                partial.push(item.wanted.shown.clone());
            }
            (false, _) => {
                println!("not restored: {}", item.wanted.shown);
                none.push(item.wanted.shown.clone());
            }
        }
    }
    if req.to.is_none() && !(full.is_empty() && partial.is_empty()) {
        println!(
            "note: / is wiped again at the next boot: persist what you restored (environment.persistence, preservation), or restore it --to the persistent directory"
        );
    }
    for p in &copier.problems {
        eprintln!("blankroot: {p}");
    }
    if partial.is_empty() && none.is_empty() {
        return 0;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    eprintln!(
        "blankroot: error: restore: restored in full: {}; partly: {}; not at all: {} (what was not copied is listed above)",
        list(&full),
        list(&partial),
        list(&none)
    );
    1
}
