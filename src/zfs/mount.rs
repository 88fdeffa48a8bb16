//! A read-only mount of a dataset (an archive) on a private directory under `/run/blankroot/`,
//! for `restore` to read from; unmounted on every way out.
//!
//! With the OpenZFS kernel module: `mount(2)` of the dataset itself, `mount -t zfs -o
//! ro,nosuid,nodev,noexec DATASET /run/blankroot/restore.PID.N` without the mount helper's
//! checks (it refuses datasets whose `mountpoint` is not `legacy`, which is no concern of a
//! private read-only mount), then made private (`mount --make-private`). Nothing is written:
//! a read-only mount replays no intent log and updates no access time, and no property is set.
//!
//! zfs-fuse (the ZFS of the test suite) has no kernel filesystem (`mount(2)` says `ENODEV`) and
//! can mount a dataset only at its `mountpoint`. There, and only there, the dataset's
//! `mountpoint` is set to the private directory for the time of the copy and put back after
//! (`zfs set mountpoint=DIR`, `zfs mount -o ro`, `zfs umount`, then `zfs set mountpoint=OLD` or
//! `zfs inherit mountpoint`): a change of a property, never of the content. A dataset mounted
//! already is refused there.

use super::cmd::{Tool, Tools};
use crate::error::{Error, Result};
use crate::mountinfo;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{open, statvfs, Mode, OFlags, StatVfsMountFlags};
use rustix::io::Errno;
use rustix::mount::{
    mount, mount_change, unmount, MountFlags, MountPropagationFlags, UnmountFlags,
};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RUNTIME_DIR: &str = "/run/blankroot";

/// How the dataset was mounted.
enum How {
    Kernel,
    /// zfs-fuse: the `mountpoint` to put back (its value, and whether it was set locally).
    Fuse {
        value: String,
        local: bool,
    },
}

pub struct ReadOnlyMount {
    dir: PathBuf,
    dataset: String,
    tools: Tools,
    how: Option<How>,
    fd: Option<OwnedFd>,
}

