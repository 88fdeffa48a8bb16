//! `blankroot check --stale`: what lies in the persistent stores that no persistence entry of the
//! configuration names any more (impermanence #228: an entry removed from the configuration
//! leaves its copy behind, forever). Read-only.
//!
//! The stores are the configuration's `stores` (impermanence's `persistentStoragePath`,
//! preservation's `preserveAt.<path>`) and its `persist_dir`; an entry's copy is its `stored`
//! path. A path in a store is in use when it is a copy, or lies on the way to one (then its
//! entries are looked at in turn); anything else is stale, reported once at its top with the
//! disk space of all it holds (on that filesystem) and its newest change.

use crate::archived::size;
use crate::config::Config;
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One stale entry: its path, what it holds (entries, bytes of disk space) and the newest
/// modification time (seconds) of anything in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stale {
    pub path: PathBuf,
    pub kind: &'static str,
    pub entries: u64,
    pub bytes: u64,
    pub newest: i64,
}

/// The stores of a configuration, and the copies its entries name.
pub struct Stores {
    pub roots: Vec<PathBuf>,
    named: BTreeSet<PathBuf>,
}

impl Stores {
    pub fn of(cfg: &Config) -> Result<Stores> {
        let mut roots: Vec<PathBuf> = cfg.stores.iter().map(PathBuf::from).collect();
        roots.extend(cfg.persist_dir.iter().map(PathBuf::from));
        crate::sort::asc(&mut roots);
        roots.dedup();
        // A store inside another is looked at as part of the outer one.
        let outer = roots.clone();
        roots.retain(|r| !outer.iter().any(|o| o != r && r.starts_with(o)));
        if roots.is_empty() {
            return Err(Error::usage(
                "check --stale: the configuration names no persistent store (stores, persist_dir): give the configuration the NixOS module writes (--config /etc/blankroot/config.json)",
            ));
        }
        if cfg.persistence.is_empty() {
            return Err(Error::usage(
                "check --stale: the configuration lists no persistence entries (persistence), so everything in the store would look stale; give the configuration the NixOS module writes (boot.blankroot with impermanence or preservation)",
            ));
        }
        let named = cfg.persistence.iter().map(|e| clean(&e.stored)).collect();
        Ok(Stores { roots, named })
    }

    /// Every stale entry of every store, newest change first.
    pub fn stale(&self) -> Vec<Stale> {
        let mut out = Vec::new();
        for root in &self.roots {
            if let Ok(m) = std::fs::symlink_metadata(root) {
                if m.is_dir() {
                    self.look(root, &mut out, true);
                }
            }
        }
        crate::sort::by(&mut out, &|a, b| {
            b.newest.cmp(&a.newest).then_with(|| a.path.cmp(&b.path))
        });
        out
    }

    /// The entries of `dir`, a store or a directory on the way to a copy.
    fn look(&self, dir: &Path, out: &mut Vec<Stale>, top: bool) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        crate::sort::asc(&mut names);
        for p in names {
            // ext4's own directory at a store's top is no one's state.
            if top && p.file_name().is_some_and(|n| n == "lost+found") {
                continue;
            }
            if self.named.contains(&p) {
                continue;
            }
            if self.named.iter().any(|n| n.starts_with(&p)) {
                self.look(&p, out, false);
                continue;
            }
            if let Some(s) = measure(&p) {
                out.push(s);
            }
        }
    }
}

/// A path as written in the configuration, without `.` parts or a trailing slash.
fn clean(p: &str) -> PathBuf {
    Path::new(p).components().collect()
}

fn measure(p: &Path) -> Option<Stale> {
    let m = std::fs::symlink_metadata(p).ok()?;
    let kind = if m.is_dir() {
        "directory"
    } else if m.file_type().is_symlink() {
        "symlink"
    } else if m.is_file() {
        "file"
    } else {
        "other"
    };
    let mut s = Stale {
        path: p.to_path_buf(),
        kind,
        entries: 0,
        bytes: 0,
        newest: 0,
    };
    add(&mut s, &m);
    if m.is_dir() {
        walk(p, m.dev(), &mut s);
    }
    Some(s)
}

fn add(s: &mut Stale, m: &std::fs::Metadata) {
    s.entries += 1;
    s.bytes += m.blocks() * 512;
    // The content's time: a copy made with its metadata (restore, persist, cp -a) keeps it,
    // where its ctime is the time of the copy.
    s.newest = s.newest.max(m.mtime());
}

/// Everything below `dir` on the same filesystem (another mounted there is not the store's).
fn walk(dir: &Path, dev: u64, s: &mut Stale) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.dev() != dev {
            continue;
        }
        add(s, &m);
        if m.is_dir() {
            walk(&e.path(), dev, s);
        }
    }
}

/// The listing for people.
pub fn render(stores: &Stores, found: &[Stale]) -> String {
    let roots: Vec<String> = stores
        .roots
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    let roots = roots.join(", ");
    if found.is_empty() {
        return format!(
            "blankroot check --stale: every entry of {roots} is named by a persistence entry\n"
        );
    }
    let total: u64 = found.iter().map(|s| s.bytes).sum();
    let mut out = format!(
        "blankroot check --stale: {} {} in {roots} that no persistence entry names ({}), newest change first:\n",
        found.len(),
        if found.len() == 1 { "entry" } else { "entries" },
        size(total)
    );
    for s in found {
        let _ = writeln!(
            out,
            "  {}  {:>10}  {:>7} {:<7}  {}{}",
            crate::time::rfc3339(s.newest),
            size(s.bytes),
            s.entries,
            if s.entries == 1 { "entry" } else { "entries" },
            s.path.display(),
            if s.kind == "directory" { "/" } else { "" }
        );
    }
    out += "nothing was changed: remove what is no longer needed, or name it again in the configuration\n";
    out
}

/// The listing for scripts: `{"stores": [...], "stale": [{path, kind, entries, bytes, newest}]}`.
pub fn json(stores: &Stores, found: &[Stale]) -> String {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        stores: &'a [PathBuf],
        stale: Vec<Row<'a>>,
    }
    #[derive(serde::Serialize)]
    struct Row<'a> {
        path: String,
        kind: &'a str,
        entries: u64,
        bytes: u64,
        newest: String,
    }
    let out = Out {
        stores: &stores.roots,
        stale: found
            .iter()
            .map(|s| Row {
                path: s.path.to_string_lossy().into_owned(),
                kind: s.kind,
                entries: s.entries,
                bytes: s.bytes,
                newest: crate::time::rfc3339(s.newest),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
}

/// `check --stale`: prints the listing; 0 (it only reads), 2 without stores or entries.
pub fn run(cfg: &Config, as_json: bool) -> Result<u8> {
    let stores = Stores::of(cfg)?;
    let found = stores.stale();
    print!(
        "{}",
        if as_json {
            json(&stores, &found)
        } else {
            render(&stores, &found)
        }
    );
    Ok(0)
}
