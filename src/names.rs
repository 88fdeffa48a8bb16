//! Names of subvolumes and directories, relative to the top-level subvolume (`subvolid=5`).
//!
//! `root`, `@`, `@root`, `my root`, `sub/dir/root` are names; `/root`, `a/../b`, the empty name and
//! names with NUL are not. `.` components, repeated and trailing slashes are dropped.

use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Longest file name btrfs accepts.
pub const NAME_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name {
    parts: Vec<OsString>,
}

impl Name {
    /// Parses the value of a command-line option; `what` is the option, for the message.
    pub fn parse(what: &str, raw: &str) -> Result<Name> {
        let bad = |why: &str| {
            Error::usage(format!(
                "{what} {raw:?}: {why}; give a path relative to the top-level subvolume, like `root` or `@root`"
            ))
        };
        if raw.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        if raw.starts_with('/') {
            return Err(bad("is absolute"));
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => continue,
                ".." => return Err(bad("has a `..` component")),
                p if p.len() > NAME_MAX => {
                    return Err(bad("has a component longer than 255 bytes"))
                }
                p => parts.push(OsString::from(p)),
            }
        }
        if parts.is_empty() {
            return Err(bad("names the top level itself"));
        }
        Ok(Name { parts })
    }

    /// Joins a child name (one component, as read from a directory) under this one.
    pub fn child(&self, component: impl AsRef<OsStr>) -> Name {
        let mut parts = self.parts.clone();
        parts.push(component.as_ref().to_owned());
        Name { parts }
    }

    /// Appends a relative path made of plain components (as returned by the kernel).
    pub fn join_rel(&self, rel: &[u8]) -> Name {
        let mut parts = self.parts.clone();
        parts.extend(
            rel.split(|&b| b == b'/')
                .filter(|p| !p.is_empty() && *p != b".")
                .map(|p| OsStr::from_bytes(p).to_owned()),
        );
        Name { parts }
    }

    /// The last component; names made by [`Name::parse`] are valid UTF-8.
    pub fn basename(&self) -> &str {
        self.basename_os().to_str().unwrap_or("?")
    }

    pub fn basename_os(&self) -> &OsStr {
        self.parts
            .last()
            .expect("a name has at least one component")
    }

    /// The directory that holds this name, `None` for a name directly in the top level.
    pub fn parent(&self) -> Option<Name> {
        (self.parts.len() > 1).then(|| Name {
            parts: self.parts[..self.parts.len() - 1].to_vec(),
        })
    }

    /// A sibling with another last component.
    pub fn sibling(&self, basename: &str) -> Name {
        let mut parts = self.parts.clone();
        *parts.last_mut().expect("non-empty") = OsString::from(basename);
        Name { parts }
    }

    /// True when `self` is `other` or lies inside it.
    pub fn is_within(&self, other: &Name) -> bool {
        self.parts.len() >= other.parts.len() && self.parts[..other.parts.len()] == other.parts[..]
    }

    /// This name with its leading `from` replaced by `to` (`root/var` from `root` to `x`:
    /// `x/var`); `None` when it does not lie within `from`.
    pub fn rebase(&self, from: &Name, to: &Name) -> Option<Name> {
        self.is_within(from).then(|| {
            let mut parts = to.parts.clone();
            parts.extend_from_slice(&self.parts[from.parts.len()..]);
            Name { parts }
        })
    }

    pub fn components(&self) -> &[OsString] {
        &self.parts
    }

    pub fn to_path(&self) -> PathBuf {
        self.parts.iter().collect()
    }

    /// Path under a mount point of the top level.
    pub fn under(&self, top: &Path) -> PathBuf {
        top.join(self.to_path())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&part.to_string_lossy())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_names_people_use() {
        for raw in [
            "root",
            "@",
            "@root",
            "my root",
            "sub/dir/root",
            "./root",
            "root/",
            "a//b",
        ] {
            assert!(Name::parse("--subvolume", raw).is_ok(), "{raw}");
        }
        assert_eq!(Name::parse("x", "a//./b/").unwrap().to_string(), "a/b");
    }

    #[test]
    fn refuses_absolute_dotdot_nul_and_empty() {
        for raw in ["/root", "a/../b", "..", "a\0b", "", ".", "/"] {
            let err = Name::parse("--subvolume", raw).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{raw}");
            assert!(err.message.contains("--subvolume"), "{}", err.message);
        }
        assert!(Name::parse("x", &"a".repeat(256)).is_err());
    }

    #[test]
    fn containment_is_by_component() {
        let root = Name::parse("x", "root").unwrap();
        assert!(Name::parse("x", "root/var").unwrap().is_within(&root));
        assert!(root.is_within(&root));
        assert!(!Name::parse("x", "root-blank").unwrap().is_within(&root));
        assert!(!root.is_within(&Name::parse("x", "root/var").unwrap()));
    }

    #[test]
    fn rebase_replaces_the_leading_components() {
        let n = |s: &str| Name::parse("x", s).unwrap();
        assert_eq!(
            n("root/var/lib").rebase(&n("root"), &n(".s")),
            Some(n(".s/var/lib"))
        );
        assert_eq!(n("root").rebase(&n("root"), &n("a/b")), Some(n("a/b")));
        assert_eq!(n("rootx/var").rebase(&n("root"), &n("s")), None);
    }
}
