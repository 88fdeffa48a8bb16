//! Btrfs: the root subvolume against the read-only blank, both read through a read-only mount of
//! the top level (so nothing mounted on the live root hides what is under it), nested subvolumes
//! included (the rollback deletes them with the root).

use super::bulk;
use super::model::Reason;
use super::walk::{self, Walker};
use super::{base_filter, Options, Outcome, Target};
use crate::btrfs::ioctl;
use crate::btrfs::mount::TopMount;
use crate::btrfs::nav;
use crate::btrfs::plan::Entry;
use crate::error::{Error, Result};
use crate::mountinfo;
use crate::names::Name;
use rustix::fd::OwnedFd;
use std::path::Path;

pub fn diff(t: &Target, opts: &Options) -> Result<Outcome> {
    let Target::Btrfs {
        device,
        mount_options,
        root,
        blanks,
        empty,
        live,
    } = t
    else {
        unreachable!("called for Btrfs targets")
    };
    let top = TopMount::mount(device, mount_options.as_deref(), true)?;
    let root_fd = subvolume(&top, root, "root")?.ok_or_else(|| {
        Error::runtime(format!(
            "the root subvolume {root} does not exist on {}: check --subvolume",
            device.display()
        ))
    })?;
    let mut blank = None;
    for b in blanks {
        if let Some(fd) = subvolume(&top, b, "blank")? {
            blank = Some((b.clone(), fd));
            break;
        }
    }
    if !empty && blank.is_none() {
        let names: Vec<String> = blanks.iter().map(|b| b.to_string()).collect();
        return Err(Error::runtime(format!(
            "no blank snapshot ({}) on {}: the rollback would refuse too; create it or give --blank",
            names.join(" or "),
            device.display()
        )));
    }

    let mut notes = Vec::new();
    let mounts = mountinfo::read();
    let (live_fd, mut filter, live_mount) = match live {
        Some(path) => {
            drop(root_fd);
            let fd = walk::open_path(path)
                .map_err(|e| Error::io(format!("opening --root {}", path.display()), e))?;
            let canonical = std::fs::canonicalize(path)
                .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
            let mut f = base_filter(opts, &fd)?;
            for (rel, _) in mountinfo::below(&mounts, &canonical) {
                f.exclude(rel, Reason::MountPoint);
            }
            let id = walk::mount_id(&fd);
            (fd, f, id)
        }
        None => {
            let f = base_filter(opts, &root_fd)?;
            (root_fd, f, None)
        }
    };
    let mounted_at = match live {
        None => exclude_mounts(&top, root, &mounts, &mut filter, &mut notes),
        Some(_) => None,
    };
    let walker = || {
        let mut w = Walker::new(&filter);
        w.live_mount = live_mount;
        w.btrfs = true;
        w
    };
    let walk_note = |why: &str| {
        format!(
            "{why}: the trees were walked (readdir and one statx per path) instead of read in bulk"
        )
    };
    let blank_fd = blank.as_ref().map(|b| &b.1);
    let diff = if live.is_some() {
        notes.push(walk_note("the live tree is read through --root"));
        walker().compare(&live_fd, blank_fd)
    } else if std::env::var_os(WALK_VAR).is_some_and(|v| !v.is_empty()) {
        notes.push(walk_note(&format!("{WALK_VAR} is set")));
        walk_top(walker(), &top, &live_fd, blank_fd)
    } else {
        let blank = blank.as_ref().map(|(name, fd)| (name, fd));
        match read_bulk(walker(), &top, (root, &live_fd), blank) {
            Ok(d) => d,
            Err(e) => {
                notes.push(walk_note(&format!(
                    "the subvolumes' metadata could not be read in bulk ({})",
                    std::io::Error::from(e)
                )));
                walk_top(walker(), &top, &live_fd, blank_fd)
            }
        }
    };
    let mut diff = diff;
    diff.notes.extend(notes);
    // The live system as it runs (where the root is mounted: /nix and the rest are there too),
    // else the root subvolume itself.
    let system = opts.system.then(|| {
        mounted_at
            .as_deref()
            .and_then(super::suggest::system::read_at)
            .unwrap_or_else(|| super::suggest::system::read(rustix::fd::AsFd::as_fd(&live_fd)))
    });
    drop(live_fd);
    let blank_name = blank.map(|b| b.0.to_string());
    top.unmount()?;
    let against = match &blank_name {
        Some(b) => format!("the blank {b}"),
        None => "an empty subvolume (--empty)".into(),
    };
    Ok(Outcome {
        system,
        diff,
        title: format!(
            "btrfs {}: subvolume {root} against {against}",
            device.display()
        ),
        target: super::target_json(&[
            ("blank", blank_name.as_deref()),
            ("device", Some(&device.to_string_lossy())),
            ("filesystem", Some("btrfs")),
            (
                "live",
                live.as_ref().map(|p| p.to_string_lossy()).as_deref(),
            ),
            ("subvolume", Some(&root.to_string())),
        ]),
    })
}

