//! Reading a target the next boot wipes, from a directory that shows it (`/`, the target's
//! subvolume in a read-only mount of the top level, a dataset's mount point), as the booted
//! system would see it: symlinks are expanded here, component by component — never by the
//! kernel. Paths are absolute in the booted system's terms: a target mounted on `/home` holds
//! `/home/...`; an absolute link resolves against the system's `/`, so a link into `/home` stays
//! in the target and one outside it is another filesystem's business ([`Found::Outside`]).

use crate::mount_point::MountPoint;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{fstat, openat2, readlinkat, Dir, FileType, Mode, OFlags, ResolveFlags};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// Symlinks expanded for one path at most (the kernel's limit).
const MAX_LINKS: usize = 40;

/// What a path is on the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The path, or a directory on the way to it, survives the boot (`survives` said so).
    Survives,
    /// Nothing there (or a dangling or looping symlink).
    Absent,
    /// Outside the target (a path, or a symlink's target, not under its mount point): on
    /// another filesystem, which the checks of this target do not look at.
    Outside,
    /// On the target: `rel` is where it really is (relative to its mount point, symlinks
    /// expanded).
    OnRoot {
        rel: PathBuf,
        kind: Kind,
        linked: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file and its size.
    File(u64),
    Other,
}

/// A target's content, read beneath `dir`, which shows what is mounted on `mount_point`.
pub struct Tree {
    pub dir: OwnedFd,
    pub mount_point: MountPoint,
}

impl Tree {
    /// Where the absolute path `abs` is on the target. `survives` is asked about every path on
    /// the way (absolute, in the target), before it is looked at.
    pub fn find(&self, abs: &Path, survives: &dyn Fn(&Path) -> bool) -> Found {
        let top = self.mount_point.as_path();
        let mut todo: VecDeque<OsString> = normal(abs).collect();
        let mut cur = PathBuf::from("/");
        let mut links = 0;
        let mut kind = Kind::Dir;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                cur.pop();
                kind = Kind::Dir;
                continue;
            }
            if kind != Kind::Dir {
                return Found::Absent;
            }
            let next = cur.join(&c);
            if !self.mount_point.holds(&next) {
                if top.starts_with(&next) {
                    // A directory above the mount point, on the way to it.
                    cur = next;
                    continue;
                }
                return Found::Outside;
            }
            if survives(&next) {
                return Found::Survives;
            }
            let rel = self.mount_point.strip(&next).unwrap_or_default();
            let Some(fd) = self.open(&rel, OFlags::PATH | OFlags::NOFOLLOW) else {
                return Found::Absent;
            };
            let Ok(st) = fstat(&fd) else {
                return Found::Absent;
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => {
                    links += 1;
                    let target = match readlinkat(&fd, "", Vec::new()) {
                        Ok(t) if links <= MAX_LINKS && !t.as_bytes().is_empty() => t,
                        _ => return Found::Absent,
                    };
                    let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
                    if target.is_absolute() {
                        cur = PathBuf::from("/");
                    }
                    for (i, part) in normal(target).enumerate() {
                        todo.insert(i, part);
                    }
                    kind = Kind::Dir;
                    continue;
                }
                FileType::Directory => kind = Kind::Dir,
                FileType::RegularFile => kind = Kind::File(st.st_size.max(0) as u64),
                _ => kind = Kind::Other,
            }
            cur = next;
        }
        match self.mount_point.strip(&cur) {
            None => Found::Outside,
            Some(rel) if rel.as_os_str().is_empty() => Found::Absent,
            Some(rel) => Found::OnRoot {
                linked: links > 0,
                rel,
                kind,
            },
        }
    }

    /// The names in directory `rel` (empty when it cannot be read).
    pub fn names(&self, rel: &Path) -> Vec<OsString> {
        let Some(fd) = self.open(rel, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW) else {
            return Vec::new();
        };
        let Ok(dir) = Dir::read_from(&fd) else {
            return Vec::new();
        };
        let mut names: Vec<OsString> = dir
            .filter_map(|e| e.ok())
            .map(|e| OsString::from(std::ffi::OsStr::from_bytes(e.file_name().to_bytes())))
            .filter(|n| n != "." && n != "..")
            .collect();
        crate::sort::asc(&mut names);
        names
    }

    /// Whether what was found at `rel` holds anything to lose: a file with bytes in it, or a
    /// directory with an entry that does not survive (`survives` is asked absolute paths).
    pub fn holds_data(&self, rel: &Path, kind: Kind, survives: &dyn Fn(&Path) -> bool) -> bool {
        match kind {
            Kind::File(size) => size > 0,
            Kind::Dir => self
                .names(rel)
                .iter()
                .any(|n| !survives(&self.mount_point.join(&rel.join(n)))),
            Kind::Other => false,
        }
    }

    fn open(&self, rel: &Path, flags: OFlags) -> Option<OwnedFd> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        openat2(
            self.dir.as_fd(),
            rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
        .ok()
    }
}

