//! Helpers for the `blankroot diff` tests: an independent brute-force comparison, applying a
//! listing to a copy of the blank, and random file-system operations for the property tests.
#![allow(dead_code)]

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything under `root` (not `root` itself): relative path bytes -> what a copy must match
/// (type, permission bits, owner, and bytes / link target / device numbers).
pub fn describe(root: &Path) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<Vec<u8>, String>) {
    let dir = base.join(rel);
    let mut names: Vec<OsString> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in names {
        let r = rel.join(&n);
        let p = base.join(&r);
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let head = format!(
            "{:o} {}:{}",
            md.permissions().mode() & 0o7777,
            md.uid(),
            md.gid()
        );
        let desc = if ft.is_symlink() {
            format!(
                "link {}:{} -> {:?}",
                md.uid(),
                md.gid(),
                fs::read_link(&p).unwrap().as_os_str().as_bytes()
            )
        } else if ft.is_dir() {
            format!("dir {head}")
        } else if ft.is_file() {
            format!("file {head} {:?}", fs::read(&p).unwrap())
        } else if ft.is_fifo() {
            format!("fifo {head}")
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {head} {}", md.rdev())
        } else {
            format!("other {head}")
        };
        out.insert(r.as_os_str().as_bytes().to_vec(), desc);
        if ft.is_dir() {
            walk(base, &r, out);
        }
    }
}

/// The paths that differ between two trees, by brute force.
pub fn brute_force(live: &Path, blank: &Path) -> BTreeSet<Vec<u8>> {
    let (l, b) = (describe(live), describe(blank));
    l.keys()
        .chain(b.keys())
        .filter(|k| l.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// One entry of `blankroot diff --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Relative path bytes (no leading slash).
    pub path: Vec<u8>,
    pub change: String,
    pub kind: String,
    pub what: Vec<String>,
    pub subvolume: bool,
}

pub fn listed(json: &serde_json::Value) -> Vec<Listed> {
    json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let bytes: Vec<u8> = match c.get("path_bytes") {
                Some(b) => b
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u8)
                    .collect(),
                None => c["path"].as_str().unwrap().as_bytes().to_vec(),
            };
            assert_eq!(bytes.first(), Some(&b'/'), "{c}");
            Listed {
                path: bytes[1..].to_vec(),
                change: c["change"].as_str().unwrap().to_string(),
                kind: c["type"].as_str().unwrap().to_string(),
                what: c
                    .get("what")
                    .and_then(|w| w.as_array())
                    .map(|w| w.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default(),
                subvolume: c.get("subvolume").is_some(),
            }
        })
        .collect()
}

