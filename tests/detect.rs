//! `--fs auto` with `--device`: what is on the device decides, and anything but btrfs is a clear
//! error that names what was found. Every run here is a dry run.

mod common;
mod common_zfs;
use common::*;
use common_zfs::zfs_or_skip;
use std::fs;
use std::path::Path;
use std::process::Command;

fn on_device(dev: &Path, extra: &[&str]) -> Run {
    let status = tempfile::tempdir().unwrap();
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_blankroot"))
            .arg("rollback")
            .arg("--device")
            .arg(dev)
            .args(["--allow-outside-initrd", "--dry-run", "--status-file"])
            .arg(status.path().join("status.json"))
            .args(extra)
            .env("BLANKROOT_KMSG", "none")
            .env_remove("BLANKROOT_KERNEL_CMDLINE")
            .output()
            .unwrap(),
    )
}

fn image(size_mb: u64, mkfs: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    fs::File::create(&file)
        .unwrap()
        .set_len(size_mb << 20)
        .unwrap();
    if let Some((cmd, args)) = mkfs.split_first() {
        let mut a = args.to_vec();
        a.push(file.to_str().unwrap());
        sh(cmd, &a);
    }
    (dir, file)
}

#[test]
fn btrfs_is_detected_and_planned_by_the_btrfs_engine() {
    if !root_or_skip("detect_btrfs") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    let dev = img.dev.clone();
    let run = on_device(&dev, &[]);
    run.ok();
    assert!(
        run.stdout.contains("snapshot root-blank"),
        "a Btrfs plan: {}",
        run.stdout
    );
    on_device(&dev, &["--fs", "btrfs"]).ok();
    on_device(&dev, &["--fs", "zfs"]).fails(2, "--fs zfs needs --dataset POOL/DATASET");
}

#[test]
fn ext4_is_named() {
    let (_d, file) = image(64, &["mkfs.ext4", "-q", "-F"]);
    on_device(&file, &[]).fails(
        1,
        &format!(
            "{} holds an ext2/3/4 filesystem, not btrfs: nothing was changed; check --device",
            file.display()
        ),
    );
}

#[test]
fn a_zeroed_device_is_named() {
    let (_d, file) = image(64, &[]);
    on_device(&file, &[]).fails(
        1,
        "holds no filesystem (the start of the device is all zero), not btrfs: nothing was changed",
    );
}

#[test]
fn a_missing_device_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    on_device(&missing, &[]).fails(
        1,
        &format!(
            "device {} does not exist: nothing was changed",
            missing.display()
        ),
    );
}

#[test]
fn a_zfs_pool_member_asks_for_the_dataset() {
    if !zfs_or_skip("detect_zfs") {
        return;
    }
    let pool = common_zfs::Pool::new();
    pool.seed();
    let want = format!(
        "{} is a member of a ZFS pool, not btrfs: nothing was changed; name the root dataset with --dataset POOL/DATASET",
        pool.file.display()
    );
    on_device(&pool.file, &[]).fails(2, &want);
    on_device(&pool.file, &["--fs", "btrfs"]).fails(2, &want);
    // Exported, as in an initrd before the import, it is still recognised.
    pool.export();
    on_device(&pool.file, &[]).fails(2, &want);
}

#[test]
fn device_and_dataset_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Run::of(
            Command::new(env!("CARGO_BIN_EXE_blankroot"))
                .arg("rollback")
                .args(args)
                .args(["--allow-outside-initrd", "--dry-run", "--status-file"])
                .arg(dir.path().join("s.json"))
                .env("BLANKROOT_KMSG", "none")
                .output()
                .unwrap(),
        )
    };
    run(&["--device", "/dev/null", "--dataset", "rpool/local/root"]).fails(
        2,
        "give either --device (Btrfs) or --dataset (ZFS), not both",
    );
    run(&[]).fails(
        2,
        "--device DEV (Btrfs) or --dataset POOL/DATASET (ZFS) is required",
    );
    run(&["--dataset", "rpool/local/root", "--fs", "btrfs"])
        .fails(2, "--fs btrfs needs --device DEV, not --dataset");
}
