//! The quietest loss: a path the configuration persists whose persistent copy is missing or
//! empty while its data is still only on the root. The next boot mounts the empty copy over it
//! and the wipe takes the data; the finding gives the command that copies it now.

use super::persist::{managed, mounted, sh_word, Lists, View};
use super::tree::{Found, Kind};
use crate::mount_point::MountPoint;
use std::path::{Path, PathBuf};

/// A persisted path whose persistent copy is missing or empty while the target holds its data.
pub(super) fn unsaved(view: &View, lists: &Lists, path: &Path, stored: &Path) -> Option<String> {
    let at = view.at.as_deref()?;
    let mp = &view.tree.mount_point;
    let rel = mp.strip(path).filter(|r| !r.as_os_str().is_empty())?;
    // Mounted on the running system: the data there is the persistent copy, unless the
    // target's own data lies beneath the mount and can be seen (Btrfs).
    let exact = view.mounts.iter().any(|m| m == path);
    let hidden = exact && view.beneath.is_some();
    if exact && !hidden {
        return None;
    }
    let except = hidden.then_some(path);
    let safe = |a: &Path| mounted(view, a, except) || managed(a);
    let Found::OnRoot {
        rel: real, kind, ..
    } = view.tree.find(path, &safe)
    else {
        return None;
    };
    if real != rel || !view.tree.holds_data(&real, kind, &safe) {
        return None;
    }
    // The persistent copy on this system: under the system's `/` as the target's mount shows
    // it (the mount point's directory when the target is mounted there), else at its path.
    let stored_rel = stored.strip_prefix("/").unwrap_or(stored);
    let copy = match system_root(at, mp) {
        Some(sys) => sys.join(stored_rel),
        None => stored.to_path_buf(),
    };
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
    let to = Persist {
        dir: &lists.persist_dir,
        force: state == "is empty",
    };
    let command = copy_command(view, at, &rel, &copy, kind == Kind::Dir, &to);
    let after = if lists.archived {
        format!(
            "once wiped, `blankroot restore {}` copies it back from the archived {}",
            sh_word(path.as_os_str()),
            if mp.is_root() {
                "root".to_string()
            } else {
                mp.to_string()
            }
        )
    } else {
        format!(
            "once wiped it is gone: the rollback deletes the old {} (no --archive-dir)",
            if mp.is_root() {
                "root".to_string()
            } else {
                mp.to_string()
            }
        )
    };
    let under = if hidden {
        format!(" (under the mount on {})", path.display())
    } else {
        String::new()
    };
    Some(format!(
        "{} is persisted, but its persistent copy {} {state} while its data is still only on {}{under}: the next boot mounts the empty copy over it and wipes the data. Copy it now: `{command}`; {after}",
        path.display(),
        stored.display(),
        lists.on()
    ))
}

/// The directory that shows the system's `/` when the target, mounted on `mp` there, is seen
/// at `at` (`at` itself for the root; `/` for a /home seen on /home), if `at` tells.
fn system_root(at: &Path, mp: &MountPoint) -> Option<PathBuf> {
    let rel = mp.as_path().strip_prefix("/").ok()?;
    if rel.as_os_str().is_empty() {
        return Some(at.to_path_buf());
    }
    at.ends_with(rel)
        .then(|| at.ancestors().nth(rel.components().count()))
        .flatten()
        .map(Path::to_path_buf)
}

/// What `blankroot persist` needs to make the copy: the persistent directory it copies to
/// without `--to` (the configuration's), and whether a copy is there already (`--force`).
struct Persist<'a> {
    dir: &'a str,
    force: bool,
}

