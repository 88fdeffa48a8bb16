//! `blankroot archives` on Btrfs: the archives blankroot made (by `rollback --archive-dir`),
//! newest first, `latest`, the entries retention leaves alone, the JSON schema, sizes with and
//! without quotas; and nothing on the disk changes (the superblock's generation, every
//! subvolume's id and generation).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::process::Command;

fn archives(img: &Image, args: &[&str]) -> Run {
    Run::of(
        Command::new(binary())
            .arg("archives")
            .arg("--device")
            .arg(&img.dev)
            .args(args)
            .output()
            .unwrap(),
    )
}

/// The transaction generation in the superblock: any commit raises it.
pub fn super_generation(img: &Image) -> u64 {
    let out = sh(
        "btrfs",
        &["inspect-internal", "dump-super", img.dev.to_str().unwrap()],
    );
    out.lines()
        .find_map(|l| l.strip_prefix("generation"))
        .and_then(|v| v.trim().parse().ok())
        .expect("generation in dump-super")
}

/// Every subvolume: path -> (id, generation).
fn generations(m: &Mount) -> BTreeMap<String, (u64, u64)> {
    sh(
        "btrfs",
        &["subvolume", "list", "-g", m.dir.path().to_str().unwrap()],
    )
    .lines()
    .filter_map(|l| {
        // ID 256 gen 10 top level 5 path root
        let f: Vec<&str> = l.splitn(9, ' ').collect();
        Some((
            f.get(8)?.to_string(),
            (f.get(1)?.parse().ok()?, f.get(3)?.parse().ok()?),
        ))
    })
    .collect()
}

/// Three boots in archive mode, each with its own canary; then an impermanence-style archive
/// (unmarked), a plain directory, a symlink and a subvolume with an odd name put there by hand.
fn three_archives(img: &Image) -> Vec<String> {
    seed_layout(img, true);
    let mut made = Vec::new();
    for n in 1..=3 {
        img.mount().write("root/etc/canary", &format!("boot {n}\n"));
        img.rollback(&["--archive-dir", "old_roots"]).ok();
        made.push(img.status()["archive"].as_str().unwrap().to_string());
    }
    let m = img.mount();
    m.subvol("old_roots/2024-3-5_10:11:12")
        .mkdir("old_roots/notes")
        .subvol("old_roots/keep-this");
    std::os::unix::fs::symlink("/etc", m.path("old_roots/link")).unwrap();
    made
}