impl ReadOnlyMount {
    pub fn mount(tools: &Tools, dataset: &str) -> Result<ReadOnlyMount> {
        let base = Path::new(RUNTIME_DIR);
        crate::host::create_dirs(base, 0o755)
            .map_err(|e| Error::io(format!("creating {RUNTIME_DIR}"), e))?;
        let dir = (0..1000)
            .map(|n| base.join(format!("restore.{}.{n}", std::process::id())))
            .find(|d| fs::DirBuilder::new().mode(0o700).create(d).is_ok())
            .ok_or_else(|| {
                Error::runtime(format!(
                    "cannot create a mount directory under {RUNTIME_DIR}"
                ))
            })?;
        let mut m = ReadOnlyMount {
            dir,
            dataset: dataset.to_string(),
            tools: tools.clone(),
            how: None,
            fd: None,
        };
        let flags =
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        match mount(dataset, &m.dir, "zfs", flags, None) {
            Ok(()) => m.how = Some(How::Kernel),
            Err(Errno::NODEV) => m.fuse()?,
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "mounting {dataset} read-only at {} (mount -t zfs -o ro)",
                        m.dir.display()
                    ),
                    e,
                ))
            }
        }
        let _ = mount_change(&m.dir, MountPropagationFlags::PRIVATE);
        m.check()?;
        Ok(m)
    }

    /// zfs-fuse: see the module documentation.
    fn fuse(&mut self) -> Result<()> {
        let ds = self.dataset.clone();
        let out = self.tools.query(
            Tool::Zfs,
            &[
                "get",
                "-H",
                "-o",
                "property,value,source",
                "mountpoint,mounted",
                &ds,
            ],
        )?;
        let mut value = None;
        let mut local = false;
        let mut mounted = false;
        for line in out.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f[..] {
                ["mountpoint", v, source] => {
                    value = Some(v.to_string());
                    local = source == "local";
                }
                ["mounted", v, _] => mounted = v == "yes",
                _ => {}
            }
        }
        let Some(value) = value else {
            return Err(Error::runtime(format!(
                "unexpected output from zfs get mountpoint {ds}: {out:?}: nothing was copied"
            )));
        };
        if mounted {
            return Err(Error::runtime(format!(
                "{ds} is mounted: this ZFS (zfs-fuse) mounts a dataset only once, so it cannot be mounted read-only for the copy; unmount it (zfs umount {ds}) and run again"
            )));
        }
        let dir = self.dir.display().to_string();
        self.zfs(&["set", &format!("mountpoint={dir}"), &ds])?;
        self.how = Some(How::Fuse { value, local });
        if !mountinfo::read().iter().any(|m| m.mount_point == self.dir) {
            self.zfs(&["mount", "-o", "ro", &ds])?;
        }
        Ok(())
    }

    /// `zfs umount`; not being mounted (a failed `zfs mount`) is no failure here.
    fn umount_fuse(&self, ds: &str) -> Result<String> {
        match self.zfs(&["umount", ds]) {
            Err(e) if e.message.contains("not currently mounted") => Ok(String::new()),
            other => other,
        }
    }

    fn zfs(&self, args: &[&str]) -> Result<String> {
        self.tools.query(Tool::Zfs, args)
    }

    /// The mount on our directory is this dataset, read-only.
    fn check(&mut self) -> Result<()> {
        let mounts = mountinfo::read();
        let ours = mounts.iter().rev().find(|m| m.mount_point == self.dir);
        let ro = statvfs(&self.dir).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY));
        match ours {
            Some(m) if m.source == self.dataset && ro => {}
            other => {
                return Err(Error::runtime(format!(
                    "{} is not mounted read-only at {} as it should be ({}): nothing was copied",
                    self.dataset,
                    self.dir.display(),
                    other.map_or("nothing is mounted there".to_string(), |m| format!(
                        "{} {}{}",
                        m.fstype,
                        m.source,
                        if ro { "" } else { ", writable" }
                    ))
                )))
            }
        }
        let fd = open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("opening {}", self.dir.display()), e))?;
        self.fd = Some(fd);
        Ok(())
    }

    /// The top directory of the mounted dataset.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("mounted").as_fd()
    }

    /// Unmounts (and on zfs-fuse puts the `mountpoint` back), reporting what failed.
    pub fn unmount(mut self) -> Result<()> {
        self.release()
    }

    fn release(&mut self) -> Result<()> {
        self.fd = None;
        let Some(how) = self.how.take() else {
            let _ = fs::remove_dir(&self.dir);
            return Ok(());
        };
        let ds = self.dataset.clone();
        let result = match how {
            How::Kernel => unmount(&self.dir, UnmountFlags::empty())
                .or_else(|_| unmount(&self.dir, UnmountFlags::DETACH))
                .map_err(|e| Error::io(format!("unmounting {}", self.dir.display()), e)),
            How::Fuse { value, local } => {
                // zfs-fuse is busy for a moment after the last file is closed.
                let start = Instant::now();
                let mut un = self.umount_fuse(&ds);
                while un.as_ref().is_err_and(|e| e.message.contains("busy"))
                    && start.elapsed() < Duration::from_secs(10)
                {
                    std::thread::sleep(Duration::from_millis(100));
                    un = self.umount_fuse(&ds);
                }
                let back = if local {
                    self.zfs(&["set", &format!("mountpoint={value}"), &ds])
                } else {
                    self.zfs(&["inherit", "mountpoint", &ds])
                };
                un.and(back).map(|_| ()).map_err(|e| {
                    Error::runtime(format!(
                        "{}: put the mountpoint of {ds} back by hand (zfs umount {ds}; {})",
                        e.message,
                        if local {
                            format!("zfs set mountpoint={value} {ds}")
                        } else {
                            format!("zfs inherit mountpoint {ds}")
                        }
                    ))
                })
            }
        };
        let _ = fs::remove_dir(&self.dir);
        result
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            eprintln!("blankroot: warning: {e}");
        }
    }
}
