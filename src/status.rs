//! The record of one run, written atomically to the status file (default
//! `/run/blankroot/status.json`, which systemd carries from the initrd into the booted system).

use crate::error::{Error, Result};
use crate::json::{self, Pretty};
use std::fmt::Write;
use std::fs;
use std::io::Write as _;
use std::path::Path;

pub const DEFAULT_PATH: &str = "/run/blankroot/status.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The root was deleted and recreated from the blank (or empty).
    RolledBack,
    /// The root was moved into the archive directory and recreated.
    Archived,
    /// Turned off on purpose (kernel command line).
    Skipped,
    /// Nothing was replaced, or the run stopped part-way; `error` says why.
    Failed,
}

/// Written as a JSON object with these field names, in this order (`pruned`,
/// `destroyed_snapshots`, `left_alone` and `warnings` may be absent when read).
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub action: Action,
    pub filesystem: Option<String>,
    pub device: Option<String>,
    /// The root subvolume or dataset that was replaced.
    pub target: Option<String>,
    /// What the root was recreated from: the blank snapshot's name, or `empty`.
    pub source: Option<String>,
    /// The archive made this run (relative to the top level, or a dataset name).
    pub archive: Option<String>,
    pub pruned: Vec<String>,
    /// ZFS: snapshots newer than the blank that the rollback destroyed.
    pub destroyed_snapshots: Vec<String>,
    /// Entries of the archive directory that are not archives and were left alone.
    pub left_alone: Vec<String>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub exit_code: u8,
    pub started_at: String,
    pub duration_ms: u64,
    pub boot_id: Option<String>,
    pub version: String,
}

const ACTIONS: [(Action, &str); 4] = [
    (Action::RolledBack, "rolled-back"),
    (Action::Archived, "archived"),
    (Action::Skipped, "skipped"),
    (Action::Failed, "failed"),
];

impl Action {
    /// The name in the status record.
    pub fn word(self) -> &'static str {
        ACTIONS[self as usize].1
    }
}

impl Status {
    pub fn new(action: Action) -> Status {
        Status {
            action,
            filesystem: None,
            device: None,
            target: None,
            source: None,
            archive: None,
            pruned: Vec::new(),
            destroyed_snapshots: Vec::new(),
            left_alone: Vec::new(),
            warnings: Vec::new(),
            error: None,
            exit_code: 0,
            started_at: String::new(),
            duration_ms: 0,
            boot_id: None,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Writes the record to a temporary file beside `path`, syncs it and renames it over `path`,
    /// so a reader sees the old record or the new one, never half of one.
    pub fn write(&self, path: &Path) -> Result<()> {
        let what = format!("writing the status file {}", path.display());
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        crate::host::create_dirs(dir, 0o777).map_err(|e| Error::io(&what, e))?;
        let name = path.file_name().ok_or_else(|| {
            Error::usage(format!("--status-file {}: not a file name", path.display()))
        })?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let json = self.to_json();
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(json.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(|e| Error::io(&what, e))
    }

    pub fn read(path: &Path) -> Result<Status> {
        let text = fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::runtime(format!(
                    "no status record at {}: blankroot has not run since boot (is boot.blankroot enabled, or was --status-file different?)",
                    path.display()
                ))
            } else {
                Error::io(format!("reading {}", path.display()), e)
            }
        })?;
        Status::from_json(&text).map_err(|e| {
            Error::runtime(format!(
                "{} is not a blankroot status record: {e}",
                path.display()
            ))
        })
    }

    /// The record as written to the status file and printed by `status --json` (without a
    /// final newline).
    pub fn to_json(&self) -> String {
        let mut p = Pretty::default();
        p.str("action", Some(self.action.word()));
        p.str("filesystem", self.filesystem.as_deref());
        p.str("device", self.device.as_deref());
        p.str("target", self.target.as_deref());
        p.str("source", self.source.as_deref());
        p.str("archive", self.archive.as_deref());
        p.strs("pruned", &self.pruned);
        p.strs("destroyed_snapshots", &self.destroyed_snapshots);
        p.strs("left_alone", &self.left_alone);
        p.strs("warnings", &self.warnings);
        p.str("error", self.error.as_deref());
        p.uint("exit_code", self.exit_code.into());
        p.str("started_at", Some(&self.started_at));
        p.uint("duration_ms", self.duration_ms);
        p.str("boot_id", self.boot_id.as_deref());
        p.str("version", Some(&self.version));
        p.finish()
    }

