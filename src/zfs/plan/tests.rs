use super::*;
use crate::retention::Policy;
use crate::zfs::model::Map;
use crate::zfs::model::Snap;
use crate::zfs::name::Dataset;
use crate::zfs::{ArchiveTo, Import};

const NOW: i64 = 1_795_314_050; // 2026-11-22T02:20:50Z
const DAY: i64 = 86_400;

fn ds(mountpoint: &str, canmount: &str, local: &[(&str, &str)], snaps: &[&str]) -> Ds {
    Ds {
        kind: Kind::Filesystem,
        origin: None,
        mounted: false,
        mountpoint: mountpoint.into(),
        canmount: canmount.into(),
        local: local
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        snapshots: Some(
            snaps
                .iter()
                .map(|n| Snap {
                    name: n.to_string(),
                    held: false,
                })
                .collect(),
        ),
        mark: None,
    }
}

/// The ZFS posts of saylesss88 (2026): rpool/local/root@blank, rpool/local/nix, rpool/safe/home, rpool/safe/persist.
/// The root has a snapshot newer than the blank (`later`), which stands for its content.
fn seed() -> Pool {
    let legacy = [("mountpoint", "legacy")];
    let mut p = Pool::default();
    let mut put = |n: &str, d: Ds| {
        p.datasets.insert(n.to_string(), d);
    };
    put(
        "rpool",
        ds(
            "none",
            "off",
            &[("mountpoint", "none"), ("canmount", "off")],
            &[],
        ),
    );
    put("rpool/local", ds("none", "on", &[], &[]));
    put(
        "rpool/local/root",
        ds(
            "legacy",
            "noauto",
            &[
                ("canmount", "noauto"),
                ("mountpoint", "legacy"),
                ("com.sun:auto-snapshot", "false"),
            ],
            &["blank", "later"],
        ),
    );
    put("rpool/local/nix", ds("legacy", "on", &legacy, &["n1"]));
    put("rpool/safe", ds("none", "on", &[], &[]));
    put("rpool/safe/home", ds("legacy", "on", &legacy, &[]));
    put("rpool/safe/persist", ds("legacy", "on", &legacy, &[]));
    p
}

fn cfg(archive: Option<Policy>) -> Config {
    Config {
        dataset: Dataset::parse("x", "rpool/local/root").unwrap(),
        snapshot: "blank".into(),
        import: Import::No,
        archive: archive.map(|policy| ArchiveTo {
            parent: Dataset::parse("x", "rpool/local/old_roots").unwrap(),
            policy,
        }),
        zfs_command: None,
        prune_unmarked: false,
    }
}

fn keep(n: u32) -> Option<Policy> {
    Some(Policy {
        keep: Some(n),
        keep_days: None,
    })
}

fn facts(pool: &Pool, now: i64) -> Facts {
    Facts {
        pool: pool.clone(),
        now,
    }
}

fn commands(p: &Plan) -> Vec<String> {
    p.steps.iter().map(Step::command).collect()
}

fn apply(pool: &mut Pool, plan: &Plan, steps: usize) {
    for s in &plan.steps[..steps] {
        pool.apply(&s.effect).unwrap();
    }
}

fn siblings(p: &Pool) -> Map<Ds> {
    p.datasets
        .iter()
        .filter(|(n, _)| {
            !n.starts_with("rpool/local/root")
                && !n.starts_with("rpool/local/old_roots")
                && !n.starts_with("rpool/local/.blankroot")
        })
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect()
}

fn archives(p: &Pool) -> Vec<String> {
    p.children("rpool/local/old_roots")
        .map(|(n, _)| n.clone())
        .collect()
}

/// The state every finished run leaves: the root holds the blank and is nobody's clone, it keeps
/// its properties, the staging name is free, the other datasets are as they were.
#[track_caller]
fn assert_finished(p: &Pool, before: &Pool) {
    let root = p.get("rpool/local/root").expect("the root exists");
    assert!(root.has_snapshot("blank"), "{root:?}");
    assert_eq!(root.origin, None);
    assert_eq!(root.mountpoint, "legacy");
    assert_eq!(root.canmount, "noauto");
    assert_eq!(
        root.local.get("com.sun:auto-snapshot").map(String::as_str),
        Some("false")
    );
    assert!(p.get("rpool/local/.blankroot-new-root").is_none());
    assert_eq!(siblings(p), siblings(before));
}

