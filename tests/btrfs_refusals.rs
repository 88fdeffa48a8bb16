//! Bad input and hostile states: each refused with its exit code and a one-line message, and the
//! disk exactly as it was (every subvolume id, every file).

mod common;
use common::*;
use std::collections::BTreeMap;

type World = (BTreeMap<String, u64>, BTreeMap<String, String>);

fn world(img: &Image) -> World {
    let m = img.mount();
    (m.subvolumes(), m.tree(""))
}

/// Seed layout, then `setup`, then a run with `args` that must fail with `code` and `text`,
/// leaving the disk unchanged.
#[track_caller]
fn refused(setup: impl FnOnce(&Mount), args: &[&str], code: i32, text: &str) -> Run {
    let img = Image::new(256);
    seed_layout(&img, true);
    setup(&img.mount());
    let before = world(&img);
    let run = img.rollback(args);
    run.fails(code, text);
    assert_eq!(
        world(&img),
        before,
        "the disk changed although the run was refused"
    );
    run
}

#[test]
fn missing_blank() {
    if root_or_skip("missing_blank") {
        refused(
            |m| {
                m.snapshot("root-blank", "elsewhere", true);
            },
            &["--blank", "nope"],
            1,
            "blank snapshot nope does not exist",
        );
    }
}

#[test]
fn blank_that_is_a_plain_directory_or_a_symlink() {
    if root_or_skip("blank_plain_dir") {
        refused(
            |m| {
                m.mkdir("plainblank");
            },
            &["--blank", "plainblank"],
            1,
            "blank snapshot plainblank is a plain directory",
        );
        refused(
            |m| std::os::unix::fs::symlink("root-blank", m.path("linkblank")).unwrap(),
            &["--blank", "linkblank"],
            1,
            "blank snapshot linkblank is a symlink",
        );
    }
}

#[test]
fn root_that_is_a_plain_directory() {
    if root_or_skip("root_plain_dir") {
        refused(
            |m| {
                m.mkdir("plainroot/etc");
            },
            &["--subvolume", "plainroot"],
            1,
            "root plainroot is a plain directory",
        );
    }
}

#[test]
fn root_that_is_a_symlink_or_reached_through_one() {
    if root_or_skip("root_symlink") {
        refused(
            |m| std::os::unix::fs::symlink("persist", m.path("linkroot")).unwrap(),
            &["--subvolume", "linkroot"],
            1,
            "root linkroot is a symlink",
        );
        refused(
            |m| std::os::unix::fs::symlink(".", m.path("via")).unwrap(),
            &["--subvolume", "via/root", "--blank", "root-blank"],
            1,
            "root via/root is reached through a symlink",
        );
    }
}

#[test]
fn dotdot_absolute_and_empty_names() {
    if !root_or_skip("bad_names") {
        return;
    }
    refused(
        |_| {},
        &["--subvolume", "/root"],
        2,
        "--subvolume \"/root\": is absolute",
    );
    refused(
        |_| {},
        &["--subvolume", "../root"],
        2,
        "has a `..` component",
    );
    refused(
        |_| {},
        &["--blank", "root/../persist"],
        2,
        "has a `..` component",
    );
    refused(
        |_| {},
        &["--archive-dir", "/old_roots"],
        2,
        "--archive-dir \"/old_roots\": is absolute",
    );
    refused(
        |_| {},
        &["--protect", "a/../../b"],
        2,
        "has a `..` component",
    );
    refused(
        |_| {},
        &["--subvolume", "."],
        2,
        "names the top level itself",
    );
}

#[test]
fn contradictory_options() {
    if !root_or_skip("contradictions") {
        return;
    }
    refused(
        |_| {},
        &["--blank", "root"],
        2,
        "--blank root is the root itself",
    );
    refused(
        |_| {},
        &["--blank", "root/blank"],
        2,
        "lies inside the root",
    );
    refused(
        |_| {},
        &["--blank", "root-blank", "--empty"],
        2,
        "--blank and --empty exclude each other",
    );
    refused(|_| {}, &["--keep", "2"], 2, "give --archive-dir too");
    refused(
        |_| {},
        &["--archive-dir", "old", "--keep", "0"],
        2,
        "--keep 0",
    );
    refused(|_| {}, &["--archive-dir", "root/old"], 2, "overlap");
    refused(|_| {}, &["--frobnicate"], 2, "unknown option --frobnicate");
    refused(
        |_| {},
        &["--device", "/dev/null"],
        2,
        "--device is given twice",
    );
    refused(|_| {}, &["--dataset", "rpool/local/root"], 2, "not both");
}

