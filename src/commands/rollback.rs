//! `blankroot rollback`: the guard rails around the engines (initrd check — or, for a target the
//! booted system unlocks, `--before-mount` and nothing of it mounted —, one run per disk and per
//! boot, kill switch) and the status record of each target's run.

use crate::error::{Error, Result};
use crate::host::Host;
use crate::lock;
use crate::mount_point::MountPoint;
use crate::report::Report;
use crate::status::{self, Action, Status};
use crate::target::{Fs, Target};
use crate::time;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The rollback's own options (the target is given apart).
#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub allow_outside_initrd: bool,
    /// The record's file; `None`: [`status::DEFAULT_PATH`], or beside it for a target other
    /// than `/` ([`status::path_for`]). With several targets, the root's.
    pub status_file: Option<PathBuf>,
    /// Seconds to wait for another run on the same disk (default [`DEFAULT_LOCK_WAIT`]).
    pub lock_wait: Option<u32>,
    /// The stage-2 unit of a target the booted system unlocks: allowed outside the initrd.
    pub before_mount: bool,
}

/// Runs `rollback` on each of `targets` in turn (the targets of a configuration), each with its
/// own lock and record (`--status-file` is the root's; the others' lie beside it), and returns
/// the worst exit code. A crash between two leaves each done or untouched; the next boot runs
/// them all again.
pub fn run_all(args: &Options, targets: Result<Vec<Target>>, host: &Host) -> u8 {
    let targets = match targets {
        Ok(t) => t,
        Err(e) => return run(args, Err(e), host),
    };
    let base = args
        .status_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(status::DEFAULT_PATH));
    let mut worst = 0;
    for (i, t) in targets.into_iter().enumerate() {
        if i > 0 {
            crate::failpoint::hit("between-targets");
        }
        let one = Options {
            status_file: Some(status::path_for(&base, &t.mount_point)),
            ..args.clone()
        };
        worst = worst.max(run(&one, Ok(t), host));
    }
    worst
}

/// Runs `rollback` on `target` (or records why there is none) and returns the exit code.
pub fn run(args: &Options, target: Result<Target>, host: &Host) -> u8 {
    let clock = Instant::now();
    let started = crate::failpoint::now();
    if let Err(err) = allowed_here(args, target.as_ref().ok(), host) {
        // Not at boot: no status record, so the booted system's record stays as it was.
        let err = target.err().unwrap_or(err);
        log::error!("{err}");
        return err.exit_code();
    }
    let mount_point = target
        .as_ref()
        .map(|t| t.mount_point.clone())
        .unwrap_or_else(|_| MountPoint::root());
    crate::failpoint::scope(&mount_point.escaped());
    let status_file = args.status_file.clone().unwrap_or_else(|| {
        status::path_for(std::path::Path::new(status::DEFAULT_PATH), &mount_point)
    });

    // One run per disk at a time; a dry run changes nothing and needs no lock. Taken before
    // the one-run-per-boot check, so a run that waited sees the record of the one it waited for.
    let _lock = match (&target, args.dry_run || host.kill_switch().is_some()) {
        (Ok(t), false) => {
            let wait = Duration::from_secs(args.lock_wait.unwrap_or(DEFAULT_LOCK_WAIT).into());
            match lock_for(t, wait) {
                Ok(l) => Some(l),
                Err(e) => {
                    // No status record: the run that holds the lock writes its own.
                    log::error!("{e}");
                    return e.exit_code();
                }
            }
        }
        _ => None,
    };

    if let Some(earlier) = ran_this_boot(host, &status_file, args.dry_run, args.before_mount) {
        log::warn!(
            "blankroot already ran this boot ({} at {}): not running again, the record stays; remove {} to run it once more",
            earlier.action.word(),
            earlier.started_at,
            status_file.display()
        );
        return earlier.exit_code;
    }

    let mut status = Status::new(Action::Failed);
    status.mount_point = (!mount_point.is_root()).then(|| mount_point.to_string());
    status.started_at = time::rfc3339(started);
    status.boot_id = host.boot_id();
    // The kill switch wins over everything, even a broken configuration: it is how a user
    // boots past one.
    let outcome = match host.kill_switch() {
        Some(word) => {
            if let Ok(t) = &target {
                describe(t, &mut status);
            }
            log::warn!("{word} on the kernel command line: blankroot is off for this boot, the root is left as it was");
            Ok(Report {
                action: Some(Action::Skipped),
                ..Report::default()
            })
        }
        None => target.and_then(|t| {
            describe(&t, &mut status);
            engine(&t, args.dry_run, started)
        }),
    };

    let code = match outcome {
        Ok(report) => {
            if args.dry_run {
                println!("blankroot dry run: nothing was changed; the plan:");
                print!("{}", report.plan_text);
                return 0;
            }
            status.action = report.action.unwrap_or(Action::RolledBack);
            if status.action == Action::Skipped {
                status.skip_reason = Some(
                    if host.kill_switch().is_some() {
                        status::SKIPPED_BY_KERNEL_COMMAND_LINE
                    } else {
                        status::SKIPPED_BY_REQUEST
                    }
                    .to_string(),
                );
            }
            status.archive = report.archive;
            status.pruned = report.pruned;
            status.destroyed_snapshots = report.destroyed_snapshots;
            status.left_alone = report.left_alone;
            status.warnings = report.warnings;
            if status.action != Action::Skipped {
                log::info!(
                    "done: {}{} in {} ms",
                    status
                        .mount_point
                        .as_deref()
                        .map(|m| format!("{m}: "))
                        .unwrap_or_default(),
                    status.target.as_deref().unwrap_or("root"),
                    clock.elapsed().as_millis() as u64
                );
            }
            0
        }
        Err(e) => {
            log::error!("{e}");
            status.error = Some(e.message.clone());
            status.exit_code = e.exit_code();
            e.exit_code()
        }
    };
    if args.dry_run {
        return code;
    }
    status.duration_ms = clock.elapsed().as_millis() as u64;
    if let Err(e) = status.write(&status_file) {
        log::error!("{e}");
    }
    code
}

