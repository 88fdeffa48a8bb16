//! Carrying out a plan: one ioctl or rename per step, each target checked again just before.

use super::mount::TopMount;
use super::plan::{Entry, Plan, Step, RETIRED_XATTR};
use super::{ioctl, nav};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::names::Name;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{fsetxattr, mkdirat, renameat_with, Mode, RenameFlags, XattrFlags};
use rustix::io::Errno;
use std::path::Path;

/// Runs the plan; its last step, [`Step::Commit`], unmounts `top`.
pub fn execute(top: TopMount, plan: &Plan) -> Result<()> {
    let total = plan.steps.len();
    let mut top = Some(top);
    for (i, step) in plan.steps.iter().enumerate() {
        failpoint::hit(&format!("step-{}", i + 1));
        log::info!("step {}/{total}: {step}", i + 1);
        let done = match step {
            Step::Commit => top.take().expect("one commit, last").commit(),
            _ => run(top.as_ref().expect("mounted until the commit").fd(), step),
        };
        done.map_err(|e| {
            // Each step is one ioctl or rename: a failed one changed nothing.
            let after = if i == 0 {
                "nothing was changed"
            } else {
                "the steps before it are done, the root is in place and the next run finishes the job"
            };
            Error::runtime(format!("step {}/{total} ({step}) failed: {e}; {after}", i + 1))
        })?;
    }
    failpoint::hit(&format!("step-{}", total + 1));
    Ok(())
}

fn run(top: BorrowedFd<'_>, step: &Step) -> Result<()> {
    let sys = |what: &str, e: Errno| Error::io(what, e);
    match step {
        Step::DeleteSubvolume { name, id, .. } => {
            let parent =
                nav::open_parent(top, name).map_err(|e| sys("opening its directory", e))?;
            prove(parent.as_fd(), name, Some(*id))?;
            ioctl::destroy(&parent, name.basename_os()).map_err(|e| sys("deleting", e))
        }
        Step::MakeWritable { name, id, .. } => {
            let fd = nav::open_dir(top, &name.to_path()).map_err(|e| sys("opening", e))?;
            prove_fd(&fd, name, *id)?;
            ioctl::set_read_only(&fd, false).map_err(|e| sys("clearing read-only", e))
        }
        Step::Snapshot {
            source,
            source_id,
            dest,
            quota,
        } => {
            let src =
                nav::open_dir(top, &source.to_path()).map_err(|e| sys("opening the source", e))?;
            prove_fd(&src, source, *source_id)?;
            let parent = nav::open_parent(top, dest)
                .map_err(|e| sys("opening the destination directory", e))?;
            let inherit = quota.as_ref().and_then(|q| q.inherit());
            ioctl::snapshot(&src, &parent, dest.basename_os(), false, inherit.as_deref())
                .map_err(|e| sys("snapshotting", e))
        }
        Step::CreateEmpty { dest, quota } => {
            let parent = nav::open_parent(top, dest)
                .map_err(|e| sys("opening the destination directory", e))?;
            let inherit = quota.as_ref().and_then(|q| q.inherit());
            ioctl::create_subvolume(&parent, dest.basename_os(), inherit.as_deref())
                .map_err(|e| sys("creating", e))
        }
        Step::MakeDir { name } => make_dirs(top, name),
        Step::Rename { from, id, to } => {
            let src_dir =
                nav::open_parent(top, from).map_err(|e| sys("opening the source directory", e))?;
            prove(src_dir.as_fd(), from, *id)?;
            let dst_dir = nav::open_parent(top, to)
                .map_err(|e| sys("opening the destination directory", e))?;
            renameat_with(
                &src_dir,
                from.basename_os(),
                &dst_dir,
                to.basename_os(),
                RenameFlags::NOREPLACE,
            )
            .map_err(|e| sys("renaming", e))
        }
        Step::LimitQuota { name, limit, .. } => {
            let fd = nav::open_dir(top, &name.to_path()).map_err(|e| sys("opening", e))?;
            prove_fd_subvolume(&fd, name)?;
            crate::btrfs::quota::set_limit(&fd, *limit)
                .map_err(|e| sys("setting the quota limit", e))
        }
        Step::Mark { name, id, value } => {
            let fd = nav::open_dir(top, &name.to_path()).map_err(|e| sys("opening", e))?;
            prove_fd(&fd, name, *id)?;
            fsetxattr(&fd, RETIRED_XATTR, value.as_bytes(), XattrFlags::empty())
                .map_err(|e| sys("marking", e))
        }
        Step::Exchange {
            staging,
            staging_id,
            root,
            root_id,
        } => {
            let dir = nav::open_parent(top, root).map_err(|e| sys("opening the directory", e))?;
            prove(dir.as_fd(), staging, *staging_id)?;
            prove(dir.as_fd(), root, Some(*root_id))?;
            renameat_with(
                &dir,
                staging.basename_os(),
                &dir,
                root.basename_os(),
                RenameFlags::EXCHANGE,
            )
            .map_err(|e| sys("swapping", e))
        }
        Step::Commit => unreachable!("execute commits by unmounting"),
    }
}

