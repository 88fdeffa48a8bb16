//! `blankroot diff --root PATH` with no blank ("Impermanent NixOS: on a VM + tmpfs root + flakes + LUKS" (2024): tmpfs root): everything on the root's
//! filesystem is listed, except other mounts, persisted paths and what NixOS recreates.

mod common;
mod diff_common;

use diff_common::*;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

struct Mounts(Vec<std::path::PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = Command::new("umount").arg(p).status();
        }
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn tmpfs_root_lists_everything_but_mounts_persisted_and_recreated() {
    if !common::root_or_skip("diff tmpfs root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (root, persist) = (dir.path().join("root"), dir.path().join("persist"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(persist.join("etc/nixos")).unwrap();
    fs::write(persist.join("etc/nixos/configuration.nix"), "{ }\n").unwrap();
    let mut mounts = Mounts(Vec::new());
    common::sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "mode=755",
            "none",
            root.to_str().unwrap(),
        ],
    );
    mounts.0.push(root.clone());

    write(&root, "etc/machine-id", "0123\n");
    std::os::unix::fs::symlink("/etc/static/hosts", root.join("etc/hosts")).unwrap();
    fs::create_dir_all(root.join("etc/nixos")).unwrap();
    common::sh(
        "mount",
        &[
            "--bind",
            persist.join("etc/nixos").to_str().unwrap(),
            root.join("etc/nixos").to_str().unwrap(),
        ],
    );
    mounts.0.push(root.join("etc/nixos"));
    fs::create_dir_all(root.join("nix")).unwrap();
    common::sh(
        "mount",
        &["-t", "tmpfs", "none", root.join("nix").to_str().unwrap()],
    );
    mounts.0.push(root.join("nix"));
    write(&root, "nix/store/abc-hello/bin/hello", "#!/bin/sh\n");
    write(&root, "var/lib/keep/db", "kept\n");
    write(&root, "var/log/journal/x", "log\n");
    write(&root, "tmp/x", "scratch\n");
    write(&root, "root/.bash_history", "ls\n");

    let json = diff_json(&[
        OsStr::new("--root"),
        root.as_os_str(),
        OsStr::new("--persisted"),
        OsStr::new("/var/lib/keep"),
    ]);
    let paths: Vec<String> = listed(&json)
        .iter()
        .map(|l| {
            format!(
                "{} {} {}",
                l.change,
                l.kind,
                String::from_utf8_lossy(&l.path)
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            "created dir etc",
            "created file etc/machine-id",
            "created dir root",
            "created file root/.bash_history",
            "created dir var",
            "created dir var/log",
            "created dir var/log/journal",
            "created file var/log/journal/x",
        ]
    );
    let left = json["left_out"].to_string();
    for want in [
        r#""path":"/etc/nixos","reason":"mount point""#,
        r#""path":"/nix","reason":"mount point""#,
        r#""path":"/var/lib/keep","reason":"persisted""#,
    ] {
        assert!(left.contains(want), "{want} not in {left}");
    }
    assert_eq!(json["recreated_at_boot"], 2, "/etc/hosts and /tmp");
    assert_eq!(json["target"]["filesystem"], "tmpfs");

    // The persisted list from a file, in the module's JSON shape or one path a line.
    let list = dir.path().join("persisted.txt");
    fs::write(&list, "# kept\n/var/lib/keep\n/var/log\n").unwrap();
    let json = diff_json(&[
        OsStr::new("--root"),
        root.as_os_str(),
        OsStr::new("--persisted-from"),
        list.as_os_str(),
    ]);
    let n: Vec<Vec<u8>> = listed(&json).into_iter().map(|l| l.path).collect();
    assert_eq!(
        n,
        [
            &b"etc"[..],
            b"etc/machine-id",
            b"root",
            b"root/.bash_history"
        ]
        .map(<[u8]>::to_vec)
    );
}
