//! Btrfs: the walker's trees read from the subvolumes' metadata in bulk (`btrfs::tree`), instead
//! of `readdir` and one `statx` per path. The comparison itself is the walker's (`walk`), so the
//! listing is the same by construction; what differs is only where each fact comes from:
//!
//! - the names of a directory: its `DIR_INDEX` items (what `readdir` lists);
//! - type, mode, owner, size, device numbers, ctime and mtime: the inode item (what `statx`
//!   reports; a hard link is one more entry naming the same inode);
//! - a symlink's target: its inline extent (else `readlink`);
//! - a nested subvolume: the entry names a tree; it is the subvolume's top directory (inode 256
//!   of that tree) when the root tree has the matching `ROOT_REF` (same parent, directory and
//!   name), else the kernel shows an empty directory there (inode 2: a snapshot's stand-in for
//!   the nested subvolumes of its source). Its owner is not on disk and depends on the kernel
//!   (`root root` before Linux 6.6, the parent directory's since), so this reader asks the
//!   kernel: one `statx` of the stand-in, as the walker does;
//! - the bytes of two files whose size agrees but whose inode, ctime or mtime do not: the same
//!   when their extent items prove it (the same extents, or the same inline bytes:
//!   `btrfs::extents`), else read from the files themselves, opened beneath the top-level mount
//!   without following symlinks.
//!
//! The trees of the root, the blank and every nested subvolume not left out by path are read
//! in the background, several at a time, in the order the walker reaches them, while it
//! compares the first ones; a tree it needs that was not planned is read when it is reached.

use super::filter::Filter;
use super::model::Kind;
use super::walk::{Meta, Name, Source};
use crate::btrfs::extents::{self, Extents};
use crate::btrfs::ioctl;
use crate::btrfs::tree::{self, Child, Inode, Loader, Target, Tree, STUB_INO};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{openat2, readlinkat, Mode, OFlags, ResolveFlags};
use rustix::io::{Errno, Result};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const TOP_INO: u64 = 256;

/// A directory of either side: the tree holding it (`None`: the empty stand-in of a subvolume
/// that is not there), its inode, and its path beneath the top-level mount.
pub struct BulkDir {
    tree: Option<usize>,
    ino: u64,
    path: PathBuf,
}

pub struct Bulk<'a, 'l> {
    top: BorrowedFd<'a>,
    loader: &'l Loader<'a>,
    trees: Vec<Tree>,
    children: Vec<Child>,
}

/// Threads reading trees: they mostly wait for the disk.
const THREADS: usize = 8;

/// The trees to read for comparing `live` with `blank` (subvolume ids): theirs and those of the
/// subvolumes nested in them, but those under a path `filter` leaves out, in the order the
/// walker reaches them (path order). `top`: the top-level mount.
pub fn plan(
    top: BorrowedFd<'_>,
    live: u64,
    blank: Option<u64>,
    filter: &Filter,
) -> Result<(Vec<u64>, Vec<Child>)> {
    let children = tree::children(top)?;
    let roots: Vec<u64> = std::iter::once(live).chain(blank).collect();
    let mut nested: Vec<(PathBuf, u64)> = Vec::new();
    let mut todo: Vec<(u64, PathBuf)> = roots.iter().map(|&id| (id, PathBuf::new())).collect();
    while let Some((parent, at)) = todo.pop() {
        for c in children.iter().filter(|c| c.parent == parent) {
            let Ok(dir) = ioctl::dir_path(top, parent, c.dir) else {
                continue;
            };
            let mut rel = at.join(OsStr::from_bytes(&dir));
            rel.push(OsStr::from_bytes(&c.name));
            let known = roots.contains(&c.id) || nested.iter().any(|n| n.1 == c.id);
            if !left_out(filter, &rel) && !known {
                nested.push((rel.clone(), c.id));
                todo.push((c.id, rel));
            }
        }
    }
    crate::sort::by(&mut nested, &|a, b| super::model::path_order(&a.0, &b.0));
    let ids = roots
        .into_iter()
        .chain(nested.into_iter().map(|n| n.1))
        .collect();
    Ok((ids, children))
}

/// Runs `f` with the trees of `plan` being read.
pub fn with<'a, R>(
    top: BorrowedFd<'a>,
    (ids, children): (Vec<u64>, Vec<Child>),
    f: impl FnOnce(Bulk<'a, '_>) -> R,
) -> R {
    Loader::run(top, ids, THREADS, |loader| {
        f(Bulk {
            top,
            loader,
            trees: Vec::new(),
            children,
        })
    })
}

impl Bulk<'_, '_> {
    /// The top directory of subvolume `id`, `path` beneath the top-level mount.
    pub fn root(&mut self, id: u64, path: PathBuf) -> Result<BulkDir> {
        Ok(BulkDir {
            tree: Some(self.tree(id)?),
            ino: TOP_INO,
            path,
        })
    }

    fn tree(&mut self, id: u64) -> Result<usize> {
        if let Some(i) = self.trees.iter().position(|t| t.id == id) {
            return Ok(i);
        }
        self.trees.push(self.loader.take(id)?);
        Ok(self.trees.len() - 1)
    }

