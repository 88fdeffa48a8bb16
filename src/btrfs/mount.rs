//! The top-level subvolume (`subvolid=5`, never the default subvolume) mounted on a private
//! directory under `/run/blankroot/`, unmounted on every way out.

use super::ioctl::{self, FS_TREE};
use super::plan::Mounted;
use crate::error::{Error, Result};
use crate::mountinfo;
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
    /// `options` (already checked: no `subvol=`/`subvolid=`) go after `subvolid=5`. The device is
    /// probed first, so a device that is not btrfs gets a clear error rather than mount's.
    pub fn mount(device: &Path, options: Option<&str>, read_only: bool) -> Result<TopMount> {
        crate::probe::require_btrfs(device)?;
        let data = match options {
            Some(o) => format!("subvolid=5,{o}"),
            None => "subvolid=5".to_string(),
        };
        let data = std::ffi::CString::new(data)
            .map_err(|_| Error::usage("--mount-options: contains a NUL byte"))?;
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
        if let Err(e) = mount(device, &dir, "btrfs", flags, data.as_c_str()) {
            let _ = fs::remove_dir(&dir);
            return Err(Error::io(
                format!(
                    "mounting the top level ({}) of {}",
                    data.to_string_lossy(),
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
        let mounts = mountinfo::read();
        let Some(ours) = mounts.iter().find(|m| m.mount_point == self.dir) else {
            return Vec::new();
        };
        mounts
            .iter()
            .filter(|m| m.dev == ours.dev && m.mount_point != self.dir)
            .map(|m| Mounted {
                fs_path: m
                    .fs_root
                    .to_string_lossy()
                    .trim_start_matches('/')
                    .to_string(),
                mountpoint: m.mount_point.display().to_string(),
            })
            .collect()
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
