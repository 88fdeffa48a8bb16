//! Quota groups. A new root is a new subvolume with a new quota group (`0/<id>`): without care
//! it loses the old root's `btrfs qgroup limit` and its place in higher-level groups. blankroot
//! reads both from the quota tree; the groups are handed to the kernel as the new root is made
//! (`BTRFS_SUBVOL_QGROUP_INHERIT`), the limits are set right after (`BTRFS_IOC_QGROUP_LIMIT`):
//! for a snapshot the kernel copies the limits of the snapshot's source over any given at
//! creation (measured on Linux 6.18), and the blank has none.

use super::ioctl::{self, SearchKey};
use rustix::fd::AsFd;
use rustix::io::Errno;

const QUOTA_TREE: u64 = 8;
const STATUS_KEY: u32 = 240;
const INFO_KEY: u32 = 242;
const LIMIT_KEY: u32 = 244;
const RELATION_KEY: u32 = 246;
const MAX_RFER: u64 = 1;
const MAX_EXCL: u64 = 2;

/// `struct btrfs_qgroup_limit`: which limits are set (`flags`), and their values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit {
    pub flags: u64,
    pub max_rfer: u64,
    pub max_excl: u64,
    pub rsv_rfer: u64,
    pub rsv_excl: u64,
}

/// What a subvolume's quota group carries that a new one would not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qgroup {
    pub limit: Limit,
    /// Higher-level groups it is a member of (`1/100` is `1 << 48 | 100`).
    pub parents: Vec<u64>,
}

impl Qgroup {
    /// Nothing to carry over.
    pub fn is_plain(&self) -> bool {
        self.limit.flags == 0 && self.parents.is_empty()
    }

    /// `struct btrfs_qgroup_inherit` naming the parent groups (no limits: see above), followed
    /// by its qgroup list, as 64-bit words; `None` when there are none.
    pub fn inherit(&self) -> Option<Vec<u64>> {
        if self.parents.is_empty() {
            return None;
        }
        let mut w = vec![0, self.parents.len() as u64, 0, 0, 0, 0, 0, 0, 0];
        w.extend(&self.parents);
        Some(w)
    }

    /// The limits, when any is set.
    pub fn limit(&self) -> Option<Limit> {
        (self.limit.flags != 0).then_some(self.limit)
    }

    /// For the plan's listing: `100 MiB referenced`.
    pub fn describe_limit(&self) -> String {
        let mib = |b: u64| format!("{} MiB", b >> 20);
        let mut parts = Vec::new();
        if self.limit.flags & MAX_RFER != 0 {
            parts.push(format!("{} referenced", mib(self.limit.max_rfer)));
        }
        if self.limit.flags & MAX_EXCL != 0 {
            parts.push(format!("{} exclusive", mib(self.limit.max_excl)));
        }
        if parts.is_empty() {
            parts.push("reserves only".into());
        }
        parts.join(", ")
    }

    /// For the plan's listing: `1/100, 2/1`.
    pub fn describe_groups(&self) -> String {
        let groups: Vec<String> = self
            .parents
            .iter()
            .map(|p| format!("{}/{}", p >> 48, p & ((1 << 48) - 1)))
            .collect();
        groups.join(", ")
    }
}

/// Sets the limits of the quota group of the subvolume `fd` is in.
pub fn set_limit(fd: impl AsFd, limit: Limit) -> rustix::io::Result<()> {
    ioctl::qgroup_limit(
        fd,
        [
            limit.flags,
            limit.max_rfer,
            limit.max_excl,
            limit.rsv_rfer,
            limit.rsv_excl,
        ],
    )
}

