//! `blankroot diff`: what the next boot will erase, on the running system, without writing.
//!
//! - `walk`: the side-by-side comparison of two trees (the heart; recall argued there), read
//!   through file descriptors (`fds`: `readdir` and `statx`) or, on Btrfs, from the subvolumes'
//!   metadata read in bulk (`bulk`);
//! - `filter`: what is left out (other mounts, persisted paths, what NixOS recreates);
//! - `btrfs`, `zfs`, `tmpfs`: where the live tree and the blank come from;
//! - `output`: text grouped by directory, and JSON;
//! - `suggest`: `--suggest`, the lost paths as persistence entries (a Nix expression).

pub mod btrfs;
pub mod bulk;
pub mod fds;
pub mod filter;
pub mod model;
pub mod output;
pub mod suggest;
pub mod tmpfs;
pub mod walk;
pub mod zfs;

use crate::btrfs::plan::Source;
use crate::error::{Error, Result};
use crate::mount_point::MountPoint;
use crate::mountinfo;
use crate::names::Name;
use filter::Filter;
use model::{Diff, Reason};
use rustix::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What `blankroot diff` is asked (the command line builds it).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The rollback's target, from the target options or the configuration; `None`: neither
    /// names one (then `root`, else the last run's record, else what is mounted on `/`).
    pub target: Option<crate::target::Target>,
    /// With a target: read the live tree there; alone: everything on it is ephemeral.
    pub root: Option<PathBuf>,
    /// Survive the boot: from `--persisted` and from the configuration.
    pub persisted: Vec<PathBuf>,
    pub persisted_from: Vec<PathBuf>,
    /// Where the target came from (`configuration: /etc/blankroot/config.json`).
    pub notes: Vec<String>,
    pub json: bool,
    pub include_nix_managed: bool,
    /// `--suggest`: print persistence entries for this module instead of the listing.
    pub suggest: Option<Suggest>,
    /// `--persist-dir`: where the suggested entries persist to.
    pub persist_dir: Option<PathBuf>,
    /// The configuration's `persist_dir` (the default of `--persist-dir`).
    pub configured_persist_dir: Option<PathBuf>,
}

/// The NixOS modules `--suggest` writes entries for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggest {
    /// `environment.persistence."/persist"` (nix-community/impermanence)
    Impermanence,
    /// `preservation.preserveAt."/persist"` (nix-community/preservation)
    Preservation,
}

/// Where the live tree and the blank are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The root subvolume against the blank (or against nothing, for `--empty`). The first of
    /// `blanks` that exists is used. `live`: read the live tree there instead of the top level.
    Btrfs {
        device: PathBuf,
        mount_options: Option<String>,
        root: Name,
        blanks: Vec<Name>,
        empty: bool,
        live: Option<PathBuf>,
    },
    /// The dataset against its snapshot. `live`: the dataset's mount point, if not looked up.
    Zfs {
        dataset: String,
        snapshot: String,
        zfs_command: PathBuf,
        live: Option<PathBuf>,
    },
    /// Everything on the filesystem at `root` is erased (tmpfs root).
    Tree { root: PathBuf },
}

#[derive(Debug, Clone)]
pub struct Resolved {
    pub target: Target,
    pub mount_point: MountPoint,
    /// Absolute paths on the live system.
    pub persisted: Vec<PathBuf>,
    pub notes: Vec<String>,
}

/// What a diff needs to know besides the target.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub persisted: Vec<PathBuf>,
    pub include_nix_managed: bool,
    /// Read the live system's account names and unit files too (for `--suggest`).
    pub system: bool,
    /// The target's mount point: persisted paths outside it do not matter, and what NixOS
    /// recreates at every boot (`/etc`, `/tmp`, ...) is only the root's.
    pub mount_point: MountPoint,
}

/// A diff with what it compared, for the title line and the JSON.
pub struct Outcome {
    pub diff: Diff,
    pub title: String,
    /// What was compared, for `--json`: a JSON object on one line (see `target_json`).
    pub target: String,
    /// With `Options::system`: what was read of the live system.
    pub system: Option<suggest::system::System>,
}

