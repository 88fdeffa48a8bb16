//! `blankroot check`: what the next boot would wipe that must not be lost, on real loop-mounted
//! btrfs — the root subvolume read through the read-only top-level mount, mounted nowhere, where
//! a test mounts it, or on `/` in a private mount namespace.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

struct Mounted(Vec<PathBuf>);

impl Drop for Mounted {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = Command::new("umount").arg(p).status();
        }
    }
}

/// The findings (`warning:` or `PROBLEM:` lines about what would be lost), by the path each
/// names first.
fn lost(r: &Run, word: &str) -> Vec<String> {
    let prefix = format!("  {word}: ");
    r.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| {
            l.contains(" is on the root and not persisted: ") || l.contains(" is persisted, but ")
        })
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// The `command` after "Copy it now: " in a finding about `path`.
fn copy_command(r: &Run, path: &str) -> String {
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(&format!(": {path} is persisted, but ")))
        .unwrap_or_else(|| panic!("no finding about {path}:\n{}", r.stdout));
    line.split("Copy it now: `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap()
        .to_string()
}

fn run_sh(command: &str) {
    let out = Command::new("sh").args(["-c", command]).output().unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const MUST_PERSIST: &[&str] = &[
    "/etc/machine-id",
    "/etc/ssh/ssh_host_ed25519_key",
    "/var/lib/nixos",
    "/etc/secureboot",
    "/var/lib/sbctl",
    "/var/lib/systemd/timers",
    "/var/lib/systemd/random-seed",
    "/var/lib/systemd/credential.secret",
    "/etc/zfs/zpool.cache",
    "/var/lib/sops-nix/key.txt",
];

/// The state of a machine that persists nothing, in the root subvolume; `/var/lib/nixos` is a
/// nested subvolume (the wipe deletes it with the root).
fn machine_state(m: &Mount) {
    m.subvol("root/var/lib/nixos");
    for (rel, text) in [
        ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
        ("etc/ssh/ssh_host_ed25519_key", "private\n"),
        ("etc/ssh/ssh_host_ed25519_key.pub", "public\n"),
        ("var/lib/nixos/uid-map", "{\"alice\": 1000}\n"),
        ("etc/secureboot/keys/db/db.key", "k\n"),
        ("var/lib/sbctl/keys/db/db.key", "k\n"),
        ("var/lib/systemd/timers/stamp-fstrim.timer", ""),
        ("var/lib/systemd/random-seed", "seed"),
        ("var/lib/systemd/credential.secret", "secret"),
        ("etc/zfs/zpool.cache", "cache"),
        ("var/lib/sops-nix/key.txt", "AGE-SECRET-KEY-1\n"),
    ] {
        m.write(&format!("root/{rel}"), text);
    }
}

#[test]
fn each_path_that_must_persist_is_found_named_and_silenced_by_what_persists_it() {
    if !root_or_skip("check must persist") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    machine_state(&img.mount());
    let dir = tempfile::tempdir().unwrap();
    let dev = img.dev.to_str().unwrap();
    let cfg = dir.path().join("config.json");
    let config = |persisted: &[&str]| {
        std::fs::write(
            &cfg,
            serde_json::json!({
                "args": ["--device", dev],
                "persisted": persisted,
                "must_persist": ["/var/lib/sops-nix/key.txt"],
            })
            .to_string(),
        )
        .unwrap();
        cfg.to_str().unwrap()
    };
    sh("sync", &[]);
    let before = (generation(&img.dev), img.mount().subvolumes());

    let r = check(&["--config", config(&[])]);
    r.ok();
    assert_eq!(lost(&r, "warning"), MUST_PERSIST, "{}", r.stdout);
    assert!(
        r.stdout.contains("verdict: OK with 10 warnings"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "  warning: /var/lib/nixos is on the root and not persisted: NixOS's uid/gid maps"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("environment.persistence.\"/persist\".files = [ \"/etc/ssh/ssh_host_ed25519_key\" \"/etc/ssh/ssh_host_ed25519_key.pub\" ];"),
        "{}",
        r.stdout
    );
    let r = check(&["--config", config(&[]), "--strict"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(lost(&r, "PROBLEM"), MUST_PERSIST, "{}", r.stdout);
    assert!(lost(&r, "warning").is_empty(), "{}", r.stdout);
    assert!(
        r.stdout.contains("verdict: 10 PROBLEMS found"),
        "{}",
        r.stdout
    );

    // --persisted, on the path or a directory above it.
    let r = check(&[
        "--config",
        config(&[]),
        "--persisted",
        "/etc/machine-id",
        "--persisted",
        "/var/lib",
    ]);
    r.ok();
    assert_eq!(
        lost(&r, "warning"),
        [
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/secureboot",
            "/etc/zfs/zpool.cache"
        ],
        "{}",
        r.stdout
    );
    // --persisted-from, one path a line and JSON; with everything persisted --strict passes.
    let lines = dir.path().join("persisted.txt");
    std::fs::write(&lines, "# kept\n/etc/ssh\n/etc/secureboot/\n").unwrap();
    let json = dir.path().join("persisted.json");
    std::fs::write(&json, r#"{"persisted": ["/etc/zfs"]}"#).unwrap();
    let from = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            config(&[]),
            "--persisted-from",
            lines.to_str().unwrap(),
            "--strict",
        ];
        a.extend_from_slice(extra);
        check(&a)
    };
    let r = from(&[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(
        lost(&r, "PROBLEM"),
        [
            "/etc/machine-id",
            "/var/lib/nixos",
            "/var/lib/sbctl",
            "/var/lib/systemd/timers",
            "/var/lib/systemd/random-seed",
            "/var/lib/systemd/credential.secret",
            "/etc/zfs/zpool.cache",
            "/var/lib/sops-nix/key.txt"
        ],
        "{}",
        r.stdout
    );
    let r = from(&[
        "--persisted-from",
        json.to_str().unwrap(),
        "--persisted",
        "/etc/machine-id",
        "--persisted",
        "/var/lib",
    ]);
    r.ok();
    assert!(
        r.stdout.contains("verdict: OK: the next boot"),
        "{}",
        r.stdout
    );
    // The configuration's persisted list.
    let r = check(&[
        "--config",
        config(&[
            "/etc/machine-id",
            "/etc/ssh",
            "/var/lib",
            "/etc/secureboot",
            "/etc/zfs/zpool.cache",
        ]),
        "--strict",
    ]);
    r.ok();
    assert!(lost(&r, "PROBLEM").is_empty(), "{}", r.stdout);
    // A list that cannot be read is a usage error, before anything is looked at.
    let r = check(&[
        "--config",
        config(&[]),
        "--persisted-from",
        "/nonexistent/list",
    ]);
    r.fails(2, "--persisted-from /nonexistent/list: ");
    let r = check(&["--config", config(&[]), "--persisted", "var/lib"]);
    r.fails(2, "--persisted var/lib: give an absolute path");

    assert_eq!(
        before,
        (generation(&img.dev), img.mount().subvolumes()),
        "check changed the filesystem"
    );
}

#[test]
fn a_newly_persisted_path_whose_persistent_copy_is_missing_or_empty_is_found() {
    if !root_or_skip("check persistent copies") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    {
        let m = img.mount();
        m.write("root/var/lib/foo/db/data", "precious\n")
            .write("root/var/lib/bar/state", "also\n")
            .write("root/var/lib/kept/x", "kept\n")
            .write("persist/var/lib/kept/x", "kept\n")
            .mkdir("persist/var/lib/bar");
    }
    // The root and /persist mounted like on the running system, here under a directory.
    let live = tempfile::tempdir().unwrap();
    let d = live.path().to_str().unwrap().to_string();
    let dev = img.dev.to_str().unwrap();
    sh("mount", &["-o", "subvol=root", dev, &d]);
    let mut m = Mounted(vec![live.path().to_path_buf()]);
    std::fs::create_dir_all(live.path().join("persist")).unwrap();
    sh(
        "mount",
        &["-o", "subvol=persist", dev, &format!("{d}/persist")],
    );
    m.0.push(live.path().join("persist"));
    let cfg = live.path().join("persist/config.json");
    std::fs::write(
        &cfg,
        serde_json::json!({
            "args": ["--device", dev, "--archive-dir", "old_roots"],
            "persistence": [
                {"path": "/var/lib/foo", "stored": "/persist/var/lib/foo"},
                {"path": "/var/lib/bar", "stored": "/persist/var/lib/bar"},
                {"path": "/var/lib/kept", "stored": "/persist/var/lib/kept"},
            ],
        })
        .to_string(),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let r = check(&["--config", cfg]);
    r.ok();
    assert_eq!(
        lost(&r, "warning"),
        ["/var/lib/foo", "/var/lib/bar"],
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("  warning: /var/lib/foo is persisted, but its persistent copy /persist/var/lib/foo is missing while its data is still only on the root: the next boot mounts the empty copy over it and wipes the data."), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("its persistent copy /persist/var/lib/bar is empty"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "once wiped, `blankroot restore /var/lib/foo` copies it back from the archived root"
        ),
        "{}",
        r.stdout
    );
    let r = check(&["--config", cfg, "--strict"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(
        lost(&r, "PROBLEM"),
        ["/var/lib/foo", "/var/lib/bar"],
        "{}",
        r.stdout
    );

    // The commands it prints copy the data; then nothing is found.
    let foo = copy_command(&r, "/var/lib/foo");
    assert_eq!(
        foo,
        format!("(cd {d} && cp -a --parents var/lib/foo {d}/persist)")
    );
    run_sh(&foo);
    run_sh(&copy_command(&r, "/var/lib/bar"));
    let r = check(&["--config", cfg, "--strict"]);
    r.ok();
    assert_eq!(
        std::fs::read_to_string(live.path().join("persist/var/lib/foo/db/data")).unwrap(),
        "precious\n"
    );

    // The switch mounted the empty copy over the data already: the root still holds it beneath.
    let copy = live.path().join("persist/var/lib/foo");
    std::fs::remove_dir_all(&copy).unwrap();
    std::fs::create_dir(&copy).unwrap();
    let over = live.path().join("var/lib/foo");
    sh(
        "mount",
        &["--bind", copy.to_str().unwrap(), over.to_str().unwrap()],
    );
    m.0.push(over.clone());
    let r = check(&["--config", cfg]);
    r.ok();
    assert_eq!(lost(&r, "warning"), ["/var/lib/foo"], "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "is empty while its data is still only on the root (under the mount on /var/lib/foo)"
        ),
        "{}",
        r.stdout
    );
    let hidden = copy_command(&r, "/var/lib/foo");
    assert!(
        hidden.starts_with(&format!(
            "d=$(mktemp -d) && mount -o ro,subvol=root {dev} \"$d\" && "
        )),
        "{hidden}"
    );
    run_sh(&hidden);
    assert_eq!(
        std::fs::read_to_string(over.join("db/data")).unwrap(),
        "precious\n",
        "the copy is what the mount shows"
    );
    check(&["--config", cfg, "--strict"]).ok();
}

#[test]
fn on_the_live_root_what_other_filesystems_hold_survives() {
    if !root_or_skip("check live root") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    img.mount()
        .write("root/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
        .write("root/etc/ssh/ssh_host_ed25519_key", "private\n");
    let dev = img.dev.to_str().unwrap();
    // In a private mount namespace, the root subvolume on `/` and a tmpfs on /etc/ssh (on this
    // machine's /etc/ssh: the process keeps its old root, so the binary is still found; the
    // namespace goes with the shell).
    let script = format!(
        "mount --make-rprivate / && mount -o subvol=root {dev} / && {{ {mount_ssh} ; }} && exec {} check --device {dev} --strict",
        binary().display(),
        mount_ssh = "mount -t tmpfs none /etc/ssh"
    );
    let run = |script: &str| {
        Run::of(
            Command::new("unshare")
                .args(["--mount", "sh", "-c", script])
                .env_remove("BLANKROOT_KERNEL_CMDLINE")
                .output()
                .unwrap(),
        )
    };
    let r = run(&script);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("the root root is mounted at /"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("/ is not on this filesystem"),
        "{}",
        r.stdout
    );
    assert_eq!(lost(&r, "PROBLEM"), ["/etc/machine-id"], "{}", r.stdout);
    // An overlay on /etc/ssh: what is written there goes to its upper directory, not looked
    // into (a note says so); one on a path no check looks at goes unmentioned.
    let layers = tempfile::tempdir().unwrap();
    let l = layers.path().display();
    let overlay = |at: &str, n: u32| {
        format!(
            "mkdir -p {l}/u{n} {l}/w{n} && mount -t overlay overlay -o lowerdir=/usr/share/doc,upperdir={l}/u{n},workdir={l}/w{n} {at}"
        )
    };
    let r = run(&script.replace(
        "mount -t tmpfs none /etc/ssh",
        &format!("{} && {}", overlay("/etc/ssh", 1), overlay("/mnt", 2)),
    ));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(lost(&r, "PROBLEM"), ["/etc/machine-id"], "{}", r.stdout);
    let note = format!("  note: /etc/ssh is an overlay (upperdir={l}/u1): what is written there was not looked into; if its upper directory is on the root, persist what must survive in it\n");
    assert!(r.stdout.contains(&note), "{}", r.stdout);
    assert!(!r.stdout.contains("/mnt is an overlay"), "{}", r.stdout);
    // Without the mount on /etc/ssh, the host key is on the root.
    let r = run(&script.replace("mount -t tmpfs none /etc/ssh", "true"));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        lost(&r, "PROBLEM"),
        ["/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key"],
        "{}",
        r.stdout
    );
}
