//! What must not be lost: the state the NixOS manual's "Necessary system state" chapter names
//! (`nixos-state`, `systemd-state`, `zfs-state`), the Secure Boot keys, the key files the
//! configuration names, and the quietest loss of all — a path the configuration persists whose
//! data still lies only on the root (the next boot mounts the empty persistent copy over it and
//! the wipe takes the data).
//!
//! A path is safe when it, or a directory above it, is persisted (`--persisted`,
//! `--persisted-from`, the configuration's lists), is a mount point of another filesystem on the
//! running system, or (through a symlink) lies in what NixOS makes itself (`/nix/store`,
//! `/etc/static`, `/run`). Otherwise, when it holds data on the root (a file with bytes, a
//! directory with something in it), it is a finding: one line naming the path, why it matters,
//! and the entry that persists it. The persisted paths whose copy is missing: `copies`.

use super::tree::{Found, Kind, Tree};
use crate::mount_point::MountPoint;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the checks are given besides the root: every path absolute and normalised.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// Survive the boot: `--persisted`, `--persisted-from`, the configuration's.
    pub persisted: Vec<PathBuf>,
    /// The key files the configuration names.
    pub must_persist: Vec<PathBuf>,
    /// Each path the configuration persists and where its persistent copy lives.
    pub persistence: Vec<(PathBuf, PathBuf)>,
    /// Where the entries the findings suggest persist to.
    pub persist_dir: String,
    /// The rollback keeps the old root (so `blankroot restore` can still get it back).
    pub archived: bool,
    /// The target's mount point.
    pub mount_point: MountPoint,
    /// The mount points of the configuration's other filesystems below it (deeper targets, other
    /// mounts): what lies there is not on this target.
    pub others: Vec<PathBuf>,
}

impl Lists {
    /// `abs` lies on this target.
    pub fn concerns(&self, abs: &Path) -> bool {
        self.mount_point.holds(abs) && !self.others.iter().any(|o| abs.starts_with(o))
    }

    /// The same, a filesystem mounted on `abs` itself aside (a persisted path's bind mount).
    fn concerns_beneath(&self, abs: &Path) -> bool {
        self.mount_point.holds(abs)
            && !self
                .others
                .iter()
                .any(|o| abs.starts_with(o) && o.as_path() != abs)
    }

    /// How the findings name the target: "the root", or its mount point.
    pub fn on(&self) -> String {
        if self.mount_point.is_root() {
            "the root".into()
        } else {
            self.mount_point.to_string()
        }
    }
}

/// The target the next boot wipes, as this system shows it.
pub struct View {
    pub tree: Tree,
    /// Where the target is mounted here (on its mount point on the system it runs), if it is.
    pub at: Option<PathBuf>,
    /// The other filesystems mounted on it there, by the absolute path they cover in the target
    /// (`/home/alice/media` for what is mounted on `media` of a /home mounted anywhere).
    pub mounts: Vec<PathBuf>,
    /// `tree` shows what lies under those mount points (Btrfs: the root subvolume itself), and
    /// how to mount it to copy from it (a shell command that mounts it on "$d").
    pub beneath: Option<String>,
}

/// NixOS makes these itself: a symlink into them is not data on the root.
const MANAGED: &[&str] = &["/nix/store", "/etc/static", "/run", "/proc", "/sys", "/dev"];

struct Item {
    path: &'static str,
    why: &'static str,
    /// Needed early in boot: preservation's `inInitrd = true`.
    early: bool,
}

const SYSTEMD: &str = "the NixOS manual recommends persisting all of /var/lib/systemd";

const ITEMS: &[Item] = &[
    Item {
        path: "/etc/machine-id",
        why: "systemd's machine id: a new one at every boot, and journalctl no longer finds the journals of earlier boots",
        early: true,
    },
    Item {
        path: "/var/lib/nixos",
        why: "NixOS's uid/gid maps: users and groups without a fixed id may get other ids at the next boot, and what they own elsewhere (/home, /persist) another owner",
        early: true,
    },
    Item {
        path: "/etc/secureboot",
        why: "lanzaboote's Secure Boot keys (before lanzaboote 1.0): without the keys enrolled in the firmware no new generation can be signed",
        early: false,
    },
    Item {
        path: "/var/lib/sbctl",
        why: "lanzaboote's Secure Boot keys (sbctl, lanzaboote 1.0 and later): without the keys enrolled in the firmware no new generation can be signed",
        early: false,
    },
    Item {
        path: "/var/lib/systemd/timers",
        why: "the stamps of systemd's Persistent=true timers: a run missed while the machine was off is no longer caught up",
        early: false,
    },
    Item {
        path: "/var/lib/systemd/random-seed",
        why: "the seed systemd-random-seed keeps for the kernel's random number generator: every boot starts without it",
        early: false,
    },
    Item {
        path: "/var/lib/systemd/credential.secret",
        why: "the host secret of systemd-creds: credentials encrypted with it (systemd-creds encrypt, LoadCredentialEncrypted=) can no longer be decrypted",
        early: false,
    },
    Item {
        path: "/etc/zfs/zpool.cache",
        why: "the ZFS pool cache: pools it lists are no longer imported at boot (the NixOS manual recommends persisting it)",
        early: false,
    },
];

const SSH_KEY: &str = "an SSH host key: a new one at every boot, so SSH clients refuse the host (changed host key) and secrets encrypted to it (sops-nix, agenix) can no longer be decrypted";

const NAMED: &str = "a key file the configuration names (services.openssh.hostKeys, sops-nix or agenix): what it decrypts or authenticates fails after the next boot";

/// A path to look for.
struct Candidate {
    path: PathBuf,
    why: String,
    early: bool,
    /// A private SSH host key: its `.pub` goes with it.
    ssh: bool,
}

