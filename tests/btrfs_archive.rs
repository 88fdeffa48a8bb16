//! Archive mode: the old root is moved to DIR/<UTC time>, old archives are pruned by the time in
//! their names, and anything in DIR that is not an archive is left alone.

mod common;
use common::*;

fn archives(m: &Mount) -> Vec<String> {
    m.ls("old_roots")
        .into_iter()
        .filter(|n| m.is_subvolume(&format!("old_roots/{n}")))
        .collect()
}

/// Makes the root dirty again with a canary naming the boot.
fn boot(img: &Image, n: u32) {
    let m = img.mount();
    m.write("root/etc/canary", &format!("boot {n}\n"));
    m.mkdir("root/var").subvol(&format!("root/var/tmp{n}"));
}

#[test]
fn three_boots_with_keep_2_keep_the_two_newest_with_their_contents() {
    if !root_or_skip("archive_keep_2") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, true);
    let before = persistent_state(&img.mount());
    let mut made = Vec::new();
    for n in 1..=3 {
        if n > 1 {
            boot(&img, n);
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        img.rollback(&["--archive-dir", "old_roots", "--keep", "2"])
            .ok();
        let s = img.status();
        assert_eq!(s["action"], "archived");
        made.push(s["archive"].as_str().unwrap().to_string());
        assert_eq!(
            s["pruned"].as_array().unwrap().len(),
            usize::from(n == 3),
            "boot {n}: {s}"
        );
    }
    let m = img.mount();
    let left = archives(&m);
    assert_eq!(left.len(), 2, "{left:?}");
    let expect: Vec<String> = made[1..]
        .iter()
        .map(|a| a.trim_start_matches("old_roots/").to_string())
        .collect();
    assert_eq!(left, expect, "the two newest archives stay");
    assert!(left[0] < left[1], "archive names sort by time");
    // Each archive is the whole old root, nested subvolumes included.
    assert_eq!(
        std::fs::read_to_string(m.path(&format!("{}/etc/canary", made[2]))).unwrap(),
        "boot 3\n"
    );
    assert!(m.is_subvolume(&format!("{}/var/tmp3", made[2])));
    assert!(m.is_subvolume(&format!("{}/var/tmp2", made[1])));
    assert_eq!(persistent_state(&m), before);
    assert!(!m.exists("root/etc/canary"));
}

