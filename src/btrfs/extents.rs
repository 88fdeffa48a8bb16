//! Whether two regular files hold the same bytes, told from their file extent items
//! (`EXTENT_DATA`) instead of by reading both files. `diff` asks it for a file whose size
//! agrees with the blank's but whose inode, ctime or mtime do not (a `chmod`, a `chown`, a
//! `touch`, a rewrite of the same length). Reading both copies of every such file costs what
//! the files hold: after a `chown -R` of 200 files of 4 MiB (`bench/diff-chown.sh`), `diff`
//! takes 24 ms with this and over a second reading them.
//!
//! The answer is only ever given when the items prove it:
//! - the same items (file offset and every byte of the item: disk extent, offsets, lengths,
//!   compression): the same bytes, since an extent is written once (a write to an extent a
//!   snapshot shares is written elsewhere, even for a `nodatacow` file);
//! - on both sides one inline extent at offset 0, neither compressed nor encoded, holding
//!   exactly the file's size: its bytes are the file's, compared here.
//!
//! Anything else (different extents, compressed inline data, more than [`MAX_BYTES`] of
//! items) is `None`: the caller reads the files.

use super::tree::{search_few, EXTENT_DATA};
use rustix::fd::BorrowedFd;

/// Items of one file kept at most (about 17,000 extents); a larger file is read instead.
const MAX_BYTES: usize = 1 << 20;

/// One file's extent items: `(file offset, item bytes)`, in offset order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extents(Vec<(u64, Vec<u8>)>);

impl Extents {
    /// The extent items of inode `ino` of tree `tree` (`None`: could not read them all).
    pub fn read(fd: BorrowedFd<'_>, tree: u64, ino: u64) -> Option<Extents> {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut whole = true;
        search_few(
            fd,
            tree,
            (ino, EXTENT_DATA, 0),
            (ino, EXTENT_DATA, u64::MAX),
            |(_, _, offset), d| {
                bytes += d.len() + 8;
                whole = bytes <= MAX_BYTES;
                if whole {
                    items.push((offset, d.to_vec()));
                }
                whole
            },
        )
        .ok()?;
        whole.then_some(Extents(items))
    }

    /// The file's bytes when one plain inline extent holds all `size` of them.
    fn inline(&self, size: u64) -> Option<&[u8]> {
        // struct btrfs_file_extent_item: generation, ram_bytes, compression, encryption,
        // other_encoding (2 bytes), type (0: inline); inline data follows at 21.
        match self.0.as_slice() {
            [(0, d)] if d.len() >= 21 && d[16..21] == [0; 5] => {
                let data = &d[21..];
                (data.len() as u64 == size).then_some(data)
            }
            _ => None,
        }
    }
}

/// Whether two files of `size` bytes with these extents hold the same bytes, when the items
/// prove it either way; `None`: read the files.
pub fn same_bytes(a: &Extents, b: &Extents, size: u64) -> Option<bool> {
    if a == b {
        return Some(true);
    }
    match (a.inline(size), b.inline(size)) {
        (Some(x), Some(y)) => Some(x == y),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(data: &[u8], compression: u8) -> (u64, Vec<u8>) {
        let mut d = vec![0u8; 21];
        d[0] = 7; // generation
        d[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
        d[16] = compression;
        d.extend_from_slice(data);
        (0, d)
    }

    fn regular(offset: u64, disk: u64) -> (u64, Vec<u8>) {
        let mut d = vec![0u8; 53];
        d[20] = 1; // regular
        d[21..29].copy_from_slice(&disk.to_le_bytes());
        (offset, d)
    }

    #[test]
    fn the_same_items_are_the_same_bytes() {
        let a = Extents(vec![regular(0, 1 << 20), regular(4096, 2 << 20)]);
        let b = Extents(vec![regular(0, 1 << 20), regular(4096, 2 << 20)]);
        assert_eq!(same_bytes(&a, &b, 8192), Some(true));
        let c = Extents(vec![regular(0, 1 << 20), regular(4096, 3 << 20)]);
        assert_eq!(same_bytes(&a, &c, 8192), None, "other extents: read them");
    }

    #[test]
    fn inline_bytes_are_compared() {
        let a = Extents(vec![inline(b"hello", 0)]);
        let mut b = Extents(vec![inline(b"hello", 0)]);
        b.0[0].1[0] = 9; // another generation: written again, the same bytes
        assert_eq!(same_bytes(&a, &b, 5), Some(true));
        let c = Extents(vec![inline(b"jello", 0)]);
        assert_eq!(same_bytes(&a, &c, 5), Some(false));
        // Not proven: compressed, or the size is not what the extent holds (a hole after it).
        let z = Extents(vec![inline(b"jello", 1)]);
        assert_eq!(same_bytes(&a, &z, 5), None);
        assert_eq!(same_bytes(&a, &c, 9), None);
        let r = Extents(vec![regular(0, 1 << 20)]);
        assert_eq!(same_bytes(&a, &r, 5), None);
        assert_eq!(same_bytes(&Extents::default(), &c, 5), None);
    }
}
