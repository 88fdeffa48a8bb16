//! A subvolume's metadata read in bulk with the tree-search ioctl (`BTRFS_IOC_TREE_SEARCH_V2`):
//! every inode item, every directory entry (`DIR_INDEX` items, what `readdir` lists) and every
//! symlink target (the inline extent of a symlink inode), walking the leaves of the subvolume's
//! B-tree once, instead of building an in-memory inode per path as `statx` does. Paths are
//! relative to the subvolume (the diff composes them): nothing here knows about mount points.
//!
//! The items are the B-tree as it is in memory: what the running system wrote but has not yet
//! flushed (delayed directory items, file sizes of pending writeback) is not there, so callers
//! sync the filesystem first. Needs CAP_SYS_ADMIN (`EPERM` otherwise).

use super::ioctl::SearchKey;
use rustix::fd::BorrowedFd;
use rustix::io::{Errno, Result};
use rustix::ioctl::{ioctl, opcode, Opcode, Updater};

const INODE_ITEM: u8 = 1;
const DIR_INDEX: u8 = 96;
pub const EXTENT_DATA: u8 = 108;
const ROOT_ITEM: u8 = 132;
const ROOT_REF: u8 = 156;
const ROOT_TREE: u64 = 1;
const FIRST_FREE: u64 = 256;
/// Objectids above this are the tree's own bookkeeping (orphan items, ...), not inodes.
const LAST_FREE: u64 = u64::MAX - 255;
/// The inode number the kernel gives the empty directory standing for a subvolume that is not a
/// child of the tree holding its entry (what a snapshot holds where the source had a nested
/// subvolume).
pub const STUB_INO: u64 = 2;

/// Bytes of item data per ioctl reading a whole tree (the kernel accepts up to 16 MiB).
const BUF: usize = 1 << 20;
/// Per ioctl reading a few items (one inode's extents): an inline extent holds at most a
/// sector (4 KiB on x86_64); a larger item fails the search (`EOVERFLOW`), and callers then
/// read the file instead.
const SMALL_BUF: usize = 8 << 10;

#[repr(C)]
struct Head {
    key: SearchKey,
    buf_size: u64,
}

#[repr(C)]
struct Args<const N: usize> {
    head: Head,
    buf: [u8; N],
}

const _: () = assert!(std::mem::size_of::<Head>() == 112);
const IOC_TREE_SEARCH_V2: Opcode = opcode::read_write::<Head>(0x94, 17);

/// A key: `(objectid, type, offset)`, in the B-tree's order.
pub type Key = (u64, u8, u64);

fn next(k: Key) -> Option<Key> {
    match k {
        (o, t, off) if off < u64::MAX => Some((o, t, off + 1)),
        (o, t, _) if t < u8::MAX => Some((o, t + 1, 0)),
        (o, _, _) if o < u64::MAX => Some((o + 1, 0, 0)),
        _ => None,
    }
}

/// Calls `f` with every item of tree `tree` whose key lies in `min..=max` (keys compare as
/// tuples, so every type of every objectid strictly between the two is in the range), in key
/// order.
pub fn search(
    fd: BorrowedFd<'_>,
    tree: u64,
    min: Key,
    max: Key,
    mut f: impl FnMut(Key, &[u8]),
) -> Result<()> {
    search_in::<BUF>(fd, tree, min, max, |k, d| {
        f(k, d);
        true
    })
}

/// [`search`] for a few items, with a small buffer; `f` returns `false` to stop.
pub fn search_few(
    fd: BorrowedFd<'_>,
    tree: u64,
    min: Key,
    max: Key,
    f: impl FnMut(Key, &[u8]) -> bool,
) -> Result<()> {
    search_in::<SMALL_BUF>(fd, tree, min, max, f)
}