#[test]
fn delete_mode_is_one_rollback_and_reports_newer_snapshots() {
    let p = plan(&cfg(None), &facts(&seed(), NOW)).unwrap();
    assert_eq!(commands(&p), ["zfs rollback -r rpool/local/root@blank"]);
    assert_eq!(p.destroyed_snapshots, ["rpool/local/root@later"]);
    assert!(p.warnings[0].contains("auto-snapshot"), "{:?}", p.warnings);
    assert_eq!(
        p.to_string(),
        "  1. zfs rollback -r rpool/local/root@blank   # put the root back to the blank\n"
    );
}

#[test]
fn delete_mode_refuses_held_or_cloned_newer_snapshots() {
    let mut pool = seed();
    pool.datasets
        .get_mut("rpool/local/root")
        .unwrap()
        .snapshots
        .as_mut()
        .unwrap()[1]
        .held = true;
    let e = plan(&cfg(None), &facts(&pool, NOW)).unwrap_err();
    assert!(e.message.contains("is held"), "{}", e.message);
    let mut pool = seed();
    let mut clone = ds("legacy", "on", &[], &[]);
    clone.origin = Some("rpool/local/root@later".into());
    pool.datasets.insert("rpool/safe/c".into(), clone);
    let e = plan(&cfg(None), &facts(&pool, NOW)).unwrap_err();
    assert!(
        e.message.contains("origin of rpool/safe/c"),
        "{}",
        e.message
    );
    assert!(e.message.contains("nothing was changed"));
}

#[test]
fn preflight_errors_name_the_problem() {
    let mut pool = seed();
    pool.datasets.remove("rpool/local/root");
    let e = plan(&cfg(None), &facts(&pool, NOW)).unwrap_err();
    assert!(
        e.message
            .starts_with("dataset rpool/local/root does not exist"),
        "{}",
        e.message
    );

    let mut pool = seed();
    pool.datasets.get_mut("rpool/local/root").unwrap().snapshots = Some(vec![Snap {
        name: "other".into(),
        held: false,
    }]);
    let e = plan(&cfg(keep(3)), &facts(&pool, NOW)).unwrap_err();
    assert!(
        e.message
            .starts_with("snapshot rpool/local/root@blank does not exist (its snapshots: other)"),
        "{}",
        e.message
    );

    let mut pool = seed();
    pool.datasets.get_mut("rpool/local/root").unwrap().mounted = true;
    let e = plan(&cfg(None), &facts(&pool, NOW)).unwrap_err();
    assert!(e.message.contains("is mounted"), "{}", e.message);

    let mut pool = seed();
    pool.datasets.insert(
        "rpool/local/.blankroot-new-root".into(),
        ds("legacy", "on", &[], &[]),
    );
    let e = plan(&cfg(None), &facts(&pool, NOW)).unwrap_err();
    assert!(e.message.contains("not a clone"), "{}", e.message);
}

#[test]
fn archive_mode_clones_renames_and_promotes() {
    let before = seed();
    let p = plan(&cfg(keep(3)), &facts(&before, NOW)).unwrap();
    assert_eq!(
        commands(&p),
        [
            "zfs create -o canmount=off -o mountpoint=none rpool/local/old_roots",
            "zfs clone -o canmount=noauto -o com.sun:auto-snapshot=false -o mountpoint=legacy rpool/local/root@blank rpool/local/.blankroot-new-root",
            "zfs set org.blankroot:archive=2026-11-22T02:20:50Z rpool/local/root",
            "zfs rename rpool/local/root rpool/local/old_roots/2026-11-22T02:20:50Z",
            "zfs rename rpool/local/.blankroot-new-root rpool/local/root",
            "zfs promote rpool/local/root",
        ]
    );
    assert_eq!(
        p.archive.as_deref(),
        Some("rpool/local/old_roots/2026-11-22T02:20:50Z")
    );
    assert!(p.destroyed_snapshots.is_empty());
    let mut pool = before.clone();
    apply(&mut pool, &p, p.steps.len());
    assert_finished(&pool, &before);
    let a = pool
        .get("rpool/local/old_roots/2026-11-22T02:20:50Z")
        .unwrap();
    assert_eq!(a.origin.as_deref(), Some("rpool/local/root@blank"));
    assert!(
        a.has_snapshot("later"),
        "the newer snapshot went with the archive"
    );
    assert_eq!(a.canmount, "noauto");
    assert_eq!(a.mark.as_deref(), Some("2026-11-22T02:20:50Z"));
    let root = pool.get("rpool/local/root").unwrap();
    assert!(
        !root.local.contains_key("org.blankroot:archive"),
        "the new root does not carry the mark: {root:?}"
    );
}

