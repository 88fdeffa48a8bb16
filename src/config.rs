//! The configuration the NixOS module installs, `/etc/blankroot/config.json`:
//!
//! ```json
//! {"args": ["--device", "/dev/...", ...the root's rollback options...],
//!  "targets": [{"mount_point": "/", "args": [...], "stage": "initrd"},
//!              {"mount_point": "/home", "args": [...], "stage": "booted"}],
//!  "mounts": [{"mount_point": "/persist", "fs_type": "btrfs", "device": "/dev/...",
//!              "subvolume": "persist", "dataset": null, "needed_for_boot": true}],
//!  "stores": ["/persist"],
//!  "persisted": ["/etc/nixos", ...],
//!  "persist_dir": "/persist",
//!  "persistence": [{"path": "/var/lib/foo", "stored": "/persist/var/lib/foo"}],
//!  "must_persist": ["/etc/ssh/ssh_host_ed25519_key", ...]}
//! ```
//!
//! Only `args` (0.2) or `targets` is needed; the others may be absent, and members this version
//! does not know are ignored. Without `targets`, `args` is the one target, `/`.

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/blankroot/config.json";

/// Other members of the object are ignored; either list may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Config {
    /// The rollback's options, parsed by the rollback's own parser.
    #[serde(default)]
    pub args: Vec<String>,
    /// Absolute paths that survive a boot.
    #[serde(default)]
    pub persisted: Vec<String>,
    /// Where the configuration persists to (`environment.persistence`'s or
    /// `preservation.preserveAt`'s first key), for `diff --suggest`.
    #[serde(default)]
    pub persist_dir: Option<String>,
    /// Each persisted path with where its persistent copy lives, for `check` (a newly persisted
    /// path whose data still lies only on the root).
    #[serde(default)]
    pub persistence: Vec<Stored>,
    /// Key files the configuration names (`services.openssh.hostKeys`, sops-nix, agenix): `check`
    /// warns when one would be wiped.
    #[serde(default)]
    pub must_persist: Vec<String>,
    /// Every filesystem the configuration wipes, the root first.
    #[serde(default)]
    pub targets: Vec<TargetEntry>,
    /// Every filesystem the configuration mounts (`fileSystems`), for the checks that a wiped
    /// target takes nothing another mount or a persistent store needs.
    #[serde(default)]
    pub mounts: Vec<MountEntry>,
    /// The persistent stores (impermanence's persistentStoragePath, preservation's preserveAt).
    #[serde(default)]
    pub stores: Vec<String>,
}

/// A wiped filesystem: its mount point and the rollback's options for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TargetEntry {
    pub mount_point: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Where it is rolled back: `initrd`, or `booted` (stage 2, before its mount).
    #[serde(default)]
    pub stage: Option<String>,
}

/// A `fileSystems` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MountEntry {
    pub mount_point: String,
    #[serde(default)]
    pub fs_type: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    /// Btrfs: the `subvol=`, relative to the top level.
    #[serde(default)]
    pub subvolume: Option<String>,
    /// ZFS: the dataset.
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub needed_for_boot: bool,
}

impl Config {
    /// The targets as listed: `targets`, else the one of 0.2's `args` (`/`).
    pub fn target_entries(&self) -> Vec<TargetEntry> {
        if self.targets.is_empty() {
            vec![TargetEntry {
                mount_point: "/".into(),
                args: self.args.clone(),
                stage: None,
            }]
        } else {
            self.targets.clone()
        }
    }
}

/// A persisted path and its persistent copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Stored {
    pub path: String,
    pub stored: String,
}

pub fn parse(path: &Path, text: &str) -> Result<Config> {
    crate::status::from_json_object(text).map_err(|e| {
        Error::usage(format!(
            "{}: {e}; expected {{\"args\": [...], \"targets\": [...], \"persisted\": [...]}}",
            path.display()
        ))
    })
}

/// A configuration named on the command line: it must exist.
pub fn load(path: &Path) -> Result<Option<(PathBuf, Config)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("--config {}: {e}", path.display())))?;
    Ok(Some((path.to_path_buf(), parse(path, &text)?)))
}

/// The installed configuration, if there is one.
pub fn load_default() -> Result<Option<(PathBuf, Config)>> {
    let path = Path::new(DEFAULT_PATH);
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some((path.to_path_buf(), parse(path, &text)?))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::runtime(format!("{DEFAULT_PATH}: {e}"))),
    }
}