fn search_in<const N: usize>(
    fd: BorrowedFd<'_>,
    tree: u64,
    min: Key,
    max: Key,
    mut f: impl FnMut(Key, &[u8]) -> bool,
) -> Result<()> {
    let layout = std::alloc::Layout::new::<Args<N>>();
    // SAFETY: a zeroed allocation of the layout of Args (integers only), owned by the Box.
    let mut args: Box<Args<N>> = unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<Args<N>>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(p)
    };
    let mut from = min;
    loop {
        args.head.key = SearchKey {
            tree_id: tree,
            min_objectid: from.0,
            min_type: u32::from(from.1),
            min_offset: from.2,
            max_objectid: max.0,
            max_type: u32::from(max.1),
            max_offset: max.2,
            max_transid: u64::MAX,
            nr_items: u32::MAX,
            ..SearchKey::default()
        };
        args.head.buf_size = N as u64;
        // SAFETY: the opcode's size is that of Head, which Args starts with, followed by the
        // `buf_size` bytes the kernel may write.
        unsafe { ioctl(fd, Updater::<IOC_TREE_SEARCH_V2, Args<N>>::new(&mut args)) }?;
        let n = args.head.key.nr_items;
        if n == 0 {
            return Ok(());
        }
        let mut at = 0usize;
        let mut last = from;
        for _ in 0..n {
            let h = args.buf.get(at..at + 32).ok_or(Errno::IO)?;
            let word = |o: usize| u64::from_ne_bytes(h[o..o + 8].try_into().expect("8 bytes"));
            let kind = u32::from_ne_bytes(h[24..28].try_into().expect("4 bytes"));
            let len = u32::from_ne_bytes(h[28..32].try_into().expect("4 bytes")) as usize;
            let data = args.buf.get(at + 32..at + 32 + len).ok_or(Errno::IO)?;
            last = (word(8), kind as u8, word(16));
            if !f(last, data) {
                return Ok(());
            }
            at += 32 + len;
        }
        match next(last) {
            Some(k) if k <= max => from = k,
            _ => return Ok(()),
        }
    }
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

fn le16(b: &[u8], o: usize) -> usize {
    usize::from(u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes")))
}

/// What `statx` would say of an inode (`struct btrfs_inode_item`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inode {
    /// Type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// The kernel's `dev_t` (major << 20 | minor).
    pub rdev: u64,
    pub ctime: (i64, u32),
    pub mtime: (i64, u32),
}

impl Inode {
    fn parse(d: &[u8]) -> Option<Inode> {
        let time = |o: usize| (le64(d, o) as i64, le32(d, o + 8));
        (d.len() >= 160).then(|| Inode {
            size: le64(d, 16),
            uid: le32(d, 44),
            gid: le32(d, 48),
            mode: le32(d, 52),
            rdev: le64(d, 56),
            ctime: time(124),
            mtime: time(136),
        })
    }

    /// `(major, minor)` of a device node, as `statx` gives them.
    pub fn rdev_numbers(&self) -> (u32, u32) {
        ((self.rdev >> 20) as u32, (self.rdev & 0xf_ffff) as u32)
    }
}

/// Where a directory entry points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An inode of the same tree.
    Inode(u64),
    /// The top directory of subvolume (tree) `id`.
    Subvolume(u64),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    dir: u64,
    target: Target,
    name: (u32, u16),
}

/// One subvolume's tree: inodes, directory entries and symlink targets.
#[derive(Debug, Default)]
pub struct Tree {
    pub id: u64,
    /// Sorted by inode number (the tree's order).
    inodes: Vec<(u64, Inode)>,
    /// Sorted by directory, then name bytes.
    entries: Vec<Entry>,
    /// Symlink targets by inode, sorted.
    links: Vec<(u64, (u32, u16))>,
    /// Names and link targets.
    bytes: Vec<u8>,
}

/// One directory entry of a [`Tree`].
#[derive(Debug, Clone, Copy)]
pub struct DirEntry<'a> {
    pub name: &'a [u8],
    pub target: Target,
}

