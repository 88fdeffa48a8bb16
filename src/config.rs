//! The configuration the NixOS module installs, `/etc/blankroot/config.json`:
//!
//! ```json
//! {"args": ["--device", "/dev/...", ...the rollback options...],
//!  "persisted": ["/etc/nixos", ...],
//!  "persist_dir": "/persist",
//!  "persistence": [{"path": "/var/lib/foo", "stored": "/persist/var/lib/foo"}],
//!  "must_persist": ["/etc/ssh/ssh_host_ed25519_key", ...]}
//! ```
//!
//! Only `args` is needed; the others may be absent, and members this version does not know
//! are ignored.

use crate::error::{Error, Result};
use serde::Deserialize;
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
            "{}: {e}; expected {{\"args\": [...], \"persisted\": [...]}}",
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
}
