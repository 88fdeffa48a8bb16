//! What must not be lost, on fixture trees standing in for the root (the engines' part, and the
//! command line, are tested on real filesystems in tests/check_*.rs).

use super::persist::{findings, nix_string, sh_word, Lists, View};
use super::tree::Tree;
use super::*;
use std::fs;
use std::os::unix::fs::symlink;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for (path, text) in files {
            f.write(path, text);
        }
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A file, or a directory when the name ends in `/`.
    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if rel.ends_with('/') {
            fs::create_dir_all(p).unwrap();
            return;
        }
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn link(&self, rel: &str, target: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    /// The fixture as the root, mounted at itself, with `mounts` (relative) on it.
    fn view(&self, mounts: &[&str]) -> View {
        View {
            tree: Tree {
                dir: open_dir(self.dir.path()).unwrap(),
                mount_point: crate::mount_point::MountPoint::root(),
            },
            at: Some(self.dir.path().to_path_buf()),
            mounts: mounts.iter().map(|m| Path::new("/").join(m)).collect(),
            beneath: None,
        }
    }
}

fn lists(persisted: &[&str]) -> Lists {
    Lists {
        persisted: persisted.iter().map(PathBuf::from).collect(),
        persist_dir: "/persist".into(),
        ..Lists::default()
    }
}