impl Tree {
    pub fn inode(&self, ino: u64) -> Option<&Inode> {
        // Inode numbers are unique and sorted: the one sought is at most `ino - first` places
        // in, and at most `gaps` (numbers missing between the first and the last) before that.
        // Searched in that window: a few steps, where nothing was deleted one.
        let (first, last) = (self.inodes.first()?.0, self.inodes.last()?.0);
        if !(first..=last).contains(&ino) {
            return None;
        }
        let gaps = (last - first + 1).saturating_sub(self.inodes.len() as u64);
        let hi = (ino - first) as usize;
        let lo = hi.saturating_sub(usize::try_from(gaps).unwrap_or(usize::MAX));
        let window = &self.inodes[lo..=hi.min(self.inodes.len() - 1)];
        let at = window.binary_search_by_key(&ino, |i| i.0).ok()?;
        Some(&window[at].1)
    }

    pub fn len(&self) -> usize {
        self.inodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }

    fn text(&self, (at, len): (u32, u16)) -> &[u8] {
        &self.bytes[at as usize..at as usize + usize::from(len)]
    }

    /// The entries of directory `dir`, sorted by name bytes.
    pub fn entries(&self, dir: u64) -> impl Iterator<Item = DirEntry<'_>> + '_ {
        let start = self.entries.partition_point(|e| e.dir < dir);
        let end = start + self.entries[start..].partition_point(|e| e.dir == dir);
        self.entries[start..end].iter().map(|e| DirEntry {
            name: self.text(e.name),
            target: e.target,
        })
    }

    /// A symlink's target, as its inline extent holds it (`None`: not a symlink, or stored in a
    /// way this reader does not decode; read it with `readlink` then).
    pub fn link(&self, ino: u64) -> Option<&[u8]> {
        let at = self.links.binary_search_by_key(&ino, |l| l.0).ok()?;
        Some(self.text(self.links[at].1))
    }

    /// Adds an item of the tree (in key order).
    fn add(&mut self, (obj, kind, _): Key, d: &[u8]) {
        match kind {
            INODE_ITEM => {
                if let Some(i) = Inode::parse(d) {
                    self.inodes.push((obj, i));
                }
            }
            DIR_INDEX if d.len() >= 30 => {
                // struct btrfs_dir_item: location key (objectid, type, offset), transid,
                // data_len, name_len, type; then the name.
                let len = le16(d, 27);
                let Some(name) = d.get(30..30 + len) else {
                    return;
                };
                let target = match d[8] {
                    INODE_ITEM => Target::Inode(le64(d, 0)),
                    ROOT_ITEM => Target::Subvolume(le64(d, 0)),
                    _ => return,
                };
                if self.entries.last().is_some_and(|e| e.dir != obj) {
                    self.sort_last_dir();
                }
                let at = self.push_bytes(name);
                self.entries.push(Entry {
                    dir: obj,
                    target,
                    name: at,
                });
            }
            // struct btrfs_file_extent_item: inline (type 0 at 20), uncompressed, unencoded:
            // the bytes follow at 21. Only a symlink's are kept.
            EXTENT_DATA if d.len() >= 21 && d[16..21] == [0; 5] => {
                let is_link = self
                    .inodes
                    .last()
                    .is_some_and(|(i, n)| *i == obj && n.mode & 0o170000 == 0o120000);
                if is_link && self.links.last().is_none_or(|l| l.0 != obj) {
                    let at = self.push_bytes(&d[21..]);
                    self.links.push((obj, at));
                }
            }
            _ => {}
        }
    }

    fn push_bytes(&mut self, b: &[u8]) -> (u32, u16) {
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(b);
        (at, b.len().min(usize::from(u16::MAX)) as u16)
    }

    /// Entries come in index order, one directory after another: sorts the last directory's.
    fn sort_last_dir(&mut self) {
        let Some(dir) = self.entries.last().map(|e| e.dir) else {
            return;
        };
        let start = self
            .entries
            .iter()
            .rposition(|e| e.dir != dir)
            .map_or(0, |i| i + 1);
        let mut run = std::mem::take(&mut self.entries);
        let bytes = &self.bytes;
        let name = |e: &Entry| &bytes[e.name.0 as usize..e.name.0 as usize + usize::from(e.name.1)];
        run[start..].sort_unstable_by(|a, b| name(a).cmp(name(b)));
        self.entries = run;
    }

