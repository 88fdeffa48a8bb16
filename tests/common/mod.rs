//! Fixtures for the integration tests: real btrfs filesystems on loop devices, the blankroot
//! binary, and ways to look at what a run left on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Tests that need root call this first: without root they skip (return false), unless
/// `BLANKROOT_REQUIRE_ROOT=1` (set by `.ci/run`), which turns the skip into a failure.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("BLANKROOT_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root, and BLANKROOT_REQUIRE_ROOT=1 forbids skipping it");
    }
    eprintln!("SKIPPED {test}: needs root (loop devices, mount)");
    false
}

/// The binary under test: this build's, or `BLANKROOT_TEST_BIN` (to show that a test fails on
/// another version, e.g. the last release, before a fix).
pub fn binary() -> PathBuf {
    std::env::var_os("BLANKROOT_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_blankroot")))
}

/// `blankroot check ARGS...` (the binary under test), as run on a booted system.
pub fn check(args: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg("check")
            .args(args)
            .env_remove("BLANKROOT_KERNEL_CMDLINE")
            .output()
            .unwrap(),
    )
}

/// The filesystem's generation line from its superblock: unchanged means nothing was written.
pub fn generation(dev: &Path) -> String {
    sh(
        "btrfs",
        &["inspect-internal", "dump-super", dev.to_str().unwrap()],
    )
    .lines()
    .find(|l| l.starts_with("generation"))
    .unwrap()
    .to_string()
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch btrfs filesystem on a loop device, detached on drop.
pub struct Image {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub dev: PathBuf,
    /// An open descriptor keeps the loop device bound to our file even if another process
    /// detaches it by mistake (the kernel then only marks it for clearing on last close).
    _hold: fs::File,
}

impl Image {
    pub fn new(size_mb: u64) -> Image {
        Image::with_mkfs(size_mb, &["mkfs.btrfs", "-q", "-f"])
    }

    /// An image made by another mkfs (`["mkfs.ext4", "-q"]`) or none (`[]`: all zero).
    pub fn with_mkfs(size_mb: u64, mkfs: &[&str]) -> Image {
        let dir = tempfile::Builder::new()
            .prefix("blankroot-test")
            .tempdir()
            .unwrap();
        let file = dir.path().join("disk.img");
        let f = fs::File::create(&file).unwrap();
        f.set_len(size_mb << 20).unwrap();
        drop(f);
        if let Some((cmd, args)) = mkfs.split_first() {
            let mut a: Vec<&str> = args.to_vec();
            a.push(file.to_str().unwrap());
            sh(cmd, &a);
        }
        let dev =
            PathBuf::from(sh("losetup", &["--find", "--show", file.to_str().unwrap()]).trim());
        // Stands in for /dev/kmsg, which blankroot appends to but never creates.
        fs::write(dir.path().join("kmsg"), "").unwrap();
        let _hold = fs::File::open(&dev).unwrap();
        Image {
            dir,
            file,
            dev,
            _hold,
        }
    }

    pub fn status_file(&self) -> PathBuf {
        self.dir.path().join("status.json")
    }

    pub fn kmsg_file(&self) -> PathBuf {
        self.dir.path().join("kmsg")
    }

    /// The binary with the arguments every test passes, then `args`.
    pub fn blankroot(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.arg("rollback")
            .arg("--device")
            .arg(&self.dev)
            .arg("--allow-outside-initrd")
            .arg("--status-file")
            .arg(self.status_file())
            .args(args)
            .env("BLANKROOT_KMSG", self.kmsg_file())
            .env_remove("BLANKROOT_FAILPOINT")
            .env_remove("BLANKROOT_KERNEL_CMDLINE");
        c
    }

    pub fn rollback(&self, args: &[&str]) -> Run {
        Run::of(self.blankroot(args).output().unwrap())
    }

    pub fn mount(&self) -> Mount {
        Mount::new(&self.dev)
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(self.status_file()).unwrap()).unwrap()
    }

    /// Unmounts what a killed run left mounted under /run/blankroot.
    pub fn unmount_leftovers(&self) {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        for line in info.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let source = f.iter().skip_while(|x| **x != "-").nth(2).copied();
            if f[4].starts_with("/run/blankroot/top.") && source == self.dev.to_str() {
                sh("umount", &[f[4]]);
                let _ = fs::remove_dir(f[4]);
            }
        }
        // A run killed between making its mount point and mounting leaves the empty directory
        // (`top.PID.N`): remove those of processes that are gone (an empty directory only).
        for e in fs::read_dir("/run/blankroot")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("top.").and_then(|r| r.split('.').next());
            if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                let _ = fs::remove_dir(e.path());
            }
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Fails with `code` and a stderr error line containing `text`.
    #[track_caller]
    pub fn fails(&self, code: i32, text: &str) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("blankroot: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{}", self.stderr);
        self
    }
}

