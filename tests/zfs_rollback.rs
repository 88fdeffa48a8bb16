//! The ZFS engine on real pools (zfs-fuse on files; see tests/zfs-fuse-daemon.sh), with the
//! layout of seeds 000/001: rpool/local/root@blank, rpool/local/nix, rpool/safe/home,
//! rpool/safe/persist.
//!
//! zfs-fuse has no `zpool import -N`: `import_runs_zpool_import_n` checks the command blankroot
//! runs through a wrapper that stands in for it; a real `zpool import -N` runs in the OpenZFS
//! guest of the boot tests (vm-tests, issue 5).

mod common;
mod common_zfs;
use common::Run;
use common_zfs::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[test]
fn seed_000_delete_mode_rolls_back_and_leaves_the_other_datasets_alone() {
    if !zfs_or_skip("seed_000_delete_mode") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let before = pool.persistent_state();
    let root = pool.root();
    let created = pool.get("creation", &root);
    let run = pool.rollback(&[]);
    run.ok();
    assert!(
        run.stderr
            .contains(&format!("zfs rollback -r {root}@blank")),
        "{}",
        run.stderr
    );
    pool.assert_root_is_blank();
    assert_eq!(pool.snapshots(&root), ["blank"]);
    assert_eq!(
        pool.get("creation", &root),
        created,
        "rolled back, not recreated"
    );
    assert_eq!(pool.persistent_state(), before);
    let st = pool.status();
    assert_eq!(st["action"], "rolled-back");
    assert_eq!(st["filesystem"], "zfs");
    assert_eq!(st["target"], root.as_str());
    assert_eq!(st["source"], format!("{root}@blank"));
    assert_eq!(st["destroyed_snapshots"], serde_json::json!([]));
    // A second boot: the same again.
    pool.write(&root, &[("etc/canary", "again\n")]);
    pool.rollback(&[]).ok();
    pool.assert_root_is_blank();
}

