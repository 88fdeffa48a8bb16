//! The destructive path under hostile conditions (issue 9): each test reproduces one defect
//! found there (they fail on blankroot 0.1.0: `BLANKROOT_TEST_BIN=<old binary>` runs them
//! against another build) and checks the real outcome on a real btrfs.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every subvolume with its id, and the whole tree of everything: "nothing changed".
fn world(img: &Image) -> (BTreeMap<String, u64>, BTreeMap<String, String>) {
    let m = img.mount();
    (m.subvolumes(), m.tree(""))
}

fn seeded() -> Image {
    let img = Image::new(256);
    seed_layout(&img, true);
    img
}

/// Defect 3: with --empty, a non-empty subvolume at the staging name is not a leftover.
#[test]
fn empty_mode_never_deletes_a_staging_name_holding_files() {
    if !root_or_skip("empty_staging_with_files") {
        return;
    }
    let img = seeded();
    img.mount()
        .subvol(".blankroot-new-root")
        .write(".blankroot-new-root/thesis.tex", "three years\n");
    let before = world(&img);
    let run = img.rollback(&["--empty"]);
    run.fails(
        1,
        ".blankroot-new-root is a subvolume and is not a copy of the blank",
    );
    assert!(run.stderr.contains("it is not empty"), "{}", run.stderr);
    assert_eq!(world(&img), before, "the disk changed");
    // An empty one is blankroot's: it becomes the new root.
    let img = seeded();
    let m = img.mount();
    m.subvol(".blankroot-new-root");
    let staged = m.id(".blankroot-new-root");
    drop(m);
    img.rollback(&["--empty"]).ok();
    let m = img.mount();
    assert_eq!(m.id("root"), staged);
    assert!(m.ls("root").is_empty() && !m.exists(".blankroot-new-root"));
}

/// Defect 3, blank mode: a copy of the blank somebody wrote to is not a leftover either.
#[test]
fn a_staging_copy_written_to_is_not_deleted() {
    if !root_or_skip("staging_copy_written_to") {
        return;
    }
    let img = seeded();
    let m = img.mount();
    m.snapshot("root-blank", ".blankroot-new-root", false);
    sh("sync", &[]);
    m.write(".blankroot-new-root/notes", "mine\n");
    drop(m);
    sh("sync", &[]);
    let before = world(&img);
    let run = img.rollback(&[]);
    run.fails(1, "it was changed after it was made");
    assert_eq!(world(&img), before);
}

/// Defect 4: `chattr +i root/var/lib` made the real run fail part-way, at every boot.
#[test]
fn immutable_attributes_are_refused_before_the_first_change() {
    if !root_or_skip("immutable") {
        return;
    }
    for (attr, target, fix) in [
        ("+i", "root/var/lib", "chattr -i <top>/root/var/lib"),
        ("+a", "root/var/lib", "chattr -a <top>/root/var/lib"),
        ("+i", "root/srv", "chattr -i <top>/root/srv"),
    ] {
        let img = seeded();
        sh(
            "chattr",
            &[attr, img.mount().path(target).to_str().unwrap()],
        );
        let before = world(&img);
        let dry = img.rollback(&["--dry-run"]);
        dry.fails(1, fix);
        let run = img.rollback(&[]);
        run.fails(1, fix);
        assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
        assert_eq!(world(&img), before, "{attr} {target}: the disk changed");
        sh(
            "chattr",
            &[
                &attr.replace('+', "-"),
                img.mount().path(target).to_str().unwrap(),
            ],
        );
        img.rollback(&[]).ok();
        assert!(!img.mount().exists("root/etc/canary"));
    }
}

/// Defect 2: six boots in one second with --keep 2: the newest archive is always kept.
#[cfg(feature = "failpoints")]
#[test]
fn archives_made_within_one_second_keep_the_newest() {
    if !root_or_skip("same_second") {
        return;
    }
    let img = seeded();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let args = ["--archive-dir", "old_roots", "--keep", "2"];
    for boot in 1..=6 {
        img.mount()
            .write("root/etc/canary", &format!("boot {boot}\n"));
        let run = Run::of(
            img.blankroot(&args)
                .env("BLANKROOT_NOW", now.to_string())
                .output()
                .unwrap(),
        );
        run.ok();
        let m = img.mount();
        let mut kept: Vec<(String, String)> = m
            .ls("old_roots")
            .into_iter()
            .map(|a| {
                let canary = std::fs::read_to_string(m.path(&format!("old_roots/{a}/etc/canary")));
                (a, canary.unwrap_or_default())
            })
            .collect();
        kept.sort();
        let newest = img.status()["archive"].as_str().unwrap().to_string();
        let newest_canary =
            std::fs::read_to_string(m.path(&format!("{newest}/etc/canary"))).unwrap();
        assert_eq!(
            newest_canary,
            format!("boot {boot}\n"),
            "boot {boot}: {kept:?}"
        );
        assert!(kept.len() <= 2, "boot {boot}: {kept:?}");
        if boot >= 2 {
            let boots: Vec<&str> = kept.iter().map(|k| k.1.trim()).collect();
            assert_eq!(
                boots,
                [format!("boot {}", boot - 1), format!("boot {boot}")],
                "boot {boot}: the two newest are kept, in name order"
            );
        }
    }
}