    /// Reads a record written by `to_json` (or by an earlier version): members it does not know
    /// are ignored, the lists may be absent, the strings that may be null may be absent.
    pub fn from_json(text: &str) -> std::result::Result<Status, String> {
        let value = json::parse(text)?;
        let mut s = Status::new(Action::Failed);
        let required = [
            "action",
            "exit_code",
            "started_at",
            "duration_ms",
            "version",
        ];
        json::record(&value, &required, &mut |k, v| {
            let opt = match k {
                "action" => {
                    let word = json::string(k, v)?;
                    s.action = ACTIONS
                        .iter()
                        .find(|(_, w)| *w == word)
                        .map(|(a, _)| *a)
                        .ok_or_else(|| format!("unknown action {word:?}"))?;
                    return Ok(true);
                }
                "exit_code" => {
                    s.exit_code = json::uint(k, v, u8::MAX.into())? as u8;
                    return Ok(true);
                }
                "duration_ms" => {
                    s.duration_ms = json::uint(k, v, u64::MAX)?;
                    return Ok(true);
                }
                "started_at" | "version" => {
                    let text = json::string(k, v)?;
                    *(if k == "version" {
                        &mut s.version
                    } else {
                        &mut s.started_at
                    }) = text;
                    return Ok(true);
                }
                "pruned" | "destroyed_snapshots" | "left_alone" | "warnings" => {
                    let list = json::strings(k, v)?;
                    *match k {
                        "pruned" => &mut s.pruned,
                        "destroyed_snapshots" => &mut s.destroyed_snapshots,
                        "left_alone" => &mut s.left_alone,
                        _ => &mut s.warnings,
                    } = list;
                    return Ok(true);
                }
                "filesystem" => &mut s.filesystem,
                "device" => &mut s.device,
                "target" => &mut s.target,
                "source" => &mut s.source,
                "archive" => &mut s.archive,
                "error" => &mut s.error,
                "boot_id" => &mut s.boot_id,
                _ => return Ok(false),
            };
            *opt = json::opt_string(k, v)?;
            Ok(true)
        })?;
        Ok(s)
    }

    pub fn succeeded(&self) -> bool {
        self.action != Action::Failed
    }

    /// A few lines for people.
    pub fn render(&self, current_boot: Option<&str>) -> String {
        let what = match self.action {
            Action::RolledBack => "rolled back",
            Action::Archived => "archived and rolled back",
            Action::Skipped => "skipped",
            Action::Failed => "FAILED",
        };
        let fs = self.filesystem.as_deref().unwrap_or("?");
        let mut out = format!("blankroot {what}");
        if let Some(target) = &self.target {
            let _ = write!(out, " {target}");
        }
        if let Some(source) = &self.source {
            let _ = write!(out, " from {source}");
        }
        let _ = write!(out, " ({fs}");
        if let Some(device) = &self.device {
            let _ = write!(out, " on {device}");
        }
        out += ")\n";
        let boot = match (&self.boot_id, current_boot) {
            (Some(a), Some(b)) if a == b => "this boot".to_string(),
            (Some(_), Some(_)) => "an EARLIER boot: blankroot did not run this boot".to_string(),
            _ => "unknown boot".to_string(),
        };
        let _ = writeln!(
            out,
            "  when: {} ({boot}), took {} ms",
            self.started_at, self.duration_ms
        );
        if let Some(archive) = &self.archive {
            let _ = writeln!(out, "  archive: {archive}");
        }
        for (label, list) in [
            ("pruned", &self.pruned),
            ("destroyed snapshot", &self.destroyed_snapshots),
            ("left alone", &self.left_alone),
            ("warning", &self.warnings),
        ] {
            for item in list {
                let _ = writeln!(out, "  {label}: {item}");
            }
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "  error: {error}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/status.json");
        let mut s = Status::new(Action::Archived);
        s.archive = Some("old_roots/2026-11-22T02:20:50Z".into());
        s.boot_id = Some("b1".into());
        s.write(&path).unwrap();
        assert_eq!(Status::read(&path).unwrap(), s);
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let text = s.render(Some("b2"));
        assert!(text.contains("EARLIER boot"), "{text}");
        assert!(text.contains("archive: old_roots/"), "{text}");
    }