/// The command that copies `rel` (relative to the target, which is seen at `at`) to `copy`
/// (a path on this system): `blankroot persist` when the data is at its path on the running
/// system and the copy where the persistent directory puts it, else `cp -a`.
fn copy_command(
    view: &View,
    at: &Path,
    rel: &Path,
    copy: &Path,
    dir: bool,
    persist: &Persist<'_>,
) -> String {
    let w = |p: &Path| sh_word(p.as_os_str());
    let mp = &view.tree.mount_point;
    // From where the target is mounted, or from a private mount of it when the data is hidden.
    let mount = match &view.beneath {
        Some(m) if view.mounts.iter().any(|x| *x == mp.join(rel)) => Some(m),
        _ => None,
    };
    // The directory to copy from and the path beneath it that the copy's path ends with: the
    // system's `/` and the absolute path when it is known, else the target itself and `rel`.
    let (from, sub) = match (mount, system_root(at, mp)) {
        (Some(_), _) => ("\"$d\"".to_string(), rel.to_path_buf()),
        (None, Some(sys)) => (
            w(&sys),
            mp.join(rel).strip_prefix("/").unwrap_or(rel).into(),
        ),
        (None, None) => (w(at), rel.to_path_buf()),
    };
    let src = match mount {
        Some(_) => format!("\"$d\"/{}", w(rel)),
        None => w(&at.join(rel)),
    };
    // `cp -a --parents` keeps the directories above it as they are, when the copy is where
    // impermanence and preservation put it: the persistent directory followed by the path.
    let base = copy
        .to_str()
        .zip(sub.to_str())
        .and_then(|(c, r)| c.strip_suffix(r))
        .and_then(|p| p.strip_suffix('/'))
        .filter(|p| !p.is_empty());
    let whole = sub.components().count() > rel.components().count();
    let cp = match base {
        Some(base) if mount.is_none() && from == "/" => format!(
            "blankroot persist {}{}{src}",
            if persist.force { "--force " } else { "" },
            if base == persist.dir {
                String::new()
            } else {
                format!("--to {} ", w(Path::new(base)))
            }
        ),
        // Below the target's top, the directories above the copy may be missing.
        Some(base) if !whole && !mp.is_root() => format!(
            "mkdir -p {b} && (cd {from} && cp -a --parents {} {b})",
            w(&sub),
            b = w(Path::new(base))
        ),
        Some(base) => format!(
            "(cd {from} && cp -a --parents {} {})",
            w(&sub),
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
    use crate::commands::check::tree::Tree;

    #[test]
    fn copy_commands_on_the_running_system() {
        let view = View {
            tree: Tree {
                dir: crate::commands::check::open_dir(Path::new("/")).unwrap(),
                mount_point: MountPoint::root(),
            },
            at: Some("/".into()),
            mounts: vec!["/var/lib/hidden".into()],
            beneath: Some("mount -o ro,subvol=root /dev/vda2 \"$d\"".into()),
        };
        let to = Persist {
            dir: "/persist",
            force: false,
        };
        let cmd = |rel: &str, copy: &str, dir: bool| {
            copy_command(
                &view,
                Path::new("/"),
                Path::new(rel),
                Path::new(copy),
                dir,
                &to,
            )
        };
        assert_eq!(
            cmd("var/lib/foo", "/persist/var/lib/foo", true),
            "blankroot persist /var/lib/foo"
        );
        assert_eq!(
            cmd("etc/my app.conf", "/nix/persist/etc/my app.conf", false),
            "blankroot persist --to /nix/persist '/etc/my app.conf'"
        );
        let empty = Persist {
            dir: "/persist",
            force: true,
        };
        assert_eq!(
            copy_command(
                &view,
                Path::new("/"),
                Path::new("var/lib/bar"),
                Path::new("/persist/var/lib/bar"),
                true,
                &empty
            ),
            "blankroot persist --force /var/lib/bar"
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

    #[test]
    fn copy_commands_for_a_target_below_the_root() {
        let home = MountPoint::parse("test", "/home").unwrap();
        let view = |at: &str| View {
            tree: Tree {
                dir: crate::commands::check::open_dir(Path::new("/")).unwrap(),
                mount_point: home.clone(),
            },
            at: Some(at.into()),
            mounts: vec!["/home/alice/hidden".into()],
            beneath: Some("mount -o ro,subvol=home /dev/vda2 \"$d\"".into()),
        };
        let cmd = |at: &str, rel: &str, copy: &str| {
            copy_command(
                &view(at),
                Path::new(at),
                Path::new(rel),
                Path::new(copy),
                true,
                &Persist {
                    dir: "/persist",
                    force: false,
                },
            )
        };
        // Seen on /home: the system's paths.
        assert_eq!(
            cmd("/home", "alice/docs", "/persist/home/alice/docs"),
            "blankroot persist /home/alice/docs"
        );
        // A system seen under a directory, its /home there.
        assert_eq!(
            cmd(
                "/mnt/sys/home",
                "alice/docs",
                "/mnt/sys/persist/home/alice/docs"
            ),
            "(cd /mnt/sys && cp -a --parents home/alice/docs /mnt/sys/persist)"
        );
        // Mounted elsewhere: from the target itself, the directories above made first.
        assert_eq!(
            cmd("/srv/h", "alice/docs", "/persist/home/alice/docs"),
            "mkdir -p /persist/home && (cd /srv/h && cp -a --parents alice/docs /persist/home)"
        );
        assert_eq!(
            cmd("/home", "alice/hidden", "/persist/home/alice/hidden"),
            "d=$(mktemp -d) && mount -o ro,subvol=home /dev/vda2 \"$d\" && mkdir -p /persist/home && (cd \"$d\" && cp -a --parents alice/hidden /persist/home); umount \"$d\"; rmdir \"$d\""
        );
        assert_eq!(system_root(Path::new("/home"), &home), Some("/".into()));
        assert_eq!(system_root(Path::new("/x/home"), &home), Some("/x".into()));
        assert_eq!(system_root(Path::new("/srv/h"), &home), None);
        assert_eq!(
            system_root(Path::new("/srv/h"), &MountPoint::root()),
            Some("/srv/h".into())
        );
    }
}