/// The quota group of subvolume `id`; `None` when quotas are off.
pub fn of(fd: impl AsFd, id: u64) -> rustix::io::Result<Option<Qgroup>> {
    let fd = fd.as_fd();
    let key = |objectid: u64, kind: u32, min: u64, max: u64| SearchKey {
        tree_id: QUOTA_TREE,
        min_objectid: objectid,
        max_objectid: objectid,
        min_type: kind,
        max_type: kind,
        min_offset: min,
        max_offset: max,
        ..SearchKey::default()
    };
    let limits = match ioctl::search(fd, key(0, LIMIT_KEY, id, id)) {
        Ok(items) => items,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut q = Qgroup::default();
    if let Some(item) = limits
        .iter()
        .find(|i| i.kind == LIMIT_KEY && i.offset == id)
    {
        let word = |n: usize| {
            item.data
                .get(n * 8..n * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
        };
        q.limit = Limit {
            flags: word(0),
            max_rfer: word(1),
            max_excl: word(2),
            rsv_rfer: word(3),
            rsv_excl: word(4),
        };
    }
    for item in ioctl::search(fd, key(id, RELATION_KEY, 0, u64::MAX))? {
        // Relations are stored both ways; the member's own items point to its parents.
        if item.kind == RELATION_KEY && item.offset >> 48 > 0 {
            q.parents.push(item.offset);
        }
    }
    Ok(Some(q))
}

/// `BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT`: the numbers need a `btrfs quota rescan`.
const INCONSISTENT: u64 = 1 << 2;
/// `BTRFS_QGROUP_STATUS_FLAG_RESCAN`: a rescan is running; the numbers are not final yet.
const RESCAN: u64 = 1 << 1;

/// What the quota tree says about the size of subvolumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizes {
    /// Referenced bytes by subvolume id (`QGROUP_INFO` items: generation, rfer, rfer_cmpr,
    /// excl, excl_cmpr).
    Known(std::collections::BTreeMap<u64, u64>),
    /// Why not: quotas off, or their numbers not to be trusted.
    Unknown(&'static str),
}

/// Referenced bytes of every level-0 quota group (one per subvolume), read from the quota
/// tree without changing anything.
pub fn referenced(fd: impl AsFd) -> rustix::io::Result<Sizes> {
    let fd = fd.as_fd();
    let key = |kind: u32, min: u64, max: u64| SearchKey {
        tree_id: QUOTA_TREE,
        min_objectid: 0,
        max_objectid: 0,
        min_type: kind,
        max_type: kind,
        min_offset: min,
        max_offset: max,
        ..SearchKey::default()
    };
    let status = match ioctl::search(fd, key(STATUS_KEY, 0, 0)) {
        Ok(items) => items,
        Err(Errno::NOENT) => return Ok(Sizes::Unknown("quotas are off")),
        Err(e) => return Err(e),
    };
    let word = |data: &[u8], n: usize| {
        data.get(n * 8..n * 8 + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let Some(status) = status.iter().find(|i| i.kind == STATUS_KEY) else {
        return Ok(Sizes::Unknown("quotas are off"));
    };
    // version, generation, flags, rescan.
    let flags = word(&status.data, 2);
    if flags & INCONSISTENT != 0 {
        return Ok(Sizes::Unknown(
            "the quota numbers are inconsistent (btrfs quota rescan)",
        ));
    }
    if flags & RESCAN != 0 {
        return Ok(Sizes::Unknown("a quota rescan is running"));
    }
    let mut sizes = std::collections::BTreeMap::new();
    // Level-0 groups only (0/<subvolume id>); one search returns about 50 of them, so continue
    // after the last one seen until a search finds none.
    let mut from = 0u64;
    loop {
        let items = ioctl::search(fd, key(INFO_KEY, from, (1 << 48) - 1))?;
        let mut last = None;
        for item in items.iter().filter(|i| i.kind == INFO_KEY) {
            sizes.insert(item.offset, word(&item.data, 1));
            last = Some(item.offset);
        }
        match last {
            Some(l) if l < (1 << 48) - 1 => from = l + 1,
            _ => break,
        }
    }
    Ok(Sizes::Known(sizes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherit_is_laid_out_as_the_kernel_reads_it() {
        let q = Qgroup {
            limit: Limit {
                flags: MAX_RFER,
                max_rfer: 100 << 20,
                ..Limit::default()
            },
            parents: vec![1 << 48 | 100],
        };
        assert_eq!(
            q.inherit().unwrap(),
            [0, 1, 0, 0, 0, 0, 0, 0, 0, 1 << 48 | 100]
        );
        assert_eq!(q.limit().unwrap().max_rfer, 100 << 20);
        assert_eq!(q.describe_limit(), "100 MiB referenced");
        assert_eq!(q.describe_groups(), "1/100");
        assert!(Qgroup::default().is_plain() && !q.is_plain());
    }
}
