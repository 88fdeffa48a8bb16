use super::*;
use crate::btrfs::ioctl::Space;
use crate::retention::Policy;

const NOW: i64 = 1_795_314_050; // 2026-11-22T02:20:50Z
const MIB: u64 = 1 << 20;

fn n(s: &str) -> Name {
    Name::parse("x", s).unwrap()
}

fn uuid(id: u64) -> [u8; 16] {
    let mut u = [0xaa; 16];
    u[..8].copy_from_slice(&id.to_le_bytes());
    u
}

/// Subvolume `id`, a snapshot of subvolume `parent` (0: of none).
fn sub(id: u64, parent: u64) -> Subvol {
    Subvol {
        id,
        read_only: false,
        uuid: uuid(id),
        parent_uuid: if parent == 0 { [0; 16] } else { uuid(parent) },
        generation: 100,
        otransid: 50,
        flags: 0,
    }
}

fn tree(s: Subvol) -> Tree {
    Tree {
        entry: Entry::Subvolume(s),
        ..Tree::absent()
    }
}

fn nested(name: &str, id: u64) -> Nested {
    Nested {
        name: n(name),
        sub: sub(id, 0),
        has_children: false,
        parent_flags: 0,
    }
}

/// itsdrike's NixOS guide (its "Impermanence" chapter): the root (id 256) with two nested subvolumes, the read-only blank (id 257).
fn facts() -> Facts {
    let mut blank = sub(257, 0);
    blank.read_only = true;
    let mut root = tree(sub(256, 0));
    root.nested = vec![
        nested("root/var/lib/machines", 258),
        nested("root/srv", 259),
    ];
    Facts {
        root,
        root_container: Some(5),
        blank: Some(Entry::Subvolume(blank)),
        staging: Tree::absent(),
        archive_dir: None,
        archive_dir_flags: 0,
        archive_container: None,
        archives: Vec::new(),
        protected: Vec::new(),
        default_subvol: 5,
        root_qgroup: None,
        mounts: Vec::new(),
        space: Space {
            data: 10 << 30,
            metadata: 10 << 30,
            metadata_unallocated: 0,
            total: 20 << 30,
            nodesize: 16384,
            fsid: [0; 16],
        },
        metadata_available: 1 << 30,
        now: NOW,
    }
}

fn cfg() -> Config {
    Config {
        root: n("root"),
        source: Source::Blank(n("root-blank")),
        archive: None,
        protect: Vec::new(),
        min_free: None,
        prune_unmarked: false,
    }
}

fn archiving(keep: u32) -> Config {
    Config {
        archive: Some(Archive {
            dir: n("old_roots"),
            policy: Policy {
                keep: Some(keep),
                keep_days: None,
            },
        }),
        ..cfg()
    }
}

fn with_archive_dir(mut f: Facts, entries: Vec<ArchiveEntry>) -> Facts {
    f.archive_dir = Some(Entry::PlainDir);
    f.archive_container = Some(5);
    f.archives = entries;
    f
}

/// An archive blankroot made (marked with its own name).
fn archive(name: &str, id: u64) -> ArchiveEntry {
    let mut t = tree(sub(id, 0));
    t.parent_flags = 0;
    t.mark = Some(name.to_string());
    ArchiveEntry {
        name: name.into(),
        tree: t,
    }
}

fn lines(p: &Plan) -> Vec<String> {
    p.steps.iter().map(|s| s.to_string()).collect()
}

#[test]
fn delete_mode_swaps_then_deletes_the_old_root() {
    let p = plan(&cfg(), &facts()).unwrap();
    assert_eq!(
        lines(&p),
        [
            "snapshot root-blank (id 257) to .blankroot-new-root (writable)",
            "mark subvolume root (id 256) as the root blankroot retires (trusted.blankroot.retired=delete)",
            "swap .blankroot-new-root and root (id 256) in one rename (RENAME_EXCHANGE): root is the new root, the old one is at .blankroot-new-root",
            "delete subvolume .blankroot-new-root/var/lib/machines (id 258, nested)",
            "delete subvolume .blankroot-new-root/srv (id 259, nested)",
            "delete subvolume .blankroot-new-root (id 256, the old root)",
            "commit the transaction (unmount the top level, which syncs it)",
        ]
    );
    assert_eq!(p.mode, Mode::Delete);
}

#[test]
fn archive_mode_moves_the_old_root_under_its_time() {
    let f = with_archive_dir(facts(), vec![]);
    let p = plan(&archiving(3), &f).unwrap();
    assert_eq!(
        lines(&p)[1..4],
        [
            "mark subvolume root (id 256) as the root blankroot retires (trusted.blankroot.retired=2026-11-22T02:20:50Z)",
            "swap .blankroot-new-root and root (id 256) in one rename (RENAME_EXCHANGE): root is the new root, the old one is at .blankroot-new-root",
            "rename .blankroot-new-root (id 256) to old_roots/2026-11-22T02:20:50Z",
        ]
    );
    assert_eq!(p.archive, Some(n("old_roots/2026-11-22T02:20:50Z")));
    // A missing archive directory is made before anything else.
    let mut f = facts();
    f.archive_dir = Some(Entry::Absent);
    f.archive_container = Some(5);
    let p = plan(&archiving(3), &f).unwrap();
    assert_eq!(lines(&p)[0], "create directory old_roots");
}

