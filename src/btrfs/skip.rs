//! The skip-next-boot request on Btrfs: a small file in the top-level subvolume, beside the
//! root, written and removed through a private mount of `subvolid=5` and committed before the
//! command returns. It lives outside the root, so no rollback, archive or restore touches it.

use super::mount::TopMount;
use crate::error::{Error, Result};
use crate::names::Name;
use rustix::fd::AsFd;
use rustix::fs::{fstat, fsync, openat, renameat, unlinkat, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The marker's name in the top-level subvolume.
pub const MARKER: &str = ".blankroot-skip-next-boot";

/// What the marker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The root the request is for (a top level may hold several).
    pub root: String,
    /// When `blankroot skip-next-boot` was run (UTC).
    pub requested_at: String,
}

/// The pending request, if there is one.
pub fn pending(top: &TopMount) -> Result<Option<Request>> {
    let what = |e| Error::io(format!("reading {MARKER} in the top level"), e);
    let fd = match openat(
        top.fd(),
        MARKER,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(what(e)),
    };
    let st = fstat(&fd).map_err(what)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_size > 4096 {
        return Err(Error::runtime(format!(
            "{MARKER} in the top level is not blankroot's request (not a small file): nothing was changed; remove it"
        )));
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(format!("reading {MARKER}"), e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::runtime(format!(
            "{MARKER} in the top level is not a skip-next-boot request ({e}): nothing was changed; remove it or run `blankroot skip-next-boot` again"
        ))
    })
}

/// Records a request for `root`, atomically (a temporary file renamed over the marker) and
/// durably (file and directory synced; the caller commits the transaction by unmounting).
pub fn request(top: &TopMount, root: &Name, now: i64) -> Result<Request> {
    let req = Request {
        root: root.to_string(),
        requested_at: crate::time::rfc3339(now),
    };
    let tmp = format!("{MARKER}.{}.tmp", std::process::id());
    let writing = |e: std::io::Error| Error::io(format!("writing {MARKER} in the top level"), e);
    let written = (|| -> std::io::Result<()> {
        let fd = openat(
            top.fd(),
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        let mut f = std::fs::File::from(fd);
        f.write_all(
            serde_json::to_string(&req)
                .expect("serializable")
                .as_bytes(),
        )?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        renameat(top.fd(), tmp.as_str(), top.fd(), MARKER)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = unlinkat(top.fd(), tmp.as_str(), AtFlags::empty());
        return Err(writing(e));
    }
    sync_dir(top)?;
    Ok(req)
}

/// Removes a pending request; false when there was none.
pub fn clear(top: &TopMount) -> Result<bool> {
    match unlinkat(top.fd(), MARKER, AtFlags::empty()) {
        Ok(()) => {}
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(Error::io(format!("removing {MARKER} in the top level"), e)),
    }
    sync_dir(top)?;
    Ok(true)
}

fn sync_dir(top: &TopMount) -> Result<()> {
    fsync(top.fd().as_fd()).map_err(|e| Error::io("syncing the top-level directory", e))
}
