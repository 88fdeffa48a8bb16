//! The quietest loss: a path the configuration persists whose persistent copy is missing or
//! empty while its data is still only on the root. The next boot mounts the empty copy over it
//! and the wipe takes the data; the finding gives the command that copies it now.

use super::persist::{managed, mounted, sh_word, Lists, View};
use super::tree::{Found, Kind};
use std::path::Path;

/// A persisted path whose persistent copy is missing or empty while the root holds its data.
pub(super) fn unsaved(view: &View, lists: &Lists, path: &Path, stored: &Path) -> Option<String> {
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
    use crate::commands::check::tree::Tree;

    #[test]
    fn copy_commands_on_the_running_system() {
        let view = View {
            tree: Tree {
                dir: crate::commands::check::open_dir(Path::new("/")).unwrap(),
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
