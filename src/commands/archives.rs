//! `blankroot archives`: the archived roots, newest first, and what retention leaves alone in
//! the archive directory (issue 11). Read-only: the Btrfs top level is mounted read-only; on ZFS
//! only `zfs list` and `zfs get` run.

use crate::archived::{archive_mode_off, size, Listing};
use crate::btrfs::{self, mount::TopMount};
use crate::error::Result;
use crate::target::{Fs, Target};
use crate::time::rfc3339;
use crate::zfs;
use serde_json::json;
use std::fmt::Write;

pub fn run(target: &Target, json: bool) -> u8 {
    let now = crate::time::unix_now();
    match listing(target, now) {
        Ok(l) => {
            if json {
                println!("{}", to_json(&l, target, now));
            } else {
                print!("{}", render(&l, target, now));
            }
            0
        }
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            e.exit_code()
        }
    }
}

/// The target's archives, read without changing anything.
pub fn listing(target: &Target, now: i64) -> Result<Listing> {
    match &target.fs {
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => {
            if config.archive.is_none() {
                return Err(archive_mode_off());
            }
            let top = TopMount::mount(device, mount_options.as_deref(), true)?;
            let listed = btrfs::archives::list(&top, config, now);
            top.unmount()?;
            listed
        }
        Fs::Zfs(c) => {
            if c.archive.is_none() {
                return Err(archive_mode_off());
            }
            let tools =
                zfs::cmd::Tools::locate(c.zfs_command.as_deref(), std::env::var_os("PATH"))?;
            zfs::archives::list(&tools, c, now)
        }
    }
}

fn where_(target: &Target) -> String {
    let fs = match &target.fs {
        Fs::Btrfs { device, .. } => format!("btrfs {}", device.display()),
        Fs::Zfs(c) => format!("zfs pool {}", c.dataset.pool()),
    };
    if target.mount_point.is_root() {
        fs
    } else {
        format!("{fs}, target {}", target.mount_point)
    }
}

pub fn to_json(l: &Listing, target: &Target, now: i64) -> serde_json::Value {
    let latest = l.latest().map(|a| a.path.clone());
    let archives: Vec<serde_json::Value> = l
        .archives
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "path": a.path,
                "archived_at": rfc3339(a.stamp.secs),
                "age_seconds": now - a.stamp.secs,
                "latest": latest.as_deref() == Some(a.path.as_str()),
                "marked": a.marked,
                "nested": a.nested,
                "size_bytes": a.size_bytes,
            })
        })
        .collect();
    let left: Vec<serde_json::Value> = l
        .left_alone
        .iter()
        .map(|e| json!({ "name": e.name, "reason": e.reason }))
        .collect();
    json!({
        "filesystem": match &target.fs { Fs::Btrfs { .. } => "btrfs", Fs::Zfs(_) => "zfs" },
        "archive_dir": l.dir,
        "mount_point": target.mount_point.to_string(),
        "archives": archives,
        "left_alone": left,
        "size_unknown": l.size_unknown,
        "notes": l.notes,
    })
}

/// `45s`, `3m`, `2h 5m`, `3d 4h`, `45d`; `in the future` when the clock is behind the name.
pub fn age(secs: i64) -> String {
    if secs < 0 {
        return "in the future".into();
    }
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{m}m"),
        3600..86_400 => format!("{h}h {}m", m % 60),
        86_400..864_000 => format!("{d}d {}h", h % 24),
        _ => format!("{d}d"),
    }
}

