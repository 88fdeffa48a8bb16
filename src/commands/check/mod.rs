//! `blankroot check`: the rollback's preflight on the running system, without writing anything,
//! and what the next boot would wipe that must not be lost.
//!
//! - `btrfs`, `zfs`: the engines' own inspection and plan, with the root taken as unmounted (it
//!   is, on a running system, and the rollback runs before it is mounted), and where the root's
//!   content can be read;
//! - `persist`: what must not be lost (the NixOS manual's necessary state, Secure Boot and host
//!   keys, the configuration's key files), and `copies`: persisted paths whose data is still
//!   only on the root;
//! - `tree`: reading the root as the booted system sees it, symlinks resolved inside it.
//!
//! Those findings are warnings (exit 0), or problems with `--strict` (exit 1).

mod btrfs;
mod copies;
pub mod persist;
pub mod stale;
mod trap;
pub mod tree;
mod zfs;

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::target::{Fs, Target};
use persist::Lists;
use rustix::fd::OwnedFd;
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

/// What the check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub title: String,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
    /// The steps the rollback would take, as its dry run prints them.
    pub plan: String,
    /// What must not be lost and would be (warnings, or problems with `--strict`).
    pub losses: Vec<String>,
}

impl Verdict {
    pub fn render(&self) -> String {
        let mut out = format!("blankroot check: {}\n", self.title);
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        if !self.plan.is_empty() {
            out += "  the next boot's rollback would:\n";
            for line in self.plan.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        for p in &self.problems {
            let _ = writeln!(out, "  PROBLEM: {p}");
        }
        out += &match (self.problems.len(), self.warnings.len()) {
            (0, 0) => "verdict: OK: the next boot's rollback will go through\n".to_string(),
            (0, w) => format!(
                "verdict: OK with {w} warning{}: the next boot's rollback will go through\n",
                if w == 1 { "" } else { "s" }
            ),
            (p, _) => format!(
                "verdict: {p} PROBLEM{} found: fix before rebooting\n",
                if p == 1 { "" } else { "S" }
            ),
        };
        out
    }
}

/// What `check` is given besides the target.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--persisted`: survive the boot (besides the configuration's).
    pub persisted: Vec<PathBuf>,
    pub persisted_from: Vec<PathBuf>,
    /// `--strict`: what must not be lost and would be is a problem (exit 1), not a warning.
    pub strict: bool,
    /// The configuration the target came from, when it did.
    pub config: Option<Config>,
    /// `--record FILE`: where to write the counts of what was found.
    pub record: Option<PathBuf>,
}

/// Runs `blankroot check` on each target and returns the worst exit code; with `record`, the
/// counts of what it found are written there too (for `blankroot status --format prometheus`).
pub fn run_all(targets: &[Target], opts: &Options, host: &Host) -> u8 {
    let mut worst = 0;
    let mut counts = Vec::new();
    for t in targets {
        let (code, c) = run(t, opts, host);
        worst = worst.max(code);
        counts.extend(c);
    }
    if let Some(file) = &opts.record {
        let record = Record {
            checked_at: crate::time::rfc3339(crate::time::unix_now()),
            targets: counts,
        };
        if let Err(e) = record.write(file) {
            eprintln!("blankroot: error: {e}");
            worst = worst.max(1);
        }
    }
    worst
}

/// What the last `check` found, per target (`--record FILE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub checked_at: String,
    pub targets: Vec<Counts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub mount_point: String,
    pub problems: u64,
    pub warnings: u64,
    /// What must persist and would be lost (counted in problems or warnings too).
    pub losses: u64,
}

impl Record {
    pub fn read(file: &Path) -> Option<Record> {
        serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()
    }

    fn write(&self, file: &Path) -> Result<()> {
        let what = format!("writing the check record {}", file.display());
        let text = serde_json::to_string_pretty(self).expect("a record") + "\n";
        crate::host::write_atomic(file, text.as_bytes()).map_err(|e| Error::io(&what, e))
    }
}