/// The components of a path, `.` and the root dropped (`..` kept: it is resolved on the way).
fn normal(p: &Path) -> impl Iterator<Item = OsString> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree_at(dir: &Path, mount_point: &str) -> Tree {
        Tree {
            dir: crate::commands::check::open_dir(dir).unwrap(),
            mount_point: MountPoint::parse("test", mount_point).unwrap(),
        }
    }

    fn tree(dir: &Path) -> Tree {
        tree_at(dir, "/")
    }

    fn on(rel: &str, kind: Kind, linked: bool) -> Found {
        Found::OnRoot {
            rel: rel.into(),
            kind,
            linked,
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/ssh")).unwrap();
        std::fs::create_dir_all(r.join("var/lib/real")).unwrap();
        std::fs::write(r.join("var/lib/real/id"), "abc\n").unwrap();
        std::fs::write(r.join("etc/empty"), "").unwrap();
        symlink("/var/lib/real/id", r.join("etc/machine-id")).unwrap();
        symlink("../var/lib/real", r.join("etc/rel")).unwrap();
        // Absolute: resolved in the root, never on this machine.
        symlink("/etc/passwd", r.join("etc/host")).unwrap();
        symlink("loop", r.join("etc/loop")).unwrap();
        symlink("/nix/store/abc-x", r.join("etc/store")).unwrap();
        let t = tree(r);
        let never = |_: &Path| false;
        assert_eq!(
            t.find(Path::new("/etc/machine-id"), &never),
            on("var/lib/real/id", Kind::File(4), true)
        );
        assert_eq!(
            t.find(Path::new("/etc/rel/id"), &never),
            on("var/lib/real/id", Kind::File(4), true)
        );
        assert_eq!(
            t.find(Path::new("/etc//./ssh/"), &never),
            on("etc/ssh", Kind::Dir, false)
        );
        assert_eq!(t.find(Path::new("/etc/host"), &never), Found::Absent);
        assert_eq!(t.find(Path::new("/etc/loop"), &never), Found::Absent);
        assert_eq!(t.find(Path::new("/etc/empty/x"), &never), Found::Absent);
        let store = |p: &Path| p.starts_with("/nix/store");
        assert_eq!(t.find(Path::new("/etc/store"), &store), Found::Absent);
        std::fs::create_dir(r.join("nix")).unwrap();
        assert_eq!(t.find(Path::new("/etc/store"), &store), Found::Survives);
        let var = |p: &Path| p == Path::new("/var/lib");
        assert_eq!(t.find(Path::new("/etc/machine-id"), &var), Found::Survives);
        assert!(t.holds_data(Path::new("etc"), Kind::Dir, &never));
        assert!(!t.holds_data(Path::new("etc/empty"), Kind::File(0), &never));
        assert!(!t.holds_data(Path::new("etc/ssh"), Kind::Dir, &never));
        let all = |p: &Path| p.starts_with("/var/lib/real");
        assert!(!t.holds_data(Path::new("var/lib"), Kind::Dir, &all));
        assert_eq!(t.names(Path::new("var/lib/real")), ["id"]);
    }

    #[test]
    fn a_target_below_the_root_holds_its_own_paths_and_links_into_it() {
        // The tree of a target mounted on /home: `alice/...` in it is /home/alice/... .
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("alice/real")).unwrap();
        std::fs::write(r.join("alice/real/key"), "k\n").unwrap();
        symlink("/home/alice/real", r.join("alice/abs")).unwrap();
        symlink("../alice/real/key", r.join("alice/rel")).unwrap();
        symlink("/persist/home/alice/x", r.join("alice/persisted")).unwrap();
        symlink("../../etc/passwd", r.join("alice/up")).unwrap();
        let t = tree_at(r, "/home");
        let never = |_: &Path| false;
        assert_eq!(
            t.find(Path::new("/home/alice/abs/key"), &never),
            on("alice/real/key", Kind::File(2), true)
        );
        assert_eq!(
            t.find(Path::new("/home/alice/rel"), &never),
            on("alice/real/key", Kind::File(2), true)
        );
        assert_eq!(
            t.find(Path::new("/home/alice/real"), &never),
            on("alice/real", Kind::Dir, false)
        );
        // Links out of /home, and paths outside it, are other filesystems' business.
        for outside in [
            "/home/alice/persisted",
            "/home/alice/up",
            "/etc/machine-id",
            "/homes",
        ] {
            assert_eq!(
                t.find(Path::new(outside), &never),
                Found::Outside,
                "{outside}"
            );
        }
        assert_eq!(t.find(Path::new("/home/bob"), &never), Found::Absent);
        assert_eq!(t.find(Path::new("/home"), &never), Found::Absent);
        let alice = |p: &Path| p == Path::new("/home/alice/real");
        assert_eq!(
            t.find(Path::new("/home/alice/abs/key"), &alice),
            Found::Survives
        );
        assert!(t.holds_data(Path::new("alice"), Kind::Dir, &never));
        let all = |p: &Path| p.starts_with("/home/alice");
        assert!(!t.holds_data(Path::new("alice"), Kind::Dir, &all));
    }
}
