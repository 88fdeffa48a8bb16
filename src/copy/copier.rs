//! Copying one PATH (out of an archive, or off the running system), with its type, owner, mode,
//! times, extended attributes and ACLs (`meta`); directories recursively; symlinks as symlinks;
//! hard links within the copy as hard links; FIFOs, sockets and device nodes made again (`mknod`).
//!
//! Nothing half-made appears at a destination name: a new entry is made under a temporary name
//! (`.blankroot-COMMAND-PID-N`) beside it and renamed into place when it is complete
//! (`RENAME_NOREPLACE`, so nothing that appeared meanwhile is replaced). With `--force` an
//! existing file is replaced by a rename over it, an existing non-directory by a directory with
//! `RENAME_EXCHANGE` (then the old one is removed), and an existing directory is merged into:
//! each entry of the source replaces the one of the same name, what the source does not have
//! stays. A directory where the source has a file is never removed: that entry is not copied.
//!
//! Failures do not stop the copy: each is recorded with the path it concerns (`problems`), and
//! what could be copied is.

use super::meta::{self, Node};
use super::source::{self, kind, kind_name, same, Found};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    fstat, linkat, mkdirat, mknodat, openat, readlinkat, renameat, renameat_with, statat,
    symlinkat, unlinkat, AtFlags, FileType, Mode, OFlags, RenameFlags, Stat,
};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct Copier {
    buf: Vec<u8>,
    /// Source inodes with several links (`st_dev`, `st_ino`) → their copy, relative to `top`.
    links: HashMap<(u64, u64), PathBuf>,
    /// The copy of the PATH, when it is a directory.
    top: Option<OwnedFd>,
    seq: u32,
    /// The command, in temporary names and hints, and where it copies from (`the archive`).
    cmd: &'static str,
    from: &'static str,
    /// Entries copied (a directory counts once) and bytes of file content.
    pub entries: u64,
    pub bytes: u64,
    /// Files whose content was reflinked (shared extents) and files whose content was copied.
    pub reflinked: u64,
    pub copied: u64,
    /// What was not copied, or copied without some of its metadata: `PATH: why`.
    pub problems: Vec<String>,
}

impl Copier {
    /// A copier for the command `cmd` (`restore`, `persist`) from `from` (`the archive`).
    pub fn new(cmd: &'static str, from: &'static str) -> Self {
        Copier {
            // The largest extended attribute list or value Linux has (XATTR_LIST_MAX).
            buf: vec![0; 65536],
            links: HashMap::new(),
            top: None,
            seq: 0,
            cmd,
            from,
            entries: 0,
            bytes: 0,
            reflinked: 0,
            copied: 0,
            problems: Vec::new(),
        }
    }
}

fn dir_at(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Removes what this run made at `name` in `dir` (a temporary copy), never crossing a mount or
/// following a symlink.
fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) {
    if let Ok(st) = source::stat_at(dir, name) {
        if kind(&st) == FileType::Directory {
            if let Ok(fd) = source::open_dir(dir, name) {
                for n in source::entries(&fd).unwrap_or_default() {
                    remove_tree(fd.as_fd(), &n);
                }
            }
            let _ = unlinkat(dir, name, AtFlags::REMOVEDIR);
        } else {
            let _ = unlinkat(dir, name, AtFlags::empty());
        }
    }
}

impl Copier {
    fn problem(&mut self, shown: &str, why: impl std::fmt::Display) {
        self.problems.push(format!("{shown}: {why}"));
    }

    fn tmp_name(&mut self) -> OsString {
        self.seq += 1;
        format!(
            ".blankroot-{}-{}-{}",
            self.cmd,
            std::process::id(),
            self.seq
        )
        .into()
    }

    /// Copies the PATH `found` to `name` in `parent`, where `existing` is what is there now (the
    /// caller has checked that it may be replaced). True when something was put in place.
    pub fn put(
        &mut self,
        found: &Found,
        parent: &OwnedFd,
        name: &OsStr,
        existing: Option<&Stat>,
        shown: &str,
    ) -> bool {
        self.links.clear();
        self.top = None;
        let src = found.dir.as_fd();
        let Some(existing) = existing else {
            let tmp = self.tmp_name();
            if !self.copy_new(
                src,
                &found.name,
                &found.stat,
                parent,
                &tmp,
                Path::new(""),
                shown,
            ) {
                return false;
            }
            return match renameat_with(parent, &tmp, parent, name, RenameFlags::NOREPLACE) {
                Ok(()) => true,
                Err(e) => {
                    self.problem(shown, format!("putting the copy in place: {e}"));
                    remove_tree(parent.as_fd(), &tmp);
                    false
                }
            };
        };
        self.replace(
            src,
            &found.name,
            &found.stat,
            parent,
            name,
            existing,
            Path::new(""),
            shown,
        )
    }

