//! The Btrfs ioctls blankroot uses, on file descriptors only (no path is resolved here).
//!
//! Layouts follow `linux/btrfs.h`; every struct's size is checked at compile time against the
//! kernel's. All of them exist since Linux 4.18.
//!
//! Our own on purpose: no C library to link into the static (musl) initrd binary, and the
//! `btrfsutil` crate is unsound (a `Clone` type freed twice, C strings freed by the Rust
//! allocator, paths resolved against the working directory).

use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::io::{Errno, Result};
use rustix::ioctl::{ioctl, opcode, Getter, NoArg, Opcode, Setter, Updater};
use std::ffi::OsStr;
use std::mem::size_of;
use std::os::unix::ffi::OsStrExt;

const MAGIC: u8 = 0x94;
/// Inode number of every subvolume's top directory.
pub const SUBVOL_INO: u64 = 256;
/// Id of the top-level subvolume.
pub const FS_TREE: u64 = 5;
const SUBVOL_RDONLY: u64 = 1 << 1;
const SUBVOL_QGROUP_INHERIT: u64 = 1 << 2;
const SPACE_INFO_GLOBAL_RSV: u64 = 1 << 49;
const BG_DATA: u64 = 1 << 0;
const BG_METADATA: u64 = 1 << 2;
const BG_RAID1: u64 = 1 << 4;
const BG_DUP: u64 = 1 << 5;
const BG_RAID10: u64 = 1 << 6;
const BG_RAID1C3: u64 = 1 << 9;
const BG_RAID1C4: u64 = 1 << 10;

#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; 4088],
}

#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Timespec {
    sec: u64,
    nsec: u32,
}

