//! `blankroot diff` on real loop-mounted btrfs: the exact listing for known changes, what is left
//! out, mounts on the live root, and that it never writes.

mod common;
mod diff_common;

use common::*;
use diff_common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// The blank, then a live root with one change of every kind.
fn known_changes(img: &Image) {
    let m = img.mount();
    m.subvol("root")
        .write("root/etc/issue", "blank\n")
        .write("root/etc/keep", "same\n")
        .write("root/etc/touched", "same bytes\n")
        .write("root/etc/content", "aaaa\n")
        .write("root/etc/grow", "x")
        .write("root/etc/mode", "m\n")
        .write("root/etc/owner", "o\n")
        .write("root/etc/gone", "bye\n")
        .write("root/var/olddir/a", "a\n")
        .write("root/var/olddir/sub/b", "b\n")
        .write("root/var/typechange", "file\n");
    std::os::unix::fs::symlink("/a", m.path("root/etc/link")).unwrap();
    sh("mkfifo", &[m.path("root/var/fifo-kept").to_str().unwrap()]);
    m.snapshot("root", "root-blank", true);

    // Unchanged in substance: same bytes rewritten, times changed.
    fs::write(m.path("root/etc/touched"), "same bytes\n").unwrap();
    fs::write(m.path("root/etc/content"), "bbbb\n").unwrap();
    fs::write(m.path("root/etc/grow"), "xyz").unwrap();
    chmod(&m.path("root/etc/mode"), 0o600);
    chown(&m.path("root/etc/owner"), 1000, 100);
    fs::remove_file(m.path("root/etc/gone")).unwrap();
    fs::remove_file(m.path("root/etc/link")).unwrap();
    std::os::unix::fs::symlink("/b", m.path("root/etc/link")).unwrap();
    fs::remove_dir_all(m.path("root/var/olddir")).unwrap();
    fs::remove_file(m.path("root/var/typechange")).unwrap();
    m.write("root/var/typechange/inside", "in\n");
    m.write("root/etc/with space", "s\n")
        .write("root/etc/new\nline", "n\n");
    fs::write(m.path("root/etc").join(OsStr::from_bytes(b"bad\xff")), "x").unwrap();
    sh("mkfifo", &[m.path("root/var/fifo").to_str().unwrap()]);
    sh(
        "mknod",
        &[m.path("root/var/null").to_str().unwrap(), "c", "1", "3"],
    );
    m.mkdir("root/var/lib")
        .subvol("root/var/lib/machines")
        .write("root/var/lib/machines/vm.raw", "machine\n")
        .mkdir("root/srv")
        .subvol("root/srv/www")
        .subvol("root/srv/www/deeper")
        .write("root/srv/www/deeper/x", "deep\n");
    // Left out by default: NixOS makes these again at boot.
    std::os::unix::fs::symlink("/etc/static/hosts", m.path("root/etc/hosts")).unwrap();
    m.write("root/tmp/scratch", "t\n");
    // Left out as persisted.
    m.write("root/etc/nixos/configuration.nix", "{ }\n")
        .write("root/var/lib/foo/data", "kept\n")
        .write("root/var/cache/only/persisted/x", "kept\n");
}

fn rows(list: &[Listed]) -> Vec<(String, &str, &str, String, bool)> {
    list.iter()
        .map(|l| {
            (
                String::from_utf8_lossy(&l.path).into_owned(),
                l.change.as_str(),
                l.kind.as_str(),
                l.what.join(","),
                l.subvolume,
            )
        })
        .collect()
}

