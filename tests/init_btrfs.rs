//! `blankroot init` on real loop-mounted btrfs: the blank is made beside a populated root
//! without touching it (same id, generation and content), holds the mount points with the
//! root's owners and modes, is left as it is by a second run, and is what the next rollback
//! uses; refusals change nothing; a run killed midway is finished by the next one.

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

/// The root subvolume's generation (unchanged: nothing was written to it).
/// Syncs first: the fixture's own writes (and atime updates of its reads) are committed.
fn subvol_generation(m: &Mount, rel: &str) -> String {
    sh(
        "btrfs",
        &["filesystem", "sync", m.path("").to_str().unwrap()],
    );
    sh(
        "btrfs",
        &["subvolume", "show", m.path(rel).to_str().unwrap()],
    )
    .lines()
    .find(|l| l.trim_start().starts_with("Generation:"))
    .unwrap()
    .trim()
    .to_string()
}

/// A system that has run for a while: a populated root (a host key, a service's state, a
/// canary), `/var/log` with its own owner and mode, and the configuration that mounts /nix,
/// /persist, /var/log (and /var/log/journal inside it) and wipes / and /home.
fn system(img: &Image) -> (Mount, PathBuf) {
    let m = img.mount();
    m.subvol("root")
        .mkdir("root/etc/ssh")
        .write("root/etc/ssh/ssh_host_ed25519_key", "secret\n")
        .mkdir("root/var/lib/svc")
        .write("root/var/lib/svc/db", "state\n")
        .write("root/canary", "nobody persisted me\n")
        .mkdir("root/var/log");
    let log = m.path("root/var/log");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o2750)).unwrap();
    std::os::unix::fs::chown(&log, Some(4), Some(5)).unwrap();
    m.subvol("home").subvol("persist").subvol("nix");
    let dev = img.dev.display();
    let cfg = img.dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"targets": [
                 {{"mount_point": "/", "args": ["--device", "{dev}", "--subvolume", "root", "--blank", "root-blank", "--archive-dir", "archives"]}},
                 {{"mount_point": "/home", "args": ["--device", "{dev}", "--subvolume", "home", "--blank", "home-blank"], "stage": "initrd"}}],
               "mounts": [{{"mount_point": "/nix"}}, {{"mount_point": "/persist"}}, {{"mount_point": "/var/log"}},
                          {{"mount_point": "/var/log/journal"}}, {{"mount_point": "/home/alice/data"}}]}}"#
        ),
    )
    .unwrap();
    (m, cfg)
}

fn init(args: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg("init")
            .args(args)
            .env_remove("BLANKROOT_FAILPOINT")
            .output()
            .unwrap(),
    )
}

#[test]
fn init_makes_the_blank_beside_a_populated_root_and_a_second_run_leaves_it() {
    if !root_or_skip("init_makes_the_blank_beside_a_populated_root") {
        return;
    }
    let img = Image::new(300);
    let (m, cfg) = system(&img);
    let cfg = cfg.to_str().unwrap();
    let content = m.tree("root");
    let (id, gen) = (m.id("root"), subvol_generation(&m, "root"));

    let dry = init(&["--config", cfg, "--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout.contains("would make the blank root-blank for / (read-only) with 5 directories: /home /nix /persist /var /var/log"),
        "{}",
        dry.stdout
    );
    assert!(!m.exists("root-blank"), "a dry run made the blank");

    let made = init(&["--config", cfg]);
    made.ok();
    let blank = m.id("root-blank");
    assert!(
        made.stdout.contains(&format!(
            "init: made the blank root-blank for / (subvolume {blank}, read-only) with 5 directories: /home /nix /persist /var /var/log"
        )),
        "{}",
        made.stdout
    );
    assert!(
        made.stdout.contains("keeps it as an archive in archives"),
        "{}",
        made.stdout
    );
    assert!(m.read_only("root-blank"));
    assert_eq!(m.ls("root-blank"), ["home", "nix", "persist", "var"]);
    assert_eq!(
        m.ls("root-blank/var"),
        ["log"],
        "/var/log/journal lies in /var/log's filesystem"
    );
    let md = std::fs::metadata(m.path("root-blank/var/log")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o2750, 4, 5));
    let md = std::fs::metadata(m.path("root-blank/nix")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o755, 0, 0));
    assert!(m
        .ls("root-blank")
        .iter()
        .all(|e| m.ls(&format!("root-blank/{e}")).len() <= 1));
    // The root is untouched.
    assert_eq!(
        (m.id("root"), subvol_generation(&m, "root"), m.tree("root")),
        (id, gen, content)
    );
    assert!(!m.ls("").iter().any(|e| e.starts_with(".blankroot-init")));

    // /home's blank: its own mount point inside it, from the mounts.
    init(&["--config", cfg, "/home"]).ok();
    assert_eq!(m.ls("home-blank"), ["alice"]);
    assert_eq!(m.ls("home-blank/alice"), ["data"]);

    let again = init(&["--config", cfg]);
    again.ok();
    assert!(
        again.stdout.contains(&format!(
            "init: the blank root-blank for / is there already (subvolume {blank}, read-only): left as it is"
        )),
        "{}",
        again.stdout
    );
    assert_eq!(m.id("root-blank"), blank);

    // The next boot uses it: the canary is gone from / and kept in the archive.
    drop(m);
    img.rollback(&[
        "--subvolume",
        "root",
        "--blank",
        "root-blank",
        "--archive-dir",
        "archives",
    ])
    .ok();
    let m = img.mount();
    assert_eq!(m.ls("root"), ["home", "nix", "persist", "var"]);
    let archive = m.ls("archives");
    assert_eq!(archive.len(), 1, "{archive:?}");
    assert_eq!(
        std::fs::read_to_string(m.path(&format!("archives/{}/canary", archive[0]))).unwrap(),
        "nobody persisted me\n"
    );
}

