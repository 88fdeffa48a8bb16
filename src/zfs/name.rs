//! ZFS names, checked against the naming rules before anything is run.
//!
//! The rules are OpenZFS's (`zfs_namecheck.c`): a dataset name is the pool name followed by
//! `/`-separated components; every character is a letter, a digit, `-`, `_`, `.`, `:` or a space;
//! no component is empty, `.` or `..`; the pool name starts with a letter; the whole name is at
//! most 255 bytes. A snapshot name (after `@`) follows the same character rules. A name that
//! breaks a rule (`a; rm -rf /`) is a usage error and is never passed to any command.

use crate::error::{Error, Result};
use std::fmt;

/// Longest dataset or snapshot name ZFS accepts (`ZFS_MAX_DATASET_NAME_LEN` less the NUL).
pub const MAX_NAME: usize = 255;

const ALLOWED: &str = "letters, digits, '-', '_', '.', ':' and space";

fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | ' ')
}

fn bad(opt: &str, raw: &str, why: impl fmt::Display) -> Error {
    Error::usage(format!(
        "{opt} {raw:?}: {why}; nothing was run (a ZFS name holds only {ALLOWED})"
    ))
}

/// Checks one `/`-free component (a dataset component or a snapshot's short name).
fn check_component(opt: &str, raw: &str, part: &str, what: &str) -> Result<()> {
    if part.is_empty() {
        return Err(bad(opt, raw, format!("has an empty {what}")));
    }
    if part == "." || part == ".." {
        return Err(bad(opt, raw, format!("{what} {part:?} is not allowed")));
    }
    if let Some(c) = part.chars().find(|c| !valid_char(*c)) {
        let why = match c {
            '@' => "names a snapshot (give the snapshot's name with --snapshot)".to_string(),
            '#' => "names a bookmark".to_string(),
            c => format!("{c:?} is not allowed in a ZFS name"),
        };
        return Err(bad(opt, raw, why));
    }
    Ok(())
}

/// A dataset name, `POOL/PATH...`, valid by the ZFS rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dataset(String);

