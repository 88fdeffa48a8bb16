//! `blankroot check --stale`: what a persistent store on a real loop-mounted btrfs holds that no
//! persistence entry of the configuration names any more — listed with sizes, newest change
//! first, and nothing changed.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// A store `persist` (a subvolume) with two entries in use and three left behind, and the
/// configuration that names the two.
fn store(m: &Mount) -> std::path::PathBuf {
    m.subvol("persist");
    m.mkdir("persist/var/lib/app");
    m.write("persist/var/lib/app/state", "in use\n");
    m.mkdir("persist/etc");
    m.write("persist/etc/machine-id", "0123456789abcdef\n");
    // Left behind: a service's directory (two files, 64 KiB of data), an old file, a home.
    m.mkdir("persist/var/lib/old-service");
    std::fs::write(m.path("persist/var/lib/old-service/db"), vec![7u8; 65536]).unwrap();
    m.write("persist/var/lib/old-service/conf", "x\n");
    m.write("persist/etc/old.conf", "old\n");
    m.mkdir("persist/home/bob");
    // Newest change first: the home, then the service, then the file.
    touch(&m.path("persist/etc/old.conf"), "2026-01-01 00:00:00");
    for p in ["db", "conf", ""] {
        touch(
            &m.path(&format!("persist/var/lib/old-service/{p}")),
            "2026-06-01 00:00:00",
        );
    }
    touch(&m.path("persist/home/bob"), "2026-11-01 00:00:00");
    touch(&m.path("persist/home"), "2026-11-01 00:00:00");
    let p = m.path("persist");
    let s = p.display();
    let cfg = m.dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"args": ["--device", "/dev/null"], "persist_dir": "{s}", "stores": ["{s}"],
                "persistence": [{{"path": "/var/lib/app", "stored": "{s}/var/lib/app"}},
                                {{"path": "/etc/machine-id", "stored": "{s}/etc/machine-id/"}}]}}"#
        ),
    )
    .unwrap();
    cfg
}

/// Sets the mtime (what "newest change" is: a copy keeps it).
fn touch(p: &Path, when: &str) {
    sh("touch", &["-h", "-d", when, p.to_str().unwrap()]);
}

fn stale(cfg: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--stale", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    check(&args)
}

/// Every path under `dir` with its size and mtime: equal before and after means nothing changed.
fn snapshot(dir: &Path) -> String {
    sh(
        "find",
        &[dir.to_str().unwrap(), "-printf", "%p %s %T@ %C@ %m\n"],
    )
}

#[test]
fn lists_what_no_entry_names_with_sizes_and_changes_nothing() {
    if !root_or_skip("check_stale") {
        return;
    }
    let img = Image::new(300);
    let m = img.mount();
    let cfg = store(&m);
    let before = snapshot(&m.path("persist"));
    let r = stale(&cfg, &[]);
    r.ok();
    let s = m.path("persist").display().to_string();
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("  ")).collect();
    let paths: Vec<&str> = rows.iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
    // Newest change first.
    let want = vec![
        format!("{s}/home/"),
        format!("{s}/var/lib/old-service/"),
        format!("{s}/etc/old.conf"),
    ];
    assert_eq!(paths, want, "{}", r.stdout);
    assert!(rows[0].contains("2026-11-01"), "{}", rows[0]);
    assert!(
        r.stdout
            .contains(&format!("3 entries in {s} that no persistence entry names")),
        "{}",
        r.stdout
    );
    let service = rows.iter().find(|l| l.ends_with("old-service/")).unwrap();
    assert!(service.contains("3 entries"), "{service}");
    assert!(service.contains(" KiB"), "{service}");
    // Used entries and the way to them are not listed.
    assert!(!r.stdout.contains("/var/lib/app"), "{}", r.stdout);
    assert!(!r.stdout.contains("machine-id"), "{}", r.stdout);
    assert_eq!(
        before,
        snapshot(&m.path("persist")),
        "check --stale changed the store"
    );

    // JSON: newest change first, bytes of disk space, entries.
    let j = stale(&cfg, &["--json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let rows = v["stale"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let newest: Vec<&str> = rows.iter().map(|r| r["newest"].as_str().unwrap()).collect();
    assert!(newest[0].starts_with("2026-11-01"), "{newest:?}");
    assert!(newest[1].starts_with("2026-06-01"), "{newest:?}");
    assert!(newest[2].starts_with("2026-01-01"), "{newest:?}");
    let svc = rows
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("old-service"))
        .unwrap();
    assert_eq!(svc["kind"], "directory");
    assert_eq!(svc["entries"], 3);
    assert!(svc["bytes"].as_u64().unwrap() >= 65536, "{svc}");
    assert_eq!(v["stores"][0], s);
}

#[test]
fn nothing_stale_and_refusals() {
    if !root_or_skip("check_stale_refusals") {
        return;
    }
    let img = Image::new(300);
    let m = img.mount();
    let cfg = store(&m);
    for p in ["var/lib/old-service", "home"] {
        std::fs::remove_dir_all(m.path(&format!("persist/{p}"))).unwrap();
    }
    std::fs::remove_file(m.path("persist/etc/old.conf")).unwrap();
    let r = stale(&cfg, &[]);
    r.ok();
    assert!(
        r.stdout.contains("is named by a persistence entry"),
        "{}",
        r.stdout
    );

    // No persistence entries: everything would look stale — refused, exit 2.
    let bare = m.dir.path().join("bare.json");
    std::fs::write(
        &bare,
        format!(
            r#"{{"args": [], "persist_dir": "{}"}}"#,
            m.path("persist").display()
        ),
    )
    .unwrap();
    stale(&bare, &[]).fails(2, "lists no persistence entries");
    // No store at all.
    let none = m.dir.path().join("none.json");
    std::fs::write(
        &none,
        r#"{"args": [], "persistence": [{"path": "/a", "stored": "/p/a"}]}"#,
    )
    .unwrap();
    stale(&none, &[]).fails(2, "names no persistent store");
    // A configuration that is not there; --json without --stale.
    stale(Path::new("/nonexistent/config.json"), &[]).fails(2, "/nonexistent/config.json");
    let r = Run::of(
        Command::new(binary())
            .args(["check", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--stale"), "{}", r.stderr);
}