    #[test]
    fn the_record_is_written_as_before() {
        let mut s = Status::new(Action::RolledBack);
        s.filesystem = Some("zfs".into());
        s.target = Some("rpool/local/root".into());
        s.destroyed_snapshots = vec!["rpool/local/root@a".into(), "rpool/local/root@b".into()];
        s.warnings = vec!["say \"hi\"\n\u{1}".into()];
        s.exit_code = 0;
        s.started_at = "2026-11-22T02:20:50Z".into();
        s.duration_ms = 1234;
        s.boot_id = Some("b1".into());
        let text = s.to_json();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            text,
            format!(
                r#"{{
  "action": "rolled-back",
  "filesystem": "zfs",
  "device": null,
  "target": "rpool/local/root",
  "source": null,
  "archive": null,
  "pruned": [],
  "destroyed_snapshots": [
    "rpool/local/root@a",
    "rpool/local/root@b"
  ],
  "left_alone": [],
  "warnings": [
    "say \"hi\"\n\u0001"
  ],
  "error": null,
  "exit_code": 0,
  "started_at": "2026-11-22T02:20:50Z",
  "duration_ms": 1234,
  "boot_id": "b1",
  "version": "{version}"
}}"#
            )
        );
        assert_eq!(Status::from_json(&text).unwrap(), s);
        for a in [
            Action::RolledBack,
            Action::Archived,
            Action::Skipped,
            Action::Failed,
        ] {
            let mut t = s.clone();
            t.action = a;
            assert_eq!(Status::from_json(&t.to_json()).unwrap(), t);
        }
    }

    #[test]
    fn older_and_malformed_records() {
        // Lists and nullable strings may be absent; unknown members are ignored.
        let old = r#"{"action": "skipped", "exit_code": 0, "started_at": "t", "duration_ms": 5,
            "version": "0.0.1", "future": {"x": [1.5, true]}, "error": null}"#;
        let s = Status::from_json(old).unwrap();
        assert_eq!(s.action, Action::Skipped);
        assert_eq!((s.duration_ms, s.version.as_str()), (5, "0.0.1"));
        assert!(s.pruned.is_empty() && s.filesystem.is_none() && s.error.is_none());
        let err = |text: &str| Status::from_json(text).unwrap_err();
        let base = r#""action": "failed", "exit_code": 1, "started_at": "t", "duration_ms": 5"#;
        assert_eq!(err(&format!("{{{base}}}")), "missing field `version`");
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v", "version": "w"}}"#)),
            "duplicate field `version`"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": 1}}"#)),
            "field `version`: expected a string, got a number (1)"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v", "pruned": null}}"#)),
            "field `pruned`: expected a list of strings, got null"
        );
        assert_eq!(
            err(r#"{"action": "exploded"}"#),
            "unknown action \"exploded\""
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v", "exit_code": 256}}"#)),
            "field `exit_code`: expected a whole number from 0 to 255, got a number (256)"
        );
        assert_eq!(err("[]"), "expected an object, got an array");
        assert!(err("{").contains("unexpected end of input"));
    }

    #[test]
    fn missing_record_says_what_to_check() {
        let err = Status::read(Path::new("/nonexistent/status.json")).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.message.contains("no status record"), "{}", err.message);
    }
}
