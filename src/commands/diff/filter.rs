//! What the listing leaves out: what survives the boot (other mounts, persisted paths) and what
//! NixOS recreates at every boot.
//!
//! Recreated at every boot (left out unless `--include-nix-managed`):
//! - `/tmp`, `/run`, `/var/run`, `/var/lock`, `/dev`, `/proc`, `/sys` and everything in them
//!   (`/tmp` is not wiped by NixOS by default, but nothing meant to persist lives there; `/var/tmp`
//!   is listed, since programs expect it to survive a reboot);
//! - what the activation script writes into `/etc`: `/etc/static`, `/etc/.clean`, `/etc/NIXOS`,
//!   `/etc/mtab`, the files it copied (named in `/etc/.clean`), and symlinks in `/etc`, `/bin`,
//!   `/sbin`, `/usr`, `/lib`, `/lib64` pointing into `/nix/store`, `/etc/static`,
//!   `/run/current-system` or `/run/booted-system`;
//! - systemd's update stamps `/etc/.updated` and `/var/.updated`.
//!
//! A directory that did not exist in the blank and holds nothing but left-out entries is left out
//! too (whatever recreates, mounts or persists its contents makes it again).

use super::model::{Kind, Reason};
use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The persisted list of a file (`--persisted-from`): shared with `check`.
pub use crate::config::parse_persisted_file;

const RECREATED: &[&str] = &[
    "tmp",
    "run",
    "var/run",
    "var/lock",
    "dev",
    "proc",
    "sys",
    "etc/static",
    "etc/.clean",
    "etc/NIXOS",
    "etc/mtab",
    "etc/.updated",
    "var/.updated",
];

const LINK_DIRS: &[&str] = &["etc", "bin", "sbin", "usr", "lib", "lib64"];

const LINK_TARGETS: &[&[u8]] = &[
    b"/nix/store/",
    b"/etc/static/",
    b"/run/current-system/",
    b"/run/booted-system/",
];

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Paths (relative to the root) not looked into, and why; sorted by path.
    pub excluded: Vec<(PathBuf, Reason)>,
    /// List what NixOS recreates at every boot too.
    pub include_nix_managed: bool,
    /// Files the activation script copied into /etc (`etc/...`), from the live `/etc/.clean`;
    /// sorted.
    pub etc_copies: Vec<PathBuf>,
}

/// Where `rel` is or would be in a list sorted by path (paths compare component by component,
/// so `a/b`, `a//b` and `a/b/` are one path).
fn find<T>(
    list: &[T],
    path: impl Fn(&T) -> &Path,
    rel: &Path,
) -> std::result::Result<usize, usize> {
    list.binary_search_by(|item| path(item).cmp(rel))
}

impl Filter {
    pub fn excluded(&self, rel: &Path) -> Option<Reason> {
        find(&self.excluded, |e| &e.0, rel)
            .ok()
            .map(|i| self.excluded[i].1)
    }

    pub fn exclude(&mut self, rel: PathBuf, reason: Reason) {
        // A persisted path under a mount point is already covered; keep the first reason given
        // for the same path (mount points are added first).
        if let Err(i) = find(&self.excluded, |e| &e.0, &rel) {
            self.excluded.insert(i, (rel, reason));
        }
    }

    /// Whether anything in directory `dir` could be left out by its path (else the per-entry
    /// checks are skipped).
    pub fn watches(&self, dir: &Path) -> bool {
        let below = |p: &Path| p != dir && p.starts_with(dir);
        self.excluded.iter().any(|k| below(&k.0))
            || (!self.include_nix_managed
                && (RECREATED.iter().any(|r| below(Path::new(r)))
                    || self.etc_copies.iter().any(|k| below(k))))
    }

    /// Recreated at boot by its name alone (the whole subtree).
    pub fn recreated_path(&self, rel: &Path) -> bool {
        !self.include_nix_managed
            && (RECREATED.iter().any(|r| rel == Path::new(r))
                || find(&self.etc_copies, |p| p, rel).is_ok())
    }

