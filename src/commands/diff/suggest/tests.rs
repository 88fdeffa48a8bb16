//! The whole expression for a known diff, for both modules, byte for byte.

use super::system::{Dirs, Setting, System, UnitDir};
use super::*;
use crate::commands::diff::model::{Change, Entry, Kind, Perms, Whats};

fn entry(path: &str, change: Change, kind: Kind, (uid, gid, mode): (u32, u32, u32)) -> Entry {
    Entry {
        path: path.into(),
        change,
        kind,
        was: None,
        size: 1,
        what: Whats::default(),
        target: (kind == Kind::Symlink).then(|| b"private/dyn".to_vec()),
        subvolume: false,
        perms: Some(Perms { uid, gid, mode }),
    }
}

/// A root with a little of everything: a service's state (user-owned, 0750), a DynamicUser
/// service, the host keys, machine-id, the uid map, the journal, a cache, a home directory.
fn known() -> (Diff, System) {
    use Change::*;
    use Kind::*;
    let root = (0, 0, 0o755);
    let mut d = Diff::default();
    for (p, c, k, perms) in [
        ("etc", Modified, Dir, root),
        ("etc/adjtime", Created, File, (0, 0, 0o644)),
        ("etc/machine-id", Created, File, (0, 0, 0o444)),
        ("etc/ssh", Created, Dir, root),
        ("etc/ssh/ssh_host_ed25519_key", Created, File, (0, 0, 0o600)),
        (
            "etc/ssh/ssh_host_ed25519_key.pub",
            Created,
            File,
            (0, 0, 0o644),
        ),
        ("etc/sudoers", Created, File, (0, 0, 0o440)),
        ("srv", Created, Dir, (1000, 100, 0o700)),
        ("srv/we\"ird ${x}", Created, File, (1000, 100, 0o600)),
        ("var/cache/foo", Created, Dir, (991, 990, 0o750)),
        ("var/cache/foo/blob", Created, File, (991, 990, 0o640)),
        ("var/lib/dyn", Created, Symlink, root),
        ("var/lib/foo", Created, Dir, (991, 990, 0o750)),
        ("var/lib/foo/db", Created, File, (991, 990, 0o640)),
        ("var/lib/nixos", Created, Dir, root),
        ("var/lib/nixos/uid-map", Created, File, (0, 0, 0o644)),
        ("var/lib/private", Created, Dir, (0, 0, 0o700)),
        ("var/lib/private/dyn", Created, Dir, (61184, 61184, 0o755)),
        (
            "var/lib/private/dyn/state",
            Created,
            File,
            (61184, 61184, 0o644),
        ),
        ("var/lib/systemd/random-seed", Created, File, (0, 0, 0o600)),
        ("var/log", Modified, Dir, root),
        ("var/log/journal", Created, Dir, (0, 190, 0o2755)),
        (
            "var/log/journal/system.journal",
            Created,
            File,
            (0, 190, 0o640),
        ),
        ("var/olddir", Deleted, Dir, root),
    ] {
        d.entries.push(entry(p, c, k, perms));
    }
    // var/log was empty in the blank; something in srv was left out (a mount point, say).
    for w in [
        "etc/ssh",
        "var/cache/foo",
        "var/lib/foo",
        "var/lib/nixos",
        "var/lib/private",
        "var/lib/private/dyn",
        "var/log",
        "var/log/journal",
    ] {
        d.add_whole(w.into(), None);
    }
    d.recreated = 12;
    d.sort();
    let mut dirs = Dirs::default();
    dirs.apply("[Service]\nStateDirectory=foo\nCacheDirectory=foo\nLogsDirectory=foo\n");
    let mut dyn_dirs = Dirs::default();
    dyn_dirs.apply("[Service]\nDynamicUser=yes\nStateDirectory=dyn\n");
    let mut unit_dirs: Vec<UnitDir> = dirs.paths("foo.service");
    unit_dirs.extend(dyn_dirs.paths("dyn.service"));
    unit_dirs.push(UnitDir {
        path: "var/log".into(),
        unit: "too-wide.service".into(),
        setting: Setting::Logs,
    });
    unit_dirs.sort();
    let sys = System {
        users: [(0, "root"), (991, "foo")]
            .map(|(i, n)| (i, n.to_string()))
            .into(),
        groups: [(0, "root"), (990, "foo"), (190, "systemd-journal")]
            .map(|(i, n)| (i, n.to_string()))
            .into(),
        unit_dirs,
        units: 2,
    };
    (d, sys)
}

