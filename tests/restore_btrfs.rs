//! `blankroot restore` on Btrfs: paths copied back out of an archive that `rollback
//! --archive-dir` made, with type, owner, mode, times, extended attributes, ACLs, hard links,
//! symlinks (never followed) and the content of nested subvolumes; refusals that write nothing;
//! and the archive exactly as it was afterwards.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// 2001-02-03T04:05:06Z and 2002-03-04T05:06:07Z.
const MTIME: i64 = 981_173_106;
const ATIME: i64 = 1_015_218_367;

fn restore(img: &Image, args: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg("restore")
            .arg("--device")
            .arg(&img.dev)
            .arg("--archive-dir")
            .arg("old_roots")
            .args(args)
            .output()
            .unwrap(),
    )
}

fn set_times(p: &Path, atime: i64, mtime: i64) {
    let ts = |s: i64| rustix::fs::Timespec {
        tv_sec: s,
        tv_nsec: 123_456_789,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: ts(atime),
            last_modification: ts(mtime),
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

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

/// The root blankroot archives: host keys, a service's state directory with everything a
/// directory can hold, a nested subvolume, a symlinked directory (`/var/run`), and a file under
/// /tmp of this machine for the restore without --to.
fn fill_root(m: &Mount, live_dir: &str) {
    m.write("root/etc/ssh/ssh_host_ed25519_key", "PRIVATE KEY\n")
        .write(
            "root/etc/ssh/ssh_host_ed25519_key.pub",
            "ssh-ed25519 AAAA\n",
        );
    fs::set_permissions(
        m.path("root/etc/ssh/ssh_host_ed25519_key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let state = m.path("root/var/lib/foo");
    m.write("root/var/lib/foo/data.db", "rows\n")
        .write("root/var/lib/foo/sub/deep.txt", "deep\n")
        .write("root/var/lib/foo/setuid", "#!/bin/sh\n");
    fs::hard_link(state.join("data.db"), state.join("sub/same-inode")).unwrap();
    std::os::unix::fs::symlink("data.db", state.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", state.join("outside")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../etc/passwd", state.join("up-and-out"))
        .unwrap();
    sh("mkfifo", &[state.join("fifo").to_str().unwrap()]);
    sh(
        "mknod",
        &[state.join("null").to_str().unwrap(), "c", "1", "3"],
    );
    for (p, uid, mode) in [
        ("data.db", 1234, 0o640),
        ("sub", 1234, 0o750),
        ("sub/deep.txt", 1235, 0o604),
        ("setuid", 0, 0o4755),
        ("fifo", 1234, 0o620),
        ("", 1234, 0o751),
    ] {
        let path = state.join(p);
        rustix::fs::chown(
            &path,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(uid + 1000)),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::lchown(state.join("outside"), Some(1234), None).unwrap();
    set_xattr(&state.join("data.db"), "user.note", b"kept");
    set_xattr(&state.join("data.db"), "trusted.t", b"root only");
    // blankroot's own mark is never copied, wherever it is found.
    set_xattr(
        &state.join("data.db"),
        "trusted.blankroot.retired",
        b"data.db",
    );
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
    // (seed_layout made the nested subvolume root/var/lib/machines, with vm.raw.)
    m.write("root/run/foo.pid", "42\n");
    std::os::unix::fs::symlink("../run", m.path("root/var/run")).unwrap();
    m.write(&format!("root{live_dir}/restored-into-slash"), "live\n");
    // Times last: everything above moved them.
    for p in [
        "data.db",
        "sub/deep.txt",
        "sub",
        "rel-link",
        "outside",
        "fifo",
        "null",
        "",
    ] {
        set_times(&state.join(p), ATIME, MTIME);
    }
}

/// Looking changes nothing: reads with `O_NOATIME`, so that comparing before and after (and
/// the source with its copy) is not disturbed by the look itself.
fn read_noatime(p: &Path) -> Vec<u8> {
    use std::io::Read;
    let fd = rustix::fs::open(
        p,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOATIME,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut v = Vec::new();
    fs::File::from(fd).read_to_end(&mut v).unwrap();
    v
}

fn list_noatime(p: &Path) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let fd = rustix::fs::open(
        p,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NOATIME,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    rustix::fs::Dir::read_from(&fd)
        .unwrap()
        .map(|e| std::ffi::OsStr::from_bytes(e.unwrap().file_name().to_bytes()).to_owned())
        .filter(|n| n != "." && n != "..")
        .collect()
}

/// Everything about an entry that restore keeps: kind, mode, owner, atime, mtime (to the
/// nanosecond), size or link target or device number, the copied extended attributes, the
/// ACLs as getfacl prints them.
fn describe(p: &Path) -> String {
    let md = fs::symlink_metadata(p).unwrap();
    let ft = md.file_type();
    let what = if ft.is_symlink() {
        format!("link -> {}", fs::read_link(p).unwrap().display())
    } else if ft.is_dir() {
        "dir".to_string()
    } else if ft.is_file() {
        format!("file {:?}", String::from_utf8_lossy(&read_noatime(p)))
    } else if ft.is_fifo() {
        "fifo".to_string()
    } else if ft.is_char_device() {
        format!("char {}", md.rdev())
    } else {
        "other".to_string()
    };
    let mut xattrs = Vec::new();
    if !ft.is_symlink() {
        for name in ["user.note", "trusted.t", "trusted.blankroot.retired"] {
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
        "{what} mode {:o} owner {}:{} atime {}.{} mtime {}.{} xattrs {xattrs:?} acl [{acl}]",
        md.mode() & 0o7777,
        md.uid(),
        md.gid(),
        md.atime(),
        md.atime_nsec(),
        md.mtime(),
        md.mtime_nsec()
    )
}

fn describe_tree(base: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
        let p = base.join(rel);
        out.insert(rel.display().to_string(), describe(&p));
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            for name in list_noatime(&p) {
                walk(base, &rel.join(name), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(base, Path::new(""), &mut out);
    out
}

struct Fixture {
    img: Image,
    archive: String,
    /// An absolute directory on this machine that the archived root also has.
    live_dir: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.live_dir);
    }
}

fn archived() -> Fixture {
    let img = Image::new(512);
    seed_layout(&img, true);
    let live_dir = format!(
        "/tmp/blankroot-restore-test.{}.{:?}",
        std::process::id(),
        std::thread::current().id()
    )
    .replace(['(', ')'], "");
    fill_root(&img.mount(), &live_dir);
    img.rollback(&["--archive-dir", "old_roots"]).ok();
    let archive = img.status()["archive"].as_str().unwrap().to_string();
    Fixture {
        img,
        archive,
        live_dir,
    }
}

/// The top level mounted read-only, so that looking at the archive changes nothing (not even
/// an access time).
fn ro_mount(img: &Image) -> Mount {
    let dir = tempfile::Builder::new()
        .prefix("blankroot-mnt")
        .tempdir()
        .unwrap();
    sh(
        "mount",
        &[
            "-o",
            "ro,subvolid=5",
            img.dev.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ],
    );
    Mount { dir }
}

fn target_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("blankroot-restored")
        .tempdir()
        .unwrap()
}

#[test]
fn files_directories_links_and_their_metadata_come_back_and_the_archive_is_unchanged() {
    if !root_or_skip("restore_everything") {
        return;
    }
    let f = archived();
    let img = &f.img;
    let (archive_before, ids_before, expected) = {
        let m = ro_mount(img);
        (
            m.tree(&f.archive),
            m.subvolumes(),
            describe_tree(&m.path(&format!("{}/var/lib/foo", f.archive))),
        )
    };
    let gen_before = sh(
        "btrfs",
        &["inspect-internal", "dump-super", img.dev.to_str().unwrap()],
    );
    let to = target_dir();
    let r = restore(
        img,
        &[
            "--to",
            to.path().to_str().unwrap(),
            "/etc/ssh/ssh_host_ed25519_key",
            "/var/lib/foo",
            "/var/lib/machines/vm.raw",
        ],
    );
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "restored /var/lib/foo -> {}/var/lib/foo: 11 entries, ",
            to.path().display()
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("restore from {}\n", f.archive)),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr, "");

    // The whole directory, entry by entry, with every piece of metadata.
    let got = describe_tree(&to.path().join("var/lib/foo"));
    let mut expected_without_mark = expected.clone();
    for v in expected_without_mark.values_mut() {
        *v = v.replace(", \"trusted.blankroot.retired=data.db\"", "");
    }
    assert_eq!(got, expected_without_mark);
    assert!(expected["data.db"].contains("trusted.blankroot.retired"));
    assert!(
        got["data.db"].contains("user.note=kept") && got["data.db"].contains("trusted.t=root only")
    );
    assert!(
        got["data.db"].contains("user:4321:rw-"),
        "{}",
        got["data.db"]
    );
    assert!(
        got["sub"].contains("default:user:4321:rwx"),
        "{}",
        got["sub"]
    );
    assert!(got["setuid"].contains("mode 4755"), "{}", got["setuid"]);
    assert!(
        got[""].contains(&format!(
            "owner 1234:2234 atime {ATIME}.123456789 mtime {MTIME}.123456789"
        )),
        "{}",
        got[""]
    );
    // Hard links stay linked; symlinks stay links, whatever they point to.
    let state = to.path().join("var/lib/foo");
    assert_eq!(
        fs::metadata(state.join("data.db")).unwrap().ino(),
        fs::metadata(state.join("sub/same-inode")).unwrap().ino()
    );
    assert_eq!(
        fs::read_link(state.join("outside")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert!(fs::symlink_metadata(state.join("up-and-out"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(got["fifo"].split(' ').next(), Some("fifo"));
    assert!(got["null"].starts_with(&format!(
        "char {}",
        fs::metadata("/dev/null").unwrap().rdev()
    )));
    // Through a nested subvolume, and the key with its mode.
    assert_eq!(
        fs::read_to_string(to.path().join("var/lib/machines/vm.raw")).unwrap(),
        "machine\n"
    );
    let key = to.path().join("etc/ssh/ssh_host_ed25519_key");
    assert_eq!(fs::read_to_string(&key).unwrap(), "PRIVATE KEY\n");
    assert_eq!(fs::metadata(&key).unwrap().mode() & 0o7777, 0o600);
    // Directories made on the way are like the archive's.
    assert_eq!(
        fs::metadata(to.path().join("etc/ssh")).unwrap().mode() & 0o7777,
        0o755
    );
    // No temporary names left.
    assert_eq!(
        fs::read_dir(to.path().join("var/lib")).unwrap().count(),
        2,
        "{:?}",
        fs::read_dir(to.path().join("var/lib"))
            .unwrap()
            .collect::<Vec<_>>()
    );

    // The archive: not one transaction, not one change.
    let gen_after = sh(
        "btrfs",
        &["inspect-internal", "dump-super", img.dev.to_str().unwrap()],
    );
    let generation = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("generation"))
            .unwrap()
            .to_string()
    };
    assert_eq!(generation(&gen_after), generation(&gen_before));
    let m = ro_mount(img);
    assert_eq!(m.tree(&f.archive), archive_before);
    assert_eq!(m.subvolumes(), ids_before);
}

#[test]
fn a_whole_directory_with_nested_subvolumes_and_the_default_destination() {
    if !root_or_skip("restore_nested") {
        return;
    }
    let f = archived();
    let to = target_dir();
    restore(&f.img, &["--to", to.path().to_str().unwrap(), "/srv"]).ok();
    assert_eq!(
        fs::read_to_string(to.path().join("srv/www/deeper/x")).unwrap(),
        "deep\n"
    );
    restore(&f.img, &["--to", to.path().to_str().unwrap(), "/var/lib"]).ok();
    assert_eq!(
        fs::read_to_string(to.path().join("var/lib/machines/vm.raw")).unwrap(),
        "machine\n"
    );
    // Into another subvolume of the same filesystem, mounted writable (`--to /persist`).
    let m = f.img.mount();
    let persist = m.path("persist");
    restore(&f.img, &["--to", persist.to_str().unwrap(), "/var/lib/foo"]).ok();
    assert_eq!(
        fs::read_to_string(persist.join("var/lib/foo/sub/deep.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        fs::metadata(persist.join("var/lib/foo/data.db"))
            .unwrap()
            .ino(),
        fs::metadata(persist.join("var/lib/foo/sub/same-inode"))
            .unwrap()
            .ino()
    );
    drop(m);
    // Without --to: into this machine's own / (a directory under /tmp that the archive has).
    let r = restore(&f.img, &[&format!("{}/restored-into-slash", f.live_dir)]);
    r.ok();
    assert!(
        r.stdout.contains("note: / is wiped again at the next boot"),
        "{}",
        r.stdout
    );
    assert_eq!(
        fs::read_to_string(format!("{}/restored-into-slash", f.live_dir)).unwrap(),
        "live\n"
    );
}

#[test]
fn an_existing_destination_is_refused_without_force_and_nothing_is_written() {
    if !root_or_skip("restore_force") {
        return;
    }
    let f = archived();
    let to = target_dir();
    let t = to.path();
    fs::create_dir_all(t.join("etc/ssh")).unwrap();
    fs::write(t.join("etc/ssh/ssh_host_ed25519_key"), "NEW KEY\n").unwrap();
    fs::create_dir_all(t.join("var/lib/foo/sub")).unwrap();
    fs::write(t.join("var/lib/foo/sub/deep.txt"), "newer\n").unwrap();
    fs::write(t.join("var/lib/foo/only-here"), "mine\n").unwrap();
    let before = describe_tree(t);
    let args = [
        "--to",
        t.to_str().unwrap(),
        "/var/lib/foo",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_ed25519_key.pub",
    ];
    let r = restore(&f.img, &args);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "blankroot: refused: {}/var/lib/foo exists (a directory): pass --force to replace it",
            t.display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "blankroot: error: restore: 2 of 3 paths refused (listed above): nothing was copied\n"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        describe_tree(t),
        before,
        "nothing was written, not even the .pub"
    );

    // With --force: files replaced, directories merged, what the archive lacks stays. The
    // directory merged into has a default ACL: what is made in it must not keep what it
    // inherits, only the archive's ACLs.
    sh(
        "setfacl",
        &[
            "-d",
            "-m",
            "u:999:rwx",
            t.join("var/lib/foo").to_str().unwrap(),
        ],
    );
    let mut forced = vec!["--force"];
    forced.extend(args);
    restore(&f.img, &forced).ok();
    assert_eq!(
        fs::read_to_string(t.join("etc/ssh/ssh_host_ed25519_key")).unwrap(),
        "PRIVATE KEY\n"
    );
    assert_eq!(
        fs::read_to_string(t.join("var/lib/foo/sub/deep.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        fs::read_to_string(t.join("var/lib/foo/only-here")).unwrap(),
        "mine\n"
    );
    assert_eq!(fs::metadata(t.join("var/lib/foo")).unwrap().uid(), 1234);
    let acl = |p: &str| {
        sh(
            "getfacl",
            &["--omit-header", "--numeric", t.join(p).to_str().unwrap()],
        )
    };
    assert!(
        acl("var/lib/foo/data.db").contains("user:4321:rw-"),
        "{}",
        acl("var/lib/foo/data.db")
    );
    for p in ["var/lib/foo/data.db", "var/lib/foo/setuid"] {
        assert!(!acl(p).contains("999"), "{p}: {}", acl(p));
    }
    // The merged directory itself now has the archive's ACLs: none.
    assert!(
        !acl("var/lib/foo").contains("999"),
        "{}",
        acl("var/lib/foo")
    );
    assert_eq!(
        fs::metadata(t.join("var/lib/foo/data.db")).unwrap().ino(),
        fs::metadata(t.join("var/lib/foo/sub/same-inode"))
            .unwrap()
            .ino()
    );

    // A directory where the archive has a file is never removed, even with --force.
    fs::remove_file(t.join("etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
    fs::create_dir(t.join("etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
    restore(
        &f.img,
        &[
            "--force",
            "--to",
            t.to_str().unwrap(),
            "/etc/ssh/ssh_host_ed25519_key.pub",
        ],
    )
    .fails(
        1,
        "is a directory and the archive has a file there: move it away first",
    );
    // Inside a merge it is reported, the rest is copied, and the exit code says so.
    fs::remove_file(t.join("var/lib/foo/data.db")).unwrap();
    fs::create_dir(t.join("var/lib/foo/data.db")).unwrap();
    fs::remove_file(t.join("var/lib/foo/sub/deep.txt")).unwrap();
    let r = restore(
        &f.img,
        &["--force", "--to", t.to_str().unwrap(), "/var/lib/foo"],
    );
    r.fails(
        1,
        "restored in full: none; partly: /var/lib/foo; not at all: none",
    );
    assert!(r.stderr.contains("blankroot: /var/lib/foo/data.db: not copied: a directory is in the way at the destination (the archive has a file there)"), "{}", r.stderr);
    assert!(
        r.stdout.contains("partly restored /var/lib/foo"),
        "{}",
        r.stdout
    );
    assert_eq!(
        fs::read_to_string(t.join("var/lib/foo/sub/deep.txt")).unwrap(),
        "deep\n"
    );
}

#[test]
fn dry_run_lists_every_entry_and_copies_nothing() {
    if !root_or_skip("restore_dry_run") {
        return;
    }
    let f = archived();
    let to = target_dir();
    let r = restore(
        &f.img,
        &[
            "--dry-run",
            "--to",
            to.path().to_str().unwrap(),
            "/var/lib/foo",
            "/etc/ssh",
        ],
    );
    r.ok();
    let expected_start = format!(
        "restore from {} (dry run: nothing is copied)\n/var/lib/foo -> {}/var/lib/foo (new)\n  would copy /var/lib/foo (directory)\n  would copy /var/lib/foo/data.db (file, 5 B)\n",
        f.archive,
        to.path().display()
    );
    assert!(r.stdout.starts_with(&expected_start), "{}", r.stdout);
    for line in [
        "  would copy /var/lib/foo/outside (symlink)",
        "  would copy /var/lib/foo/fifo (fifo)",
        "  would copy /var/lib/foo/null (character device)",
        "  would copy /etc/ssh/ssh_host_ed25519_key (file, 12 B)",
        "would copy 14 entries, 54 B of file content",
    ] {
        assert!(
            r.stdout.contains(&format!("{line}\n")),
            "{line}\n{}",
            r.stdout
        );
    }
    assert_eq!(fs::read_dir(to.path()).unwrap().count(), 0);
}

#[test]
fn missing_hostile_and_symlinked_paths_are_refused() {
    if !root_or_skip("restore_refusals") {
        return;
    }
    let f = archived();
    let to = target_dir();
    let t = to.path().to_str().unwrap();
    let go = |args: &[&str]| {
        let mut a = vec!["--to", t];
        a.extend(args);
        restore(&f.img, &a)
    };
    go(&["/etc/nope"]).fails(
        1,
        &format!(
            "restore: /etc/nope is not in the archive {}: nothing was copied",
            f.archive
        ),
    );
    go(&["/nope/deeper"]).fails(1, "/nope/deeper is not in the archive");
    go(&["/etc/issue/x"]).fails(1, "(/etc/issue is a file there)");
    go(&["etc/passwd"]).fails(2, "PATH \"etc/passwd\" is relative");
    go(&["../etc/passwd"]).fails(2, "is relative");
    go(&["/etc/../../etc/shadow"]).fails(2, "has a `..` component");
    go(&[""]).fails(2, "PATH \"\" is empty");
    go(&["/"]).fails(2, "is the whole root");
    go(&["/etc", "/etc/ssh"]).fails(2, "/etc/ssh lies inside /etc, also given");
    // A directory on the way that is a symlink in the archive is not followed.
    go(&["/var/run/foo.pid"]).fails(1, "in the archive");
    let r = go(&["/var/run/foo.pid"]);
    assert!(r.stderr.contains("/var/run is a symlink (to ../run): restore never follows symlinks; give the path it points to instead of /var/run/foo.pid"), "{}", r.stderr);
    // Archives by name; what is not one is named.
    go(&["--from", "1999-01-01T00:00:00Z", "/etc/issue"]).fails(
        1,
        "--from 1999-01-01T00:00:00Z: no such archive in old_roots (archives: latest, ",
    );
    f.img.mount().mkdir("old_roots/notes");
    go(&["--from", "notes", "/etc/issue"])
        .fails(1, "old_roots/notes is not an archive (a plain directory)");
    // A destination inside an archive.
    let m = f.img.mount();
    let inside = m.path(&f.archive);
    let r = restore(&f.img, &["--to", inside.to_str().unwrap(), "/etc/canary"]);
    r.fails(
        1,
        "lies inside an archive: restore never writes into an archive",
    );
    assert_eq!(
        fs::read_dir(to.path()).unwrap().count(),
        0,
        "nothing was written"
    );
}

#[test]
fn from_a_named_archive_or_the_latest() {
    if !root_or_skip("restore_from") {
        return;
    }
    let f = archived();
    f.img.mount().write("root/etc/canary", "second\n");
    f.img.rollback(&["--archive-dir", "old_roots"]).ok();
    let to = target_dir();
    let t = PathBuf::from(to.path());
    restore(&f.img, &["--to", t.to_str().unwrap(), "/etc/canary"]).ok();
    assert_eq!(
        fs::read_to_string(t.join("etc/canary")).unwrap(),
        "second\n"
    );
    let older = f.archive.trim_start_matches("old_roots/");
    restore(
        &f.img,
        &[
            "--force",
            "--from",
            older,
            "--to",
            t.to_str().unwrap(),
            "/etc/canary",
        ],
    )
    .ok();
    assert_eq!(
        fs::read_to_string(t.join("etc/canary")).unwrap(),
        "gone after rollback\n"
    );
}

/// A 40 GiB file holding a few bytes (a VM image, a database) comes back onto a 64 MiB tmpfs:
/// holes stay holes, the content and apparent size are the archive's; onto the archive's own
/// filesystem it is reflinked (no data written).
#[test]
fn a_sparse_file_restores_onto_a_small_filesystem_and_stays_sparse() {
    if !root_or_skip("restore_sparse") {
        return;
    }
    use std::io::{Seek, SeekFrom, Write};
    let img = Image::new(512);
    seed_layout(&img, false);
    {
        let m = img.mount();
        m.mkdir("root/var/lib/vm");
        let mut f = fs::File::create(m.path("root/var/lib/vm/disk.img")).unwrap();
        f.write_all(b"boot sector").unwrap();
        f.seek(SeekFrom::Start(20 << 30)).unwrap();
        f.write_all(b"in the middle").unwrap();
        f.set_len(40 << 30).unwrap();
    }
    img.rollback(&["--archive-dir", "old_roots"]).ok();
    let small = tempfile::tempdir().unwrap();
    let s = small.path().to_str().unwrap();
    sh("mount", &["-t", "tmpfs", "-o", "size=64m", "tmpfs", s]);
    let r = restore(&img, &["--to", s, "/var/lib/vm/disk.img"]);
    let out = small.path().join("var/lib/vm/disk.img");
    let checked = fs::metadata(&out).map(|m| (m.len(), m.blocks())).ok();
    // Read the two data ranges without reading 40 GiB.
    let sample = |off: u64, len: usize| -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        fs::File::open(&out)
            .unwrap()
            .read_exact_at(&mut buf, off)
            .unwrap();
        buf
    };
    let ok = r.code == 0;
    let (a, b, z) = if ok {
        (sample(0, 11), sample(20 << 30, 13), sample(10 << 30, 16))
    } else {
        Default::default()
    };
    sh("umount", &[s]);
    r.ok();
    let (len, blocks) = checked.unwrap();
    assert_eq!(len, 40 << 30, "apparent size kept");
    assert!(
        blocks * 512 < 1 << 20,
        "sparse on the tmpfs: {blocks} blocks"
    );
    assert_eq!(a, b"boot sector");
    assert_eq!(b, b"in the middle");
    assert_eq!(z, vec![0u8; 16], "the hole reads as zeros");

    // Onto the archive's filesystem (a subvolume of the same btrfs): reflinked.
    let m = img.mount();
    m.subvol("restored");
    let to = m.path("restored");
    restore(
        &img,
        &["--to", to.to_str().unwrap(), "/var/lib/vm/disk.img"],
    )
    .ok();
    let copy = to.join("var/lib/vm/disk.img");
    assert_eq!(fs::metadata(&copy).unwrap().len(), 40 << 30);
    let fiemap = sh("filefrag", &["-v", copy.to_str().unwrap()]);
    assert!(fiemap.contains("shared"), "reflinked: {fiemap}");
}