/// The findings, in a stable order: the manual's state, host keys, the configuration's key
/// files, then the persisted paths whose data is still only on the root.
pub fn findings(view: &View, lists: &Lists) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for c in candidates(view, lists) {
        if seen.contains(&c.path) || !lists.concerns(&c.path) {
            continue;
        }
        seen.push(c.path.clone());
        if let Some(line) = must_persist(view, lists, &c) {
            out.push(line);
        }
    }
    if view.at.is_some() {
        for (path, stored) in &lists.persistence {
            if !lists.concerns_beneath(path) {
                continue;
            }
            out.extend(super::copies::unsaved(view, lists, path, stored));
        }
    }
    out
}

fn candidates(view: &View, lists: &Lists) -> Vec<Candidate> {
    let item = |i: &Item| Candidate {
        path: i.path.into(),
        why: i.why.to_string(),
        early: i.early,
        ssh: false,
    };
    let mut out = vec![item(&ITEMS[0])];
    // The host keys in /etc/ssh, wherever it really is (when it is on this target).
    let safe = |abs: &Path| survives(view, lists, abs);
    let ssh = Path::new("/etc/ssh");
    if let Some(Found::OnRoot {
        rel,
        kind: Kind::Dir,
        ..
    }) = lists.concerns(ssh).then(|| view.tree.find(ssh, &safe))
    {
        for name in view.tree.names(&rel) {
            let b = name.as_bytes();
            if b.starts_with(b"ssh_host_") && !b.ends_with(b".pub") {
                out.push(Candidate {
                    path: Path::new("/etc/ssh").join(&name),
                    why: SSH_KEY.into(),
                    early: true,
                    ssh: true,
                });
            }
        }
    }
    out.extend(ITEMS[1..].iter().map(item));
    for p in &lists.must_persist {
        out.push(Candidate {
            path: p.clone(),
            why: NAMED.into(),
            early: p.starts_with("/etc/ssh"),
            ssh: false,
        });
    }
    out
}

/// Whether a mount point (the absolute path it covers) covers a path the checks look at.
pub fn watched(m: &Path, lists: &Lists) -> bool {
    ITEMS
        .iter()
        .map(|i| Path::new(i.path))
        .chain([Path::new("/etc/ssh")])
        .chain(lists.must_persist.iter().map(PathBuf::as_path))
        .chain(lists.persistence.iter().map(|(p, _)| p.as_path()))
        .any(|p| p.starts_with(m))
}

/// `abs` or a directory above it survives the boot.
fn survives(view: &View, lists: &Lists, abs: &Path) -> bool {
    mounted(view, abs, None) || managed(abs) || lists.persisted.iter().any(|p| abs.starts_with(p))
}

/// `abs` or a directory above it is a mount point of another filesystem (`except` aside).
pub(super) fn mounted(view: &View, abs: &Path, except: Option<&Path>) -> bool {
    view.mounts
        .iter()
        .any(|m| abs.starts_with(m) && Some(m.as_path()) != except)
}

pub(super) fn managed(abs: &Path) -> bool {
    MANAGED.iter().any(|m| abs.starts_with(m))
}

fn must_persist(view: &View, lists: &Lists, c: &Candidate) -> Option<String> {
    let safe = |abs: &Path| survives(view, lists, abs);
    let Found::OnRoot { rel, kind, linked } = view.tree.find(&c.path, &safe) else {
        return None;
    };
    if !view.tree.holds_data(&rel, kind, &safe) {
        return None;
    }
    let real = view.tree.mount_point.join(&rel);
    let shown = if linked {
        format!("{} (a symlink to {})", c.path.display(), real.display())
    } else {
        c.path.display().to_string()
    };
    // The public half of a host key goes with it.
    let mut paths = vec![real.clone()];
    if c.ssh {
        let mut pub_key = real.clone().into_os_string();
        pub_key.push(".pub");
        let pub_key = PathBuf::from(pub_key);
        if let Found::OnRoot { .. } = view.tree.find(&pub_key, &safe) {
            paths.push(pub_key);
        }
    }
    let mut why = c.why.clone();
    if real.starts_with("/var/lib/systemd") {
        why = format!("{why} ({SYSTEMD})");
    }
    Some(format!(
        "{shown} is on {} and not persisted: {why}; the next boot wipes it. Persist it: {}",
        lists.on(),
        entries(&lists.persist_dir, kind == Kind::Dir, &paths, c.early)
    ))
}

/// The entries for impermanence and preservation that persist `paths`.
fn entries(persist_dir: &str, dir: bool, paths: &[PathBuf], early: bool) -> String {
    let (list, key) = if dir {
        ("directories", "directory")
    } else {
        ("files", "file")
    };
    let quoted: Vec<String> = paths
        .iter()
        .map(|p| nix_string(&p.to_string_lossy()))
        .collect();
    let preserved: Vec<String> = if early {
        quoted
            .iter()
            .map(|q| format!("{{ {key} = {q}; inInitrd = true; }}"))
            .collect()
    } else {
        quoted.clone()
    };
    let at = nix_string(persist_dir);
    format!(
        "environment.persistence.{at}.{list} = [ {} ]; (impermanence) or preservation.preserveAt.{at}.{list} = [ {} ]; (preservation)",
        quoted.join(" "),
        preserved.join(" ")
    )
}

/// A Nix string literal.
pub fn nix_string(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A word for `sh`: as it is when it is plain, else in single quotes.
pub fn sh_word(s: &OsStr) -> String {
    let b = s.as_bytes();
    let plain = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"/._-+:@=,%".contains(c));
    if plain {
        return s.to_string_lossy().into_owned();
    }
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}