    fn finish(mut self) -> Tree {
        self.sort_last_dir();
        // Keys come in order; sorted anyway so lookups never depend on it.
        if !self.inodes.is_sorted_by_key(|i| i.0) {
            self.inodes.sort_unstable_by_key(|i| i.0);
        }
        if !self.links.is_sorted_by_key(|l| l.0) {
            self.links.sort_unstable_by_key(|l| l.0);
        }
        self
    }
}

/// Reads subvolume `id`'s tree (`fd`: anything on the filesystem).
pub fn read(fd: BorrowedFd<'_>, id: u64) -> Result<Tree> {
    let mut t = Tree {
        id,
        ..Tree::default()
    };
    search(
        fd,
        id,
        (FIRST_FREE, 0, 0),
        (LAST_FREE, u8::MAX, u64::MAX),
        |k, d| t.add(k, d),
    )?;
    Ok(t.finish())
}

enum State {
    Waiting,
    Reading,
    Read(Result<Tree>),
    Taken,
}

/// Trees read in the background, several at a time (cold, the time goes to waiting for the
/// disk: several reads in flight wait less in all), handed over as they are asked for: the
/// caller works on the first trees while the others are read.
pub struct Loader<'a> {
    fd: BorrowedFd<'a>,
    ids: Vec<u64>,
    state: std::sync::Mutex<Vec<State>>,
    done: std::sync::Condvar,
}

