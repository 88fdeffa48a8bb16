//! Archive mode killed (SIGKILL, `BLANKROOT_FAILPOINT=step-N`) before every step and after the
//! last, on real pools: the next run must finish the job, the root must exist again with the
//! blank's content and its properties, the old root's content must be in an archive, and the
//! datasets beside the root must be untouched.
#![cfg(feature = "failpoints")]

mod common;
mod common_zfs;
use common::Run;
use common_zfs::*;
use std::os::unix::process::ExitStatusExt;

/// Runs blankroot with the failpoint and checks it was killed there.
fn crash_at(pool: &Pool, args: &[&str], step: usize) {
    let out = pool
        .blankroot(args)
        .env("BLANKROOT_FAILPOINT", format!("step-{step}"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "step-{step}: not killed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The archives that hold a canary with `text`.
fn archives_with(pool: &Pool, text: &str) -> Vec<String> {
    pool.archives()
        .into_iter()
        .filter(|a| {
            pool.tree(a).get("etc/canary") == Some(&format!("file 644 {:?}", format!("{text}\n")))
        })
        .collect()
}

/// The first archive run: create the parent, clone, mark, rename, rename, promote.
#[test]
fn first_archive_run_killed_at_each_step_is_finished_by_the_next() {
    if !zfs_or_skip("crash_first_run") {
        return;
    }
    // Archives after the rerun: one, except when the crash came after the new root had its
    // name (steps 6 and 7): it may have been booted from, so it is archived too.
    for (step, archives) in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 2), (7, 2)] {
        let pool = Pool::new();
        pool.seed();
        let before = pool.persistent_state();
        let parent = pool.ds("local/old_roots");
        let args = ["--archive-dir", parent.as_str()];
        crash_at(&pool, &args, step);
        // ZFS has no rename that swaps two names: only between the two renames (before step 5)
        // is the root's name free, and then the staging clone is there to take it.
        if step == 5 {
            assert!(!pool.exists(&pool.root()));
            assert!(pool.exists(&pool.ds("local/.blankroot-new-root")));
        } else {
            assert!(pool.exists(&pool.root()), "step-{step}: no root");
        }
        let run: Run = pool.rollback(&args);
        run.ok();
        pool.assert_root_is_blank();
        assert_eq!(pool.persistent_state(), before, "step-{step}");
        assert_eq!(
            pool.archives().len(),
            archives,
            "step-{step}: {:?}",
            pool.archives()
        );
        assert_eq!(
            archives_with(&pool, "gone after rollback").len(),
            1,
            "step-{step}: the old root is kept"
        );
        for a in pool.archives() {
            assert_eq!(pool.get("origin", &a), format!("{}@blank", pool.root()));
        }
        if step == 5 {
            assert!(
                run.stderr.contains("stopped between its two renames"),
                "{}",
                run.stderr
            );
            assert!(pool.status()["warnings"][0]
                .as_str()
                .unwrap()
                .contains("stopped part-way"));
        }
        // And the next boot is an ordinary one.
        pool.write(&pool.root(), &[("etc/canary", "next boot\n")]);
        pool.rollback(&args).ok();
        pool.assert_root_is_blank();
        assert_eq!(archives_with(&pool, "next boot").len(), 1);
    }
}

/// A later run with pruning (--keep 1): clone, destroy the old archive, mark, rename, rename,
/// promote.
#[test]
fn pruning_run_killed_at_each_step_is_finished_by_the_next() {
    if !zfs_or_skip("crash_pruning_run") {
        return;
    }
    for step in 1..=7 {
        let pool = Pool::new();
        pool.seed();
        let before = pool.persistent_state();
        let parent = pool.ds("local/old_roots");
        let args = ["--archive-dir", parent.as_str(), "--keep", "1"];
        pool.rollback(&args).ok();
        pool.write(&pool.root(), &[("etc/canary", "second boot\n")]);
        crash_at(&pool, &args, step);
        pool.rollback(&args).ok();
        pool.assert_root_is_blank();
        assert_eq!(pool.persistent_state(), before, "step-{step}");
        assert_eq!(pool.archives().len(), 1, "step-{step}: --keep 1");
        // The second boot's root is kept unless a later archive replaced it under --keep 1
        // (crash after the new root had its name: it may have been booted from).
        let kept = archives_with(&pool, "second boot").len();
        assert_eq!(kept, usize::from(step < 6), "step-{step}");
    }
}

/// Delete mode after an archive run was killed between its renames: the root comes back.
#[test]
fn delete_mode_finishes_an_interrupted_archive_run() {
    if !zfs_or_skip("crash_then_delete_mode") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let parent = pool.ds("local/old_roots");
    crash_at(&pool, &["--archive-dir", &parent], 5);
    assert!(!pool.exists(&pool.root()));
    pool.rollback(&[]).ok();
    pool.assert_root_is_blank();
    assert_eq!(archives_with(&pool, "gone after rollback").len(), 1);
}