/// The `"target"` object of `--json`: string members (null when `None`), in the order given (name
/// order, the order they have always been written in), on one line.
pub fn target_json(members: &[(&str, Option<&str>)]) -> String {
    struct Members<'a>(&'a [(&'a str, Option<&'a str>)]);
    impl serde::Serialize for Members<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }
    serde_json::to_string(&Members(members)).expect("strings")
}

pub fn resolve(req: &Request) -> Result<Resolved> {
    let mut notes = req.notes.clone();
    let mut persisted = req.persisted.clone();
    for file in &req.persisted_from {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("--persisted-from {}: {e}", file.display())))?;
        persisted.extend(filter::parse_persisted_file(file, &text)?);
    }
    let target = match (&req.target, &req.root) {
        (Some(t), live) => {
            if let Some(dir) = archive_of(t) {
                notes.push(format!(
                    "the rollback moves the old root to the archive {dir} (kept until pruned by --keep/--keep-days): listed is what leaves /"
                ));
            }
            from_target(t, live.clone())
        }
        (None, Some(root)) => Target::Tree { root: root.clone() },
        (None, None) => match crate::status::Status::read(Path::new(crate::status::DEFAULT_PATH))
            .ok()
            .and_then(|s| from_status(&s))
        {
            Some(t) => {
                notes.push(format!(
                    "no {}: the target is the one of the last rollback ({})",
                    crate::config::DEFAULT_PATH,
                    crate::status::DEFAULT_PATH
                ));
                t
            }
            None => {
                notes.push(format!(
                    "no {}: looking at the filesystem mounted on /",
                    crate::config::DEFAULT_PATH
                ));
                from_mounted_root(&mountinfo::read())?
            }
        },
    };
    Ok(Resolved {
        target,
        mount_point: req
            .target
            .as_ref()
            .map(|t| t.mount_point.clone())
            .unwrap_or_default(),
        persisted,
        notes,
    })
}

fn archive_of(t: &crate::target::Target) -> Option<String> {
    match &t.fs {
        crate::target::Fs::Btrfs { config, .. } => {
            config.archive.as_ref().map(|a| a.dir.to_string())
        }
        crate::target::Fs::Zfs(c) => c.archive.as_ref().map(|a| a.parent.to_string()),
    }
}

/// What a rollback target compares; `live`: read the live tree there.
pub fn from_target(t: &crate::target::Target, live: Option<PathBuf>) -> Target {
    match &t.fs {
        crate::target::Fs::Btrfs {
            device,
            config,
            mount_options,
        } => {
            let (blanks, empty) = match &config.source {
                Source::Blank(b) => (vec![b.clone()], false),
                Source::Empty => (Vec::new(), true),
            };
            Target::Btrfs {
                device: device.clone(),
                mount_options: mount_options.clone(),
                root: config.root.clone(),
                blanks,
                empty,
                live,
            }
        }
        crate::target::Fs::Zfs(c) => Target::Zfs {
            dataset: c.dataset.to_string(),
            snapshot: c.snapshot.clone(),
            zfs_command: c.zfs_command.clone().unwrap_or_else(|| "zfs".into()),
            live,
        },
    }
}

/// The target recorded by the last rollback (`blankroot status`), when it names one.
pub fn from_status(s: &crate::status::Status) -> Option<Target> {
    match s.filesystem.as_deref()? {
        "btrfs" => {
            let root = Name::parse("target", s.target.as_deref()?).ok()?;
            let source = s.source.as_deref()?;
            let empty = source == "empty";
            let blanks = if empty {
                Vec::new()
            } else {
                vec![Name::parse("source", source).ok()?]
            };
            Some(Target::Btrfs {
                device: PathBuf::from(s.device.as_deref()?),
                mount_options: None,
                root,
                blanks,
                empty,
                live: None,
            })
        }
        "zfs" => {
            let dataset = s.target.clone()?;
            let snapshot = s
                .source
                .as_deref()
                .and_then(|src| src.split_once('@'))
                .map_or("blank".to_string(), |(_, snap)| snap.to_string());
            Some(Target::Zfs {
                dataset,
                snapshot,
                zfs_command: "zfs".into(),
                live: None,
            })
        }
        _ => None,
    }
}

