//! Which lost paths to persist, and how (pure): from the diff's entries, the directories it found
//! lost whole, and the directories units declare.
//!
//! - A directory whose whole content the boot takes (`Diff::whole`) is one entry, unless it is
//!   one of the shared directories every system has (`/etc`, `/var/lib`...: their children are
//!   looked at instead) or something inside it is to be left out.
//! - A lost file outside such a directory is a file entry.
//! - Left out, each named in a comment: caches (`/var/cache`, `.cache`, a unit's
//!   `CacheDirectory=`), temporary files (`/var/tmp`), what NixOS writes at every activation,
//!   lone symlinks, sockets, fifos and device nodes, the Nix store and the persistent directory
//!   itself. (What NixOS recreates at every boot is already left out of the diff.)
//! - The owner: the unit whose `StateDirectory=`, `CacheDirectory=` or `LogsDirectory=` covers
//!   the path (the most specific one), else the first directory below the shared ones
//!   (`/var/lib/foo`).

use super::super::model::{path_order, Change, Diff, Entry, Kind, Perms, Whats};
use super::system::UnitDir;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Directories every system has: never suggested whole, their children are.
const SHARED: &[&str] = &[
    "",
    "etc",
    "etc/ssh",
    "home",
    "media",
    "mnt",
    "usr",
    "usr/local",
    "var",
    "var/db",
    "var/lib",
    "var/lib/systemd",
    "var/spool",
];

/// Files NixOS writes at every activation (the users and groups from the configuration and
/// `/var/lib/nixos`), which a bind mount would break (they are replaced by rename).
const ACCOUNTS: &[&str] = &[
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/subuid",
    "etc/subgid",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A unit whose `*Directory=` covers the path.
    Unit(String),
    /// The first directory below the shared ones (relative; `""` is `/`).
    Dir(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Relative to the root.
    pub path: PathBuf,
    pub perms: Option<Perms>,
    /// For a file: its directory's owner and mode, when the boot takes that directory too and
    /// they are not root's and 0755 (whoever makes it again must know them).
    pub parent: Option<Perms>,
    pub owner: Owner,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub directories: Vec<Item>,
    pub files: Vec<Item>,
    /// Lost paths not suggested, with why; in path order.
    pub left_out: Vec<(PathBuf, String)>,
}

fn shared(rel: &Path) -> bool {
    SHARED.iter().any(|s| rel == Path::new(s))
}

/// The units' directories, sorted by path then unit (as `System::unit_dirs`).
pub struct Units<'a>(&'a [UnitDir]);

impl<'a> Units<'a> {
    pub fn new(sorted: &'a [UnitDir]) -> Units<'a> {
        Units(sorted)
    }

    /// The unit whose directory covers `rel` most closely (the deepest of its ancestors; the
    /// first unit by name there).
    fn of(&self, rel: &Path) -> Option<&'a UnitDir> {
        rel.ancestors().find_map(|a| {
            let at = self.0.partition_point(|d| d.path.as_path() < a);
            self.0.get(at).filter(|d| d.path == a)
        })
    }
}

pub fn owner(rel: &Path, is_dir: bool, units: &Units) -> Owner {
    if let Some(d) = units.of(rel) {
        return Owner::Unit(d.unit.clone());
    }
    let mut top = PathBuf::new();
    for c in rel.components() {
        top.push(c);
        if !shared(&top) {
            break;
        }
    }
    if top == rel && !is_dir {
        top.pop();
    }
    Owner::Dir(top)
}

/// Why a lost path is never suggested (whatever its type), if it is not.
fn never(rel: &Path, units: &Units, persist: &Path) -> Option<String> {
    let under = |p: &str| rel.starts_with(p);
    if under("nix") {
        return Some("the Nix store: it must be a filesystem of its own".into());
    }
    if !persist.as_os_str().is_empty() && rel.starts_with(persist) {
        return Some("the persistent directory: it must be a filesystem of its own".into());
    }
    if under("var/cache") || rel.components().any(|c| c.as_os_str() == ".cache") {
        return Some("cache".into());
    }
    if let Some(d) = units.of(rel) {
        if d.setting == super::system::Setting::Cache {
            return Some(format!("cache of {}", d.unit));
        }
    }
    if under("var/tmp") {
        return Some("temporary files".into());
    }
    if ACCOUNTS.iter().any(|a| rel == Path::new(a)) {
        return Some("NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost".into());
    }
    if rel == Path::new("etc/.pwd.lock") {
        return Some("a lock file".into());
    }
    if rel == Path::new("etc/sudoers") || rel.starts_with("etc/ssh/authorized_keys.d") {
        return Some("NixOS writes it at every activation".into());
    }
    if under("var/lib/systemd/catalog") {
        return Some("rebuilt at boot by systemd-journal-catalog-update.service".into());
    }
    None
}

