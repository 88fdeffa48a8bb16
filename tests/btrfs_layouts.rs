//! The seed layouts, rolled back for real on loop-mounted btrfs: what goes, what stays.

mod common;
use common::*;

/// After a rollback of [`seed_layout`]: canary gone, root writable and equal to the blank, a new
/// subvolume id, everything else unchanged.
#[track_caller]
fn assert_clean(img: &Image, before: &State, old_root: u64) {
    let m = img.mount();
    assert!(!m.exists("root/etc/canary"), "canary survived");
    assert_eq!(
        m.tree("root"),
        m.tree("root-blank"),
        "new root equals the blank"
    );
    assert!(!m.read_only("root"), "new root is writable");
    assert_ne!(m.id("root"), old_root, "root was not replaced");
    assert_eq!(
        &persistent_state(&m),
        before,
        "a subvolume outside the root changed"
    );
    assert!(!m.exists(".blankroot-new-root"), "staging copy left behind");
    m.write("root/etc/written-after", "the new root takes writes\n");
}

fn prepared(nested: bool) -> (Image, State, u64) {
    let img = Image::new(512);
    seed_layout(&img, nested);
    let m = img.mount();
    let state = (persistent_state(&m), m.id("root"));
    drop(m);
    (img, state.0, state.1)
}

