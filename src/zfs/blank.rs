//! Making a ZFS target's blank (`blankroot init`, issue 16): the snapshot `DATASET@blank` of an
//! empty root, held (`zfs hold blankroot`) so that a stray `zfs destroy` of it fails. A root
//! that holds anything but directories (mount points) is not empty: its snapshot would bring
//! that back at every boot, and the running system cannot be emptied, so `init` refuses and
//! prints the way to an empty root that keeps the old one ([`steps`]).
//!
//! Safe to run again: an existing blank is never replaced, only held if it is not; a crash
//! between the snapshot and the hold is finished by the next run.

use super::cmd::{Tool, Tools};
use super::mount::ReadOnlyMount;
use super::name::shell_word;
use super::Config;
use crate::error::{Error, Result};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{Mode, OFlags};

/// The tag of blankroot's hold on a blank.
pub const HOLD_TAG: &str = "blankroot";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Missing,
    /// The blank exists, with this many holds (`userrefs`; whose they are is asked of the hold
    /// itself: `zfs holds` is not in every ZFS).
    Exists(u64),
}

/// Whether the blank exists, and its holds (the dataset must exist).
pub fn state(tools: &Tools, c: &Config) -> Result<State> {
    let ds = c.dataset.as_str();
    let blank = c.dataset.at(&c.snapshot);
    tools.query(Tool::Zfs, &["list", "-H", "-o", "name", ds])?;
    let snaps = tools.query(
        Tool::Zfs,
        &["list", "-H", "-o", "name", "-t", "snapshot", "-r", ds],
    )?;
    if !snaps.lines().any(|l| l == blank) {
        return Ok(State::Missing);
    }
    let refs = tools.query(
        Tool::Zfs,
        &["get", "-H", "-p", "-o", "value", "userrefs", &blank],
    )?;
    Ok(State::Exists(refs.trim().parse().unwrap_or(0)))
}

/// What init runs, as `zfs` arguments: the snapshot if it is missing, then the hold.
pub fn plan(c: &Config, state: State) -> Vec<Vec<String>> {
    let blank = c.dataset.at(&c.snapshot);
    let hold = vec!["hold".to_string(), HOLD_TAG.to_string(), blank.clone()];
    match state {
        State::Missing => vec![vec!["snapshot".to_string(), blank], hold],
        State::Exists(_) => vec![hold],
    }
}

/// Runs the plan, stopping at the first failure. Returns false when blankroot held the blank
/// already (the hold says its tag exists).
pub fn execute(tools: &Tools, plan: &[Vec<String>]) -> Result<bool> {
    for (n, argv) in plan.iter().enumerate() {
        crate::failpoint::hit(&format!("init-{}", n + 1));
        let ran = tools.run(Tool::Zfs, argv)?;
        if !ran.success {
            if argv[0] == "hold" && ran.stderr.contains("tag already exists") {
                return Ok(false);
            }
            return Err(Error::runtime(format!(
                "init: `zfs {}` failed: {}",
                argv.join(" "),
                ran.complaint()
            )));
        }
    }
    Ok(true)
}

/// The first thing in the dataset that is not a directory (its path), if any; directories of
/// other filesystems mounted on it count as directories. Read from where the dataset is
/// mounted, else from a private read-only mount.
pub fn content(tools: &Tools, dataset: &str) -> Result<Option<String>> {
    let mounted = crate::mountinfo::read()
        .into_iter()
        .find(|m| m.source == dataset && (m.fstype == "zfs" || m.fstype.starts_with("fuse")));
    let walk = |fd: BorrowedFd<'_>| {
        crate::dirs::first_content(fd, crate::dirs::Other::Skip)
            .map_err(|e| Error::io(format!("reading {dataset}"), e))
    };
    if let Some(m) = mounted {
        let fd = rustix::fs::open(
            &m.mount_point,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("opening {}", m.mount_point.display()), e))?;
        return walk(fd.as_fd());
    }
    let m = ReadOnlyMount::mount(tools, dataset)?;
    let found = walk(m.fd());
    m.unmount()?;
    found
}

/// The way from a populated root to an empty one that keeps the old root (printed with the
/// refusal; docs/migrate.md explains it).
pub fn steps(c: &Config) -> String {
    let ds = shell_word(c.dataset.as_str());
    let old = shell_word(
        c.dataset
            .sibling(&format!("{}-old", c.dataset.basename()))
            .as_str(),
    );
    let snap = if c.snapshot == "blank" {
        String::new()
    } else {
        format!(" --snapshot {}", shell_word(&c.snapshot))
    };
    format!(
        "To start from an empty root and keep this one:
  1. copy what must survive into the persistent store: blankroot diff --suggest impermanence, blankroot persist PATH...
  2. zfs rename -u {ds} {old}      (the running system stays on it until the reboot)
  3. zfs create -o mountpoint=legacy {ds}      (with the -o options `zfs get -s local all {old}` lists)
  4. blankroot init --dataset {ds}{snap}
  5. nixos-rebuild boot, and reboot: / starts from the empty blank; the old root stays as {old} (mount -t zfs -o ro {old} /mnt to copy from it)"
    )
}
