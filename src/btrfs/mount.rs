//! The top-level subvolume (`subvolid=5`, never the default subvolume) mounted on a private
//! directory under `/run/blankroot/`, unmounted on every way out.

use super::ioctl::{self, FS_TREE};
use crate::error::{Error, Result};
use crate::plan::Mounted;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{open, statfs, Mode, OFlags};
use rustix::mount::{
    mount, mount_change, unmount, MountFlags, MountPropagationFlags, UnmountFlags,
};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub const RUNTIME_DIR: &str = "/run/blankroot";
pub const BTRFS_MAGIC: u32 = 0x9123_683e;

pub struct TopMount {
    dir: PathBuf,
    fd: Option<OwnedFd>,
}

impl TopMount {
    pub fn mount(device: &Path, read_only: bool) -> Result<TopMount> {
        let base = Path::new(RUNTIME_DIR);
        crate::host::create_dirs(base, 0o755)
            .map_err(|e| Error::io(format!("creating {RUNTIME_DIR}"), e))?;
        let dir = (0..1000)
            .map(|n| base.join(format!("top.{}.{n}", std::process::id())))
            .find(|d| fs::DirBuilder::new().mode(0o700).create(d).is_ok())
            .ok_or_else(|| {
                Error::runtime(format!(
                    "cannot create a mount directory under {RUNTIME_DIR}"
                ))
            })?;
        let mut flags =
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC | MountFlags::NOATIME;
        if read_only {
            flags |= MountFlags::RDONLY;
        }
        if let Err(e) = mount(device, &dir, "btrfs", flags, c"subvolid=5") {
            let _ = fs::remove_dir(&dir);
            return Err(Error::io(
                format!(
                    "mounting the top level (subvolid=5) of {}",
                    device.display()
                ),
                e,
            ));
        }
        let mut top = TopMount { dir, fd: None };
        // Our mount must not propagate into other mount namespaces.
        mount_change(&top.dir, MountPropagationFlags::PRIVATE)
            .map_err(|e| Error::io("making the mount private", e))?;
        let fd = open(
            &top.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("opening {}", top.dir.display()), e))?;
        let magic = statfs(&top.dir).map_err(|e| Error::io("statfs", e))?.f_type as u32;
        let id = ioctl::subvol_info(&fd).map(|i| i.id).unwrap_or(0);
        if magic != BTRFS_MAGIC || id != FS_TREE {
            return Err(Error::runtime(format!(
                "{} did not mount as the btrfs top level (magic {magic:#x}, subvolume id {id})",
                device.display()
            )));
        }
        top.fd = Some(fd);
        Ok(top)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("mounted").as_fd()
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Other mounts of this filesystem (read from `/proc/self/mountinfo`).
    pub fn other_mounts(&self) -> Vec<Mounted> {
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let lines: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split(' ').map(unescape).collect())
            .collect();
        let ours = self.dir.to_string_lossy();
        let Some(dev) = lines
            .iter()
            .find(|f| f.len() > 4 && f[4] == ours)
            .map(|f| f[2].clone())
        else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for f in &lines {
            if f.len() > 4 && f[2] == dev && f[4] != ours {
                found.push(Mounted {
                    fs_path: f[3].trim_start_matches('/').to_string(),
                    mountpoint: f[4].clone(),
                });
            }
        }
        found
    }

    /// Commits the transaction and unmounts. When this is the filesystem's only mount, the
    /// unmount itself commits (and the cleaner thread is not woken first, so nothing waits for
    /// it); when other mounts keep the filesystem alive, an explicit sync commits first.
    pub fn commit(mut self) -> Result<()> {
        let sync = |fd: BorrowedFd<'_>| {
            ioctl::sync(fd).map_err(|e| Error::io("syncing the filesystem", e))
        };
        if !self.other_mounts().is_empty() {
            sync(self.fd())?;
        }
        self.fd = None;
        if let Err(e) = unmount(&self.dir, UnmountFlags::empty()) {
            // Still mounted: commit explicitly, then detach.
            let fd = open(
                &self.dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io(format!("opening {}", self.dir.display()), e))?;
            sync(fd.as_fd())?;
            drop(fd);
            log::warn!(
                "unmounting {}: {e}; synced and detached it instead",
                self.dir.display()
            );
            let _ = unmount(&self.dir, UnmountFlags::DETACH);
        }
        let _ = fs::remove_dir(&self.dir);
        self.dir = PathBuf::new();
        Ok(())
    }

    /// Unmounts, reporting failure (the Drop fallback detaches quietly).
    pub fn unmount(mut self) -> Result<()> {
        self.fd = None;
        let r = unmount(&self.dir, UnmountFlags::empty());
        if r.is_err() {
            let _ = unmount(&self.dir, UnmountFlags::DETACH);
        }
        let _ = fs::remove_dir(&self.dir);
        self.dir = PathBuf::new();
        r.map_err(|e| Error::io("unmounting the top level", e))
    }
}

impl Drop for TopMount {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        self.fd = None;
        if unmount(&self.dir, UnmountFlags::empty()).is_err() {
            let _ = unmount(&self.dir, UnmountFlags::DETACH);
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let d = |k: usize| u32::from(b[i + k] - b'0');
            out.push((d(1) * 64 + d(2) * 8 + d(3)) as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes_mountinfo_fields() {
        assert_eq!(super::unescape(r"/my\040root"), "/my root");
        assert_eq!(super::unescape(r"/a\134b"), r"/a\b");
        assert_eq!(super::unescape("/plain"), "/plain");
    }
}
