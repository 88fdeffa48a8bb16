//! A progress line on stderr for work that can take a while (`diff` and `check` on a big root,
//! `persist` and `restore` of a big tree): `blankroot diff: 412,000 entries, 3 s`.
//!
//! By default it shows only when stderr is a terminal and the work has run for a second, is
//! redrawn in place at most every 200 ms and erased at the end, so stdout, logs and scripts never
//! see it. `BLANKROOT_PROGRESS=0` never shows it; `BLANKROOT_PROGRESS=1` always does, from the
//! start and one line per update (for a log, or a test), ending with the totals (`..., done`).

//!
//! A command starts it (`begin`) for the length of its work and ends it before it prints its
//! output; the engines only count (`tick`), which costs nothing when no command started one.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

thread_local! {
    static CURRENT: RefCell<Option<Progress>> = const { RefCell::new(None) };
}

/// Shows the progress of `what` (`diff`, `persist`) until the guard is dropped (the line erased,
/// or the totals written).
#[must_use = "the progress line ends when the guard is dropped"]
pub fn begin(what: &'static str) -> Guard {
    CURRENT.with(|c| *c.borrow_mut() = Some(Progress::new(what)));
    Guard(())
}

/// More entries done, and bytes of content, for the progress `begin` started (if any).
pub fn tick(entries: u64, bytes: u64) {
    CURRENT.with(|c| {
        if let Some(p) = c.borrow_mut().as_mut() {
            p.update(p.entries + entries, p.bytes + bytes);
        }
    });
}

pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut p) = CURRENT.with(|c| c.borrow_mut().take()) {
            p.finish();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Off,
    /// A terminal: after a second, redrawn in place, erased at the end.
    Terminal,
    /// Always, one line per update and the totals at the end.
    Lines,
}

/// Looking at the clock costs little, but not nothing: once per this many entries.
const EVERY: u64 = 256;
const DELAY: Duration = Duration::from_secs(1);
const PERIOD: Duration = Duration::from_millis(200);

pub struct Progress {
    mode: Mode,
    what: &'static str,
    start: Instant,
    next: Instant,
    entries: u64,
    bytes: u64,
    checked: u64,
    shown: bool,
}

impl Progress {
    /// The progress of `what` (`diff`, `persist`), shown as the environment and stderr say.
    pub fn new(what: &'static str) -> Self {
        let env = std::env::var_os("BLANKROOT_PROGRESS");
        Self::with_mode(
            what,
            mode(env.as_deref(), || std::io::stderr().is_terminal()),
        )
    }

    pub fn with_mode(what: &'static str, mode: Mode) -> Self {
        let start = Instant::now();
        Progress {
            mode,
            what,
            start,
            next: if mode == Mode::Terminal {
                start + DELAY
            } else {
                start
            },
            entries: 0,
            bytes: 0,
            checked: 0,
            shown: false,
        }
    }

    /// Entries done so far (and bytes, 0 when the work has none): cheap, call it for each one.
    pub fn update(&mut self, entries: u64, bytes: u64) {
        self.entries = entries;
        self.bytes = bytes;
        if self.mode == Mode::Off || entries < self.checked + EVERY {
            return;
        }
        self.checked = entries;
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + PERIOD;
        self.show(now, false);
    }

    /// The end of the work: the line erased (terminal), or the totals (`BLANKROOT_PROGRESS=1`).
    pub fn finish(&mut self) {
        match self.mode {
            Mode::Terminal if self.shown => write_err(b"\r\x1b[K"),
            Mode::Lines => self.show(Instant::now(), true),
            _ => {}
        }
        self.shown = false;
    }

    fn show(&mut self, now: Instant, done: bool) {
        let text = line(
            self.what,
            self.entries,
            self.bytes,
            now.duration_since(self.start).as_secs(),
            done,
        );
        let out = match self.mode {
            Mode::Terminal => format!("\r{text}\x1b[K"),
            _ => format!("{text}\n"),
        };
        write_err(out.as_bytes());
        self.shown = true;
    }
}

fn write_err(b: &[u8]) {
    let _ = std::io::stderr().write_all(b);
}

/// The mode for `BLANKROOT_PROGRESS`'s value (`tty`: whether stderr is a terminal).
pub fn mode(env: Option<&std::ffi::OsStr>, tty: impl FnOnce() -> bool) -> Mode {
    match env.and_then(|v| v.to_str()) {
        Some("0") => Mode::Off,
        Some("1") => Mode::Lines,
        _ if tty() => Mode::Terminal,
        _ => Mode::Off,
    }
}

/// `blankroot diff: 412,000 entries, 3 s`, `blankroot persist: 1,024 entries, 1.2 GiB, done`.
pub fn line(what: &str, entries: u64, bytes: u64, secs: u64, done: bool) -> String {
    let mut s = format!("blankroot {what}: {} entries", thousands(entries));
    if bytes > 0 {
        s.push_str(", ");
        s.push_str(&crate::archived::size(bytes));
    }
    if done {
        s.push_str(", done");
    } else {
        s.push_str(&format!(", {secs} s"));
    }
    s
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn lines() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            line("diff", 412_000, 0, 3, false),
            "blankroot diff: 412,000 entries, 3 s"
        );
        assert_eq!(
            line("persist", 1024, 1288490189, 9, true),
            "blankroot persist: 1,024 entries, 1.2 GiB, done"
        );
    }

    #[test]
    fn modes() {
        assert_eq!(mode(None, || true), Mode::Terminal);
        assert_eq!(mode(None, || false), Mode::Off);
        assert_eq!(mode(Some(OsStr::new("0")), || true), Mode::Off);
        assert_eq!(mode(Some(OsStr::new("1")), || false), Mode::Lines);
        assert_eq!(mode(Some(OsStr::new("yes")), || false), Mode::Off);
    }

    #[test]
    fn a_terminal_sees_nothing_in_the_first_second() {
        let mut p = Progress::with_mode("diff", Mode::Terminal);
        for n in 0..10_000 {
            p.update(n, 0);
        }
        assert!(!p.shown, "shown before a second passed");
        assert_eq!(
            p.checked, 9984,
            "the clock looked at once per {EVERY} entries"
        );
    }
}
