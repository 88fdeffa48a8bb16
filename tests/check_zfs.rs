//! `blankroot check --dataset` on zfs-fuse pools: the ZFS engine's preflight with the root mounted.

mod common;
mod common_zfs;

use common::Run;
use common_zfs::*;
use std::process::Command;

fn check(pool: &Pool, args: &[&str]) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_blankroot"))
            .arg("check")
            .arg("--dataset")
            .arg(pool.root())
            .args(args)
            .env("PATH", path_with_zfs())
            .env_remove("BLANKROOT_KERNEL_CMDLINE")
            .output()
            .unwrap(),
    )
}

#[test]
fn a_mounted_root_passes_and_newer_snapshots_are_warned_about() {
    if !zfs_or_skip("check zfs") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    zfs(&["snapshot", &format!("{root}@autosnap-1")]);
    let (r, snapshots_before) = pool.with_mounted(&root, |_| {
        let before = pool.snapshots(&root);
        (check(&pool, &[]), before)
    });
    r.ok();
    for want in [
        "is mounted (as expected on a running system",
        "zfs rollback -r",
        "newer than the blank (",
        "@autosnap-1)",
        "verdict: OK with 1 warning",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing:\n{}", r.stdout);
    }
    assert_eq!(
        pool.snapshots(&root),
        snapshots_before,
        "check changed the pool"
    );

    let r = check(&pool, &["--snapshot", "nope"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PROBLEM:"), "{}", r.stdout);
    assert!(r.stdout.contains("nope"), "{}", r.stdout);

    let r = check(&pool, &["--blank", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