#[test]
fn archive_mode_refuses_what_it_would_move_or_mount() {
    let mut pool = seed();
    pool.datasets
        .insert("rpool/local/root/var".into(), ds("legacy", "on", &[], &[]));
    let e = plan(&cfg(keep(3)), &facts(&pool, NOW)).unwrap_err();
    assert!(
        e.message
            .contains("has child datasets (rpool/local/root/var)"),
        "{}",
        e.message
    );
    assert!(
        plan(&cfg(None), &facts(&pool, NOW)).is_ok(),
        "delete mode leaves children alone"
    );

    let mut pool = seed();
    let root = pool.datasets.get_mut("rpool/local/root").unwrap();
    root.canmount = "on".into();
    root.mountpoint = "/".into();
    let e = plan(&cfg(keep(3)), &facts(&pool, NOW)).unwrap_err();
    assert!(e.message.contains("canmount=noauto"), "{}", e.message);

    let mut pool = seed();
    let root = pool.datasets.get_mut("rpool/local/root").unwrap();
    root.canmount = "on".into();
    root.local.remove("canmount");
    root.local.remove("mountpoint");
    pool.datasets
        .insert("rpool/local/old_roots".into(), ds("/old", "on", &[], &[]));
    let e = plan(&cfg(keep(3)), &facts(&pool, NOW)).unwrap_err();
    assert!(
        e.message
            .contains("mountpoint=none on rpool/local/old_roots"),
        "{}",
        e.message
    );

    let mut pool = seed();
    pool.datasets.remove("rpool/local");
    let mut c = cfg(keep(3));
    c.archive.as_mut().unwrap().parent = Dataset::parse("x", "rpool/gone/old").unwrap();
    let e = plan(&c, &facts(&pool, NOW)).unwrap_err();
    assert!(
        e.message.contains("neither does rpool/gone"),
        "{}",
        e.message
    );
}

#[test]
fn retention_across_runs_keeps_the_newest_and_the_count() {
    let before = seed();
    let mut pool = before.clone();
    let mut made = Vec::new();
    for run in 0..5 {
        let p = plan(&cfg(keep(3)), &facts(&pool, NOW + run * DAY)).unwrap();
        apply(&mut pool, &p, p.steps.len());
        assert_finished(&pool, &before);
        made.push(p.archive.unwrap());
        let have = archives(&pool);
        assert_eq!(have.len(), (run as usize + 1).min(3), "{have:?}");
        assert!(have.contains(made.last().unwrap()));
        if run >= 3 {
            assert_eq!(p.pruned, [made[run as usize - 3].clone()]);
        }
    }
    // The first archive held the `later` snapshot; pruning destroyed it and said so.
    let p = plan(&cfg(keep(1)), &facts(&pool, NOW + 9 * DAY)).unwrap();
    assert_eq!(p.pruned.len(), 3);
    assert!(p.left_alone.is_empty(), "{:?}", p.left_alone);
}

#[test]
fn archives_that_others_depend_on_are_left_alone() {
    let before = seed();
    let mut pool = before.clone();
    for run in 0..2 {
        let p = plan(&cfg(keep(5)), &facts(&pool, NOW + run * DAY)).unwrap();
        apply(&mut pool, &p, p.steps.len());
    }
    let first = "rpool/local/old_roots/2026-11-22T02:20:50Z";
    let mut clone = ds("legacy", "on", &[], &[]);
    clone.origin = Some(format!("{first}@later"));
    pool.datasets.insert("rpool/safe/restored".into(), clone);
    pool.datasets.insert(
        "rpool/local/old_roots/notes".into(),
        ds("legacy", "on", &[], &[]),
    );
    let p = plan(&cfg(keep(1)), &facts(&pool, NOW + 3 * DAY)).unwrap();
    assert_eq!(p.pruned, ["rpool/local/old_roots/2026-11-23T02:20:50Z"]);
    assert_eq!(
        p.left_alone,
        [
            format!("{first} (rpool/safe/restored is a clone of its snapshot {first}@later)"),
            "rpool/local/old_roots/notes (its name is not an archive time)".to_string(),
        ]
    );
}

