//! `blankroot status`: the record of the last run, for people (`--json` for scripts) and for
//! blankroot-status.service (`--check`).

use crate::host::Host;
use crate::status::Status;
use std::path::PathBuf;

/// What `status` is asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub status_file: PathBuf,
    pub json: bool,
    /// Exit 1 unless the record is from this boot and the run did not fail.
    pub check: bool,
}

/// Prints the record and returns the exit code. `pending_skip` says when a skip-next-boot
/// request is pending (it looks at the disk: not called with `--check`).
pub fn run(args: &Options, host: &Host, pending_skip: impl FnOnce() -> Option<String>) -> u8 {
    let record = match Status::read(&args.status_file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("blankroot: {e}");
            return e.exit_code();
        }
    };
    let boot = host.boot_id();
    if args.json {
        println!("{}", record.to_json());
    } else {
        print!("{}", record.render(boot.as_deref()));
        // Not with --check (blankroot-status.service at every boot): that only needs the
        // record, not a look at the disk.
        if let Some(when) = (!args.check).then(pending_skip).flatten() {
            println!(
                "  pending: skip-next-boot, requested at {when}: the next boot leaves / as it is (blankroot skip-next-boot --cancel withdraws it)"
            );
        }
    }
    let this_boot = record.boot_id.is_some() && record.boot_id == boot;
    if args.check && !(this_boot && record.succeeded()) {
        eprintln!(
            "blankroot: {}",
            if this_boot {
                "the rollback failed this boot: / was not reset"
            } else {
                "the rollback did not run this boot: / was not reset"
            }
        );
        return 1;
    }
    0
}