pub fn blankroot(args: &[&OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_blankroot"))
        .args(args)
        .env_remove("BLANKROOT_KERNEL_CMDLINE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `blankroot diff ARGS --json`, which must succeed.
#[track_caller]
pub fn diff_json(args: &[&OsStr]) -> serde_json::Value {
    let mut all: Vec<&OsStr> = vec![OsStr::new("diff")];
    all.extend_from_slice(args);
    all.push(OsStr::new("--json"));
    let (code, out, err) = blankroot(&all);
    assert_eq!(code, 0, "blankroot diff failed:\n{err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn p(rel: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(rel))
}

/// Applies a listing to `copy` (a copy of the blank), taking what is created or modified from
/// `live`: afterwards `copy` must equal `live`.
pub fn apply(list: &[Listed], live: &Path, copy: &Path) {
    let mut deletions: Vec<&Listed> = list.iter().filter(|l| l.change == "deleted").collect();
    deletions.sort_by_key(|l| std::cmp::Reverse(p(&l.path).components().count()));
    for d in deletions {
        let target = copy.join(p(&d.path));
        if d.kind == "dir" {
            fs::remove_dir(&target).unwrap_or_else(|e| panic!("rmdir {target:?}: {e}"));
        } else {
            fs::remove_file(&target).unwrap_or_else(|e| panic!("rm {target:?}: {e}"));
        }
    }
    for l in list.iter().filter(|l| l.change != "deleted") {
        let (src, dst) = (live.join(p(&l.path)), copy.join(p(&l.path)));
        let md = fs::symlink_metadata(&src).unwrap();
        let keep_dir = l.change == "modified"
            && md.is_dir()
            && fs::symlink_metadata(&dst).is_ok_and(|m| m.is_dir());
        if !keep_dir {
            match fs::symlink_metadata(&dst) {
                Ok(m) if m.is_dir() => fs::remove_dir(&dst).unwrap(),
                Ok(_) => fs::remove_file(&dst).unwrap(),
                Err(_) => {}
            }
            copy_node(&src, &dst, &md);
        }
        // Owner first: chown clears the setuid and setgid bits.
        std::os::unix::fs::lchown(&dst, Some(md.uid()), Some(md.gid())).unwrap();
        if !md.file_type().is_symlink() {
            fs::set_permissions(
                &dst,
                fs::Permissions::from_mode(md.permissions().mode() & 0o7777),
            )
            .unwrap();
        }
    }
}

fn copy_node(src: &Path, dst: &Path, md: &fs::Metadata) {
    let ft = md.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src).unwrap(), dst).unwrap();
    } else if ft.is_dir() {
        fs::create_dir(dst).unwrap();
    } else if ft.is_file() {
        fs::copy(src, dst).unwrap();
    } else {
        let kind = if ft.is_fifo() {
            "p"
        } else if ft.is_char_device() {
            "c"
        } else {
            "b"
        };
        let mut cmd = Command::new("mknod");
        cmd.arg(dst).arg(kind);
        if kind != "p" {
            let rdev = md.rdev();
            let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
            let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
            cmd.arg(major.to_string()).arg(minor.to_string());
        }
        assert!(cmd.status().unwrap().success());
    }
}

/// A random change to a tree.
#[derive(Debug, Clone)]
pub enum Op {
    Write(Vec<u8>, Vec<u8>),
    Append(Vec<u8>),
    Mkdir(Vec<u8>),
    Symlink(Vec<u8>, Vec<u8>),
    Fifo(Vec<u8>),
    Remove(Vec<u8>),
    Chmod(Vec<u8>, u32),
    Chown(Vec<u8>, u32),
    Rename(Vec<u8>, Vec<u8>),
    Touch(Vec<u8>),
    /// New bytes, same size (defeats a size-only comparison).
    Rewrite(Vec<u8>),
    /// A nested subvolume (on Btrfs; a plain directory elsewhere).
    Subvolume(Vec<u8>),
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(b"a".to_vec()),
        3 => Just(b"b".to_vec()),
        3 => Just(b"c".to_vec()),
        1 => Just(b"with space".to_vec()),
        1 => Just(b"new\nline".to_vec()),
        1 => Just("caf\u{e9}".as_bytes().to_vec()),
        1 => Just(b"bad\xff".to_vec()),
    ]
}

/// A fixed start, so that random operations mostly hit existing paths.
pub fn skeleton(root: &Path) {
    for d in ["a", "b", "a/a", "a/b", "b/a"] {
        fs::create_dir(root.join(d)).unwrap();
    }
    for f in ["c", "a/c", "b/c", "a/a/c", "a/b/c", "b/a/c", "a/a/a"] {
        fs::write(root.join(f), format!("seed {f}\n")).unwrap();
    }
}

fn rel_path() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(name(), 1..4).prop_map(|parts| parts.join(&b'/'))
}

/// How many cases a property test runs: `default`, or `PROPTEST_CASES` when set (a longer search
/// for rare cases, e.g. `PROPTEST_CASES=2000 cargo test --test diff_bulk`).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (rel_path(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(p, c)| Op::Write(p, c)),
        2 => rel_path().prop_map(Op::Append),
        3 => rel_path().prop_map(Op::Mkdir),
        1 => (rel_path(), rel_path()).prop_map(|(p, t)| Op::Symlink(p, t)),
        1 => rel_path().prop_map(Op::Fifo),
        2 => rel_path().prop_map(Op::Remove),
        1 => (rel_path(), prop_oneof![Just(0o600u32), Just(0o755), Just(0o4755), Just(0o1777)]).prop_map(|(p, m)| Op::Chmod(p, m)),
        2 => (rel_path(), prop_oneof![Just(0u32), Just(1000)]).prop_map(|(p, u)| Op::Chown(p, u)),
        1 => (rel_path(), rel_path()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => rel_path().prop_map(Op::Touch),
        2 => rel_path().prop_map(Op::Rewrite),
        1 => rel_path().prop_map(Op::Subvolume),
    ]
}