#[test]
fn a_missing_root_is_made_from_the_blank_first() {
    // An older version's crash: no root, its pristine staging copy left.
    let mut f = facts();
    f.root = Tree::absent();
    let mut staged = sub(300, 257);
    staged.generation = 70;
    staged.otransid = 70;
    f.staging = tree(staged);
    let p = plan(&cfg(), &f).unwrap();
    assert_eq!(
        lines(&p),
        [
            "snapshot root-blank (id 257) to root (writable)",
            "delete subvolume .blankroot-new-root (id 300, leftover staging copy)",
            "commit the transaction (unmount the top level, which syncs it)",
        ]
    );
    // Somebody else's subvolume at the staging name is left alone then, not refused: the
    // root must come back.
    f.staging = tree(sub(301, 9));
    let p = plan(&cfg(), &f).unwrap();
    assert_eq!(lines(&p).len(), 2);
    assert!(p.warnings[0].contains("left alone"), "{:?}", p.warnings);
}

#[test]
fn a_pristine_staging_copy_becomes_the_new_root() {
    let mut f = facts();
    let mut staged = sub(300, 257);
    staged.generation = 70;
    staged.otransid = 70;
    f.staging = tree(staged);
    let p = plan(&cfg(), &f).unwrap();
    assert!(
        lines(&p)[0].starts_with("mark subvolume root"),
        "{:?}",
        lines(&p)
    );
    assert!(matches!(
        p.steps[1],
        Step::Exchange {
            staging_id: Some(300),
            ..
        }
    ));
}

#[test]
fn what_is_not_blankroots_at_the_staging_name_is_refused() {
    for (staged, why) in [
        (tree(sub(300, 9)), "not a snapshot of the blank root-blank"),
        (tree(sub(300, 257)), "changed after it was made"),
    ] {
        let mut f = facts();
        f.staging = staged;
        let e = plan(&cfg(), &f).unwrap_err();
        assert!(e.message.contains(why), "{}", e.message);
        assert!(e.message.contains("nothing was changed"), "{}", e.message);
    }
    // --empty: only an empty subvolume is a leftover (issue 9, defect 3).
    let mut c = cfg();
    c.source = Source::Empty;
    let mut f = facts();
    f.blank = None;
    f.staging = tree(sub(300, 0));
    let e = plan(&c, &f).unwrap_err();
    assert!(e.message.contains("it is not empty"), "{}", e.message);
    f.staging.empty = true;
    assert!(plan(&c, &f).is_ok());
}

#[test]
fn an_old_root_left_after_the_swap_is_finished() {
    let mut f = facts();
    // After the swap: the new root (a copy of the blank) at root, the old root, marked, at the
    // staging name with one nested subvolume deleted already.
    let mut new_root = sub(300, 257);
    new_root.generation = 80;
    f.root = tree(new_root);
    let mut old = tree(sub(256, 0));
    old.mark = Some("delete".into());
    old.nested = vec![nested(".blankroot-new-root/srv", 259)];
    if let Entry::Subvolume(s) = &mut old.entry {
        s.generation = 81;
    }
    f.staging = old;
    let p = plan(&cfg(), &f).unwrap();
    assert_eq!(
        lines(&p),
        [
            "delete subvolume .blankroot-new-root/srv (id 259, nested)",
            "delete subvolume .blankroot-new-root (id 256, the old root)",
            "commit the transaction (unmount the top level, which syncs it)",
        ],
        "the new root was never used: it stays"
    );
    // The new root was used since (a boot went on after the failure): a full job follows.
    if let Entry::Subvolume(s) = &mut f.root.entry {
        s.generation = 90;
    }
    let p = plan(&cfg(), &f).unwrap();
    assert_eq!(p.steps.len(), 2 + 4 + 1, "{:?}", lines(&p));
    // In archive mode, into the archive.
    let f2 = with_archive_dir(f.clone(), vec![]);
    let p = plan(&archiving(5), &f2).unwrap();
    assert_eq!(
        lines(&p)[..2],
        [
            "mark subvolume .blankroot-new-root (id 256) as the root blankroot retires (trusted.blankroot.retired=2026-11-22T02:20:50Z)",
            "rename .blankroot-new-root (id 256) to old_roots/2026-11-22T02:20:50Z",
        ]
    );
    assert_eq!(p.archive, Some(n("old_roots/2026-11-22T02:20:50Z.1")));
}