#[test]
fn seed_002_delete_mode_resets_root_and_keeps_everything_else() {
    if !root_or_skip("seed_002_delete_mode") {
        return;
    }
    let (img, before, old_root) = prepared(false);
    img.rollback(&[]).ok();
    assert_clean(&img, &before, old_root);
    let s = img.status();
    assert_eq!(s["action"], "rolled-back");
    assert_eq!(s["filesystem"], "btrfs");
    assert_eq!(s["target"], "root");
    assert_eq!(s["source"], "root-blank");
    assert_eq!(s["error"], serde_json::Value::Null);
    assert!(s["duration_ms"].is_u64() && s["started_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn seed_004_nested_subvolumes_are_deleted_deepest_first() {
    if !root_or_skip("seed_004_nested") {
        return;
    }
    let (img, before, old_root) = prepared(true);
    {
        // A read-only nested snapshot, and a read-only subvolume holding another one.
        let m = img.mount();
        m.snapshot("root/var/lib/machines", "root/var/lib/machines-ro", true);
        m.subvol("root/snaps")
            .subvol("root/snaps/inner")
            .set_ro("root/snaps", true);
    }
    let run = img.rollback(&[]);
    run.ok();
    // After the swap the old root is at the staging name, and its nested subvolumes with it.
    for gone in [
        ".blankroot-new-root/var/lib/machines",
        ".blankroot-new-root/srv/www/deeper",
        ".blankroot-new-root/snaps/inner",
    ] {
        assert!(
            run.stderr.contains(&format!("delete subvolume {gone} (id")),
            "{gone} not deleted:\n{}",
            run.stderr
        );
    }
    let m = img.mount();
    let left: Vec<String> = m.subvolumes().into_keys().collect();
    assert_eq!(
        left,
        ["home", "log", "nix", "persist", "root", "root-blank"],
        "subvolumes after rollback"
    );
    drop(m);
    assert_clean(&img, &before, old_root);
}

#[test]
fn a_writable_blank_works_with_a_warning() {
    if !root_or_skip("writable_blank") {
        return;
    }
    let (img, before, old_root) = prepared(false);
    img.mount().set_ro("root-blank", false);
    let run = img.rollback(&[]);
    run.ok();
    assert!(
        run.stderr
            .contains("warning: the blank root-blank is writable"),
        "{}",
        run.stderr
    );
    assert!(img.status()["warnings"].to_string().contains("is writable"));
    let m = img.mount();
    assert!(!m.exists("root/etc/canary"));
    assert_ne!(m.id("root"), old_root);
    assert_eq!(persistent_state(&m), before);
}

#[test]
fn empty_mode_recreates_an_empty_root_like_seed_004() {
    if !root_or_skip("empty_mode") {
        return;
    }
    let (img, before, old_root) = prepared(true);
    img.rollback(&["--empty"]).ok();
    let m = img.mount();
    assert!(m.is_subvolume("root"));
    assert!(
        m.ls("root").is_empty(),
        "root not empty: {:?}",
        m.ls("root")
    );
    assert_ne!(m.id("root"), old_root);
    assert_eq!(persistent_state(&m), before);
    assert_eq!(img.status()["source"], "empty");
}

#[test]
fn names_with_at_signs_spaces_and_directories() {
    if !root_or_skip("names") {
        return;
    }
    for (root, blank) in [
        ("@", "@blank"),
        ("my root", "my root-blank"),
        ("sub/dir/@root", "sub/dir/@root-blank"),
    ] {
        let img = Image::new(256);
        {
            let m = img.mount();
            m.mkdir("sub/dir")
                .subvol(root)
                .snapshot(root, blank, true)
                .subvol("persist");
            m.write(&format!("{root}/canary"), "x")
                .write("persist/kept", "y");
        }
        img.rollback(&[
            "--subvolume",
            root,
            "--blank",
            blank,
            "--protect",
            "persist",
        ])
        .ok();
        let m = img.mount();
        assert!(
            !m.exists(&format!("{root}/canary")),
            "{root}: canary survived"
        );
        assert!(m.is_subvolume(root));
        assert_eq!(
            std::fs::read_to_string(m.path("persist/kept")).unwrap(),
            "y"
        );
        assert_eq!(img.status()["target"], root);
    }
}

#[test]
fn dry_run_prints_every_step_and_changes_nothing() {
    if !root_or_skip("dry_run") {
        return;
    }
    let (img, _, _) = prepared(true);
    let world = |img: &Image| {
        let m = img.mount();
        (m.subvolumes(), m.tree(""))
    };
    let before = world(&img);
    let run = img.rollback(&["--dry-run", "--archive-dir", "old_roots", "--keep", "3"]);
    run.ok();
    assert!(run.stdout.contains("nothing was changed"), "{}", run.stdout);
    let steps: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .collect();
    assert_eq!(steps.len(), 6, "{}", run.stdout);
    assert!(
        steps[0].contains("create directory old_roots"),
        "{}",
        steps[0]
    );
    assert!(steps[1].contains("snapshot root-blank"), "{}", steps[1]);
    assert!(
        steps[2].contains("mark subvolume root (id 256)"),
        "{}",
        steps[2]
    );
    assert!(steps[3].contains("swap .blankroot-new-root and root (id 256)"));
    assert!(steps[4].contains("rename .blankroot-new-root (id 256) to old_roots/20"));
    assert!(steps[5].contains("commit"));
    assert_eq!(world(&img), before, "dry run changed the disk");
    assert!(!img.status_file().exists(), "dry run wrote a status record");
}

#[test]
fn kill_switch_skips_and_records_it() {
    if !root_or_skip("kill_switch") {
        return;
    }
    let (img, _, old_root) = prepared(false);
    let out = img
        .blankroot(&[])
        .env("BLANKROOT_KERNEL_CMDLINE", "quiet rd.blankroot=0 splash")
        .output()
        .unwrap();
    let run = Run::of(out);
    run.ok();
    assert!(run.stderr.contains("rd.blankroot=0"), "{}", run.stderr);
    let m = img.mount();
    assert!(
        m.exists("root/etc/canary"),
        "the kill switch did not stop the wipe"
    );
    assert_eq!(m.id("root"), old_root);
    assert_eq!(img.status()["action"], "skipped");
    drop(m);

    // It also wins over a broken configuration: that is how a user boots past one.
    let out = img
        .blankroot(&["--blank", "no-such-blank", "--subvolume", "/abs"])
        .env("BLANKROOT_KERNEL_CMDLINE", "rd.blankroot=0")
        .output()
        .unwrap();
    Run::of(out).ok();
    assert_eq!(img.status()["action"], "skipped");
    assert!(img.mount().exists("root/etc/canary"));
}

#[test]
fn logs_go_to_kmsg_as_one_prefixed_record_per_line() {
    if !root_or_skip("kmsg") {
        return;
    }
    let (img, _, _) = prepared(true);
    img.rollback(&[]).ok();
    let records = std::fs::read_to_string(img.kmsg_file()).unwrap();
    assert!(records.lines().count() >= 8, "{records}");
    for line in records.lines() {
        assert!(
            line.starts_with("<6>blankroot: ") || line.starts_with("<4>blankroot: "),
            "{line}"
        );
        assert!(line.len() < 976);
    }
    assert!(records.contains("<6>blankroot: step 1/"), "{records}");
}

#[test]
fn status_command_reads_the_record() {
    if !root_or_skip("status_command") {
        return;
    }
    let (img, _, _) = prepared(false);
    img.rollback(&[]).ok();
    let status = |args: &[&str]| {
        Run::of(
            std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
                .arg("status")
                .arg("--status-file")
                .arg(img.status_file())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let human = status(&[]);
    human.ok();
    assert!(
        human
            .stdout
            .contains("blankroot rolled back root from root-blank (btrfs on /dev/loop"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("(this boot)"), "{}", human.stdout);
    let json: serde_json::Value = serde_json::from_str(&status(&["--json"]).stdout).unwrap();
    assert_eq!(json["action"], "rolled-back");
    status(&["--check"]).ok();
    let missing = Run::of(
        std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
            .args([
                "status",
                "--status-file",
                "/nonexistent/status.json",
                "--check",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no status record"),
        "{}",
        missing.stderr
    );
}

/// `--mount-options` go beside subvolid=5 (a multi-device root needs `device=` and, with a
/// device missing, `degraded`); subvol= and subvolid= are blankroot's own.
#[test]
fn mount_options_reach_the_top_level_mount() {
    if !root_or_skip("mount_options") {
        return;
    }
    let (img, before, old_root) = prepared(false);
    let dev = img.dev.to_str().unwrap().to_string();
    let bad = img.rollback(&["--mount-options", "degraded,subvol=root"]);
    bad.fails(2, "subvol= is blankroot's own");
    let unknown = img.rollback(&["--mount-options", "no-such-option"]);
    unknown.fails(1, "mounting the top level (subvolid=5,no-such-option)");
    assert_eq!(
        img.mount().id("root"),
        old_root,
        "a refused run changed the root"
    );
    img.rollback(&["--mount-options", &format!("degraded,device={dev}")])
        .ok();
    assert_clean(&img, &before, old_root);
}
