//! Crash tests: kill blankroot (SIGKILL, no cleanup) before each step of its plan, check that
//! nothing that should persist was lost, run it again, and check the result is exactly right.
//! Needs the `failpoints` feature: `cargo test --features failpoints`.
#![cfg(feature = "failpoints")]

mod common;
use common::*;
use std::collections::BTreeMap;

fn crash_at(img: &Image, args: &[&str], step: usize) -> Run {
    let out = img
        .blankroot(args)
        .env("BLANKROOT_FAILPOINT", format!("step-{step}"))
        .output()
        .unwrap();
    img.unmount_leftovers();
    Run::of(out)
}

fn archives(m: &Mount) -> Vec<String> {
    m.ls("old_roots")
        .into_iter()
        .filter(|n| m.is_subvolume(&format!("old_roots/{n}")))
        .map(|n| format!("old_roots/{n}"))
        .collect()
}

/// Crashes before every step in turn (on a fresh disk each time), reruns, and checks with `check`.
fn every_step(setup: impl Fn(&Image), args: &[&str], check: impl Fn(&Image, usize)) {
    let mut step = 1;
    loop {
        let img = Image::new(256);
        seed_layout(&img, true);
        setup(&img);
        let persistent = persistent_state(&img.mount());
        let run = crash_at(&img, args, step);
        let finished = run.code == 0;
        assert!(
            finished || run.code == -1,
            "step {step}: neither killed nor finished: {}",
            run.stderr
        );
        // The swap: the root's name exists at every instant (issue 9, defect 6).
        assert!(
            img.mount().is_subvolume("root"),
            "step {step}: killed there, the disk has no root"
        );
        assert_eq!(
            persistent_state(&img.mount()),
            persistent,
            "step {step}: a crash touched what must persist"
        );
        img.rollback(args).ok();
        let m = img.mount();
        assert!(
            m.is_subvolume("root") && !m.read_only("root"),
            "step {step}: no writable root"
        );
        assert!(!m.exists("root/etc/canary"), "step {step}: canary survived");
        assert!(
            !m.exists(".blankroot-new-root"),
            "step {step}: staging left behind"
        );
        assert_eq!(
            persistent_state(&m),
            persistent,
            "step {step}: rerun touched what must persist"
        );
        drop(m);
        check(&img, step);
        if finished {
            assert!(step > 5, "the plan has more than 4 steps");
            return;
        }
        step += 1;
    }
}

#[test]
fn delete_mode_survives_a_crash_before_any_step() {
    if !root_or_skip("crash_delete") {
        return;
    }
    every_step(
        |_| {},
        &[],
        |img, step| {
            let m = img.mount();
            assert_eq!(m.tree("root"), m.tree("root-blank"), "step {step}");
            let names: Vec<String> = m.subvolumes().into_keys().collect();
            assert_eq!(
                names,
                ["home", "log", "nix", "persist", "root", "root-blank"],
                "step {step}"
            );
        },
    );
}

#[test]
fn empty_mode_survives_a_crash_before_any_step() {
    if !root_or_skip("crash_empty") {
        return;
    }
    every_step(
        |_| {},
        &["--empty"],
        |img, step| assert!(img.mount().ls("root").is_empty(), "step {step}"),
    );
}

#[test]
fn archive_mode_with_pruning_survives_a_crash_before_any_step() {
    if !root_or_skip("crash_archive") {
        return;
    }
    let setup = |img: &Image| {
        let m = img.mount();
        m.mkdir("old_roots");
        for name in [
            "2020-01-01T00:00:00Z",
            "2020-01-02T00:00:00Z",
            "2020-01-03T00:00:00Z",
        ] {
            m.subvol(&format!("old_roots/{name}"))
                .mark_archive(&format!("old_roots/{name}"))
                .write(&format!("old_roots/{name}/etc/canary"), name);
        }
        m.subvol("old_roots/2020-01-01T00:00:00Z/nested")
            .set_ro("old_roots/2020-01-01T00:00:00Z", true);
        m.mkdir("old_roots/not-an-archive")
            .write("old_roots/not-an-archive/keep", "me");
    };
    every_step(
        setup,
        &["--archive-dir", "old_roots", "--keep", "2"],
        |img, step| {
            let m = img.mount();
            let kept = archives(&m);
            assert_eq!(kept.len(), 2, "step {step}: {kept:?}");
            let canaries: BTreeMap<String, String> = kept
                .iter()
                .filter_map(|a| {
                    Some((
                        a.clone(),
                        std::fs::read_to_string(m.path(&format!("{a}/etc/canary"))).ok()?,
                    ))
                })
                .collect();
            assert!(
                canaries.values().any(|c| c == "gone after rollback\n"),
                "step {step}: the archived root was lost: {canaries:?}"
            );
            assert!(
                kept.iter().all(|a| !a.starts_with("old_roots/2020-01-01")),
                "step {step}: oldest not pruned"
            );
            assert_eq!(
                std::fs::read_to_string(m.path("old_roots/not-an-archive/keep")).unwrap(),
                "me"
            );
            assert_eq!(m.tree("root"), m.tree("root-blank"), "step {step}");
        },
    );
}

#[test]
fn two_crashes_in_a_row_still_converge() {
    if !root_or_skip("crash_twice") {
        return;
    }
    for (first, second) in [(3, 2), (5, 3), (9, 1), (2, 6)] {
        let img = Image::new(256);
        seed_layout(&img, true);
        let persistent = persistent_state(&img.mount());
        crash_at(&img, &[], first);
        assert!(
            img.mount().is_subvolume("root"),
            "killed at {first}: no root"
        );
        crash_at(&img, &[], second);
        assert!(
            img.mount().is_subvolume("root"),
            "killed at {second}: no root"
        );
        img.rollback(&[]).ok();
        let m = img.mount();
        assert_eq!(
            m.tree("root"),
            m.tree("root-blank"),
            "crashes at {first} then {second}"
        );
        assert_eq!(persistent_state(&m), persistent);
        assert_eq!(m.subvolumes().len(), 6, "{:?}", m.subvolumes());
    }
}