/// No configuration: what is mounted on `/` says what to compare.
pub fn from_mounted_root(mounts: &[mountinfo::Mount]) -> Result<Target> {
    let m = mountinfo::mount_of(mounts, Path::new("/"))
        .ok_or_else(|| Error::runtime("nothing is mounted on / (no /proc/self/mountinfo?)"))?;
    match m.fstype.as_str() {
        "btrfs" => {
            let sub = m
                .subvol()
                .unwrap_or_else(|| m.fs_root.to_string_lossy().trim_start_matches('/').into());
            let root = Name::parse("subvol= of /", &sub).map_err(|_| {
                Error::usage("/ is the top level of its btrfs (no subvol=): there is no root subvolume to roll back; give --device, --subvolume and --blank")
            })?;
            let mut blanks = vec![root.sibling(&format!("{}-blank", root.basename()))];
            let default = Name::parse("--blank", "root-blank").expect("valid");
            if !blanks.contains(&default) {
                blanks.push(default);
            }
            Ok(Target::Btrfs {
                device: PathBuf::from(&m.source),
                mount_options: None,
                root,
                blanks,
                empty: false,
                live: None,
            })
        }
        "zfs" | "fuse.zfs" => Ok(Target::Zfs {
            dataset: m.source.clone(),
            snapshot: "blank".into(),
            zfs_command: "zfs".into(),
            live: Some(m.mount_point.clone()),
        }),
        "tmpfs" | "ramfs" => Ok(Target::Tree { root: "/".into() }),
        other => Err(Error::usage(format!(
            "/ is {other} ({}), which blankroot does not roll back; name the root with --device, --dataset or --root",
            m.source
        ))),
    }
}

/// The filter every backend starts from: persisted paths, the NixOS switch, /etc/.clean.
pub fn base_filter(opts: &Options, live: &OwnedFd) -> Result<Filter> {
    let root = opts.mount_point.is_root();
    let mut f = Filter {
        include_nix_managed: opts.include_nix_managed || !root,
        ..Filter::default()
    };
    let under = filter::absolute_to_rel("--mount-point", opts.mount_point.as_path()).ok();
    for p in &opts.persisted {
        let rel = filter::absolute_to_rel("--persisted", p)?;
        let rel = match &under {
            None => rel,
            Some(u) => match rel.strip_prefix(u) {
                Ok(r) if !r.as_os_str().is_empty() => r.to_path_buf(),
                // The whole target, or a path outside it: nothing to leave out here.
                _ => continue,
            },
        };
        f.exclude(rel, Reason::Persisted);
    }
    if let Some(text) = root
        .then(|| read_beneath(live, &["etc", ".clean"]))
        .flatten()
    {
        f.set_etc_clean(&text);
    }
    Ok(f)
}