/// Where a rollback may run: in the initrd; outside it only with `--allow-outside-initrd`, or
/// with `--before-mount` for a target other than `/` of which nothing is mounted.
fn allowed_here(args: &Options, target: Option<&Target>, host: &Host) -> Result<()> {
    if args.before_mount {
        let Some(t) = target else { return Ok(()) };
        if t.mount_point.is_root() {
            return Err(Error::usage(
                "--before-mount is for a target other than / (the booted system runs on /); roll / back in the initrd",
            ));
        }
        if let Some(why) = in_use(t, &host.mounts()) {
            return Err(Error::runtime(format!(
                "{}: {why}: not rolling back a target in use; nothing was changed (--before-mount runs before the target is mounted)",
                t.mount_point
            )));
        }
        return Ok(());
    }
    if args.allow_outside_initrd || host.in_initrd() {
        return Ok(());
    }
    Err(Error::usage(
        "not running in an initrd (/etc/initrd-release is missing): refusing to replace the root of a running system; pass --allow-outside-initrd only on a disk that is not in use",
    ))
}

/// Why the target is in use, if it is: its mount point is mounted, or its subvolume (or
/// dataset, or a child of it) is mounted anywhere.
pub fn in_use(t: &Target, mounts: &[crate::mountinfo::Mount]) -> Option<String> {
    if let Some(m) = mounts
        .iter()
        .find(|m| m.mount_point == t.mount_point.as_path())
    {
        return Some(format!(
            "{} is mounted ({} {})",
            t.mount_point, m.fstype, m.source
        ));
    }
    match &t.fs {
        Fs::Btrfs { device, config, .. } => {
            let dev = std::fs::canonicalize(device).unwrap_or_else(|_| device.clone());
            let sub = std::path::Path::new("/").join(config.root.to_path());
            mounts
                .iter()
                .find(|m| {
                    m.fstype == "btrfs"
                        && m.fs_root.starts_with(&sub)
                        && std::fs::canonicalize(&m.source)
                            .unwrap_or_else(|_| m.source.clone().into())
                            == dev
                })
                .map(|m| {
                    format!(
                        "its subvolume {} is mounted at {}",
                        config.root,
                        m.mount_point.display()
                    )
                })
        }
        Fs::Zfs(c) => {
            let ds = c.dataset.to_string();
            mounts
                .iter()
                .find(|m| {
                    m.fstype == "zfs" && (m.source == ds || m.source.starts_with(&format!("{ds}/")))
                })
                .map(|m| {
                    format!(
                        "the dataset {} is mounted at {}",
                        m.source,
                        m.mount_point.display()
                    )
                })
        }
    }
}