#[test]
fn protected_subvolume_under_the_root() {
    if !root_or_skip("protect_under_root") {
        return;
    }
    refused(
        |m| {
            m.subvol("root/persist");
        },
        &["--protect", "persist", "--protect", "root/persist"],
        2,
        "--protect root/persist lies inside the root root",
    );
    refused(|_| {}, &["--protect", "root"], 2, "lies inside the root");
}

#[test]
fn archive_dir_that_is_not_a_plain_directory() {
    if !root_or_skip("archive_dir_kinds") {
        return;
    }
    refused(
        |m| std::os::unix::fs::symlink("persist", m.path("old_roots")).unwrap(),
        &["--archive-dir", "old_roots"],
        1,
        "archive directory old_roots is a symlink",
    );
    refused(
        |m| {
            m.write("old_roots", "a file");
        },
        &["--archive-dir", "old_roots"],
        1,
        "archive directory old_roots is not a directory",
    );
    refused(
        |m| {
            m.subvol("old_roots");
        },
        &["--archive-dir", "old_roots"],
        1,
        "archive directory old_roots is a subvolume",
    );
    refused(
        |m| {
            m.mkdir("persist/old");
        },
        &["--archive-dir", "persist/old"],
        1,
        "not in the same subvolume as the root",
    );
}

#[test]
fn staging_name_taken_by_something_else() {
    if !root_or_skip("staging_taken") {
        return;
    }
    refused(
        |m| {
            m.subvol(".blankroot-new-root")
                .write(".blankroot-new-root/mine", "x");
        },
        &[],
        1,
        ".blankroot-new-root is a subvolume and is not a copy of the blank",
    );
    refused(
        |m| {
            m.mkdir(".blankroot-new-root");
        },
        &[],
        1,
        ".blankroot-new-root is a plain directory",
    );
}

#[test]
fn root_is_the_default_subvolume() {
    if root_or_skip("default_subvolume") {
        refused(
            |m| {
                drop(sh(
                    "btrfs",
                    &["subvolume", "set-default", m.path("root").to_str().unwrap()],
                ))
            },
            &[],
            1,
            "is the filesystem's default subvolume",
        );
    }
}

#[test]
fn root_is_mounted() {
    if !root_or_skip("root_mounted") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    let mnt = tempfile::tempdir().unwrap();
    sh(
        "mount",
        &[
            "-o",
            "subvol=root",
            img.dev.to_str().unwrap(),
            mnt.path().to_str().unwrap(),
        ],
    );
    let run = img.rollback(&[]);
    let _ = std::process::Command::new("umount")
        .arg(mnt.path())
        .status();
    run.fails(1, "root is mounted at");
    assert!(img.mount().exists("root/etc/canary"));
}

#[test]
fn not_in_an_initrd() {
    if !root_or_skip("not_in_initrd") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    let before = world(&img);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
        .args([
            "rollback",
            "--device",
            img.dev.to_str().unwrap(),
            "--status-file",
        ])
        .arg(img.status_file())
        .env("BLANKROOT_KMSG", "none")
        .output()
        .unwrap();
    Run::of(out).fails(
        2,
        "not running in an initrd (/etc/initrd-release is missing)",
    );
    assert_eq!(world(&img), before);
    assert!(
        !img.status_file().exists(),
        "a refused run outside the initrd must not overwrite the boot's record"
    );
}

#[test]
fn not_btrfs_and_missing_devices() {
    if !root_or_skip("not_btrfs") {
        return;
    }
    let ext4 = Image::with_mkfs(64, &["mkfs.ext4", "-q"]);
    ext4.rollback(&[])
        .fails(1, "holds an ext2/3/4 filesystem, not btrfs");
    let zero = Image::with_mkfs(64, &[]);
    zero.rollback(&[]).fails(
        1,
        "holds no filesystem (the start of the device is all zero), not btrfs",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
        .args([
            "rollback",
            "--device",
            "/dev/disk/by-uuid/no-such-disk",
            "--allow-outside-initrd",
            "--status-file",
        ])
        .arg(zero.dir.path().join("st.json"))
        .env("BLANKROOT_KMSG", "none")
        .output()
        .unwrap();
    Run::of(out).fails(1, "device /dev/disk/by-uuid/no-such-disk does not exist");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(zero.dir.path().join("st.json")).unwrap())
            .unwrap();
    assert_eq!(st["action"], "failed");
    assert!(st["error"].as_str().unwrap().contains("does not exist"));
}