/// Applies an operation under `root`, ignoring the ones that make no sense there (a missing
/// parent, a file where a directory is needed...).
pub fn apply_op(root: &Path, op: &Op, btrfs: bool) {
    let at = |r: &[u8]| root.join(p(r));
    // Writing through a fifo (or a symlink to one) would block: only write regular files.
    let writable = |r: &[u8]| match fs::symlink_metadata(at(r)) {
        Ok(m) => m.is_file(),
        Err(_) => true,
    };
    let _ = match op {
        Op::Write(r, c) if writable(r) => fs::write(at(r), c),
        Op::Append(r) if writable(r) => fs::OpenOptions::new()
            .append(true)
            .open(at(r))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"+")),
        Op::Write(..) | Op::Append(_) => Ok(()),
        Op::Mkdir(r) => fs::create_dir(at(r)),
        Op::Symlink(r, t) => std::os::unix::fs::symlink(OsStr::from_bytes(t), at(r)),
        Op::Fifo(r) => Command::new("mkfifo")
            .arg(at(r))
            .stderr(std::process::Stdio::null())
            .status()
            .map(|_| ()),
        Op::Remove(r) => {
            let t = at(r);
            match fs::symlink_metadata(&t) {
                Ok(m) if m.is_dir() => remove_tree(&t),
                Ok(_) => fs::remove_file(&t),
                Err(e) => Err(e),
            }
        }
        Op::Chmod(r, m) => match fs::symlink_metadata(at(r)) {
            Ok(md) if !md.file_type().is_symlink() => {
                fs::set_permissions(at(r), fs::Permissions::from_mode(*m))
            }
            _ => Ok(()),
        },
        Op::Chown(r, u) => std::os::unix::fs::lchown(at(r), Some(*u), Some(*u)),
        Op::Rename(a, b) => fs::rename(at(a), at(b)),
        Op::Touch(r) => match fs::symlink_metadata(at(r)) {
            Ok(md) if md.is_file() => {
                // Same bytes, new times: not a difference.
                let bytes = fs::read(at(r)).unwrap();
                fs::write(at(r), bytes)
            }
            _ => Ok(()),
        },
        Op::Rewrite(r) => match fs::symlink_metadata(at(r)) {
            Ok(md) if md.is_file() => {
                let bytes: Vec<u8> = fs::read(at(r)).unwrap().iter().map(|b| !b).collect();
                fs::write(at(r), bytes)
            }
            _ => Ok(()),
        },
        Op::Subvolume(r) => {
            if btrfs {
                Command::new("btrfs")
                    .args(["-q", "subvolume", "create"])
                    .arg(at(r))
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map(|_| ())
            } else {
                fs::create_dir(at(r))
            }
        }
    };
}

/// `rm -r` that also removes nested Btrfs subvolumes (rmdir works on an empty subvolume as root
/// only with user_subvol_rm_allowed; `btrfs subvolume delete` always works).
pub fn remove_tree(t: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(t)? {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            remove_tree(&e.path())?;
        } else {
            fs::remove_file(e.path())?;
        }
    }
    if fs::symlink_metadata(t)?.ino() == 256 {
        let ok = Command::new("btrfs")
            .args(["-q", "subvolume", "delete"])
            .arg(t)
            .stdout(std::process::Stdio::null())
            .status()?
            .success();
        if ok {
            return Ok(());
        }
    }
    fs::remove_dir(t)
}

pub fn path_set(list: &[Listed]) -> BTreeSet<Vec<u8>> {
    list.iter().map(|l| l.path.clone()).collect()
}

pub fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

pub fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(b.to_vec()))
}