pub fn render(l: &Listing, target: &Target, now: i64) -> String {
    let mut out = String::new();
    for n in &l.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let count = l.archives.len();
    let _ = writeln!(
        out,
        "{count} archive{} in {} ({}){}",
        if count == 1 { "" } else { "s" },
        l.dir,
        where_(target),
        if count > 0 { ", newest first:" } else { "" }
    );
    let rows: Vec<[String; 5]> = l
        .archives
        .iter()
        .map(|a| {
            let c = crate::time::civil_from_unix(a.stamp.secs);
            let mut name = a.name.clone();
            if l.latest().is_some_and(|x| x.path == a.path) {
                name += " (latest)";
            }
            if !a.marked {
                name += " (unmarked)";
            }
            [
                name,
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    c.year, c.month, c.day, c.hour, c.minute, c.second
                ),
                age(now - a.stamp.secs),
                a.size_bytes.map_or_else(|| "?".to_string(), size),
                if a.nested.is_empty() {
                    "-".to_string()
                } else {
                    a.nested.join(" ")
                },
            ]
        })
        .collect();
    if !rows.is_empty() {
        let head = ["NAME", "ARCHIVED (UTC)", "AGE", "SIZE", "NESTED"].map(String::from);
        let mut w = [0usize; 5];
        for r in std::iter::once(&head).chain(&rows) {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        for r in std::iter::once(&head).chain(&rows) {
            let line = format!(
                "  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if let Some(why) = &l.size_unknown {
            let _ = writeln!(out, "size unknown: {why}");
        }
        if l.archives.iter().any(|a| !a.marked) {
            let _ = writeln!(
                out,
                "(unmarked): not made by this blankroot (an older one, or another tool): retention never prunes it"
            );
        }
        if let Some(a) = l.latest() {
            let _ = writeln!(out, "latest (restore's default --from): {}", a.name);
        }
    }
    if !l.left_alone.is_empty() {
        let _ = writeln!(out, "left alone by retention (never pruned):");
        for e in &l.left_alone {
            let _ = writeln!(out, "  {}: {}", e.name, e.reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention;

    #[test]
    fn ages_and_sizes_read_well() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(age(3 * 86_400 + 4 * 3600), "3d 4h");
        assert_eq!(age(45 * 86_400), "45d");
        assert_eq!(age(-1), "in the future");
    }

    #[test]
    fn the_listing_names_latest_unmarked_and_left_alone() {
        let stamp = |n: &str| retention::parse(n).unwrap();
        let mk = |n: &str, marked| crate::archived::Archived {
            name: n.into(),
            path: format!("old/{n}"),
            stamp: stamp(n),
            marked,
            nested: if marked { vec!["/srv".into()] } else { vec![] },
            size_bytes: marked.then_some(2048),
        };
        let mut l = Listing {
            dir: "old".into(),
            archives: vec![
                mk("2024-3-5_10:11:12", false),
                mk("2026-11-22T02:20:50Z", true),
            ],
            left_alone: vec![crate::archived::LeftAlone {
                name: "old/notes".into(),
                reason: "a plain directory".into(),
            }],
            ..Listing::default()
        };
        l.sort();
        let t = Target {
            mount_point: crate::mount_point::MountPoint::root(),
            fs: Fs::Zfs(
                zfs::Config::new("p/root", "blank", zfs::Import::No, None, None, false).unwrap(),
            ),
        };
        let now = stamp("2026-11-22T05:20:50Z").secs;
        let text = render(&l, &t, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2 archives in old (zfs pool p), newest first:");
        assert_eq!(
            lines[1],
            "  NAME                           ARCHIVED (UTC)       AGE    SIZE     NESTED"
        );
        assert_eq!(
            lines[2],
            "  2026-11-22T02:20:50Z (latest)  2026-11-22 02:20:50  3h 0m  2.0 KiB  /srv"
        );
        assert_eq!(
            lines[3],
            "  2024-3-5_10:11:12 (unmarked)   2024-03-05 10:11:12  991d   ?        -"
        );
        assert!(
            text.contains("\nlatest (restore's default --from): 2026-11-22T02:20:50Z\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "left alone by retention (never pruned):\n  old/notes: a plain directory\n"
            ),
            "{text}"
        );
        let j = to_json(&l, &t, now);
        assert_eq!(j["archives"][0]["latest"], true);
        assert_eq!(j["archives"][0]["archived_at"], "2026-11-22T02:20:50Z");
        assert_eq!(j["archives"][0]["age_seconds"], 3 * 3600);
        assert_eq!(j["archives"][1]["size_bytes"], serde_json::Value::Null);
        assert_eq!(j["left_alone"][0]["reason"], "a plain directory");
    }
}