#[test]
fn keep_days_prunes_by_the_name_not_the_mtime_and_leaves_non_archives_alone() {
    if !root_or_skip("archive_keep_days") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    {
        let m = img.mount();
        m.mkdir("old_roots");
        // Old by name (mtime is now): pruned. Recent by name: kept. Impermanence README format too.
        m.subvol("old_roots/2001-01-01T00:00:00Z")
            .write("old_roots/2001-01-01T00:00:00Z/f", "old\n");
        m.subvol("old_roots/2001-1-2_03:04:05");
        m.subvol("old_roots/2001-01-03T00:00:00Z")
            .subvol("old_roots/2001-01-03T00:00:00Z/nested");
        let recent = chrono_like_now_minus_days(2);
        m.subvol(&format!("old_roots/{recent}"));
        // Not archives: left alone whatever their age.
        m.mkdir("old_roots/2000-01-01T00:00:00Z")
            .write("old_roots/2000-01-01T00:00:00Z/precious", "plain dir\n");
        m.subvol("old_roots/notes");
        std::os::unix::fs::symlink("../persist", m.path("old_roots/2000-01-02T00:00:00Z")).unwrap();
        m.write("old_roots/README", "file\n");
    }
    // These were not archived by this blankroot (no mark): left alone unless --prune-unmarked.
    let dry = img.rollback(&[
        "--archive-dir",
        "old_roots",
        "--keep-days",
        "30",
        "--dry-run",
    ]);
    dry.ok();
    assert!(
        !dry.stdout.contains("delete subvolume old_roots/"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stderr
            .contains("old_roots/2001-01-01T00:00:00Z (not marked as an archive blankroot made"),
        "{}",
        dry.stderr
    );
    let run = img.rollback(&[
        "--archive-dir",
        "old_roots",
        "--keep-days",
        "30",
        "--prune-unmarked",
    ]);
    run.ok();
    let s = img.status();
    let mut pruned: Vec<String> = s["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    pruned.sort();
    assert_eq!(
        pruned,
        [
            "old_roots/2001-01-01T00:00:00Z",
            "old_roots/2001-01-03T00:00:00Z",
            "old_roots/2001-1-2_03:04:05"
        ]
    );
    let left_alone = s["left_alone"].to_string();
    for name in [
        "2000-01-01T00:00:00Z (a plain directory)",
        "notes (a subvolume whose name",
        "2000-01-02T00:00:00Z (a symlink)",
        "README (not a directory)",
    ] {
        assert!(
            left_alone.contains(name),
            "{name} not reported: {left_alone}"
        );
    }
    let m = img.mount();
    assert_eq!(
        std::fs::read_to_string(m.path("old_roots/2000-01-01T00:00:00Z/precious")).unwrap(),
        "plain dir\n"
    );
    assert!(m.is_subvolume("old_roots/notes"));
    assert!(m.path("old_roots/2000-01-02T00:00:00Z").is_symlink());
    assert!(m.exists("persist/kept"), "the symlink's target was touched");
    assert_eq!(archives(&m).len(), 3, "{:?}", m.ls("old_roots"));
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now minus `days`, computed with `date` to stay independent of the
/// code under test.
fn chrono_like_now_minus_days(days: u32) -> String {
    sh(
        "date",
        &[
            "-u",
            "-d",
            &format!("{days} days ago"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn a_taken_archive_name_gets_a_sequence_number() {
    if !root_or_skip("archive_collision") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    let start: i64 = sh("date", &["-u", "+%s"]).trim().parse().unwrap();
    {
        // Every name this run could pick in the next 20 s is taken by a plain directory.
        let m = img.mount();
        for t in start..start + 20 {
            let name = sh(
                "date",
                &["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"],
            );
            m.mkdir(&format!("old_roots/{}", name.trim()));
        }
    }
    img.rollback(&["--archive-dir", "old_roots"]).ok();
    let archive = img.status()["archive"].as_str().unwrap().to_string();
    assert!(archive.ends_with("Z.1"), "{archive}");
    let m = img.mount();
    assert!(m.is_subvolume(&archive));
    assert_eq!(
        std::fs::read_to_string(m.path(&format!("{archive}/etc/canary"))).unwrap(),
        "gone after rollback\n"
    );
    assert_eq!(m.ls("old_roots").len(), 21);
}

#[test]
fn too_little_free_space_deletes_instead_of_archiving_loudly() {
    if !root_or_skip("archive_low_space") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, true);
    let run = img.rollback(&["--archive-dir", "old_roots", "--min-free-space", "100G"]);
    run.ok();
    assert!(
        run.stderr
            .contains("DELETING THE ROOT INSTEAD OF ARCHIVING"),
        "{}",
        run.stderr
    );
    let s = img.status();
    assert_eq!(s["action"], "rolled-back");
    assert_eq!(s["archive"], serde_json::Value::Null);
    assert!(s["warnings"].to_string().contains("INSTEAD OF ARCHIVING"));
    let m = img.mount();
    assert!(!m.exists("root/etc/canary"));
    assert!(!m.exists("old_roots") || archives(&m).is_empty());
}

#[test]
fn a_disk_that_is_really_full_falls_back_too() {
    if !root_or_skip("archive_full_disk") {
        return;
    }
    let img = Image::new(600);
    seed_layout(&img, false);
    {
        let m = img.mount();
        // Leave less than the default minimum (5% of this small filesystem) free for data.
        let avail: u64 = sh(
            "df",
            &["--output=avail", "-B1", m.path("").to_str().unwrap()],
        )
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
        let fill = (avail - (10 << 20)).to_string();
        sh(
            "fallocate",
            &["-l", &fill, m.path("persist/big").to_str().unwrap()],
        );
    }
    let run = img.rollback(&["--archive-dir", "old_roots"]);
    run.ok();
    assert!(
        run.stderr.contains("INSTEAD OF ARCHIVING"),
        "{}",
        run.stderr
    );
    assert!(img.mount().exists("persist/big"));
}
