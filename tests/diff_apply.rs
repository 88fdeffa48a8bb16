//! Property tests: for random trees and random changes, `blankroot diff` lists exactly the paths a
//! brute-force comparison finds, and applying its listing to a copy of the blank reproduces the
//! live tree. Once on plain directories (every file compared by its bytes), once on btrfs
//! (snapshots sharing inodes: the fast path, and nested subvolumes).

mod common;
mod diff_common;

use blankroot::commands::diff::filter::Filter;
use blankroot::commands::diff::walk::{open_path, Walker};
use diff_common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn library_listing(live: &Path, blank: &Path) -> Vec<Listed> {
    let filter = Filter {
        include_nix_managed: true,
        ..Filter::default()
    };
    let (l, b) = (open_path(live).unwrap(), open_path(blank).unwrap());
    let d = Walker::new(&filter).compare(&l, Some(&b));
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    d.entries
        .iter()
        .map(|e| Listed {
            path: e.path.as_os_str().as_bytes().to_vec(),
            change: e.change.word().to_string(),
            kind: e.kind.word().to_string(),
            what: e.what.iter().map(|w| w.word().to_string()).collect(),
            subvolume: e.subvolume,
        })
        .collect()
}

fn cp_a(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plain_directories(base in proptest::collection::vec(op(), 0..30),
                         changes in proptest::collection::vec(op(), 0..30)) {
        let dir = tempfile::tempdir().unwrap();
        let (blank, live, copy) = (dir.path().join("blank"), dir.path().join("live"), dir.path().join("copy"));
        for d in [&blank, &live, &copy] {
            std::fs::create_dir(d).unwrap();
        }
        skeleton(&blank);
        for o in &base {
            apply_op(&blank, o, false);
        }
        cp_a(&blank, &live);
        cp_a(&blank, &copy);
        for o in &changes {
            apply_op(&live, o, false);
        }
        let list = library_listing(&live, &blank);
        prop_assert_eq!(path_set(&list), brute_force(&live, &blank));
        apply(&list, &live, &copy);
        prop_assert_eq!(describe(&copy), describe(&live));
    }
}

#[test]
fn btrfs_snapshots_and_nested_subvolumes() {
    if !common::root_or_skip("diff btrfs property test") {
        return;
    }
    let img = common::Image::new(1024);
    let m = img.mount();
    let n = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: cases(40),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(op(), 0..30),
        proptest::collection::vec(op(), 0..30),
    );
    runner
        .run(&strategy, |(base, changes)| {
            n.set(n.get() + 1);
            let n = n.get();
            let (live, blank, copy) =
                (format!("c{n}"), format!("c{n}-blank"), format!("c{n}-copy"));
            m.subvol(&live);
            skeleton(&m.path(&live));
            for o in &base {
                apply_op(&m.path(&live), o, false);
            }
            m.snapshot(&live, &blank, true);
            for o in &changes {
                apply_op(&m.path(&live), o, true);
            }
            let json = diff_json(&[
                OsStr::new("--device"),
                img.dev.as_os_str(),
                OsStr::new("--subvolume"),
                OsStr::new(&live),
                OsStr::new("--blank"),
                OsStr::new(&blank),
                OsStr::new("--include-nix-managed"),
            ]);
            let list = listed(&json);
            prop_assert_eq!(
                path_set(&list),
                brute_force(&m.path(&live), &m.path(&blank))
            );
            m.snapshot(&blank, &copy, false);
            apply(&list, &m.path(&live), &m.path(&copy));
            prop_assert_eq!(describe(&m.path(&copy)), describe(&m.path(&live)));
            Ok(())
        })
        .unwrap();
}
