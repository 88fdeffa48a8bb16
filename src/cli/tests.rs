use super::args::*;
use super::usage::*;
use super::*;
use crate::target::FsChoice;

use std::path::Path;

fn words(line: &[&str]) -> Vec<OsString> {
    std::iter::once("blankroot")
        .chain(line.iter().copied())
        .map(OsString::from)
        .collect()
}

fn rollback(line: &[&str]) -> RollbackArgs {
    let mut all = vec!["rollback"];
    all.extend(line);
    match parse(words(&all)) {
        Ok(Command::Rollback(a)) => a.rollback,
        other => panic!("{line:?}: {other:?}"),
    }
}

/// The one-line message of a usage error (exit code 2).
fn error(line: &[&str]) -> String {
    match parse(words(line)) {
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{line:?}: {e}");
            assert!(!e.message.contains('\n'), "{line:?}: {e}");
            e.message
        }
        Ok(c) => panic!("{line:?} was accepted: {c:?}"),
    }
}

#[test]
fn every_rollback_option_in_both_spellings() {
    let a = rollback(&[]);
    assert_eq!(a.target.fs, FsChoice::Auto);
    assert_eq!(a.status_file, None, "the default depends on the target");
    assert_eq!(a.log_level, LevelFilter::Info);
    assert_eq!(a.target.min_free, None);
    assert!(a.target.protect.is_empty() && !a.dry_run && !a.target.empty && !a.target.import);
    let spaced: Vec<&str> = "--fs btrfs --device /dev/vda2 --subvolume @root --blank @blank \
        --archive-dir old --keep 3 --keep-days 30 --protect a --protect b/c \
        --status-file /tmp/s.json --min-free-space 256M --log-level warning \
        --dataset rpool/r --snapshot s --zfs-command /sbin/zfs"
        .split_whitespace()
        .collect();
    let joined: Vec<String> = spaced
        .chunks(2)
        .map(|pair| format!("{}={}", pair[0], pair[1]))
        .collect();
    let joined: Vec<&str> = joined.iter().map(String::as_str).collect();
    for line in [&spaced[..], &joined[..]] {
        let a = rollback(line);
        assert_eq!(a.target.fs, FsChoice::Btrfs);
        assert_eq!(a.target.device, Some(PathBuf::from("/dev/vda2")));
        assert_eq!(a.target.subvolume.as_deref(), Some("@root"));
        assert_eq!(a.target.blank.as_deref(), Some("@blank"));
        assert_eq!(a.target.archive_dir.as_deref(), Some("old"));
        assert_eq!((a.target.keep, a.target.keep_days), (Some(3), Some(30)));
        assert_eq!(a.target.protect, ["a", "b/c"]);
        assert_eq!(a.status_file, Some(PathBuf::from("/tmp/s.json")));
        assert_eq!(a.target.min_free, Some(256 << 20));
        assert_eq!(a.log_level, LevelFilter::Warn);
        assert_eq!(a.target.dataset.as_deref(), Some("rpool/r"));
        assert_eq!(a.target.snapshot.as_deref(), Some("s"));
        assert_eq!(a.target.zfs_command, Some(PathBuf::from("/sbin/zfs")));
    }
    let a = rollback(&[
        "--empty",
        "--dry-run",
        "--allow-outside-initrd",
        "--import",
        "--force-import",
        "--dry-run",
    ]);
    assert!(
        a.target.empty
            && a.dry_run
            && a.allow_outside_initrd
            && a.target.import
            && a.target.force_import
    );
    for (word, level) in [
        ("error", LevelFilter::Error),
        ("warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
    ] {
        assert_eq!(rollback(&["--log-level", word]).log_level, level);
    }
    assert_eq!(rollback(&["--fs", "zfs"]).target.fs, FsChoice::Zfs);
    assert_eq!(rollback(&["--fs=auto"]).target.fs, FsChoice::Auto);
    assert_eq!(
        rollback(&["--subvolume=a=b"]).target.subvolume.as_deref(),
        Some("a=b")
    );
    assert_eq!(
        rollback(&["--subvolume", "-a"]).target.subvolume.as_deref(),
        Some("-a")
    );
    assert_eq!(
        rollback(&["--subvolume="]).target.subvolume.as_deref(),
        Some("")
    );
}

#[test]
fn status_diff_and_check_options() {
    let Ok(Command::Status(s)) = parse(words(&["status"])) else {
        panic!()
    };
    assert_eq!(s.status_file, PathBuf::from(status::DEFAULT_PATH));
    assert!(!s.json && !s.check);
    let Ok(Command::Status(s)) = parse(words(&[
        "status",
        "--json",
        "--check",
        "--status-file=/tmp/x",
    ])) else {
        panic!()
    };
    assert!(s.json && s.check && s.status_file == Path::new("/tmp/x"));
    let Ok(Command::Diff(d)) = parse(words(&[
        "diff",
        "--device",
        "/dev/vda2",
        "--root=/mnt",
        "--persisted",
        "/etc/nixos",
        "--persisted=/var/lib",
        "--persisted-from",
        "a.json",
        "--persisted-from=b.txt",
        "--config",
        "c.json",
        "--json",
        "--include-nix-managed",
        "--keep=2",
    ])) else {
        panic!()
    };
    assert_eq!(d.rollback.target.device, Some(PathBuf::from("/dev/vda2")));
    assert_eq!(d.rollback.target.keep, Some(2));
    assert_eq!(d.root, Some(PathBuf::from("/mnt")));
    assert_eq!(
        d.persisted,
        [Path::new("/etc/nixos"), Path::new("/var/lib")]
    );
    assert_eq!(d.persisted_from, [Path::new("a.json"), Path::new("b.txt")]);
    assert_eq!(d.config, Some(PathBuf::from("c.json")));
    assert!(d.json && d.include_nix_managed);
    let Ok(Command::Diff(d)) = parse(words(&["diff"])) else {
        panic!()
    };
    assert!(d.root.is_none() && d.persisted.is_empty() && !d.json);
    let Ok(Command::Check(c)) = parse(words(&[
        "check",
        "--dataset",
        "rpool/r",
        "--config=/etc/c.json",
        "--import",
    ])) else {
        panic!()
    };
    assert_eq!(c.rollback.target.dataset.as_deref(), Some("rpool/r"));
    assert!(c.rollback.target.import);
    assert_eq!(c.config, Some(PathBuf::from("/etc/c.json")));
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let see = "see blankroot --help";
    for (line, want) in [
        (
            &["rollback", "--frobnicate"][..],
            format!("unknown option --frobnicate for rollback; {see}"),
        ),
        (
            &["rollback", "--frobnicate=1"],
            format!("unknown option --frobnicate for rollback; {see}"),
        ),
        (
            &["diff", "--frobnicate"],
            format!("unknown option --frobnicate for diff; {see}"),
        ),
        (
            &["check", "--bogus"],
            format!("unknown option --bogus for check; {see}"),
        ),
        (
            &["check", "--json"],
            format!("unknown option --json for check (it goes with --stale: blankroot check --stale --json); {see}"),
        ),
        (
            &["status", "--device", "x"],
            format!("unknown option --device for status; {see}"),
        ),
        (
            &["rollback", "--device", "a", "--device", "b"],
            "--device is given twice; give it once".into(),
        ),
        (
            &["rollback", "--keep", "1", "--keep=2"],
            "--keep is given twice; give it once".into(),
        ),
        (
            &["status", "--status-file", "a", "--status-file", "b"],
            "--status-file is given twice; give it once".into(),
        ),
        (
            &["rollback", "--device"],
            format!("--device needs a value; {see}"),
        ),
        (
            &["rollback", "--device", "--dry-run"],
            format!("--device needs a value; {see}"),
        ),
        (
            &["rollback", "--dry-run=yes"],
            "--dry-run takes no value (got \"yes\")".into(),
        ),
        (
            &["rollback", "--fs", "ext4"],
            "--fs \"ext4\": use auto, btrfs or zfs".into(),
        ),
        (
            &["rollback", "--log-level", "trace"],
            "--log-level \"trace\": use error, warn, info or debug".into(),
        ),
        (
            &["rollback", "--keep", "two"],
            "--keep \"two\": not a whole number".into(),
        ),
        (
            &["rollback", "--keep-days=-1"],
            "--keep-days \"-1\": not a whole number".into(),
        ),
        (
            &["rollback", "--min-free-space", "1X"],
            "--min-free-space \"1X\": unknown unit; use K, M, G or T".into(),
        ),
        (
            &["rollback", "--min-free-space", "lots"],
            "--min-free-space \"lots\": unknown unit; use K, M, G or T".into(),
        ),
        (
            &["rollback", "--min-free-space", "M"],
            "--min-free-space \"M\": not a size like 256M".into(),
        ),
        (
            &["rollback", "--min-free-space", "99999999999T"],
            "--min-free-space \"99999999999T\": too large".into(),
        ),
        (
            &["rollback", "stray"],
            format!("unexpected argument \"stray\": a TARGET is the mount point of a target, such as / or /home; {see}"),
        ),
        (
            &[],
            "no command given; try `blankroot rollback ...` or `blankroot --help`".into(),
        ),
        (
            &["frobnicate"],
            "unknown command \"frobnicate\"; the commands are rollback, status, diff, check, archives, restore, persist, init and skip-next-boot (see blankroot --help)".into(),
        ),
    ] {
        assert_eq!(error(line), want, "{line:?}");
    }
}

#[test]
fn the_definition_is_consistent() {
    command().debug_assert();
}

#[test]
fn help_and_version_are_printed_with_exit_0() {
    let printed = |line: &[&str]| match parse(words(line)) {
        Ok(Command::Help(text)) => text,
        other => panic!("{line:?}: {other:?}"),
    };
    let version = format!("blankroot {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(printed(&["--version"]), version);
    assert_eq!(printed(&["-V"]), version);
    let top = printed(&["--help"]);
    assert_eq!(printed(&["help"]), top);
    for what in [
        "rollback: Put / back",
        "status: Print the record",
        "diff: List what the next boot erases",
        "check: Check that the next boot's rollback",
        "Exit codes: 0 done or skipped on purpose, 1 runtime failure, 2 usage",
        "`rd.blankroot=0`",
        "blankroot rollback --dataset POOL/DATASET",
    ] {
        assert!(top.contains(what), "{what:?} missing from:\n{top}");
    }
    assert!(printed(&["-h"]).contains("Exit codes"));
    for (line, what) in [
        (&["rollback", "--help"][..], "--min-free-space <SIZE>"),
        (&["rollback", "-h"], "--lock-wait <SECONDS>"),
        (&["help", "rollback"], "--prune-unmarked"),
        (&["diff", "--help"], "--persisted-from <FILE>"),
        (&["diff", "--help"], "--zfs-command <PATH>"),
        (&["check", "-h"], "--config <FILE>"),
        (
            &["check", "--device", "x", "--help"],
            "--mount-options <OPTS>",
        ),
        (&["status", "--help"], "--check"),
    ] {
        let text = printed(line);
        assert!(
            text.contains(what),
            "{line:?}: {what:?} missing from:\n{text}"
        );
        assert!(text.contains("Exit codes"), "{line:?}");
    }
    assert_eq!(
        error(&["rollback", "--version"]),
        "unknown option --version for rollback; see blankroot --help"
    );
}

#[test]
fn the_newer_rollback_options() {
    let a = rollback(&[]);
    assert_eq!(
        (a.lock_wait, a.target.prune_unmarked, a.target.mount_options),
        (None, false, None)
    );
    for line in [
        &[
            "--lock-wait",
            "30",
            "--prune-unmarked",
            "--mount-options",
            "degraded,device=/dev/vdb",
        ][..],
        &[
            "--lock-wait=30",
            "--prune-unmarked",
            "--mount-options=degraded,device=/dev/vdb",
        ],
    ] {
        let a = rollback(line);
        assert_eq!(a.lock_wait, Some(30));
        assert!(a.target.prune_unmarked);
        assert_eq!(
            a.target.mount_options.as_deref(),
            Some("degraded,device=/dev/vdb")
        );
    }
    assert_eq!(
        error(&["rollback", "--lock-wait", "1.5"]),
        "--lock-wait \"1.5\": not a whole number"
    );
    assert_eq!(
        error(&["rollback", "--lock-wait=1", "--lock-wait=2"]),
        "--lock-wait is given twice; give it once"
    );
    let Ok(Command::Diff(d)) = parse(words(&["diff", "--lock-wait", "5", "--prune-unmarked"]))
    else {
        panic!()
    };
    assert_eq!(
        (d.rollback.lock_wait, d.rollback.target.prune_unmarked),
        (Some(5), true)
    );
    let Ok(Command::Check(c)) = parse(words(&["check", "--mount-options", "degraded"])) else {
        panic!()
    };
    assert_eq!(c.rollback.target.mount_options.as_deref(), Some("degraded"));
    let a =
        parse_rollback_words(["--lock-wait", "7", "--prune-unmarked"].map(OsString::from)).unwrap();
    assert_eq!((a.lock_wait, a.target.prune_unmarked), (Some(7), true));
}

#[test]
fn values_that_are_not_utf8() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(b"/dev/\xff".to_vec());
    let mut line = words(&["rollback", "--device"]);
    line.push(bad.clone());
    let Ok(Command::Rollback(a)) = parse(line) else {
        panic!()
    };
    assert_eq!(a.rollback.target.device, Some(PathBuf::from(&bad)));
    let mut line = words(&["rollback", "--subvolume"]);
    line.push(bad);
    let e = parse(line).unwrap_err();
    assert_eq!(e.message, "--subvolume \"/dev/\\xFF\": not UTF-8");
}

#[test]
fn sizes() {
    assert_eq!(size("--x", "1048576"), Ok(1 << 20));
    assert_eq!(size("--x", "512K"), Ok(512 << 10));
    assert_eq!(size("--x", "256m"), Ok(256 << 20));
    assert_eq!(size("--x", "2G"), Ok(2 << 30));
    assert_eq!(size("--x", "1T"), Ok(1 << 40));
    assert_eq!(size("--x", "0"), Ok(0));
    assert_eq!(
        size("--x", "").unwrap_err().message,
        "--x \"\": not a size like 256M"
    );
    assert_eq!(
        size("--x", "16777216T").unwrap_err().message,
        "--x \"16777216T\": too large"
    );
}

#[test]
fn the_configuration_words_parse_as_the_rollback_options() {
    let a =
        parse_rollback_words(["--device", "/dev/vda2", "--protect=x"].map(OsString::from)).unwrap();
    assert_eq!(a.target.device, Some(PathBuf::from("/dev/vda2")));
    assert_eq!(a.target.protect, ["x"]);
    let e = parse_rollback_words(["--bogus"].map(OsString::from)).unwrap_err();
    assert_eq!(
        e.message,
        "unknown option --bogus for rollback; see blankroot --help"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(parse_rollback_words(["--help"].map(OsString::from)).is_err());
    assert!(parse_rollback_words(["rollback"].map(OsString::from)).is_err());
    assert!(parse_rollback_words(["--device"].map(OsString::from)).is_err());
}
