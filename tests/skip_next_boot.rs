//! `blankroot skip-next-boot` (issue 12): the request is on the disk, the next rollback leaves
//! the root as it is and clears it, so exactly one boot is skipped; a crash between reading and
//! clearing skips at most one more; real btrfs loop images and zfs-fuse pools.

mod common;
mod common_zfs;
use common::*;
use std::process::Command;

const MARKER: &str = ".blankroot-skip-next-boot";

fn skip(target: &[&str], extra: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg("skip-next-boot")
            .args(target)
            .args(extra)
            .env("BLANKROOT_KMSG", "none")
            .output()
            .unwrap(),
    )
}

fn seeded() -> (Image, u64) {
    let img = Image::new(256);
    seed_layout(&img, true);
    let id = img.mount().id("root");
    (img, id)
}

#[test]
fn one_request_skips_exactly_one_boot() {
    if !root_or_skip("skip_once") {
        return;
    }
    let (img, old) = seeded();
    let dev = img.dev.to_str().unwrap().to_string();
    let before = persistent_state(&img.mount());
    let r = skip(&["--device", &dev], &[]);
    r.ok();
    assert!(
        r.stdout.contains("the next boot leaves the root root"),
        "{}",
        r.stdout
    );
    assert!(img.mount().exists(MARKER), "the request is on the disk");
    // A dry run says so and changes nothing.
    let dry = img.rollback(&["--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout.contains("leave the root as it is"),
        "{}",
        dry.stdout
    );
    assert!(img.mount().exists(MARKER));
    // Boot 2: skipped, recorded, the request cleared.
    let run = img.rollback(&[]);
    run.ok();
    assert!(
        run.stderr.contains("skip-next-boot was requested at"),
        "{}",
        run.stderr
    );
    let m = img.mount();
    assert_eq!(m.id("root"), old, "the skipped boot kept the root");
    assert!(m.exists("root/etc/canary"));
    assert!(!m.exists(MARKER), "the request is cleared");
    let s = img.status();
    assert_eq!(s["action"], "skipped");
    assert!(s["warnings"][0]
        .as_str()
        .unwrap()
        .contains("skip-next-boot"));
    drop(m);
    // Boot 3: an ordinary rollback.
    img.rollback(&[]).ok();
    let m = img.mount();
    assert!(!m.exists("root/etc/canary"));
    assert_ne!(m.id("root"), old);
    assert_eq!(persistent_state(&m), before);
}

#[test]
fn cancel_withdraws_a_pending_request() {
    if !root_or_skip("skip_cancel") {
        return;
    }
    let (img, _) = seeded();
    let dev = img.dev.to_str().unwrap().to_string();
    let none = skip(&["--device", &dev], &["--cancel"]);
    none.ok();
    assert!(
        none.stdout
            .contains("no skip-next-boot request was pending"),
        "{}",
        none.stdout
    );
    skip(&["--device", &dev], &[]).ok();
    let r = skip(&["--device", &dev], &["--cancel"]);
    r.ok();
    assert!(r.stdout.contains("is withdrawn"), "{}", r.stdout);
    assert!(!img.mount().exists(MARKER));
    img.rollback(&[]).ok();
    assert!(
        !img.mount().exists("root/etc/canary"),
        "the next boot was not skipped"
    );
}

#[cfg(feature = "failpoints")]
#[test]
fn a_crash_between_reading_and_clearing_skips_one_more_boot_at_most() {
    if !root_or_skip("skip_crash") {
        return;
    }
    let (img, old) = seeded();
    let dev = img.dev.to_str().unwrap().to_string();
    skip(&["--device", &dev], &[]).ok();
    let killed = Run::of(
        img.blankroot(&[])
            .env("BLANKROOT_FAILPOINT", "skip-clear")
            .output()
            .unwrap(),
    );
    assert_eq!(killed.code, -1, "not killed: {}", killed.stderr);
    img.unmount_leftovers();
    let m = img.mount();
    assert_eq!(m.id("root"), old, "a boot asked to be skipped was wiped");
    assert!(
        m.exists(MARKER),
        "killed before the clear: the request stays"
    );
    drop(m);
    img.rollback(&[]).ok();
    assert_eq!(img.status()["action"], "skipped");
    assert_eq!(img.mount().id("root"), old);
    assert!(!img.mount().exists(MARKER));
    img.rollback(&[]).ok();
    assert!(
        !img.mount().exists("root/etc/canary"),
        "no loop: the third boot wipes"
    );
}

#[test]
fn a_request_on_a_read_only_disk_is_refused_cleanly() {
    if !root_or_skip("skip_read_only") {
        return;
    }
    let (img, _) = seeded();
    let dev = img.dev.to_str().unwrap().to_string();
    sh("blockdev", &["--setro", &dev]);
    let r = skip(&["--device", &dev], &[]);
    sh("blockdev", &["--setrw", &dev]);
    r.fails(1, "mounting the top level");
    assert!(!img.mount().exists(MARKER));
}

#[test]
fn a_request_on_a_full_disk_is_whole_or_not_there() {
    if !root_or_skip("skip_full") {
        return;
    }
    let img = Image::new(120);
    seed_layout(&img, false);
    let m = img.mount();
    if let Ok(mut f) = std::fs::File::create(m.path("persist/fill")) {
        use std::io::Write;
        let chunk = vec![0u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
    }
    let mut n = 0;
    while std::fs::write(m.path(&format!("persist/f{n}")), "x".repeat(2000)).is_ok() {
        n += 1;
    }
    drop(m);
    let dev = img.dev.to_str().unwrap().to_string();
    let r = skip(&["--device", &dev], &[]);
    let m = img.mount();
    let leftovers: Vec<String> = m
        .ls("")
        .into_iter()
        .filter(|e| e.starts_with(MARKER) && e != MARKER)
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    if r.code == 0 {
        let text = std::fs::read_to_string(m.path(MARKER)).unwrap();
        assert!(text.contains("\"root\":\"root\""), "{text}");
    } else {
        r.fails(1, MARKER);
        assert!(!m.exists(MARKER));
    }
}

#[test]
fn the_target_comes_from_a_configuration_or_is_refused() {
    if !root_or_skip("skip_config") {
        return;
    }
    let (img, _) = seeded();
    let cfg = img.dir.path().join("config.json");
    let dev = img.dev.to_str().unwrap();
    std::fs::write(&cfg, format!(r#"{{"args": ["--device", "{dev}"]}}"#)).unwrap();
    skip(&["--config", cfg.to_str().unwrap()], &[]).ok();
    assert!(img.mount().exists(MARKER));
    if !std::path::Path::new("/etc/blankroot/config.json").exists() {
        skip(&[], &[]).fails(2, "no target");
    }
    skip(&["--dataset", "a; rm -rf /"], &[]).fails(2, "--dataset");
}

#[test]
fn zfs_one_request_skips_exactly_one_boot() {
    if !common_zfs::zfs_or_skip("skip_zfs") {
        return;
    }
    let pool = common_zfs::Pool::new();
    pool.seed();
    let root = pool.root();
    let before = pool.tree(&root);
    let zfs_path = common_zfs::path_with_zfs();
    let run_skip = |extra: &[&str]| {
        Run::of(
            Command::new(binary())
                .args(["skip-next-boot", "--dataset", &root])
                .args(extra)
                .env("PATH", &zfs_path)
                .env("BLANKROOT_KMSG", "none")
                .output()
                .unwrap(),
        )
    };
    run_skip(&[]).ok();
    assert_eq!(
        pool.local_props(&root)
            .get("org.blankroot:skip-next-boot")
            .map(|v| v.ends_with('Z')),
        Some(true)
    );
    let parent = pool.ds("local/old_roots");
    let args = ["--archive-dir", parent.as_str()];
    let run = pool.rollback(&args);
    run.ok();
    assert_eq!(pool.status()["action"], "skipped");
    assert_eq!(pool.tree(&root), before, "the skipped boot kept the root");
    assert!(pool.archives().is_empty(), "nothing was archived");
    assert!(!pool
        .local_props(&root)
        .contains_key("org.blankroot:skip-next-boot"));
    pool.rollback(&args).ok();
    pool.assert_root_is_blank();
    assert!(
        !pool
            .local_props(&root)
            .contains_key("org.blankroot:skip-next-boot"),
        "the new root carries no request"
    );
    // --cancel.
    run_skip(&[]).ok();
    let r = run_skip(&["--cancel"]);
    r.ok();
    assert!(r.stdout.contains("is withdrawn"), "{}", r.stdout);
    assert!(!pool
        .local_props(&root)
        .contains_key("org.blankroot:skip-next-boot"));
}

#[test]
fn check_shows_a_pending_request() {
    if !root_or_skip("skip_check") {
        return;
    }
    let (img, _) = seeded();
    let dev = img.dev.to_str().unwrap().to_string();
    skip(&["--device", &dev], &[]).ok();
    let out = check(&["--device", &dev]);
    assert!(
        out.stdout.contains("a skip-next-boot request (made 20"),
        "{}",
        out.stdout
    );
    skip(&["--device", &dev], &["--cancel"]).ok();
    let out = check(&["--device", &dev]);
    assert!(
        !out.stdout.contains("skip-next-boot request"),
        "{}",
        out.stdout
    );
}