#[test]
fn immutable_and_append_only_entries_are_refused_before_anything() {
    // Issue 9, defect 4: `chattr +i root/var/lib`.
    let mut f = facts();
    f.root.nested[0].parent_flags = IMMUTABLE;
    let e = plan(&cfg(), &f).unwrap_err();
    assert_eq!(
        e.message,
        "root/var/lib is immutable (chattr +i), so deleting root/var/lib/machines would fail: nothing was changed; clear it with `chattr -i <top>/root/var/lib` (on the top level mounted with subvolid=5)"
    );
    let mut f = facts();
    if let Entry::Subvolume(s) = &mut f.root.entry {
        s.flags = APPEND_ONLY;
    }
    let e = plan(&cfg(), &f).unwrap_err();
    assert!(
        e.message.starts_with("root is append-only"),
        "{}",
        e.message
    );
    assert!(e.message.contains("chattr -a <top>/root"), "{}", e.message);
    let mut f = facts();
    f.root.parent_flags = IMMUTABLE;
    let e = plan(&cfg(), &f).unwrap_err();
    assert!(
        e.message
            .starts_with("the top-level directory is immutable"),
        "{}",
        e.message
    );
}

#[test]
fn too_little_metadata_space_for_the_swap_is_refused_up_front() {
    let mut f = facts();
    f.metadata_available = 12 * MIB;
    let e = plan(&cfg(), &f).unwrap_err();
    assert!(
        e.message.starts_with("only 12288 KiB of metadata space"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("the old root stays in place"),
        "{}",
        e.message
    );
    f.metadata_available = 15 * MIB;
    assert!(plan(&cfg(), &f).is_ok());
    // A missing root is made again whatever the space: a snapshot needs no reservation.
    let mut f = facts();
    f.metadata_available = 0;
    f.root = Tree::absent();
    assert!(plan(&cfg(), &f).is_ok());
}

#[test]
fn archives_made_in_one_second_get_names_after_the_newest() {
    let entries = vec![archive("2026-11-22T02:20:50Z.2", 400)];
    let p = plan(&archiving(2), &with_archive_dir(facts(), entries)).unwrap();
    assert_eq!(p.archive, Some(n("old_roots/2026-11-22T02:20:50Z.3")));
    // The clock behind the newest archive.
    let entries = vec![archive("2026-11-23T00:00:00Z", 400)];
    let p = plan(&archiving(2), &with_archive_dir(facts(), entries)).unwrap();
    assert_eq!(p.archive, Some(n("old_roots/2026-11-23T00:00:00Z.1")));
    assert!(
        p.warnings.iter().any(|w| w.contains("behind")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn only_marked_unprotected_archives_are_pruned() {
    let mut renamed = archive("2020-01-02T00:00:00Z", 401);
    renamed.tree.mark = None;
    let mut protected = archive("2020-01-03T00:00:00Z", 402);
    protected.tree.mark = Some("2020-01-03T00:00:00Z".into());
    let entries = vec![archive("2020-01-01T00:00:00Z", 400), renamed, protected];
    let mut f = with_archive_dir(facts(), entries);
    // --protect names `persist`, which someone renamed into the archive directory (id 402).
    f.protected = vec![(n("persist"), Entry::Subvolume(sub(402, 0)))];
    let mut c = archiving(1);
    c.protect = vec![n("persist")];
    let p = plan(&c, &f).unwrap();
    assert_eq!(p.pruned, [n("old_roots/2020-01-01T00:00:00Z")]);
    assert_eq!(p.left_alone.len(), 2, "{:?}", p.left_alone);
    assert!(p.left_alone[0].contains("not marked"), "{:?}", p.left_alone);
    assert!(
        p.left_alone[1].contains("protected by --protect persist"),
        "{:?}",
        p.left_alone
    );
    c.prune_unmarked = true;
    let p = plan(&c, &f).unwrap();
    assert_eq!(p.pruned.len(), 2, "{:?}", p.pruned);
}

#[test]
fn the_default_subvolume_and_protected_ones_are_never_touched() {
    let mut f = facts();
    f.default_subvol = 259;
    let e = plan(&cfg(), &f).unwrap_err();
    assert!(e.message.contains("default subvolume"), "{}", e.message);
    let mut f = facts();
    f.protected = vec![(n("persist"), Entry::Subvolume(sub(258, 0)))];
    let e = plan(&cfg(), &f).unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn reservations_follow_the_measured_item_counts() {
    let x = Step::Exchange {
        staging: n(".s"),
        staging_id: None,
        root: n("root"),
        root_id: 256,
    };
    assert_eq!(x.reservation(16384), 17 * 768 * 1024);
    let r = Step::Rename {
        from: n(".s"),
        id: None,
        to: n("old/x"),
    };
    assert_eq!(r.reservation(16384), 10 * 768 * 1024);
    assert_eq!(Step::Commit.reservation(16384), 0);
}