/// A crash after any step of a plan, then after any step of the next one, then a full run:
/// the pool ends finished, and the first root's content (`@later`) is in an archive.
#[test]
fn a_crash_after_any_step_is_finished_by_the_next_run() {
    let before = seed();
    let full = plan(&cfg(keep(10)), &facts(&before, NOW)).unwrap();
    for first in 0..=full.steps.len() {
        let mut pool = before.clone();
        apply(&mut pool, &full, first);
        let second = plan(&cfg(keep(10)), &facts(&pool, NOW + 60))
            .unwrap_or_else(|e| panic!("after {first} steps: {e}"));
        for crash in 0..=second.steps.len() {
            let mut p2 = pool.clone();
            apply(&mut p2, &second, crash);
            // ZFS cannot swap two names: only between the two renames is the root's name free,
            // and then the staging clone that takes it is there.
            let renames = |p: &Plan| {
                p.steps
                    .iter()
                    .position(|s| matches!(&s.effect, Effect::Rename { from, .. } if from == "rpool/local/root"))
            };
            if p2.get("rpool/local/root").is_none() {
                assert!(p2.get("rpool/local/.blankroot-new-root").is_some());
                let gap = [(&full, first), (&second, crash)]
                    .iter()
                    .any(|(p, n)| renames(p).is_some_and(|r| *n == r + 1));
                assert!(gap, "after {first} then {crash} steps the root is missing");
            }
            let third = plan(&cfg(keep(10)), &facts(&p2, NOW + 120))
                .unwrap_or_else(|e| panic!("after {first} then {crash} steps: {e}"));
            apply(&mut p2, &third, third.steps.len());
            assert_finished(&p2, &before);
            let kept_content = archives(&p2)
                .iter()
                .any(|a| p2.get(a).unwrap().has_snapshot("later"));
            assert!(
                kept_content,
                "after {first} then {crash} steps the old root is gone: {p2:#?}"
            );
        }
    }
}

#[test]
fn a_crash_between_the_renames_is_finished_without_a_new_archive() {
    let before = seed();
    let full = plan(&cfg(keep(10)), &facts(&before, NOW)).unwrap();
    let mut pool = before.clone();
    apply(&mut pool, &full, 4);
    assert!(pool.get("rpool/local/root").is_none());
    for c in [cfg(keep(10)), cfg(None)] {
        let p = plan(&c, &facts(&pool, NOW + 60)).unwrap();
        assert_eq!(
            commands(&p),
            [
                "zfs rename rpool/local/.blankroot-new-root rpool/local/root",
                "zfs promote rpool/local/root",
            ]
        );
        assert_eq!(p.archive, None);
        assert!(
            p.warnings[0].contains("stopped part-way"),
            "{:?}",
            p.warnings
        );
        let mut done = pool.clone();
        apply(&mut done, &p, p.steps.len());
        assert_finished(&done, &before);
    }
}

#[test]
fn an_unpromoted_root_is_promoted_then_rolled_back() {
    let before = seed();
    let full = plan(&cfg(keep(10)), &facts(&before, NOW)).unwrap();
    let mut pool = before.clone();
    apply(&mut pool, &full, 5);
    let p = plan(&cfg(None), &facts(&pool, NOW + 60)).unwrap();
    assert_eq!(
        commands(&p),
        [
            "zfs promote rpool/local/root",
            "zfs rollback -r rpool/local/root@blank",
        ]
    );
}