/// Reads a small file beneath a directory without following symlinks.
fn read_beneath(dir: &OwnedFd, parts: &[&str]) -> Option<Vec<u8>> {
    use rustix::fs::{openat, Mode, OFlags};
    let (last, dirs) = parts.split_last()?;
    let mut cur = openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    for d in dirs {
        cur = openat(
            cur.as_fd(),
            *d,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
    }
    let fd = openat(
        cur.as_fd(),
        *last,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    let mut f = std::fs::File::from(fd);
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    // The first MiB at most.
    let mut buf = vec![0; 1 << 20];
    let mut len = 0;
    while len < buf.len() {
        match std::io::Read::read(&mut f, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    Some(buf)
}

/// Compares as the target says.
pub fn diff(target: &Target, opts: &Options) -> Result<Outcome> {
    raise_fd_limit();
    let _progress = crate::progress::begin("diff");
    match target {
        Target::Btrfs { .. } => btrfs::diff(target, opts),
        Target::Zfs { .. } => zfs::diff(target, opts),
        Target::Tree { root } => tmpfs::diff(root, opts),
    }
}

/// A target other than `/`: its paths are shown under its mount point (`/home/alice/...`), and
/// the system `--suggest` reads for owners is the running one, not the target's tree.
fn on_mount_point(o: &mut Outcome, m: &MountPoint) {
    let Ok(under) = filter::absolute_to_rel("--mount-point", m.as_path()) else {
        return;
    };
    o.diff.rebase(&under);
    o.title = format!("{m}: {}", o.title);
    if let Some(rest) = o.target.strip_prefix('{') {
        o.target = format!(
            "{{{},{rest}",
            target_json(&[("mount_point", Some(&m.to_string()))]).trim_matches(['{', '}'])
        );
    }
    if o.system.is_some() {
        o.system = Some(suggest::system::read_at(Path::new("/")).unwrap_or_default());
    }
}

/// Deep trees keep one directory open per level on each side.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if let Some(max) = l.maximum {
        if l.current.is_some_and(|c| c < max) {
            l.current = Some(max.min(1 << 16));
            let _ = setrlimit(Resource::Nofile, l);
        }
    }
}

/// With `--suggest`: the persistent directory the entries name (checked before anything is
/// read); `None` without `--suggest`.
fn suggest_dir(args: &Request) -> Result<Option<String>> {
    if args.suggest.is_none() {
        if let Some(p) = &args.persist_dir {
            return Err(Error::usage(format!(
                "--persist-dir {}: only with --suggest impermanence|preservation",
                p.display()
            )));
        }
        return Ok(None);
    }
    if args.json {
        return Err(Error::usage(
            "--suggest prints a Nix expression and --json the listing: give one of them",
        ));
    }
    if args.include_nix_managed {
        return Err(Error::usage(
            "--include-nix-managed lists what NixOS recreates at every boot, which --suggest leaves out: give one of them",
        ));
    }
    Ok(Some(
        match (&args.persist_dir, &args.configured_persist_dir) {
            (Some(p), _) => suggest::persist_dir("--persist-dir", p)?,
            (None, Some(p)) => suggest::persist_dir("the configuration's persist_dir", p)?,
            (None, None) => suggest::DEFAULT_PERSIST_DIR.to_string(),
        },
    ))
}

/// Runs `blankroot diff` and returns the exit code: 0 listed, 1 failed or incomplete, 2 usage.
/// With `--suggest`, stdout is the Nix expression alone and the listing goes to stderr.
pub fn run(args: &Request) -> u8 {
    let outcome = suggest_dir(args).and_then(|dir| {
        let r = resolve(args)?;
        let opts = Options {
            persisted: r.persisted.clone(),
            include_nix_managed: args.include_nix_managed,
            system: dir.is_some(),
            mount_point: r.mount_point.clone(),
        };
        let mut o = diff(&r.target, &opts)?;
        let mut notes = r.notes;
        notes.append(&mut o.diff.notes);
        o.diff.notes = notes;
        on_mount_point(&mut o, &r.mount_point);
        Ok((o, dir))
    });
    match outcome {
        Ok((mut o, dir)) => {
            use std::io::Write;
            let text = match (args.suggest, dir) {
                (Some(module), Some(dir)) => {
                    let sys = o.system.take().unwrap_or_default();
                    if sys.units == 0 {
                        o.diff.notes.push(format!(
                            "--suggest: no unit files under {}: entries are grouped by directory, not by service",
                            suggest::system::UNIT_DIRS.map(|d| format!("/{d}")).join(", ")
                        ));
                    }
                    let listing = output::text(&o.diff, &o.title);
                    let _ = std::io::stderr().lock().write_all(listing.as_bytes());
                    suggest::suggest(&o.diff, &sys, module, &dir)
                }
                _ if args.json => output::json(&o.diff, &o.target),
                _ => output::text(&o.diff, &o.title),
            };
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("blankroot: error: writing the listing: {e}");
                    return 1;
                }
            }
            let code = if o.diff.errors.is_empty() {
                0
            } else {
                eprintln!(
                    "blankroot: error: {} paths could not be read: the listing is incomplete",
                    o.diff.errors.len()
                );
                1
            };
            // The process ends now and its memory with it: freeing a listing path by path
            // first costs about 8 ms per 150,000 paths (5% of a warm `diff`).
            std::mem::forget(o);
            code
        }
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target_of(line: &str) -> Result<Target> {
        from_mounted_root(&mountinfo::parse(line))
    }

    /// The `"target"` object byte for byte as the hand-written writer made it before serde_json.
    #[test]
    fn the_target_object_is_written_as_before() {
        let got = target_json(&[
            ("blank", None),
            ("device", Some("/dev/disk/by-label/a \"b\"\\")),
            ("filesystem", Some("btrfs")),
            ("live", Some("/mnt/caf\u{e9}\n\u{7f}\u{1b}")),
        ]);
        assert_eq!(
            got,
            "{\"blank\":null,\"device\":\"/dev/disk/by-label/a \\\"b\\\"\\\\\",\"filesystem\":\"btrfs\",\"live\":\"/mnt/caf\u{e9}\\n\u{7f}\\u001b\"}"
        );
        assert_eq!(target_json(&[]), "{}");
    }

    #[test]
    fn the_mounted_root_names_the_target() {
        let t =
            target_of("22 1 0:25 /@ / rw - btrfs /dev/vda2 rw,subvolid=256,subvol=/@\n").unwrap();
        let Target::Btrfs {
            device,
            root,
            blanks,
            empty,
            live,
            ..
        } = t
        else {
            panic!("{t:?}")
        };
        assert_eq!(device, Path::new("/dev/vda2"));
        assert_eq!(root.to_string(), "@");
        let blanks: Vec<String> = blanks.iter().map(|b| b.to_string()).collect();
        assert_eq!(blanks, ["@-blank", "root-blank"]);
        assert!(!empty && live.is_none());
        let t = target_of("22 1 0:25 /root / rw - btrfs /dev/vda2 rw,subvol=/root\n").unwrap();
        let Target::Btrfs { blanks, .. } = t else {
            panic!()
        };
        assert_eq!(blanks.len(), 1, "root-blank once");
        assert_eq!(
            target_of("22 1 0:40 / / rw - zfs rpool/local/root rw\n").unwrap(),
            Target::Zfs {
                dataset: "rpool/local/root".into(),
                snapshot: "blank".into(),
                zfs_command: "zfs".into(),
                live: Some("/".into()),
            }
        );
        assert_eq!(
            target_of("22 1 0:20 / / rw - tmpfs none rw,mode=755\n").unwrap(),
            Target::Tree { root: "/".into() }
        );
        let e = target_of("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("ext4"), "{}", e.message);
        let e =
            target_of("22 1 0:25 / / rw - btrfs /dev/vda2 rw,subvolid=5,subvol=/\n").unwrap_err();
        assert!(e.message.contains("top level"), "{}", e.message);
    }

    #[test]
    fn the_last_rollback_names_the_target() {
        use crate::status::{Action, Status};
        let mut s = Status::new(Action::RolledBack);
        assert_eq!(from_status(&s), None);
        s.filesystem = Some("btrfs".into());
        s.device = Some("/dev/vda2".into());
        s.target = Some("@root".into());
        s.source = Some("@blank".into());
        let Some(Target::Btrfs { root, blanks, .. }) = from_status(&s) else {
            panic!()
        };
        assert_eq!(
            (root.to_string(), blanks[0].to_string()),
            ("@root".into(), "@blank".into())
        );
        s.source = Some("empty".into());
        assert!(matches!(
            from_status(&s),
            Some(Target::Btrfs { empty: true, .. })
        ));
        s.filesystem = Some("zfs".into());
        s.target = Some("rpool/local/root".into());
        s.source = Some("rpool/local/root@empty-root".into());
        let Some(Target::Zfs { snapshot, .. }) = from_status(&s) else {
            panic!()
        };
        assert_eq!(snapshot, "empty-root");
    }

    #[test]
    fn a_rollback_target_names_what_is_compared() {
        let r = crate::target::Request {
            device: Some("/dev/vda2".into()),
            empty: true,
            ..Default::default()
        };
        let t = crate::target::resolve(&r).unwrap();
        let Target::Btrfs { blanks, empty, .. } = from_target(&t, None) else {
            panic!()
        };
        assert!(empty && blanks.is_empty());
        let only_root = Request {
            root: Some("/".into()),
            ..Request::default()
        };
        assert_eq!(
            resolve(&only_root).unwrap().target,
            Target::Tree { root: "/".into() }
        );
    }
}