/// Set (to anything but empty): read the trees with the walker (`readdir` and one `statx` per
/// path) even where they can be read in bulk; for tests and benchmarks.
pub const WALK_VAR: &str = "BLANKROOT_DIFF_WALK";

/// The walker through the top-level mount, with the sizes of one-sided files from the inode
/// tables when the filesystem can be synced first (how `diff` read Btrfs before bulk reading).
fn walk_top<'a>(
    mut w: Walker<'a>,
    top: &'a TopMount,
    live: &OwnedFd,
    blank: Option<&OwnedFd>,
) -> super::model::Diff {
    if rustix::fs::syncfs(top.fd()).is_ok() {
        w.fast = Some(walk::Fast::new(top.fd()));
    }
    w.compare(live, blank)
}

/// Compares the root with the blank from their metadata read in bulk (`bulk`), through our own
/// mount of the top level: nothing can be mounted inside it, so the trees' metadata is all
/// there is to read. The B-trees hold what the running system has flushed: pending writes are
/// flushed first (syncfs writes nothing of ours, it only commits what the running system
/// already wrote). An error: nothing was compared (the walker can still be used).
fn read_bulk(
    w: Walker<'_>,
    top: &TopMount,
    (root, root_fd): (&Name, &OwnedFd),
    blank: Option<(&Name, &OwnedFd)>,
) -> rustix::io::Result<super::model::Diff> {
    rustix::fs::syncfs(top.fd())?;
    let live = ioctl::subvol_info(root_fd)?.id;
    let blank = match blank {
        Some((name, fd)) => Some((name, ioctl::subvol_info(fd)?.id)),
        None => None,
    };
    let plan = bulk::plan(top.fd(), live, blank.map(|b| b.1), w.filter)?;
    bulk::with(top.fd(), plan, |mut src| {
        let live_dir = src.root(live, root.to_path())?;
        let blank_dir = match blank {
            Some((name, id)) => Some(src.root(id, name.to_path())?),
            None => None,
        };
        Ok(w.compare_in(src, live_dir, blank_dir))
    })
}

/// An open subvolume, `None` when the name does not exist; anything else there is an error.
fn subvolume(top: &TopMount, name: &Name, what: &str) -> Result<Option<OwnedFd>> {
    match nav::classify(top.fd(), name)? {
        (Entry::Subvolume(_), Some(fd)) => Ok(Some(fd)),
        (Entry::Absent, _) => Ok(None),
        (other, _) => Err(Error::runtime(format!(
            "the {what} {name} is not a subvolume ({other:?})"
        ))),
    }
}

/// Leaves out the mounts on the live root (found where the root subvolume is mounted), except
/// mounts of paths inside the root itself, which the rollback erases. Returns where the root
/// subvolume is mounted, if it is.
fn exclude_mounts(
    top: &TopMount,
    root: &Name,
    mounts: &[mountinfo::Mount],
    filter: &mut super::filter::Filter,
    notes: &mut Vec<String>,
) -> Option<std::path::PathBuf> {
    let ours = mounts.iter().find(|m| m.mount_point == top.path())?;
    let root_path = Path::new("/").join(root.to_path());
    let inside_root = |m: &mountinfo::Mount| m.dev == ours.dev && m.fs_root.starts_with(&root_path);
    for m in mounts {
        if inside_root(m) && m.fs_root != root_path {
            notes.push(format!(
                "{} is mounted at {} but lies inside the root: listed, the next boot erases it",
                m.fs_root.display(),
                m.mount_point.display()
            ));
        }
    }
    // The mount on `/` if there is one, else the first.
    let mut live = None;
    for m in mounts {
        if m.dev == ours.dev && m.fs_root == root_path {
            if m.mount_point == Path::new("/") {
                live = Some(m);
                break;
            }
            live = live.or(Some(m));
        }
    }
    let Some(at) = live else {
        notes.push(format!(
            "the root subvolume {root} is not mounted: no mount point is left out"
        ));
        return None;
    };
    if at.mount_point != Path::new("/") {
        notes.push(format!(
            "the root subvolume {root} is mounted at {}",
            at.mount_point.display()
        ));
    }
    for (rel, m) in mountinfo::below(mounts, &at.mount_point) {
        if m.mount_point != top.path() && !inside_root(m) {
            filter.exclude(rel, Reason::MountPoint);
        }
    }
    Some(at.mount_point.clone())
}
