//! The #231 trap (impermanence issue 231): a persistent store, or a subvolume another
//! `fileSystems` entry mounts, that lies inside a wiped target is wiped with it. Read from the
//! configuration alone ("stores", "mounts", "targets"), before anything is looked at on disk.

use crate::config::Config;
use crate::names::Name;
use crate::target::{Fs, Target};
use std::path::Path;

/// One line per trap found in `target` (problems: the next boot deletes persisted data).
pub fn findings(target: &Target, c: &Config) -> Vec<String> {
    let mp = &target.mount_point;
    let mut out = Vec::new();
    // The deepest other filesystem the configuration mounts at or above `p`, below the target.
    let covering = |p: &Path| {
        c.targets
            .iter()
            .map(|t| t.mount_point.as_str())
            .chain(c.mounts.iter().map(|m| m.mount_point.as_str()))
            .map(Path::new)
            .filter(|m| *m != mp.as_path() && mp.holds(m) && p.starts_with(m))
            .max_by_key(|m| m.components().count())
            .is_some()
    };
    for s in &c.stores {
        let p = Path::new(s);
        if mp.holds(p) && !covering(p) {
            out.push(format!(
                "the persistent store {s} lies inside the wiped target {mp}: the next boot wipes it with {mp} and every persisted path comes back empty; put the store on its own subvolume or dataset mounted outside {mp} (or mounted on {s} as its own fileSystems entry)"
            ));
        }
    }
    if let Fs::Btrfs { device, config, .. } = &target.fs {
        for m in &c.mounts {
            let same_dev = m.device.as_deref().map(Path::new) == Some(device.as_path());
            let Some(sub) = m.subvolume.as_deref().filter(|_| same_dev) else {
                continue;
            };
            let Ok(name) = Name::parse("subvolume", sub) else {
                continue;
            };
            let protected = config.protect.iter().any(|p| name.is_within(p));
            if name != config.root && name.is_within(&config.root) && !protected {
                out.push(format!(
                    "the subvolume {name} mounted on {} lies inside the wiped target {mp} (subvolume {}): the next boot deletes it with {mp}; move it out (e.g. `btrfs subvolume snapshot` it to the top level and mount that) or add --protect {name} to {mp}'s options",
                    m.mount_point, config.root
                ));
            }
        }
    }
    out
}