    /// One entry of a directory being copied (`rel`: its path inside the PATH's copy).
    fn entry(
        &mut self,
        src: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        dst: &OwnedFd,
        rel: &Path,
        shown: &str,
    ) {
        match statat(dst, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {
                if self.copy_new(src, name, st, dst, name, rel, shown) {
                    self.remember(st, rel);
                }
            }
            Ok(existing) => {
                self.replace(src, name, st, dst, name, &existing, rel, shown);
            }
            Err(e) => self.problem(shown, format!("looking at the destination: {e}")),
        }
    }

    /// A source inode with several links: where its first copy is.
    fn remember(&mut self, st: &Stat, rel: &Path) {
        if kind(st) != FileType::Directory && st.st_nlink > 1 && self.top.is_some() {
            self.links
                .entry((st.st_dev, st.st_ino))
                .or_insert_with(|| rel.to_path_buf());
        }
    }

    /// Replaces `existing` (at `dst_name` in `dst`) by the copy (`--force`).
    #[allow(clippy::too_many_arguments)]
    fn replace(
        &mut self,
        src: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        dst: &OwnedFd,
        dst_name: &OsStr,
        existing: &Stat,
        rel: &Path,
        shown: &str,
    ) -> bool {
        let src_is_dir = kind(st) == FileType::Directory;
        match (src_is_dir, kind(existing) == FileType::Directory) {
            (true, true) => {
                let fds = source::open_dir(src, name)
                    .map_err(|e| format!("opening it: {e}"))
                    .and_then(|s| {
                        Ok((
                            s,
                            dir_at(dst, dst_name)
                                .map_err(|e| format!("opening the destination: {e}"))?,
                        ))
                    });
                let (sfd, dfd) = match fds {
                    Ok(x) => x,
                    Err(why) => {
                        self.problem(shown, why);
                        return false;
                    }
                };
                if rel.as_os_str().is_empty() {
                    self.top = dfd.try_clone().ok();
                }
                self.children(&sfd, &dfd, rel, shown);
                self.meta(meta::fd(&sfd), meta::fd(&dfd), st, shown);
                self.entries += 1;
                crate::progress::tick(1, 0);
                true
            }
            (false, true) => {
                self.problem(shown, format!(
                    "not copied: a directory is in the way at the destination ({} has a {} there); move it away and run again",
                    self.from,
                    kind_name(st)
                ));
                false
            }
            (_, false) => {
                let tmp = self.tmp_name();
                if !self.copy_new(src, name, st, dst, &tmp, rel, shown) {
                    return false;
                }
                let put = if src_is_dir {
                    renameat_with(dst, &tmp, dst, dst_name, RenameFlags::EXCHANGE).map(|()| {
                        // The old entry is now at the temporary name.
                        if let Err(e) = unlinkat(dst, &tmp, AtFlags::empty()) {
                            self.problem(
                                shown,
                                format!(
                                    "the {} it replaced is left at {} ({e})",
                                    kind_name(existing),
                                    tmp.to_string_lossy()
                                ),
                            );
                        }
                    })
                } else {
                    renameat(dst, &tmp, dst, dst_name)
                };
                match put {
                    Ok(()) => {
                        self.remember(st, rel);
                        true
                    }
                    Err(e) => {
                        let hint = if e == Errno::BUSY {
                            format!(
                                " (it is a mount point: {} with --to the directory it is mounted from)",
                                self.cmd
                            )
                        } else {
                            String::new()
                        };
                        self.problem(shown, format!("replacing what is there: {e}{hint}"));
                        remove_tree(dst.as_fd(), &tmp);
                        false
                    }
                }
            }
        }
    }

    fn children(&mut self, sfd: &OwnedFd, dfd: &OwnedFd, rel: &Path, shown: &str) {
        let names = match source::entries(sfd) {
            Ok(n) => n,
            Err(e) => {
                self.problem(
                    shown,
                    format!("its entries were not copied: reading the directory: {e}"),
                );
                return;
            }
        };
        for n in names {
            let child_shown = format!("{shown}/{}", n.to_string_lossy());
            match source::stat_at(sfd.as_fd(), &n) {
                Ok(cst) => self.entry(sfd.as_fd(), &n, &cst, dfd, &rel.join(&n), &child_shown),
                Err(e) => self.problem(&child_shown, format!("not copied: {e}")),
            }
        }
    }

    fn meta(&mut self, src: Node<'_>, dst: Node<'_>, st: &Stat, shown: &str) {
        let lost = meta::apply(src, dst, st, &mut self.buf);
        if !lost.is_empty() {
            self.problem(shown, format!("copied without its {}", lost.join(", ")));
        }
    }

