//! The suggestion as one Nix expression (pure).
//!
//! The entry forms are the ones the two modules document (read at impermanence 7b1d382,
//! 2026-01, and preservation 93416f4, 2025-09):
//! - impermanence (nix-community/impermanence, README.org, "directories" and "files"): a path
//!   string, or `{ directory = ...; user = ...; group = ...; mode = ...; }` (applied when the
//!   directory is created; the default is root, root, 0755), and
//!   `{ file = ...; parentDirectory = { user; group; mode; }; }` for a file whose directory must
//!   be made with other permissions. Files have no owner or mode of their own there.
//! - preservation (nix-community/preservation, docs/src/examples.md and
//!   docs/src/impermanence-migration.md, options.nix): `{ directory = ...; user; group; mode; }`
//!   and `{ file = ...; user; group; mode; }`, whose defaults (root, root, 0755 for directories
//!   and 0644 for files) are *applied*, so anything else must be said; `inInitrd = true` for what
//!   is needed early (`/etc/machine-id`; `/var/lib/nixos` in the examples); `how = "symlink";
//!   configureParent = true;` for the SSH host keys, and with `inInitrd = true` for
//!   `/var/lib/systemd/random-seed`, as the examples give them (a symlink's target is left
//!   alone: no owner or mode); `configureParent = true; parent = { ... };` for a file whose
//!   directory needs other permissions.
//!
//! Also `inInitrd = true` here: the host keys (sops-nix and agenix decrypt with them during
//! activation, before the units that would set up the links run) and `/var/log`.

use super::super::model::Perms;
use super::super::output::{escape, show};
use super::super::Suggest;
use super::plan::{Item, Owner, Plan};
use super::system::System;
use std::fmt::Write;
use std::path::Path;

/// What the expression needs besides the plan.
pub struct Context<'a> {
    pub module: Suggest,
    /// Absolute (`/persist`).
    pub persist_dir: &'a str,
    pub system: &'a System,
    /// Entries the diff left out as recreated by NixOS at every boot.
    pub recreated: u64,
    /// Paths the diff could not read.
    pub errors: usize,
}

/// A Nix string literal. Nix has `\n`, `\r`, `\t`; any other escaped character stands for
/// itself, so `\"`, `\\` and `\${` keep quotes, backslashes and interpolations literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `/etc/machine-id` as a Nix string (the plan only keeps paths Nix can hold).
fn path(rel: &Path) -> String {
    let mut abs = String::from("/");
    abs.push_str(&rel.to_string_lossy());
    string(&abs)
}

/// Early in boot: preservation prepares these in the initrd.
fn early(rel: &Path) -> bool {
    ["etc/machine-id", "var/lib/nixos", "var/log"]
        .iter()
        .any(|p| rel.starts_with(p))
        || host_key(rel)
        || rel == Path::new("var/lib/systemd/random-seed")
}

fn host_key(rel: &Path) -> bool {
    rel.parent() == Some(Path::new("etc/ssh"))
        && rel
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("ssh_host_"))
}

/// Preservation's documented symlinks.
fn symlinked(rel: &Path) -> bool {
    host_key(rel) || rel == Path::new("var/lib/systemd/random-seed")
}

fn perm_pairs(p: &Perms, sys: &System) -> Vec<(&'static str, String)> {
    vec![
        ("user", string(&sys.user(p.uid))),
        ("group", string(&sys.group(p.gid))),
        ("mode", string(&format!("{:04o}", p.mode & 0o7777))),
    ]
}

fn set(pairs: &[(&str, String)]) -> String {
    let mut s = String::from("{");
    for (k, v) in pairs {
        let _ = write!(s, " {k} = {v};");
    }
    s.push_str(" }");
    s
}