/// The path each finding names first.
fn named(found: &[String]) -> Vec<String> {
    found
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

const EVERYTHING: &[(&str, &str)] = &[
    ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
    ("etc/ssh/ssh_host_ed25519_key", "private\n"),
    ("etc/ssh/ssh_host_ed25519_key.pub", "public\n"),
    ("etc/ssh/ssh_host_rsa_key", "private\n"),
    ("etc/ssh/sshd_config", "x\n"),
    ("var/lib/nixos/uid-map", "{}\n"),
    ("etc/secureboot/keys/db/db.key", "k\n"),
    ("var/lib/sbctl/keys/db/db.key", "k\n"),
    ("var/lib/systemd/timers/stamp-fstrim.timer", ""),
    ("var/lib/systemd/random-seed", "seed"),
    ("var/lib/systemd/credential.secret", "secret"),
    ("var/lib/systemd/coredump/", ""),
    ("etc/zfs/zpool.cache", "cache"),
    ("var/lib/sops-nix/key.txt", "AGE-SECRET-KEY-1\n"),
];

const ALL_NAMED: &[&str] = &[
    "/etc/machine-id",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_rsa_key",
    "/var/lib/nixos",
    "/etc/secureboot",
    "/var/lib/sbctl",
    "/var/lib/systemd/timers",
    "/var/lib/systemd/random-seed",
    "/var/lib/systemd/credential.secret",
    "/etc/zfs/zpool.cache",
    "/var/lib/sops-nix/key.txt",
];

fn with_keys(mut l: Lists) -> Lists {
    l.must_persist = vec![
        "/var/lib/sops-nix/key.txt".into(),
        // Also a default path: named once, as a host key.
        "/etc/ssh/ssh_host_ed25519_key".into(),
        "/var/lib/absent/key".into(),
    ];
    l
}

#[test]
fn every_path_that_must_persist_is_found_and_named() {
    let f = Fixture::new(EVERYTHING);
    let found = findings(&f.view(&[]), &with_keys(lists(&[])));
    assert_eq!(named(&found), ALL_NAMED, "{found:#?}");
    let line = |p: &str| {
        found
            .iter()
            .find(|l| l.starts_with(&format!("{p} ")))
            .unwrap()
    };
    assert_eq!(
        line("/etc/machine-id"),
        "/etc/machine-id is on the root and not persisted: systemd's machine id: a new one at every boot, and journalctl no longer finds the journals of earlier boots; the next boot wipes it. Persist it: environment.persistence.\"/persist\".files = [ \"/etc/machine-id\" ]; (impermanence) or preservation.preserveAt.\"/persist\".files = [ { file = \"/etc/machine-id\"; inInitrd = true; } ]; (preservation)"
    );
    // A host key goes with its .pub, when it has one.
    assert!(
        line("/etc/ssh/ssh_host_ed25519_key").contains(
            ".files = [ \"/etc/ssh/ssh_host_ed25519_key\" \"/etc/ssh/ssh_host_ed25519_key.pub\" ];"
        ),
        "{found:#?}"
    );
    assert!(
        line("/etc/ssh/ssh_host_rsa_key").contains(".files = [ \"/etc/ssh/ssh_host_rsa_key\" ];")
    );
    assert!(line("/var/lib/nixos").contains(
        "preservation.preserveAt.\"/persist\".directories = [ { directory = \"/var/lib/nixos\"; inInitrd = true; } ];"
    ));
    assert!(line("/var/lib/sbctl").contains("lanzaboote"));
    assert!(line("/var/lib/sbctl")
        .contains("preservation.preserveAt.\"/persist\".directories = [ \"/var/lib/sbctl\" ];"));
    assert!(line("/var/lib/systemd/random-seed").contains("all of /var/lib/systemd"));
    assert!(line("/var/lib/sops-nix/key.txt").contains("the configuration names"));
    for l in &found {
        assert!(!l.contains('\n'), "one line each: {l}");
    }
}

#[test]
fn empty_files_and_directories_hold_nothing_to_lose() {
    let f = Fixture::new(&[
        ("etc/machine-id", ""),
        ("var/lib/nixos/", ""),
        ("var/lib/systemd/timers/", ""),
        ("etc/ssh/ssh_host_ed25519_key.pub", "only the public half\n"),
    ]);
    assert_eq!(findings(&f.view(&[]), &lists(&[])), Vec::<String>::new());
}

#[test]
fn persisted_mounted_or_made_by_nixos_is_not_a_finding() {
    let f = Fixture::new(EVERYTHING);
    let view = f.view(&[]);
    let all = findings(&view, &with_keys(lists(&[])));
    assert_eq!(all.len(), ALL_NAMED.len());
    // The paths themselves, and directories above them.
    let l = with_keys(lists(&[
        "/etc/machine-id",
        "/etc/ssh",
        "/var/lib",
        "/etc/secureboot",
        "/etc/zfs/zpool.cache",
    ]));
    assert_eq!(findings(&view, &l), Vec::<String>::new());
    // Other filesystems mounted on the root.
    let view = f.view(&[
        "etc",
        "var/lib/nixos",
        "var/lib/systemd",
        "var/lib/sbctl/keys",
    ]);
    let found = findings(&view, &with_keys(lists(&[])));
    assert_eq!(named(&found), ["/var/lib/sops-nix/key.txt"], "{found:#?}");
    // Symlinks into the store or onto another mount: the data is not on the root.
    let f = Fixture::new(&[("persist/etc/machine-id", "id\n")]);
    f.link("etc/machine-id", "/persist/etc/machine-id");
    f.link("etc/ssh", "../persist/etc/ssh");
    f.write("persist/etc/ssh/ssh_host_ed25519_key", "k\n");
    f.link("etc/zfs/zpool.cache", "/etc/static/zfs/zpool.cache");
    f.link("var/lib/nixos", "/nix/store/abc-nixos");
    assert_eq!(
        findings(&f.view(&["persist"]), &lists(&[])),
        Vec::<String>::new()
    );
    // The same links, with /persist on the root: found where the data is.
    let found = findings(&f.view(&[]), &lists(&[]));
    assert_eq!(
        found[0].split(": ").next().unwrap(),
        "/etc/machine-id (a symlink to /persist/etc/machine-id) is on the root and not persisted"
    );
    assert!(found[0].contains(".files = [ \"/persist/etc/machine-id\" ];"));
    assert_eq!(
        named(&found),
        ["/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key"]
    );
}

#[test]
fn a_newly_persisted_path_with_no_persistent_copy_is_found_and_the_command_copies_it() {
    let f = Fixture::new(&[
        ("var/lib/foo/db/data", "precious\n"),
        ("var/lib/bar/x", "also\n"),
        ("etc/app.conf", "conf\n"),
        ("var/lib/kept/x", "kept\n"),
        ("persist/var/lib/kept/x", "kept\n"),
        ("persist/var/lib/bar/", ""),
        ("persist/etc/app.conf", ""),
        ("var/lib/empty/", ""),
        ("var/lib/other/y", "y\n"),
    ]);
    let root = f.dir.path().to_str().unwrap().to_string();
    let mut l = lists(&[]);
    l.persistence = [
        ("/var/lib/foo", "/persist/var/lib/foo"),
        ("/var/lib/bar", "/persist/var/lib/bar"),
        ("/etc/app.conf", "/persist/etc/app.conf"),
        ("/var/lib/kept", "/persist/var/lib/kept"),
        ("/var/lib/empty", "/persist/var/lib/empty"),
        ("/var/lib/other", "/data/other"),
    ]
    .iter()
    .map(|(p, s)| (PathBuf::from(p), PathBuf::from(s)))
    .collect();
    let found = findings(&f.view(&[]), &l);
    assert_eq!(
        named(&found),
        [
            "/var/lib/foo",
            "/var/lib/bar",
            "/etc/app.conf",
            "/var/lib/other"
        ],
        "{found:#?}"
    );
    assert!(found[0].contains("its persistent copy /persist/var/lib/foo is missing while its data is still only on the root: the next boot mounts the empty copy over it and wipes the data"), "{}", found[0]);
    assert!(
        found[1].contains("/persist/var/lib/bar is empty"),
        "{}",
        found[1]
    );
    assert!(
        found[0].ends_with(
            "; once wiped it is gone: the rollback deletes the old root (no --archive-dir)"
        ),
        "{}",
        found[0]
    );
    let command = |line: &str| {
        line.split("Copy it now: `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .unwrap()
            .to_string()
    };
    assert_eq!(
        command(&found[0]),
        format!("(cd {root} && cp -a --parents var/lib/foo {root}/persist)")
    );
    assert_eq!(
        command(&found[3]),
        format!("mkdir -p {root}/data/other && cp -a {root}/var/lib/other/. {root}/data/other/")
    );
    for line in &found {
        let out = std::process::Command::new("sh")
            .args(["-c", &command(line)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {out:?}");
    }
    assert_eq!(findings(&f.view(&[]), &l), Vec::<String>::new());
    assert_eq!(
        fs::read_to_string(f.path("persist/var/lib/foo/db/data")).unwrap(),
        "precious\n"
    );
    assert_eq!(fs::read_to_string(f.path("data/other/y")).unwrap(), "y\n");
    // With archives: `restore` gets it back after the fact.
    fs::remove_dir_all(f.path("persist/var/lib/foo")).unwrap();
    l.archived = true;
    let found = findings(&f.view(&[]), &l);
    assert!(
        found[0].ends_with(
            "; once wiped, `blankroot restore /var/lib/foo` copies it back from the archived root"
        ),
        "{}",
        found[0]
    );
    // Already mounted there (the persistent copy is what is seen), or under another mount.
    assert!(findings(&f.view(&["var/lib/foo"]), &l).is_empty());
    assert!(findings(&f.view(&["var"]), &l).is_empty());
    // Not mounted anywhere: the copies cannot be looked at.
    let mut view = f.view(&[]);
    view.at = None;
    assert!(findings(&view, &l).is_empty());
}

#[test]
fn data_hidden_under_the_mount_of_its_empty_copy_is_found_when_the_root_can_be_seen_beneath() {
    let f = Fixture::new(&[
        ("var/lib/foo/data", "precious\n"),
        ("persist/var/lib/foo/", ""),
    ]);
    let mut l = lists(&[]);
    l.persistence = vec![("/var/lib/foo".into(), "/persist/var/lib/foo".into())];
    let mut view = f.view(&["var/lib/foo", "persist"]);
    view.beneath = Some("mount -o ro,subvol=root /dev/x \"$d\"".into());
    let found = findings(&view, &l);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("(under the mount on /var/lib/foo)"),
        "{}",
        found[0]
    );
    let root = f.dir.path().display();
    assert!(found[0].contains(&format!(
        "Copy it now: `d=$(mktemp -d) && mount -o ro,subvol=root /dev/x \"$d\" && (cd \"$d\" && cp -a --parents var/lib/foo {root}/persist); umount \"$d\"; rmdir \"$d\"`"
    )), "{}", found[0]);
}

#[test]
fn words_for_nix_and_sh_are_quoted() {
    assert_eq!(nix_string("/persist"), "\"/persist\"");
    assert_eq!(
        nix_string("/a \"b\"\\${c}$d\n"),
        "\"/a \\\"b\\\"\\\\\\${c}$d\\n\""
    );
    assert_eq!(sh_word("/var/lib/foo".as_ref()), "/var/lib/foo");
    assert_eq!(sh_word("/a b".as_ref()), "'/a b'");
    assert_eq!(sh_word("it's".as_ref()), r"'it'\''s'");
    assert_eq!(sh_word("".as_ref()), "''");
    assert_eq!(sh_word("$(x)".as_ref()), "'$(x)'");
}

#[test]
fn the_lists_come_from_the_options_and_the_configuration() {
    let t = crate::target::resolve(&crate::target::Request {
        device: Some("/dev/vda2".into()),
        archive_dir: Some("old_roots".into()),
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("persisted.txt");
    fs::write(&from, "# comment\n/var/lib/a/\n").unwrap();
    let config = crate::config::parse(
        Path::new("c.json"),
        r#"{"args": [], "persisted": ["/etc/nixos"], "persist_dir": "/nix/persist/",
            "persistence": [{"path": "/var/lib/foo", "stored": "/nix/persist/var/lib/foo"}],
            "must_persist": ["/var/lib/sops-nix/key.txt"]}"#,
    )
    .unwrap();
    let opts = Options {
        persisted: vec!["//etc/./ssh".into()],
        persisted_from: vec![from.clone()],
        strict: false,
        config: Some(config),
        record: None,
    };
    let l = super::lists(&t, &opts).unwrap();
    let paths = |v: &[PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        paths(&l.persisted),
        ["/etc/ssh", "/var/lib/a", "/etc/nixos", "/var/lib/foo"]
    );
    assert_eq!(paths(&l.must_persist), ["/var/lib/sops-nix/key.txt"]);
    assert_eq!(l.persistence[0].1, Path::new("/nix/persist/var/lib/foo"));
    assert_eq!(l.persist_dir, "/nix/persist");
    assert!(l.archived);
    let err = |opts: Options| super::lists(&t, &opts).unwrap_err();
    let e = err(Options {
        persisted: vec!["var/lib".into()],
        ..Options::default()
    });
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.message,
        "--persisted var/lib: give an absolute path such as /var/lib/foo"
    );
    let e = err(Options {
        persisted: vec!["/a/../b".into()],
        ..Options::default()
    });
    assert!(e.message.contains("`..` is not allowed"), "{}", e.message);
    let e = err(Options {
        persisted_from: vec![dir.path().join("missing")],
        ..Options::default()
    });
    assert!(e.message.starts_with("--persisted-from "), "{}", e.message);
    assert_eq!(e.exit_code(), 2);
    fs::write(&from, "relative/path\n").unwrap();
    let e = err(Options {
        persisted_from: vec![from.clone()],
        ..Options::default()
    });
    assert!(
        e.message.contains("relative/path: give an absolute path"),
        "{}",
        e.message
    );
}