    /// A symlink NixOS makes at activation.
    pub fn recreated_link(&self, rel: &Path, kind: Kind, target: Option<&[u8]>) -> bool {
        if self.include_nix_managed || kind != Kind::Symlink {
            return false;
        }
        let Some(target) = target else { return false };
        let in_dir = LINK_DIRS
            .iter()
            .any(|d| rel.starts_with(d) && rel != Path::new(d));
        in_dir && LINK_TARGETS.iter().any(|t| target.starts_with(t))
    }

    /// Reads the activation script's list of copied /etc files (one path relative to /etc a line).
    pub fn set_etc_clean(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if let Ok(rel) = relative("/etc/.clean", Path::new(OsStr::from_bytes(line))) {
                let path = Path::new("etc").join(rel);
                if let Err(i) = find(&self.etc_copies, |p| p, &path) {
                    self.etc_copies.insert(i, path);
                }
            }
        }
    }
}

/// An absolute path on the live system (`/var/lib/foo`) as a path relative to the root.
pub fn absolute_to_rel(what: &str, p: &Path) -> Result<PathBuf> {
    if !p.is_absolute() {
        return Err(Error::usage(format!(
            "{what} {}: give an absolute path such as /var/lib/foo",
            p.display()
        )));
    }
    let rel = relative(what, p)?;
    if rel.as_os_str().is_empty() {
        return Err(Error::usage(format!(
            "{what} {}: that is the whole root; nothing would be listed",
            p.display()
        )));
    }
    Ok(rel)
}

/// Normal components only: `.` and repeated slashes are dropped, `..` is refused.
fn relative(what: &str, p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::usage(format!(
                    "{what} {}: `..` is not allowed; give the path itself",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_become_relative() {
        let r = |s: &str| absolute_to_rel("--persisted", Path::new(s));
        assert_eq!(r("/var/lib/foo/").unwrap(), Path::new("var/lib/foo"));
        assert_eq!(r("//etc/./nixos").unwrap(), Path::new("etc/nixos"));
        assert_eq!(r("var/lib").unwrap_err().exit_code(), 2);
        assert_eq!(r("/a/../b").unwrap_err().exit_code(), 2);
        assert_eq!(r("/").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn recreated_by_nixos() {
        let mut f = Filter::default();
        f.set_etc_clean(b"sudoers\nssh/ssh_host_key_copy\n\n");
        assert!(f.recreated_path(Path::new("tmp")));
        assert!(f.recreated_path(Path::new("etc/static")));
        assert!(f.recreated_path(Path::new("etc/sudoers")));
        assert!(f.recreated_path(Path::new("etc/ssh/ssh_host_key_copy")));
        assert!(!f.recreated_path(Path::new("var/tmp")));
        assert!(!f.recreated_path(Path::new("tmpx")));
        assert!(!f.recreated_path(Path::new("etc/passwd")));
        assert!(f.watches(Path::new("")) && f.watches(Path::new("etc/ssh")));
        assert!(!f.watches(Path::new("usr")) && !f.watches(Path::new("tmp")));
        let link = |p: &str, t: &[u8]| f.recreated_link(Path::new(p), Kind::Symlink, Some(t));
        assert!(link("etc/hosts", b"/etc/static/hosts"));
        assert!(link("bin/sh", b"/nix/store/abc-bash/bin/sh"));
        assert!(link("usr/bin/env", b"/nix/store/abc-coreutils/bin/env"));
        assert!(!link("root/result", b"/nix/store/abc-hello"));
        assert!(!link("etc/hosts", b"/persist/etc/hosts"));
        assert!(!link("etc", b"/nix/store/abc-etc"));
        assert!(!f.recreated_link(
            Path::new("etc/hosts"),
            Kind::File,
            Some(b"/etc/static/hosts")
        ));
        f.include_nix_managed = true;
        assert!(!f.recreated_path(Path::new("tmp")));
        assert!(!f.recreated_link(
            Path::new("etc/hosts"),
            Kind::Symlink,
            Some(b"/etc/static/hosts")
        ));
    }
}
