//! `blankroot diff --suggest impermanence|preservation`: the exact expression for known roots (a
//! tmpfs root laid out as NixOS lays it out, and a Btrfs root against its blank), that Nix parses
//! it, and the command line around it.

mod common;
mod diff_common;

use common::*;
use diff_common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

struct Mounts(Vec<std::path::PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = Command::new("umount").arg(p).status();
        }
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn mode(root: &Path, rel: &str, mode: u32) {
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

fn own(root: &Path, rel: &str, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(root.join(rel), Some(uid), Some(gid)).unwrap();
}

/// Nix must parse the expression. Without nix-instantiate the check is skipped, unless
/// BLANKROOT_REQUIRE_ROOT=1 (CI), where that is a failure.
#[track_caller]
fn nix_parses(text: &str) {
    if Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("BLANKROOT_REQUIRE_ROOT").as_deref() == Ok("1") {
            panic!("nix-instantiate is missing (package nix-bin), and BLANKROOT_REQUIRE_ROOT=1 forbids skipping the parse check");
        }
        eprintln!("SKIPPED the parse check: no nix-instantiate");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suggested.nix");
    fs::write(&file, text).unwrap();
    let out = Command::new("nix-instantiate")
        .args(["--store", "dummy://", "--parse"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nix-instantiate --parse failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tmpfs root as a NixOS system leaves it: /etc links into /etc/static and the store (the
/// store mounted on /nix), unit files reached through two links, a service's state owned by its
/// user, a home directory, caches, the journal, and a directory of 2000 files.
fn nixos_like_root(root: &Path, mounts: &mut Mounts, persist: &Path) {
    sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "mode=755",
            "none",
            root.to_str().unwrap(),
        ],
    );
    mounts.0.push(root.to_path_buf());
    fs::create_dir_all(root.join("nix")).unwrap();
    sh(
        "mount",
        &["-t", "tmpfs", "none", root.join("nix").to_str().unwrap()],
    );
    mounts.0.push(root.join("nix"));
    let etc = "nix/store/0000000000000000000000000000000a-etc/etc";
    let unit = "nix/store/0000000000000000000000000000000b-unit-foo.service/foo.service";
    write(
        root,
        unit,
        "[Unit]\nDescription=foo\n\n[Service]\nUser=foo\nStateDirectory=foo\nCacheDirectory=foo\n",
    );
    fs::create_dir_all(root.join(etc).join("systemd/system/foo.service.d")).unwrap();
    symlink(
        format!("/{unit}"),
        root.join(etc).join("systemd/system/foo.service"),
    )
    .unwrap();
    write(
        root,
        &format!("{etc}/systemd/system/foo.service.d/overrides.conf"),
        "[Service]\nLogsDirectory=foo\n",
    );
    fs::create_dir_all(root.join("etc/ssh")).unwrap();
    symlink(format!("/{etc}"), root.join("etc/static")).unwrap();
    symlink("/etc/static/systemd", root.join("etc/systemd")).unwrap();
    symlink(
        "/etc/static/ssh/sshd_config",
        root.join("etc/ssh/sshd_config"),
    )
    .unwrap();
    write(root, "etc/passwd", "root:x:0:0:System administrator:/root:/bin/sh\nfoo:x:991:990::/var/empty:/bin/false\nalice:x:1000:100::/home/alice:/bin/sh\n");
    write(
        root,
        "etc/group",
        "root:x:0:\nusers:x:100:\nfoo:x:990:\nsystemd-journal:x:190:\n",
    );
    write(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    mode(root, "etc/machine-id", 0o444);
    write(root, "etc/ssh/ssh_host_ed25519_key", "private\n");
    mode(root, "etc/ssh/ssh_host_ed25519_key", 0o600);
    write(root, "etc/ssh/ssh_host_ed25519_key.pub", "public\n");
    // Persisted already: a bind mount from the persistent directory.
    fs::create_dir_all(persist.join("etc/nixos")).unwrap();
    fs::create_dir_all(root.join("etc/nixos")).unwrap();
    sh(
        "mount",
        &[
            "--bind",
            persist.join("etc/nixos").to_str().unwrap(),
            root.join("etc/nixos").to_str().unwrap(),
        ],
    );
    mounts.0.push(root.join("etc/nixos"));
    write(root, "home/alice/.bashrc", "# alice\n");
    write(root, "home/alice/.config/app/settings", "x\n");
    for p in [
        "home/alice",
        "home/alice/.bashrc",
        "home/alice/.config",
        "home/alice/.config/app",
        "home/alice/.config/app/settings",
    ] {
        own(root, p, 1000, 100);
    }
    mode(root, "home/alice", 0o700);
    write(root, "root/.bash_history", "ls\n");
    write(root, "root/.cache/nix/eval-cache", "c\n");
    mode(root, "root", 0o700);
    write(root, "tmp/scratch", "t\n");
    write(root, "var/cache/foo/blob", "cached\n");
    write(root, "var/lib/foo/db", "state\n");
    write(root, "var/lib/foo/sub/more", "state\n");
    for p in [
        "var/lib/foo",
        "var/lib/foo/db",
        "var/lib/foo/sub",
        "var/lib/foo/sub/more",
        "var/cache/foo",
        "var/cache/foo/blob",
    ] {
        own(root, p, 991, 990);
    }
    mode(root, "var/lib/foo", 0o750);
    for i in 0..2000 {
        write(root, &format!("var/lib/big/d{}/f{i}", i % 10), "x");
    }
    write(root, "var/lib/nixos/uid-map", "{}\n");
    write(root, "var/lib/nixos/gid-map", "{}\n");
    write(root, "var/lib/systemd/random-seed", "seed");
    mode(root, "var/lib/systemd/random-seed", 0o600);
    write(root, "var/lib/systemd/timers/stamp-fstrim.timer", "");
    write(root, "var/lib/keep/data", "kept\n");
    write(
        root,
        "var/log/journal/0123456789abcdef0123456789abcdef/system.journal",
        "j",
    );
    own(root, "var/log/journal", 0, 190);
    mode(root, "var/log/journal", 0o2755);
    write(root, "var/log/foo/foo.log", "log\n");
    write(root, "var/tmp/systemd-private-x/tmp/y", "y\n");
    symlink("/run/user/1000/bus", root.join("var/lib/bus-link")).unwrap();
}

fn suggest(root: &Path, module: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        OsStr::new("diff"),
        OsStr::new("--root"),
        root.as_os_str(),
        OsStr::new("--persisted"),
        OsStr::new("/var/lib/keep"),
        OsStr::new("--suggest"),
        OsStr::new(module),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let (code, out, err) = blankroot(&args);
    assert_eq!(code, 0, "{err}\n{out}");
    (out, err)
}

const TMPFS_IMPERMANENCE: &str = r#"# blankroot diff --suggest impermanence: what the next boot erases, as entries to persist
{
  # left out: /etc/group (NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost)
  # left out: /etc/passwd (NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost)
  # left out: /root/.cache (cache)
  # left out: /var/cache (cache)
  # left out: /var/lib/bus-link (a symlink to /run/user/1000/bus: make it in the configuration, e.g. with systemd.tmpfiles.rules)
  # left out: /var/tmp (temporary files)
  # left out: 4 entries NixOS recreates at every boot (/etc links, /tmp, /run...)
  environment.persistence."/persist" = {
    directories = [
      # /home/alice
      { directory = "/home/alice"; user = "alice"; group = "users"; mode = "0700"; }
      # /var/lib/big
      "/var/lib/big"
      # foo.service
      { directory = "/var/lib/foo"; user = "foo"; group = "foo"; mode = "0750"; }
      # /var/lib/nixos
      "/var/lib/nixos"
      # /var/lib/systemd/timers
      "/var/lib/systemd/timers"
      # /var/log
      "/var/log"
    ];
    files = [
      # /etc
      "/etc/machine-id"
      # /etc/ssh
      "/etc/ssh/ssh_host_ed25519_key"
      "/etc/ssh/ssh_host_ed25519_key.pub"
      # /root
      { file = "/root/.bash_history"; parentDirectory = { user = "root"; group = "root"; mode = "0700"; }; }
      # /var/lib/systemd
      "/var/lib/systemd/random-seed"
    ];
  };
}
"#;
const TMPFS_PRESERVATION: &str = r#"# blankroot diff --suggest preservation: what the next boot erases, as entries to persist
{
  # left out: /etc/group (NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost)
  # left out: /etc/passwd (NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost)
  # left out: /root/.cache (cache)
  # left out: /var/cache (cache)
  # left out: /var/lib/bus-link (a symlink to /run/user/1000/bus: make it in the configuration, e.g. with systemd.tmpfiles.rules)
  # left out: /var/tmp (temporary files)
  # left out: 4 entries NixOS recreates at every boot (/etc links, /tmp, /run...)
  preservation.preserveAt."/state" = {
    directories = [
      # /home/alice
      { directory = "/home/alice"; user = "alice"; group = "users"; mode = "0700"; }
      # /var/lib/big
      "/var/lib/big"
      # foo.service
      { directory = "/var/lib/foo"; user = "foo"; group = "foo"; mode = "0750"; }
      # /var/lib/nixos
      { directory = "/var/lib/nixos"; inInitrd = true; }
      # /var/lib/systemd/timers
      "/var/lib/systemd/timers"
      # /var/log
      { directory = "/var/log"; inInitrd = true; }
    ];
    files = [
      # /etc
      { file = "/etc/machine-id"; user = "root"; group = "root"; mode = "0444"; inInitrd = true; }
      # /etc/ssh
      { file = "/etc/ssh/ssh_host_ed25519_key"; how = "symlink"; inInitrd = true; configureParent = true; }
      { file = "/etc/ssh/ssh_host_ed25519_key.pub"; how = "symlink"; inInitrd = true; configureParent = true; }
      # /root
      { file = "/root/.bash_history"; configureParent = true; parent = { user = "root"; group = "root"; mode = "0700"; }; }
      # /var/lib/systemd
      { file = "/var/lib/systemd/random-seed"; how = "symlink"; inInitrd = true; configureParent = true; }
    ];
  };
}
"#;

#[test]
fn a_nixos_like_tmpfs_root_as_impermanence_and_preservation_entries() {
    if !root_or_skip("diff --suggest on a tmpfs root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (root, persist) = (dir.path().join("root"), dir.path().join("persist"));
    fs::create_dir_all(&root).unwrap();
    let mut mounts = Mounts(Vec::new());
    nixos_like_root(&root, &mut mounts, &persist);

    let (out, err) = suggest(&root, "impermanence", &[]);
    assert_eq!(out, TMPFS_IMPERMANENCE);
    nix_parses(&out);
    // The listing went to stderr, with full paths.
    assert!(err.starts_with("blankroot diff: "), "{err}");
    assert!(err.contains("  /var/lib/foo/sub/more\n"), "{err}");

    let (out, _) = suggest(&root, "preservation", &["--persist-dir", "/state/"]);
    assert_eq!(out, TMPFS_PRESERVATION);
    nix_parses(&out);
}

const BTRFS_PRESERVATION: &str = r#"# blankroot diff --suggest preservation: what the next boot erases, as entries to persist
{
  preservation.preserveAt."/persist" = {
    directories = [
      # bar.service
      { directory = "/var/lib/bar"; user = "bar"; group = "bar"; mode = "0700"; }
      # /var/lib/machines
      "/var/lib/machines"
      # /var/log
      { directory = "/var/log"; inInitrd = true; }
    ];
    files = [
      # /etc
      "/etc/hostname"
      { file = "/etc/machine-id"; inInitrd = true; }
      # /var/lib/half
      "/var/lib/half/new"
    ];
  };
}
"#;

/// A Btrfs root against its blank: what the blank holds is not suggested unless it changed, a
/// directory that is empty in the blank and lost whole is one entry, one that keeps some of the
/// blank's content is split into files; accounts and units come from the root itself (not
/// mounted anywhere here).
#[test]
fn a_btrfs_root_against_its_blank() {
    if !root_or_skip("diff --suggest on btrfs") {
        return;
    }
    let img = Image::new(512);
    let m = img.mount();
    m.subvol("root")
        .write(
            "root/etc/passwd",
            "root:x:0:0::/root:/bin/sh\nbar:x:992:992::/var/empty:/bin/false\n",
        )
        .write("root/etc/group", "root:x:0:\nbar:x:992:\n")
        .write("root/etc/hostname", "blank\n")
        .write(
            "root/etc/systemd/system/bar.service",
            "[Service]\nDynamicUser=no\nStateDirectory=bar\n",
        )
        .write("root/var/lib/half/old", "from the blank\n")
        .mkdir("root/var/log");
    m.snapshot("root", "root-blank", true);
    m.write("root/etc/hostname", "live\n")
        .write("root/etc/machine-id", "0123\n")
        .write("root/var/lib/bar/state/db", "bar's\n")
        .write("root/var/lib/half/new", "new\n")
        .write("root/var/log/messages", "log\n")
        .subvol("root/var/lib/machines")
        .write("root/var/lib/machines/vm.raw", "machine\n");
    let live = m.path("root");
    for p in ["var/lib/bar", "var/lib/bar/state", "var/lib/bar/state/db"] {
        own(&live, p, 992, 992);
    }
    mode(&live, "var/lib/bar", 0o700);
    let (code, out, err) = blankroot(&[
        OsStr::new("diff"),
        OsStr::new("--device"),
        img.dev.as_os_str(),
        OsStr::new("--suggest"),
        OsStr::new("preservation"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, BTRFS_PRESERVATION);
    nix_parses(&out);
    assert!(err.contains("  /var/lib/half/new\n"), "{err}");
}

/// The command line around --suggest: the persistent directory from the configuration, what
/// does not go together, and that a broken expression would be caught.
#[test]
fn the_persistent_directory_and_what_does_not_go_together() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "var/lib/foo/db", "x\n");
    let config = dir.path().join("config.json");
    fs::write(
        &config,
        r#"{"args": [], "persisted": ["/var/lib/foo"], "persist_dir": "/nix/persist"}"#,
    )
    .unwrap();
    write(&root, "etc/adjtime", "0.0 0 0\n");
    let run = |extra: &[&str]| {
        let mut args = vec![OsStr::new("diff"), OsStr::new("--root"), root.as_os_str()];
        args.extend(extra.iter().map(OsStr::new));
        blankroot(&args)
    };
    // The configuration's directory and persisted list; --persist-dir wins over it.
    let cfg = [
        "--config",
        config.to_str().unwrap(),
        "--suggest",
        "impermanence",
    ];
    let (code, out, err) = run(&cfg);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "# blankroot diff --suggest impermanence: what the next boot erases, as entries to persist\n{\n  environment.persistence.\"/nix/persist\" = {\n    directories = [ ];\n    files = [\n      # /etc\n      \"/etc/adjtime\"\n    ];\n  };\n}\n"
    );
    nix_parses(&out);
    let (code, out, _) = run(&[&cfg[..], &["--persist-dir", "/p"]].concat());
    assert_eq!(code, 0);
    assert!(
        out.contains("environment.persistence.\"/p\" = {\n"),
        "{out}"
    );
    // --json keeps its own output and does not mix with --suggest.
    for (args, want) in [
        (
            &["--suggest", "preservation", "--json"][..],
            "blankroot: error: --suggest prints a Nix expression and --json the listing: give one of them\n",
        ),
        (
            &["--suggest", "impermanence", "--include-nix-managed"][..],
            "blankroot: error: --include-nix-managed lists what NixOS recreates at every boot, which --suggest leaves out: give one of them\n",
        ),
        (
            &["--persist-dir", "/p"][..],
            "blankroot: error: --persist-dir /p: only with --suggest impermanence|preservation\n",
        ),
        (
            &["--suggest", "impermanence", "--persist-dir", "persist"][..],
            "blankroot: error: --persist-dir persist: not an absolute path; give the persistent directory, such as /persist\n",
        ),
    ] {
        let (code, out, err) = run(args);
        assert_eq!((code, out.as_str(), err.as_str()), (2, "", want), "{args:?}");
    }
    let bad = dir.path().join("bad.json");
    fs::write(&bad, r#"{"args": [], "persist_dir": "/a/../b"}"#).unwrap();
    let (code, _, err) = run(&[
        "--config",
        bad.to_str().unwrap(),
        "--suggest",
        "impermanence",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the configuration's persist_dir /a/../b: `..` is not allowed"),
        "{err}"
    );
    // The parse check itself fails on what is not Nix.
    if Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok()
    {
        let broken = std::panic::catch_unwind(|| nix_parses("{ environment.persistence = [ ; }"));
        assert!(broken.is_err(), "nix_parses accepted a broken expression");
    }
}
