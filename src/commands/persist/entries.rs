//! The entries to add for what was persisted, in the forms `diff --suggest` writes (its
//! `nix` writer): one line for impermanence, one for preservation, with the owner and mode
//! the module must give a directory it makes (and a file's parent directory).

use crate::commands::diff::suggest::nix::{self, Context};
use crate::commands::diff::suggest::persist_dir;
use crate::commands::diff::suggest::plan::{printable, Item, Owner, Plan};
use crate::commands::diff::suggest::system::{parse_ids, System};
use crate::commands::diff::{model::Perms, Suggest};
use crate::copy::source;
use rustix::fs::{FileType, Stat};
use std::path::{Path, PathBuf};

/// A PATH copied (or, with `--dry-run`, to be copied).
pub struct Persisted {
    /// Relative to `/`.
    rel: PathBuf,
    stat: Stat,
    parent: Option<Stat>,
}

impl Persisted {
    pub fn of(item: &super::Item<'_>) -> Persisted {
        Persisted {
            rel: item.wanted.parts.iter().collect(),
            stat: item.found.stat,
            parent: item.found.parents.last().copied(),
        }
    }
}

fn perms(st: &Stat) -> Perms {
    Perms {
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode,
    }
}

pub fn print(done: &[Persisted], store: &str) {
    // A store Nix cannot hold as a string as it is gets no entries.
    let Ok(store) = persist_dir("--to", Path::new(store)) else {
        return;
    };
    if done.is_empty() {
        return;
    }
    let ids = |f: &str| parse_ids(&std::fs::read_to_string(f).unwrap_or_default());
    let system = System {
        users: ids("/etc/passwd"),
        groups: ids("/etc/group"),
        ..System::default()
    };
    let mut plan = Plan::default();
    for p in done {
        if !printable(&p.rel) {
            println!(
                "note: /{} is not a name a Nix string holds as it is: write its entry by hand",
                p.rel.display()
            );
            continue;
        }
        let is_dir = source::kind(&p.stat) == FileType::Directory;
        // A file's directory: what the module must make it like, unless root's 0755.
        let parent = p
            .parent
            .filter(|d| !is_dir && (d.st_uid, d.st_gid, d.st_mode & 0o7777) != (0, 0, 0o755))
            .map(|d| perms(&d));
        let item = Item {
            path: p.rel.clone(),
            perms: Some(perms(&p.stat)),
            parent,
            owner: Owner::Dir(p.rel.clone()),
        };
        if is_dir {
            plan.directories.push(item);
        } else {
            plan.files.push(item);
        }
    }
    for (module, name) in [
        (Suggest::Impermanence, "impermanence"),
        (Suggest::Preservation, "preservation"),
    ] {
        let cx = Context {
            module,
            persist_dir: &store,
            system: &system,
            recreated: 0,
            errors: 0,
        };
        for line in nix::lines(&plan, &cx) {
            println!("add for {name}: {line}");
        }
    }
}