#[repr(C)]
struct SubvolInfoArgs {
    treeid: u64,
    name: [u8; 256],
    parent_id: u64,
    dirid: u64,
    generation: u64,
    flags: u64,
    uuid: [u8; 16],
    parent_uuid: [u8; 16],
    received_uuid: [u8; 16],
    ctransid: u64,
    otransid: u64,
    stransid: u64,
    rtransid: u64,
    ctime: Timespec,
    otime: Timespec,
    stime: Timespec,
    rtime: Timespec,
    reserved: [u64; 8],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RootRef {
    treeid: u64,
    dirid: u64,
}

#[repr(C)]
struct RootRefArgs {
    min_treeid: u64,
    rootref: [RootRef; 255],
    num_items: u8,
    align: [u8; 7],
}

#[repr(C)]
struct InoLookupUserArgs {
    dirid: u64,
    treeid: u64,
    name: [u8; 256],
    path: [u8; 3824],
}

#[repr(C)]
struct InoLookupArgs {
    treeid: u64,
    objectid: u64,
    name: [u8; 4080],
}

/// The key range of a tree search (`struct btrfs_ioctl_search_key`), shared with the bulk
/// reader (`tree`).
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct SearchKey {
    pub tree_id: u64,
    pub min_objectid: u64,
    pub max_objectid: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    pub min_transid: u64,
    pub max_transid: u64,
    pub min_type: u32,
    pub max_type: u32,
    pub nr_items: u32,
    pub unused: u32,
    pub unused1: [u64; 4],
}

#[repr(C)]
struct SearchArgs {
    key: SearchKey,
    buf: [u8; 3992],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SpaceInfo {
    flags: u64,
    total_bytes: u64,
    used_bytes: u64,
}

#[repr(C)]
struct SpaceArgsHeader {
    space_slots: u64,
    total_spaces: u64,
}

#[repr(C)]
struct SpaceArgs {
    header: SpaceArgsHeader,
    spaces: [SpaceInfo; 64],
}

#[repr(C)]
struct FsInfoArgs {
    max_id: u64,
    num_devices: u64,
    fsid: [u8; 16],
    nodesize: u32,
    sectorsize: u32,
    clone_alignment: u32,
    csum_type: u16,
    csum_size: u16,
    flags: u64,
    generation: u64,
    metadata_uuid: [u8; 16],
    reserved: [u8; 944],
}

#[repr(C)]
struct DevInfoArgs {
    devid: u64,
    uuid: [u8; 16],
    bytes_used: u64,
    total_bytes: u64,
    unused: [u64; 379],
    path: [u8; 1024],
}

#[repr(C)]
struct QgroupLimitArgs {
    qgroupid: u64,
    lim: [u64; 5],
}

const _: () = {
    assert!(size_of::<QgroupLimitArgs>() == 48);
    assert!(size_of::<VolArgs>() == 4096);
    assert!(size_of::<VolArgsV2>() == 4096);
    assert!(size_of::<SubvolInfoArgs>() == 504);
    assert!(size_of::<RootRefArgs>() == 4096);
    assert!(size_of::<InoLookupUserArgs>() == 4096);
    assert!(size_of::<InoLookupArgs>() == 4096);
    assert!(size_of::<SearchArgs>() == 4096);
    assert!(size_of::<SpaceArgsHeader>() == 16);
    assert!(size_of::<FsInfoArgs>() == 1024);
    assert!(size_of::<DevInfoArgs>() == 4096);
};

const IOC_SYNC: Opcode = opcode::none(MAGIC, 8);
const IOC_SNAP_DESTROY: Opcode = opcode::write::<VolArgs>(MAGIC, 15);
const IOC_INO_LOOKUP: Opcode = opcode::read_write::<InoLookupArgs>(MAGIC, 18);
const IOC_TREE_SEARCH: Opcode = opcode::read_write::<SearchArgs>(MAGIC, 17);
const IOC_SPACE_INFO: Opcode = opcode::read_write::<SpaceArgsHeader>(MAGIC, 20);
const IOC_SNAP_CREATE_V2: Opcode = opcode::write::<VolArgsV2>(MAGIC, 23);
const IOC_SUBVOL_CREATE_V2: Opcode = opcode::write::<VolArgsV2>(MAGIC, 24);
const IOC_SUBVOL_GETFLAGS: Opcode = opcode::read::<u64>(MAGIC, 25);
const IOC_SUBVOL_SETFLAGS: Opcode = opcode::write::<u64>(MAGIC, 26);
const IOC_DEV_INFO: Opcode = opcode::read_write::<DevInfoArgs>(MAGIC, 30);
const IOC_FS_INFO: Opcode = opcode::read::<FsInfoArgs>(MAGIC, 31);
const IOC_QGROUP_LIMIT: Opcode = opcode::read::<QgroupLimitArgs>(MAGIC, 43);
const IOC_GET_SUBVOL_INFO: Opcode = opcode::read::<SubvolInfoArgs>(MAGIC, 60);
const IOC_GET_SUBVOL_ROOTREF: Opcode = opcode::read_write::<RootRefArgs>(MAGIC, 61);
const IOC_INO_LOOKUP_USER: Opcode = opcode::read_write::<InoLookupUserArgs>(MAGIC, 62);

/// A zeroed value of a plain-old-data ioctl struct (all fields are integers or arrays of them).
fn zeroed<T>() -> Box<T> {
    // SAFETY: only used for the repr(C) integer structs above, for which all-zero is valid.
    unsafe { Box::new(std::mem::zeroed()) }
}

fn update<const OP: Opcode, T>(fd: BorrowedFd<'_>, value: &mut T) -> Result<()> {
    // SAFETY: every call pairs an opcode with the struct type its size was computed from, and the
    // structs match the kernel's layout (sizes checked above).
    unsafe { ioctl(fd, Updater::<OP, T>::new(value)) }
}

fn put_name(dst: &mut [u8], name: &OsStr) -> Result<()> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= dst.len() || bytes.contains(&0) || bytes.contains(&b'/') {
        return Err(Errno::INVAL);
    }
    dst[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn c_bytes(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    &buf[..end]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubvolInfo {
    pub id: u64,
    pub parent_id: u64,
    pub generation: u64,
    pub uuid: [u8; 16],
    /// The subvolume this one is a snapshot of; all zero when it is not a snapshot.
    pub parent_uuid: [u8; 16],
    pub otime: i64,
    /// Transaction that last changed the subvolume, and the one that made it.
    pub ctransid: u64,
    pub otransid: u64,
}

/// Facts about the subvolume that contains `fd` (for a subvolume's top directory: itself).
pub fn subvol_info(fd: impl AsFd) -> Result<SubvolInfo> {
    let mut a = zeroed::<SubvolInfoArgs>();
    update::<IOC_GET_SUBVOL_INFO, _>(fd.as_fd(), &mut *a)?;
    Ok(SubvolInfo {
        id: a.treeid,
        parent_id: a.parent_id,
        generation: a.generation,
        uuid: a.uuid,
        parent_uuid: a.parent_uuid,
        otime: a.otime.sec as i64,
        ctransid: a.ctransid,
        otransid: a.otransid,
    })
}

pub fn is_read_only(fd: impl AsFd) -> Result<bool> {
    // SAFETY: SUBVOL_GETFLAGS writes one u64.
    let flags = unsafe { ioctl(fd, Getter::<IOC_SUBVOL_GETFLAGS, u64>::new()) }?;
    Ok(flags & SUBVOL_RDONLY != 0)
}

pub fn set_read_only(fd: impl AsFd, read_only: bool) -> Result<()> {
    let fd = fd.as_fd();
    // SAFETY: SUBVOL_GETFLAGS writes one u64.
    let flags = unsafe { ioctl(fd, Getter::<IOC_SUBVOL_GETFLAGS, u64>::new()) }?;
    let flags = if read_only {
        flags | SUBVOL_RDONLY
    } else {
        flags & !SUBVOL_RDONLY
    };
    // SAFETY: SUBVOL_SETFLAGS reads one u64.
    unsafe { ioctl(fd, Setter::<IOC_SUBVOL_SETFLAGS, u64>::new(flags)) }
}

/// The subvolumes directly inside the subvolume of `fd`: `(id, inode of the directory holding it)`.
pub fn children(fd: impl AsFd) -> Result<Vec<(u64, u64)>> {
    let fd = fd.as_fd();
    let mut out = Vec::new();
    let mut a = zeroed::<RootRefArgs>();
    loop {
        let r = update::<IOC_GET_SUBVOL_ROOTREF, _>(fd, &mut *a);
        out.extend(
            a.rootref[..a.num_items as usize]
                .iter()
                .map(|r| (r.treeid, r.dirid)),
        );
        match r {
            Ok(()) => return Ok(out),
            // More than fit in one call: the kernel set min_treeid to continue from.
            Err(Errno::OVERFLOW) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The path (relative to the subvolume of `fd`) of the child subvolume `id` held in directory
/// `dirid`: for example `var/lib/machines`.
pub fn child_path(fd: impl AsFd, dirid: u64, id: u64) -> Result<Vec<u8>> {
    let mut a = zeroed::<InoLookupUserArgs>();
    a.dirid = dirid;
    a.treeid = id;
    update::<IOC_INO_LOOKUP_USER, _>(fd.as_fd(), &mut *a)?;
    Ok([c_bytes(&a.path), c_bytes(&a.name)].concat())
}

/// The path of directory `dir` inside subvolume `tree` (`fd`: anything on the filesystem), with
/// a trailing slash (`var/lib/`), empty for the subvolume's top directory. Needs CAP_SYS_ADMIN.
pub fn dir_path(fd: impl AsFd, tree: u64, dir: u64) -> Result<Vec<u8>> {
    let mut a = zeroed::<InoLookupArgs>();
    a.treeid = tree;
    a.objectid = dir;
    update::<IOC_INO_LOOKUP, _>(fd.as_fd(), &mut *a)?;
    Ok(c_bytes(&a.name).to_vec())
}

/// `struct btrfs_qgroup_inherit` and its qgroup list, as 64-bit words (see `btrfs::quota`):
/// the new subvolume's quota group gets these limits and parent groups as it is made.
pub type Inherit<'a> = Option<&'a [u64]>;

fn with_inherit(a: &mut VolArgsV2, inherit: Inherit<'_>) {
    if let Some(words) = inherit {
        a.flags |= SUBVOL_QGROUP_INHERIT;
        a.unused[0] = (words.len() * 8) as u64;
        a.unused[1] = words.as_ptr() as u64;
    }
}

/// A writable (or read-only) snapshot of the subvolume `source` named `name` in directory `parent`.
pub fn snapshot(
    source: impl AsFd,
    parent: impl AsFd,
    name: &OsStr,
    read_only: bool,
    inherit: Inherit<'_>,
) -> Result<()> {
    let mut a = zeroed::<VolArgsV2>();
    a.fd = i64::from(source.as_fd().as_raw_fd());
    a.flags = if read_only { SUBVOL_RDONLY } else { 0 };
    with_inherit(&mut a, inherit);
    put_name(&mut a.name, name)?;
    update::<IOC_SNAP_CREATE_V2, _>(parent.as_fd(), &mut *a)
}

/// A new empty subvolume `name` in directory `parent`.
pub fn create_subvolume(parent: impl AsFd, name: &OsStr, inherit: Inherit<'_>) -> Result<()> {
    let mut a = zeroed::<VolArgsV2>();
    with_inherit(&mut a, inherit);
    put_name(&mut a.name, name)?;
    update::<IOC_SUBVOL_CREATE_V2, _>(parent.as_fd(), &mut *a)
}

/// Deletes the subvolume `name` in directory `parent` (it must hold no other subvolume).
/// The kernel unlinks it at once; its blocks are freed later by the cleaner thread.
pub fn destroy(parent: impl AsFd, name: &OsStr) -> Result<()> {
    let mut a = zeroed::<VolArgs>();
    put_name(&mut a.name, name)?;
    update::<IOC_SNAP_DESTROY, _>(parent.as_fd(), &mut *a)
}

/// Commits the running transaction (does not wait for the cleaner).
pub fn sync(fd: impl AsFd) -> Result<()> {
    // SAFETY: BTRFS_IOC_SYNC takes no argument.
    unsafe { ioctl(fd, NoArg::<IOC_SYNC>::new()) }
}

/// Sets the limits (`struct btrfs_qgroup_limit`: flags, max_rfer, max_excl, rsv_rfer,
/// rsv_excl) of the quota group of the subvolume `fd` is in.
pub fn qgroup_limit(fd: impl AsFd, lim: [u64; 5]) -> Result<()> {
    let mut a = QgroupLimitArgs { qgroupid: 0, lim };
    // (_IOR in the kernel's header, but the kernel only reads it.)
    update::<IOC_QGROUP_LIMIT, _>(fd.as_fd(), &mut a)
}

/// One item found by [`search`]: its key and data.
pub struct Item {
    pub objectid: u64,
    pub kind: u32,
    pub offset: u64,
    pub data: Vec<u8>,
}

/// The items of `key`'s range (as many as one call returns: enough for the few items blankroot
/// looks up). `ENOENT`: the tree does not exist (e.g. the quota tree with quotas off).
pub fn search(fd: impl AsFd, key: SearchKey) -> Result<Vec<Item>> {
    let mut a = zeroed::<SearchArgs>();
    a.key = SearchKey {
        max_transid: u64::MAX,
        nr_items: 256,
        ..key
    };
    update::<IOC_TREE_SEARCH, _>(fd.as_fd(), &mut *a)?;
    let mut items = Vec::new();
    let mut at = 0;
    for _ in 0..a.key.nr_items {
        let header = a.buf.get(at..at + 32).ok_or(Errno::IO)?;
        let word = |i: usize| u64::from_ne_bytes(header[i..i + 8].try_into().unwrap());
        let kind = u32::from_ne_bytes(header[24..28].try_into().unwrap());
        let len = u32::from_ne_bytes(header[28..32].try_into().unwrap()) as usize;
        let data = a.buf.get(at + 32..at + 32 + len).ok_or(Errno::IO)?;
        items.push(Item {
            objectid: word(8),
            kind,
            offset: word(16),
            data: data.to_vec(),
        });
        at += 32 + len;
    }
    Ok(items)
}

/// Id of the default subvolume (what a mount without `subvol=`/`subvolid=` gets).
pub fn default_subvolume(fd: impl AsFd) -> Result<u64> {
    const ROOT_TREE: u64 = 1;
    const ROOT_TREE_DIR: u64 = 6;
    const DIR_ITEM_KEY: u32 = 84;
    let items = search(
        fd,
        SearchKey {
            tree_id: ROOT_TREE,
            min_objectid: ROOT_TREE_DIR,
            max_objectid: ROOT_TREE_DIR,
            max_offset: u64::MAX,
            min_type: DIR_ITEM_KEY,
            max_type: DIR_ITEM_KEY,
            ..SearchKey::default()
        },
    )?;
    for item in &items {
        // One item may hold several dir entries with the same name hash.
        let item = &item.data;
        let mut off = 0;
        while off + 30 <= item.len() {
            let objectid = u64::from_le_bytes(item[off..off + 8].try_into().unwrap());
            let data_len =
                u16::from_le_bytes(item[off + 25..off + 27].try_into().unwrap()) as usize;
            let name_len =
                u16::from_le_bytes(item[off + 27..off + 29].try_into().unwrap()) as usize;
            let name = item.get(off + 30..off + 30 + name_len).ok_or(Errno::IO)?;
            if name == b"default" {
                return Ok(objectid);
            }
            off += 30 + name_len + data_len;
        }
    }
    Ok(FS_TREE)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes that new file data can still use.
    pub data: u64,
    /// Bytes that new metadata (snapshots, deletions, directory entries) can still use.
    pub metadata: u64,
    /// The part of `metadata` that is not yet allocated to metadata chunks.
    pub metadata_unallocated: u64,
    /// Size of all devices together.
    pub total: u64,
    /// Size of a metadata block (what a reservation is counted in).
    pub nodesize: u32,
    /// The filesystem's UUID, as in `/sys/fs/btrfs/<fsid>`.
    pub fsid: [u8; 16],
}

/// Free space for data and metadata, counting unallocated device space at each profile's cost.
pub fn free_space(fd: impl AsFd) -> Result<Space> {
    let fd = fd.as_fd();
    let mut a = zeroed::<SpaceArgs>();
    a.header.space_slots = a.spaces.len() as u64;
    update::<IOC_SPACE_INFO, _>(fd, &mut *a)?;
    let n = (a.header.total_spaces as usize).min(a.spaces.len());
    let infos = &a.spaces[..n];

    let mut fs = zeroed::<FsInfoArgs>();
    update::<IOC_FS_INFO, _>(fd, &mut *fs)?;
    let (mut unallocated, mut total) = (0u64, 0u64);
    for devid in 1..=fs.max_id {
        let mut d = zeroed::<DevInfoArgs>();
        d.devid = devid;
        match update::<IOC_DEV_INFO, _>(fd, &mut *d) {
            Ok(()) => {
                unallocated += d.total_bytes.saturating_sub(d.bytes_used);
                total += d.total_bytes;
            }
            Err(Errno::NODEV) => continue,
            Err(e) => return Err(e),
        }
    }
    let copies = |flags: u64| -> u64 {
        if flags & BG_RAID1C4 != 0 {
            4
        } else if flags & BG_RAID1C3 != 0 {
            3
        } else if flags & (BG_RAID1 | BG_DUP | BG_RAID10) != 0 {
            2
        } else {
            1
        }
    };
    // (free in the allocated chunks, unallocated space usable for new chunks) of one kind.
    let avail = |kind: u64| -> (u64, u64) {
        let mut free = 0u64;
        let mut profile = 0u64;
        for i in infos
            .iter()
            .filter(|i| i.flags & kind != 0 && i.flags & SPACE_INFO_GLOBAL_RSV == 0)
        {
            free += i.total_bytes.saturating_sub(i.used_bytes);
            profile |= i.flags;
        }
        (free, unallocated / copies(profile))
    };
    let reserve: u64 = infos
        .iter()
        .filter(|i| i.flags & SPACE_INFO_GLOBAL_RSV != 0)
        .map(|i| i.total_bytes)
        .sum();
    let (data_free, data_new) = avail(BG_DATA);
    let (meta_free, meta_new) = avail(BG_METADATA);
    Ok(Space {
        data: data_free + data_new,
        metadata: (meta_free + meta_new).saturating_sub(reserve),
        metadata_unallocated: meta_new,
        total,
        nodesize: fs.nodesize,
        fsid: fs.fsid,
    })
}
