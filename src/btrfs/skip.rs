//! The skip-next-boot request on Btrfs: a small file in the top-level subvolume, beside the
//! root, written and removed through a private mount of `subvolid=5` and committed before the
//! command returns. It lives outside the root, so no rollback, archive or restore touches it.
//! One marker for every root of the top level (targets `root` and `home` may share one): it
//! names a first root in `root` (as blankroot 0.2 wrote and reads it) and all of them in
//! `roots`; each rollback takes its own root out, and the last one removes the marker.

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
    /// The (first) root the request is for.
    pub root: String,
    /// When `blankroot skip-next-boot` was run (UTC).
    pub requested_at: String,
    /// Every root the request is for (absent in 0.2's marker: `root` alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<String>,
}

impl Request {
    /// The roots the request is for.
    pub fn all(&self) -> Vec<String> {
        if self.roots.is_empty() {
            vec![self.root.clone()]
        } else {
            self.roots.clone()
        }
    }

    pub fn covers(&self, root: &Name) -> bool {
        self.all().contains(&root.to_string())
    }
}

/// The pending request for `root`, if there is one.
pub fn pending_for(top: &TopMount, root: &Name) -> Result<Option<Request>> {
    Ok(pending(top)?.filter(|r| r.covers(root)))
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

/// Records a request for `root` (beside those pending for other roots), atomically (a
/// temporary file renamed over the marker) and durably (file and directory synced; the caller
/// commits the transaction by unmounting).
pub fn request(top: &TopMount, root: &Name, now: i64) -> Result<Request> {
    let mut roots = pending(top)?.map(|r| r.all()).unwrap_or_default();
    if !roots.contains(&root.to_string()) {
        roots.push(root.to_string());
    }
    let req = Request {
        root: roots[0].clone(),
        requested_at: crate::time::rfc3339(now),
        roots: if roots.len() > 1 { roots } else { Vec::new() },
    };
    write(top, &req)?;
    Ok(req)
}

fn write(top: &TopMount, req: &Request) -> Result<()> {
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
        f.write_all(serde_json::to_string(req).expect("serializable").as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        renameat(top.fd(), tmp.as_str(), top.fd(), MARKER)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = unlinkat(top.fd(), tmp.as_str(), AtFlags::empty());
        return Err(writing(e));
    }
    sync_dir(top)
}

/// Takes `root` out of the pending request (the marker goes with its last root); false when
/// none was pending for it.
pub fn clear_for(top: &TopMount, root: &Name) -> Result<bool> {
    let Some(req) = pending(top)? else {
        return Ok(false);
    };
    let rest: Vec<String> = req
        .all()
        .into_iter()
        .filter(|r| *r != root.to_string())
        .collect();
    if rest.len() == req.all().len() {
        return Ok(false);
    }
    if rest.is_empty() {
        return clear(top);
    }
    write(
        top,
        &Request {
            root: rest[0].clone(),
            requested_at: req.requested_at,
            roots: if rest.len() > 1 { rest } else { Vec::new() },
        },
    )?;
    Ok(true)
}

/// Removes the pending request, for every root; false when there was none.
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
