//! `blankroot archives` and `restore` on ZFS (zfs-fuse pools): the archive datasets that
//! `rollback --archive-dir` made, newest first, with `used`; what retention leaves alone; paths
//! copied back out of an archive through a read-only mount, the archive's content and every
//! property of the pool exactly as they were afterwards.

mod common;
mod common_zfs;
use common::*;
use common_zfs::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn cmd(pool: &Pool, what: &str, args: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg(what)
            .arg("--dataset")
            .arg(pool.root())
            .arg("--archive-dir")
            .arg(pool.ds("local/old_roots"))
            .args(args)
            .env("PATH", path_with_zfs())
            .output()
            .unwrap(),
    )
}

/// Every property of every dataset and snapshot of the pool but `available` (the pool's free
/// space, which moves as freed blocks are given back): name and property -> value and source.
fn properties(pool: &Pool) -> std::collections::BTreeMap<String, String> {
    let out = zfs(&[
        "get",
        "-H",
        "-p",
        "-o",
        "name,property,value,source",
        "all",
        "-r",
        &pool.ds("local"),
    ]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4 && f[1] != "available")
                .then(|| (format!("{} {}", f[0], f[1]), format!("{} ({})", f[2], f[3])))
        })
        .collect()
}

/// Two boots in archive mode; the first root has a service's state to restore.
fn two_archives(pool: &Pool) -> Vec<String> {
    pool.seed();
    let root = pool.root();
    pool.with_mounted(&root, |at| {
        let state = at.join("var/lib/foo");
        fs::create_dir_all(state.join("sub")).unwrap();
        fs::write(state.join("data.db"), "rows\n").unwrap();
        fs::write(state.join("sub/deep.txt"), "deep\n").unwrap();
        fs::hard_link(state.join("data.db"), state.join("sub/same-inode")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", state.join("outside")).unwrap();
        std::os::unix::fs::chown(state.join("data.db"), Some(1234), Some(2234)).unwrap();
        fs::set_permissions(state.join("data.db"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&state, Some(1234), Some(2234)).unwrap();
        fs::set_permissions(&state, fs::Permissions::from_mode(0o750)).unwrap();
        sh(
            "touch",
            &[
                "-h",
                "-d",
                "2001-02-03T04:05:06Z",
                state.join("data.db").to_str().unwrap(),
            ],
        );
        sh(
            "touch",
            &[
                "-h",
                "-d",
                "2001-02-03T04:05:06Z",
                state.join("outside").to_str().unwrap(),
            ],
        );
        sh(
            "touch",
            &["-d", "2001-02-03T04:05:06Z", state.to_str().unwrap()],
        );
    });
    let parent = pool.ds("local/old_roots");
    let mut made = Vec::new();
    for boot in 0..2 {
        if boot > 0 {
            pool.write(&root, &[("etc/canary", "second boot\n")]);
        }
        pool.rollback(&["--archive-dir", &parent]).ok();
        made.push(pool.status()["archive"].as_str().unwrap().to_string());
    }
    made
}

#[test]
fn archives_lists_the_datasets_newest_first_and_changes_nothing() {
    if !zfs_or_skip("zfs_archives") {
        return;
    }
    let pool = Pool::new();
    let made = two_archives(&pool);
    let parent = pool.ds("local/old_roots");
    zfs(&[
        "create",
        "-o",
        "mountpoint=legacy",
        &format!("{parent}/2020-1-2_03:04:05"),
    ]);
    zfs(&[
        "create",
        "-o",
        "mountpoint=legacy",
        &format!("{parent}/keep-me"),
    ]);
    let before = properties(&pool);
    let r = cmd(&pool, "archives", &[]);
    r.ok();
    let rows: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        rows[0],
        format!(
            "3 archives in {parent} (zfs pool {}), newest first:",
            pool.name
        )
    );
    let base = |a: &str| a.rsplit('/').next().unwrap().to_string();
    assert!(
        rows[2].starts_with(&format!("  {} (latest)", base(&made[1]))),
        "{}",
        r.stdout
    );
    assert!(
        rows[3].starts_with(&format!("  {} ", base(&made[0]))),
        "{}",
        r.stdout
    );
    assert!(
        rows[4].starts_with("  2020-1-2_03:04:05 (unmarked)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "  {parent}/keep-me: its name is not an archive time\n"
        )),
        "{}",
        r.stdout
    );

    let j = cmd(&pool, "archives", &["--json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["filesystem"], "zfs");
    assert_eq!(v["archive_dir"], parent.as_str());
    let list = v["archives"].as_array().unwrap();
    let paths: Vec<&str> = list.iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            made[1].as_str(),
            made[0].as_str(),
            &format!("{parent}/2020-1-2_03:04:05")
        ]
    );
    assert_eq!(list[0]["latest"], true);
    assert_eq!(list[0]["marked"], true);
    assert_eq!(list[2]["marked"], false);
    // `used`, in bytes, as zfs says it.
    for a in list {
        let used: u64 = zfs(&[
            "get",
            "-H",
            "-p",
            "-o",
            "value",
            "used",
            a["path"].as_str().unwrap(),
        ])
        .trim()
        .parse()
        .unwrap();
        assert_eq!(a["size_bytes"].as_u64(), Some(used));
    }
    assert_eq!(v["size_unknown"], serde_json::Value::Null);
    assert_eq!(
        v["left_alone"],
        serde_json::json!([
            {"name": format!("{parent}/2020-1-2_03:04:05"), "reason": "not marked as an archive blankroot made (org.blankroot:archive); destroy it by hand, or pass --prune-unmarked"},
            {"name": format!("{parent}/keep-me"), "reason": "its name is not an archive time"},
        ])
    );
    assert_eq!(properties(&pool), before, "nothing on the pool changed");
}

