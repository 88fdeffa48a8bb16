//! `blankroot diff --suggest impermanence|preservation`: what the next boot would erase, as
//! persistence entries ready to paste (one Nix expression on stdout).
//!
//! - `system`: what is read of the live system (account names, the directories units declare),
//!   beneath the root of the compared tree;
//! - `plan`: which lost paths to persist and how (pure);
//! - `nix`: the expression (pure).

pub mod nix;
pub mod plan;
pub mod system;

use super::model::Diff;
use super::Suggest;
use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

pub const DEFAULT_PERSIST_DIR: &str = "/persist";

/// The expression for a diff.
pub fn suggest(d: &Diff, sys: &system::System, module: Suggest, persist_dir: &str) -> String {
    let persist_rel = Path::new(persist_dir.trim_start_matches('/'));
    let p = plan::plan(d, &sys.unit_dirs, persist_rel);
    nix::render(
        &p,
        &nix::Context {
            module,
            persist_dir,
            system: sys,
            recreated: d.recreated,
            errors: d.errors.len(),
        },
    )
}

/// The persistent directory as written into the expression: absolute, without `.`, `..` or
/// repeated slashes, not `/`, and something Nix can hold. `what` names where it came from.
pub fn persist_dir(what: &str, p: &Path) -> Result<String> {
    let bad = |why: &str| {
        Error::usage(format!(
            "{what} {}: {why}; give the persistent directory, such as {DEFAULT_PERSIST_DIR}",
            p.display()
        ))
    };
    if !p.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    let mut clean = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => clean.push(n),
            Component::ParentDir | Component::Prefix(_) => return Err(bad("`..` is not allowed")),
        }
    }
    if clean == Path::new("/") {
        return Err(bad("that is the root itself"));
    }
    if !plan::printable(&clean) {
        return Err(bad("not a name Nix can hold as it is"));
    }
    Ok(clean.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests;