#[test]
fn exact_listing_of_known_changes() {
    if !root_or_skip("diff exact_listing_of_known_changes") {
        return;
    }
    let img = Image::new(512);
    known_changes(&img);
    let dev = img.dev.as_os_str();
    let persisted = [
        "--persisted",
        "/etc/nixos",
        "--persisted",
        "/var/lib/foo/",
        "--persisted",
        "/var/cache/only/persisted",
    ]
    .map(OsStr::new);
    let mut args = vec![OsStr::new("--device"), dev];
    args.extend(persisted);
    let json = diff_json(&args);
    let list = listed(&json);
    let row = |p: &str, c: &'static str, k: &'static str, w: &str, s: bool| {
        (p.to_string(), c, k, w.to_string(), s)
    };
    assert_eq!(
        rows(&list),
        vec![
            row("etc/bad\u{fffd}", "created", "file", "", false),
            row("etc/content", "modified", "file", "content", false),
            row("etc/gone", "deleted", "file", "", false),
            row("etc/grow", "modified", "file", "content", false),
            row("etc/link", "modified", "symlink", "target", false),
            row("etc/mode", "modified", "file", "mode", false),
            row("etc/new\nline", "created", "file", "", false),
            row("etc/owner", "modified", "file", "owner", false),
            row("etc/with space", "created", "file", "", false),
            row("srv", "created", "dir", "", false),
            row("srv/www", "created", "dir", "", true),
            row("srv/www/deeper", "created", "dir", "", true),
            row("srv/www/deeper/x", "created", "file", "", false),
            row("var/fifo", "created", "fifo", "", false),
            row("var/lib", "created", "dir", "", false),
            row("var/lib/machines", "created", "dir", "", true),
            row("var/lib/machines/vm.raw", "created", "file", "", false),
            row("var/null", "created", "chardev", "", false),
            row("var/olddir", "deleted", "dir", "", false),
            row("var/olddir/a", "deleted", "file", "", false),
            row("var/olddir/sub", "deleted", "dir", "", false),
            row("var/olddir/sub/b", "deleted", "file", "", false),
            row("var/typechange", "modified", "dir", "type", false),
            row("var/typechange/inside", "created", "file", "", false),
        ]
    );
    assert_eq!(
        list[0].path, b"etc/bad\xff",
        "the exact bytes of a non-UTF-8 name"
    );
    let changes = json["changes"].as_array().unwrap();
    let link = changes.iter().find(|c| c["path"] == "/etc/link").unwrap();
    assert_eq!(link["target"], "/b");
    let tc = changes
        .iter()
        .find(|c| c["path"] == "/var/typechange")
        .unwrap();
    assert_eq!(tc["was"], "file");
    let grow = changes.iter().find(|c| c["path"] == "/etc/grow").unwrap();
    assert_eq!(grow["size"], 3);
    assert_eq!(
        json["totals"],
        serde_json::json!({"created": 13, "modified": 6, "deleted": 5, "bytes": 43})
    );
    let left: Vec<(String, String)> = json["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        left,
        [
            ("/etc/nixos", "persisted"),
            ("/var/cache/only/persisted", "persisted"),
            ("/var/lib/foo", "persisted")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(json["recreated_at_boot"], 2, "/etc/hosts and /tmp");
    assert_eq!(json["complete"], true);

    // --include-nix-managed lists what NixOS makes again; without --persisted nothing is left out.
    let all = listed(&diff_json(&[
        OsStr::new("--device"),
        dev,
        OsStr::new("--include-nix-managed"),
    ]));
    let paths = path_set(&all);
    for p in [
        &b"etc/hosts"[..],
        b"tmp",
        b"tmp/scratch",
        b"etc/nixos/configuration.nix",
        b"var/cache",
        b"var/cache/only/persisted/x",
        b"var/lib/foo/data",
    ] {
        assert!(paths.contains(p), "{}", String::from_utf8_lossy(p));
    }
    assert_eq!(all.len(), list.len() + 11);

    // The text listing: each entry's full path on its own line (so grep finds where it is),
    // under a header per directory with counts and sizes; names escaped.
    let mut args = vec![OsStr::new("diff"), OsStr::new("--device"), dev];
    args.extend(persisted);
    let (code, text, err) = blankroot(&args);
    assert_eq!(code, 0, "{err}");
    for want in [
        "\n/etc  (3 created, 5 modified, 1 deleted; 23 B)\n",
        "  + file            2 B  /etc/new\\nline\n",
        "  + file            1 B  /etc/bad\\xff\n",
        "  ~ symlink         2 B  /etc/link -> /b  [target]\n",
        "  ~ dir             0 B  /var/typechange/  [type: file -> dir]\n",
        "  + dir             0 B  /var/lib/machines/  [nested subvolume]\n",
        "\n/var/olddir/sub  (1 deleted; 2 B)\n  - file            2 B  /var/olddir/sub/b\n",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    // One line per entry: every path of the JSON listing is on a line of its own.
    let lines = text
        .lines()
        .filter(|l| ["  + ", "  ~ ", "  - "].iter().any(|s| l.starts_with(s)))
        .count();
    assert_eq!(lines, list.len(), "{text}");
    let grep: Vec<&str> = text.lines().filter(|l| l.contains("deeper")).collect();
    assert_eq!(
        grep,
        [
            "  + dir             0 B  /srv/www/deeper/  [nested subvolume]",
            "/srv/www/deeper  (1 created; 5 B)",
            "  + file            5 B  /srv/www/deeper/x",
        ],
        "grep NAME gives the full paths"
    );
}

#[test]
fn brute_force_agrees_and_applying_the_listing_reproduces_the_root() {
    if !root_or_skip("diff brute_force_agrees") {
        return;
    }
    let img = Image::new(512);
    known_changes(&img);
    let list = listed(&diff_json(&[
        OsStr::new("--device"),
        img.dev.as_os_str(),
        OsStr::new("--include-nix-managed"),
    ]));
    let m = img.mount();
    assert_eq!(
        path_set(&list),
        brute_force(&m.path("root"), &m.path("root-blank")),
        "blankroot diff and the brute-force comparison disagree"
    );
    m.snapshot("root-blank", "copy", false);
    apply(&list, &m.path("root"), &m.path("copy"));
    assert_eq!(describe(&m.path("copy")), describe(&m.path("root")));
}

fn super_generation(dev: &Path) -> String {
    sh(
        "btrfs",
        &["inspect-internal", "dump-super", dev.to_str().unwrap()],
    )
    .lines()
    .find(|l| l.starts_with("generation"))
    .unwrap()
    .to_string()
}

#[test]
fn mounts_on_the_live_root_are_left_out_unless_they_are_part_of_it() {
    if !root_or_skip("diff mounts_on_the_live_root") {
        return;
    }
    let img = Image::new(512);
    {
        let m = img.mount();
        m.subvol("root")
            .mkdir("root/home")
            .mkdir("root/mnt/scratch");
        m.snapshot("root", "root-blank", true);
        m.subvol("home").write("home/user/file", "mine\n");
        m.mkdir("root/var/lib")
            .subvol("root/var/lib/machines")
            .write("root/var/lib/machines/vm.raw", "vm\n")
            .write("root/etc/new", "new\n");
    }
    let live = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let lp = live.path().to_str().unwrap();
    let dev = img.dev.to_str().unwrap();
    sh("mount", &["-o", "subvol=root", dev, lp]);
    let guard = Unmount(vec![]);
    let mut guard = guard;
    guard.0.push(live.path().to_path_buf());
    sh("mount", &["-o", "subvol=home", dev, &format!("{lp}/home")]);
    guard.0.push(live.path().join("home"));
    sh(
        "mount",
        &["-t", "tmpfs", "none", &format!("{lp}/mnt/scratch")],
    );
    guard.0.push(live.path().join("mnt/scratch"));
    fs::write(live.path().join("mnt/scratch/in-ram"), "x").unwrap();
    let ep = elsewhere.path().to_str().unwrap();
    sh("mount", &["-o", "subvol=root/var/lib/machines", dev, ep]);
    guard.0.push(elsewhere.path().to_path_buf());
    sh("sync", &[]);

    let before = super_generation(&img.dev);
    let json = diff_json(&[OsStr::new("--device"), img.dev.as_os_str()]);
    assert_eq!(before, super_generation(&img.dev), "diff wrote to the disk");

    let paths = path_set(&listed(&json));
    let want: Vec<&[u8]> = vec![
        b"etc",
        b"etc/new",
        b"var",
        b"var/lib",
        b"var/lib/machines",
        b"var/lib/machines/vm.raw",
    ];
    assert_eq!(paths, want.into_iter().map(<[u8]>::to_vec).collect());
    let left = json["left_out"].to_string();
    assert!(
        left.contains(r#""path":"/home","reason":"mount point""#),
        "{left}"
    );
    assert!(
        left.contains(r#""path":"/mnt/scratch","reason":"mount point""#),
        "{left}"
    );
    let notes = json["notes"].to_string();
    assert!(
        notes.contains("/root/var/lib/machines is mounted at") && notes.contains("inside the root"),
        "{notes}"
    );

    // --root: the live tree read through the mounted root, mounts found by mount id.
    let json = diff_json(&[
        OsStr::new("--device"),
        img.dev.as_os_str(),
        OsStr::new("--root"),
        live.path().as_os_str(),
    ]);
    assert_eq!(
        path_set(&listed(&json)),
        paths,
        "--root and the top level see the same"
    );
}

struct Unmount(Vec<std::path::PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = std::process::Command::new("umount").arg(p).status();
        }
    }
}

#[test]
fn configuration_file_and_usage_errors() {
    if !root_or_skip("diff configuration_file") {
        return;
    }
    let img = Image::new(512);
    {
        let m = img.mount();
        m.subvol("@root").mkdir("@root/etc");
        m.snapshot("@root", "@blank", true);
        m.write("@root/etc/nixos/configuration.nix", "{ }\n")
            .write("@root/etc/lost", "x\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    let config = serde_json::json!({
        "args": ["--device", img.dev.to_str().unwrap(), "--subvolume", "@root", "--blank", "@blank",
                 "--archive-dir", "old_roots", "--keep", "3", "--log-level", "warn"],
        "persisted": ["/etc/nixos"]
    });
    fs::write(&cfg, config.to_string()).unwrap();
    let json = diff_json(&[OsStr::new("--config"), cfg.as_os_str()]);
    assert_eq!(path_set(&listed(&json)), [b"etc/lost".to_vec()].into());
    assert_eq!(json["target"]["subvolume"], "@root");
    assert_eq!(json["target"]["blank"], "@blank");
    assert!(
        json["notes"].to_string().contains("archive old_roots"),
        "{}",
        json["notes"]
    );

    // A missing blank: the rollback would refuse too.
    let (code, _, err) = blankroot(&[
        OsStr::new("diff"),
        OsStr::new("--device"),
        img.dev.as_os_str(),
        OsStr::new("--subvolume"),
        OsStr::new("@root"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no blank snapshot (root-blank)"), "{err}");

    for (args, text) in [
        (
            vec!["--device", "/dev/null", "--dataset", "p/r"],
            "not both",
        ),
        (
            vec!["--persisted", "etc/nixos", "--root", "/"],
            "absolute path",
        ),
        (
            vec!["--blank", "x", "--empty", "--device", "/dev/null"],
            "exclude each other",
        ),
        (vec!["--frobnicate"], "unknown option --frobnicate for diff"),
        (vec!["--config", "/nonexistent/config.json"], "--config"),
    ] {
        let mut all = vec![OsStr::new("diff")];
        all.extend(args.iter().map(OsStr::new));
        let (code, _, err) = blankroot(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    }
    fs::write(&cfg, r#"{"args": ["--device"]}"#).unwrap();
    let (code, _, err) = blankroot(&[OsStr::new("diff"), OsStr::new("--config"), cfg.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn bulk_read_sizes_agree_with_stat() {
    if !root_or_skip("diff bulk_read_sizes") {
        return;
    }
    // Enough one-sided files in the root, a nested subvolume and the blank for the inode tables
    // to be read in bulk.
    let img = Image::new(512);
    let m = img.mount();
    m.subvol("root");
    for i in 0..150 {
        m.write(&format!("root/old/f{i}"), &"o".repeat(i));
    }
    m.snapshot("root", "root-blank", true);
    for i in 0..100 {
        fs::remove_file(m.path(&format!("root/old/f{i}"))).unwrap();
    }
    m.mkdir("root/var").subvol("root/var/nested");
    for i in 0..300 {
        m.write(&format!("root/new/d{}/f{i}", i % 7), &"n".repeat(i * 13));
        m.write(&format!("root/var/nested/g{i}"), &"g".repeat(i * 7 % 5000));
        if i % 50 == 0 {
            std::os::unix::fs::symlink("x".repeat(i + 1), m.path(&format!("root/new/l{i}")))
                .unwrap();
        }
    }
    let json = diff_json(&[OsStr::new("--device"), img.dev.as_os_str()]);
    let list = listed(&json);
    assert_eq!(
        path_set(&list),
        brute_force(&m.path("root"), &m.path("root-blank"))
    );
    let mut checked = 0;
    for c in json["changes"].as_array().unwrap() {
        let rel = c["path"].as_str().unwrap().trim_start_matches('/');
        let side = if c["change"] == "deleted" {
            "root-blank"
        } else {
            "root"
        };
        let md = fs::symlink_metadata(m.path(side).join(rel)).unwrap();
        let want = if md.is_file() || md.file_type().is_symlink() {
            md.len()
        } else {
            0
        };
        assert_eq!(c["size"], want, "{c}");
        checked += 1;
    }
    assert_eq!(
        checked,
        100 + 7 + 1 + 300 + 6 + 2 + 300,
        "every entry checked"
    );
}

#[test]
fn without_a_target_the_root_mounted_on_slash_is_used() {
    if !root_or_skip("diff without a target") {
        return;
    }
    if Path::new("/etc/blankroot/config.json").exists()
        || Path::new("/run/blankroot/status.json").exists()
    {
        eprintln!("SKIPPED: this machine has a blankroot configuration or status record");
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, true);
    let dev = img.dev.to_str().unwrap();
    // In a private mount namespace, `/` is mounted from the root subvolume (the process keeps its
    // old root, so the binary is still found).
    let script = format!(
        "mount --make-rprivate / && mount -o subvol=root {dev} / && exec {} diff --json",
        env!("CARGO_BIN_EXE_blankroot")
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["target"]["device"], dev);
    assert_eq!(json["target"]["subvolume"], "root");
    assert_eq!(json["target"]["blank"], "root-blank");
    assert!(
        json["notes"]
            .to_string()
            .contains("looking at the filesystem mounted on /"),
        "{}",
        json["notes"]
    );
    let paths = path_set(&listed(&json));
    for p in [
        &b"etc/canary"[..],
        b"var/lib/machines/vm.raw",
        b"srv/www/deeper/x",
    ] {
        assert!(
            paths.contains(p),
            "{} not in {json}",
            String::from_utf8_lossy(p)
        );
    }
}
