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
//! and the entry that persists it.

use super::tree::{Found, Kind, Tree};
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
}

/// The root the next boot wipes, as this system shows it.
pub struct View {
    pub tree: Tree,
    /// Where the root is mounted here (`/` on the system it runs), if it is.
    pub at: Option<PathBuf>,
    /// Mount points (relative to the root) of the other filesystems mounted on it there.
    pub mounts: Vec<PathBuf>,
    /// `tree` shows what lies under those mount points (Btrfs: the root subvolume itself), and
    /// how to mount it to copy from it (a shell command that mounts it on "$d").
    pub beneath: Option<String>,
}

/// NixOS makes these itself: a symlink into them is not data on the root.
const MANAGED: &[&str] = &["nix/store", "etc/static", "run", "proc", "sys", "dev"];

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
        if seen.contains(&c.path) {
            continue;
        }
        seen.push(c.path.clone());
        if let Some(line) = must_persist(view, lists, &c) {
            out.push(line);
        }
    }
    if view.at.is_some() {
        for (path, stored) in &lists.persistence {
            out.extend(unsaved(view, lists, path, stored));
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
    // The host keys in /etc/ssh, wherever it really is.
    let safe = |rel: &Path| survives(view, lists, rel);
    if let Found::OnRoot {
        rel,
        kind: Kind::Dir,
        ..
    } = view.tree.find(Path::new("/etc/ssh"), &safe)
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

/// Whether a mount point (relative to the root) covers a path the checks look at.
pub fn watched(mount: &Path, lists: &Lists) -> bool {
    let m = Path::new("/").join(mount);
    ITEMS
        .iter()
        .map(|i| Path::new(i.path))
        .chain([Path::new("/etc/ssh")])
        .chain(lists.must_persist.iter().map(PathBuf::as_path))
        .chain(lists.persistence.iter().map(|(p, _)| p.as_path()))
        .any(|p| p.starts_with(&m))
}

/// `rel` or a directory above it survives the boot.
fn survives(view: &View, lists: &Lists, rel: &Path) -> bool {
    let abs = Path::new("/").join(rel);
    mounted(view, rel, None) || managed(rel) || lists.persisted.iter().any(|p| abs.starts_with(p))
}

/// `rel` or a directory above it is a mount point of another filesystem (`except` aside).
fn mounted(view: &View, rel: &Path, except: Option<&Path>) -> bool {
    view.mounts
        .iter()
        .any(|m| rel.starts_with(m) && Some(m.as_path()) != except)
}

fn managed(rel: &Path) -> bool {
    MANAGED.iter().any(|m| rel.starts_with(m))
}

fn must_persist(view: &View, lists: &Lists, c: &Candidate) -> Option<String> {
    let safe = |rel: &Path| survives(view, lists, rel);
    let Found::OnRoot { rel, kind, linked } = view.tree.find(&c.path, &safe) else {
        return None;
    };
    if !view.tree.holds_data(&rel, kind, &safe) {
        return None;
    }
    let real = Path::new("/").join(&rel);
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
        "{shown} is on the root and not persisted: {why}; the next boot wipes it. Persist it: {}",
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

/// A persisted path whose persistent copy is missing or empty while the root holds its data.
fn unsaved(view: &View, lists: &Lists, path: &Path, stored: &Path) -> Option<String> {
    let at = view.at.as_deref()?;
    let rel = path.strip_prefix("/").ok()?;
    // Mounted on the running system: the data there is the persistent copy, unless the root's
    // own data lies beneath the mount and can be seen (Btrfs).
    let exact = view.mounts.iter().any(|m| m == rel);
    let hidden = exact && view.beneath.is_some();
    if exact && !hidden {
        return None;
    }
    let except = hidden.then_some(rel);
    let safe = |r: &Path| mounted(view, r, except) || managed(r);
    let Found::OnRoot {
        rel: real, kind, ..
    } = view.tree.find(path, &safe)
    else {
        return None;
    };
    if real != rel || !view.tree.holds_data(&real, kind, &safe) {
        return None;
    }
    let copy = at.join(stored.strip_prefix("/").unwrap_or(stored));
    let state = match std::fs::metadata(&copy) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing",
        Err(_) => return None,
        Ok(m) if m.is_dir() => match std::fs::read_dir(&copy).map(|mut d| d.next().is_none()) {
            Ok(true) => "is empty",
            _ => return None,
        },
        Ok(m) if m.is_file() && m.len() == 0 => "is empty",
        Ok(_) => return None,
    };
    let command = copy_command(view, at, rel, &copy, kind == Kind::Dir);
    let after = if lists.archived {
        format!(
            "once wiped, `blankroot restore {}` copies it back from the archived root",
            sh_word(path.as_os_str())
        )
    } else {
        "once wiped it is gone: the rollback deletes the old root (no --archive-dir)".into()
    };
    let under = if hidden {
        format!(" (under the mount on {})", path.display())
    } else {
        String::new()
    };
    Some(format!(
        "{} is persisted, but its persistent copy {} {state} while its data is still only on the root{under}: the next boot mounts the empty copy over it and wipes the data. Copy it now: `{command}`; {after}",
        path.display(),
        stored.display()
    ))
}

/// The command that copies `rel` from the root to `copy` (a path on this system).
fn copy_command(view: &View, at: &Path, rel: &Path, copy: &Path, dir: bool) -> String {
    let w = |p: &Path| sh_word(p.as_os_str());
    // From where the root is mounted, or from a private mount of it when the data is hidden.
    let mount = match &view.beneath {
        Some(m) if view.mounts.iter().any(|x| x == rel) => Some(m),
        _ => None,
    };
    let (from, src) = match mount {
        Some(_) => ("\"$d\"".to_string(), format!("\"$d\"/{}", w(rel))),
        None => (w(at), w(&at.join(rel))),
    };
    // `cp -a --parents` keeps the directories above it as they are, when the copy is where
    // impermanence and preservation put it: the persistent directory followed by the path.
    let base = copy
        .to_str()
        .zip(rel.to_str())
        .and_then(|(c, r)| c.strip_suffix(r))
        .and_then(|p| p.strip_suffix('/'))
        .filter(|p| !p.is_empty());
    let cp = match base {
        Some(base) if mount.is_none() && at == Path::new("/") => {
            format!("cp -a --parents {src} {}", w(Path::new(base)))
        }
        Some(base) => format!(
            "(cd {from} && cp -a --parents {} {})",
            w(rel),
            w(Path::new(base))
        ),
        None if dir => format!("mkdir -p {} && cp -a {src}/. {}/", w(copy), w(copy)),
        None => format!(
            "mkdir -p {} && cp -a {src} {}",
            w(copy.parent().unwrap_or(Path::new("/"))),
            w(copy)
        ),
    };
    match mount {
        Some(m) => format!("d=$(mktemp -d) && {m} && {cp}; umount \"$d\"; rmdir \"$d\""),
        None => cp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_commands_on_the_running_system() {
        let view = View {
            tree: Tree {
                dir: crate::check::open_dir(Path::new("/")).unwrap(),
            },
            at: Some("/".into()),
            mounts: vec!["var/lib/hidden".into()],
            beneath: Some("mount -o ro,subvol=root /dev/vda2 \"$d\"".into()),
        };
        let cmd = |rel: &str, copy: &str, dir: bool| {
            copy_command(&view, Path::new("/"), Path::new(rel), Path::new(copy), dir)
        };
        assert_eq!(
            cmd("var/lib/foo", "/persist/var/lib/foo", true),
            "cp -a --parents /var/lib/foo /persist"
        );
        assert_eq!(
            cmd("etc/my app.conf", "/nix/persist/etc/my app.conf", false),
            "cp -a --parents '/etc/my app.conf' /nix/persist"
        );
        assert_eq!(
            cmd("var/lib/foo", "/data/foo", true),
            "mkdir -p /data/foo && cp -a /var/lib/foo/. /data/foo/"
        );
        assert_eq!(
            cmd("etc/foo.conf", "/data/foo.conf", false),
            "mkdir -p /data && cp -a /etc/foo.conf /data/foo.conf"
        );
        assert_eq!(
            cmd("var/lib/hidden", "/persist/var/lib/hidden", true),
            "d=$(mktemp -d) && mount -o ro,subvol=root /dev/vda2 \"$d\" && (cd \"$d\" && cp -a --parents var/lib/hidden /persist); umount \"$d\"; rmdir \"$d\""
        );
    }
}
