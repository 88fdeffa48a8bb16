//! How much metadata space a reservation can get now.
//!
//! The SPACE_INFO ioctl reports only the bytes each kind of chunk has used. Before it grants a
//! reservation the kernel also counts the bytes reserved, pinned (freed by the running
//! transaction), read-only and promised ("may use", the global reserve among them); those are
//! only in sysfs, `/sys/fs/btrfs/<fsid>/allocation/metadata/`. On a nearly full disk they are
//! what decides whether a rename goes through: measured on Linux 6.18, the ioctl's figure was
//! 5.5 MiB higher than what a reservation could get.

use super::ioctl::Space;

/// Bytes of metadata space a new reservation can get: what the metadata chunks have left, plus
/// the unallocated space new metadata chunks can take. Without sysfs (no `/sys` mounted), the
/// ioctl's estimate less the global reserve.
pub fn metadata_available(space: &Space) -> u64 {
    match chunks_free(&space.fsid) {
        Some(free) => free + space.metadata_unallocated,
        None => space.metadata,
    }
}

fn chunks_free(fsid: &[u8; 16]) -> Option<u64> {
    let dir = format!("/sys/fs/btrfs/{}/allocation/metadata", uuid(fsid));
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("{dir}/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let total = read("total_bytes")?;
    let mut taken = read("bytes_zone_unusable").unwrap_or(0);
    for name in [
        "bytes_used",
        "bytes_reserved",
        "bytes_pinned",
        "bytes_readonly",
        "bytes_may_use",
    ] {
        taken += read(name)?;
    }
    Some(total.saturating_sub(taken))
}

/// `01234567-89ab-cdef-0123-456789abcdef`
pub fn uuid(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_written_as_sysfs_names_them() {
        let b: [u8; 16] = core::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(super::uuid(&b), "00112233-4455-6677-8899-aabbccddeeff");
    }
}