#[test]
fn snapshots_newer_than_the_blank_are_named_and_recorded() {
    if !zfs_or_skip("newer_snapshots") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    for s in ["zfs-auto-snap_hourly-1", "zfs-auto-snap_hourly-0", "manual"] {
        zfs(&["snapshot", &format!("{root}@{s}")]);
    }
    let run = pool.rollback(&[]);
    run.ok();
    let newer: Vec<String> = ["zfs-auto-snap_hourly-1", "zfs-auto-snap_hourly-0", "manual"]
        .iter()
        .map(|s| format!("{root}@{s}"))
        .collect();
    for s in &newer {
        assert!(
            run.stderr.contains(&format!("destroying snapshot {s}")),
            "{}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains("blankroot: warning: zfs rollback -r destroys 3 snapshot(s)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("auto-snapshot"), "{}", run.stderr);
    assert_eq!(pool.snapshots(&root), ["blank"]);
    assert_eq!(
        pool.status()["destroyed_snapshots"],
        serde_json::json!(newer),
        "in creation order"
    );
    pool.assert_root_is_blank();
}

#[test]
fn archive_mode_keeps_old_roots_and_prunes_by_the_retention_rules() {
    if !zfs_or_skip("archive_mode") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let before = pool.persistent_state();
    let root = pool.root();
    let parent = pool.ds("local/old_roots");
    zfs(&["set", "com.sun:auto-snapshot=false", &root]);
    zfs(&["snapshot", &format!("{root}@hourly-1")]);
    let args = ["--archive-dir", parent.as_str(), "--keep", "2"];
    let mut made = Vec::new();
    for boot in 0..3 {
        if boot > 0 {
            pool.write(&root, &[("etc/canary", &format!("boot {boot}\n"))]);
        }
        let run = pool.rollback(&args);
        run.ok();
        pool.assert_root_is_blank();
        assert_eq!(
            pool.get("com.sun:auto-snapshot", &root),
            "false",
            "the root's own properties are carried over"
        );
        let st = pool.status();
        assert_eq!(st["action"], "archived");
        let archive = st["archive"].as_str().unwrap().to_string();
        assert!(archive.starts_with(&format!("{parent}/20")), "{archive}");
        assert_eq!(pool.get("origin", &archive), format!("{root}@blank"));
        assert_eq!(pool.get("canmount", &archive), "noauto");
        let text = if boot == 0 {
            "gone after rollback\n".to_string()
        } else {
            format!("boot {boot}\n")
        };
        assert_eq!(
            pool.tree(&archive)["etc/canary"],
            format!("file 644 {text:?}"),
            "the archive is the old root"
        );
        made.push(archive);
        let have = pool.archives();
        assert_eq!(have, made[made.len().saturating_sub(2)..], "--keep 2");
        if boot == 2 {
            assert_eq!(st["pruned"], serde_json::json!([made[0]]));
        }
    }
    assert_eq!(
        pool.snapshots(&made[1]),
        Vec::<String>::new(),
        "a later archive holds no snapshot: the blank moved back to the root"
    );
    assert_eq!(pool.snapshots(&root), ["blank"]);
    assert_eq!(pool.get("canmount", &parent), "off");
    assert_eq!(pool.get("mountpoint", &parent), "none");
    assert_eq!(pool.persistent_state(), before);
}

#[test]
fn keep_days_prunes_by_the_name_and_leaves_strangers_alone() {
    if !zfs_or_skip("keep_days") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let parent = pool.ds("local/old_roots");
    zfs(&[
        "create",
        "-o",
        "canmount=off",
        "-o",
        "mountpoint=none",
        &parent,
    ]);
    let old = format!("{parent}/2020-01-01T00:00:00Z");
    let readme_style = format!("{parent}/2020-1-2_03:04:05");
    let stranger = format!("{parent}/keep-me");
    for ds in [&old, &readme_style, &stranger] {
        zfs(&["create", "-o", "mountpoint=legacy", ds]);
    }
    zfs(&["snapshot", &format!("{old}@s1")]);
    // `old` as blankroot marks its archives; the README-style one is the impermanence
    // script's, pruned by the same rules with --prune-unmarked.
    zfs(&["set", "org.blankroot:archive=2020-01-01T00:00:00Z", &old]);
    let run = pool.rollback(&[
        "--archive-dir",
        &parent,
        "--keep-days",
        "30",
        "--prune-unmarked",
    ]);
    run.ok();
    let st = pool.status();
    let new = st["archive"].as_str().unwrap().to_string();
    assert_eq!(pool.archives(), [new.clone(), stranger.clone()]);
    assert_eq!(st["pruned"], serde_json::json!([old, readme_style]));
    assert_eq!(
        st["destroyed_snapshots"],
        serde_json::json!([format!("{old}@s1")])
    );
    assert_eq!(
        st["left_alone"],
        serde_json::json!([format!("{stranger} (its name is not an archive time)")])
    );
    assert!(
        run.stderr.contains("left alone in the archive parent"),
        "{}",
        run.stderr
    );
    pool.assert_root_is_blank();
    assert!(pool.exists(&root));
}

#[test]
fn dry_run_prints_every_command_and_changes_nothing() {
    if !zfs_or_skip("dry_run") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let datasets = pool.datasets();
    let parent = pool.ds("local/old_roots");
    let run = pool.rollback(&["--archive-dir", &parent, "--dry-run"]);
    run.ok();
    let staging = pool.ds("local/.blankroot-new-root");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "blankroot dry run: nothing was changed; the plan:"
    );
    let expect = [
        format!("  1. zfs create -o canmount=off -o mountpoint=none {parent}"),
        format!("  2. zfs clone -o canmount=noauto -o mountpoint=legacy {root}@blank {staging}"),
        "  3. zfs set org.blankroot:archive=20".to_string(),
        format!("  4. zfs rename {root} {parent}/20"),
        format!("  5. zfs rename {staging} {root}"),
        format!("  6. zfs promote {root}"),
    ];
    assert_eq!(lines.len(), 7, "{}", run.stdout);
    for (line, want) in lines[1..].iter().zip(&expect) {
        assert!(line.starts_with(want.as_str()), "{line:?} vs {want:?}");
    }
    assert_eq!(pool.datasets(), datasets);
    assert!(pool.tree(&root).contains_key("etc/canary"));
    assert!(!pool.status_file().exists(), "a dry run writes no record");
}

