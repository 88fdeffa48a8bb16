//! What is on a block device, read from its first bytes (superblock magics), for `--fs auto`
//! and for a clear message when `--device` is not what the user thinks it is.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Btrfs,
    /// A member of a ZFS pool (a label with an uberblock).
    ZfsMember,
    /// Anything else, described for the message ("ext4", "LUKS", "no filesystem (all zero)").
    Other(String),
}

const BTRFS_MAGIC_AT: u64 = 0x10040;

pub fn probe(device: &Path) -> Result<Found> {
    let mut f = File::open(device).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::runtime(format!(
                "device {} does not exist: nothing was changed; check --device (is the disk unlocked and its unit ordered before blankroot?)",
                device.display()
            ))
        } else {
            Error::io(format!("opening device {}", device.display()), e)
        }
    })?;
    let mut head = vec![0u8; 0x10048];
    let n = read_at(&mut f, 0, &mut head)?;
    head.truncate(n);
    if head.get(BTRFS_MAGIC_AT as usize..BTRFS_MAGIC_AT as usize + 8) == Some(b"_BHRfS_M") {
        return Ok(Found::Btrfs);
    }
    if crate::zfs_label::is_member(&mut f)? {
        return Ok(Found::ZfsMember);
    }
    Ok(Found::Other(describe(&head)))
}

fn read_at(f: &mut File, offset: u64, buf: &mut [u8]) -> Result<usize> {
    let io = |e| Error::io("reading the device", e);
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]).map_err(io)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

fn describe(head: &[u8]) -> String {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(0, b"LUKS\xba\xbe") {
        "a LUKS container (give the unlocked /dev/mapper device)".into()
    } else if at(1080, &[0x53, 0xef]) {
        "an ext2/3/4 filesystem".into()
    } else if at(0, b"XFSB") {
        "an XFS filesystem".into()
    } else if at(4086, b"SWAPSPACE2") {
        "swap space".into()
    } else if at(0x8001, b"CD001") {
        "an ISO 9660 image".into()
    } else if at(82, b"FAT32   ") || at(54, b"FAT16   ") || at(54, b"FAT12   ") {
        "a FAT filesystem".into()
    } else if head.is_empty() {
        "an empty device".into()
    } else if head.iter().all(|&b| b == 0) {
        "no filesystem (the start of the device is all zero)".into()
    } else {
        "no filesystem blankroot recognises".into()
    }
}

/// Refuses a device that is not btrfs, with a message naming what it holds and the fix.
pub fn require_btrfs(device: &Path) -> Result<()> {
    match probe(device)? {
        Found::Btrfs => Ok(()),
        Found::ZfsMember => Err(Error::usage(format!(
            "{} is a member of a ZFS pool, not btrfs: nothing was changed; name the root dataset with --dataset POOL/DATASET instead of --device",
            device.display()
        ))),
        Found::Other(what) => Err(Error::runtime(format!(
            "{} holds {what}, not btrfs: nothing was changed; check --device",
            device.display()
        ))),
    }
}
