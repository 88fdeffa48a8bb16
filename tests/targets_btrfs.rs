//! More than `/` (issue 15), on a real loop btrfs: `/` and `/home` on one filesystem, named in a
//! configuration's "targets": each rolled back with its own record, a crash between (or inside)
//! the two leaves each done or untouched and the next run finishes, the stage-2 flag
//! (`--before-mount`), and the commands taking a target by its mount point.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// seed_layout plus a read-only `home-blank` (an empty home with one directory), and a
/// configuration with the targets `/` and `/home` (archive mode for /home).
fn two_targets() -> (Image, PathBuf) {
    let img = Image::new(256);
    seed_layout(&img, true);
    {
        let m = img.mount();
        m.subvol("home-src").mkdir("home-src/alice");
        m.snapshot("home-src", "home-blank", true);
        m.write("home/alice/notes", "not persisted\n");
        m.write("home/canary", "gone after rollback\n");
    }
    let dev = img.dev.to_str().unwrap();
    let cfg = img.dir.path().join("config.json");
    let json = serde_json::json!({
        "args": ["--device", dev, "--subvolume", "root", "--blank", "root-blank"],
        "targets": [
            {"mount_point": "/", "args": ["--device", dev, "--subvolume", "root", "--blank", "root-blank"], "stage": "initrd"},
            {"mount_point": "/home", "args": ["--device", dev, "--subvolume", "home", "--blank", "home-blank",
                "--archive-dir", "old_homes", "--keep", "2"], "stage": "initrd"}
        ],
        "persisted": [],
    });
    fs::write(&cfg, json.to_string()).unwrap();
    (img, cfg)
}

fn blankroot(img: &Image, args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args)
        .env("BLANKROOT_KMSG", img.kmsg_file())
        .env_remove("BLANKROOT_FAILPOINT")
        .env_remove("BLANKROOT_KERNEL_CMDLINE");
    c
}

fn run(img: &Image, args: &[&str]) -> Run {
    Run::of(blankroot(img, args).output().unwrap())
}

fn rollback_all(img: &Image, cfg: &Path, extra: &[&str]) -> Command {
    let status = img.status_file();
    let mut a = vec![
        "rollback",
        "--config",
        cfg.to_str().unwrap(),
        "--allow-outside-initrd",
        "--status-file",
        status.to_str().unwrap(),
    ];
    a.extend(extra);
    blankroot(img, &a)
}