/// Why a lost path that is not a file or a directory is left out.
fn not_a_file(e: &Entry) -> String {
    match (e.kind, &e.target) {
        (Kind::Symlink, Some(t)) if t.starts_with(b"private/") => {
            "a symlink systemd makes for a unit with DynamicUser=".into()
        }
        (Kind::Symlink, Some(t)) => format!(
            "a symlink to {}: make it in the configuration, e.g. with systemd.tmpfiles.rules",
            super::super::output::escape(t)
        ),
        (Kind::Socket, _) => "a socket: the program listening on it makes it again".into(),
        (kind, _) => format!("a {}", kind.word()),
    }
}

/// The suggestion for a diff. `persist`: the persistent directory, relative to the root.
pub fn plan(d: &Diff, dirs: &[UnitDir], persist: &Path) -> Plan {
    let units = Units::new(dirs);
    // Lookups in sorted lists (not hash maps: the binary stays small).
    let entry_at = |p: &Path| {
        d.entries
            .binary_search_by(|e| path_order(&e.path, p))
            .ok()
            .map(|i| &d.entries[i])
    };
    let whole = |p: &Path| d.whole.binary_search_by(|w| path_order(&w.0, p)).is_ok();
    // A directory lost whole that the blank has unchanged has no entry: it is decided too.
    let unlisted: Vec<Entry> = d
        .whole
        .iter()
        .filter(|(p, _)| entry_at(p).is_none())
        .map(|(path, perms)| Entry {
            path: path.clone(),
            // In the blank, not created: it comes back at boot.
            change: Change::Modified,
            kind: Kind::Dir,
            was: None,
            size: 0,
            what: Whats::default(),
            target: None,
            subvolume: false,
            perms: *perms,
        })
        .collect();
    // Both lists are in path order: merged.
    let mut lost: Vec<&Entry> = Vec::with_capacity(d.entries.len() + unlisted.len());
    let (mut a, mut b) = (d.entries.iter().peekable(), unlisted.iter().peekable());
    while let Some(e) = match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if path_order(&y.path, &x.path).is_lt() => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    } {
        if e.change != Change::Deleted && !e.path.as_os_str().is_empty() {
            lost.push(e);
        }
    }
    let mut out = Plan::default();
    // The subtree already decided (suggested or left out whole).
    let mut done: Option<&Path> = None;
    for (i, e) in lost.iter().enumerate() {
        let rel = e.path.as_path();
        if done.is_some_and(|d| rel.starts_with(d)) {
            continue;
        }
        done = None;
        if let Some(why) = never(rel, &units, persist) {
            out.left_out.push((rel.to_path_buf(), why));
            done = Some(rel);
            continue;
        }
        let writable = printable(rel);
        let unwritable = || {
            (
                rel.to_path_buf(),
                "its name cannot be written in Nix as it is: add it by hand".to_string(),
            )
        };
        let item = |parent: Option<Perms>| Item {
            path: rel.to_path_buf(),
            perms: e.perms,
            parent,
            owner: owner(rel, e.kind == Kind::Dir, &units),
        };
        match e.kind {
            Kind::Dir => {
                // Nothing inside to leave out (looked at for candidates only: an entry is looked
                // at again for each candidate above it, and candidates are rarely nested).
                let clean = || {
                    lost[i + 1..]
                        .iter()
                        .take_while(|x| x.path.starts_with(rel))
                        .all(|x| never(&x.path, &units, persist).is_none())
                };
                if !shared(rel) && whole(rel) && clean() {
                    if writable {
                        out.directories.push(item(None));
                    } else {
                        out.left_out.push(unwritable());
                    }
                    done = Some(rel);
                }
            }
            Kind::File => {
                // The directory comes back from the blank (it is there), or is made again by
                // whoever persists the file: then its owner and mode must be said.
                let parent = rel
                    .parent()
                    .and_then(entry_at)
                    .filter(|p| p.change == Change::Created)
                    .and_then(|p| p.perms)
                    .filter(|p| (p.uid, p.gid, p.mode) != (0, 0, 0o755));
                if writable {
                    out.files.push(item(parent));
                } else {
                    out.left_out.push(unwritable());
                }
            }
            _ => out.left_out.push((rel.to_path_buf(), not_a_file(e))),
        }
    }
    out
}