/// Defect 7: a protected subvolume renamed to an archive-like name inside the archive
/// directory is not pruned: blankroot prunes only what it marked when it archived it.
#[test]
fn a_protected_subvolume_renamed_into_the_archive_directory_is_kept() {
    if !root_or_skip("protect_renamed") {
        return;
    }
    let img = seeded();
    let m = img.mount();
    m.mkdir("old_roots");
    for name in ["2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"] {
        let a = format!("old_roots/{name}");
        m.subvol(&a).mark_archive(&a);
    }
    // The user's subvolume, protected by name, then moved in by hand.
    m.subvol("keepme").write("keepme/data", "precious\n");
    std::fs::rename(m.path("keepme"), m.path("old_roots/2019-01-01T00:00:00Z")).unwrap();
    let precious = m.id("old_roots/2019-01-01T00:00:00Z");
    drop(m);
    let args = [
        "--archive-dir",
        "old_roots",
        "--keep",
        "1",
        "--protect",
        "keepme",
    ];
    img.rollback(&args).ok();
    let m = img.mount();
    assert_eq!(m.id("old_roots/2019-01-01T00:00:00Z"), precious);
    assert_eq!(
        std::fs::read_to_string(m.path("old_roots/2019-01-01T00:00:00Z/data")).unwrap(),
        "precious\n"
    );
    let st = img.status();
    assert_eq!(
        st["pruned"],
        serde_json::json!([
            "old_roots/2020-01-01T00:00:00Z",
            "old_roots/2020-01-02T00:00:00Z"
        ])
    );
    assert!(
        st["left_alone"]
            .to_string()
            .contains("old_roots/2019-01-01T00:00:00Z (not marked as an archive blankroot made"),
        "{}",
        st["left_alone"]
    );
    // The archive this run made carries the mark with its own name.
    let made = st["archive"].as_str().unwrap().to_string();
    assert_eq!(
        m.mark(&made).as_deref(),
        Some(made.trim_start_matches("old_roots/"))
    );
    // Where --protect still names it, it is kept even when marked like an archive.
    m.mark_archive("old_roots/2019-01-01T00:00:00Z");
    drop(m);
    let args = [
        "--archive-dir",
        "old_roots",
        "--keep",
        "1",
        "--protect",
        "old_roots/2019-01-01T00:00:00Z",
    ];
    img.rollback(&args).ok();
    assert_eq!(img.mount().id("old_roots/2019-01-01T00:00:00Z"), precious);
    assert!(img.status()["left_alone"]
        .to_string()
        .contains("protected by --protect"));
}

/// Defect 5: two runs started at once on one device: the second waits for the first (then
/// runs on what the first left), or gives up after --lock-wait; never a half-done pair.
#[test]
fn two_runs_at_once_take_turns() {
    if !root_or_skip("concurrent") {
        return;
    }
    let img = seeded();
    let mut overlapped = 0;
    for round in 0..10 {
        img.mount()
            .write("root/etc/canary", &format!("round {round}\n"));
        let start = |img: &Image| {
            img.blankroot(&["--archive-dir", "old_roots"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(&img), start(&img));
        let runs = [a, b].map(|c| Run::of(c.wait_with_output().unwrap()));
        for r in &runs {
            r.ok();
        }
        let m = img.mount();
        assert!(
            m.is_subvolume("root") && !m.exists(".blankroot-new-root"),
            "round {round}"
        );
        assert_eq!(m.tree("root"), m.tree("root-blank"));
        let waited = runs
            .iter()
            .filter(|r| r.stderr.contains("waiting up to 30 s"))
            .count();
        assert!(waited <= 1, "round {round}");
        overlapped += waited;
    }
    eprintln!("{overlapped} of 10 rounds overlapped");
    assert!(
        overlapped >= 5,
        "the runs hardly overlapped: this proves nothing"
    );
}

#[test]
fn a_held_lock_makes_a_second_run_give_up_cleanly() {
    if !root_or_skip("lock_held") {
        return;
    }
    let img = seeded();
    let before = world(&img);
    let rdev = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&img.dev).unwrap().rdev()
    };
    let lock = format!(
        "/run/blankroot/lock/btrfs-{}:{}.lock",
        rustix::fs::major(rdev),
        rustix::fs::minor(rdev)
    );
    std::fs::create_dir_all("/run/blankroot/lock").unwrap();
    // Held by this process (another run would hold it the same way); released on drop.
    let held = std::fs::File::create(&lock).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let t = Instant::now();
    let run = img.rollback(&["--lock-wait", "1"]);
    drop(held);
    run.fails(1, "another blankroot run on");
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(t.elapsed() >= Duration::from_secs(1) && t.elapsed() < Duration::from_secs(10));
    assert_eq!(world(&img), before);
    assert!(
        !img.status_file().exists(),
        "the holder writes the record, not the waiter"
    );
}

/// Defect 7: with quotas, the new root keeps the old root's limit and quota groups.
#[test]
fn the_new_root_keeps_the_old_roots_quota_limit_and_groups() {
    if !root_or_skip("quota") {
        return;
    }
    let img = seeded();
    let m = img.mount();
    let top = m.dir.path().to_str().unwrap().to_string();
    sh("btrfs", &["quota", "enable", &top]);
    sh("btrfs", &["qgroup", "create", "1/100", &top]);
    let old = format!("0/{}", m.id("root"));
    sh(
        "btrfs",
        &["qgroup", "assign", "--no-rescan", &old, "1/100", &top],
    );
    sh(
        "btrfs",
        &["qgroup", "limit", "100M", m.path("root").to_str().unwrap()],
    );
    drop(m);
    for boot in 1..=2 {
        img.rollback(&["--archive-dir", "old_roots"]).ok();
        let m = img.mount();
        let id = m.id("root");
        let show = sh(
            "btrfs",
            &[
                "qgroup",
                "show",
                "--raw",
                "-pre",
                m.dir.path().to_str().unwrap(),
            ],
        );
        let line = show
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&format!("0/{id}")))
            .unwrap_or_else(|| panic!("boot {boot}: no qgroup 0/{id}:\n{show}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[3], "104857600", "boot {boot}: the limit: {line}");
        assert_eq!(cols[5], "1/100", "boot {boot}: the group: {line}");
    }
}