/// `name` (in directory `parent`) must be a subvolume, with id `id` when given.
fn prove(parent: BorrowedFd<'_>, name: &Name, id: Option<u64>) -> Result<()> {
    let (entry, _) = nav::classify_at(parent, Path::new(name.basename_os()))
        .map_err(|e| Error::io(format!("looking at {name}"), e))?;
    match entry {
        Entry::Subvolume(s) if id.is_none_or(|id| s.id == id) => Ok(()),
        Entry::Subvolume(s) => Err(Error::runtime(format!(
            "refusing: {name} is now subvolume id {}, not the planned id {}",
            s.id,
            id.unwrap_or(0)
        ))),
        other => Err(Error::runtime(format!(
            "refusing: {name} is no longer a subvolume ({other:?})"
        ))),
    }
}

fn prove_fd(fd: &rustix::fd::OwnedFd, name: &Name, id: u64) -> Result<()> {
    let found = nav::subvol(fd)
        .map_err(|e| Error::io(format!("looking at {name}"), e))?
        .id;
    if found != id {
        return Err(Error::runtime(format!(
            "refusing: {name} is now subvolume id {found}, not the planned id {id}"
        )));
    }
    Ok(())
}

fn prove_fd_subvolume(fd: &rustix::fd::OwnedFd, name: &Name) -> Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::io(format!("looking at {name}"), e))?;
    if st.st_ino != ioctl::SUBVOL_INO {
        return Err(Error::runtime(format!(
            "refusing: {name} is no longer a subvolume"
        )));
    }
    Ok(())
}

/// `mkdir -p` below the top level, each component a real directory (never through a symlink).
fn make_dirs(top: BorrowedFd<'_>, name: &Name) -> Result<()> {
    let mut so_far: Option<Name> = None;
    let last = name.components().len() - 1;
    for (i, part) in name.components().iter().enumerate() {
        let next = match &so_far {
            None => {
                Name::parse("dir", &part.to_string_lossy()).expect("components are valid names")
            }
            Some(n) => n.child(part),
        };
        let parent = match &so_far {
            None => nav::open_dir(top, Path::new(".")),
            Some(n) => nav::open_dir(top, &n.to_path()),
        }
        .map_err(|e| Error::io(format!("opening the parent of {next}"), e))?;
        match mkdirat(&parent, part.as_os_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::io(format!("creating {next}"), e)),
        }
        match nav::classify_at(parent.as_fd(), Path::new(part))
            .map_err(|e| Error::io(format!("looking at {next}"), e))?
        {
            (Entry::PlainDir, _) => {}
            (Entry::Subvolume(_), _) if i < last => {}
            (other, _) => {
                return Err(Error::runtime(format!(
                    "{next} is not a plain directory ({other:?})"
                )))
            }
        }
        so_far = Some(next);
    }
    Ok(())
}
