//! Reading the root the next boot wipes, from a directory that shows it (`/`, the root subvolume
//! in a read-only mount of the top level, a dataset's mount point), as the booted system would
//! see it: symlinks are expanded here, component by component, against that directory — never by
//! the kernel, so an absolute link resolves inside the root, not on the system running `check`.

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
    /// On the root: `rel` is where it really is (relative to the root, symlinks expanded).
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

/// The root's content, read beneath `dir`.
pub struct Tree {
    pub dir: OwnedFd,
}

impl Tree {
    /// Where the absolute path `abs` is on the root. `survives` is asked about every path on the
    /// way (relative to the root), before it is looked at.
    pub fn find(&self, abs: &Path, survives: &dyn Fn(&Path) -> bool) -> Found {
        let mut todo: VecDeque<OsString> = normal(abs).collect();
        let mut cur = PathBuf::new();
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
            if survives(&next) {
                return Found::Survives;
            }
            let Some(fd) = self.open(&next, OFlags::PATH | OFlags::NOFOLLOW) else {
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
                        cur = PathBuf::new();
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
        if cur.as_os_str().is_empty() {
            return Found::Absent;
        }
        Found::OnRoot {
            linked: links > 0,
            rel: cur,
            kind,
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
        names.sort();
        names
    }

    /// Whether what was found holds anything to lose: a file with bytes in it, or a directory
    /// with an entry that does not survive.
    pub fn holds_data(&self, rel: &Path, kind: Kind, survives: &dyn Fn(&Path) -> bool) -> bool {
        match kind {
            Kind::File(size) => size > 0,
            Kind::Dir => self.names(rel).iter().any(|n| !survives(&rel.join(n))),
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

    fn tree(dir: &Path) -> Tree {
        Tree {
            dir: crate::commands::check::open_dir(dir).unwrap(),
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
        let on = |rel: &str, kind: Kind, linked: bool| Found::OnRoot {
            rel: rel.into(),
            kind,
            linked,
        };
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
        let store = |p: &Path| p.starts_with("nix/store");
        assert_eq!(t.find(Path::new("/etc/store"), &store), Found::Absent);
        std::fs::create_dir(r.join("nix")).unwrap();
        assert_eq!(t.find(Path::new("/etc/store"), &store), Found::Survives);
        let var = |p: &Path| p == Path::new("var/lib");
        assert_eq!(t.find(Path::new("/etc/machine-id"), &var), Found::Survives);
        assert!(t.holds_data(Path::new("etc"), Kind::Dir, &never));
        assert!(!t.holds_data(Path::new("etc/empty"), Kind::File(0), &never));
        assert!(!t.holds_data(Path::new("etc/ssh"), Kind::Dir, &never));
        let all = |p: &Path| p.starts_with("var/lib/real");
        assert!(!t.holds_data(Path::new("var/lib"), Kind::Dir, &all));
        assert_eq!(t.names(Path::new("var/lib/real")), ["id"]);
    }
}
