//! A target's name: the absolute path it is mounted on (`/`, `/home`). Paths inside a target are
//! kept relative to it by the engines and shown absolute (`/home/alice/notes`) by the commands.

use crate::error::{Error, Result};
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// An absolute, normalised path: no `.`, `..`, repeated or trailing slashes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountPoint(PathBuf);

/// Longer mount points are refused (a status file name is derived from it).
const MAX_LEN: usize = 200;

impl MountPoint {
    pub fn root() -> MountPoint {
        MountPoint(PathBuf::from("/"))
    }

    /// `what` names the option or member in the error (`--mount-point`).
    pub fn parse(what: &str, raw: &str) -> Result<MountPoint> {
        let bad = |why: &str| {
            Error::usage(format!(
                "{what} {raw:?}: {why}; give the absolute path the target is mounted on, such as /home"
            ))
        };
        if !raw.starts_with('/') {
            return Err(bad("not an absolute path"));
        }
        if raw.contains('\0') || raw.chars().any(char::is_control) {
            return Err(bad("holds a control character"));
        }
        if raw.len() > MAX_LEN {
            return Err(bad(&format!("longer than {MAX_LEN} bytes")));
        }
        let mut out = PathBuf::from("/");
        for c in Path::new(raw).components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::ParentDir => return Err(bad("`..` is not allowed")),
                _ => {}
            }
        }
        Ok(MountPoint(out))
    }

    pub fn is_root(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// systemd's path escaping (`systemd-escape --path`, nixpkgs' `utils.escapeSystemdPath`):
    /// `/` is `-`, `/home` is `home`, `/var/lib/my-app` is `var-lib-my\x2dapp`.
    pub fn escaped(&self) -> String {
        if self.is_root() {
            return "-".into();
        }
        let rel = self.0.to_string_lossy();
        let rel = rel.trim_start_matches('/');
        let mut out = String::new();
        for (i, b) in rel.bytes().enumerate() {
            match b {
                b'/' => out.push('-'),
                b'.' if i == 0 => out.push_str("\\x2e"),
                b if b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.') => {
                    out.push(b as char)
                }
                b => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out
    }

    /// The absolute path of `rel` (relative to the mount point).
    pub fn join(&self, rel: &Path) -> PathBuf {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        if rel.as_os_str().is_empty() {
            self.0.clone()
        } else {
            self.0.join(rel)
        }
    }

    /// `path` relative to the mount point (empty for the mount point itself), if it lies in it.
    pub fn strip(&self, path: &Path) -> Option<PathBuf> {
        path.strip_prefix(&self.0).ok().map(Path::to_path_buf)
    }

    /// It holds `path` (`/` holds every absolute path; `/home` holds `/home/a`, not `/homes`).
    pub fn holds(&self, path: &Path) -> bool {
        path.starts_with(&self.0)
    }
}

impl Default for MountPoint {
    fn default() -> MountPoint {
        MountPoint::root()
    }
}

impl fmt::Display for MountPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

/// Of `points`, the deepest that holds `path`.
pub fn owner<'a>(
    points: impl IntoIterator<Item = &'a MountPoint>,
    path: &Path,
) -> Option<&'a MountPoint> {
    points
        .into_iter()
        .filter(|m| m.holds(path))
        .max_by_key(|m| m.as_path().components().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let m = MountPoint::parse("--mount-point", "/home//alice/./").unwrap();
        assert_eq!(m.as_path(), Path::new("/home/alice"));
        assert!(MountPoint::parse("x", "/").unwrap().is_root());
        for bad in ["home", "", "/a/../b", "/a\nb"] {
            let e = MountPoint::parse("--mount-point", bad).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.message.starts_with("--mount-point "), "{}", e.message);
            assert!(!e.message.contains('\n') || bad.contains('\n'));
        }
        assert!(MountPoint::parse("x", &format!("/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn escapes_as_systemd_does() {
        let e = |s: &str| MountPoint::parse("x", s).unwrap().escaped();
        assert_eq!(e("/"), "-");
        assert_eq!(e("/home"), "home");
        assert_eq!(e("/var/lib/my-app"), "var-lib-my\\x2dapp");
        assert_eq!(e("/.hidden/a b"), "\\x2ehidden-a\\x20b");
        assert_eq!(e("/srv/a.b_c:d"), "srv-a.b_c:d");
    }

    #[test]
    fn paths_inside() {
        let home = MountPoint::parse("x", "/home").unwrap();
        let root = MountPoint::root();
        assert_eq!(home.join(Path::new("alice/x")), Path::new("/home/alice/x"));
        assert_eq!(home.join(Path::new("")), Path::new("/home"));
        assert_eq!(root.join(Path::new("etc")), Path::new("/etc"));
        assert_eq!(home.strip(Path::new("/home/a")), Some(PathBuf::from("a")));
        assert_eq!(home.strip(Path::new("/homes/a")), None);
        assert!(root.holds(Path::new("/homes")) && !home.holds(Path::new("/homes")));
        let all = [root.clone(), home.clone()];
        assert_eq!(owner(&all, Path::new("/home/a")), Some(&home));
        assert_eq!(owner(&all, Path::new("/etc")), Some(&root));
        assert_eq!(owner(&all[1..], Path::new("/etc")), None);
    }
}