/// Runs `blankroot check` on `target` and returns the exit code (0 ok, 1 problems found, 2 a
/// persisted list that cannot be read) and what it found.
pub fn run(target: &Target, opts: &Options, host: &Host) -> (u8, Option<Counts>) {
    let lists = match lists(target, opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("blankroot: error: {e}");
            return (e.exit_code(), None);
        }
    };
    let mut v = check(target, &lists, host);
    if let Some(c) = &opts.config {
        v.problems.extend(trap::findings(target, c));
    }
    if let Some(word) = host.kill_switch() {
        v.notes.push(format!(
            "{word} is on this boot's kernel command line (it only matters on the next boot's)"
        ));
    }
    let losses = std::mem::take(&mut v.losses);
    let counts = Counts {
        mount_point: target.mount_point.to_string(),
        problems: (v.problems.len() + if opts.strict { losses.len() } else { 0 }) as u64,
        warnings: (v.warnings.len() + if opts.strict { 0 } else { losses.len() }) as u64,
        losses: losses.len() as u64,
    };
    if opts.strict {
        v.problems.extend(losses);
    } else {
        v.warnings.extend(losses);
    }
    print!("{}", v.render());
    (u8::from(!v.problems.is_empty()), Some(counts))
}

pub fn check(target: &Target, lists: &Lists, host: &Host) -> Verdict {
    match &target.fs {
        Fs::Btrfs {
            device,
            config,
            mount_options,
        } => btrfs::check(device, mount_options.as_deref(), config, lists, host),
        Fs::Zfs(config) => zfs::check(config, lists, host),
    }
}

/// The persisted paths, the key files and the persistent copies, from the options and the
/// configuration; every path absolute.
pub fn lists(target: &Target, opts: &Options) -> Result<Lists> {
    let mut l = Lists {
        persist_dir: "/persist".into(),
        archived: match &target.fs {
            Fs::Btrfs { config, .. } => config.archive.is_some(),
            Fs::Zfs(c) => c.archive.is_some(),
        },
        mount_point: target.mount_point.clone(),
        ..Lists::default()
    };
    if let Some(c) = &opts.config {
        // What the configuration mounts below the target is not on it.
        for m in c
            .targets
            .iter()
            .map(|t| &t.mount_point)
            .chain(c.mounts.iter().map(|m| &m.mount_point))
        {
            let p = PathBuf::from(m);
            if p != target.mount_point.as_path() && target.mount_point.holds(&p) {
                l.others.push(p);
            }
        }
    }
    for p in &opts.persisted {
        l.persisted.push(absolute("--persisted", p)?);
    }
    for file in &opts.persisted_from {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("--persisted-from {}: {e}", file.display())))?;
        let what = format!("--persisted-from {}:", file.display());
        for p in config::parse_persisted_file(file, &text)? {
            l.persisted.push(absolute(&what, &p)?);
        }
    }
    if let Some(c) = &opts.config {
        let what = |member: &str| format!("the configuration's \"{member}\":");
        for p in &c.persisted {
            l.persisted
                .push(absolute(&what("persisted"), Path::new(p))?);
        }
        for s in &c.persistence {
            let path = absolute(&what("persistence"), Path::new(&s.path))?;
            let stored = absolute(&what("persistence"), Path::new(&s.stored))?;
            l.persisted.push(path.clone());
            l.persistence.push((path, stored));
        }
        for p in &c.must_persist {
            l.must_persist
                .push(absolute(&what("must_persist"), Path::new(p))?);
        }
        if let Some(d) = &c.persist_dir {
            l.persist_dir = absolute(&what("persist_dir"), Path::new(d))?
                .display()
                .to_string();
        }
    }
    Ok(l)
}

/// An absolute path without `.`, repeated or trailing slashes; `..` is refused.
fn absolute(what: &str, p: &Path) -> Result<PathBuf> {
    if !p.is_absolute() {
        return Err(Error::usage(format!(
            "{what} {}: give an absolute path such as /var/lib/foo",
            p.display()
        )));
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                return Err(Error::usage(format!(
                    "{what} {}: `..` is not allowed; give the path itself",
                    p.display()
                )))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// An overlay mounted on the root (NixOS's `system.etc.overlay`): what is written there goes to
/// its upper directory, which is not looked into (it may lie on the root).
fn overlay_note(m: &crate::mountinfo::Mount) -> Option<String> {
    if m.fstype != "overlay" {
        return None;
    }
    let upper = m
        .super_options
        .split(',')
        .find(|o| o.starts_with("upperdir="))
        .unwrap_or("no upperdir");
    Some(format!(
        "{} is an overlay ({upper}): what is written there was not looked into; if its upper directory is on the root, persist what must survive in it",
        m.mount_point.display()
    ))
}

/// Opens a directory to read a root beneath it.
pub fn open_dir(path: &Path) -> rustix::io::Result<OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests;
