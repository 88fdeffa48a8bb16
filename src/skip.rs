//! `blankroot skip-next-boot`: a one-shot request, on the disk, that the next rollback leaves the
//! root as it is (issue 12).

use crate::target::Target;

pub fn run(_target: &Target, _cancel: bool) -> u8 {
    eprintln!("blankroot: error: skip-next-boot: not there yet");
    1
}