#[test]
fn missing_dataset_and_missing_snapshot_change_nothing() {
    if !zfs_or_skip("missing_dataset_snapshot") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let datasets = pool.datasets();
    let gone = pool.ds("local/nope");
    Run::of(pool.blankroot_on(&gone, &[]).output().unwrap()).fails(
        1,
        &format!("dataset {gone} does not exist: nothing was changed"),
    );
    assert_eq!(pool.status()["action"], "failed");

    pool.rollback(&["--snapshot", "nope"]).fails(
        1,
        &format!("snapshot {root}@nope does not exist (its snapshots: blank): nothing was changed"),
    );
    assert_eq!(pool.datasets(), datasets);
    assert!(pool.tree(&root).contains_key("etc/canary"));
    let st = pool.status();
    assert_eq!(st["action"], "failed");
    assert_eq!(st["exit_code"], 1);
    assert!(st["error"]
        .as_str()
        .unwrap()
        .contains("@nope does not exist"));
}

#[test]
fn a_pool_that_is_not_imported_is_an_error_without_import() {
    if !zfs_or_skip("not_imported") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    pool.export();
    pool.rollback(&[]).fails(
        1,
        &format!(
            "pool {} is not imported: nothing was changed; pass --import",
            pool.name
        ),
    );
    let run = pool.rollback(&["--import", "--dry-run"]);
    run.ok();
    assert!(
        run.stdout
            .contains(&format!("1. zpool import -N {}", pool.name)),
        "{}",
        run.stdout
    );
    assert!(
        zpool(&["list", "-H", "-o", "name"])
            .lines()
            .all(|l| l != pool.name),
        "a dry run imports nothing"
    );
}

/// zfs-fuse has no `zpool import -N`; a wrapper records the command blankroot runs and imports
/// the pool the way zfs-fuse can (its datasets are legacy or noauto, so nothing is mounted).
#[test]
fn import_runs_zpool_import_n() {
    if !zfs_or_skip("import") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let bin = pool.dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let log = pool.dir.path().join("zpool.log");
    let zpool_real = tool("zpool").unwrap();
    let zfs_real = tool("zfs").unwrap();
    script(
        &bin.join("zpool"),
        &format!(
            "#!/bin/sh\n\
             if [ \"$1\" = import ]; then\n\
             \techo \"$*\" >> '{log}'\n\
             \tfor last; do :; done\n\
             \texec '{zpool}' import -o cachefile=none -d '{dir}' \"$last\"\n\
             fi\n\
             exec '{zpool}' \"$@\"\n",
            log = log.display(),
            zpool = zpool_real.display(),
            dir = pool.dir.path().display()
        ),
    );
    script(
        &bin.join("zfs"),
        &format!("#!/bin/sh\nexec '{}' \"$@\"\n", zfs_real.display()),
    );
    let zfs_command = bin.join("zfs");
    let zfs_command = zfs_command.to_str().unwrap();
    for (flags, expect) in [
        (&["--import"][..], format!("import -N {}", pool.name)),
        (
            &["--import", "--force-import"],
            format!("import -N -f {}", pool.name),
        ),
    ] {
        pool.export();
        let mut args = vec!["--zfs-command", zfs_command];
        args.extend_from_slice(flags);
        let run = pool.rollback(&args);
        run.ok();
        assert_eq!(
            fs::read_to_string(&log).unwrap().lines().last().unwrap(),
            expect
        );
        pool.assert_root_is_blank();
        pool.write(&pool.root(), &[("etc/canary", "again\n")]);
    }
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 2);
    // Already imported: no import at all.
    pool.rollback(&["--import", "--zfs-command", zfs_command])
        .ok();
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 2);
}

fn script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn zfs_missing_from_path_or_command_line() {
    if !zfs_or_skip("zfs_missing") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let empty = pool.dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let run = Run::of(pool.blankroot(&[]).env("PATH", &empty).output().unwrap());
    run.fails(1, "zfs is not on PATH");
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    let nowhere = empty.join("zfs");
    pool.rollback(&["--zfs-command", nowhere.to_str().unwrap()])
        .fails(2, "no executable file there");
    assert!(pool.tree(&pool.root()).contains_key("etc/canary"));
}

