//! `blankroot restore`: copies paths back out of an archived root (issue 11). Never writes into
//! an archive.

use crate::target::Target;
use std::path::PathBuf;

/// What to restore, from where, to where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// An archive's name, or `latest`.
    pub from: String,
    /// Copy under this directory instead of into `/`.
    pub to: Option<PathBuf>,
    pub force: bool,
    pub dry_run: bool,
    /// Absolute paths as they were in the old root.
    pub paths: Vec<PathBuf>,
}

pub fn run(_target: &Target, _req: &Request) -> u8 {
    eprintln!("blankroot: error: restore: not there yet");
    1
}
