//! Trees that hold nothing but directories: an empty root (mount points only) and what an
//! unfinished `init` left behind, which can be deleted without losing anything.

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{fstat, openat, statat, AtFlags, FileType, Mode, OFlags};

/// What a directory on another filesystem (a mount, a nested subvolume) counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    /// A directory like any other (a mount point on an empty root); not entered.
    Skip,
    /// Content.
    Content,
}

/// The first entry beneath `dir` that is not a directory of its filesystem (its path from
/// `dir`, `/a/b`), if any; symlinks are never followed.
pub fn first_content(dir: BorrowedFd<'_>, other: Other) -> rustix::io::Result<Option<String>> {
    let dev = fstat(dir)?.st_dev;
    walk(dir, "", dev, other)
}

fn walk(
    dir: BorrowedFd<'_>,
    at: &str,
    dev: u64,
    other: Other,
) -> rustix::io::Result<Option<String>> {
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let path = format!("{at}/{}", String::from_utf8_lossy(name));
        let st = statat(dir, e.file_name(), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Ok(Some(path));
        }
        if st.st_dev != dev {
            match other {
                Other::Skip => continue,
                Other::Content => return Ok(Some(path)),
            }
        }
        let sub = openat(
            dir,
            e.file_name(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if let Some(found) = walk(sub.as_fd(), &path, dev, other)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}