#[test]
fn restore_copies_out_of_a_read_only_mount_and_leaves_the_archive_as_it_was() {
    if !zfs_or_skip("zfs_restore") {
        return;
    }
    let pool = Pool::new();
    let made = two_archives(&pool);
    let older = made[0].clone();
    // (pool.tree mounts the archive writable for a moment: the properties are taken after it.)
    let before_tree = pool.tree(&older);
    let before_props = properties(&pool);
    let to = tempfile::Builder::new()
        .prefix("blankroot-restored")
        .tempdir()
        .unwrap();
    let t = to.path();
    let name = older.rsplit('/').next().unwrap();
    let r = cmd(
        &pool,
        "restore",
        &[
            "--from",
            name,
            "--to",
            t.to_str().unwrap(),
            "/var/lib/foo",
            "/etc/canary",
        ],
    );
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "restored /var/lib/foo -> {}/var/lib/foo: 6 entries, ",
            t.display()
        )),
        "{}",
        r.stdout
    );
    let state = t.join("var/lib/foo");
    assert_eq!(fs::read_to_string(state.join("data.db")).unwrap(), "rows\n");
    assert_eq!(
        fs::read_to_string(t.join("etc/canary")).unwrap(),
        "gone after rollback\n"
    );
    let md = fs::metadata(state.join("data.db")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1234, 2234, 0o640)
    );
    assert_eq!(md.mtime(), 981_173_106);
    assert_eq!(
        md.ino(),
        fs::metadata(state.join("sub/same-inode")).unwrap().ino()
    );
    assert_eq!(
        fs::read_link(state.join("outside")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(
        fs::symlink_metadata(state.join("outside")).unwrap().mtime(),
        981_173_106
    );
    let dir = fs::metadata(&state).unwrap();
    assert_eq!(
        (dir.uid(), dir.mode() & 0o7777, dir.mtime()),
        (1234, 0o750, 981_173_106)
    );
    // The archive: same content, same properties (its mountpoint back as it was), unmounted.
    assert_eq!(properties(&pool), before_props);
    assert_eq!(pool.get("mounted", &older), "no");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&older), "left mounted: {mounts}");
    assert_eq!(pool.tree(&older), before_tree);

    // latest is the second archive; an existing destination needs --force.
    cmd(
        &pool,
        "restore",
        &["--to", t.to_str().unwrap(), "/etc/canary"],
    )
    .fails(1, "exists (a file): pass --force to replace it");
    cmd(
        &pool,
        "restore",
        &["--force", "--to", t.to_str().unwrap(), "/etc/canary"],
    )
    .ok();
    assert_eq!(
        fs::read_to_string(t.join("etc/canary")).unwrap(),
        "second boot\n"
    );
    cmd(&pool, "restore", &["--to", t.to_str().unwrap(), "/nope"])
        .fails(1, &format!("/nope is not in the archive {}", made[1]));
    assert_eq!(pool.get("mountpoint", &made[1]), "legacy");
    assert_eq!(pool.get("mounted", &made[1]), "no");
}
