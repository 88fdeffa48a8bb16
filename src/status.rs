//! The record of one run, written atomically to the status file (default
//! `/run/blankroot/status.json`, which systemd carries from the initrd into the booted system).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
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
        fs::create_dir_all(dir).map_err(|e| Error::io(&what, e))?;
        let name = path.file_name().ok_or_else(|| {
            Error::usage(format!("--status-file {}: not a file name", path.display()))
        })?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let json = serde_json::to_string_pretty(self).expect("a status record serialises");
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
        serde_json::from_str(&text).map_err(|e| {
            Error::runtime(format!(
                "{} is not a blankroot status record: {e}",
                path.display()
            ))
        })
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
            out += &format!(" {target}");
        }
        if let Some(source) = &self.source {
            out += &format!(" from {source}");
        }
        out += &format!(" ({fs}");
        if let Some(device) = &self.device {
            out += &format!(" on {device}");
        }
        out += ")\n";
        let boot = match (&self.boot_id, current_boot) {
            (Some(a), Some(b)) if a == b => "this boot".to_string(),
            (Some(_), Some(_)) => "an EARLIER boot: blankroot did not run this boot".to_string(),
            _ => "unknown boot".to_string(),
        };
        out += &format!(
            "  when: {} ({boot}), took {} ms\n",
            self.started_at, self.duration_ms
        );
        if let Some(archive) = &self.archive {
            out += &format!("  archive: {archive}\n");
        }
        for (label, list) in [
            ("pruned", &self.pruned),
            ("destroyed snapshot", &self.destroyed_snapshots),
            ("left alone", &self.left_alone),
            ("warning", &self.warnings),
        ] {
            for item in list {
                out += &format!("  {label}: {item}\n");
            }
        }
        if let Some(error) = &self.error {
            out += &format!("  error: {error}\n");
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
    fn missing_record_says_what_to_check() {
        let err = Status::read(Path::new("/nonexistent/status.json")).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.message.contains("no status record"), "{}", err.message);
    }
}
