//! `blankroot diff --dataset`: `zfs diff -H -F` output parsed and normalised. zfs-fuse (pool
//! version 23) has neither `zfs diff` nor `.zfs/snapshot`, so the parsing and normalising are
//! tested with a stand-in `zfs` that prints recorded output, over a real directory tree; the real
//! zfs-fuse is used to show the message it gets.

mod common;
mod common_zfs;
mod diff_common;

use diff_common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A directory standing for the dataset's mount point, and a `zfs` that prints `diff_out` for
/// `zfs diff` (or fails like zfs-fuse when `None`) and the mount point for `zfs get mountpoint`.
struct FakeZfs {
    dir: tempfile::TempDir,
}

impl FakeZfs {
    fn new(diff_out: Option<&str>) -> FakeZfs {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let out = dir.path().join("diff.out");
        let diff = match diff_out {
            Some(text) => {
                fs::write(&out, text.replace("@MNT@", mnt.to_str().unwrap())).unwrap();
                format!("cat '{}'", out.display())
            }
            None => "echo \"unrecognized command 'diff'\" >&2; exit 2".to_string(),
        };
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in\n  diff) {diff} ;;\n  get) echo '{}' ;;\n  *) echo \"unexpected $*\" >&2; exit 1 ;;\nesac\n",
            mnt.display()
        );
        let zfs = dir.path().join("zfs");
        fs::write(&zfs, script).unwrap();
        fs::set_permissions(&zfs, fs::Permissions::from_mode(0o755)).unwrap();
        FakeZfs { dir }
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.mnt().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--dataset".into(),
            "rpool/local/root".into(),
            "--zfs-command".into(),
            self.dir.path().join("zfs").into(),
            "--persisted".into(),
            "/etc/nixos".into(),
        ]
    }

    fn run(&self) -> serde_json::Value {
        let args = self.args();
        let a: Vec<&OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        diff_json(&a)
    }
}

fn rows(json: &serde_json::Value) -> Vec<String> {
    listed(json)
        .iter()
        .map(|l| {
            let mut s = format!(
                "{} {} {}",
                l.change,
                l.kind,
                String::from_utf8_lossy(&l.path)
            );
            if !l.what.is_empty() {
                s += &format!(" [{}]", l.what.join(","));
            }
            s
        })
        .collect()
}

/// What `zfs diff -H -F rpool/local/root@blank` prints for the changes made below.
const RECORDED: &str = "\
M\t/\t@MNT@/etc
+\tF\t@MNT@/etc/new\\0040file
+\tF\t@MNT@/etc/nl\\0012name
-\tF\t@MNT@/etc/gone
M\tF\t@MNT@/etc/passwd
R\t/\t@MNT@/olddir\t@MNT@/newdir
+\t@\t@MNT@/etc/hosts
+\t/\t@MNT@/var/cache
+\tF\t@MNT@/var/cache/x
+\tF\t@MNT@/tmp/t
+\tF\t@MNT@/etc/nixos/configuration.nix
M\tF\t@MNT@/etc/shadow\t(+1)
M\t/\t@MNT@/
";

