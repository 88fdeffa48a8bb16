//! What `--suggest` reads of the live system, read-only and beneath the root of the tree being
//! compared (so that a fixture tree stands in for a system): account names from `/etc/passwd` and
//! `/etc/group`, and the directories services declare with `StateDirectory=`, `CacheDirectory=`
//! and `LogsDirectory=` in the unit files of `/etc/systemd/system`, `/run/systemd/system` and
//! `/usr/lib/systemd/system` (that order of precedence, as systemd's; drop-ins `NAME.d/*.conf`
//! included).
//!
//! Every path is opened with `openat2(RESOLVE_IN_ROOT)`: an absolute symlink is resolved as if the
//! root were `/` (on NixOS `/etc/systemd/system` and each unit in it are links into
//! `/nix/store`), and nothing outside the root is read.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{openat2, Dir, Mode, OFlags, ResolveFlags};
use std::io::Read;
use std::path::{Path, PathBuf};

pub const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/lib/systemd/system",
];

/// A file larger than this is not a unit file or an account database of a real system.
const MAX_FILE: u64 = 4 << 20;
/// Unit files read at most (a NixOS system has a few hundred).
const MAX_UNITS: usize = 20_000;

/// Which `*Directory=` setting a path comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    State,
    Cache,
    Logs,
}

impl Setting {
    const ALL: [Setting; 3] = [Setting::State, Setting::Cache, Setting::Logs];

    pub fn key(self) -> &'static str {
        match self {
            Setting::State => "StateDirectory",
            Setting::Cache => "CacheDirectory",
            Setting::Logs => "LogsDirectory",
        }
    }

    /// Where systemd puts the directories the setting names (relative to the root).
    pub fn base(self) -> &'static str {
        match self {
            Setting::State => "var/lib",
            Setting::Cache => "var/cache",
            Setting::Logs => "var/log",
        }
    }
}

/// A directory a unit declares: `path` relative to the root (`var/lib/foo`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnitDir {
    pub path: PathBuf,
    pub unit: String,
    pub setting: Setting,
}

/// What was read. (Plain lists, searched in place: no maps, the binary stays small.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    /// (uid, name) in the order of `/etc/passwd`.
    pub users: Vec<(u32, String)>,
    /// (gid, name) in the order of `/etc/group`.
    pub groups: Vec<(u32, String)>,
    /// Sorted by path, then unit name.
    pub unit_dirs: Vec<UnitDir>,
    /// Unit files read.
    pub units: usize,
}

/// The first name with the id, else the number.
fn name_of(list: &[(u32, String)], id: u32) -> String {
    list.iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| id.to_string(), |(_, n)| n.clone())
}

impl System {
    pub fn user(&self, uid: u32) -> String {
        name_of(&self.users, uid)
    }

    pub fn group(&self, gid: u32) -> String {
        name_of(&self.groups, gid)
    }
}

/// `name:x:ID:...` lines (`/etc/passwd`, `/etc/group`): (ID, name), in order.
pub fn parse_ids(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(id) = id.trim().parse::<u32>() {
            out.push((id, name.to_string()));
        }
    }
    out
}

/// The `*Directory=` values of one unit (by `Setting`), as its files set them one after the
/// other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirs([Vec<String>; 3]);

impl Dirs {
    /// Applies one unit file (the unit itself, then each drop-in): in `[Service]`, each
    /// assignment adds its space-separated paths, an empty one resets the list. `SRC:DEST`
    /// (the directory and a symlink to it) counts as SRC. Values with specifiers (`%i`) are
    /// skipped: they depend on the instance.
    pub fn apply(&mut self, text: &str) {
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let line = std::mem::take(&mut pending);
            let line = line.trim();
            if line.starts_with('[') && line.ends_with(']') {
                section = line[1..line.len() - 1].to_string();
                continue;
            }
            if section != "Service" {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let Some(setting) = Setting::ALL.into_iter().find(|s| s.key() == key.trim()) else {
                continue;
            };
            let list = &mut self.0[setting as usize];
            let value = value.trim();
            if value.is_empty() {
                list.clear();
                continue;
            }
            for word in value.split_whitespace() {
                let word = word.trim_matches(|c| c == '"' || c == '\'');
                // systemd refuses absolute paths and `..` here.
                if word.starts_with('/') {
                    continue;
                }
                let dir = word.split(':').next().unwrap_or("").trim_end_matches('/');
                let clean = Path::new(dir)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !dir.is_empty() && !dir.contains('%') && clean && !list.iter().any(|d| d == dir)
                {
                    list.push(dir.to_string());
                }
            }
        }
    }

