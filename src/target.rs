//! What to roll back: the one place where the target options — from the command line or from
//! the "args" of /etc/blankroot/config.json (one list per target) — become a validated target:
//! the mount point it is known by and its engine configuration, for the rollback and for every
//! other command alike. Nothing is read from disk here.

use crate::btrfs::plan::{self, Archive, Source};
use crate::error::{Error, Result};
use crate::mount_point::MountPoint;
use crate::names::Name;
use crate::retention::Policy;
use crate::zfs::{self, Import};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FsChoice {
    #[default]
    Auto,
    Btrfs,
    Zfs,
}

/// The target options as given (the command line's words, without their syntax).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub fs: FsChoice,
    pub device: Option<PathBuf>,
    pub subvolume: Option<String>,
    pub blank: Option<String>,
    pub empty: bool,
    pub archive_dir: Option<String>,
    pub keep: Option<u32>,
    pub keep_days: Option<u32>,
    pub prune_unmarked: bool,
    pub protect: Vec<String>,
    pub min_free: Option<u64>,
    pub mount_options: Option<String>,
    pub dataset: Option<String>,
    pub snapshot: Option<String>,
    pub import: bool,
    pub force_import: bool,
    pub zfs_command: Option<PathBuf>,
    /// `--mount-point`: where the target is mounted (default `/`).
    pub mount_point: Option<String>,
}

impl Request {
    /// It names a root (`--device` or `--dataset`).
    pub fn names_a_root(&self) -> bool {
        self.device.is_some() || self.dataset.is_some()
    }
}

/// What to roll back, fully validated: a filesystem (or dataset) known by its mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub mount_point: MountPoint,
    pub fs: Fs,
}

/// A target's engine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fs {
    Btrfs {
        device: PathBuf,
        config: plan::Config,
        /// Added to `subvolid=5` when mounting the top level (`device=...`, `degraded`).
        mount_options: Option<String>,
    },
    Zfs(zfs::Config),
}

pub fn resolve(r: &Request) -> Result<Target> {
    let mount_point = match &r.mount_point {
        Some(m) => MountPoint::parse("--mount-point", m)?,
        None => MountPoint::root(),
    };
    Ok(Target {
        mount_point,
        fs: resolve_fs(r)?,
    })
}

impl Target {
    /// The record of what it is: `btrfs /dev/vda2 subvolume root`, `zfs rpool/local/root`.
    pub fn describe(&self) -> String {
        match &self.fs {
            Fs::Btrfs { device, config, .. } => {
                format!("btrfs {} subvolume {}", device.display(), config.root)
            }
            Fs::Zfs(c) => format!("zfs {}", c.dataset),
        }
    }

    /// Archive mode is on.
    pub fn archives(&self) -> bool {
        match &self.fs {
            Fs::Btrfs { config, .. } => config.archive.is_some(),
            Fs::Zfs(c) => c.archive.is_some(),
        }
    }
}

fn resolve_fs(r: &Request) -> Result<Fs> {
    match (&r.device, &r.dataset) {
        (Some(_), Some(_)) => Err(Error::usage("give either --device (Btrfs) or --dataset (ZFS), not both")),
        (None, None) => Err(Error::usage("--device DEV (Btrfs) or --dataset POOL/DATASET (ZFS) is required; see blankroot --help")),
        (None, Some(_)) if r.fs == FsChoice::Btrfs => Err(Error::usage("--fs btrfs needs --device DEV, not --dataset")),
        (None, Some(dataset)) => zfs_config(r, dataset).map(Fs::Zfs),
        (Some(_), None) if r.fs == FsChoice::Zfs => {
            Err(Error::usage("--fs zfs needs --dataset POOL/DATASET: a ZFS root is named by its dataset, not a device"))
        }
        (Some(device), None) => Ok(Fs::Btrfs {
            device: device.clone(),
            config: btrfs_config(r)?,
            mount_options: mount_options(r.mount_options.as_deref())?,
        }),
    }
}

