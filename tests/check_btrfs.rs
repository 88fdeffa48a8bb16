//! `blankroot check` on real loop-mounted btrfs, with the root mounted as on a running system.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Mounted(Vec<PathBuf>);

impl Drop for Mounted {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = Command::new("umount").arg(p).status();
        }
    }
}

/// Mounts the root subvolume like a running system does, and `home` on it.
fn live(img: &Image, dir: &Path) -> Mounted {
    let dev = img.dev.to_str().unwrap();
    let d = dir.to_str().unwrap();
    sh("mount", &["-o", "subvol=root", dev, d]);
    let mut m = Mounted(vec![dir.to_path_buf()]);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    sh("mount", &["-o", "subvol=home", dev, &format!("{d}/home")]);
    m.0.push(dir.join("home"));
    m
}

#[test]
fn a_good_setup_passes_while_the_root_is_mounted_and_nothing_is_written() {
    if !root_or_skip("check good setup") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, true);
    let dir = tempfile::tempdir().unwrap();
    let _m = live(&img, dir.path());
    sh("sync", &[]);
    let before = (generation(&img.dev), img.mount().subvolumes());
    let dev = img.dev.to_str().unwrap();
    let r = check(&["--device", dev, "--archive-dir", "old_roots", "--keep", "3"]);
    r.ok();
    assert!(r.stdout.contains("verdict: OK"), "{}", r.stdout);
    assert!(
        r.stdout.contains("note: the root root is mounted at"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("snapshot root-blank (id"),
        "the plan is shown:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("swap .blankroot-new-root and root (id")
            && r.stdout.contains("rename .blankroot-new-root (id"),
        "archive mode moves the root:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("/ is not on this filesystem"),
        "{}",
        r.stdout
    );
    assert_eq!(
        before,
        (generation(&img.dev), img.mount().subvolumes()),
        "check changed the filesystem"
    );
}

#[test]
fn what_the_real_run_would_refuse_is_a_problem() {
    if !root_or_skip("check problems") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, true);
    let dir = tempfile::tempdir().unwrap();
    let _m = live(&img, dir.path());
    let dev = img.dev.to_str().unwrap();

    let r = check(&["--device", dev, "--blank", "nope"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("PROBLEM: blank snapshot nope does not exist"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("verdict: 1 PROBLEM found"),
        "{}",
        r.stdout
    );

    // The default subvolume inside the root: btrfs cannot delete it.
    let id = img.mount().id("root");
    sh(
        "btrfs",
        &[
            "subvolume",
            "set-default",
            &id.to_string(),
            dir.path().to_str().unwrap(),
        ],
    );
    let r = check(&["--device", dev]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("default subvolume"), "{}", r.stdout);
    sh(
        "btrfs",
        &[
            "subvolume",
            "set-default",
            "5",
            dir.path().to_str().unwrap(),
        ],
    );
    check(&["--device", dev]).ok();

    // A subvolume inside the root mounted somewhere: the next boot deletes it with the root.
    let elsewhere = tempfile::tempdir().unwrap();
    sh(
        "mount",
        &[
            "-o",
            "subvol=root/var/lib/machines",
            dev,
            elsewhere.path().to_str().unwrap(),
        ],
    );
    let _e = Mounted(vec![elsewhere.path().to_path_buf()]);
    let r = check(&["--device", dev]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("PROBLEM: root/var/lib/machines is mounted at")
            && r.stdout.contains("the next boot deletes it with the root"),
        "{}",
        r.stdout
    );

    // Usage errors are exit 2, before anything is looked at.
    let r = check(&["--device", dev, "--blank", "x", "--empty"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("exclude each other"), "{}", r.stderr);
    let r = check(&["--device", dev, "--protect", "root/srv"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = check(&["--device", dev, "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown option --json for check"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_configuration_file_names_the_target() {
    if !root_or_skip("check configuration") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    let write = |args: serde_json::Value| {
        std::fs::write(
            &cfg,
            serde_json::json!({"args": args, "persisted": ["/etc/nixos"]}).to_string(),
        )
        .unwrap()
    };
    let dev = img.dev.to_str().unwrap();
    write(serde_json::json!([
        "--device",
        dev,
        "--blank",
        "root-blank"
    ]));
    let r = check(&["--config", cfg.to_str().unwrap()]);
    r.ok();
    assert!(r.stdout.contains("verdict: OK"), "{}", r.stdout);
    write(serde_json::json!(["--device", dev, "--blank", "missing"]));
    let r = check(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    write(serde_json::json!(["--device", dev, "--bogus"]));
    let r = check(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("\"args\": unknown option --bogus"),
        "{}",
        r.stderr
    );
    let r = check(&["--config", cfg.to_str().unwrap(), "--device", dev]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn slash_mounted_from_another_subvolume_is_a_problem() {
    if !root_or_skip("check slash from another subvolume") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    let dev = img.dev.to_str().unwrap();
    // In a private mount namespace, `/` is mounted from `home` of the same filesystem (the
    // process keeps its old root, so the binary is still found).
    let script = format!(
        "mount --make-rprivate / && mount -o subvol=home {dev} / && exec {} check --device {dev}",
        env!("CARGO_BIN_EXE_blankroot")
    );
    let r = Run::of(
        Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "PROBLEM: / is mounted from /home of this filesystem, not from the root root"
        ),
        "{}",
        r.stdout
    );
    // And from the root itself: fine.
    let script = script.replace("subvol=home", "subvol=root");
    let r = Run::of(
        Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("the root root is mounted at /"),
        "{}",
        r.stdout
    );
}
