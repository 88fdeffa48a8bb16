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
    // Held, so that the one warning is about the newer snapshot (the hold has its own test).
    zfs(&["hold", "blankroot", &format!("{root}@blank")]);
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

/// The `cmd` between backquotes after `after` in a finding.
fn command(out: &str, after: &str) -> String {
    out.split(after)
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or_else(|| panic!("no {after:?} in:\n{out}"))
        .to_string()
}

#[test]
fn a_blank_without_a_hold_is_warned_about_until_it_has_one() {
    if !zfs_or_skip("check zfs hold") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let blank = format!("{root}@blank");
    let r = pool.with_mounted(&root, |_| check(&pool, &[]));
    r.ok();
    let want = format!("warning: the blank snapshot {blank} has no hold: a stray `zfs destroy`");
    assert!(r.stdout.contains(&want), "{}", r.stdout);
    assert!(
        r.stdout.contains("verdict: OK with 1 warning"),
        "{}",
        r.stdout
    );
    // Not a loss of data: --strict leaves it a warning.
    let r = check(&pool, &["--strict"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let hold = command(&r.stdout, "add one: `");
    assert_eq!(hold, format!("zfs hold blankroot {blank}"));
    let ran = Command::new("sh")
        .args(["-c", &hold])
        .env("PATH", path_with_zfs())
        .output()
        .unwrap();
    assert!(ran.status.success(), "{ran:?}");
    // (zfs-fuse's `zfs holds` needs a Python module it lacks; the count tells.)
    assert_eq!(pool.get("userrefs", &blank), "1");
    let r = check(&pool, &[]);
    r.ok();
    assert!(!r.stdout.contains("has no hold"), "{}", r.stdout);
    assert!(
        r.stdout.contains("verdict: OK: the next boot"),
        "{}",
        r.stdout
    );
}

#[test]
fn what_must_not_be_lost_is_found_on_the_mounted_root_dataset() {
    if !zfs_or_skip("check zfs must persist") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    zfs(&["hold", "blankroot", &format!("{root}@blank")]);
    pool.write(
        &root,
        &[
            ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
            ("etc/zfs/zpool.cache", "cache"),
            ("etc/ssh/ssh_host_ed25519_key", "private\n"),
            ("var/lib/foo/data", "precious\n"),
        ],
    );
    let cfg = pool.dir.path().join("config.json");
    let (plain, strict, silenced) = pool.with_mounted(&root, |_| {
        std::fs::write(
            &cfg,
            serde_json::json!({
                "args": ["--dataset", root],
                "persisted": ["/etc/machine-id"],
                "persistence": [{"path": "/var/lib/foo", "stored": "/persist/var/lib/foo"}],
            })
            .to_string(),
        )
        .unwrap();
        let run = |args: &[&str]| {
            Run::of(
                Command::new(env!("CARGO_BIN_EXE_blankroot"))
                    .arg("check")
                    .args(args)
                    .env("PATH", path_with_zfs())
                    .env_remove("BLANKROOT_KERNEL_CMDLINE")
                    .output()
                    .unwrap(),
            )
        };
        (
            check(&pool, &[]),
            check(&pool, &["--strict"]),
            run(&["--config", cfg.to_str().unwrap(), "--persisted", "/etc/ssh"]),
        )
    });
    plain.ok();
    for p in [
        "/etc/machine-id",
        "/etc/zfs/zpool.cache",
        "/etc/ssh/ssh_host_ed25519_key",
    ] {
        let line = format!("  warning: {p} is on the root and not persisted: ");
        assert!(plain.stdout.contains(&line), "{line:?}:\n{}", plain.stdout);
        let line = format!("  PROBLEM: {p} is on the root and not persisted: ");
        assert!(
            strict.stdout.contains(&line),
            "{line:?}:\n{}",
            strict.stdout
        );
    }
    assert!(
        plain.stdout.contains("verdict: OK with 3 warnings"),
        "{}",
        plain.stdout
    );
    assert_eq!(strict.code, 1, "{}", strict.stdout);
    assert!(
        strict.stdout.contains("verdict: 3 PROBLEMS found"),
        "{}",
        strict.stdout
    );
    // The configuration's persisted list and --persisted silence theirs; its newly persisted
    // /var/lib/foo has no persistent copy yet.
    silenced.ok();
    let findings: Vec<&str> = silenced
        .stdout
        .lines()
        .filter(|l| l.starts_with("  warning: "))
        .collect();
    assert_eq!(findings.len(), 2, "{}", silenced.stdout);
    assert!(findings[0].starts_with("  warning: /etc/zfs/zpool.cache is on the root"));
    assert!(
        findings[1].starts_with("  warning: /var/lib/foo is persisted, but its persistent copy /persist/var/lib/foo is missing"),
        "{}",
        silenced.stdout
    );
}