    /// Makes the copy of `name` (in `src`) at `dst_name` in `dst`, where nothing is.
    #[allow(clippy::too_many_arguments)]
    fn copy_new(
        &mut self,
        src: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        dst: &OwnedFd,
        dst_name: &OsStr,
        rel: &Path,
        shown: &str,
    ) -> bool {
        let t = kind(st);
        if t != FileType::Directory && st.st_nlink > 1 {
            let first = self.links.get(&(st.st_dev, st.st_ino)).cloned();
            if let (Some(top), Some(first)) = (&self.top, first) {
                match linkat(top, &first, dst, dst_name, AtFlags::empty()) {
                    Ok(()) => {
                        self.entries += 1;
                        crate::progress::tick(1, 0);
                        return true;
                    }
                    Err(e) => self.problem(
                        shown,
                        format!(
                            "copied as a file of its own: linking it to {} failed ({e})",
                            first.display()
                        ),
                    ),
                }
            }
        }
        let made = match t {
            FileType::Directory => self.copy_dir(src, name, st, dst, dst_name, rel, shown),
            FileType::RegularFile => self.copy_file(src, name, st, dst, dst_name, shown),
            FileType::Symlink => readlinkat(src, name, Vec::new())
                .map_err(|e| format!("not copied: reading the link: {e}"))
                .and_then(|target| {
                    symlinkat(target.as_c_str(), dst, dst_name)
                        .map_err(|e| format!("not copied: making the link: {e}"))
                }),
            FileType::Fifo
            | FileType::Socket
            | FileType::CharacterDevice
            | FileType::BlockDevice => {
                mknodat(dst, dst_name, t, Mode::from_raw_mode(0o600), st.st_rdev)
                    .map_err(|e| format!("not copied: making the {}: {e}", kind_name(st)))
            }
            FileType::Unknown => Err("not copied: its type is unknown".to_string()),
        };
        if let Err(why) = made {
            self.problem(shown, why);
            return false;
        }
        if !matches!(t, FileType::Directory | FileType::RegularFile) {
            self.meta(
                Node::At(src, name),
                Node::At(dst.as_fd(), dst_name),
                st,
                shown,
            );
        }
        self.entries += 1;
        crate::progress::tick(1, 0);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_dir(
        &mut self,
        src: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        dst: &OwnedFd,
        dst_name: &OsStr,
        rel: &Path,
        shown: &str,
    ) -> Result<(), String> {
        let sfd =
            source::open_dir(src, name).map_err(|e| format!("not copied: opening it: {e}"))?;
        if !fstat(&sfd).is_ok_and(|now| same(st, &now)) {
            return Err("not copied: it changed while it was read".into());
        }
        mkdirat(dst, dst_name, Mode::from_raw_mode(0o700))
            .map_err(|e| format!("not copied: making the directory: {e}"))?;
        let dfd =
            dir_at(dst, dst_name).map_err(|e| format!("not copied: opening the copy: {e}"))?;
        if rel.as_os_str().is_empty() {
            self.top = dfd.try_clone().ok();
        }
        self.children(&sfd, &dfd, rel, shown);
        self.meta(meta::fd(&sfd), meta::fd(&dfd), st, shown);
        Ok(())
    }

    fn copy_file(
        &mut self,
        src: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        dst: &OwnedFd,
        dst_name: &OsStr,
        shown: &str,
    ) -> Result<(), String> {
        let sfd =
            source::open_file(src, name).map_err(|e| format!("not copied: opening it: {e}"))?;
        if !fstat(&sfd).is_ok_and(|now| same(st, &now)) {
            return Err("not copied: it changed while it was read".into());
        }
        let dfd = openat(
            dst,
            dst_name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| format!("not copied: making the file: {e}"))?;
        let (r, w) = (File::from(sfd), File::from(dfd));
        // Holes stay holes (a sparse VM image goes onto a small filesystem); a reflink where the
        // destination shares the source's filesystem.
        match crate::sparse::copy(&r, &w) {
            Ok((how, _)) => {
                self.bytes += st.st_size as u64;
                crate::progress::tick(0, st.st_size as u64);
                match how {
                    crate::sparse::How::Reflinked => self.reflinked += 1,
                    crate::sparse::How::Copied => self.copied += 1,
                }
            }
            Err(e) => {
                let _ = unlinkat(dst, dst_name, AtFlags::empty());
                return Err(format!("not copied: copying its content: {e}"));
            }
        }
        self.meta(meta::fd(&r), meta::fd(&w), st, shown);
        Ok(())
    }
}
