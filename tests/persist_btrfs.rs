//! `blankroot persist` on real loop-mounted filesystems: live paths copied into a store with
//! everything `restore` keeps (type, owner, mode, times, extended attributes, ACLs, hard links,
//! symlinks as links, FIFOs), reflinked on the same Btrfs, copied onto ext4, sparse onto a small
//! tmpfs; and its refusals, each leaving the store exactly as it was.
//!
//! The "live" paths are on a loop btrfs mounted under a temporary directory, so a PATH is that
//! absolute path (`/tmp/.../live/var/lib/foo`), and its copy `STORE/tmp/.../live/var/lib/foo`.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const MTIME: i64 = 981_173_106;
const ATIME: i64 = 1_015_218_367;

fn persist(args: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg("persist")
            .args(args)
            .output()
            .unwrap(),
    )
}

fn set_times(p: &Path) {
    let ts = |s: i64| rustix::fs::Timespec {
        tv_sec: s,
        tv_nsec: 123_456_789,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: ts(ATIME),
            last_modification: ts(MTIME),
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    rustix::fs::lgetxattr(p, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

/// A service's state directory with every kind of entry, owners, modes, xattrs, an ACL, and
/// the times set last.
fn fill(state: &Path) {
    fs::create_dir_all(state.join("sub")).unwrap();
    fs::write(state.join("data.db"), "rows\n".repeat(10_000)).unwrap();
    fs::write(state.join("sub/deep.txt"), "deep\n").unwrap();
    fs::hard_link(state.join("data.db"), state.join("sub/same-inode")).unwrap();
    std::os::unix::fs::symlink("data.db", state.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", state.join("outside")).unwrap();
    sh("mkfifo", &[state.join("fifo").to_str().unwrap()]);
    for (p, uid, mode) in [
        ("data.db", 1234, 0o640),
        ("sub", 1234, 0o750),
        ("sub/deep.txt", 1235, 0o604),
        ("fifo", 1234, 0o620),
        ("", 1234, 0o751),
    ] {
        let path = state.join(p);
        std::os::unix::fs::chown(&path, Some(uid), Some(uid + 1000)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::lchown(state.join("outside"), Some(1234), None).unwrap();
    let x = |p: &str, n: &str, v: &[u8]| {
        rustix::fs::lsetxattr(state.join(p), n, v, rustix::fs::XattrFlags::empty()).unwrap()
    };
    x("data.db", "user.note", b"kept");
    x("data.db", "trusted.t", b"root only");
    sh(
        "setfacl",
        &["-m", "u:4321:rw", state.join("data.db").to_str().unwrap()],
    );
    sh(
        "setfacl",
        &[
            "-d",
            "-m",
            "u:4321:rwx",
            state.join("sub").to_str().unwrap(),
        ],
    );
    for p in [
        "data.db",
        "sub/deep.txt",
        "sub",
        "rel-link",
        "outside",
        "fifo",
        "",
    ] {
        set_times(&state.join(p));
    }
}

/// Everything persist keeps about an entry; the inode number stands for "a hard link of".
fn describe(p: &Path, inodes: &mut Vec<u64>) -> String {
    let md = fs::symlink_metadata(p).unwrap();
    let ft = md.file_type();
    let what = if ft.is_symlink() {
        format!("link -> {}", fs::read_link(p).unwrap().display())
    } else if ft.is_dir() {
        "dir".to_string()
    } else if ft.is_file() {
        format!("file {} bytes", fs::read(p).unwrap().len())
    } else if ft.is_fifo() {
        "fifo".to_string()
    } else {
        "other".to_string()
    };
    let link = if ft.is_file() && md.nlink() > 1 {
        let at = inodes
            .iter()
            .position(|i| *i == md.ino())
            .unwrap_or_else(|| {
                inodes.push(md.ino());
                inodes.len() - 1
            });
        format!(" inode#{at} nlink {}", md.nlink())
    } else {
        String::new()
    };
    let mut xattrs = Vec::new();
    if !ft.is_symlink() {
        for name in ["user.note", "trusted.t"] {
            if let Some(v) = xattr(p, name) {
                xattrs.push(format!("{name}={}", String::from_utf8_lossy(&v)));
            }
        }
    }
    let acl = if ft.is_dir() || ft.is_file() {
        sh(
            "getfacl",
            &[
                "--omit-header",
                "--absolute-names",
                "--numeric",
                p.to_str().unwrap(),
            ],
        )
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
    } else {
        String::new()
    };
    format!(
        "{what}{link} mode {:o} owner {}:{} mtime {}.{} xattrs {xattrs:?} acl [{acl}]",
        md.mode() & 0o7777,
        md.uid(),
        md.gid(),
        md.mtime(),
        md.mtime_nsec()
    )
}

fn tree(base: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<String, String>, ino: &mut Vec<u64>) {
        let p = base.join(rel);
        out.insert(rel.display().to_string(), describe(&p, ino));
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            let mut names: Vec<_> = fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            for n in names {
                walk(base, &rel.join(n), out, ino);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(base, Path::new(""), &mut out, &mut Vec::new());
    out
}

/// Where persist puts `path` in `store`.
fn copy_of(store: &Path, path: &Path) -> PathBuf {
    store.join(path.strip_prefix("/").unwrap())
}

/// A filesystem mounted on a temporary directory, unmounted on drop.
struct On {
    dir: tempfile::TempDir,
}

impl On {
    fn new(dev: &str, opts: &[&str]) -> On {
        let dir = tempfile::Builder::new()
            .prefix("blankroot-persist")
            .tempdir()
            .unwrap();
        let mut a = opts.to_vec();
        a.extend([dev, dir.path().to_str().unwrap()]);
        sh("mount", &a);
        On { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Drop for On {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn shared_extents(p: &Path) -> bool {
    sh("filefrag", &["-v", p.to_str().unwrap()]).contains("shared")
}

#[test]
fn every_entry_type_is_kept_reflinked_on_the_same_btrfs_and_copied_onto_ext4() {
    if !root_or_skip("persist_entry_types") {
        return;
    }
    let img = Image::new(512);
    let live = On::new(img.dev.to_str().unwrap(), &[]);
    let state = live.path("live/var/lib/foo");
    fill(&state);
    fs::set_permissions(live.path("live/var/lib"), fs::Permissions::from_mode(0o711)).unwrap();
    std::os::unix::fs::chown(live.path("live/var"), Some(7), Some(8)).unwrap();
    let store = live.path("store");
    fs::create_dir(&store).unwrap();
    let (s, p) = (store.to_str().unwrap(), state.to_str().unwrap());
    let before = tree(&state);

    // --dry-run: what would be copied, nothing written.
    let r = persist(&["--to", s, "--dry-run", p]);
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "would persist {p} -> {} (new; 8 entries, 50005 bytes)",
            copy_of(&store, &state).display()
        )),
        "{}",
        r.stdout
    );
    assert_eq!(fs::read_dir(&store).unwrap().count(), 0, "dry run wrote");

    let r = persist(&["--to", s, p]);
    r.ok();
    let copy = copy_of(&store, &state);
    assert!(
        r.stdout.contains(&format!(
            "persisted {p} -> {} (8 entries, 50005 bytes, reflinked)",
            copy.display()
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "add for impermanence: environment.persistence.\"{s}\".directories = [ {{ directory = \"{p}\"; user = \"1234\"; group = \"2234\"; mode = \"0751\"; }} ];"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("add for preservation: preservation.preserveAt."),
        "{}",
        r.stdout
    );
    assert_eq!(
        tree(&copy),
        before,
        "the copy is the source, entry for entry"
    );
    assert_eq!(tree(&state), before, "the source is untouched");
    assert!(
        shared_extents(&copy.join("data.db")),
        "reflinked on the same btrfs"
    );
    // The parents made are like the source's: owner and mode.
    let md = |p: &Path| fs::metadata(p).unwrap();
    let (src_lib, dst_lib) = (
        md(&live.path("live/var/lib")),
        md(&copy_of(&store, &live.path("live/var/lib"))),
    );
    assert_eq!(dst_lib.mode() & 0o7777, 0o711);
    assert_eq!(src_lib.mode(), dst_lib.mode());
    assert_eq!(md(&copy_of(&store, &live.path("live/var"))).uid(), 7);
    assert_eq!(md(&copy_of(&store, &live.path("live/var"))).gid(), 8);
    // No temporary name is left.
    let names: Vec<_> = fs::read_dir(copy.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["foo"]);

    // Onto another filesystem (ext4): copied, not shared, the same entries.
    let other = Image::with_mkfs(256, &["mkfs.ext4", "-q"]);
    let ext = On::new(other.dev.to_str().unwrap(), &[]);
    let e = ext.path("persist");
    fs::create_dir(&e).unwrap();
    let r = persist(&["--to", e.to_str().unwrap(), p]);
    r.ok();
    assert!(
        r.stdout.contains("(8 entries, 50005 bytes, copied)"),
        "{}",
        r.stdout
    );
    let ecopy = copy_of(&e, &state);
    assert_eq!(tree(&ecopy), before);
    assert!(!shared_extents(&ecopy.join("data.db")));
}

#[test]
fn a_sparse_file_persisted_onto_a_small_tmpfs_stays_sparse() {
    if !root_or_skip("persist_sparse") {
        return;
    }
    use std::io::{Seek, SeekFrom, Write};
    let img = Image::new(512);
    let live = On::new(img.dev.to_str().unwrap(), &[]);
    let vm = live.path("live/var/lib/vm");
    fs::create_dir_all(&vm).unwrap();
    let mut f = fs::File::create(vm.join("disk.img")).unwrap();
    f.write_all(b"boot sector").unwrap();
    f.seek(SeekFrom::Start(2 << 30)).unwrap();
    f.write_all(b"in the middle").unwrap();
    f.set_len(4 << 30).unwrap();
    drop(f);
    let small = On::new("tmpfs", &["-t", "tmpfs", "-o", "size=64m"]);
    let file = vm.join("disk.img");
    persist(&[
        "--to",
        small.dir.path().to_str().unwrap(),
        file.to_str().unwrap(),
    ])
    .ok();
    let out = copy_of(small.dir.path(), &file);
    let m = fs::metadata(&out).unwrap();
    assert_eq!(m.len(), 4 << 30, "apparent size kept");
    assert!(m.blocks() * 512 < 1 << 20, "sparse: {} blocks", m.blocks());
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 13];
    fs::File::open(&out)
        .unwrap()
        .read_exact_at(&mut buf, 2 << 30)
        .unwrap();
    assert_eq!(&buf, b"in the middle");
}

#[test]
fn refusals_change_nothing() {
    if !root_or_skip("persist_refusals") {
        return;
    }
    let img = Image::new(512);
    let live = On::new(img.dev.to_str().unwrap(), &[]);
    let state = live.path("live/var/lib/foo");
    fill(&state);
    let other = live.path("live/var/lib/other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("x"), "x\n").unwrap();
    // The store on a filesystem of its own (a tmpfs): not wiped.
    let st = On::new("tmpfs", &["-t", "tmpfs", "-o", "size=64m"]);
    let store = st.dir.path();
    let s = store.to_str().unwrap();
    let (p, o) = (state.to_str().unwrap(), other.to_str().unwrap());
    let snapshot = || tree(store);

    // A relative PATH, or a PATH that is not one: usage errors.
    let empty = snapshot();
    persist(&["--to", s, "var/lib/foo"]).fails(2, "PATH \"var/lib/foo\" is relative");
    persist(&["--to", s, "/"]).fails(2, "is the whole root");
    persist(&["--to", "relative", p]).fails(2, "not an absolute path");
    persist(&[p, "--frobnicate"]).fails(2, "unknown option --frobnicate for persist");
    assert_eq!(snapshot(), empty);

    // The store inside a wiped target, by a config.json that names its filesystem a target.
    let wiped = live.path("store");
    fs::create_dir(&wiped).unwrap();
    let cfg = img.dir.path().join("config.json");
    fs::write(
        &cfg,
        serde_json::json!({
            "targets": [{"mount_point": live.dir.path()}],
            "persist_dir": wiped,
        })
        .to_string(),
    )
    .unwrap();
    persist(&["--config", cfg.to_str().unwrap(), p]).fails(
        1,
        &format!(
            "the store {} lies on {}, which the next boot wipes (a target of {})",
            wiped.display(),
            live.dir.path().display(),
            cfg.display()
        ),
    );
    assert_eq!(fs::read_dir(&wiped).unwrap().count(), 0);
    // The same configuration with a persistent store: persist_dir is where it goes by default.
    fs::write(
        &cfg,
        serde_json::json!({"targets": [{"mount_point": live.dir.path()}], "persist_dir": store})
            .to_string(),
    )
    .unwrap();
    persist(&["--config", cfg.to_str().unwrap(), "--dry-run", p]).ok();
    assert_eq!(snapshot(), empty, "dry run");
    persist(&["--config", cfg.to_str().unwrap(), p]).ok();
    let copied = snapshot();
    assert_ne!(copied, empty);

    // The destination exists: refused, all PATHs (nothing of `other` is copied either).
    let r = persist(&["--to", s, o, p]);
    r.fails(1, "exists (a directory): pass --force");
    assert!(r.stderr.contains("nothing was copied"), "{}", r.stderr);
    assert_eq!(snapshot(), copied);

    // Already persisted: a bind mount from the store, and a path beneath one.
    let copy = copy_of(store, &state);
    sh("mount", &["--bind", copy.to_str().unwrap(), p]);
    let bound = persist(&["--to", s, "--force", p]);
    let beneath = persist(&["--to", s, "--force", &format!("{p}/sub")]);
    sh("umount", &[p]);
    bound.fails(
        1,
        &format!(
            "{p} is a bind mount of {} from the store: it is persisted already",
            copy.display()
        ),
    );
    beneath.fails(
        1,
        &format!(
            "lies under {p}, a bind mount of {} from the store",
            copy.display()
        ),
    );
    assert_eq!(snapshot(), copied);

    // A PATH in the store, or holding it.
    persist(&["--to", s, &format!("{s}/x")]).fails(1, "overlap");

    // --force merges: a new file in the source comes over, what only the copy has stays.
    fs::write(state.join("new"), "new\n").unwrap();
    fs::write(copy.join("only-in-copy"), "kept\n").unwrap();
    persist(&["--to", s, "--force", p]).ok();
    assert_eq!(fs::read_to_string(copy.join("new")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(copy.join("only-in-copy")).unwrap(),
        "kept\n"
    );
}
