//! ZFS: `zfs diff -H -F POOL/DATASET@SNAPSHOT`, parsed and normalised to the same listing as the
//! other filesystems.
//!
//! `zfs diff` lists changed objects, not changed paths: a renamed directory appears once (not its
//! contents), a new hard link shows as a link-count change of the old name, and a directory whose
//! entries changed shows as modified. So when the snapshot can be read (`MOUNTPOINT/.zfs/snapshot/
//! NAME`, readable even with `snapdir=hidden`), its output only says which subtrees may differ,
//! and those are compared entry by entry with the walker (`walk`), giving exactly the listing
//! Btrfs gives. Without the snapshot directory, the lines are mapped one to one (and a note says
//! what that cannot show). Child datasets are other mounts: they survive `zfs rollback`.

use super::filter::Filter;
use super::model::{Change, Diff, Entry, Kind, Perms, Reason};
use super::walk::{self, Hint, Walker};
use super::{base_filter, Options, Outcome, Target};
use crate::error::{Error, Result};
use crate::mountinfo;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One line of `zfs diff -H [-F]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub change: char,
    pub kind: Option<Kind>,
    pub path: PathBuf,
    /// For a rename (`R`): the new path.
    pub to: Option<PathBuf>,
}

fn kind_of(c: &str) -> Option<Kind> {
    Some(match c {
        "F" => Kind::File,
        "/" => Kind::Dir,
        "@" => Kind::Symlink,
        "|" => Kind::Fifo,
        "=" => Kind::Socket,
        "C" => Kind::CharDevice,
        "B" => Kind::BlockDevice,
        ">" | "P" | "?" => Kind::Unknown,
        _ => return None,
    })
}

/// `zfs diff` writes every byte outside `!`..`~`, and the backslash, as `\` and 4 octal digits.
pub fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 < b.len() + 1 {
            let digits = &b[i + 1..(i + 5).min(b.len())];
            if digits.len() == 4 && digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 5;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A decimal number with a point, as `-t` writes the time (`1700000000.123456789`): what a
/// float parser accepts (sign, digits, point, exponent), checked without parsing it.
fn is_decimal(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    let mut at = int;
    let mut frac = 0;
    if b.get(at) == Some(&b'.') {
        frac = digits(at + 1);
        at += 1 + frac;
    }
    if int + frac == 0 {
        return false;
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(b.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exp = digits(at);
        if exp == 0 {
            return false;
        }
        at += exp;
    }
    at == b.len()
}

/// Parses the output of `zfs diff -H [-F]` for a dataset mounted at `mount_point`; paths come
/// back relative to it. Lines that are not understood are returned as errors.
pub fn parse(text: &[u8], mount_point: &Path) -> (Vec<Line>, Vec<String>) {
    let (mut lines, mut bad) = (Vec::new(), Vec::new());
    for raw in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let raw = String::from_utf8_lossy(raw);
        let mut fields: Vec<&str> = raw.split('\t').collect();
        // -t puts a timestamp first.
        if fields
            .first()
            .is_some_and(|f| f.contains('.') && is_decimal(f.trim()))
        {
            fields.remove(0);
        }
        let change = match fields.first().and_then(|f| f.chars().next()) {
            Some(c @ ('+' | '-' | 'M' | 'R')) if fields[0].len() == 1 => c,
            _ => {
                bad.push(format!("unexpected zfs diff line {raw:?}"));
                continue;
            }
        };
        let mut rest = &fields[1..];
        let kind = rest.first().and_then(|f| kind_of(f));
        if kind.is_some() {
            rest = &rest[1..];
        }
        // A link-count change ends with "(+1)" / "(-1)".
        if rest.len() > 1
            && rest
                .last()
                .is_some_and(|l| l.starts_with('(') && l.ends_with(')'))
        {
            rest = &rest[..rest.len() - 1];
        }
        let rel = |f: &str| -> Option<PathBuf> {
            let p = PathBuf::from(OsStr::from_bytes(&unescape(f)));
            p.strip_prefix(mount_point).ok().map(Path::to_path_buf)
        };
        let (path, to) = match (change, rest) {
            ('R', [from, to]) => (rel(from), Some(rel(to))),
            (_, [p]) => (rel(p), None),
            _ => {
                bad.push(format!("unexpected zfs diff line {raw:?}"));
                continue;
            }
        };
        match (path, to) {
            (Some(path), None) => lines.push(Line {
                change,
                kind,
                path,
                to: None,
            }),
            (Some(path), Some(Some(to))) => lines.push(Line {
                change,
                kind,
                path,
                to: Some(to),
            }),
            _ => bad.push(format!(
                "zfs diff line {raw:?} is outside the mount point {}",
                mount_point.display()
            )),
        }
    }
    (lines, bad)
}

/// The subtrees that may differ: every path a line names, and each of their ancestors.
pub struct Dirty {
    /// The paths the lines name, sorted (component by component).
    paths: Vec<PathBuf>,
}

impl Dirty {
    /// Whether `rel` is a named path or an ancestor of one. In component order, the paths
    /// below `rel` come right after it: the first path not before `rel` tells.
    pub fn contains(&self, rel: &Path) -> bool {
        let at = self.paths.partition_point(|p| p.as_path() < rel);
        self.paths.get(at).is_some_and(|p| p.starts_with(rel))
    }
}

pub fn dirty(lines: &[Line]) -> Dirty {
    let mut paths: Vec<PathBuf> = Vec::new();
    for l in lines {
        paths.push(l.path.clone());
        paths.extend(l.to.clone());
    }
    paths.sort_unstable();
    Dirty { paths }
}

/// The lines mapped one to one (no snapshot to look at): `+` created, `-` deleted, `M` of a
/// non-directory modified, `R` deleted at the old path and created at the new one (a renamed
/// directory's contents are listed from the live side).
pub fn normalise(lines: &[Line], filter: &Filter, live: Option<&rustix::fd::OwnedFd>) -> Diff {
    let mut d = Diff::default();
    let stat = |rel: &Path| -> Option<walk::Meta> {
        let live = live?;
        let c = std::ffi::CString::new(rel.as_os_str().as_bytes()).ok()?;
        walk::stat_at(rustix::fd::AsFd::as_fd(live), &c)
            .ok()
            .flatten()
    };
    let link = |rel: &Path| -> Option<Vec<u8>> {
        let live = live?;
        rustix::fs::readlinkat(live, rel, Vec::new())
            .ok()
            .map(|t| t.into_bytes())
    };
    // Paths left out below which something survives or is made again: the directories above
    // them are not lost whole.
    let mut kept: Vec<PathBuf> = Vec::new();
    // Renamed directories with something left out inside.
    let mut partial: Vec<PathBuf> = Vec::new();
    // What the walker found lost whole inside renamed directories.
    let mut sub_whole: Vec<(PathBuf, Option<Perms>)> = Vec::new();
    let push =
        |d: &mut Diff, kept: &mut Vec<PathBuf>, path: &Path, change: Change, kind: Option<Kind>| {
            if leaves_out(filter, path, d) {
                kept.push(path.to_path_buf());
                return;
            }
            let meta = if change == Change::Deleted {
                None
            } else {
                stat(path)
            };
            let kind = meta.map(|m| m.kind).or(kind).unwrap_or(Kind::Unknown);
            let target = (kind == Kind::Symlink && change != Change::Deleted)
                .then(|| link(path))
                .flatten();
            if filter.recreated_link(path, kind, target.as_deref()) {
                d.recreated += 1;
                kept.push(path.to_path_buf());
                return;
            }
            d.entries.push(Entry {
                path: path.to_path_buf(),
                change,
                kind,
                was: None,
                size: meta
                    .filter(|m| matches!(m.kind, Kind::File | Kind::Symlink))
                    .map_or(0, |m| m.size),
                what: Default::default(),
                target,
                subvolume: false,
                perms: meta.map(|m| m.perms()),
            });
        };
    for l in lines {
        match (l.change, &l.to) {
            ('+', _) => push(&mut d, &mut kept, &l.path, Change::Created, l.kind),
            ('-', _) => push(&mut d, &mut kept, &l.path, Change::Deleted, l.kind),
            ('M', _) if l.kind == Some(Kind::Dir) => {}
            ('M', _) => push(&mut d, &mut kept, &l.path, Change::Modified, l.kind),
            ('R', Some(to)) => {
                push(&mut d, &mut kept, &l.path, Change::Deleted, l.kind);
                push(&mut d, &mut kept, to, Change::Created, l.kind);
                if let (Some(live), Some(Kind::Dir)) = (live, stat(to).map(|m| m.kind)) {
                    if let Ok(fd) = open_rel(live, to) {
                        let mut w = Walker::new(filter);
                        w.live_mount = walk::mount_id(live);
                        let sub = w.compare(&fd, None);
                        if !sub.left_out.is_empty() || sub.recreated > 0 {
                            partial.push(to.clone());
                        }
                        sub_whole.extend(sub.whole.iter().map(|(w, p)| (to.join(w), *p)));
                        for mut e in sub.entries {
                            if !e.path.as_os_str().is_empty() {
                                e.path = to.join(&e.path);
                                d.entries.push(e);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    d.notes.push("the snapshot cannot be read (no .zfs/snapshot): zfs diff's lines are listed as they are; the old contents of renamed directories and directory mode or owner changes are not shown".into());
    d.sort();
    // A created directory is lost whole unless something below it was left out (without the
    // snapshot, only created directories are known to have been empty in it).
    d.whole = d
        .entries
        .iter()
        .filter(|e| e.change == Change::Created && e.kind == Kind::Dir)
        .filter(|e| {
            !partial
                .iter()
                .any(|p| p.starts_with(&e.path) || e.path.starts_with(p))
        })
        .filter(|e| {
            !kept
                .iter()
                .chain(d.left_out.iter().map(|(p, _)| p))
                .any(|k| k != &e.path && k.starts_with(&e.path))
        })
        .map(|e| (e.path.clone(), e.perms))
        .collect();
    for (p, perms) in sub_whole {
        d.add_whole(p, perms);
    }
    d
}

fn open_rel(dir: &rustix::fd::OwnedFd, rel: &Path) -> rustix::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    openat2(
        dir,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
    )
}

/// Whether the filter leaves out `rel` or a directory above it (recording mount points and
/// persisted paths, and counting what NixOS recreates).
fn leaves_out(filter: &Filter, rel: &Path, d: &mut Diff) -> bool {
    // The topmost directory that is left out decides: walk up, keep the last one found.
    let mut found = None;
    for a in rel.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        if let Some(r) = filter.excluded(a) {
            found = Some((a, Some(r)));
        } else if filter.recreated_path(a) {
            found = Some((a, None));
        }
    }
    match found {
        Some((a, Some(r))) => d.left_out.push((a.to_path_buf(), r)),
        Some((_, None)) => d.recreated += 1,
        None => return false,
    }
    true
}

pub fn diff(t: &Target, opts: &Options) -> Result<Outcome> {
    let Target::Zfs {
        dataset,
        snapshot,
        zfs_command,
        live,
    } = t
    else {
        unreachable!("called for ZFS targets")
    };
    let mounts = mountinfo::read();
    let mount_point = match live {
        Some(p) => p.clone(),
        None => mount_point(dataset, zfs_command, &mounts)?,
    };
    let live_fd = walk::open_path(&mount_point).map_err(|e| {
        Error::io(
            format!("opening {dataset}'s mount point {}", mount_point.display()),
            e,
        )
    })?;
    let mut filter = base_filter(opts, &live_fd)?;
    for (rel, _) in mountinfo::below(&mounts, &mount_point) {
        filter.exclude(rel, Reason::MountPoint);
    }
    let snap_dir = mount_point.join(".zfs/snapshot").join(snapshot);
    let blank_fd = walk::open_path(&snap_dir).ok();
    let full = format!("{dataset}@{snapshot}");
    let out = run(zfs_command, &["diff", "-H", "-F", &full])?;
    let mut notes = Vec::new();
    let mut diff = if out.status.success() {
        let (lines, bad) = parse(&out.stdout, &mount_point);
        if !bad.is_empty() {
            return Err(Error::runtime(format!(
                "cannot read zfs diff's output: {}",
                bad.join("; ")
            )));
        }
        match &blank_fd {
            Some(blank) => {
                let dirty = dirty(&lines);
                let mut w = Walker::new(&filter);
                w.live_mount = walk::mount_id(&live_fd);
                w.hint = Some(Hint { dirty: &dirty });
                w.hidden_at_root = &[".zfs"];
                notes.push(format!(
                    "zfs diff named {} changed objects; compared them with {}",
                    lines.len(),
                    snap_dir.display()
                ));
                w.compare(&live_fd, Some(blank))
            }
            None => normalise(&lines, &filter, Some(&live_fd)),
        }
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let Some(blank) = &blank_fd else {
            return Err(Error::runtime(format!(
                "`{} diff -H -F {full}` failed ({err}) and {} cannot be read: this zfs cannot show what the next boot erases (zfs-fuse has neither zfs diff nor .zfs); list it with --root {} instead if nothing survives",
                zfs_command.display(),
                snap_dir.display(),
                mount_point.display()
            )));
        };
        notes.push(format!(
            "zfs diff failed ({err}): compared the whole tree with {}",
            snap_dir.display()
        ));
        let mut w = Walker::new(&filter);
        w.live_mount = walk::mount_id(&live_fd);
        w.hidden_at_root = &[".zfs"];
        w.compare(&live_fd, Some(blank))
    };
    diff.notes.extend(notes);
    let system = opts
        .system
        .then(|| super::suggest::system::read(rustix::fd::AsFd::as_fd(&live_fd)));
    Ok(Outcome {
        system,
        diff,
        title: format!(
            "zfs {dataset} (mounted at {}) against @{snapshot}",
            mount_point.display()
        ),
        target: super::target_json(&[
            ("dataset", Some(dataset)),
            ("filesystem", Some("zfs")),
            ("mount_point", Some(&mount_point.to_string_lossy())),
            ("snapshot", Some(snapshot)),
        ]),
    })
}

/// Runs `zfs args...` (an argument vector, never a shell; standard input from /dev/null) and
/// collects what it writes.
fn run(zfs: &Path, args: &[&str]) -> Result<std::process::Output> {
    std::process::Command::new(zfs)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("running {}", zfs.display()), e))
}

/// Where the dataset is mounted: from the mount table, else its `mountpoint` property.
fn mount_point(dataset: &str, zfs: &Path, mounts: &[mountinfo::Mount]) -> Result<PathBuf> {
    if let Some(m) = mounts
        .iter()
        .find(|m| (m.fstype == "zfs" || m.fstype == "fuse.zfs") && m.source == dataset)
    {
        return Ok(m.mount_point.clone());
    }
    let out = run(zfs, &["get", "-H", "-o", "value", "mountpoint", dataset])?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && value.starts_with('/') {
        return Ok(PathBuf::from(value));
    }
    Err(Error::runtime(format!(
        "{dataset} is not mounted (mountpoint {value:?}): zfs diff needs it mounted; give its mount point with --root PATH"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal_bytes() {
        assert_eq!(unescape(r"/a\0040b"), b"/a b");
        assert_eq!(unescape(r"/nl\0012x"), b"/nl\nx");
        assert_eq!(unescape(r"/back\0134slash"), b"/back\\slash");
        assert_eq!(unescape(r"/caf\0303\0251"), "/caf\u{e9}".as_bytes());
        assert_eq!(unescape(r"/short\01"), b"/short\\01");
    }

    #[test]
    fn parses_every_line_shape() {
        let text = b"+\tF\t/mnt/r/etc/new\\0040file\n\
-\t/\t/mnt/r/old\n\
M\t/\t/mnt/r/etc\n\
R\tF\t/mnt/r/a\t/mnt/r/b\n\
M\tF\t/mnt/r/etc/hosts\t(+1)\n\
1700000000.123456789\t+\t@\t/mnt/r/link\n";
        let (lines, bad) = parse(text, Path::new("/mnt/r"));
        assert!(bad.is_empty(), "{bad:?}");
        let shapes: Vec<(char, Option<Kind>, String, Option<String>)> = lines
            .iter()
            .map(|l| {
                (
                    l.change,
                    l.kind,
                    l.path.display().to_string(),
                    l.to.as_ref().map(|t| t.display().to_string()),
                )
            })
            .collect();
        assert_eq!(
            shapes,
            vec![
                ('+', Some(Kind::File), "etc/new file".into(), None),
                ('-', Some(Kind::Dir), "old".into(), None),
                ('M', Some(Kind::Dir), "etc".into(), None),
                ('R', Some(Kind::File), "a".into(), Some("b".into())),
                ('M', Some(Kind::File), "etc/hosts".into(), None),
                ('+', Some(Kind::Symlink), "link".into(), None),
            ]
        );
        let (_, bad) = parse(b"X\tF\t/mnt/r/x\n+\tF\t/elsewhere\n", Path::new("/mnt/r"));
        assert_eq!(bad.len(), 2, "{bad:?}");
    }

    #[test]
    fn decimal_numbers_as_a_float_parser_reads_them() {
        for s in [
            "1700000000.123456789",
            "1.",
            ".5",
            "+1.5",
            "-0.0",
            "1.5e3",
            "1.E-3",
            ".5e+7",
            "1e5",
            "12",
            "1.5 ",
            " 1.5",
            "1..5",
            ".",
            "-.",
            "+",
            "",
            "1.5e",
            "1.5e+",
            "e5",
            ".e5",
            "1.5x",
            "inf",
            "inf.",
            "NaN",
            "0x1.8",
            "1_0.5",
            "١.٥",
        ] {
            // Only fields with a point are looked at (so `inf` and `nan` never are).
            let dotted = s.contains('.');
            assert_eq!(
                dotted && is_decimal(s),
                dotted && s.parse::<f64>().is_ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn dirty_set_holds_ancestors() {
        let (lines, _) = parse(b"M\tF\t/m/a/b/c\nR\t/\t/m/x\t/m/y/z\n", Path::new("/m"));
        let d = dirty(&lines);
        for p in ["", "a", "a/b", "a/b/c", "x", "y", "y/z", "a//b/"] {
            assert!(d.contains(Path::new(p)), "{p}");
        }
        for p in ["a/b/c/d", "a/c", "b", "x/y", "y/z/z", "a/bc", "z", "a/b c"] {
            assert!(!d.contains(Path::new(p)), "{p}");
        }
    }
}
