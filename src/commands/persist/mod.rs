//! `blankroot persist PATH... [--to STORE]`: copies live paths into the persistent store
//! (issue 16), so that the entry that persists them can be added without the next boot mounting
//! an empty copy over their data. `/var/lib/foo` goes to `STORE/var/lib/foo`, with the copy
//! engine of `restore` (`crate::copy`): type, owner, mode, times, extended attributes and ACLs,
//! hard links and symlinks as they are, reflinked on the store's filesystem, holes kept.
//!
//! In order: the PATHs are checked (usage errors), then the store (`refuse`: it must exist and
//! not lie on a filesystem the next boot wipes), then every PATH (`refuse`: not persisted
//! already, not a mount, not overlapping the store) and its destination (an existing one is
//! refused unless `--force`, which merges as `restore --force` does). Any refusal stops
//! everything before anything is written. Then each PATH is copied under a temporary name and
//! renamed into place, and the entries for impermanence and preservation are printed
//! (`entries`).

mod entries;
mod refuse;

use crate::copy::{self, dest, paths, source};
use crate::error::{Error, Result};
use dest::Dest;
use paths::Wanted;
use rustix::fd::AsFd;
use rustix::fs::FileType;
use std::path::PathBuf;

/// What to persist, to where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Absolute paths on the running system.
    pub paths: Vec<PathBuf>,
    /// The persistent store: `--to`, else the configuration's `persist_dir`.
    pub store: PathBuf,
    /// The mount points of the filesystems the next boot wipes (the configuration's targets;
    /// `/` without one), and the configuration they come from, for the refusal.
    pub wiped: Vec<PathBuf>,
    pub config: Option<PathBuf>,
    pub force: bool,
    pub dry_run: bool,
}

pub const CMD: paths::Cmd = paths::Cmd {
    name: "persist",
    give: "absolute paths on the running system, like /var/lib/foo",
};

const FROM: &str = "the running system";

pub fn run(req: &Request) -> u8 {
    match persist(req) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            e.exit_code()
        }
    }
}

struct Item<'a> {
    wanted: &'a Wanted,
    found: source::Found,
    probe: dest::Probe,
    to: String,
}

fn persist(req: &Request) -> Result<u8> {
    let wanted = paths::parse_all(&req.paths, CMD)?;
    if !req.store.is_absolute() {
        return Err(Error::usage(format!(
            "persist: --to {}: not an absolute path; give the persistent directory, such as /persist",
            req.store.display()
        )));
    }
    if !rustix::process::geteuid().is_root() {
        return Err(Error::runtime(
            "persist needs root: it keeps owners and reads every file; run it with sudo",
        ));
    }
    let dest = Dest::open(Some(&req.store)).map_err(|e| Error::runtime(format!("persist: {e}")))?;
    let store = refuse::Store::check(req).map_err(Error::runtime)?;
    let root = rustix::fs::open(
        "/",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("opening /", e))?;
    let place = source::Place {
        name: FROM,
        cmd: CMD.name,
        cross_mounts: true,
    };
    let mut refused = Vec::new();
    let mut items = Vec::new();
    for w in &wanted {
        let to = dest.shown(w);
        let checked = store.path(w).and_then(|()| {
            let found = source::lookup(&root, w, &place)?;
            store.not_linked(w, &found)?;
            let probe = dest.probe(w)?;
            dest::may_replace(probe.existing.as_ref(), &found.stat, FROM, req.force, &to)?;
            Ok(Item {
                wanted: w,
                found,
                probe,
                to: to.clone(),
            })
        });
        match checked {
            Ok(item) => items.push(item),
            Err(why) => refused.push(why),
        }
    }
    if !refused.is_empty() {
        return Ok(copy::refused(CMD.name, &refused, wanted.len()));
    }
    let shown = store.shown();
    if req.dry_run {
        for item in &items {
            let (entries, bytes) = count(item);
            println!(
                "would persist {} -> {} ({}; {entries} entr{}, {bytes} bytes)",
                item.wanted.shown,
                item.to,
                dest::what_happens(item.probe.existing.as_ref(), &item.found.stat),
                if entries == 1 { "y" } else { "ies" },
            );
        }
        println!("dry run: nothing was copied");
        let all: Vec<_> = items.iter().map(entries::Persisted::of).collect();
        entries::print(&all, &shown);
        return Ok(0);
    }
    Ok(copy_all(items, &dest, &shown))
}

/// Entries and bytes of file content beneath an item (for `--dry-run`); a file with several
/// links counts its bytes once, as the copy, which links the others, writes them once.
fn count(item: &Item<'_>) -> (u64, u64) {
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut linked = std::collections::HashSet::new();
    let f = &item.found;
    source::walk(
        f.dir.as_fd(),
        &f.name,
        &f.stat,
        &item.wanted.shown,
        &mut |_, st| {
            if let Ok(st) = st {
                entries += 1;
                if source::kind(st) == FileType::RegularFile
                    && (st.st_nlink < 2 || linked.insert((st.st_dev, st.st_ino)))
                {
                    bytes += st.st_size as u64;
                }
            }
        },
    );
    (entries, bytes)
}

fn copy_all(items: Vec<Item<'_>>, dest: &Dest, store: &str) -> u8 {
    let mut copier = copy::Copier::new(CMD.name, FROM);
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for item in items {
        copier.entries = 0;
        copier.bytes = 0;
        copier.reflinked = 0;
        copier.copied = 0;
        let before = copier.problems.len();
        let w = item.wanted;
        let existing = item.probe.existing;
        let done_item = entries::Persisted::of(&item);
        let put = match dest.make_parents(w, item.probe, &item.found.parents) {
            Ok(p) => {
                let name = w.parts.last().expect("a PATH has a name");
                let progress = crate::progress::begin(CMD.name);
                let put = copier.put(&item.found, &p, name, existing.as_ref(), &w.shown);
                drop(progress);
                let _ = rustix::fs::syncfs(&p);
                put
            }
            Err(why) => {
                copier
                    .problems
                    .push(format!("{}: not copied: {why}", w.shown));
                false
            }
        };
        let how = match (copier.reflinked, copier.copied) {
            (0, _) => "copied",
            (_, 0) => "reflinked",
            _ => "partly reflinked",
        };
        let summary = format!(
            "{} -> {} ({} entr{}, {} bytes, {how})",
            w.shown,
            item.to,
            copier.entries,
            if copier.entries == 1 { "y" } else { "ies" },
            copier.bytes
        );
        match (put, copier.problems.len() == before) {
            (true, true) => println!("persisted {summary}"),
            (true, false) => {
                println!("partly persisted {summary} (what is missing is listed on stderr)")
            }
            (false, _) => println!("not persisted: {}", w.shown),
        }
        if put && copier.problems.len() == before {
            done.push(done_item);
        } else {
            failed.push(w.shown.clone());
        }
    }
    for p in &copier.problems {
        eprintln!("blankroot: {p}");
    }
    entries::print(&done, store);
    if failed.is_empty() {
        return 0;
    }
    eprintln!(
        "blankroot: error: persist: not persisted in full: {} (what was not copied is listed above; the rest is in place: run again with --force to complete it)",
        failed.join(" ")
    );
    1
}