/// Hostile names never reach a program: a `zfs` on PATH that records every call stays silent.
#[test]
fn hostile_names_are_usage_errors_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    for tool in ["zfs", "zpool"] {
        script(
            &dir.path().join(tool),
            &format!("#!/bin/sh\necho \"$0 $*\" >> '{}'\n", calls.display()),
        );
    }
    let status = dir.path().join("status.json");
    for args in [
        &["--dataset", "a; rm -rf /"][..],
        &["--dataset", "rpool/root$(touch /tmp/x)"],
        &["--dataset", "rpool/root\nrpool/safe"],
        &["--dataset", "rpool/local/root", "--snapshot", "blank`id`"],
        &["--dataset", "rpool/local/root", "--snapshot", "../../etc"],
        &[
            "--dataset",
            "rpool/local/root",
            "--archive-dir",
            "rpool/old|reboot",
        ],
        &["--dataset", "-rf"],
        &["--dataset", "rpool"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
            .arg("rollback")
            .args(args)
            .arg("--allow-outside-initrd")
            .arg("--status-file")
            .arg(&status)
            .env("PATH", dir.path())
            .env("BLANKROOT_KMSG", "none")
            .env_remove("BLANKROOT_KERNEL_CMDLINE")
            .output()
            .unwrap();
        let run = Run::of(out);
        run.fails(2, args[args.len() - 2]);
        assert!(
            !calls.exists(),
            "{args:?} ran {:?}",
            fs::read_to_string(&calls)
        );
    }
}

#[test]
fn a_mounted_root_or_child_datasets_in_archive_mode_change_nothing() {
    if !zfs_or_skip("mounted_root") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let datasets = pool.datasets();
    let run = pool.with_mounted(&root, |_| pool.rollback(&[]));
    run.fails(
        1,
        &format!(
            "{root} is mounted: nothing was changed; blankroot must run before the root is mounted"
        ),
    );
    zfs(&["create", "-o", "mountpoint=legacy", &format!("{root}/var")]);
    let parent = pool.ds("local/old_roots");
    pool.rollback(&["--archive-dir", &parent]).fails(
        1,
        &format!("{root} has child datasets ({root}/var): archiving the root would move them"),
    );
    assert_eq!(pool.datasets().len(), datasets.len() + 1);
    assert!(pool.tree(&root).contains_key("etc/canary"));
    // Delete mode leaves the child alone.
    pool.write(&format!("{root}/var"), &[("kept", "yes\n")]);
    pool.rollback(&[]).ok();
    assert!(pool.tree(&format!("{root}/var")).contains_key("kept"));
}

#[test]
fn the_kill_switch_skips_the_rollback() {
    if !zfs_or_skip("kill_switch") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let run = Run::of(
        pool.blankroot(&[])
            .env("BLANKROOT_KERNEL_CMDLINE", "quiet rd.blankroot=0")
            .output()
            .unwrap(),
    );
    run.ok();
    assert_eq!(pool.status()["action"], "skipped");
    assert!(pool.tree(&pool.root()).contains_key("etc/canary"));
}

/// A root that ZFS would mount by itself (canmount=on and a mountpoint path) is refused in
/// archive mode before anything runs: the clone would be mounted in the initrd. (A root with
/// `canmount=noauto mountpoint=/` is planned with both properties carried over, see the unit
/// tests; it cannot be run here: zfs-fuse mounts a new clone even with canmount=noauto, which
/// OpenZFS does not.)
#[test]
fn archive_mode_refuses_a_root_zfs_would_mount() {
    if !zfs_or_skip("archive_automount") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let parent = pool.ds("local/old_roots");
    let elsewhere = pool.dir.path().join("would-be-mounted");
    zfs(&["set", &format!("mountpoint={}", elsewhere.display()), &root]);
    zfs(&["set", "canmount=on", &root]);
    if pool.get("mounted", &root) == "yes" {
        zfs(&["umount", &root]);
    }
    let datasets = pool.datasets();
    pool.rollback(&["--archive-dir", &parent]).fails(
        1,
        &format!(
            "{root} has canmount=on and mountpoint={}: zfs would mount the new root and every archive by itself: nothing was changed",
            elsewhere.display()
        ),
    );
    assert_eq!(pool.datasets(), datasets);
    assert_eq!(pool.get("mounted", &root), "no");
    // Delete mode does not clone: it rolls back.
    pool.rollback(&[]).ok();
    assert_eq!(pool.snapshots(&root), ["blank"]);
}