/// The same with archives to prune: whatever the crash points, the pool ends finished and the
/// archive count stays within --keep.
#[test]
fn a_crash_during_pruning_runs_is_finished_too() {
    let before = seed();
    let mut pool = before.clone();
    for run in 0..2 {
        let p = plan(&cfg(keep(10)), &facts(&pool, NOW + run * DAY)).unwrap();
        apply(&mut pool, &p, p.steps.len());
    }
    for n in [1, 2] {
        let now = NOW + 5 * DAY;
        let full = plan(&cfg(keep(n)), &facts(&pool, now)).unwrap();
        assert!(commands(&full).iter().any(|c| c.starts_with("zfs destroy")));
        for first in 0..=full.steps.len() {
            let mut p1 = pool.clone();
            apply(&mut p1, &full, first);
            let second = plan(&cfg(keep(n)), &facts(&p1, now + 60)).unwrap();
            for crash in 0..=second.steps.len() {
                let mut p2 = p1.clone();
                apply(&mut p2, &second, crash);
                let third = plan(&cfg(keep(n)), &facts(&p2, now + 120))
                    .unwrap_or_else(|e| panic!("keep {n}, after {first} then {crash}: {e}"));
                apply(&mut p2, &third, third.steps.len());
                assert_finished(&p2, &before);
                assert!(archives(&p2).len() <= n as usize, "{:?}", archives(&p2));
            }
        }
    }
}

/// `canmount=noauto mountpoint=/` (boot-environment style): both carried to the new root, and
/// the archive keeps them, so nothing is ever mounted by ZFS itself.
#[test]
fn a_root_mounted_at_slash_keeps_its_properties() {
    let mut pool = seed();
    let root = pool.datasets.get_mut("rpool/local/root").unwrap();
    root.mountpoint = "/".into();
    root.local.insert("mountpoint".into(), "/".into());
    let p = plan(&cfg(keep(3)), &facts(&pool, NOW)).unwrap();
    assert!(commands(&p)[1].starts_with(
        "zfs clone -o canmount=noauto -o com.sun:auto-snapshot=false -o mountpoint=/ rpool/local/root@blank"
    ));
    apply(&mut pool, &p, p.steps.len());
    let root = pool.get("rpool/local/root").unwrap();
    assert_eq!(
        (root.mountpoint.as_str(), root.canmount.as_str()),
        ("/", "noauto")
    );
    let a = pool.get(p.archive.as_deref().unwrap()).unwrap();
    assert_eq!(
        (a.mountpoint.as_str(), a.canmount.as_str()),
        ("/", "noauto")
    );
}

#[test]
fn archives_made_in_one_second_keep_the_newest() {
    // Issue 9: six boots in one second with --keep 2; names never reused, the newest kept.
    let before = seed();
    let mut pool = before.clone();
    let mut made = Vec::new();
    for _ in 0..6 {
        let p = plan(&cfg(keep(2)), &facts(&pool, NOW)).unwrap();
        apply(&mut pool, &p, p.steps.len());
        made.push(p.archive.unwrap());
    }
    assert_eq!(made[5], "rpool/local/old_roots/2026-11-22T02:20:50Z.5");
    assert_eq!(archives(&pool), [made[4].clone(), made[5].clone()]);
    // A clock behind the newest archive: the name continues after it, with a warning.
    let p = plan(&cfg(keep(2)), &facts(&pool, NOW - DAY)).unwrap();
    assert_eq!(
        p.archive.as_deref(),
        Some("rpool/local/old_roots/2026-11-22T02:20:50Z.6")
    );
    assert!(
        p.warnings.iter().any(|w| w.contains("behind")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn only_marked_archives_are_pruned_unless_asked() {
    let before = seed();
    let mut pool = before.clone();
    let p = plan(&cfg(keep(1)), &facts(&pool, NOW)).unwrap();
    apply(&mut pool, &p, p.steps.len());
    // An archive-named dataset blankroot did not make (an older version's, or renamed in).
    let mut other = ds("legacy", "noauto", &[], &[]);
    other.snapshots = Some(Vec::new());
    pool.datasets
        .insert("rpool/local/old_roots/2020-01-01T00:00:00Z".into(), other);
    let p = plan(&cfg(keep(1)), &facts(&pool, NOW + DAY)).unwrap();
    assert_eq!(p.pruned, ["rpool/local/old_roots/2026-11-22T02:20:50Z"]);
    assert!(
        p.left_alone[0].starts_with("rpool/local/old_roots/2020-01-01T00:00:00Z (not marked"),
        "{:?}",
        p.left_alone
    );
    let mut c = cfg(keep(1));
    c.prune_unmarked = true;
    let p = plan(&c, &facts(&pool, NOW + DAY)).unwrap();
    assert_eq!(p.pruned.len(), 2, "{:?}", p.pruned);
}
