//! `blankroot skip-next-boot`: a one-shot request, on the disk, that the next rollback leaves the
//! root as it is — the way in when the kernel command line cannot be edited (Secure Boot). The
//! engines keep the request (`btrfs::skip`: a marker in the top-level subvolume; `zfs::skip`: a
//! user property on the root dataset) and consume it at the next boot.

use crate::btrfs::mount::TopMount;
use crate::error::Result;
use crate::target::Target;
use crate::zfs::cmd::Tools;

/// Records (or with `cancel` removes) the request and returns the exit code.
pub fn run(target: &Target, cancel: bool) -> u8 {
    match apply(target, cancel, crate::failpoint::now()) {
        Ok(message) => {
            println!("blankroot: {message}");
            0
        }
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            e.exit_code()
        }
    }
}

fn apply(target: &Target, cancel: bool, now: i64) -> Result<String> {
    let cancel_hint = "withdraw it with `blankroot skip-next-boot --cancel`";
    match target {
        Target::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let top = TopMount::mount(device, mount_options.as_deref(), false)?;
            let where_ = format!("the root {} (btrfs {})", config.root, device.display());
            if cancel {
                let had = crate::btrfs::skip::pending(&top)?;
                let removed = crate::btrfs::skip::clear(&top)?;
                top.commit()?;
                return Ok(match (removed, had) {
                    (true, Some(r)) => format!(
                        "the request of {} is withdrawn: the next boot rolls {} back as usual",
                        r.requested_at, r.root
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
        Target::Zfs(c) => {
            let tools = Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            let where_ = format!("the root dataset {}", c.dataset);
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
    match target {
        Target::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let top = TopMount::mount(device, mount_options.as_deref(), true)?;
            let req = crate::btrfs::skip::pending(&top)?;
            top.unmount()?;
            Ok(req
                .filter(|r| r.root == config.root.to_string())
                .map(|r| r.requested_at))
        }
        Target::Zfs(c) => {
            let tools = Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            crate::zfs::skip::pending(&tools, &c.dataset)
        }
    }
}