    /// The directories, relative to the root: `StateDirectory=foo` is `var/lib/foo`, and also
    /// `var/lib/private/foo`, where it is with `DynamicUser=`.
    pub fn paths(&self, unit: &str) -> Vec<UnitDir> {
        let mut out = Vec::new();
        for (setting, list) in Setting::ALL.iter().zip(&self.0) {
            for d in list {
                for base in [
                    setting.base().to_string(),
                    format!("{}/private", setting.base()),
                ] {
                    out.push(UnitDir {
                        path: Path::new(&base).join(d),
                        unit: unit.to_string(),
                        setting: *setting,
                    });
                }
            }
        }
        out
    }
}

/// Opens `path` beneath `root` as if `root` were `/`.
fn open_in(root: BorrowedFd<'_>, path: &Path, dir: bool) -> Option<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    if dir {
        flags |= OFlags::DIRECTORY;
    }
    openat2(root, path, flags, Mode::empty(), ResolveFlags::IN_ROOT).ok()
}

/// The text of a regular file beneath `root`, when it is one and not too large.
pub fn read_in(root: BorrowedFd<'_>, path: &Path) -> Option<String> {
    read_fd(open_in(root, path, false)?)
}

fn read_fd(fd: OwnedFd) -> Option<String> {
    let mut f = std::fs::File::from(fd);
    let md = f.metadata().ok()?;
    if !md.is_file() || md.len() > MAX_FILE {
        return None;
    }
    let mut bytes = Vec::new();
    f.by_ref().take(MAX_FILE).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The names in a directory beneath `root`, sorted.
fn names_in(root: BorrowedFd<'_>, path: &Path) -> Vec<PathBuf> {
    let Some(fd) = open_in(root, path, true) else {
        return Vec::new();
    };
    let Ok(dir) = Dir::new(fd) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str().ok()?;
            (name != "." && name != "..").then(|| PathBuf::from(name))
        })
        .collect();
    crate::sort::asc(&mut out);
    out
}

/// The name a unit file really has: an alias (`dbus-org.freedesktop.timesync1.service`, a link
/// to `systemd-timesyncd.service`) is read under the unit's own name.
fn real_name(fd: &OwnedFd) -> Option<String> {
    let link = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        rustix::fd::AsRawFd::as_raw_fd(fd)
    ))
    .ok()?;
    Some(link.file_name()?.to_str()?.to_string())
}

