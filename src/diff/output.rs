//! Printing a diff: for people, grouped by directory with counts and sizes; `--json` for scripts.
//!
//! Text escapes every byte that could hide or fake a line: `\\`, `\n`, `\t`, `\r`, other control
//! characters and bytes that are not UTF-8 as `\xNN`. JSON carries names exactly (a name that is
//! not UTF-8 also gets `path_bytes`).

use super::model::{Change, Diff, Entry};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `etc/passwd` as `/etc/passwd`, escaped for a terminal.
pub fn show(rel: &Path) -> String {
    let mut out = String::from("/");
    out.push_str(&escape(rel.as_os_str().as_bytes()));
    out
}

pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        let (valid, bad, next) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..], &[][..]),
            Err(e) => {
                let (ok, after) = rest.split_at(e.valid_up_to());
                let n = e.error_len().unwrap_or(after.len());
                let valid = std::str::from_utf8(ok).expect("checked by valid_up_to");
                (valid, &after[..n], &after[n..])
            }
        };
        for c in valid.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in bad {
            let _ = write!(out, "\\x{b:02x}");
        }
        if next.is_empty() {
            return out;
        }
        rest = next;
    }
}

pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub modified: u64,
    pub deleted: u64,
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, e: &Entry) {
        match e.change {
            Change::Created => self.created += 1,
            Change::Modified => self.modified += 1,
            Change::Deleted => self.deleted += 1,
        }
        self.bytes += e.size;
    }

    fn text(&self) -> String {
        let mut parts = Vec::new();
        for (n, w) in [
            (self.created, "created"),
            (self.modified, "modified"),
            (self.deleted, "deleted"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {w}"));
            }
        }
        if parts.is_empty() {
            parts.push("nothing".into());
        }
        format!("{}; {}", parts.join(", "), size(self.bytes))
    }

    fn json(&self) -> Value {
        json!({"created": self.created, "modified": self.modified, "deleted": self.deleted, "bytes": self.bytes})
    }
}

pub fn totals(d: &Diff) -> Counts {
    let mut c = Counts::default();
    for e in &d.entries {
        c.add(e);
    }
    c
}

/// Entries by the directory that holds them (the root's own entry, if any, under itself), in
/// path order: groups of consecutive entries with the same parent.
fn groups(d: &Diff) -> Vec<(&Path, Vec<&Entry>)> {
    fn split(e: &Entry) -> (&[u8], &[u8]) {
        let b = e.path.as_os_str().as_bytes();
        match b.iter().rposition(|&c| c == b'/') {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (&[][..], b),
        }
    }
    let mut order: Vec<&Entry> = d.entries.iter().collect();
    order.sort_unstable_by(|a, b| {
        let (pa, na) = split(a);
        let (pb, nb) = split(b);
        super::model::bytes_cmp(pa, pb).then_with(|| na.cmp(nb))
    });
    let mut out: Vec<(&Path, Vec<&Entry>)> = Vec::new();
    for e in order {
        let parent = e.path.parent().unwrap_or(Path::new(""));
        match out.last_mut() {
            Some((p, list)) if *p == parent => list.push(e),
            _ => out.push((parent, vec![e])),
        }
    }
    out
}

/// The first component of each path (`/etc`, `/var`), with cumulative counts.
fn top_level(d: &Diff) -> BTreeMap<PathBuf, Counts> {
    let mut t: BTreeMap<PathBuf, Counts> = BTreeMap::new();
    for e in &d.entries {
        let first = e
            .path
            .components()
            .next()
            .map(|c| PathBuf::from(c.as_os_str()))
            .unwrap_or_default();
        t.entry(first).or_default().add(e);
    }
    t
}

fn detail(e: &Entry) -> String {
    let mut s = String::new();
    if e.kind == super::model::Kind::Dir {
        s.push('/');
    }
    if let Some(t) = &e.target {
        s.push_str(" -> ");
        s.push_str(&escape(t));
    }
    if e.subvolume {
        s.push_str("  [nested subvolume]");
    }
    if !e.what.is_empty() {
        let what: Vec<String> = e
            .what
            .iter()
            .map(|w| match (w, e.was) {
                (super::model::What::Type, Some(was)) => {
                    format!("type: {} -> {}", was.word(), e.kind.word())
                }
                _ => w.word().to_string(),
            })
            .collect();
        let _ = write!(s, "  [{}]", what.join(", "));
    }
    s
}

