//! Fixtures for the ZFS tests: the zfs-fuse daemon, file-backed pools with names unique to each
//! test and process, the layout of the ZFS posts of saylesss88 (2026), and ways to look at a pool.
//!
//! zfs-fuse is an old ZFS (pool version 23): it has no `zpool import -N`, no `guid` property and
//! no `zfs list -p`. Datasets are identified here by their creation time, a user property set by
//! the fixture and their content.
//!
//! zfs-fuse is also fragile under concurrency: pools created, mounted and destroyed at the same
//! time by parallel tests wedge the daemon (every later mount hangs in FUSE_INIT; reproduced with
//! 8 shell loops), several test processes at once have made it exit, and a dataset unmounted a
//! moment ago is "busy" for a while. So a ZFS test holds one file lock from [`zfs_or_skip`] until
//! its thread ends (ZFS tests run one at a time, across test processes too), the fixture's own
//! pool, mount and destroy operations take the same lock when called outside such a test, and
//! "busy" is retried.
#![allow(dead_code)]

use crate::common::{root_or_skip, Run};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Root and a working `zpool` (zfs-fuse, started or restarted here when needed); skips (or,
/// with `BLANKROOT_REQUIRE_ROOT=1`, fails) otherwise. From here on the test holds the ZFS test
/// lock until its thread ends.
pub fn zfs_or_skip(test: &str) -> bool {
    if !root_or_skip(test) {
        return false;
    }
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_none() {
            *held = Some(lock_file());
        }
    });
    if let Err(why) = daemon() {
        if std::env::var("BLANKROOT_REQUIRE_ROOT").as_deref() == Ok("1") {
            panic!("{test} needs ZFS: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return false;
    }
    true
}

thread_local! {
    /// The lock a ZFS test holds until its thread ends (see the module comment).
    static HELD: std::cell::RefCell<Option<fs::File>> = const { std::cell::RefCell::new(None) };
}

/// Before every test: a daemon that died or stopped answering since the last one is replaced.
fn daemon() -> Result<(), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zfs-fuse-daemon.sh");
    let out = Command::new("sh")
        .arg(script)
        .arg("start")
        .output()
        .map_err(|e| format!("running {script}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    tool("zfs").map(|_| ())
}

/// `zfs` or `zpool` from PATH, or from the sbin directories PATH may lack.
pub fn tool(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} not found (apt-get install zfs-fuse)"))
}

fn run(tool_name: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool(tool_name)?)
        .args(args)
        .output()
        .map_err(|e| format!("{tool_name}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{tool_name} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn lock_file() -> fs::File {
    let path = std::env::temp_dir().join("blankroot-zfs-fuse-tests.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    f
}

/// Held while the fixture creates, mounts, unmounts or destroys; empty when this thread holds
/// the test-wide lock already.
pub struct FuseLock(Option<fs::File>);

pub fn fuse_lock() -> FuseLock {
    if HELD.with(|held| held.borrow().is_some()) {
        return FuseLock(None);
    }
    FuseLock(Some(lock_file()))
}

/// Runs a zfs/zpool command again while it fails with "busy" (zfs-fuse tears mounts down after
/// `zfs umount` has returned), for 10 s at most.
fn retry_busy(tool_name: &str, args: &[&str]) -> Result<String, String> {
    let start = Instant::now();
    loop {
        match run(tool_name, args) {
            Err(e) if e.contains("busy") && start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            other => return other,
        }
    }
}

#[track_caller]
/// Creates `ds` (and its parents) as a root is made: `canmount=noauto`, `mountpoint=legacy`.
pub fn create_legacy(ds: &str) {
    zfs(&[
        "create",
        "-p",
        "-o",
        "canmount=noauto",
        "-o",
        "mountpoint=legacy",
        ds,
    ]);
}

pub fn zfs(args: &[&str]) -> String {
    run("zfs", args).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
pub fn zpool(args: &[&str]) -> String {
    run("zpool", args).unwrap_or_else(|e| panic!("{e}"))
}

/// A pool on a sparse file in a temporary directory, destroyed on drop (also after a failed
/// assertion). The file's directory also holds the status file, the kmsg copy and mountpoints.
pub struct Pool {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
}

impl Pool {
    pub fn new() -> Pool {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "brt{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::Builder::new()
            .prefix("blankroot-zfs")
            .tempdir()
            .unwrap();
        let file = dir.path().join("pool.img");
        fs::File::create(&file).unwrap().set_len(128 << 20).unwrap();
        let _lock = fuse_lock();
        zpool(&[
            "create",
            "-o",
            "cachefile=none",
            "-O",
            "canmount=off",
            "-O",
            "mountpoint=none",
            &name,
            file.to_str().unwrap(),
        ]);
        Pool { name, dir, file }
    }

    /// `zpool export` (the pool's own name is imported again on drop, to destroy it).
    pub fn export(&self) {
        let _lock = fuse_lock();
        retry_busy("zpool", &["export", &self.name]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `pool/rel`.
    pub fn ds(&self, rel: &str) -> String {
        format!("{}/{rel}", self.name)
    }

    pub fn root(&self) -> String {
        self.ds("local/root")
    }

    pub fn status_file(&self) -> PathBuf {
        self.dir.path().join("status.json")
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(self.status_file()).unwrap()).unwrap()
    }

    /// `blankroot rollback --dataset POOL/local/root` with the arguments every test passes.
    pub fn blankroot(&self, args: &[&str]) -> Command {
        self.blankroot_on(&self.root(), args)
    }

    /// The same for another dataset.
    pub fn blankroot_on(&self, dataset: &str, args: &[&str]) -> Command {
        let mut c = Command::new(crate::common::binary());
        c.arg("rollback")
            .arg("--dataset")
            .arg(dataset)
            .arg("--allow-outside-initrd")
            .arg("--status-file")
            .arg(self.status_file())
            .args(args)
            .env("PATH", path_with_zfs())
            .env("BLANKROOT_KMSG", self.dir.path().join("kmsg"))
            .env_remove("BLANKROOT_FAILPOINT")
            .env_remove("BLANKROOT_KERNEL_CMDLINE");
        c
    }

    pub fn rollback(&self, args: &[&str]) -> Run {
        Run::of(self.blankroot(args).output().unwrap())
    }

    /// The ZFS posts of saylesss88 (2026): `local/root` (canmount=noauto, mountpoint=legacy) with `etc/issue`, its
    /// `@blank`, then a canary written after the blank; `local/nix`, `safe/home`, `safe/persist`
    /// (mountpoint=legacy) with content and a user property naming them.
    pub fn seed(&self) -> &Pool {
        let root = self.root();
        create_legacy(&root);
        self.write(&root, &[("etc/issue", "blank\n")]);
        zfs(&["snapshot", &format!("{root}@blank")]);
        self.write(
            &root,
            &[
                ("etc/canary", "gone after rollback\n"),
                ("var/log/boot", "1\n"),
            ],
        );
        for (rel, file, text) in [
            ("local/nix", "store/abc-hello/bin/hello", "#!/bin/sh\n"),
            ("safe/home", "alice/notes", "keep me\n"),
            ("safe/persist", "etc/machine-id", "0123456789abcdef\n"),
        ] {
            let ds = self.ds(rel);
            zfs(&[
                "create",
                "-p",
                "-o",
                "mountpoint=legacy",
                "-o",
                &format!("blankroot-test:name={rel}"),
                &ds,
            ]);
            self.write(&ds, &[(file, text)]);
        }
        zfs(&["snapshot", &format!("{}@n1", self.ds("local/nix"))]);
        self
    }

    /// Mounts `ds` on a directory of the test (whatever its mountpoint), runs `f`, and puts the
    /// mountpoint property back as it was.
    pub fn with_mounted<T>(&self, ds: &str, f: impl FnOnce(&Path) -> T) -> T {
        let _lock = fuse_lock();
        let (value, source) = mountpoint(ds);
        let at = self
            .dir
            .path()
            .join("mnt")
            .join(ds.replace(['/', ' '], "_"));
        zfs(&["set", &format!("mountpoint={}", at.display()), ds]);
        if zfs(&["get", "-H", "-o", "value", "mounted", ds]).trim() != "yes" {
            retry_busy("zfs", &["mount", ds]).unwrap_or_else(|e| panic!("{e}"));
        }
        let out = f(&at);
        retry_busy("zfs", &["umount", ds]).unwrap_or_else(|e| panic!("{e}"));
        if source == "local" {
            zfs(&["set", &format!("mountpoint={value}"), ds]);
        } else {
            zfs(&["inherit", "mountpoint", ds]);
        }
        out
    }

    pub fn write(&self, ds: &str, files: &[(&str, &str)]) {
        self.with_mounted(ds, |at| {
            for (rel, text) in files {
                let p = at.join(rel);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, text).unwrap();
            }
        })
    }

    /// Every file and directory in `ds`: path -> kind, mode and content.
    pub fn tree(&self, ds: &str) -> BTreeMap<String, String> {
        self.with_mounted(ds, |at| {
            let mut out = BTreeMap::new();
            walk(at, Path::new(""), &mut out);
            out
        })
    }

    /// Full names of the datasets (filesystems and volumes) in the pool.
    pub fn datasets(&self) -> Vec<String> {
        lines(&zfs(&["list", "-H", "-o", "name", "-r", &self.name]))
    }

    pub fn exists(&self, ds: &str) -> bool {
        self.datasets().iter().any(|d| d == ds)
    }

    /// Short names of `ds`'s snapshots, oldest first.
    pub fn snapshots(&self, ds: &str) -> Vec<String> {
        lines(&zfs(&[
            "list", "-H", "-t", "snapshot", "-o", "name", "-d", "1", ds,
        ]))
        .iter()
        .map(|s| s.split_once('@').unwrap().1.to_string())
        .collect()
    }

    pub fn get(&self, prop: &str, ds: &str) -> String {
        zfs(&["get", "-H", "-o", "value", prop, ds])
            .trim()
            .to_string()
    }

    /// Locally set properties of `ds`.
    pub fn local_props(&self, ds: &str) -> BTreeMap<String, String> {
        zfs(&[
            "get",
            "-H",
            "-o",
            "property,value",
            "-s",
            "local",
            "all",
            ds,
        ])
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Children of the archive parent `local/old_roots`, by full name.
    pub fn archives(&self) -> Vec<String> {
        let parent = self.ds("local/old_roots");
        self.datasets()
            .into_iter()
            .filter(|d| {
                d.strip_prefix(&parent)
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|r| !r.contains('/'))
            })
            .collect()
    }

    /// What must survive every rollback, for the datasets beside the root: identity (creation
    /// time, a user property, guid where the ZFS has one), local properties, snapshots, content.
    pub fn persistent_state(&self) -> BTreeMap<String, String> {
        ["local/nix", "safe/home", "safe/persist"]
            .iter()
            .map(|rel| {
                let ds = self.ds(rel);
                let guid = run("zfs", &["get", "-H", "-o", "value", "guid", &ds])
                    .unwrap_or_else(|_| "no guid in this zfs".into());
                let state = format!(
                    "creation={} guid={} props={:?} snapshots={:?} tree={:?}",
                    zfs(&["get", "-H", "-p", "-o", "value", "creation", &ds]).trim(),
                    guid.trim(),
                    self.local_props(&ds),
                    self.snapshots(&ds),
                    self.tree(&ds)
                );
                (ds, state)
            })
            .collect()
    }

    /// The root after a finished run: holds the blank, is nobody's clone, keeps the seed's
    /// properties, has the blank's content, and the staging name is free.
    #[track_caller]
    pub fn assert_root_is_blank(&self) {
        let root = self.root();
        assert!(
            self.exists(&root),
            "the root is missing: {:?}",
            self.datasets()
        );
        assert!(
            self.snapshots(&root).contains(&"blank".to_string()),
            "{:?}",
            self.snapshots(&root)
        );
        assert_eq!(self.get("origin", &root), "-");
        assert_eq!(self.get("mountpoint", &root), "legacy");
        assert_eq!(self.get("canmount", &root), "noauto");
        assert!(
            !self.exists(&self.ds("local/.blankroot-new-root")),
            "staging clone left: {:?}",
            self.datasets()
        );
        let tree = self.tree(&root);
        assert!(
            !tree.contains_key("etc/canary"),
            "canary survived: {tree:?}"
        );
        assert_eq!(tree["etc/issue"], "file 644 \"blank\\n\"");
    }
}

fn mountpoint(ds: &str) -> (String, String) {
    let out = zfs(&["get", "-H", "-o", "value,source", "mountpoint", ds]);
    let (v, s) = out.trim_end().split_once('\t').unwrap();
    (v.to_string(), s.to_string())
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
    let path = base.join(rel);
    let md = fs::symlink_metadata(&path).unwrap();
    let mode = md.permissions().mode() & 0o7777;
    let desc = if md.is_dir() {
        format!("dir {mode:o}")
    } else if md.is_file() {
        format!(
            "file {mode:o} {:?}",
            String::from_utf8_lossy(&fs::read(&path).unwrap())
        )
    } else {
        format!("other {mode:o}")
    };
    if !rel.as_os_str().is_empty() {
        out.insert(rel.display().to_string(), desc);
    }
    if md.is_dir() {
        for e in fs::read_dir(&path).unwrap() {
            walk(base, &rel.join(e.unwrap().file_name()), out);
        }
    }
}

/// PATH for blankroot: where the fixture found `zfs`, then the test's own PATH.
pub fn path_with_zfs() -> std::ffi::OsString {
    let dir = tool("zfs").unwrap().parent().unwrap().to_path_buf();
    let mut dirs = vec![dir];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _lock = fuse_lock();
        let imported = run("zpool", &["list", "-H", "-o", "name", &self.name]).is_ok();
        if !imported {
            let dir = self.dir.path().to_str().unwrap().to_string();
            let _ = run(
                "zpool",
                &["import", "-o", "cachefile=none", "-d", &dir, &self.name],
            );
        }
        // A failed test can leave a dataset mounted by with_mounted; zfs-fuse will not destroy
        // a pool with mounts.
        let listed = run(
            "zfs",
            &["list", "-H", "-o", "name,mounted", "-r", &self.name],
        );
        for line in listed.unwrap_or_default().lines() {
            if let Some((ds, "yes")) = line.split_once('\t') {
                let _ = retry_busy("zfs", &["umount", "-f", ds]);
            }
        }
        if let Err(e) = retry_busy("zpool", &["destroy", "-f", &self.name]) {
            eprintln!("could not destroy test pool {}: {e}", self.name);
        }
    }
}
