//! Copying a regular file's bytes the way a careful `cp` does: a reflink when both files are on
//! one filesystem that can share extents (Btrfs: instant, no space used), else only the data
//! ranges (`SEEK_DATA`/`SEEK_HOLE`, each with `copy_file_range`, falling back to read/write), so a
//! 40 GiB image holding a few bytes stays a few bytes on any destination. Holes stay holes; the
//! destination gets the source's apparent size.

use rustix::fd::AsFd;
use rustix::fs::{copy_file_range, fstat, ftruncate, ioctl_ficlone, seek, SeekFrom};
use rustix::io::{pread, pwrite, Errno};
use std::io;

/// How the bytes went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Shared extents (FICLONE): nothing was written.
    Reflinked,
    /// The data ranges were copied, the holes left as holes.
    Copied,
}

/// Copies the content of `src` into the empty regular file `dst`; returns how, and the bytes
/// of data copied (0 for a reflink).
pub fn copy(src: impl AsFd, dst: impl AsFd) -> io::Result<(How, u64)> {
    let (src, dst) = (src.as_fd(), dst.as_fd());
    let st = fstat(src)?;
    let size = st.st_size as u64;
    if size > 0 && ioctl_ficlone(dst, src).is_ok() {
        return Ok((How::Reflinked, 0));
    }
    let mut copied = 0;
    // Where the data written so far ends: the file's size then, without a truncate.
    let mut end = 0u64;
    // A file with as many blocks as bytes has no hole to look for (as cp decides): two
    // `lseek`s fewer per file, which a tree of small files notices.
    if (st.st_blocks as u64).saturating_mul(512) >= size {
        copied = range(src, dst, 0, size)?;
        end = copied;
    } else {
        let mut off = 0u64;
        while off < size {
            let data = match seek(src, SeekFrom::Data(off)) {
                Ok(d) => d,
                // No data after `off`: the rest is a hole.
                Err(Errno::NXIO) => break,
                // No SEEK_DATA here: all of it is data.
                Err(Errno::INVAL) | Err(Errno::OPNOTSUPP) => off,
                Err(e) => return Err(e.into()),
            };
            let hole = match seek(src, SeekFrom::Hole(data)) {
                Ok(h) => h.min(size),
                Err(_) => size,
            };
            let n = range(src, dst, data, hole)?;
            copied += n;
            if n > 0 {
                end = data + n;
            }
            off = hole;
        }
    }
    // The apparent size, holes at the end included (an inode update saved when the data ends
    // there already).
    if end != size {
        ftruncate(dst, size)?;
    }
    Ok((How::Copied, copied))
}

/// Copies `[from, to)` of `src` to the same offsets of `dst`.
fn range(
    src: rustix::fd::BorrowedFd<'_>,
    dst: rustix::fd::BorrowedFd<'_>,
    from: u64,
    to: u64,
) -> io::Result<u64> {
    let (mut off_in, mut off_out) = (from, from);
    while off_in < to {
        let want = (to - off_in).min(1 << 30) as usize;
        match copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM) => {
                return by_hand(src, dst, off_in, to).map(|n| n + (off_in - from));
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(off_in - from)
}

/// read/write, for filesystems without `copy_file_range` between them.
fn by_hand(
    src: rustix::fd::BorrowedFd<'_>,
    dst: rustix::fd::BorrowedFd<'_>,
    from: u64,
    to: u64,
) -> io::Result<u64> {
    // No larger than the range: a zeroed 1 MiB for each small file costs more than its copy.
    let mut buf = vec![0u8; ((to - from) as usize).min(1 << 20)];
    let mut off = from;
    while off < to {
        let want = ((to - off) as usize).min(buf.len());
        let n = match pread(src, &mut buf[..want], off) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut done = 0;
        while done < n {
            match pwrite(dst, &buf[done..n], off + done as u64) {
                Ok(w) => done += w,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        off += n as u64;
    }
    Ok(off - from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, OpenOptions};
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn holes_stay_holes_and_bytes_stay_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let mut f = File::create(&a).unwrap();
        // 64 MiB apparent, two small data ranges, a hole at the end.
        f.write_all(b"head").unwrap();
        f.seek(io::SeekFrom::Start(32 << 20)).unwrap();
        f.write_all(b"middle").unwrap();
        f.set_len(64 << 20).unwrap();
        drop(f);
        let b = dir.path().join("b");
        let dst = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&b)
            .unwrap();
        let (how, n) = copy(File::open(&a).unwrap(), &dst).unwrap();
        drop(dst);
        let m = std::fs::metadata(&b).unwrap();
        assert_eq!(m.len(), 64 << 20);
        match how {
            How::Reflinked => assert_eq!(n, 0),
            How::Copied => assert!(n < 8 << 20, "only the data ranges: {n}"),
        }
        assert!(m.blocks() * 512 < 8 << 20, "sparse: {} blocks", m.blocks());
        let mut got = Vec::new();
        File::open(&b).unwrap().read_to_end(&mut got).unwrap();
        let mut want = vec![0u8; 64 << 20];
        want[..4].copy_from_slice(b"head");
        want[32 << 20..(32 << 20) + 6].copy_from_slice(b"middle");
        assert!(got == want, "content differs");
        // An empty file and a file of data only.
        for content in [&b""[..], b"all data, no hole"] {
            let s = dir.path().join("s");
            let d = dir.path().join("d");
            std::fs::write(&s, content).unwrap();
            let _ = std::fs::remove_file(&d);
            let dst = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&d)
                .unwrap();
            copy(File::open(&s).unwrap(), &dst).unwrap();
            assert_eq!(std::fs::read(&d).unwrap(), content);
        }
    }
}
