//! A nearly full disk must never leave the machine without a root (issue 9, defect 1).
//!
//! A 120 MiB btrfs with the layout of itsdrike's NixOS guide (its "Impermanence" chapter): its data space filled to ENOSPC, its metadata filled
//! with 3.9 KB extended attributes until ENOSPC, then some of them removed again, at levels from
//! "nothing given back" to "plenty". At every level, in delete and archive mode, after every run
//! (succeeded or failed) and after a second run: a subvolume named `root` exists and is either
//! the old root or a copy of the blank, and nothing else changed. The same again with the
//! headroom check turned off (a test-only switch of the `failpoints` build), so the runs go on
//! into the kernel's ENOSPC part-way through their steps: even then the root is never missing.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;

const XATTR: usize = 3900;

struct Full {
    img: Image,
    old_root: u64,
}

/// The image, filled; `give_back` KiB of the metadata filling removed again.
fn full(give_back: u64) -> Full {
    let img = Image::new(120);
    seed_layout(&img, true);
    let m = img.mount();
    let old_root = m.id("root");
    if let Ok(mut f) = fs::File::create(m.path("persist/fill")) {
        let chunk = vec![0u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
    }
    sh("sync", &[]);
    fs::create_dir_all(m.path("persist/x")).unwrap();
    let mut set = Vec::new();
    'fill: for file in 0.. {
        let p = m.path(&format!("persist/x/{file}"));
        if fs::File::create(&p).is_err() {
            break;
        }
        for j in 0..50 {
            let name = format!("user.x{j}");
            let value = vec![b'a'; XATTR];
            if rustix::fs::setxattr(&p, &name, &value, rustix::fs::XattrFlags::empty()).is_err() {
                break 'fill;
            }
            set.push((p.clone(), name));
        }
    }
    sh("sync", &[]);
    let mut freed = 0;
    while freed < give_back * 1024 {
        let Some((p, name)) = set.pop() else { break };
        let _ = rustix::fs::removexattr(&p, &name);
        freed += XATTR as u64;
    }
    sh("sync", &[]);
    drop(m);
    Full { img, old_root }
}

/// What must never change: the subvolumes beside the root, with their content (the big filling
/// of persist by size and count only).
fn kept(m: &Mount) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in ["home", "nix", "log", "root-blank"] {
        out.insert(s.to_string(), format!("{} {:?}", m.id(s), m.tree(s)));
    }
    let fill = fs::metadata(m.path("persist/fill"))
        .map(|md| md.len())
        .unwrap_or(0);
    let xfiles = fs::read_dir(m.path("persist/x")).unwrap().count();
    out.insert(
        "persist".into(),
        format!(
            "{} {:?} {:?} fill={fill} x={xfiles}",
            m.id("persist"),
            fs::read_to_string(m.path("persist/kept")).ok(),
            fs::read_to_string(m.path("persist/etc/machine-id")).ok(),
        ),
    );
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Root {
    Old,
    Blank,
}

/// The root exists and is the old root or a copy of the blank; which one.
#[track_caller]
fn root_boots(m: &Mount, old_root: u64, what: &str) -> Root {
    assert!(m.is_subvolume("root"), "{what}: no root: {:?}", m.ls(""));
    if m.id("root") == old_root {
        assert!(
            m.exists("root/etc/canary"),
            "{what}: the old root lost its files"
        );
        Root::Old
    } else {
        assert_eq!(
            m.tree("root"),
            m.tree("root-blank"),
            "{what}: the root is neither"
        );
        Root::Blank
    }
}

/// Runs every level; returns (level, first run's exit code and the step it failed at) for each.
fn every_level(args: &[&str], ignore_headroom: bool) -> Vec<(u64, i32, Option<String>)> {
    let mut seen = Vec::new();
    for give_back in (0..=12_000).step_by(400) {
        let f = full(give_back);
        let before = kept(&f.img.mount());
        for attempt in 1..=2 {
            let what = format!("{args:?} give back {give_back} KiB, run {attempt}");
            let root_before = f.img.mount().id("root");
            let mut cmd = f.img.blankroot(args);
            if ignore_headroom {
                cmd.env("BLANKROOT_IGNORE_HEADROOM", "1");
            }
            let run = Run::of(cmd.output().unwrap());
            assert!(run.code == 0 || run.code == 1, "{what}: {}", run.stderr);
            let m = f.img.mount();
            let root = root_boots(&m, f.old_root, &what);
            assert_eq!(
                kept(&m),
                before,
                "{what}: something beside the root changed"
            );
            if run.code == 0 {
                assert_eq!(
                    root,
                    Root::Blank,
                    "{what}: success, but the old root is still there"
                );
            } else if !ignore_headroom {
                // Refused before anything: the root as it was, nothing staged.
                assert_eq!(m.id("root"), root_before, "{what}");
                assert!(attempt == 2 || root == Root::Old, "{what}");
                assert!(
                    run.stderr.contains("nothing was changed"),
                    "{what}: {}",
                    run.stderr
                );
                assert!(!m.exists(".blankroot-new-root"), "{what}: staged anyway");
            }
            if attempt == 1 {
                let step = run
                    .stderr
                    .lines()
                    .find(|l| l.contains("error: step "))
                    .map(|l| l.split(" failed").next().unwrap_or(l).to_string());
                seen.push((give_back, run.code, step));
            }
        }
    }
    seen
}

fn check(args: &[&str]) {
    let seen = every_level(args, false);
    // The levels span both answers: refused at the fullest, done with room to spare.
    assert!(seen.iter().any(|s| s.1 == 1), "{seen:?}");
    assert!(seen.iter().any(|s| s.1 == 0), "{seen:?}");
    let refused_at = |s: &(u64, i32, Option<String>)| s.1 == 1;
    let last_refused = seen.iter().filter(|s| refused_at(s)).map(|s| s.0).max();
    let first_done = seen.iter().filter(|s| !refused_at(s)).map(|s| s.0).min();
    eprintln!("{args:?}: refused up to {last_refused:?} KiB given back, done from {first_done:?}");
}

#[test]
fn a_nearly_full_disk_is_refused_up_front_or_rolled_back() {
    if !root_or_skip("full_disk") {
        return;
    }
    check(&[]);
    check(&["--archive-dir", "old_roots", "--min-free-space", "0"]);
}

/// Without the up-front check the kernel refuses a step part-way (the swap, or the move into
/// the archive): the root is still there, and the next run either finishes or fails the same
/// way with the root still there.
#[cfg(feature = "failpoints")]
#[test]
fn even_a_step_refused_part_way_leaves_a_root() {
    if !root_or_skip("full_disk_part_way") {
        return;
    }
    for args in [
        &[][..],
        &["--archive-dir", "old_roots", "--min-free-space", "0"][..],
    ] {
        let seen = every_level(args, true);
        let late: Vec<_> = seen
            .iter()
            .filter(|s| s.2.as_deref().is_some_and(|st| !st.contains("step 1/")))
            .collect();
        assert!(
            !late.is_empty(),
            "{args:?}: no run failed part-way, so this test proves nothing: {seen:?}"
        );
        eprintln!("{args:?}: failed part-way at {late:?}");
    }
}
