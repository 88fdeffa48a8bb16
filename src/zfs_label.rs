//! Recognising a ZFS pool member by the uberblocks in its labels.
//!
//! A vdev carries four 256 KiB labels: two at the start (offsets 0 and 256 KiB) and two at the
//! end (the size rounded down to 256 KiB, less 512 KiB and less 256 KiB). The second half of each
//! label (from +128 KiB) is the uberblock ring: slots of 1 KiB or more (`2^ashift`, at most 8 KiB),
//! each starting with the magic `0x00bab10c` as a 64-bit word in the pool's byte order, followed
//! by the pool version (1 to 5000). One valid uberblock in any label is a member, as for blkid.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

const LABEL: u64 = 256 << 10;
const RING: u64 = 128 << 10;
const SLOT: usize = 1 << 10;
const MAGIC: u64 = 0x00ba_b10c;
/// Feature-flag pools say 5000; older pools 1 to 28.
const MAX_VERSION: u64 = 5000;

/// Offsets of the four labels on a device of `size` bytes (fewer when it is too small).
pub fn label_offsets(size: u64) -> Vec<u64> {
    let aligned = size - size % LABEL;
    let mut out = Vec::new();
    if aligned >= LABEL {
        out.push(0);
    }
    if aligned >= 2 * LABEL {
        out.push(LABEL);
    }
    if aligned >= 4 * LABEL {
        out.push(aligned - 2 * LABEL);
        out.push(aligned - LABEL);
    }
    out
}

/// Number of valid uberblocks in one ring.
pub fn uberblocks(ring: &[u8]) -> usize {
    ring.chunks_exact(SLOT)
        .filter(|slot| {
            let word = |i: usize| -> [u8; 8] { slot[i..i + 8].try_into().expect("8 bytes") };
            [u64::from_le_bytes, u64::from_be_bytes]
                .iter()
                .any(|read| read(word(0)) == MAGIC && (1..=MAX_VERSION).contains(&read(word(8))))
        })
        .count()
}

/// True when the device carries a ZFS label with at least one uberblock.
pub fn is_member(f: &mut File) -> Result<bool> {
    let io = |e| Error::io("reading the device for ZFS labels", e);
    let size = f.seek(SeekFrom::End(0)).map_err(io)?;
    let mut ring = vec![0u8; RING as usize];
    for offset in label_offsets(size) {
        f.seek(SeekFrom::Start(offset + RING)).map_err(io)?;
        let mut done = 0;
        while done < ring.len() {
            match f.read(&mut ring[done..]).map_err(io)? {
                0 => break,
                n => done += n,
            }
        }
        if uberblocks(&ring[..done]) > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn slot(le: bool, version: u64) -> Vec<u8> {
        let mut s = vec![0u8; SLOT];
        let (m, v) = if le {
            (MAGIC.to_le_bytes(), version.to_le_bytes())
        } else {
            (MAGIC.to_be_bytes(), version.to_be_bytes())
        };
        s[..8].copy_from_slice(&m);
        s[8..16].copy_from_slice(&v);
        s
    }

    #[test]
    fn labels_sit_at_both_ends() {
        let mib = 1u64 << 20;
        assert_eq!(
            label_offsets(64 * mib + 1000),
            [0, LABEL, 64 * mib - 2 * LABEL, 64 * mib - LABEL]
        );
        assert_eq!(label_offsets(300 << 10), [0]);
        assert!(label_offsets(4096).is_empty());
    }

    #[test]
    fn magic_in_either_byte_order_with_a_sane_version() {
        let mut ring = vec![0u8; RING as usize];
        assert_eq!(uberblocks(&ring), 0);
        ring[5 * SLOT..6 * SLOT].copy_from_slice(&slot(true, 5000));
        ring[9 * SLOT..10 * SLOT].copy_from_slice(&slot(false, 28));
        assert_eq!(uberblocks(&ring), 2);
        let mut bogus = vec![0u8; RING as usize];
        bogus[..SLOT].copy_from_slice(&slot(true, 0));
        bogus[SLOT..2 * SLOT].copy_from_slice(&slot(true, 9999));
        assert_eq!(uberblocks(&bogus), 0);
    }

    #[test]
    fn finds_a_member_by_its_last_label_alone() {
        let size = 2u64 << 20;
        let mut f = tempfile::tempfile().unwrap();
        f.set_len(size).unwrap();
        assert!(!is_member(&mut f).unwrap());
        f.seek(SeekFrom::Start(size - LABEL + RING + 3 * SLOT as u64))
            .unwrap();
        f.write_all(&slot(false, 5000)).unwrap();
        assert!(is_member(&mut f).unwrap());
    }
}