    /// The tree of the subvolume entry `n` of `dir`, `None` when the kernel shows the empty
    /// stand-in there.
    fn child(&mut self, dir: &BulkDir, n: &Name) -> Result<Option<usize>> {
        let Some(t) = dir.tree else { return Ok(None) };
        let parent = self.trees[t].id;
        let real = self.children.iter().any(|c| {
            c.parent == parent && c.id == n.ino && c.dir == dir.ino && c.name == n.name.to_bytes()
        });
        if !real {
            return Ok(None);
        }
        self.tree(n.ino).map(Some)
    }

    fn open_beneath(&self, path: &Path, flags: OFlags) -> Result<OwnedFd> {
        openat2(
            self.top,
            path,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
    }
}

/// Whether the walker would never look at `rel` or below (a path it leaves out on the way).
fn left_out(filter: &Filter, rel: &Path) -> bool {
    let mut at = PathBuf::new();
    rel.components().any(|c| {
        at.push(c);
        filter.excluded(&at).is_some() || filter.recreated_path(&at)
    })
}

fn meta(i: &Inode, ino: u64) -> Meta {
    Meta {
        kind: Kind::from_mode(i.mode),
        perm: i.mode & 0o7777,
        uid: i.uid,
        gid: i.gid,
        size: i.size,
        ino,
        ctime: i.ctime,
        mtime: i.mtime,
        rdev: i.rdev_numbers(),
        mnt_id: None,
    }
}

impl Bulk<'_, '_> {
    /// What `statx` says of the empty stand-in of a subvolume that is not there, at `path`
    /// beneath the top-level mount. Its owner and times are made up when the kernel shows it
    /// (see the top of this file), so they are asked for rather than derived from the tree.
    fn stub(&self, path: &Path) -> Result<Meta> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Errno::INVAL);
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let fd = self.open_beneath(parent, OFlags::PATH | OFlags::DIRECTORY)?;
        let name = CString::new(name.as_bytes()).map_err(|_| Errno::INVAL)?;
        let m = super::fds::stat_at(fd.as_fd(), &name)?.ok_or(Errno::NOENT)?;
        if m.ino != STUB_INO {
            // Not the stand-in: the tree and the mounted filesystem disagree.
            return Err(Errno::IO);
        }
        Ok(Meta { mnt_id: None, ..m })
    }
}

impl Source for Bulk<'_, '_> {
    type Dir = BulkDir;

    fn names(&mut self, dir: &BulkDir) -> Result<Vec<Name>> {
        let Some(t) = dir.tree else {
            return Ok(Vec::new());
        };
        // Sorted by name bytes already.
        Ok(self.trees[t]
            .entries(dir.ino)
            .filter_map(|e| {
                let (ino, subvol) = match e.target {
                    Target::Inode(i) => (i, false),
                    Target::Subvolume(id) => (id, true),
                };
                Some(Name {
                    name: CString::new(e.name).ok()?,
                    ino,
                    kind: None,
                    subvol,
                })
            })
            .collect())
    }

    fn stat_dir(&mut self, dir: &BulkDir) -> Option<Meta> {
        match dir.tree {
            None => self.stub(&dir.path).ok(),
            Some(t) => self.trees[t].inode(dir.ino).map(|i| meta(i, dir.ino)),
        }
    }

    fn stat(&mut self, dir: &BulkDir, n: &Name, _: bool) -> Result<Option<Meta>> {
        if n.subvol {
            return Ok(Some(match self.child(dir, n)? {
                Some(c) => match self.trees[c].inode(TOP_INO) {
                    Some(i) => meta(i, TOP_INO),
                    None => return Err(Errno::IO),
                },
                None => self.stub(&dir.path.join(OsStr::from_bytes(n.name.to_bytes())))?,
            }));
        }
        let Some(t) = dir.tree else { return Ok(None) };
        Ok(self.trees[t].inode(n.ino).map(|i| meta(i, n.ino)))
    }

    fn readlink(&mut self, dir: &BulkDir, n: &Name) -> Option<Vec<u8>> {
        if let Some(l) = dir.tree.and_then(|t| self.trees[t].link(n.ino)) {
            return Some(l.to_vec());
        }
        let fd = self
            .open_beneath(&dir.path, OFlags::PATH | OFlags::DIRECTORY)
            .ok()?;
        readlinkat(&fd, &*n.name, Vec::new())
            .ok()
            .map(|t| t.into_bytes())
    }

    fn open_dir(&mut self, dir: &BulkDir, n: &Name, _: &Meta) -> Result<BulkDir> {
        let path = dir.path.join(OsStr::from_bytes(n.name.to_bytes()));
        if n.subvol {
            let tree = self.child(dir, n)?;
            return Ok(BulkDir {
                tree,
                ino: TOP_INO,
                path,
            });
        }
        Ok(BulkDir {
            tree: dir.tree,
            ino: n.ino,
            path,
        })
    }

    fn open_file(&mut self, dir: &BulkDir, n: &Name) -> Result<std::fs::File> {
        let path = dir.path.join(OsStr::from_bytes(n.name.to_bytes()));
        self.open_beneath(&path, OFlags::RDONLY | OFlags::NOCTTY)
            .map(std::fs::File::from)
    }

    fn same_bytes(
        &mut self,
        (ld, l): (&BulkDir, &Name),
        (bd, b): (&BulkDir, &Name),
        size: u64,
    ) -> Option<bool> {
        let (lt, bt) = (self.trees[ld.tree?].id, self.trees[bd.tree?].id);
        let x = Extents::read(self.top, lt, l.ino)?;
        let y = Extents::read(self.top, bt, b.ino)?;
        extents::same_bytes(&x, &y, size)
    }
}
