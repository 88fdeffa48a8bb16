//! More than `/` on ZFS (issue 15), on zfs-fuse pools: `/` (local/root) and `/home`
//! (local/home) rolled back from one configuration, each to its own @blank, each with its own
//! record; /home archived while / is deleted; the persistent datasets untouched; a target named
//! alone runs alone; skip-next-boot skips every target by default.

mod common;
mod common_zfs;
use common::Run;
use common_zfs::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// The seeded pool plus local/home (with @blank, then a canary) and its archive parent; a
/// config.json naming both targets.
fn two_targets(pool: &Pool) -> PathBuf {
    pool.seed();
    let home = pool.ds("local/home");
    create_legacy(&home);
    zfs(&["snapshot", &format!("{home}@blank")]);
    pool.write(&home, &[("alice/canary", "erase me\n")]);
    zfs(&[
        "create",
        "-p",
        "-o",
        "mountpoint=legacy",
        &pool.ds("local/old_home"),
    ]);
    let cfg = pool.dir.path().join("config.json");
    fs::write(
        &cfg,
        serde_json::json!({"targets": [
            {"mount_point": "/", "args": ["--fs", "zfs", "--dataset", pool.root(), "--snapshot", "blank"], "stage": "initrd"},
            {"mount_point": "/home", "args": ["--mount-point", "/home", "--fs", "zfs", "--dataset", home,
                "--snapshot", "blank", "--archive-dir", pool.ds("local/old_home")], "stage": "initrd"}
        ]})
        .to_string(),
    )
    .unwrap();
    cfg
}

fn run(pool: &Pool, args: &[&str]) -> Run {
    Run::of(
        Command::new(common::binary())
            .args(args)
            .env("PATH", path_with_zfs())
            .env("BLANKROOT_KMSG", pool.dir.path().join("kmsg"))
            .env_remove("BLANKROOT_FAILPOINT")
            .env_remove("BLANKROOT_KERNEL_CMDLINE")
            .output()
            .unwrap(),
    )
}

fn record(pool: &Pool, name: &str) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(pool.dir.path().join(name)).unwrap()).unwrap()
}

#[test]
fn root_and_home_each_rolled_back_to_its_blank_with_its_record() {
    if !zfs_or_skip("targets_zfs") {
        return;
    }
    let pool = Pool::new();
    let cfg = two_targets(&pool);
    let (c, st) = (cfg.to_str().unwrap(), pool.status_file());
    let st = st.to_str().unwrap();
    let persistent = pool.persistent_state();
    let home = pool.ds("local/home");

    run(
        &pool,
        &[
            "rollback",
            "--config",
            c,
            "--allow-outside-initrd",
            "--status-file",
            st,
        ],
    )
    .ok();
    pool.assert_root_is_blank();
    assert!(
        !pool.tree(&home).contains_key("alice/canary"),
        "{:?}",
        pool.tree(&home)
    );
    assert_eq!(
        pool.persistent_state(),
        persistent,
        "the other datasets are untouched"
    );
    let (r, h) = (
        record(&pool, "status.json"),
        record(&pool, "status.home.json"),
    );
    assert_eq!(r["action"], "rolled-back");
    assert_eq!(h["action"], "archived");
    assert_eq!(h["target"], home.as_str());
    // /home's old contents are in its own archive parent, the canary with them.
    let archives: Vec<String> = pool
        .datasets()
        .into_iter()
        .filter(|d| d.starts_with(&format!("{}/", pool.ds("local/old_home"))))
        .collect();
    assert_eq!(archives.len(), 1, "{:?}", pool.datasets());
    assert_eq!(
        pool.tree(&archives[0])
            .get("alice/canary")
            .map(String::as_str),
        Some("file 644 \"erase me\\n\"")
    );

    // status: a record per target.
    let out = run(
        &pool,
        &["status", "--json", "--status-file", st, "--config", c],
    );
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["action"], "rolled-back", "the root's record as in 0.2");
    let mps: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["mount_point"].as_str().unwrap())
        .collect();
    assert_eq!(mps, ["/", "/home"]);

    // Named alone, /home runs alone: the root keeps what was written since.
    pool.write(&pool.root(), &[("etc/canary2", "stays\n")]);
    pool.write(&home, &[("alice/canary2", "goes\n")]);
    fs::remove_file(pool.dir.path().join("status.home.json")).unwrap();
    run(
        &pool,
        &[
            "rollback",
            "--config",
            c,
            "/home",
            "--allow-outside-initrd",
            "--status-file",
            st,
        ],
    )
    .ok();
    assert!(pool.tree(&pool.root()).contains_key("etc/canary2"));
    assert!(!pool.tree(&home).contains_key("alice/canary2"));
}

#[test]
fn skip_next_boot_skips_every_target_by_default() {
    if !zfs_or_skip("targets_zfs_skip") {
        return;
    }
    let pool = Pool::new();
    let cfg = two_targets(&pool);
    let (c, st) = (cfg.to_str().unwrap(), pool.status_file());
    let st = st.to_str().unwrap();
    let home = pool.ds("local/home");
    run(&pool, &["skip-next-boot", "--config", c]).ok();
    run(
        &pool,
        &[
            "rollback",
            "--config",
            c,
            "--allow-outside-initrd",
            "--status-file",
            st,
        ],
    )
    .ok();
    assert!(
        pool.tree(&pool.root()).contains_key("etc/canary"),
        "/ left alone"
    );
    assert!(
        pool.tree(&home).contains_key("alice/canary"),
        "/home left alone"
    );
    assert_eq!(record(&pool, "status.json")["action"], "skipped");
    assert_eq!(record(&pool, "status.home.json")["action"], "skipped");
    // Once: the next run rolls both back.
    for f in ["status.json", "status.home.json"] {
        fs::remove_file(pool.dir.path().join(f)).unwrap();
    }
    run(
        &pool,
        &[
            "rollback",
            "--config",
            c,
            "--allow-outside-initrd",
            "--status-file",
            st,
        ],
    )
    .ok();
    pool.assert_root_is_blank();
    assert!(!pool.tree(&home).contains_key("alice/canary"));
}