pub fn text(d: &Diff, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "blankroot diff: {title}");
    for n in &d.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let total = totals(d);
    let _ = writeln!(out, "the next boot erases: {}", total.text());
    let _ = writeln!(
        out,
        "(+ created: erased; ~ modified: put back as in the blank; - deleted: comes back from the blank)"
    );
    for (dir, entries) in groups(d) {
        let mut c = Counts::default();
        entries.iter().for_each(|e| c.add(e));
        let _ = writeln!(out, "\n{}  ({})", show(dir), c.text());
        for e in entries {
            let name = if e.path.as_os_str().is_empty() {
                ".".to_string()
            } else {
                escape(e.path.file_name().unwrap_or_default().as_bytes())
            };
            let _ = writeln!(
                out,
                "  {} {:<8} {:>10}  {}{}",
                e.change.sign(),
                e.kind.word(),
                size(e.size),
                name,
                detail(e)
            );
        }
    }
    if !d.entries.is_empty() {
        let _ = writeln!(out, "\nby top-level directory:");
        for (dir, c) in top_level(d) {
            let _ = writeln!(out, "  {:<24} {}", show(&dir), c.text());
        }
    }
    if !d.left_out.is_empty() || d.recreated > 0 {
        let _ = writeln!(
            out,
            "\nleft out (they survive the boot, or the boot makes them again):"
        );
        for (p, r) in &d.left_out {
            let _ = writeln!(out, "  {:<24} {}", show(p), r.word());
        }
        if d.recreated > 0 {
            let _ = writeln!(
                out,
                "  {} entries NixOS recreates at every boot (/etc links, /tmp, /run...; --include-nix-managed lists them)",
                d.recreated
            );
        }
    }
    for e in &d.errors {
        let _ = writeln!(out, "ERROR (listing incomplete): {e}");
    }
    out
}

/// `"path":"/etc/x"` (and `"path_bytes":[...]` for a name that is not UTF-8).
fn write_path(w: &mut String, rel: &Path) {
    let mut bytes = b"/".to_vec();
    bytes.extend_from_slice(rel.as_os_str().as_bytes());
    w.push_str("\"path\":");
    match std::str::from_utf8(&bytes) {
        Ok(s) => w.push_str(&json!(s).to_string()),
        Err(_) => {
            w.push_str(&json!(String::from_utf8_lossy(&bytes)).to_string());
            w.push_str(",\"path_bytes\":");
            w.push_str(&json!(bytes).to_string());
        }
    }
}

fn write_list<T>(w: &mut String, key: &str, items: &[T], mut one: impl FnMut(&mut String, &T)) {
    let _ = write!(w, "  \"{key}\": [");
    for (i, item) in items.iter().enumerate() {
        w.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
        one(w, item);
        w.push('}');
    }
    w.push_str(if items.is_empty() { "],\n" } else { "\n  ],\n" });
}

/// The JSON document: one line per change, so a large listing stays quick to write and read.
pub fn json(d: &Diff, target: Value) -> String {
    let mut w = String::with_capacity(d.entries.len() * 96 + 1024);
    let _ = writeln!(w, "{{\n  \"target\": {},", target);
    let _ = writeln!(w, "  \"totals\": {},", totals(d).json());
    write_list(&mut w, "changes", &d.entries, |w, e| {
        write_path(w, &e.path);
        let _ = write!(
            w,
            ",\"change\":\"{}\",\"type\":\"{}\",\"size\":{}",
            e.change.word(),
            e.kind.word(),
            e.size
        );
        if let Some(was) = e.was {
            let _ = write!(w, ",\"was\":\"{}\"", was.word());
        }
        if !e.what.is_empty() {
            let what: Vec<&str> = e.what.iter().map(|x| x.word()).collect();
            let _ = write!(w, ",\"what\":{}", json!(what));
        }
        if let Some(t) = &e.target {
            let _ = write!(w, ",\"target\":{}", json!(String::from_utf8_lossy(t)));
        }
        if e.subvolume {
            w.push_str(",\"subvolume\":true");
        }
    });
    let dirs: Vec<(&Path, Counts)> = groups(d)
        .into_iter()
        .map(|(dir, entries)| {
            let mut c = Counts::default();
            entries.iter().for_each(|e| c.add(e));
            (dir, c)
        })
        .collect();
    write_list(&mut w, "directories", &dirs, |w, (dir, c)| {
        write_path(w, dir);
        let _ = write!(
            w,
            ",\"created\":{},\"modified\":{},\"deleted\":{},\"bytes\":{}",
            c.created, c.modified, c.deleted, c.bytes
        );
    });
    write_list(&mut w, "left_out", &d.left_out, |w, (p, r)| {
        write_path(w, p);
        let _ = write!(w, ",\"reason\":\"{}\"", r.word());
    });
    let _ = writeln!(w, "  \"recreated_at_boot\": {},", d.recreated);
    let _ = writeln!(w, "  \"notes\": {},", json!(d.notes));
    let _ = writeln!(w, "  \"errors\": {},", json!(d.errors));
    let _ = writeln!(w, "  \"complete\": {}\n}}", d.errors.is_empty());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_fake_a_line() {
        assert_eq!(escape(b"plain name"), "plain name");
        assert_eq!(escape(b"a\nb\tc\\d"), "a\\nb\\tc\\\\d");
        assert_eq!(escape(b"bad\xff\x01"), "bad\\xff\\x01");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(show(Path::new("etc/pass wd")), "/etc/pass wd");
        assert_eq!(show(Path::new("")), "/");
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }
}