fn live_tree(z: &FakeZfs) {
    z.write("etc/new file", "n\n");
    z.write("etc/nl\nname", "x\n");
    z.write("etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    z.write("etc/shadow", "root:!:1::::::\n");
    fs::hard_link(z.mnt().join("etc/shadow"), z.mnt().join("etc/shadow-link")).unwrap();
    std::os::unix::fs::symlink("/etc/static/hosts", z.mnt().join("etc/hosts")).unwrap();
    z.write("newdir/a", "a\n");
    z.write("newdir/b", "b\n");
    z.write("var/cache/x", "cached\n");
    z.write("tmp/t", "t\n");
    z.write("etc/nixos/configuration.nix", "{ }\n");
    z.write("usr/untouched", "live\n");
}

#[test]
fn recorded_output_without_the_snapshot_directory() {
    let z = FakeZfs::new(Some(RECORDED));
    live_tree(&z);
    let json = z.run();
    assert_eq!(
        rows(&json),
        [
            "deleted file etc/gone",
            "created file etc/new file",
            "created file etc/nl\nname",
            "modified file etc/passwd",
            "modified file etc/shadow",
            "created dir newdir",
            "created file newdir/a",
            "created file newdir/b",
            "deleted dir olddir",
            "created dir var/cache",
            "created file var/cache/x",
        ]
    );
    assert_eq!(json["recreated_at_boot"], 2, "/etc/hosts and /tmp/t");
    assert_eq!(json["left_out"][0]["path"], "/etc/nixos");
    assert!(
        json["notes"].to_string().contains("no .zfs/snapshot"),
        "{}",
        json["notes"]
    );
    assert_eq!(json["target"]["mount_point"], z.mnt().to_str().unwrap());
}

#[test]
fn recorded_output_with_the_snapshot_compares_the_named_subtrees() {
    let z = FakeZfs::new(Some(RECORDED));
    live_tree(&z);
    // The snapshot as `.zfs/snapshot/blank` shows it.
    let snap = z.mnt().join(".zfs/snapshot/blank");
    let blank = |rel: &str, text: &str| {
        let p = snap.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    blank("etc/gone", "bye\n");
    blank("etc/passwd", "root:x:0:0::/root:/bin/bash\n");
    blank("etc/shadow", "root:!:1::::::\n");
    blank("olddir/a", "a\n");
    blank("olddir/b", "b\n");
    // zfs diff did not name usr/: it is not looked into (zfs diff lists every changed object).
    blank("usr/untouched", "blank\n");
    let json = z.run();
    assert_eq!(
        rows(&json),
        [
            "deleted file etc/gone",
            "created file etc/new file",
            "created file etc/nl\nname",
            "modified file etc/passwd [content]",
            "created file etc/shadow-link",
            "created dir newdir",
            "created file newdir/a",
            "created file newdir/b",
            "deleted dir olddir",
            "deleted file olddir/a",
            "deleted file olddir/b",
            "created dir var",
            "created dir var/cache",
            "created file var/cache/x",
        ],
        "the rename is expanded, the new hard link found, the unchanged shadow dropped"
    );
    assert!(
        !json["changes"].to_string().contains(".zfs"),
        ".zfs is never listed: {json}"
    );
}

#[test]
fn no_zfs_diff_and_no_snapshot_directory_is_a_clear_error() {
    let z = FakeZfs::new(None);
    z.write("etc/x", "x\n");
    let mut args: Vec<std::ffi::OsString> = vec!["diff".into()];
    args.extend(z.args());
    let a: Vec<&OsStr> = args.iter().map(|s| s.as_os_str()).collect();
    let (code, out, err) = blankroot(&a);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("unrecognized command 'diff'") && err.contains("zfs-fuse has neither"),
        "{err}"
    );

    // With the snapshot directory, the whole tree is compared instead.
    fs::create_dir_all(z.mnt().join(".zfs/snapshot/blank/etc")).unwrap();
    let json = z.run();
    assert_eq!(rows(&json), ["created file etc/x"]);
    assert!(json["notes"].to_string().contains("zfs diff failed"));
}

#[test]
fn zfs_fuse_says_what_it_cannot_do() {
    if !common_zfs::zfs_or_skip("diff on zfs-fuse") {
        return;
    }
    let pool = common_zfs::Pool::new();
    pool.seed();
    let root = pool.root();
    let zfs = common_zfs::tool("zfs").unwrap();
    pool.with_mounted(&root, |at: &Path| {
        let (code, out, err) = blankroot(&[
            OsStr::new("diff"),
            OsStr::new("--dataset"),
            OsStr::new(&root),
            OsStr::new("--zfs-command"),
            zfs.as_os_str(),
            OsStr::new("--root"),
            at.as_os_str(),
        ]);
        let has_diff = !err.contains("unrecognized command");
        if has_diff {
            assert_eq!(code, 0, "{err}");
            assert!(out.contains("canary"), "{out}");
        } else {
            assert_eq!(code, 1, "{out}");
            assert!(
                err.contains("zfs-fuse has neither zfs diff nor .zfs"),
                "{err}"
            );
        }
    });
}

/// Without the snapshot directory, a directory zfs diff shows as created, with nothing left out
/// below it, is lost whole: --suggest makes it one entry, not one per file.
#[test]
fn suggest_from_recorded_output_collapses_created_directories() {
    let z = FakeZfs::new(Some(RECORDED));
    live_tree(&z);
    let mut args: Vec<std::ffi::OsString> = vec!["diff".into()];
    args.extend(z.args());
    args.extend(["--suggest".into(), "impermanence".into()]);
    let a: Vec<&OsStr> = args.iter().map(|s| s.as_os_str()).collect();
    let (code, out, err) = blankroot(&a);
    assert_eq!(code, 0, "{err}");
    let accounts = "NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost";
    assert_eq!(
        out,
        format!(
            r#"# blankroot diff --suggest impermanence: what the next boot erases, as entries to persist
{{
  # left out: /etc/passwd ({accounts})
  # left out: /etc/shadow ({accounts})
  # left out: /var/cache (cache)
  # left out: 2 entries NixOS recreates at every boot (/etc links, /tmp, /run...)
  environment.persistence."/persist" = {{
    directories = [
      # /newdir
      "/newdir"
    ];
    files = [
      # /etc
      "/etc/new file"
      "/etc/nl\nname"
    ];
  }};
}}
"#
        )
    );
}