/// The persisted list of a file: JSON (`{"persisted": [...]}` or `[...]`) or one path a line
/// (`#` starts a comment).
pub fn parse_persisted_file(name: &Path, text: &str) -> Result<Vec<PathBuf>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::usage(format!("{}: not valid JSON: {e}", name.display())))?;
        let list = match &value {
            Value::Array(a) => Some(a),
            Value::Object(o) => o.get("persisted").and_then(Value::as_array),
            _ => None,
        };
        let list = list.ok_or_else(|| {
            Error::usage(format!(
                "{}: expected a list of paths or {{\"persisted\": [...]}}",
                name.display()
            ))
        })?;
        let mut paths = Vec::new();
        for v in list {
            let Some(p) = v.as_str() else {
                return Err(Error::usage(format!(
                    "{}: {v} is not a path string",
                    name.display()
                )));
            };
            paths.push(PathBuf::from(p));
        }
        return Ok(paths);
    }
    let mut paths = Vec::new();
    for l in text.lines().map(str::trim) {
        if !l.is_empty() && !l.starts_with('#') {
            paths.push(PathBuf::from(l));
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_module_shape_and_rejects_others() {
        let p = Path::new("config.json");
        let c = parse(
            p,
            r#"{"args": ["--device", "/dev/vda2", "--subvolume", "root"], "persisted": ["/etc/nixos"], "extra": 1}"#,
        )
        .unwrap();
        assert_eq!(c.args[1], "/dev/vda2");
        assert_eq!(c.persisted, ["/etc/nixos"]);
        assert_eq!(parse(p, "[]").unwrap_err().exit_code(), 2);
        assert_eq!(parse(p, r#"{"args": "x"}"#).unwrap_err().exit_code(), 2);
        assert_eq!(parse(p, r#"{"args": [1]}"#).unwrap_err().exit_code(), 2);
        assert_eq!(parse(p, r#"{"args": null}"#).unwrap_err().exit_code(), 2);
        assert_eq!(parse(p, "{} x").unwrap_err().exit_code(), 2);
        assert_eq!(parse(p, "{}").unwrap(), Config::default());
        let c = parse(
            p,
            r#"{"args": [], "persist_dir": "/persist", "must_persist": ["/k"],
                "persistence": [{"path": "/var/lib/a", "stored": "/persist/var/lib/a"}]}"#,
        )
        .unwrap();
        assert_eq!(c.persist_dir.as_deref(), Some("/persist"));
        assert_eq!(c.persistence[0].stored, "/persist/var/lib/a");
        assert_eq!(c.must_persist, ["/k"]);
        let e = parse(p, r#"{"args": [], "args": []}"#).unwrap_err();
        assert!(
            e.message.contains("duplicate field `args`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn persisted_files_in_both_shapes() {
        let n = Path::new("p");
        let want = vec![PathBuf::from("/etc/nixos"), PathBuf::from("/var/lib/foo")];
        assert_eq!(
            parse_persisted_file(n, "# kept\n/etc/nixos\n\n  /var/lib/foo  \n").unwrap(),
            want
        );
        assert_eq!(
            parse_persisted_file(
                n,
                r#"{"args": [], "persisted": ["/etc/nixos", "/var/lib/foo"]}"#
            )
            .unwrap(),
            want
        );
        assert_eq!(
            parse_persisted_file(n, r#"["/etc/nixos", "/var/lib/foo"]"#).unwrap(),
            want
        );
        assert!(parse_persisted_file(n, r#"{"persisted": [1]}"#).is_err());
        // The last of two lists wins; what is not a list of strings is refused, naming it.
        assert_eq!(
            parse_persisted_file(n, r#"{"persisted": ["/a"], "persisted": ["/b"]}"#).unwrap(),
            [PathBuf::from("/b")]
        );
        let err = |text: &str| parse_persisted_file(n, text).unwrap_err();
        assert_eq!(
            err(r#"{"persisted": ["/a", {"b": [1, null, true, "c\n"]}]}"#).message,
            r#"p: {"b":[1,null,true,"c\n"]} is not a path string"#
        );
        for bad in [r#"{"other": []}"#, r#"{"persisted": "/a"}"#, "[[]"] {
            let e = err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message.starts_with("p: "), "{}", e.message);
        }
        assert_eq!(
            err(r#"{"persisted": null}"#).message,
            r#"p: expected a list of paths or {"persisted": [...]}"#
        );
        assert!(err("[1,]").message.starts_with("p: not valid JSON: "));
    }
}
