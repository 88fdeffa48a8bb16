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
                // The module's assertion says the same (nixos-module/booted.nix).
                "the persistent store {s} lies on {mp}, which is wiped at every boot: what it keeps would be erased with it (impermanence #231). Put the store on a filesystem of its own that is not wiped (fileSystems.\"{s}\" on its own subvolume or dataset, neededForBoot = true), or move it outside {mp}."
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
            // (--protect cannot name it: a protected name inside the root is refused.)
            if name != config.root && name.is_within(&config.root) {
                out.push(format!(
                    "the subvolume {name} mounted on {} lies inside the wiped target {mp} (subvolume {}): the next boot deletes it with {mp}; move it out of {} (`btrfs subvolume snapshot` it to the top level and mount that instead)",
                    m.mount_point, config.root, config.root
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MountEntry;
    use crate::target::{resolve, Request};

    fn home(protect: &[&str]) -> Target {
        resolve(&Request {
            device: Some("/dev/vda2".into()),
            subvolume: Some("home".into()),
            mount_point: Some("/home".into()),
            protect: protect.iter().map(|p| p.to_string()).collect(),
            ..Request::default()
        })
        .unwrap()
    }

    fn mount(mp: &str, sub: &str) -> MountEntry {
        MountEntry {
            mount_point: mp.into(),
            fs_type: Some("btrfs".into()),
            device: Some("/dev/vda2".into()),
            subvolume: Some(sub.into()),
            ..MountEntry::default()
        }
    }

    #[test]
    fn the_231_layouts_and_their_safe_forms() {
        let inside = Config {
            stores: vec!["/home/persist".into()],
            ..Config::default()
        };
        let f = findings(&home(&[]), &inside);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].starts_with(
                "the persistent store /home/persist lies on /home, which is wiped at every boot:"
            ),
            "{}",
            f[0]
        );
        // The store on its own subvolume, mounted there or outside: nothing.
        let own = Config {
            stores: vec!["/home/persist".into(), "/persist".into()],
            mounts: vec![mount("/home/persist", "persist")],
            ..Config::default()
        };
        assert_eq!(findings(&home(&[]), &own), Vec::<String>::new());
        // A persisted subvolume nested in `home`.
        let nested = Config {
            mounts: vec![mount("/home/alice/data", "home/alice-data")],
            ..Config::default()
        };
        let f = findings(&home(&[]), &nested);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains(
            "home/alice-data mounted on /home/alice/data lies inside the wiped target /home"
        ));
        assert!(f[0].contains("move it out of home"));
        // Moved to the top level: nothing; a protected subvolume elsewhere is not one of them.
        let moved = Config {
            mounts: vec![mount("/home/alice/data", "alice-data")],
            ..Config::default()
        };
        assert!(findings(&home(&["alice-data"]), &moved).is_empty());
    }
}