impl Dataset {
    /// Parses the value of a command-line option (`opt` names it in the message).
    pub fn parse(opt: &str, raw: &str) -> Result<Dataset> {
        if raw.is_empty() {
            return Err(bad(opt, raw, "is empty"));
        }
        if raw.starts_with('/') {
            return Err(bad(
                opt,
                raw,
                "starts with '/': give a dataset name like rpool/local/root, not a path",
            ));
        }
        if raw.ends_with('/') {
            return Err(bad(opt, raw, "ends with '/'"));
        }
        for part in raw.split('/') {
            check_component(opt, raw, part, "component")?;
        }
        if !raw.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(bad(opt, raw, "the pool name must start with a letter"));
        }
        if raw.len() > MAX_NAME {
            return Err(bad(
                opt,
                raw,
                format_args!("is longer than {MAX_NAME} bytes"),
            ));
        }
        Ok(Dataset(raw.to_string()))
    }

    /// A name read back from `zfs list` (trusted to be valid; used to build names of our own).
    pub fn from_listed(name: &str) -> Dataset {
        Dataset(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn pool(&self) -> &str {
        self.0.split('/').next().expect("a name has a pool")
    }

    /// True when this is a pool's top dataset (`rpool`).
    pub fn is_pool(&self) -> bool {
        !self.0.contains('/')
    }

    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    pub fn basename(&self) -> &str {
        self.0.rsplit('/').next().expect("non-empty")
    }

    pub fn parent(&self) -> Option<Dataset> {
        self.0.rsplit_once('/').map(|(p, _)| Dataset(p.to_string()))
    }

    /// `self/base`; `base` must be one valid component.
    pub fn child(&self, base: &str) -> Dataset {
        debug_assert!(!base.contains('/') && !base.contains('@'));
        Dataset(format!("{}/{base}", self.0))
    }

    /// A sibling with another last component.
    pub fn sibling(&self, base: &str) -> Dataset {
        match self.parent() {
            Some(p) => p.child(base),
            None => Dataset(base.to_string()),
        }
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other: &Dataset) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// `self@snap`.
    pub fn at(&self, snap: &str) -> String {
        format!("{}@{snap}", self.0)
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a snapshot's short name (`blank`, the part after `@`).
pub fn snapshot(opt: &str, raw: &str) -> Result<String> {
    if raw.contains('/') {
        return Err(bad(
            opt,
            raw,
            "contains '/': give only the snapshot's name, like `blank`",
        ));
    }
    check_component(opt, raw, raw, "snapshot name")?;
    if raw.len() > MAX_NAME {
        return Err(bad(
            opt,
            raw,
            format_args!("is longer than {MAX_NAME} bytes"),
        ));
    }
    Ok(raw.to_string())
}

/// Splits `pool/ds@snap` into the dataset and the snapshot's short name.
pub fn split_snapshot(full: &str) -> Option<(&str, &str)> {
    full.split_once('@')
}

/// An argument for display in a plan: quoted when it has a space (names cannot hold quotes).
pub fn shell_word(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@=,+%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_names() {
        for raw in [
            "rpool/local/root",
            "rpool/ROOT/nixos",
            "tank/a b",
            "t/.hidden",
            "z/2026-11-22T02:20:50Z.1",
            "pool_1/x-y:z",
            "rpool",
        ] {
            let d = Dataset::parse("--dataset", raw).unwrap();
            assert_eq!(d.as_str(), raw);
        }
        let d = Dataset::parse("x", "rpool/local/root").unwrap();
        assert_eq!(d.pool(), "rpool");
        assert_eq!(d.basename(), "root");
        assert_eq!(d.parent().unwrap().as_str(), "rpool/local");
        assert_eq!(d.sibling("nix").as_str(), "rpool/local/nix");
        assert_eq!(d.at("blank"), "rpool/local/root@blank");
        assert!(Dataset::parse("x", "rpool").unwrap().is_pool());
    }

    #[test]
    fn refuses_hostile_and_malformed_names() {
        for raw in [
            "a; rm -rf /",
            "rpool/root$(reboot)",
            "rpool/root`id`",
            "rpool/root\nother",
            "rpool/root\t",
            "/rpool/root",
            "rpool/root/",
            "rpool//root",
            "rpool/./root",
            "rpool/../root",
            "rpool/root@blank",
            "rpool/root#mark",
            "rpool/root%recv",
            "1pool/root",
            "-rf/root",
            "",
            "rpool/röot",
            "rpool/root\0",
        ] {
            let err = Dataset::parse("--dataset", raw).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{raw:?}");
            assert!(err.message.starts_with("--dataset "), "{}", err.message);
            assert!(!err.message.contains('\n'), "{}", err.message);
        }
        assert!(Dataset::parse("x", &format!("p/{}", "a".repeat(254))).is_err());
        assert!(Dataset::parse("x", &format!("p/{}", "a".repeat(253))).is_ok());
    }

    #[test]
    fn snapshot_names() {
        assert_eq!(snapshot("--snapshot", "blank").unwrap(), "blank");
        assert_eq!(snapshot("--snapshot", "-r").unwrap(), "-r");
        for raw in ["", "a/b", "a@b", "x;y", "..", "a\nb"] {
            assert_eq!(snapshot("--snapshot", raw).unwrap_err().exit_code(), 2);
        }
    }

    #[test]
    fn containment_is_by_component() {
        let root = Dataset::parse("x", "rpool/local/root").unwrap();
        assert!(Dataset::parse("x", "rpool/local/root/var")
            .unwrap()
            .is_within(&root));
        assert!(root.is_within(&root));
        assert!(!Dataset::parse("x", "rpool/local/rootx")
            .unwrap()
            .is_within(&root));
    }

    #[test]
    fn words_are_quoted_for_display() {
        assert_eq!(shell_word("rpool/a@b"), "rpool/a@b");
        assert_eq!(shell_word("tank/a b"), "'tank/a b'");
    }
}