fn btrfs_config(r: &Request) -> Result<plan::Config> {
    for (given, opt) in [
        (r.snapshot.is_some(), "--snapshot"),
        (r.import, "--import"),
        (r.force_import, "--force-import"),
        (r.zfs_command.is_some(), "--zfs-command"),
    ] {
        if given {
            return Err(Error::usage(format!(
                "{opt} is for ZFS (--dataset); with --device (Btrfs) drop it"
            )));
        }
    }
    let root = Name::parse("--subvolume", r.subvolume.as_deref().unwrap_or("root"))?;
    let source = match (&r.blank, r.empty) {
        (Some(_), true) => return Err(Error::usage("--blank and --empty exclude each other: recreate the root from the blank or empty, not both")),
        (_, true) => Source::Empty,
        (blank, false) => Source::Blank(Name::parse("--blank", blank.as_deref().unwrap_or("root-blank"))?),
    };
    let archive = archive_policy(r)?
        .map(|(dir, policy)| {
            Ok::<_, Error>(Archive {
                dir: Name::parse("--archive-dir", &dir)?,
                policy,
            })
        })
        .transpose()?;
    let mut protect = Vec::new();
    for p in &r.protect {
        protect.push(Name::parse("--protect", p)?);
    }
    let config = plan::Config {
        root,
        source,
        archive,
        protect,
        min_free: r.min_free,
        prune_unmarked: r.prune_unmarked,
    };
    config.validate()?;
    Ok(config)
}

fn zfs_config(r: &Request, dataset: &str) -> Result<zfs::Config> {
    for (given, opt, instead) in [
        (r.subvolume.is_some(), "--subvolume", ""),
        (
            r.blank.is_some(),
            "--blank",
            "; name the blank snapshot with --snapshot",
        ),
        (r.empty, "--empty", ""),
        (!r.protect.is_empty(), "--protect", ""),
        (r.min_free.is_some(), "--min-free-space", ""),
        (r.mount_options.is_some(), "--mount-options", ""),
    ] {
        if given {
            return Err(Error::usage(format!(
                "{opt} is for Btrfs (--device); with --dataset (ZFS) drop it{instead}"
            )));
        }
    }
    let import = match (r.import, r.force_import) {
        (false, false) => Import::No,
        (true, false) => Import::Yes,
        (true, true) => Import::Force,
        (false, true) => {
            return Err(Error::usage(
                "--force-import goes with --import: give both, or neither when the pool is imported before blankroot runs",
            ))
        }
    };
    zfs::Config::new(
        dataset,
        r.snapshot.as_deref().unwrap_or("blank"),
        import,
        archive_policy(r)?,
        r.zfs_command.clone(),
        r.prune_unmarked,
    )
}

/// `--archive-dir` with its retention options, for both engines.
fn archive_policy(r: &Request) -> Result<Option<(String, Policy)>> {
    let policy = Policy {
        keep: r.keep,
        keep_days: r.keep_days,
    };
    match &r.archive_dir {
        None if r.keep.is_some() || r.keep_days.is_some() => {
            Err(Error::usage("--keep and --keep-days apply to archives: give --archive-dir too"))
        }
        None if r.prune_unmarked => Err(Error::usage(
            "--prune-unmarked applies to archives: give --archive-dir too",
        )),
        None => Ok(None),
        Some(_) if r.keep == Some(0) => Err(Error::usage(
            "--keep 0 would prune the archive just made; use --keep 1 or more, or drop --archive-dir to delete the root instead",
        )),
        Some(dir) => Ok(Some((dir.clone(), policy))),
    }
}

