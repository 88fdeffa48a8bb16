//! `blankroot status`: the records of the last runs, one per target, for people (`--json` for
//! scripts) and for blankroot-status.service (`--check`).
//!
//! Which targets: the configuration's (each record where [`status::path_for`] puts it), else the
//! record in the status file and the records of other targets beside it.

use crate::host::Host;
use crate::mount_point::MountPoint;
use crate::status::{self, Status};
use crate::target::Target;
use std::path::{Path, PathBuf};

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    /// The root's record as written, every target's in "targets".
    Json,
    /// Prometheus' text exposition format (node-exporter's textfile collector).
    Prometheus,
}

/// What `status` is asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The root's record (the others lie beside it).
    pub status_file: PathBuf,
    pub format: Format,
    /// Exit 1 unless every target's record is from this boot and its run did not fail.
    pub check: bool,
    /// The configuration's targets, when there is one.
    pub targets: Option<Vec<Target>>,
    /// Write the JSON or metrics to this file (atomically) instead of stdout.
    pub output: Option<PathBuf>,
}

/// A target and its record, or why there is none.
struct Found {
    mount_point: MountPoint,
    record: crate::error::Result<Status>,
}

/// Prints the records and returns the exit code.
pub fn run(args: &Options, host: &Host) -> u8 {
    let mut found = find(args);
    let boot = host.boot_id();
    if args.check {
        found = not_booted(found, host, boot.as_deref());
    }
    let mut code = 0;
    let out = match args.format {
        Format::Json => json(&found).map(|text| text + "\n"),
        Format::Prometheus => Some(prometheus(args, &found, boot.as_deref())),
        Format::Text => None,
    };
    match (out, &args.output) {
        (None, _) if args.format == Format::Json => code = 1,
        (Some(text), None) => print!("{text}"),
        (Some(text), Some(file)) => {
            if let Err(e) = crate::host::write_atomic(file, text.as_bytes()) {
                eprintln!("blankroot: error: writing {}: {e}", file.display());
                return 1;
            }
        }
        (None, _) => {}
    }
    let text = args.format == Format::Text;
    for f in &found {
        match &f.record {
            // Metrics say what is missing themselves; a scrape file must not fail to be written.
            Err(_) if args.format == Format::Prometheus && !args.check => {}
            Ok(r) if text => {
                print!("{}", r.render(boot.as_deref()));
                // Not with --check (blankroot-status.service at every boot): that only needs
                // the record, not a look at the disk.
                if !args.check {
                    if let Some(when) = pending_skip(args, &f.mount_point) {
                        println!(
                            "  pending: skip-next-boot, requested at {when}: the next boot leaves {} as it is (blankroot skip-next-boot --cancel withdraws it)",
                            f.mount_point
                        );
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("blankroot: {}{e}", prefix(&f.mount_point));
                code = e.exit_code();
            }
        }
    }
    if args.check {
        for f in &found {
            let Ok(r) = &f.record else { continue };
            let this_boot = r.of_boot(boot.as_deref());
            if !(this_boot && r.succeeded()) {
                eprintln!(
                    "blankroot: {}",
                    if this_boot {
                        format!(
                            "the rollback failed this boot: {} was not reset",
                            f.mount_point
                        )
                    } else {
                        format!(
                            "the rollback did not run this boot: {} was not reset",
                            f.mount_point
                        )
                    }
                );
                code = 1;
            }
        }
        if found.iter().any(|f| f.record.is_err()) {
            code = 1;
        }
    }
    code
}

/// `--check` after a switch: a target without a record of this boot that the booted system
/// (NixOS' `/run/booted-system`) does not wipe was added by a switch since the boot (the first
/// `nixos-rebuild switch` that enables blankroot, or one adding `/home`): nothing was meant to
/// reset it yet. It is named and left out of the check; when the booted system is not known,
/// every target is checked.
fn not_booted(found: Vec<Found>, host: &Host, boot: Option<&str>) -> Vec<Found> {
    let Some(booted) = host.booted_config() else {
        return found;
    };
    let wiped: Vec<MountPoint> = match booted {
        None => Vec::new(),
        Some(text) => {
            let path = Path::new("/run/booted-system/etc/blankroot/config.json");
            let Ok(c) = crate::config::parse(path, &text) else {
                return found;
            };
            c.target_entries()
                .iter()
                .filter_map(|t| MountPoint::parse("", &t.mount_point).ok())
                .collect()
        }
    };
    found
        .into_iter()
        .filter(|f| {
            let this_boot = f
                .record
                .as_ref()
                .is_ok_and(|r| r.of_boot(boot));
            let skip = !this_boot && !wiped.contains(&f.mount_point);
            if skip {
                eprintln!(
                    "blankroot: {} not checked: the booted system does not wipe it (blankroot's configuration for it came with a switch after this boot); the next boot resets it",
                    f.mount_point
                );
            }
            !skip
        })
        .collect()
}

fn prefix(m: &MountPoint) -> String {
    if m.is_root() {
        String::new()
    } else {
        format!("{m}: ")
    }
}

/// The targets and their records, the root first.
fn find(args: &Options) -> Vec<Found> {
    let base = &args.status_file;
    let points: Vec<MountPoint> = match &args.targets {
        Some(ts) => ts.iter().map(|t| t.mount_point.clone()).collect(),
        None => {
            let mut p = vec![MountPoint::root()];
            p.extend(beside(base));
            p
        }
    };
    // The root first, the others as they came.
    let (mut points, others): (Vec<MountPoint>, Vec<MountPoint>) =
        points.into_iter().partition(|m| m.is_root());
    points.extend(others);
    let mut found: Vec<Found> = points
        .into_iter()
        .map(|m| {
            let record = Status::read(&status::path_for(base, &m));
            Found {
                mount_point: m,
                record,
            }
        })
        .collect();
    // Without a configuration, the status file itself may hold another target's record (its
    // unit's --status-file): it is that target's.
    if args.targets.is_none() {
        if let Some(Ok(r)) = found.first().map(|f| &f.record) {
            if let Some(m) = r
                .mount_point
                .as_deref()
                .and_then(|m| MountPoint::parse("", m).ok())
            {
                found[0].mount_point = m;
            }
        }
        if found.len() > 1 && found[0].record.is_err() {
            // Only other targets' records: no root record is not an error then.
            found.remove(0);
        }
    }
    found
}

/// The mount points of the other targets' records beside `base` (`status.<escaped>.json`).
fn beside(base: &Path) -> Vec<MountPoint> {
    let (Some(dir), Some(name)) = (base.parent(), base.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(mid) = n
            .strip_prefix(&format!("{stem}."))
            .and_then(|r| r.strip_suffix(".json"))
        else {
            continue;
        };
        if mid.is_empty() || mid.ends_with(".tmp") {
            continue;
        }
        // The record says its mount point; its name must be where path_for puts it.
        let Ok(r) = Status::read(&e.path()) else {
            continue;
        };
        let Some(m) = r
            .mount_point
            .as_deref()
            .and_then(|m| MountPoint::parse("", m).ok())
        else {
            continue;
        };
        if status::path_for(base, &m) == e.path() && !m.is_root() {
            out.push(m);
        }
    }
    crate::sort::asc(&mut out);
    out
}

/// `--json`: the root's record as 0.2 wrote it, with a member "targets" holding every target's
/// record (each with its "mount_point"). `None` when a record is missing (said on stderr).
fn json(found: &[Found]) -> Option<String> {
    let records: Vec<&Status> = found
        .iter()
        .filter_map(|f| f.record.as_ref().ok())
        .collect();
    if records.len() != found.len() || records.is_empty() {
        return None;
    }
    // Written by hand around the records' own text, so the root's members keep their order.
    let root = records[0].to_json();
    let items: Vec<String> = found
        .iter()
        .zip(&records)
        .map(|(f, r)| {
            let mut r = (*r).clone();
            r.mount_point = Some(f.mount_point.to_string());
            r.to_json().replace('\n', "\n    ")
        })
        .collect();
    let body = root.strip_suffix("\n}").expect("a pretty-printed object");
    Some(format!(
        "{body},\n  \"targets\": [\n    {}\n  ]\n}}",
        items.join(",\n    ")
    ))
}

/// The metrics of every target: its record, and (with a configuration) its archives and the
/// counts of the last `blankroot check --record` beside the status file.
fn prometheus(args: &Options, found: &[Found], boot: Option<&str>) -> String {
    let check = super::check::Record::read(&args.status_file.with_file_name("check.json"));
    let checked_at = check
        .as_ref()
        .and_then(|c| crate::time::parse_rfc3339(&c.checked_at))
        .unwrap_or(0);
    let now = crate::time::unix_now();
    let targets: Vec<crate::metrics::Target> = found
        .iter()
        .map(|f| {
            let record = f.record.as_ref().ok();
            let this_boot = record.is_some_and(|r| r.of_boot(boot));
            let archives = args
                .targets
                .as_ref()
                .and_then(|ts| ts.iter().find(|t| t.mount_point == f.mount_point))
                .filter(|t| t.archives())
                .and_then(|t| super::archives::listing(t, now).ok())
                .map(|l| crate::metrics::Archives {
                    count: l.archives.len() as u64,
                    bytes: l.archives.iter().filter_map(|a| a.size_bytes).sum(),
                    size_unknown: l.archives.iter().filter(|a| a.size_bytes.is_none()).count()
                        as u64,
                });
            let check = check
                .as_ref()
                .and_then(|c| {
                    c.targets
                        .iter()
                        .find(|t| t.mount_point == f.mount_point.to_string())
                })
                .map(|c| crate::metrics::Check {
                    problems: c.problems,
                    warnings: c.warnings,
                    losses: c.losses,
                    at: checked_at,
                });
            crate::metrics::Target {
                mount_point: f.mount_point.to_string(),
                record,
                this_boot,
                archives,
                check,
            }
        })
        .collect();
    crate::metrics::render(&targets)
}

/// When a skip-next-boot request for the target was made, if one is pending (best effort:
/// nothing is said when there is no configuration or the disk cannot be read).
fn pending_skip(args: &Options, m: &MountPoint) -> Option<String> {
    let t = args
        .targets
        .as_ref()?
        .iter()
        .find(|t| &t.mount_point == m)?;
    super::skip::pending(t).ok()?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Action;
    use std::fs;

    fn host(boot_id: &str) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc/sys/kernel/random")).unwrap();
        fs::write(dir.path().join("proc/sys/kernel/random/boot_id"), boot_id).unwrap();
        let h = Host::at(dir.path());
        (dir, h)
    }

    fn booted(dir: &Path, config: Option<&str>) {
        let etc = dir.join("run/booted-system/etc");
        fs::create_dir_all(&etc).unwrap();
        if let Some(text) = config {
            fs::create_dir_all(etc.join("blankroot")).unwrap();
            fs::write(etc.join("blankroot/config.json"), text).unwrap();
        }
    }

    fn found() -> Vec<Found> {
        let mut root = Status::new(Action::RolledBack);
        root.boot_id = Some("boot-1".into());
        vec![
            Found {
                mount_point: MountPoint::root(),
                record: Ok(root),
            },
            Found {
                mount_point: MountPoint::parse("", "/home").unwrap(),
                record: Err(crate::error::Error::runtime("no record")),
            },
        ]
    }

    fn kept(found: Vec<Found>) -> Vec<String> {
        found.iter().map(|f| f.mount_point.to_string()).collect()
    }

    #[test]
    fn targets_a_switch_added_since_the_boot_are_not_checked() {
        let (dir, h) = host("boot-1\n");
        let all = ["/", "/home"];
        assert_eq!(
            kept(not_booted(found(), &h, Some("boot-1"))),
            all,
            "no /run/booted-system: everything is checked"
        );
        booted(
            dir.path(),
            Some("{\"targets\": [{\"mount_point\": \"/\"}]}"),
        );
        assert_eq!(
            kept(not_booted(found(), &h, Some("boot-1"))),
            ["/"],
            "/home came with a switch"
        );
        assert_eq!(
            kept(not_booted(found(), &h, Some("boot-2"))),
            ["/"],
            "the booted system wipes /: its record of another boot is still checked"
        );
        let both = "{\"targets\": [{\"mount_point\": \"/\"}, {\"mount_point\": \"/home\"}]}";
        booted(dir.path(), Some(both));
        assert_eq!(kept(not_booted(found(), &h, Some("boot-1"))), all);
        booted(
            dir.path(),
            Some("{\"args\": [\"--device\", \"/dev/vda2\"]}"),
        );
        assert_eq!(
            kept(not_booted(found(), &h, Some("boot-1"))),
            ["/"],
            "a 0.2 configuration wipes /"
        );
        booted(dir.path(), Some("not json"));
        assert_eq!(
            kept(not_booted(found(), &h, Some("boot-1"))),
            all,
            "an unreadable booted configuration proves nothing"
        );
    }

    #[test]
    fn the_first_switch_enabling_blankroot_passes_the_check_and_a_boot_does_not() {
        let (dir, h) = host("boot-1\n");
        let args = Options {
            status_file: dir.path().join("run/blankroot/status.json"),
            format: Format::Text,
            check: true,
            targets: None,
            output: None,
        };
        assert_eq!(run(&args, &h), 1, "no record, no booted system known");
        booted(dir.path(), None);
        assert_eq!(
            run(&args, &h),
            0,
            "the booted system has no blankroot: a switch enabled it"
        );
        booted(
            dir.path(),
            Some("{\"args\": [\"--device\", \"/dev/vda2\"]}"),
        );
        assert_eq!(
            run(&args, &h),
            1,
            "the booted system wipes /: no record fails"
        );
        let mut failed = Status::new(Action::Failed);
        failed.boot_id = Some("boot-1".into());
        fs::create_dir_all(dir.path().join("run/blankroot")).unwrap();
        failed.write(&args.status_file).unwrap();
        fs::remove_file(
            dir.path()
                .join("run/booted-system/etc/blankroot/config.json"),
        )
        .unwrap();
        assert_eq!(run(&args, &h), 1, "a failed run of this boot always fails");
    }
}
