//! One rollback per disk at a time: an exclusive `flock` on a file under `/run/blankroot/lock/`
//! named after the device number (Btrfs) or the pool (ZFS). Two starts (dracut and a stray
//! unit, a retry) never interleave their steps: the second waits a bounded time for the first
//! to finish, then gives up without touching anything.

use crate::error::{Error, Result};
use rustix::fs::{flock, open, stat, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const LOCK_DIR: &str = "/run/blankroot/lock";

/// Held until dropped (closing the file releases the lock, also when the process dies).
#[derive(Debug)]
pub struct Lock {
    _fd: rustix::fd::OwnedFd,
    pub path: PathBuf,
}

/// The lock's name for a Btrfs device: its device number, so `/dev/vda2` and a symlink or
/// another node for the same disk share one lock.
pub fn btrfs_key(device: &Path) -> String {
    match stat(device) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::BlockDevice => {
            let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
            format!("btrfs-{major}:{minor}")
        }
        _ => format!("btrfs-{}", plain(&device.to_string_lossy())),
    }
}

pub fn zfs_key(pool: &str) -> String {
    format!("zfs-{}", plain(pool))
}

fn plain(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Takes the lock `key`, waiting up to `wait` for another run to let it go; `what` names the
/// disk in the messages.
pub fn acquire(key: &str, what: &str, wait: Duration) -> Result<Lock> {
    let dir = Path::new(LOCK_DIR);
    crate::host::create_dirs(dir, 0o755)
        .map_err(|e| Error::io(format!("creating {LOCK_DIR}"), e))?;
    let path = dir.join(format!("{key}.lock"));
    let fd = open(
        &path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::io(format!("opening the lock {}", path.display()), e))?;
    let start = Instant::now();
    let mut said = false;
    loop {
        match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Lock { _fd: fd, path }),
            Err(Errno::WOULDBLOCK | Errno::INTR) => {}
            Err(e) => return Err(Error::io(format!("locking {}", path.display()), e)),
        }
        if start.elapsed() >= wait {
            return Err(Error::runtime(format!(
                "another blankroot run on {what} holds {} and did not finish within {} s: nothing was changed; let it finish (`fuser -v {}` shows it), or pass a longer --lock-wait",
                path.display(),
                wait.as_secs(),
                path.display()
            )));
        }
        if !said {
            log::info!(
                "another blankroot run on {what} holds {}: waiting up to {} s for it",
                path.display(),
                wait.as_secs()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_file_names() {
        assert_eq!(zfs_key("rpool"), "zfs-rpool");
        assert_eq!(zfs_key("a b/c"), "zfs-a_b_c");
        assert_eq!(
            btrfs_key(Path::new("/nonexistent/x y")),
            "btrfs-_nonexistent_x_y"
        );
    }
}