#[test]
fn lists_newest_first_with_latest_and_what_retention_leaves_alone() {
    if !root_or_skip("archives_listing") {
        return;
    }
    let img = Image::new(512);
    let made = three_archives(&img);
    let subvols_before = generations(&img.mount());
    // The fixture's mount is gone: any commit from now on would be blankroot's.
    let before = super_generation(&img);
    let r = archives(&img, &["--archive-dir", "old_roots"]);
    r.ok();
    let text = &r.stdout;
    assert!(
        text.starts_with(&format!(
            "4 archives in old_roots (btrfs {}), newest first:\n",
            img.dev.display()
        )),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().skip(2).take(4).collect();
    let names: Vec<String> = rows
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let mut newest_first: Vec<String> = made
        .iter()
        .rev()
        .map(|a| a.trim_start_matches("old_roots/").to_string())
        .collect();
    newest_first.push("2024-3-5_10:11:12".into());
    assert_eq!(names, newest_first, "{text}");
    assert!(rows[0].contains("(latest)"), "{text}");
    assert!(rows[3].contains("(unmarked)"), "{text}");
    // The nested subvolumes of seed_layout (in the first root only), as paths of the old root.
    assert!(rows[0].ends_with("  -"), "{text}");
    assert!(
        rows[2].ends_with(
            "/srv /srv/www /srv/www/deeper /var/lib/machines /var/lib/portables /var/tmp"
        ),
        "{text}"
    );
    assert!(text.contains("size unknown: quotas are off\n"), "{text}");
    assert!(
        text.contains(&format!(
            "latest (restore's default --from): {}\n",
            newest_first[0]
        )),
        "{text}"
    );
    for line in [
        "  old_roots/notes: a plain directory",
        "  old_roots/link: a symlink",
        "  old_roots/keep-this: a subvolume whose name is not an archive time",
        "  old_roots/2024-3-5_10:11:12: not marked as an archive blankroot made (trusted.blankroot.retired); prune it by hand, or pass --prune-unmarked",
    ] {
        assert!(text.contains(&format!("{line}\n")), "{line}: {text}");
    }

    let j = archives(&img, &["--archive-dir", "old_roots", "--json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["filesystem"], "btrfs");
    assert_eq!(v["archive_dir"], "old_roots");
    assert_eq!(v["size_unknown"], "quotas are off");
    let list = v["archives"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    for (a, name) in list.iter().zip(&newest_first) {
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "age_seconds",
                "archived_at",
                "latest",
                "marked",
                "name",
                "nested",
                "path",
                "size_bytes"
            ]
        );
        assert_eq!(a["name"], name.as_str());
        assert_eq!(a["path"], format!("old_roots/{name}"));
        assert_eq!(a["size_bytes"], serde_json::Value::Null);
        assert!(a["age_seconds"].as_i64().unwrap() >= 0);
    }
    assert_eq!(list[0]["latest"], true);
    assert!(list[1..].iter().all(|a| a["latest"] == false));
    assert_eq!(list[0]["marked"], true);
    assert_eq!(list[3]["marked"], false);
    assert_eq!(list[3]["archived_at"], "2024-03-05T10:11:12Z");
    assert_eq!(list[0]["nested"], serde_json::json!([]));
    assert_eq!(
        list[2]["nested"],
        serde_json::json!([
            "/srv",
            "/srv/www",
            "/srv/www/deeper",
            "/var/lib/machines",
            "/var/lib/portables",
            "/var/tmp"
        ])
    );
    // The archive time in the name is the status record's.
    let archived_at = list[0]["archived_at"].as_str().unwrap();
    assert!(newest_first[0].starts_with(archived_at), "{archived_at}");
    let left: Vec<(String, String)> = v["left_alone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(left.contains(&("old_roots/notes".into(), "a plain directory".into())));

    // Nothing was written: no transaction committed, no subvolume changed.
    assert_eq!(super_generation(&img), before);
    assert_eq!(generations(&img.mount()), subvols_before);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(img.dev.to_str().unwrap()),
        "left mounted: {mounts}"
    );
}

#[test]
fn sizes_come_from_the_quota_tree_when_quotas_are_on() {
    if !root_or_skip("archives_sizes") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, true);
    {
        let m = img.mount();
        m.write("root/big", &"x".repeat(3 << 20));
        let top = m.dir.path().to_str().unwrap();
        sh("btrfs", &["quota", "enable", top]);
        sh("btrfs", &["quota", "rescan", "-w", top]);
    }
    img.rollback(&["--archive-dir", "old_roots"]).ok();
    let name = img.status()["archive"].as_str().unwrap().to_string();
    let expected: u64 = {
        let m = img.mount();
        let top = m.dir.path().to_str().unwrap();
        sh("btrfs", &["quota", "rescan", "-w", top]);
        // Referenced bytes of the archive and of the subvolumes inside it.
        let ids: Vec<u64> = m
            .subvolumes()
            .into_iter()
            .filter(|(p, _)| p == &name || p.starts_with(&format!("{name}/")))
            .map(|(_, id)| id)
            .collect();
        assert_eq!(ids.len(), 7, "{:?}", m.subvolumes());
        let show = sh("btrfs", &["qgroup", "show", "--raw", top]);
        ids.iter()
            .map(|id| {
                show.lines()
                    .find_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        (f.first() == Some(&format!("0/{id}").as_str()))
                            .then(|| f[1].parse::<u64>().unwrap())
                    })
                    .unwrap()
            })
            .sum()
    };
    let j = archives(&img, &["--archive-dir", "old_roots", "--json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["size_unknown"], serde_json::Value::Null);
    let size = v["archives"][0]["size_bytes"].as_u64().unwrap();
    assert_eq!(size, expected);
    assert!(size > 3 << 20, "{size}");
    let r = archives(&img, &["--archive-dir", "old_roots"]);
    assert!(r.stdout.contains(" MiB "), "{}", r.stdout);
}

#[test]
fn without_archive_mode_or_archives_it_says_so() {
    if !root_or_skip("archives_none") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    archives(&img, &[]).fails(2, "no --archive-dir: archive mode is off");
    let r = archives(&img, &["--archive-dir", "old_roots"]);
    r.ok();
    assert_eq!(
        r.stdout,
        format!(
            "note: the archive directory old_roots does not exist yet: no root was archived\n0 archives in old_roots (btrfs {})\n",
            img.dev.display()
        )
    );
    // The same target from a configuration file (as the NixOS module installs it).
    let cfg = img.dir.path().join("config.json");
    std::fs::write(
        &cfg,
        serde_json::json!({"args": ["--device", img.dev.to_str().unwrap(), "--archive-dir", "old_roots"]})
            .to_string(),
    )
    .unwrap();
    img.rollback(&["--archive-dir", "old_roots"]).ok();
    let r = Run::of(
        Command::new(binary())
            .args(["archives", "--json", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["archives"].as_array().unwrap().len(), 1);
    assert_eq!(v["archives"][0]["nested"], serde_json::json!([]));
    img.mount()
        .set_mark(img.status()["archive"].as_str().unwrap(), "someone else's");
    let r = archives(&img, &["--archive-dir", "old_roots", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["archives"][0]["marked"], false);
    // An archive directory that is a symlink is refused, and named.
    let m = img.mount();
    std::os::unix::fs::symlink("old_roots", m.path("elsewhere")).unwrap();
    drop(m);
    archives(&img, &["--archive-dir", "elsewhere"])
        .fails(1, "the archive directory elsewhere is a symlink");
}