const LEFT_OUT: &str = r#"  # left out: /etc/sudoers (NixOS writes it at every activation)
  # left out: /var/cache/foo (cache)
  # left out: /var/lib/dyn (a symlink systemd makes for a unit with DynamicUser=)
  # left out: 12 entries NixOS recreates at every boot (/etc links, /tmp, /run...)
"#;

#[test]
fn impermanence_entries_for_a_known_diff() {
    let (d, sys) = known();
    let got = suggest(&d, &sys, Suggest::Impermanence, "/persist");
    let want = format!(
        r#"# blankroot diff --suggest impermanence: what the next boot erases, as entries to persist
{{
{LEFT_OUT}  environment.persistence."/persist" = {{
    directories = [
      # foo.service
      {{ directory = "/var/lib/foo"; user = "foo"; group = "foo"; mode = "0750"; }}
      # /var/lib/nixos
      "/var/lib/nixos"
      # /var/lib/private
      {{ directory = "/var/lib/private"; user = "root"; group = "root"; mode = "0700"; }}
      # too-wide.service
      "/var/log"
    ];
    files = [
      # /etc
      "/etc/adjtime"
      "/etc/machine-id"
      # /etc/ssh
      "/etc/ssh/ssh_host_ed25519_key"
      "/etc/ssh/ssh_host_ed25519_key.pub"
      # /srv
      {{ file = "/srv/we\"ird \${{x}}"; parentDirectory = {{ user = "1000"; group = "100"; mode = "0700"; }}; }}
      # /var/lib/systemd
      "/var/lib/systemd/random-seed"
    ];
  }};
}}
"#
    );
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn preservation_entries_for_a_known_diff() {
    let (d, sys) = known();
    let got = suggest(&d, &sys, Suggest::Preservation, "/state/root");
    let want = format!(
        r#"# blankroot diff --suggest preservation: what the next boot erases, as entries to persist
{{
{LEFT_OUT}  preservation.preserveAt."/state/root" = {{
    directories = [
      # foo.service
      {{ directory = "/var/lib/foo"; user = "foo"; group = "foo"; mode = "0750"; }}
      # /var/lib/nixos
      {{ directory = "/var/lib/nixos"; inInitrd = true; }}
      # /var/lib/private
      {{ directory = "/var/lib/private"; user = "root"; group = "root"; mode = "0700"; }}
      # too-wide.service
      {{ directory = "/var/log"; inInitrd = true; }}
    ];
    files = [
      # /etc
      "/etc/adjtime"
      {{ file = "/etc/machine-id"; user = "root"; group = "root"; mode = "0444"; inInitrd = true; }}
      # /etc/ssh
      {{ file = "/etc/ssh/ssh_host_ed25519_key"; how = "symlink"; inInitrd = true; configureParent = true; }}
      {{ file = "/etc/ssh/ssh_host_ed25519_key.pub"; how = "symlink"; inInitrd = true; configureParent = true; }}
      # /srv
      {{ file = "/srv/we\"ird \${{x}}"; user = "1000"; group = "100"; mode = "0600"; configureParent = true; parent = {{ user = "1000"; group = "100"; mode = "0700"; }}; }}
      # /var/lib/systemd
      {{ file = "/var/lib/systemd/random-seed"; how = "symlink"; inInitrd = true; configureParent = true; }}
    ];
  }};
}}
"#
    );
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn nothing_lost_is_an_empty_suggestion() {
    let got = suggest(
        &Diff::default(),
        &System::default(),
        Suggest::Preservation,
        "/p",
    );
    assert_eq!(
        got,
        "# blankroot diff --suggest preservation: what the next boot erases, as entries to persist\n{\n  preservation.preserveAt.\"/p\" = {\n    directories = [ ];\n    files = [ ];\n  };\n}\n"
    );
}

#[test]
fn the_persistent_directory_is_checked() {
    let ok = |p: &str| persist_dir("--persist-dir", Path::new(p));
    assert_eq!(ok("/persist/").unwrap(), "/persist");
    assert_eq!(ok("//state/./root").unwrap(), "/state/root");
    for bad in ["persist", "/", "/a/../b", "/a\u{1b}"] {
        let e = ok(bad).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert!(e.message.starts_with("--persist-dir "), "{}", e.message);
    }
}