/// One element of `directories` or `files`.
fn element(item: &Item, is_dir: bool, cx: &Context) -> String {
    let rel = item.path.as_path();
    let key = if is_dir { "directory" } else { "file" };
    let default = if is_dir { 0o755 } else { 0o644 };
    let differs = |p: &&Perms| (p.uid, p.gid, p.mode & 0o7777) != (0, 0, default);
    let mut pairs = vec![(key, path(rel))];
    match cx.module {
        Suggest::Impermanence => {
            if is_dir {
                if let Some(p) = item.perms.as_ref().filter(differs) {
                    pairs.extend(perm_pairs(p, cx.system));
                }
            } else if let Some(p) = &item.parent {
                pairs.push(("parentDirectory", set(&perm_pairs(p, cx.system))));
            }
        }
        Suggest::Preservation => {
            if !is_dir && symlinked(rel) {
                pairs.push(("how", string("symlink")));
            } else if let Some(p) = item.perms.as_ref().filter(differs) {
                pairs.extend(perm_pairs(p, cx.system));
            }
            if early(rel) {
                pairs.push(("inInitrd", "true".into()));
            }
            if !is_dir && symlinked(rel) {
                pairs.push(("configureParent", "true".into()));
            } else if let Some(p) = &item.parent {
                pairs.push(("configureParent", "true".into()));
                pairs.push(("parent", set(&perm_pairs(p, cx.system))));
            }
        }
    }
    if pairs.len() == 1 {
        pairs.remove(0).1
    } else {
        set(&pairs)
    }
}

fn label(o: &Owner) -> String {
    match o {
        Owner::Unit(u) => escape(u.as_bytes()),
        Owner::Dir(d) => show(d),
    }
}

/// `name = [ ... ];`, the items grouped under a comment naming their owner, groups in the
/// order of their first path.
fn list(out: &mut String, name: &str, items: &[Item], is_dir: bool, cx: &Context) {
    if items.is_empty() {
        let _ = writeln!(out, "    {name} = [ ];");
        return;
    }
    let mut groups: Vec<(&Owner, Vec<&Item>)> = Vec::new();
    for i in items {
        match groups.iter_mut().find(|g| *g.0 == i.owner) {
            Some(g) => g.1.push(i),
            None => groups.push((&i.owner, vec![i])),
        }
    }
    let _ = writeln!(out, "    {name} = [");
    for (owner, items) in groups {
        let _ = writeln!(out, "      # {}", label(owner));
        for i in items {
            let _ = writeln!(out, "      {}", element(i, is_dir, cx));
        }
    }
    let _ = writeln!(out, "    ];");
}

/// The module's name and the attribute its entries go under.
fn attr(module: Suggest) -> (&'static str, &'static str) {
    match module {
        Suggest::Impermanence => ("impermanence", "environment.persistence"),
        Suggest::Preservation => ("preservation", "preservation.preserveAt"),
    }
}

/// The plan's entries as one line per list (`environment.persistence."/persist".directories =
/// [ "/var/lib/foo" ];`), for `blankroot persist`, which names the paths it has just copied.
pub fn lines(plan: &Plan, cx: &Context) -> Vec<String> {
    let (_, attr) = attr(cx.module);
    let mut out = Vec::new();
    for (name, items, is_dir) in [
        ("directories", &plan.directories, true),
        ("files", &plan.files, false),
    ] {
        if !items.is_empty() {
            let els: Vec<String> = items.iter().map(|i| element(i, is_dir, cx)).collect();
            out.push(format!(
                "{attr}.{}.{name} = [ {} ];",
                string(cx.persist_dir),
                els.join(" ")
            ));
        }
    }
    out
}

pub fn render(plan: &Plan, cx: &Context) -> String {
    let (module, attr) = attr(cx.module);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# blankroot diff --suggest {module}: what the next boot erases, as entries to persist"
    );
    out.push_str("{\n");
    if cx.errors > 0 {
        let _ = writeln!(
            out,
            "  # incomplete: {} paths could not be read (the listing names them)",
            cx.errors
        );
    }
    for (p, why) in &plan.left_out {
        let _ = writeln!(
            out,
            "  # left out: {} ({})",
            show(p),
            escape(why.as_bytes())
        );
    }
    if cx.recreated > 0 {
        let _ = writeln!(
            out,
            "  # left out: {} entries NixOS recreates at every boot (/etc links, /tmp, /run...)",
            cx.recreated
        );
    }
    let _ = writeln!(out, "  {attr}.{} = {{", string(cx.persist_dir));
    list(&mut out, "directories", &plan.directories, true, cx);
    list(&mut out, "files", &plan.files, false, cx);
    out.push_str("  };\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_strings_keep_every_character_literal() {
        assert_eq!(string("/var/lib/foo"), "\"/var/lib/foo\"");
        assert_eq!(
            string("a\"b\\c\nd\te\rf${g}$h$${i}"),
            "\"a\\\"b\\\\c\\nd\\te\\rf\\${g}$h$\\${i}\""
        );
    }
}
