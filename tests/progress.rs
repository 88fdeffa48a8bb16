//! The progress line of long work (`src/progress.rs`): with `BLANKROOT_PROGRESS=1`, `diff` and
//! `persist` count on stderr what they compared or copied, ending with the totals; stdout is the
//! same byte for byte with it, without it, and with `BLANKROOT_PROGRESS=0`; stderr that is not a
//! terminal (a script, a unit) never gets it unasked.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&std::ffi::OsStr], progress: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blankroot"));
    c.args(args).env_remove("BLANKROOT_KERNEL_CMDLINE");
    match progress {
        Some(v) => c.env("BLANKROOT_PROGRESS", v),
        None => c.env_remove("BLANKROOT_PROGRESS"),
    };
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 2,000 files in 4 directories, and 5 more entries: 2,009 entries to compare or copy.
fn fill(top: &Path) {
    for d in 0..4 {
        let dir = top.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..500 {
            fs::write(dir.join(format!("f{f:03}")), "x".repeat(f)).unwrap();
        }
    }
    fs::create_dir(top.join("e")).unwrap();
    for n in ["e/a", "e/b", "e/c", "e/d"] {
        fs::write(top.join(n), "").unwrap();
    }
}

#[test]
fn diff_counts_what_it_compares_on_stderr_only() {
    if !common::root_or_skip("diff progress") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fill(&root);
    let args = [
        "diff".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--include-nix-managed".as_ref(),
    ];
    let quiet = run(&args, None);
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert!(
        !stderr(&quiet).contains("entries"),
        "unasked: {}",
        stderr(&quiet)
    );
    let off = run(&args, Some("0"));
    let on = run(&args, Some("1"));
    assert_eq!(on.status.code(), Some(0));
    assert_eq!(
        on.stdout, quiet.stdout,
        "stdout changed by the progress line"
    );
    assert_eq!(off.stdout, quiet.stdout);
    assert!(!stderr(&off).contains("entries"), "{}", stderr(&off));
    let e = stderr(&on);
    assert!(
        e.lines()
            .any(|l| l == "blankroot diff: 2,009 entries, done"),
        "the totals: {e}"
    );
    // On the way: lines with the count so far and the seconds.
    let during: Vec<&str> = e
        .lines()
        .filter(|l| l.starts_with("blankroot diff: ") && l.ends_with(" s"))
        .collect();
    assert!(!during.is_empty(), "no line on the way: {e}");
}

#[test]
fn persist_counts_entries_and_bytes() {
    if !common::root_or_skip("persist progress") {
        return;
    }
    // A store on / is refused (the next boot would wipe it): both on a tmpfs of their own.
    let dir = tempfile::tempdir().unwrap();
    common::sh(
        "mount",
        &["-t", "tmpfs", "tmpfs", dir.path().to_str().unwrap()],
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let (live, store) = (dir.path().join("live"), dir.path().join("store"));
    fill(&live);
    fs::create_dir(&store).unwrap();
    let bytes: u64 = (0..500u64).sum::<u64>() * 4;
    let o = run(
        &[
            "persist".as_ref(),
            "--to".as_ref(),
            store.as_os_str(),
            live.as_os_str(),
        ],
        Some("1"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = format!(
        "blankroot persist: 2,010 entries, {}, done",
        blankroot::archived::size(bytes)
    );
    assert!(
        stderr(&o).lines().any(|l| l == want),
        "want {want:?}: {}",
        stderr(&o)
    );
    assert_eq!(
        fs::read_dir(store.join(live.strip_prefix("/").unwrap()).join("d3"))
            .unwrap()
            .count(),
        500
    );
}