/// The top level of an image mounted with `subvolid=5`, unmounted on drop.
pub struct Mount {
    pub dir: tempfile::TempDir,
}

impl Mount {
    pub fn new(dev: &Path) -> Mount {
        let dir = tempfile::Builder::new()
            .prefix("blankroot-mnt")
            .tempdir()
            .unwrap();
        sh(
            "mount",
            &[
                "-o",
                "subvolid=5",
                dev.to_str().unwrap(),
                dir.path().to_str().unwrap(),
            ],
        );
        Mount { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn subvol(&self, rel: &str) -> &Mount {
        sh(
            "btrfs",
            &[
                "-q",
                "subvolume",
                "create",
                self.path(rel).to_str().unwrap(),
            ],
        );
        self
    }

    pub fn snapshot(&self, src: &str, dst: &str, read_only: bool) -> &Mount {
        let (s, d) = (self.path(src), self.path(dst));
        let mut args = vec!["-q", "subvolume", "snapshot"];
        if read_only {
            args.push("-r");
        }
        args.extend([s.to_str().unwrap(), d.to_str().unwrap()]);
        sh("btrfs", &args);
        self
    }

    pub fn write(&self, rel: &str, text: &str) -> &Mount {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }

    pub fn mkdir(&self, rel: &str) -> &Mount {
        fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    pub fn set_ro(&self, rel: &str, ro: bool) -> &Mount {
        let v = if ro { "true" } else { "false" };
        sh(
            "btrfs",
            &[
                "property",
                "set",
                "-ts",
                self.path(rel).to_str().unwrap(),
                "ro",
                v,
            ],
        );
        self
    }

    /// Marks `rel` as an archive blankroot made, the way blankroot marks one
    /// (`trusted.blankroot.retired` = its own name).
    pub fn mark_archive(&self, rel: &str) -> &Mount {
        let name = Path::new(rel)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        self.set_mark(rel, &name)
    }

    pub fn set_mark(&self, rel: &str, value: &str) -> &Mount {
        rustix::fs::setxattr(
            self.path(rel),
            "trusted.blankroot.retired",
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap_or_else(|e| panic!("marking {rel}: {e}"));
        self
    }

    pub fn mark(&self, rel: &str) -> Option<String> {
        let mut buf = [0u8; 256];
        rustix::fs::getxattr(self.path(rel), "trusted.blankroot.retired", &mut buf[..])
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// Subvolume id of `rel` (which must be a subvolume).
    pub fn id(&self, rel: &str) -> u64 {
        let md = fs::symlink_metadata(self.path(rel)).unwrap();
        assert_eq!(md.ino(), 256, "{rel} is not a subvolume");
        sh(
            "btrfs",
            &[
                "inspect-internal",
                "rootid",
                self.path(rel).to_str().unwrap(),
            ],
        )
        .trim()
        .parse()
        .unwrap()
    }

    pub fn is_subvolume(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok_and(|m| m.is_dir() && m.ino() == 256)
    }

    pub fn read_only(&self, rel: &str) -> bool {
        sh(
            "btrfs",
            &[
                "property",
                "get",
                "-ts",
                self.path(rel).to_str().unwrap(),
                "ro",
            ],
        )
        .trim()
            == "ro=true"
    }

    /// Every subvolume: path relative to the top level -> id.
    pub fn subvolumes(&self) -> BTreeMap<String, u64> {
        sh(
            "btrfs",
            &["subvolume", "list", self.dir.path().to_str().unwrap()],
        )
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(9, ' ').collect();
            Some((f.get(8)?.to_string(), f.get(1)?.parse().ok()?))
        })
        .collect()
    }

    /// Everything under `rel`, for "content unchanged" comparisons: path -> description
    /// (kind, mode, content or link target). Nested subvolumes are marked.
    pub fn tree(&self, rel: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(&self.path(rel), Path::new(""), &mut out);
        out
    }

    /// Entries directly in `rel`.
    pub fn ls(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path(rel))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
    let path = base.join(rel);
    let md = fs::symlink_metadata(&path).unwrap();
    let mode = md.permissions().mode() & 0o7777;
    let desc = if md.file_type().is_symlink() {
        format!(
            "link {mode:o} -> {}",
            fs::read_link(&path).unwrap().display()
        )
    } else if md.is_dir() {
        format!(
            "dir {mode:o}{}",
            if md.ino() == 256 { " subvolume" } else { "" }
        )
    } else if md.is_file() {
        format!("file {mode:o} {:?}", fs::read(&path).unwrap())
    } else {
        format!("special {mode:o}")
    };
    out.insert(rel.display().to_string(), desc);
    if md.is_dir() {
        for e in fs::read_dir(&path).unwrap() {
            walk(base, &rel.join(e.unwrap().file_name()), out);
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Something scanning the machine may hold the mount busy for a moment: retry, then
        // detach lazily rather than leak a mount and its loop device.
        for _ in 0..20 {
            if Command::new("umount")
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success())
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The layout of "Full Disk Encryption and Impermanence on NixOS" (2025): `root` (with a canary), `root-blank` (read-only, taken from the empty
/// root), and `home`, `nix`, `persist`, `log` with content. With `nested`, the nested
/// subvolumes of itsdrike's NixOS guide (its "Impermanence" chapter) inside the root, and deeper nesting.
pub fn seed_layout(img: &Image, nested: bool) {
    let m = img.mount();
    m.subvol("root")
        .mkdir("root/etc")
        .write("root/etc/issue", "blank\n");
    m.snapshot("root", "root-blank", true);
    for s in ["home", "nix", "persist", "log"] {
        m.subvol(s)
            .write(&format!("{s}/kept"), &format!("{s} data\n"));
    }
    m.mkdir("nix/store/abc-hello/bin")
        .write("nix/store/abc-hello/bin/hello", "#!/bin/sh\n");
    m.write("persist/etc/machine-id", "0123456789abcdef\n");
    m.write("root/etc/canary", "gone after rollback\n")
        .mkdir("root/var/lib")
        .mkdir("root/tmp");
    if nested {
        m.subvol("root/var/lib/machines")
            .subvol("root/var/lib/portables")
            .subvol("root/srv")
            .subvol("root/var/tmp");
        m.write("root/var/lib/machines/vm.raw", "machine\n");
        m.subvol("root/srv/www")
            .subvol("root/srv/www/deeper")
            .write("root/srv/www/deeper/x", "deep\n");
    }
}

/// Ids and contents of the subvolumes that must survive every rollback of [`seed_layout`].
pub type State = BTreeMap<String, (u64, BTreeMap<String, String>)>;

pub fn persistent_state(m: &Mount) -> State {
    ["home", "nix", "persist", "log", "root-blank"]
        .iter()
        .map(|s| (s.to_string(), (m.id(s), m.tree(s))))
        .collect()
}
