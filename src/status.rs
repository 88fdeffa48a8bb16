//! The record of one run, written atomically to the status file (default
//! `/run/blankroot/status.json`, which systemd carries from the initrd into the booted system).
//! One record per target: the root's in the status file, target M's beside it in
//! `status.<M escaped>.json` ([`path_for`]: `/home` → `/run/blankroot/status.home.json`).

use crate::error::{Error, Result};
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt::Write;
use std::fs;
use std::io::Write as _;
use std::path::Path;

pub const DEFAULT_PATH: &str = "/run/blankroot/status.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

/// Written as a JSON object with these field names, in this order. When read, members it does not
/// know are ignored (a newer version's), the lists and the strings that may be null may be absent
/// (an older version's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub pruned: Vec<String>,
    /// ZFS: snapshots newer than the blank that the rollback destroyed.
    #[serde(default)]
    pub destroyed_snapshots: Vec<String>,
    /// Entries of the archive directory that are not archives and were left alone.
    #[serde(default)]
    pub left_alone: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub exit_code: u8,
    pub started_at: String,
    pub duration_ms: u64,
    pub boot_id: Option<String>,
    pub version: String,
    /// The target's mount point; absent for `/` (so the root's record reads as 0.2's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    /// Why a skipped run was skipped: `kernel-command-line` (rd.blankroot=0) or
    /// `skip-next-boot`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

/// `skip_reason` of a run the kernel command line turned off.
pub const SKIPPED_BY_KERNEL_COMMAND_LINE: &str = "kernel-command-line";
/// `skip_reason` of a run a `blankroot skip-next-boot` request skipped.
pub const SKIPPED_BY_REQUEST: &str = "skip-next-boot";

/// The record file of the target mounted on `mount_point`, given the root's (`base`): the root's
/// is `base`, another's is `base`'s name with the escaped mount point before `.json`.
pub fn path_for(base: &Path, mount_point: &crate::mount_point::MountPoint) -> std::path::PathBuf {
    if mount_point.is_root() {
        return base.to_path_buf();
    }
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    base.with_file_name(format!("{stem}.{}.json", mount_point.escaped()))
}

impl Action {
    /// The name in the status record.
    pub fn word(self) -> &'static str {
        match self {
            Action::RolledBack => "rolled-back",
            Action::Archived => "archived",
            Action::Skipped => "skipped",
            Action::Failed => "failed",
        }
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
            mount_point: None,
            skip_reason: None,
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
        serde_json::to_string_pretty(self).expect("a record of strings and numbers")
    }

    /// Reads a record written by `to_json` (or by an earlier or later version).
    pub fn from_json(text: &str) -> std::result::Result<Status, String> {
        from_json_object(text).map_err(|e| e.to_string())
    }

    /// The record was written in the boot `boot` (a record without a boot id is of no boot).
    pub fn of_boot(&self, boot: Option<&str>) -> bool {
        self.boot_id.is_some() && self.boot_id.as_deref() == boot
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
        if let Some(m) = &self.mount_point {
            let _ = write!(out, " {m}:");
        }
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

/// `T` from a JSON object, and only from an object (serde would also take a struct from an
/// array of its fields in order). A member given twice is an error, as are trailing characters.
pub fn from_json_object<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    struct Object<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> std::result::Result<T, M::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = (&mut de).deserialize_map(Object(std::marker::PhantomData))?;
    de.end()?;
    Ok(value)
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
        // serde_json's words, and where in the text.
        assert_eq!(
            err(&format!("{{{base}}}")),
            "missing field `version` at line 1 column 73"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v", "version": "w"}}"#)),
            "duplicate field `version` at line 1 column 99"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": 1}}"#)),
            "invalid type: integer `1`, expected a string at line 1 column 86"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v", "pruned": null}}"#)),
            "invalid type: null, expected a sequence at line 1 column 104"
        );
        assert_eq!(
            err(r#"{"action": "exploded"}"#),
            "unknown variant `exploded`, expected one of `rolled-back`, `archived`, `skipped`, `failed` at line 1 column 21"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v", "exit_code": 256}}"#)),
            "duplicate field `exit_code` at line 1 column 101"
        );
        assert_eq!(
            err(
                r#"{"action": "failed", "exit_code": 256, "started_at": "t", "duration_ms": 5, "version": "v"}"#
            ),
            "invalid value: integer `256`, expected u8 at line 1 column 37"
        );
        assert_eq!(
            err("[]"),
            "invalid type: sequence, expected a JSON object at line 1 column 0"
        );
        // Not even an array of the members in order.
        let fields = r#"["failed", null, null, null, null, null, [], [], [], [], null, 1, "t", 5, null, "v"]"#;
        assert!(err(fields).starts_with("invalid type: sequence, expected a JSON object"));
        assert_eq!(err("{"), "EOF while parsing an object at line 1 column 1");
        assert_eq!(
            err(&format!(r#"{{{base}, "version": "v"}} x"#)),
            "trailing characters at line 1 column 91"
        );
    }

    #[test]
    fn missing_record_says_what_to_check() {
        let err = Status::read(Path::new("/nonexistent/status.json")).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.message.contains("no status record"), "{}", err.message);
    }
}