/// `--mount-options`: options for the top-level mount beside `subvolid=5` (`device=/dev/vdb`,
/// `degraded`), which blankroot sets itself.
fn mount_options(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let mut kept = Vec::new();
    for opt in raw.split(',').filter(|o| !o.is_empty()) {
        let key = opt.split('=').next().unwrap_or(opt);
        if matches!(key, "subvol" | "subvolid") {
            return Err(Error::usage(format!(
                "--mount-options {raw:?}: {key}= is blankroot's own (it mounts the top level, subvolid=5); drop it"
            )));
        }
        if opt.contains('\0') || opt.trim() != opt {
            return Err(Error::usage(format!(
                "--mount-options {raw:?}: {opt:?} is not a mount option"
            )));
        }
        kept.push(opt);
    }
    Ok((!kept.is_empty()).then(|| kept.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zfs_request(f: impl FnOnce(&mut Request)) -> Request {
        let mut r = Request {
            dataset: Some("rpool/local/root".into()),
            ..Request::default()
        };
        f(&mut r);
        r
    }

    #[test]
    fn the_seed_layouts_are_accepted() {
        let t = resolve(&zfs_request(|r| {
            r.archive_dir = Some("rpool/local/old_roots".into());
            r.keep = Some(5);
            r.import = true;
            r.force_import = true;
        }))
        .unwrap();
        let Fs::Zfs(c) = t.fs else { panic!() };
        assert_eq!(c.dataset.as_str(), "rpool/local/root");
        assert_eq!(c.import, Import::Force);
        assert_eq!(c.archive.unwrap().policy.keep, Some(5));
        let t = resolve(&Request {
            device: Some("/dev/vda2".into()),
            mount_options: Some("degraded,device=/dev/vdb".into()),
            ..Request::default()
        })
        .unwrap();
        assert!(t.mount_point.is_root());
        let Fs::Btrfs {
            mount_options,
            config,
            ..
        } = t.fs
        else {
            panic!()
        };
        assert_eq!(mount_options.as_deref(), Some("degraded,device=/dev/vdb"));
        assert_eq!(config.root.to_string(), "root");
    }

    #[test]
    fn contradictions_are_usage_errors() {
        let btrfs = |f: fn(&mut Request)| {
            let mut r = Request {
                device: Some("/dev/vda2".into()),
                ..Request::default()
            };
            f(&mut r);
            r
        };
        let cases: Vec<(Request, &str)> = vec![
            (
                zfs_request(|r| r.blank = Some("b".into())),
                "--blank is for Btrfs",
            ),
            (zfs_request(|r| r.empty = true), "--empty is for Btrfs"),
            (
                zfs_request(|r| r.min_free = Some(1 << 30)),
                "--min-free-space is for Btrfs",
            ),
            (
                zfs_request(|r| r.mount_options = Some("degraded".into())),
                "--mount-options is for Btrfs",
            ),
            (
                zfs_request(|r| r.force_import = true),
                "--force-import goes with --import",
            ),
            (zfs_request(|r| r.keep = Some(2)), "give --archive-dir too"),
            (
                zfs_request(|r| r.prune_unmarked = true),
                "give --archive-dir too",
            ),
            (
                btrfs(|r| r.snapshot = Some("x".into())),
                "--snapshot is for ZFS",
            ),
            (
                btrfs(|r| r.mount_options = Some("subvol=/root".into())),
                "subvol= is blankroot's own",
            ),
            (
                btrfs(|r| r.mount_options = Some("degraded,subvolid=256".into())),
                "subvolid= is blankroot's own",
            ),
            (
                btrfs(|r| {
                    r.archive_dir = Some("old".into());
                    r.keep = Some(0)
                }),
                "--keep 0",
            ),
            (
                btrfs(|r| {
                    r.blank = Some("b".into());
                    r.empty = true
                }),
                "exclude each other",
            ),
            (btrfs(|r| r.dataset = Some("rpool/root".into())), "not both"),
            (Request::default(), "is required"),
        ];
        for (r, text) in cases {
            let e = resolve(&r).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{r:?}: {}", e.message);
            assert!(e.message.contains(text), "{text}: {}", e.message);
            assert!(!e.message.contains('\n'), "{}", e.message);
        }
    }
}