/// Whether Nix can hold the path as written: UTF-8 without control characters other than
/// newline, tab and carriage return (which have escapes).
pub fn printable(rel: &Path) -> bool {
    std::str::from_utf8(rel.as_os_str().as_bytes()).is_ok_and(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    })
}

#[cfg(test)]
mod tests {
    use super::super::system::Setting;
    use super::*;

    pub fn entry(path: &str, change: Change, kind: Kind, perms: (u32, u32, u32)) -> Entry {
        Entry {
            path: path.into(),
            change,
            kind,
            was: None,
            size: 0,
            what: Whats::default(),
            target: (kind == Kind::Symlink).then(|| b"/nowhere".to_vec()),
            subvolume: false,
            perms: Some(Perms {
                uid: perms.0,
                gid: perms.1,
                mode: perms.2,
            }),
        }
    }

    fn dir(unit: &str, path: &str, setting: Setting) -> UnitDir {
        UnitDir {
            path: path.into(),
            unit: unit.into(),
            setting,
        }
    }

    fn paths(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.path.display().to_string()).collect()
    }

    #[test]
    fn owners_are_units_else_the_first_directory_below_the_shared_ones() {
        let dirs = [
            dir("a.service", "var/lib/a", Setting::State),
            dir("b.service", "var/lib/a/deeper", Setting::State),
            dir("c.service", "var/lib/a/deeper", Setting::State),
        ];
        let units = Units::new(&dirs);
        let o = |p: &str, is_dir| owner(Path::new(p), is_dir, &units);
        assert_eq!(o("var/lib/a/x", false), Owner::Unit("a.service".into()));
        assert_eq!(
            o("var/lib/a/deeper/x", false),
            Owner::Unit("b.service".into())
        );
        assert_eq!(o("var/lib/ab", true), Owner::Dir("var/lib/ab".into()));
        assert_eq!(o("var/lib/foo/bar", true), Owner::Dir("var/lib/foo".into()));
        assert_eq!(o("etc/machine-id", false), Owner::Dir("etc".into()));
        assert_eq!(
            o("etc/ssh/ssh_host_rsa_key", false),
            Owner::Dir("etc/ssh".into())
        );
        assert_eq!(
            o("var/lib/systemd/random-seed", false),
            Owner::Dir("var/lib/systemd".into())
        );
        assert_eq!(o("root", true), Owner::Dir("root".into()));
        assert_eq!(o("toplevel-file", false), Owner::Dir("".into()));
    }

    /// Whole directories are one entry (never their files), shared directories are looked into,
    /// a directory with something to leave out inside is split.
    #[test]
    fn whole_directories_collapse_and_the_rest_is_split() {
        use Change::*;
        use Kind::*;
        let mut d = Diff::default();
        let root = (0, 0, 0o755);
        let rows = [
            ("etc", Created, Dir, root),
            ("etc/machine-id", Created, File, (0, 0, 0o444)),
            ("etc/passwd", Created, File, (0, 0, 0o644)),
            ("etc/ssh", Modified, Dir, root),
            ("etc/ssh/ssh_host_ed25519_key", Created, File, (0, 0, 0o600)),
            ("gone", Deleted, File, root),
            ("root", Created, Dir, (0, 0, 0o700)),
            ("root/.bash_history", Created, File, (0, 0, 0o600)),
            ("root/.cache", Created, Dir, root),
            ("root/.cache/x", Created, File, root),
            ("root/.ssh", Created, Dir, (0, 0, 0o700)),
            ("root/.ssh/authorized_keys", Created, File, (0, 0, 0o600)),
            ("root/result", Created, Symlink, root),
            ("var", Created, Dir, root),
            ("var/cache", Created, Dir, root),
            ("var/cache/man", Created, Dir, root),
            ("var/cache/man/index.db", Created, File, root),
            ("var/lib", Created, Dir, root),
            ("var/lib/foo", Created, Dir, (991, 990, 0o750)),
            ("var/lib/foo/cache", Created, Dir, (991, 990, 0o750)),
            ("var/lib/foo/cache/c", Created, File, (991, 990, 0o640)),
            ("var/lib/foo/db", Created, File, (991, 990, 0o640)),
            ("var/lib/nixos", Created, Dir, root),
            ("var/lib/nixos/uid-map", Created, File, (0, 0, 0o644)),
            ("var/lib/nixos/gid-map", Created, File, (0, 0, 0o644)),
            ("var/lib/sock", Created, Socket, root),
            ("var/log", Created, Dir, root),
            ("var/log/journal", Created, Dir, (0, 190, 0o2755)),
            ("var/log/journal/x", Created, File, root),
            ("var/tmp", Created, Dir, (0, 0, 0o1777)),
        ];
        for (p, c, k, perms) in rows {
            d.entries.push(entry(p, c, k, perms));
        }
        d.sort();
        // What the walker finds lost whole (root/.cache makes /root no less whole for it).
        for w in [
            "etc",
            "root",
            "root/.cache",
            "root/.ssh",
            "var",
            "var/cache",
            "var/cache/man",
            "var/lib",
            "var/lib/foo",
            "var/lib/foo/cache",
            "var/lib/nixos",
            "var/log",
            "var/log/journal",
            "var/tmp",
        ] {
            d.add_whole(w.into(), None);
        }
        d.sort();
        let dirs = [dir("foo.service", "var/lib/foo/cache", Setting::Cache)];
        let p = plan(&d, &dirs, Path::new("persist"));
        assert_eq!(
            paths(&p.directories),
            ["root/.ssh", "var/lib/nixos", "var/log"]
        );
        assert_eq!(
            paths(&p.files),
            [
                "etc/machine-id",
                "etc/ssh/ssh_host_ed25519_key",
                "root/.bash_history",
                "var/lib/foo/db"
            ]
        );
        let left: Vec<String> = p
            .left_out
            .iter()
            .map(|(p, why)| format!("{} ({why})", p.display()))
            .collect();
        assert_eq!(
            left,
            [
                "etc/passwd (NixOS writes it at every activation; with users.mutableUsers = true, what passwd or useradd changed is lost)",
                "root/.cache (cache)",
                "root/result (a symlink to /nowhere: make it in the configuration, e.g. with systemd.tmpfiles.rules)",
                "var/cache (cache)",
                "var/lib/foo/cache (cache of foo.service)",
                "var/lib/sock (a socket: the program listening on it makes it again)",
                "var/tmp (temporary files)",
            ]
        );
        // /root is made again with its mode by whoever persists its file; /etc/ssh came back
        // from the blank (it is there: modified, not created); /var/lib/foo is 991:990 0750.
        let parent = |f: &str| {
            p.files
                .iter()
                .find(|i| i.path == Path::new(f))
                .unwrap()
                .parent
                .map(|p| (p.uid, p.gid, p.mode))
        };
        assert_eq!(parent("root/.bash_history"), Some((0, 0, 0o700)));
        assert_eq!(parent("etc/machine-id"), None);
        assert_eq!(parent("etc/ssh/ssh_host_ed25519_key"), None);
        assert_eq!(parent("var/lib/foo/db"), Some((991, 990, 0o750)));
    }

    /// The blank has the directory, empty and unchanged: it has no entry, but is lost whole.
    #[test]
    fn a_directory_empty_in_the_blank_is_one_entry_with_its_own_mode() {
        let mut d = Diff::default();
        d.entries.push(entry(
            "var/log/messages",
            Change::Created,
            Kind::File,
            (0, 0, 0o640),
        ));
        let perms = Perms {
            uid: 0,
            gid: 4,
            mode: 0o2750,
        };
        d.add_whole("var/log".into(), Some(perms));
        d.sort();
        let p = plan(&d, &[], Path::new("persist"));
        assert_eq!(paths(&p.directories), ["var/log"]);
        assert_eq!(p.directories[0].perms, Some(perms));
        assert!(p.files.is_empty(), "{:?}", p.files);
    }

    #[test]
    fn the_store_and_the_persistent_directory_are_never_suggested() {
        let mut d = Diff::default();
        for p in ["nix", "nix/store", "persist", "persist/x", "persistent"] {
            d.entries
                .push(entry(p, Change::Created, Kind::Dir, (0, 0, 0o755)));
            d.add_whole(p.into(), None);
        }
        d.sort();
        let p = plan(&d, &[], Path::new("persist"));
        assert_eq!(paths(&p.directories), ["persistent"]);
        let left: Vec<&Path> = p.left_out.iter().map(|l| l.0.as_path()).collect();
        assert_eq!(left, [Path::new("nix"), Path::new("persist")]);
    }

    #[test]
    fn what_nix_can_hold() {
        assert!(printable(Path::new("etc/new\nline\tand\r")));
        assert!(printable(Path::new("etc/caf\u{e9}")));
        assert!(!printable(Path::new("etc/esc\u{1b}")));
        use std::os::unix::ffi::OsStrExt;
        assert!(!printable(Path::new(std::ffi::OsStr::from_bytes(
            b"bad\xff"
        ))));
    }
}