#[test]
fn init_with_target_options_and_dir_and_the_refusals_change_nothing() {
    if !root_or_skip("init_with_target_options_and_dir") {
        return;
    }
    let img = Image::new(300);
    let m = img.mount();
    m.subvol("root");
    let dev = img.dev.to_str().unwrap();
    let opts = [
        "--device",
        dev,
        "--subvolume",
        "root",
        "--blank",
        "root-blank",
    ];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = opts.to_vec();
        a.extend_from_slice(extra);
        init(&a)
    };
    // Install time: an empty root, no configuration, the mount points given.
    let made = with(&["--dir", "/nix", "--dir", "/persist/", "--dir", "/boot"]);
    made.ok();
    assert!(
        made.stdout
            .contains("with 3 directories: /boot /nix /persist"),
        "{}",
        made.stdout
    );
    assert!(!made.stdout.contains("archive"), "{}", made.stdout);
    assert_eq!(m.ls("root-blank"), ["boot", "nix", "persist"]);

    // A --dir outside the target, a relative one: usage errors.
    with(&["--mount-point", "/home", "--dir", "/nix"])
        .fails(2, "--dir /nix: not inside the target /home");
    with(&["--dir", "nix"]).fails(2, "not an absolute path");
    // An --empty target needs no blank.
    let empty = init(&["--device", dev, "--subvolume", "root", "--empty"]);
    empty.ok();
    assert!(empty.stdout.contains("needs no blank"), "{}", empty.stdout);

    // A writable subvolume or a directory at the blank's name is never replaced.
    m.subvol("writable")
        .write("writable/x", "mine\n")
        .mkdir("plain");
    drop(m);
    let gen_before = generation(&img.dev);
    let ids = img.mount().subvolumes();
    for (name, what) in [
        ("writable", "is a writable subvolume"),
        ("plain", "exists and is"),
    ] {
        let r = init(&["--device", dev, "--subvolume", "root", "--blank", name]);
        r.fails(1, what);
        assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    }
    assert_eq!(
        generation(&img.dev),
        gen_before,
        "a refusal wrote to the filesystem"
    );
    let m = img.mount();
    assert_eq!(m.subvolumes(), ids);
    assert!(!m.read_only("writable"));

    // A subvolume at the temporary name that holds a file is not an unfinished blank.
    m.subvol(".blankroot-init-fresh")
        .mkdir(".blankroot-init-fresh/etc")
        .write(".blankroot-init-fresh/etc/mine", "not blankroot's\n");
    let r = init(&["--device", dev, "--subvolume", "root", "--blank", "fresh"]);
    r.fails(
        1,
        ".blankroot-init-fresh beside --blank fresh holds /etc/mine: it is not an unfinished blank",
    );
    assert!(m.exists(".blankroot-init-fresh/etc/mine") && !m.exists("fresh"));
}

/// A run killed after the temporary subvolume was made, or after it was made read-only,
/// leaves no blank; the next run deletes the leftover and makes the blank.
#[cfg(feature = "failpoints")]
#[test]
fn init_killed_midway_is_finished_by_the_next_run() {
    if !root_or_skip("init_killed_midway_is_finished_by_the_next_run") {
        return;
    }
    for point in ["init-created", "init-read-only"] {
        let img = Image::new(300);
        let m = img.mount();
        m.subvol("root").mkdir("root/nix");
        let dev = img.dev.to_str().unwrap();
        let args = [
            "init",
            "--device",
            dev,
            "--subvolume",
            "root",
            "--blank",
            "root-blank",
            "--dir",
            "/nix",
        ];
        let out = Command::new(binary())
            .args(args)
            .env("BLANKROOT_FAILPOINT", point)
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(0),
            "{point}: the failpoint did not kill the run"
        );
        img.unmount_leftovers();
        assert!(
            !m.exists("root-blank"),
            "{point}: a blank appeared before it was finished"
        );
        assert!(
            m.is_subvolume(".blankroot-init-root-blank"),
            "{point}: {:?}",
            m.ls("")
        );
        init(&args[1..]).ok();
        assert!(m.read_only("root-blank"));
        assert_eq!(m.ls("root-blank"), ["nix"]);
        assert!(
            !m.exists(".blankroot-init-root-blank"),
            "{point}: the leftover stayed"
        );
    }
}
