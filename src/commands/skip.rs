//! `blankroot skip-next-boot`: a one-shot request, on the disk, that the next rollback leaves a
//! target as it is — the way in when the kernel command line cannot be edited (Secure Boot). By
//! default every target (as `rd.blankroot=0`: that boot wipes nothing). The engines keep the
//! request (`btrfs::skip`: a marker per root in the top-level subvolume; `zfs::skip`: a user
//! property on the dataset) and consume it at the next boot.

use crate::btrfs::mount::TopMount;
use crate::error::Result;
use crate::target::{Fs, Target};
use crate::zfs::cmd::Tools;

/// Records (or with `cancel` removes) the request for each target and returns the worst exit
/// code; a target that fails is named, the others' requests stand.
pub fn run_all(targets: &[Target], cancel: bool) -> u8 {
    let now = crate::failpoint::now();
    let mut worst = 0;
    for t in targets {
        worst = worst.max(run_one(t, cancel, now));
    }
    worst
}

fn run_one(target: &Target, cancel: bool, now: i64) -> u8 {
    let who = if target.mount_point.is_root() {
        String::new()
    } else {
        format!("{}: ", target.mount_point)
    };
    match apply(target, cancel, now) {
        Ok(message) => {
            println!("blankroot: {who}{message}");
            0
        }
        Err(e) => {
            eprintln!("blankroot: error: {who}{e}");
            e.exit_code()
        }
    }
}

fn apply(target: &Target, cancel: bool, now: i64) -> Result<String> {
    let cancel_hint = "withdraw it with `blankroot skip-next-boot --cancel`";
    match &target.fs {
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let top = TopMount::mount(device, mount_options.as_deref(), false)?;
            let where_ = if target.mount_point.is_root() {
                format!("the root {} (btrfs {})", config.root, device.display())
            } else {
                format!(
                    "{} (subvolume {} on btrfs {})",
                    target.mount_point,
                    config.root,
                    device.display()
                )
            };
            if cancel {
                let had = crate::btrfs::skip::pending_for(&top, &config.root)?;
                let removed = crate::btrfs::skip::clear_for(&top, &config.root)?;
                top.commit()?;
                return Ok(match (removed, had) {
                    (true, Some(r)) => format!(
                        "the request of {} is withdrawn: the next boot rolls {} back as usual",
                        r.requested_at, config.root
                    ),
                    _ => format!("no skip-next-boot request was pending for {where_}"),
                });
            }
            let req = crate::btrfs::skip::request(&top, &config.root, now)?;
            top.commit()?;
            Ok(format!(
                "the next boot leaves {where_} as it is, once (requested at {}); {cancel_hint}",
                req.requested_at
            ))
        }
        Fs::Zfs(c) => {
            let tools = Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            let where_ = if target.mount_point.is_root() {
                format!("the root dataset {}", c.dataset)
            } else {
                format!("{} (dataset {})", target.mount_point, c.dataset)
            };
            if cancel {
                return Ok(match crate::zfs::skip::pending(&tools, &c.dataset)? {
                    Some(when) => {
                        crate::zfs::skip::clear(&tools, &c.dataset)?;
                        format!("the request of {when} is withdrawn: the next boot rolls {} back as usual", c.dataset)
                    }
                    None => format!("no skip-next-boot request was pending for {where_}"),
                });
            }
            let when = crate::zfs::skip::request(&tools, &c.dataset, now)?;
            Ok(format!(
                "the next boot leaves {where_} as it is, once (requested at {when}); {cancel_hint}"
            ))
        }
    }
}

/// When a pending request was made, if one is pending (read-only).
pub fn pending(target: &Target) -> Result<Option<String>> {
    match &target.fs {
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let top = TopMount::mount(device, mount_options.as_deref(), true)?;
            let req = crate::btrfs::skip::pending_for(&top, &config.root)?;
            top.unmount()?;
            Ok(req.map(|r| r.requested_at))
        }
        Fs::Zfs(c) => {
            let tools = Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            crate::zfs::skip::pending(&tools, &c.dataset)
        }
    }
}