/// Reads the accounts and the units' directories beneath `root`.
pub fn read(root: BorrowedFd<'_>) -> System {
    let ids = |p: &str| {
        read_in(root, Path::new(p))
            .map(|t| parse_ids(&t))
            .unwrap_or_default()
    };
    let mut sys = System {
        users: ids("etc/passwd"),
        groups: ids("etc/group"),
        ..System::default()
    };
    // (unit name, its file) and (unit name, drop-in file, drop-in name): the first directory
    // wins.
    let mut units: Vec<(String, PathBuf)> = Vec::new();
    let mut dropins: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    for d in UNIT_DIRS {
        for name in names_in(root, Path::new(d)) {
            let Some(name) = name.to_str().map(str::to_string) else {
                continue;
            };
            if let Some(unit) = name.strip_suffix(".d").filter(|u| u.ends_with(".service")) {
                let at = Path::new(d).join(&name);
                for conf in names_in(root, &at) {
                    let known = dropins.iter().any(|(u, _, c)| u == unit && *c == conf);
                    if conf.extension().is_some_and(|e| e == "conf") && !known {
                        dropins.push((unit.to_string(), at.join(&conf), conf));
                    }
                }
            } else if name.ends_with(".service")
                && units.len() < MAX_UNITS
                && !units.iter().any(|(u, _)| *u == name)
            {
                let path = Path::new(d).join(&name);
                units.push((name, path));
            }
        }
    }
    for (name, path) in &units {
        let Some(fd) = open_in(root, path, false) else {
            continue;
        };
        if real_name(&fd).is_some_and(|real| real != *name && units.iter().any(|u| u.0 == real)) {
            continue;
        }
        let Some(text) = read_fd(fd) else {
            continue;
        };
        sys.units += 1;
        let mut dirs = Dirs::default();
        dirs.apply(&text);
        // Drop-ins in the order of their names, whatever directory each is in.
        let mut confs: Vec<PathBuf> = dropins
            .iter()
            .filter(|(u, _, _)| u == name)
            .map(|(_, _, c)| c.clone())
            .collect();
        crate::sort::asc(&mut confs);
        for conf in confs {
            let file = dropins.iter().find(|(u, _, c)| u == name && *c == conf);
            if let Some(text) = file.and_then(|(_, f, _)| read_in(root, f)) {
                dirs.apply(&text);
            }
        }
        for u in dirs.paths(name) {
            // In order, once (an insertion, not a sort).
            if let Err(at) = sys.unit_dirs.binary_search(&u) {
                sys.unit_dirs.insert(at, u);
            }
        }
    }
    sys
}

/// Reads the system beneath the directory at `path`.
pub fn read_at(path: &Path) -> Option<System> {
    let fd = super::super::walk::open_path(path).ok()?;
    Some(read(fd.as_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_by_id() {
        let sys = System {
            users: parse_ids(
                "root:x:0:0:System administrator:/root:/bin/sh\n# comment:x:5\nfoo:x:991:990::/var/empty:/bin/false\ndup:x:991:1::/:/bin/sh\nbad:x:notanumber:1\n\nshort:x\n",
            ),
            groups: parse_ids("root:x:0:\nfoo:x:990:\nusers:x:100:alice,bob\n"),
            ..System::default()
        };
        assert_eq!(sys.users.len(), 3, "{:?}", sys.users);
        assert_eq!(sys.user(0), "root");
        assert_eq!(sys.user(991), "foo", "the first name with the id");
        assert_eq!(sys.user(5), "5", "a comment is no account");
        assert_eq!(sys.user(1000), "1000");
        assert_eq!(sys.group(100), "users");
    }

    #[test]
    fn directories_a_unit_declares() {
        let mut d = Dirs::default();
        d.apply(
            "[Unit]\nStateDirectory=notthis\n\n[Service]\n# StateDirectory=commented\nStateDirectory=foo foo/sub\nStateDirectory=foo\nCacheDirectory=foo\nLogsDirectory=\"foo\"\nStateDirectory=bar:bar-link\nStateDirectory=inst-%i ../evil /abs/ \\\n  cont\n[Install]\nStateDirectory=notthis\n",
        );
        // A drop-in resets one list and adds to it.
        d.apply("[Service]\nCacheDirectory=\nCacheDirectory=foo-cache\n");
        let got: Vec<String> = d
            .paths("foo.service")
            .iter()
            .map(|u| format!("{} {}", u.setting.key(), u.path.display()))
            .collect();
        assert_eq!(
            got,
            [
                "StateDirectory var/lib/foo",
                "StateDirectory var/lib/private/foo",
                "StateDirectory var/lib/foo/sub",
                "StateDirectory var/lib/private/foo/sub",
                "StateDirectory var/lib/bar",
                "StateDirectory var/lib/private/bar",
                "StateDirectory var/lib/cont",
                "StateDirectory var/lib/private/cont",
                "CacheDirectory var/cache/foo-cache",
                "CacheDirectory var/cache/private/foo-cache",
                "LogsDirectory var/log/foo",
                "LogsDirectory var/log/private/foo",
            ]
        );
    }
}
