//! `blankroot init` on ZFS (zfs-fuse pools): the blank snapshot of an empty root, held so that
//! `zfs destroy` fails, left as it is by a second run; an existing unheld blank gets the hold; a
//! populated root is refused with the steps to an empty one, and nothing is changed.

mod common;
mod common_zfs;
use common::Run;
use common_zfs::*;
use std::process::Command;

fn init(pool: &Pool, dataset: &str, args: &[&str]) -> Run {
    let _ = pool;
    Run::of(
        Command::new(common::binary())
            .arg("init")
            .arg("--dataset")
            .arg(dataset)
            .args(args)
            .env("PATH", path_with_zfs())
            .env_remove("BLANKROOT_FAILPOINT")
            .output()
            .unwrap(),
    )
}

fn empty_root(pool: &Pool) -> String {
    let root = pool.root();
    create_legacy(&root);
    root
}

#[test]
fn init_snapshots_an_empty_root_holds_it_and_a_second_run_leaves_it() {
    if !zfs_or_skip("init_snapshots_an_empty_root") {
        return;
    }
    let pool = Pool::new();
    let root = empty_root(&pool);
    // Mount points made at install time are directories: the root is still empty.
    pool.with_mounted(&root, |at| {
        std::fs::create_dir_all(at.join("nix/store")).unwrap()
    });
    let blank = format!("{root}@blank");

    let dry = init(&pool, &root, &["--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout.contains(&format!(
            "would run: zfs snapshot {blank}; zfs hold blankroot {blank}"
        )),
        "{}",
        dry.stdout
    );
    assert!(
        pool.snapshots(&root).is_empty(),
        "a dry run made a snapshot"
    );

    let made = init(&pool, &root, &[]);
    made.ok();
    assert!(
        made.stdout.contains(&format!(
            "init: made the blank {blank} of the empty root (held: zfs release blankroot {blank} before destroying it)"
        )),
        "{}",
        made.stdout
    );
    assert_eq!(pool.snapshots(&root), ["blank"]);
    assert_eq!(pool.get("userrefs", &blank), "1");
    let destroy = Command::new(tool("zfs").unwrap())
        .args(["destroy", &blank])
        .output()
        .unwrap();
    assert!(
        !destroy.status.success(),
        "the hold did not stop zfs destroy"
    );
    assert_eq!(pool.snapshots(&root), ["blank"]);

    let again = init(&pool, &root, &[]);
    again.ok();
    assert!(
        again.stdout.contains(&format!(
            "init: the blank {blank} is there already (held): left as it is"
        )),
        "{}",
        again.stdout
    );
    assert_eq!(
        (pool.snapshots(&root), pool.get("userrefs", &blank)),
        (vec!["blank".to_string()], "1".to_string())
    );
    // The rollback uses it.
    pool.rollback(&[]).ok();
    assert_eq!(pool.snapshots(&root), ["blank"]);
}

#[test]
fn init_holds_an_existing_blank_and_refuses_a_populated_root_changing_nothing() {
    if !zfs_or_skip("init_refuses_a_populated_root") {
        return;
    }
    let pool = Pool::new();
    pool.seed();
    let root = pool.root();
    let blank = format!("{root}@blank");
    assert_eq!(pool.get("userrefs", &blank), "0");
    let held = init(&pool, &root, &[]);
    held.ok();
    assert!(
        held.stdout.contains(&format!("init: the blank {blank} is there already: held: zfs release blankroot {blank} before destroying it now")),
        "{}",
        held.stdout
    );
    assert_eq!(
        (pool.snapshots(&root), pool.get("userrefs", &blank)),
        (vec!["blank".to_string()], "1".to_string())
    );

    // A root that has run for a while, without a blank: refused, with the way to an empty one.
    let other = pool.ds("local/other");
    create_legacy(&other);
    pool.write(&other, &[("etc/ssh/ssh_host_ed25519_key", "secret\n")]);
    let (props, tree) = (pool.local_props(&other), pool.tree(&other));
    let r = init(&pool, &other, &[]);
    r.fails(
        1,
        &format!("init: {other} holds a populated root (/etc/ssh/ssh_host_ed25519_key"),
    );
    for step in [
        format!("zfs rename -u {other} {}-old", other),
        format!("zfs create -o mountpoint=legacy {other}"),
        format!("blankroot init --dataset {other}"),
        "nothing was changed".to_string(),
    ] {
        assert!(r.stderr.contains(&step), "lacks {step:?}:\n{}", r.stderr);
    }
    assert!(pool.snapshots(&other).is_empty());
    assert_eq!((pool.local_props(&other), pool.tree(&other)), (props, tree));

    // No such dataset: a runtime error naming it.
    let gone = pool.ds("local/nope");
    init(&pool, &gone, &[]).fails(1, &gone);
    // A bad name never reaches zfs.
    init(&pool, "rpool/a;b", &[]).fails(2, "--dataset");
}
