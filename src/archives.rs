//! `blankroot archives`: the archived roots, newest first (issue 11). Read-only.

use crate::target::Target;

pub fn run(_target: &Target, _json: bool) -> u8 {
    eprintln!("blankroot: error: archives: not there yet");
    1
}
