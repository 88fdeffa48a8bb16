//! Logging to `/dev/kmsg` (one `<priority>`-prefixed record per line) and to stderr.
//!
//! The kernel takes one record per `write(2)` and rejects writes over 1024 bytes (less on older
//! kernels), so long lines are cut at 976 bytes. `/dev/kmsg` is opened again for every record:
//! user space gets 10 records per 5 s per open file before the kernel drops them.
//!
//! Hand-written on purpose: no crate gets this right. `kernlog` maps the levels one step off and
//! does not cap the length; `simplelog`'s writer logs fragments, each of which becomes a record.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::path::PathBuf;

pub const MAX_RECORD: usize = 976;
const TAG: &str = "blankroot";

pub struct Logger {
    level: LevelFilter,
    kmsg: Option<PathBuf>,
}

/// Installs the logger. `BLANKROOT_KMSG` names another file to append the records to (tests),
/// or `none` for no kernel log.
pub fn init(level: LevelFilter) {
    let kmsg = match std::env::var_os("BLANKROOT_KMSG") {
        Some(v) if v == "none" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from("/dev/kmsg")),
    };
    // A second init (tests calling the CLI in one process) keeps the first logger.
    if log::set_boxed_logger(Box::new(Logger { level, kmsg })).is_ok() {
        log::set_max_level(level);
    }
}

pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The kmsg records for one message: each line prefixed, none longer than [`MAX_RECORD`].
pub fn records(level: Level, message: &str) -> Vec<String> {
    let prefix = format!("<{}>{TAG}: ", priority(level));
    let room = MAX_RECORD - prefix.len() - 1;
    let mut out = Vec::new();
    for line in message.lines().filter(|l| !l.trim().is_empty()) {
        let mut rest = line;
        while !rest.is_empty() {
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(format!("{prefix}{}\n", &rest[..cut]));
            rest = &rest[cut..];
        }
    }
    out
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let label = match record.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        // One write per message: stderr is unbuffered, and `writeln!` of the parts would be four
        // writes per line (four wake-ups of journald's stream reader at boot, and lines of two
        // runs could interleave).
        let mut text = String::with_capacity(message.len() + 16);
        for line in message.lines() {
            text.push_str(TAG);
            text.push_str(": ");
            text.push_str(label);
            text.push_str(line);
            text.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        if let Some(path) = &self.kmsg {
            for rec in records(record.level(), &message) {
                let file = std::fs::OpenOptions::new().append(true).open(path);
                // The kernel log is a copy; losing it must never stop a rollback.
                if let Ok(mut f) = file {
                    let _ = f.write_all(rec.as_bytes());
                }
            }
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_prefixed_record_per_line() {
        let r = records(Level::Warn, "first\nsecond\n\n");
        assert_eq!(r, vec!["<4>blankroot: first\n", "<4>blankroot: second\n"]);
    }

    #[test]
    fn long_lines_are_split_under_the_kernel_limit() {
        let long = "é".repeat(2000);
        let r = records(Level::Error, &long);
        assert!(r.len() >= 4);
        for rec in &r {
            assert!(rec.len() <= MAX_RECORD, "{}", rec.len());
            assert!(rec.starts_with("<3>blankroot: "));
        }
        let joined: String = r
            .iter()
            .map(|x| {
                x.trim_start_matches("<3>blankroot: ")
                    .trim_end_matches('\n')
            })
            .collect();
        assert_eq!(joined, long);
    }
}
