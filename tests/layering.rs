//! One direction of imports (issue 10): the command line → the commands (`src/commands/`) →
//! `target` and `config` → the engines → the shared helpers. Read from the sources: every
//! `crate::NAME` a module uses (in `use` lines, groups and paths) is an edge from its top-level
//! module (a command counts as `commands`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

fn layer(module: &str) -> usize {
    match module {
        "cli" => 0,
        "commands" => 1,
        "target" | "config" => 2,
        "btrfs" | "zfs" => 3,
        _ => 4,
    }
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            out.push((rel.display().to_string(), fs::read_to_string(&p).unwrap()));
        }
    }
}

/// The top-level modules a source uses (`crate::btrfs::plan`, `use crate::{a, b}`).
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                found.insert(ident(part.trim()));
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let rel = path.trim_start_matches("src/");
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        if matches!(top, "lib" | "main" | "bin") {
            continue;
        }
        if ["src/btrfs/", "src/zfs/", "src/commands/"]
            .iter()
            .any(|d| path.starts_with(d))
        {
            assert!(
                !uses(text).contains("cli"),
                "{path} uses the command line's types"
            );
        }
        let deps = g.entry(top.to_string()).or_default();
        deps.extend(uses(text).into_iter().filter(|m| m != top));
    }
    g
}

#[test]
fn imports_go_one_way() {
    let g = graph();
    assert!(g.len() > 10, "modules not found: {g:?}");
    for (module, deps) in &g {
        for d in deps {
            let (from, to) = (layer(module), layer(d));
            assert!(
                to > from || (to == 4 && from == 4),
                "{module} (layer {from}) uses {d} (layer {to}): imports go from the command line to the helpers"
            );
        }
    }
}

#[test]
fn no_module_cycle() {
    let g = graph();
    // Depth-first search from every module; a module seen again on the current path is a cycle.
    fn visit<'a>(
        g: &'a BTreeMap<String, BTreeSet<String>>,
        m: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|p| *p == m) {
            panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for d in g.get(m).into_iter().flatten() {
            visit(g, d, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(&g, m, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_reader_finds_groups_and_paths() {
    let u = uses(
        "use crate::{config, kmsg::init};\nlet x = crate::btrfs::plan::plan(); // crate::cli\n",
    );
    assert_eq!(
        u.into_iter().collect::<Vec<_>>(),
        ["btrfs", "config", "kmsg"]
    );
}
