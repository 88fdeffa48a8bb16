//! The #231 trap (impermanence issue 231) on a real loop btrfs: `/` and `/home` wiped, with the
//! persistent store inside the wiped home, or a persisted subvolume nested in `home`: `check`
//! reports it (exit 1) naming the path, the target and the fix; the same layouts made safe (the
//! store on its own subvolume, the nested subvolume moved to the top level) pass.

mod common;
use common::*;
use std::fs;

fn check_with(img: &Image, stores: &[&str], mounts: serde_json::Value) -> Run {
    let dev = img.dev.to_str().unwrap();
    let root = [
        "--device",
        dev,
        "--subvolume",
        "root",
        "--blank",
        "root-blank",
    ];
    let home = [
        "--device",
        dev,
        "--subvolume",
        "home",
        "--blank",
        "home-blank",
    ];
    let cfg = img.dir.path().join("config.json");
    let json = serde_json::json!({
        "args": root,
        "targets": [{"mount_point": "/", "args": root}, {"mount_point": "/home", "args": home}],
        "mounts": mounts,
        "stores": stores,
    });
    fs::write(&cfg, json.to_string()).unwrap();
    let out = std::process::Command::new(binary())
        .args(["check", "--config", cfg.to_str().unwrap()])
        .env("BLANKROOT_KMSG", img.kmsg_file())
        .env_remove("BLANKROOT_KERNEL_CMDLINE")
        .output()
        .unwrap();
    Run::of(out)
}

fn problems(r: &Run) -> Vec<&str> {
    r.stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PROBLEM: "))
        .collect()
}

#[test]
fn the_231_layouts_are_problems_and_their_safe_forms_pass() {
    if !root_or_skip("check_trap") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    {
        let m = img.mount();
        m.subvol("home-src").mkdir("home-src/alice");
        m.snapshot("home-src", "home-blank", true);
        m.subvol("home/alice-data").subvol("alice-data");
        m.mkdir("home/persist");
    }
    let dev = img.dev.to_str().unwrap();
    let mount = |mp: &str, sub: &str| serde_json::json!({"mount_point": mp, "fs_type": "btrfs", "device": dev, "subvolume": sub});

    // The store inside the wiped /home.
    let r = check_with(&img, &["/home/persist"], serde_json::json!([]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        problems(&r),
        ["the persistent store /home/persist lies on /home, which is wiped at every boot: what it keeps would be erased with it (impermanence #231). Put the store on a filesystem of its own that is not wiped (fileSystems.\"/home/persist\" on its own subvolume or dataset, neededForBoot = true), or move it outside /home."],
        "{}",
        r.stdout
    );
    // Safe: the store on its own subvolume (mounted on /persist, or on /home/persist itself).
    for (store, mp) in [("/persist", "/persist"), ("/home/persist", "/home/persist")] {
        let r = check_with(&img, &[store], serde_json::json!([mount(mp, "persist")]));
        assert!(problems(&r).is_empty(), "{store}: {}", r.stdout);
        assert_eq!(r.code, 0, "{store}: {}\n{}", r.stdout, r.stderr);
    }

    // A persisted subvolume nested in `home`, mounted by another entry.
    let r = check_with(
        &img,
        &[],
        serde_json::json!([mount("/srv/alice", "home/alice-data")]),
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let p = problems(&r);
    assert_eq!(p.len(), 1, "{}", r.stdout);
    assert!(
        p[0].starts_with("the subvolume home/alice-data mounted on /srv/alice lies inside the wiped target /home (subvolume home): the next boot deletes it with /home; move it out of home"),
        "{}",
        p[0]
    );
    // Safe: the same data as a top-level subvolume.
    let r = check_with(
        &img,
        &[],
        serde_json::json!([mount("/srv/alice", "alice-data")]),
    );
    assert!(problems(&r).is_empty(), "{}", r.stdout);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}
