//! A root with no blank (tmpfs, "Impermanent NixOS: on a VM + tmpfs root + flakes + LUKS" (2024)): everything on the root's filesystem is erased, except
//! what is mounted on it or persisted.

use super::model::Reason;
use super::walk::{self, Walker};
use super::{base_filter, Options, Outcome};
use crate::error::{Error, Result};
use crate::mountinfo;
use std::path::Path;

pub fn diff(root: &Path, opts: &Options) -> Result<Outcome> {
    let live = walk::open_path(root)
        .map_err(|e| Error::io(format!("opening --root {}", root.display()), e))?;
    let mut filter = base_filter(opts, &live)?;
    let canonical = std::fs::canonicalize(root)
        .map_err(|e| Error::io(format!("resolving {}", root.display()), e))?;
    let mounts = mountinfo::read();
    for (rel, _) in mountinfo::below(&mounts, &canonical) {
        filter.exclude(rel, Reason::MountPoint);
    }
    let fstype = mountinfo::mount_of(&mounts, &canonical)
        .map(|m| m.fstype.clone())
        .unwrap_or_else(|| "?".into());
    let mut w = Walker::new(&filter);
    w.live_mount = walk::mount_id(&live);
    w.btrfs = walk::is_btrfs(&live);
    let diff = w.compare(&live, None);
    let system = opts
        .system
        .then(|| super::suggest::system::read(rustix::fd::AsFd::as_fd(&live)));
    Ok(Outcome {
        system,
        diff,
        title: format!(
            "{} ({fstype}) has no blank: everything on it is erased at boot",
            canonical.display()
        ),
        target: super::target_json(&[
            ("filesystem", Some(&fstype)),
            ("root", Some(&canonical.to_string_lossy())),
        ]),
    })
}