fn record(img: &Image, name: &str) -> serde_json::Value {
    let text = fs::read_to_string(img.dir.path().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn home_archives(m: &Mount) -> Vec<String> {
    m.ls("old_homes")
}

#[test]
fn both_targets_are_rolled_back_each_with_its_record() {
    if !root_or_skip("targets_both") {
        return;
    }
    let (img, cfg) = two_targets();
    let (root_id, home_id, persist) = {
        let m = img.mount();
        (m.id("root"), m.id("home"), m.tree("persist"))
    };
    Run::of(rollback_all(&img, &cfg, &[]).output().unwrap()).ok();
    let m = img.mount();
    assert_ne!(m.id("root"), root_id);
    assert_ne!(m.id("home"), home_id);
    assert!(!m.exists("root/etc/canary") && !m.exists("home/canary"));
    assert!(m.exists("home/alice"), "the blank's directory is there");
    assert!(!m.exists("home/alice/notes"));
    assert_eq!(m.tree("persist"), persist, "persist untouched");
    let archived = home_archives(&m);
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert!(m.exists(&format!("old_homes/{}/alice/notes", archived[0])));
    drop(m);
    // One record per target; the root's has the 0.2 shape (no mount_point member).
    let root = record(&img, "status.json");
    assert_eq!(root["action"], "rolled-back");
    assert!(root.get("mount_point").is_none(), "{root}");
    let home = record(&img, "status.home.json");
    assert_eq!(home["action"], "archived");
    assert_eq!(home["mount_point"], "/home");
    assert_eq!(home["target"], "home");

    // status: every target; --json: the root's record with every target's under "targets".
    let status = img.status_file();
    let st = status.to_str().unwrap();
    let text = run(
        &img,
        &[
            "status",
            "--status-file",
            st,
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    text.ok();
    assert!(
        text.stdout.contains("blankroot rolled back root"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("blankroot archived and rolled back /home: home"),
        "{}",
        text.stdout
    );
    let js = run(
        &img,
        &[
            "status",
            "--status-file",
            st,
            "--json",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    js.ok();
    let v: serde_json::Value = serde_json::from_str(&js.stdout).unwrap();
    assert_eq!(v["action"], "rolled-back");
    assert_eq!(v["targets"][0]["mount_point"], "/");
    assert_eq!(v["targets"][1]["mount_point"], "/home");
    assert_eq!(v["targets"][1]["action"], "archived");
    // Without the configuration, the records beside the status file are found.
    let found = run(&img, &["status", "--status-file", st, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&found.stdout).unwrap();
    assert_eq!(
        v["targets"].as_array().unwrap().len(),
        2,
        "{}",
        found.stdout
    );
    // Not from this boot's initrd run: --check fails for each target, naming it.
    let chk = run(
        &img,
        &[
            "status",
            "--status-file",
            st,
            "--check",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    assert_eq!(chk.code, 0, "records of this boot: {}", chk.stderr);
    fs::remove_file(img.dir.path().join("status.home.json")).unwrap();
    let chk = run(
        &img,
        &[
            "status",
            "--status-file",
            st,
            "--check",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    assert_eq!(chk.code, 1);
    assert!(chk.stderr.contains("no status record"), "{}", chk.stderr);
}

#[test]
fn only_the_named_target_runs() {
    if !root_or_skip("targets_named") {
        return;
    }
    let (img, cfg) = two_targets();
    let (root_id, home_id) = {
        let m = img.mount();
        (m.id("root"), m.id("home"))
    };
    Run::of(rollback_all(&img, &cfg, &["/home"]).output().unwrap()).ok();
    let m = img.mount();
    assert_eq!(m.id("root"), root_id, "/ was not named");
    assert_ne!(m.id("home"), home_id);
    drop(m);
    let r = Run::of(rollback_all(&img, &cfg, &["/srv"]).output().unwrap());
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("has no target /srv: its targets are /, /home"),
        "{}",
        r.stderr
    );
}

#[cfg(feature = "failpoints")]
#[test]
fn a_crash_between_or_inside_two_targets_leaves_each_done_or_untouched() {
    if !root_or_skip("targets_crash") {
        return;
    }
    for point in [
        "between-targets",
        "home:step-1",
        "home:step-2",
        "home:step-3",
        "home:step-4",
    ] {
        let (img, cfg) = two_targets();
        let (root_id, home_id, persist) = {
            let m = img.mount();
            (m.id("root"), m.id("home"), m.tree("persist"))
        };
        let out = rollback_all(&img, &cfg, &[])
            .env("BLANKROOT_FAILPOINT", point)
            .output()
            .unwrap();
        img.unmount_leftovers();
        let killed = Run::of(out);
        assert_eq!(killed.code, -1, "{point}: not killed: {}", killed.stderr);
        {
            let m = img.mount();
            assert_ne!(m.id("root"), root_id, "{point}: / was done first");
            assert!(!m.exists("root/etc/canary"));
            assert!(m.exists("home"), "{point}: /home is always there");
            if point == "between-targets" || point == "home:step-1" {
                assert_eq!(m.id("home"), home_id, "{point}: /home untouched");
                assert!(m.exists("home/canary"));
            }
            assert_eq!(m.tree("persist"), persist);
        }
        // The next boot finishes: both done, the home data archived once.
        Run::of(rollback_all(&img, &cfg, &[]).output().unwrap()).ok();
        let m = img.mount();
        assert!(
            !m.exists("home/canary") && !m.exists("root/etc/canary"),
            "{point}"
        );
        assert!(m.exists("home/alice"));
        let kept: Vec<String> = home_archives(&m)
            .into_iter()
            .filter(|a| m.exists(&format!("old_homes/{a}/canary")))
            .collect();
        assert_eq!(
            kept.len(),
            1,
            "{point}: the old /home is in one archive: {:?}",
            home_archives(&m)
        );
        assert_eq!(m.tree("persist"), persist);
    }
}

#[test]
fn before_mount_is_the_stage_2_units_flag_and_refuses_a_target_in_use() {
    if !root_or_skip("targets_before_mount") {
        return;
    }
    let (img, _cfg) = two_targets();
    let dev = img.dev.to_str().unwrap().to_string();
    let home_status = img.dir.path().join("status.home.json");
    let hs = home_status.to_str().unwrap().to_string();
    let mnt = tempfile::tempdir().unwrap();
    let mp = mnt.path().to_str().unwrap().to_string();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "rollback",
            "--device",
            &dev,
            "--subvolume",
            "home",
            "--blank",
            "home-blank",
            "--mount-point",
            &mp,
            "--status-file",
            &hs,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let go = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&img, &a)
    };
    // Outside the initrd without a flag: refused, no record.
    go(&[]).fails(2, "not running in an initrd");
    assert!(!home_status.exists());
    // --before-mount for /: refused.
    let r = run(
        &img,
        &[
            "rollback",
            "--device",
            &dev,
            "--before-mount",
            "--status-file",
            &hs,
        ],
    );
    r.fails(2, "--before-mount is for a target other than /");
    // The target mounted (at its mount point, or its subvolume anywhere): refused, unchanged.
    let home_id = img.mount().id("home");
    sh("mount", &["-o", "subvol=home", &dev, &mp]);
    let r = go(&["--before-mount"]);
    sh("umount", &[&mp]);
    r.fails(1, "is mounted");
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    let other = tempfile::tempdir().unwrap();
    sh(
        "mount",
        &["-o", "subvol=home", &dev, other.path().to_str().unwrap()],
    );
    let r = go(&["--before-mount"]);
    sh("umount", &[other.path().to_str().unwrap()]);
    r.fails(1, "its subvolume home is mounted at");
    assert_eq!(img.mount().id("home"), home_id);
    // Not mounted: it runs, once per boot.
    go(&["--before-mount"]).ok();
    let new_id = img.mount().id("home");
    assert_ne!(new_id, home_id);
    let rec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&home_status).unwrap()).unwrap();
    assert_eq!(rec["mount_point"], mp.as_str());
    assert!(rec["boot_id"].is_string());
    let again = go(&["--before-mount"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stderr.contains("already ran this boot"),
        "{}",
        again.stderr
    );
    assert_eq!(img.mount().id("home"), new_id, "not run twice in one boot");
}

#[test]
fn commands_take_the_target_by_its_mount_point() {
    if !root_or_skip("targets_commands") {
        return;
    }
    let (img, cfg) = two_targets();
    let c = cfg.to_str().unwrap();
    // diff /home: paths under /home; the root's listing does not show them.
    let d = run(&img, &["diff", "/home", "--config", c]);
    d.ok();
    assert!(d.stdout.contains("/home/alice/notes"), "{}", d.stdout);
    assert!(d.stdout.contains("/home/canary"), "{}", d.stdout);
    assert!(!d.stdout.contains("/etc/canary"), "{}", d.stdout);
    let d = run(&img, &["diff", "--config", c, "--json"]);
    d.ok();
    assert!(d.stdout.contains("\"/etc/canary\""), "{}", d.stdout);
    assert!(!d.stdout.contains("/home/alice"), "{}", d.stdout);
    let d = run(
        &img,
        &[
            "diff",
            "/home",
            "--config",
            c,
            "--json",
            "--persisted",
            "/home/alice",
        ],
    );
    d.ok();
    assert!(
        d.stdout.contains("\"mount_point\":\"/home\""),
        "{}",
        d.stdout
    );
    assert!(
        !d.stdout.contains("/home/alice/notes"),
        "persisted: {}",
        d.stdout
    );
    run(&img, &["diff", "/srv", "--config", c]).fails(2, "has no target /srv");

    // skip-next-boot: every target by default; each rollback consumes its own.
    let (root_id, home_id) = {
        let m = img.mount();
        (m.id("root"), m.id("home"))
    };
    let s = run(&img, &["skip-next-boot", "--config", c]);
    s.ok();
    assert!(
        s.stdout.contains("/home (subvolume home on btrfs"),
        "{}",
        s.stdout
    );
    Run::of(rollback_all(&img, &cfg, &["/"]).output().unwrap()).ok();
    assert_eq!(record(&img, "status.json")["action"], "skipped");
    assert!(
        img.mount().exists(".blankroot-skip-next-boot"),
        "still pending for /home"
    );
    Run::of(rollback_all(&img, &cfg, &["/home"]).output().unwrap()).ok();
    assert_eq!(record(&img, "status.home.json")["action"], "skipped");
    {
        let m = img.mount();
        assert!(!m.exists(".blankroot-skip-next-boot"), "both consumed");
        assert_eq!((m.id("root"), m.id("home")), (root_id, home_id));
    }
    // skip-next-boot /home only.
    run(&img, &["skip-next-boot", "/home", "--config", c]).ok();
    Run::of(rollback_all(&img, &cfg, &[]).output().unwrap()).ok();
    assert_eq!(record(&img, "status.json")["action"], "rolled-back");
    assert_eq!(record(&img, "status.home.json")["action"], "skipped");

    // Archives and restore of /home (its archives, its paths).
    Run::of(rollback_all(&img, &cfg, &[]).output().unwrap()).ok();
    let a = run(&img, &["archives", "/home", "--config", c, "--json"]);
    a.ok();
    let v: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(v["mount_point"], "/home");
    assert_eq!(v["archive_dir"], "old_homes");
    run(&img, &["archives", "--config", c]).fails(2, "archive mode is off");
    let to = tempfile::tempdir().unwrap();
    let t = to.path().to_str().unwrap();
    let r = run(
        &img,
        &["restore", "--config", c, "--to", t, "/home/alice/notes"],
    );
    r.ok();
    assert_eq!(
        fs::read_to_string(to.path().join("home/alice/notes")).unwrap(),
        "not persisted\n"
    );
    run(
        &img,
        &[
            "restore", "--config", c, "--to", t, "--target", "/home", "/etc/x",
        ],
    )
    .fails(2, "is not below /home");
    run(
        &img,
        &[
            "restore",
            "--config",
            c,
            "--to",
            t,
            "/home/alice/notes",
            "/etc/canary",
        ],
    )
    .fails(2, "restore the paths of one target at a time");
}

#[test]
fn a_configuration_with_broken_targets_is_refused_naming_the_entry() {
    if !root_or_skip("targets_config") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    let dev = img.dev.to_str().unwrap();
    let cfg = img.dir.path().join("config.json");
    let cases = [
        (
            serde_json::json!({"targets": [
                {"mount_point": "/", "args": ["--device", dev]},
                {"mount_point": "/", "args": ["--device", dev, "--subvolume", "home"]}]}),
            "the target / is listed twice",
        ),
        (
            serde_json::json!({"targets": [{"mount_point": "home", "args": ["--device", dev]}]}),
            "not an absolute path",
        ),
        (
            serde_json::json!({"targets": [{"mount_point": "/home", "args": ["--device", dev, "--mount-point", "/srv"]}]}),
            "differs from \"mount_point\"",
        ),
    ];
    let before = img.mount().subvolumes();
    for (json, text) in cases {
        fs::write(&cfg, json.to_string()).unwrap();
        let r = Run::of(rollback_all(&img, &cfg, &[]).output().unwrap());
        assert_eq!(r.code, 2, "{json}: {}", r.stderr);
        assert!(r.stderr.contains(text), "{text}: {}", r.stderr);
        assert!(
            r.stderr.contains("\"targets\"["),
            "names the entry: {}",
            r.stderr
        );
        run(&img, &["check", "--config", cfg.to_str().unwrap()]).fails(2, text);
    }
    assert_eq!(img.mount().subvolumes(), before, "nothing changed");
}
