//! The fast path for Btrfs: every inode item of a subvolume read in bulk with the tree-search
//! ioctl (`BTRFS_IOC_TREE_SEARCH_V2`), instead of one `statx` per file. `statx` makes the kernel
//! build an in-memory inode for each file (one B-tree lookup each); the bulk read walks the leaves
//! once.
//!
//! Only used where a name exists on one side alone (created or deleted, what most of a listing
//! is), to learn its size: whether it is listed at all comes from the directory listing, never
//! from this table, and names present on both sides are compared with `statx`. The items are what
//! the last transaction committed: the caller syncs the filesystem first. A file missing from the
//! table (written after it was read) falls back to `statx`.

use crate::btrfs::ioctl::SearchKey;
use rustix::fd::BorrowedFd;
use rustix::ioctl::{ioctl, opcode, Opcode, Updater};

const INODE_ITEM_KEY: u32 = 1;
const FIRST_FREE_OBJECTID: u64 = 256;
const BUF: usize = 256 << 10;

#[repr(C)]
struct SearchHead {
    key: SearchKey,
    buf_size: u64,
}

#[repr(C)]
struct SearchV2 {
    head: SearchHead,
    buf: [u8; BUF],
}

const _: () = assert!(std::mem::size_of::<SearchKey>() == 104);
const _: () = assert!(std::mem::size_of::<SearchHead>() == 112);
const IOC_TREE_SEARCH_V2: Opcode = opcode::read_write::<SearchHead>(0x94, 17);

/// What the listing needs of an inode: its type, permission bits, owner and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

/// Every inode of a subvolume, sorted by inode number.
#[derive(Debug, Clone, Default)]
pub struct Table {
    items: Vec<(u64, Item)>,
}

impl Table {
    pub fn get(&self, ino: u64) -> Option<Item> {
        self.items
            .binary_search_by_key(&ino, |(i, _)| *i)
            .ok()
            .map(|at| self.items[at].1)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Keys come in order; sorted anyway so lookups never depend on it.
    fn sorted(mut self) -> Table {
        self.items.sort_by_key(|item| item.0);
        self
    }
}

/// The inode table of subvolume `tree_id` (`fd`: anything on the filesystem). Needs
/// CAP_SYS_ADMIN.
pub fn load(fd: BorrowedFd<'_>, tree_id: u64) -> rustix::io::Result<Table> {
    let mut out = Table::default();
    // SAFETY: all-zero is a valid value of this integer-only struct.
    let mut args: Box<SearchV2> = unsafe { Box::new(std::mem::zeroed()) };
    let (mut objectid, mut kind, mut offset) = (FIRST_FREE_OBJECTID, INODE_ITEM_KEY, 0u64);
    loop {
        args.head.key = SearchKey {
            tree_id,
            min_objectid: objectid,
            max_objectid: u64::MAX,
            min_offset: offset,
            max_offset: u64::MAX,
            min_transid: 0,
            max_transid: u64::MAX,
            min_type: kind,
            max_type: INODE_ITEM_KEY,
            nr_items: u32::MAX,
            ..SearchKey::default()
        };
        args.head.buf_size = BUF as u64;
        // SAFETY: the opcode's size is that of SearchHead, which SearchV2 starts with, followed
        // by the `buf_size` bytes the kernel may write.
        unsafe { ioctl(fd, Updater::<IOC_TREE_SEARCH_V2, SearchV2>::new(&mut args)) }?;
        let n = args.head.key.nr_items;
        if n == 0 {
            return Ok(out.sorted());
        }
        let mut at = 0usize;
        let mut last = (0u64, 0u32, 0u64);
        for _ in 0..n {
            let h = &args.buf[at..at + 32];
            let u64_at = |b: &[u8], o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
            let (obj, off) = (u64_at(h, 8), u64_at(h, 16));
            let typ = u32::from_ne_bytes(h[24..28].try_into().unwrap());
            let len = u32::from_ne_bytes(h[28..32].try_into().unwrap()) as usize;
            let data = &args.buf[at + 32..at + 32 + len];
            if typ == INODE_ITEM_KEY && len >= 160 {
                // struct btrfs_inode_item (little endian): size at 16, uid at 44, gid at 48,
                // mode at 52.
                let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                let size = u64::from_le_bytes(data[16..24].try_into().unwrap());
                let (uid, gid, mode) = (u32_at(44), u32_at(48), u32_at(52));
                out.items.push((
                    obj,
                    Item {
                        mode,
                        uid,
                        gid,
                        size,
                    },
                ));
            }
            last = (obj, typ, off);
            at += 32 + len;
        }
        // Continue after the last key returned; inode items have offset 0, so the next one of
        // interest is this objectid's (when we stopped before it) or the next objectid's.
        let (o, t, _) = last;
        (objectid, kind, offset) = if t < INODE_ITEM_KEY {
            (o, INODE_ITEM_KEY, 0)
        } else if o < u64::MAX {
            (o + 1, INODE_ITEM_KEY, 0)
        } else {
            return Ok(out.sorted());
        };
    }
}