/// Seconds a second run waits for the first to finish (`--lock-wait`).
pub const DEFAULT_LOCK_WAIT: u32 = 30;

pub fn lock_for(t: &Target, wait: Duration) -> Result<lock::Lock> {
    match &t.fs {
        Fs::Btrfs { device, .. } => lock::acquire(
            &lock::btrfs_key(device),
            &device.display().to_string(),
            wait,
        ),
        Fs::Zfs(c) => lock::acquire(
            &lock::zfs_key(c.dataset.pool()),
            &format!("pool {}", c.dataset.pool()),
            wait,
        ),
    }
}

/// At boot (in the initrd, or `before_mount`), the record of a run earlier in this same boot.
/// systemd can start a failed oneshot a second time (the isolate at switch-root), possibly with
/// the root mounted: one run per boot, and its record is what the booted system must see.
pub fn ran_this_boot(
    host: &Host,
    status_file: &std::path::Path,
    dry_run: bool,
    before_mount: bool,
) -> Option<Status> {
    if dry_run || !(host.in_initrd() || before_mount) {
        return None;
    }
    let record = Status::read(status_file).ok()?;
    record.of_boot(host.boot_id().as_deref()).then_some(record)
}

fn describe(t: &Target, status: &mut Status) {
    match &t.fs {
        Fs::Btrfs { device, config, .. } => {
            status.filesystem = Some("btrfs".into());
            status.device = Some(device.display().to_string());
            status.target = Some(config.root.to_string());
            status.source = Some(match &config.source {
                crate::btrfs::plan::Source::Blank(b) => b.to_string(),
                crate::btrfs::plan::Source::Empty => "empty".into(),
            });
        }
        Fs::Zfs(c) => {
            status.filesystem = Some("zfs".into());
            status.target = Some(c.dataset.to_string());
            status.source = Some(c.dataset.at(&c.snapshot));
        }
    }
}

fn engine(t: &Target, dry_run: bool, now: i64) -> Result<Report> {
    match &t.fs {
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => crate::btrfs::rollback(device, mount_options.as_deref(), config, dry_run, now),
        Fs::Zfs(config) => crate::zfs::rollback(config, dry_run, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn one_run_per_boot_in_the_initrd() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
        fs::write(root.join("proc/sys/kernel/random/boot_id"), "boot-1\n").unwrap();
        let file = root.join("status.json");
        let mut earlier = Status::new(Action::Failed);
        earlier.boot_id = Some("boot-1".into());
        earlier.exit_code = 1;
        earlier.write(&file).unwrap();
        let host = Host::at(root);
        assert!(
            ran_this_boot(&host, &file, false, false).is_none(),
            "not in an initrd: tests and manual runs go on"
        );
        assert_eq!(
            ran_this_boot(&host, &file, false, true).map(|s| s.exit_code),
            Some(1),
            "the stage-2 unit (--before-mount) runs once per boot too"
        );
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/initrd-release"), "").unwrap();
        assert_eq!(
            ran_this_boot(&host, &file, false, false).map(|s| s.exit_code),
            Some(1)
        );
        assert!(
            ran_this_boot(&host, &file, true, false).is_none(),
            "a dry run always runs"
        );
        earlier.boot_id = Some("boot-0".into());
        earlier.write(&file).unwrap();
        assert!(
            ran_this_boot(&host, &file, false, false).is_none(),
            "a record from an earlier boot"
        );
    }
}