impl<'a> Loader<'a> {
    /// Runs `f` with a loader of the trees `ids` (read in that order, `threads` at a time);
    /// returns when `f` has and the reading threads have stopped.
    pub fn run<R>(
        fd: BorrowedFd<'a>,
        ids: Vec<u64>,
        threads: usize,
        f: impl FnOnce(&Loader<'a>) -> R,
    ) -> R {
        let l = Loader {
            fd,
            state: std::sync::Mutex::new(ids.iter().map(|_| State::Waiting).collect()),
            ids,
            done: std::sync::Condvar::new(),
        };
        std::thread::scope(|s| {
            for _ in 0..threads.min(l.ids.len()) {
                // The search buffer is on the heap: a small stack is enough.
                let _ = std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, || while l.read_next() {});
            }
            f(&l)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the next tree nobody has started; `false`: there is none.
    fn read_next(&self) -> bool {
        let i = {
            let mut st = self.lock();
            let Some(i) = st.iter().position(|s| matches!(s, State::Waiting)) else {
                return false;
            };
            st[i] = State::Reading;
            i
        };
        let t = read(self.fd, self.ids[i]);
        self.lock()[i] = State::Read(t);
        self.done.notify_all();
        true
    }

    /// Tree `id`: waited for while it is being read; read here if nobody has started it (or
    /// it was not planned, or was taken already).
    pub fn take(&self, id: u64) -> Result<Tree> {
        let Some(i) = self.ids.iter().position(|&x| x == id) else {
            return read(self.fd, id);
        };
        let mut st = self.lock();
        loop {
            match std::mem::replace(&mut st[i], State::Taken) {
                State::Read(t) => return t,
                State::Reading => {
                    st[i] = State::Reading;
                    st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                State::Waiting | State::Taken => {
                    drop(st);
                    return read(self.fd, id);
                }
            }
        }
    }
}

/// A subvolume held in a directory of another (`ROOT_REF` item of the root tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub parent: u64,
    pub id: u64,
    /// The directory (of `parent`) holding it, and its name there.
    pub dir: u64,
    pub name: Vec<u8>,
}

/// Every subvolume held in another, sorted by `(parent, id)`.
pub fn children(fd: BorrowedFd<'_>) -> Result<Vec<Child>> {
    let mut out = Vec::new();
    search(
        fd,
        ROOT_TREE,
        (0, ROOT_REF, 0),
        (LAST_FREE, ROOT_REF, u64::MAX),
        |(p, k, id), d| {
            // struct btrfs_root_ref: dirid, sequence, name_len, then the name.
            if k == ROOT_REF && d.len() >= 18 {
                if let Some(name) = d.get(18..18 + le16(d, 16)) {
                    out.push(Child {
                        parent: p,
                        id,
                        dir: le64(d, 0),
                        name: name.to_vec(),
                    });
                }
            }
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode_item(mode: u32, size: u64) -> Vec<u8> {
        let mut d = vec![0u8; 160];
        d[16..24].copy_from_slice(&size.to_le_bytes());
        d[44..48].copy_from_slice(&1000u32.to_le_bytes());
        d[48..52].copy_from_slice(&100u32.to_le_bytes());
        d[52..56].copy_from_slice(&mode.to_le_bytes());
        d[56..64].copy_from_slice(&((1u64 << 20) | 3).to_le_bytes());
        d[124..132].copy_from_slice(&7u64.to_le_bytes());
        d[132..136].copy_from_slice(&9u32.to_le_bytes());
        d
    }

    fn dir_index(target: u64, kind: u8, name: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 30];
        d[0..8].copy_from_slice(&target.to_le_bytes());
        d[8] = kind;
        d[27..29].copy_from_slice(&(name.len() as u16).to_le_bytes());
        d.extend_from_slice(name);
        d
    }

    #[test]
    fn items_make_a_tree() {
        let mut t = Tree::default();
        t.add((256, INODE_ITEM, 0), &inode_item(0o40755, 0));
        t.add((256, DIR_INDEX, 2), &dir_index(258, INODE_ITEM, b"zz"));
        t.add((256, DIR_INDEX, 3), &dir_index(257, INODE_ITEM, b"a\xff"));
        t.add((256, DIR_INDEX, 4), &dir_index(300, ROOT_ITEM, b"sub"));
        t.add((257, INODE_ITEM, 0), &inode_item(0o120777, 4));
        let mut extent = vec![0u8; 21];
        extent.extend_from_slice(b"/tgt");
        t.add((257, EXTENT_DATA, 0), &extent);
        t.add((258, INODE_ITEM, 0), &inode_item(0o100644, 5));
        t.add((258, EXTENT_DATA, 0), &extent);
        t.add(
            (259, DIR_INDEX, 2),
            &dir_index(258, INODE_ITEM, b"hard link"),
        );
        let t = t.finish();
        let names: Vec<(&[u8], Target)> = t.entries(256).map(|e| (e.name, e.target)).collect();
        assert_eq!(
            names,
            [
                (&b"a\xff"[..], Target::Inode(257)),
                (b"sub", Target::Subvolume(300)),
                (b"zz", Target::Inode(258))
            ]
        );
        assert_eq!(t.entries(259).count(), 1);
        assert_eq!(t.entries(258).count(), 0);
        assert_eq!(t.link(257), Some(&b"/tgt"[..]));
        assert_eq!(t.link(258), None, "a file's inline data is not a link");
        let i = t.inode(258).unwrap();
        assert_eq!((i.mode, i.uid, i.gid, i.size), (0o100644, 1000, 100, 5));
        assert_eq!((i.ctime, i.rdev_numbers()), ((7, 9), (1, 3)));
        assert!(t.inode(300).is_none());
    }

    #[test]
    fn inodes_are_found_around_gaps() {
        for missing in [&[][..], &[257, 258, 290][..], &[256, 299, 300][..]] {
            let mut t = Tree::default();
            for ino in (256..=300).filter(|i| !missing.contains(i)) {
                t.add((ino, INODE_ITEM, 0), &inode_item(0o100644, ino));
            }
            let t = t.finish();
            for ino in 250..310 {
                let want = (256..=300).contains(&ino) && !missing.contains(&ino);
                assert_eq!(t.inode(ino).map(|i| i.size), want.then_some(ino), "{ino}");
            }
        }
        assert!(Tree::default().inode(256).is_none());
    }

    #[test]
    fn keys_follow_one_another() {
        assert_eq!(next((5, 1, 7)), Some((5, 1, 8)));
        assert_eq!(next((5, 1, u64::MAX)), Some((5, 2, 0)));
        assert_eq!(next((5, u8::MAX, u64::MAX)), Some((6, 0, 0)));
        assert_eq!(next((u64::MAX, u8::MAX, u64::MAX)), None);
    }
}
