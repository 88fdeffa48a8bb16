//! Printing a diff: for people, one entry a line with its full path, grouped under a header per
//! directory with counts and sizes; `--json` for scripts.
//!
//! Text escapes every byte that could hide or fake a line: `\\`, `\n`, `\t`, `\r`, other control
//! characters and bytes that are not UTF-8 as `\xNN`. JSON carries names exactly (a name that is
//! not UTF-8 also gets `path_bytes`).

use super::model::{Change, Diff, Entry};
use serde::Serialize;
use std::ffi::OsStr;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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

/// `512 B`, `1.5 KiB`, `3.0 GiB`: one decimal, rounded to the nearest (a tie to the even digit),
/// in integer arithmetic. The byte count is first rounded to 53 significant bits, as a 64-bit
/// float would hold it (which only matters above 8 PiB).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let b = round_to_53_bits(bytes);
    let mut unit = 0;
    while b >> (10 * (unit + 2)) > 0 && unit + 1 < UNITS.len() {
        unit += 1;
    }
    let shift = 10 * (unit as u32 + 1);
    let scaled = b * 10;
    // At most 10 * 2^64 / 2^10 tenths: a u64 holds them.
    let mut tenths = (scaled >> shift) as u64;
    let rest = scaled & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rest > half || (rest == half && tenths % 2 == 1) {
        tenths += 1;
    }
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// `n` rounded to the nearest number with 53 significant bits (a tie to even).
fn round_to_53_bits(n: u64) -> u128 {
    let extra = (64 - n.leading_zeros()).saturating_sub(53);
    if extra == 0 {
        return n.into();
    }
    let (kept, rest) = (n >> extra, n & ((1 << extra) - 1));
    let half = 1 << (extra - 1);
    let up = rest > half || (rest == half && kept % 2 == 1);
    u128::from(kept + u64::from(up)) << extra
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

    /// `{"bytes":..,"created":..,"deleted":..,"modified":..}` (members in name order).
    fn json(&self) -> String {
        #[derive(Serialize)]
        struct Totals {
            bytes: u64,
            created: u64,
            deleted: u64,
            modified: u64,
        }
        compact(&Totals {
            bytes: self.bytes,
            created: self.created,
            deleted: self.deleted,
            modified: self.modified,
        })
    }
}

pub fn totals(d: &Diff) -> Counts {
    let mut c = Counts::default();
    for e in &d.entries {
        c.add(e);
    }
    c
}

/// Entries of one directory, with their counts.
struct Group<'a> {
    dir: &'a Path,
    entries: Vec<&'a Entry>,
    counts: Counts,
}

/// A directory's path bytes, ordered as paths are (`model::bytes_cmp`).
#[derive(PartialEq, Eq)]
struct DirKey<'a>(&'a [u8]);

impl Ord for DirKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        super::model::bytes_cmp(self.0, other.0)
    }
}

impl PartialOrd for DirKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Entries by the directory that holds them (the root's own entry, if any, under itself), in
/// path order of the directories, each directory's entries in name order.
fn groups(d: &Diff) -> Vec<Group<'_>> {
    fn split(e: &Entry) -> (&[u8], &[u8]) {
        let b = e.path.as_os_str().as_bytes();
        match b.iter().rposition(|&c| c == b'/') {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (&[][..], b),
        }
    }
    let mut at: std::collections::BTreeMap<DirKey<'_>, usize> = Default::default();
    let mut made: Vec<Group<'_>> = Vec::new();
    // Entries of one directory mostly come one after another: the last group is tried first.
    let mut last: Option<(&[u8], usize)> = None;
    for e in &d.entries {
        let (dir, _) = split(e);
        let i = match last {
            Some((l, i)) if l == dir => i,
            _ => *at.entry(DirKey(dir)).or_insert_with(|| {
                made.push(Group {
                    dir: Path::new(OsStr::from_bytes(dir)),
                    entries: Vec::new(),
                    counts: Counts::default(),
                });
                made.len() - 1
            }),
        };
        made[i].entries.push(e);
        made[i].counts.add(e);
        last = Some((dir, i));
    }
    let mut slots: Vec<Option<Group<'_>>> = made.into_iter().map(Some).collect();
    let mut out: Vec<Group<'_>> = at.into_values().filter_map(|i| slots[i].take()).collect();
    for g in &mut out {
        // In path order already when the diff is sorted; a stable sort keeps equal names as
        // they came.
        if !g.entries.is_sorted_by(|a, b| split(a).1 <= split(b).1) {
            g.entries.sort_by(|a, b| split(a).1.cmp(split(b).1));
        }
    }
    out
}

/// The first component of each path (`/etc`, `/var`), with cumulative counts, in name order.
fn top_level(d: &Diff) -> Vec<(&[u8], Counts)> {
    let mut t: Vec<(&[u8], Counts)> = Vec::new();
    for e in &d.entries {
        let path = e.path.as_os_str().as_bytes();
        let first = path
            .split(|&c| c == b'/')
            .find(|c| !c.is_empty())
            .unwrap_or(b"");
        let at = match t.binary_search_by(|(k, _)| k.cmp(&first)) {
            Ok(at) => at,
            Err(at) => {
                t.insert(at, (first, Counts::default()));
                at
            }
        };
        t[at].1.add(e);
    }
    t
}

fn detail(e: &Entry) -> String {
    let mut s = String::new();
    if e.kind == super::model::Kind::Dir && !e.path.as_os_str().is_empty() {
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
        // Notes name paths found on the system (mount points): escaped like names.
        let _ = writeln!(out, "note: {}", escape(n.as_bytes()));
    }
    let total = totals(d);
    let _ = writeln!(out, "the next boot erases: {}", total.text());
    let _ = writeln!(
        out,
        "(+ created: erased; ~ modified: put back as in the blank; - deleted: comes back from the blank)"
    );
    // Each entry with its full path, so that `blankroot diff | grep NAME` says where it is.
    for g in groups(d) {
        let _ = writeln!(out, "\n{}  ({})", show(g.dir), g.counts.text());
        for e in g.entries {
            let _ = writeln!(
                out,
                "  {} {:<8} {:>10}  {}{}",
                e.change.sign(),
                e.kind.word(),
                size(e.size),
                show(&e.path),
                detail(e)
            );
        }
    }
    if !d.entries.is_empty() {
        let _ = writeln!(out, "\nby top-level directory:");
        for (dir, c) in top_level(d) {
            let _ = writeln!(
                out,
                "  {:<24} {}",
                show(Path::new(OsStr::from_bytes(dir))),
                c.text()
            );
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

/// On one line.
fn compact<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("strings, numbers and lists")
}

/// `/etc/x` as the `path` member (into `buf`), and its bytes as `path_bytes` when it is not
/// UTF-8.
fn path_members(rel: &Path, buf: &mut String) -> Option<Vec<u8>> {
    buf.clear();
    buf.push('/');
    match rel.as_os_str().to_str() {
        Some(s) => {
            buf.push_str(s);
            None
        }
        None => {
            let mut bytes = b"/".to_vec();
            bytes.extend_from_slice(rel.as_os_str().as_bytes());
            buf.clear();
            buf.push_str(&String::from_utf8_lossy(&bytes));
            Some(bytes)
        }
    }
}

/// A JSON string as serde_json writes it (the escapes it uses, nothing else escaped), appended
/// to `out`: the one line per change is written by hand, a listing has many of them.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        plain = i + 1;
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// A number in decimal, appended (`write!` goes through the formatting machinery: slower, and a
/// listing has a number or more a line).
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[at..]).expect("digits"));
}

/// One line of `"changes"`: `{"path":..,"path_bytes":[..],"change":..,"type":..,"size":..,
/// "was":..,"what":[..],"target":..,"subvolume":true}`, the optional members only when set.
fn change_line(out: &mut String, e: &Entry, path: &str, path_bytes: Option<&[u8]>) {
    out.push_str("{\"path\":");
    json_str(out, path);
    if let Some(bytes) = path_bytes {
        out.push_str(",\"path_bytes\":[");
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_u64(out, u64::from(*b));
        }
        out.push(']');
    }
    for (key, word) in [
        (",\"change\":\"", e.change.word()),
        ("\",\"type\":\"", e.kind.word()),
    ] {
        out.push_str(key);
        out.push_str(word);
    }
    out.push_str("\",\"size\":");
    push_u64(out, e.size);
    if let Some(was) = e.was {
        out.push_str(",\"was\":\"");
        out.push_str(was.word());
        out.push('"');
    }
    if !e.what.is_empty() {
        out.push_str(",\"what\":[");
        for (i, w) in e.what.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(w.word());
            out.push('"');
        }
        out.push(']');
    }
    if let Some(t) = &e.target {
        out.push_str(",\"target\":");
        json_str(out, &String::from_utf8_lossy(t));
    }
    if e.subvolume {
        out.push_str(",\"subvolume\":true");
    }
    out.push('}');
}

/// One line of `"directories"`.
#[derive(Serialize)]
struct DirectoryLine<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_bytes: Option<Vec<u8>>,
    created: u64,
    modified: u64,
    deleted: u64,
    bytes: u64,
}

/// One line of `"left_out"`.
#[derive(Serialize)]
struct LeftOutLine<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_bytes: Option<Vec<u8>>,
    reason: &'static str,
}

/// `"key": [` then one object a line, each serialized by `line` from an item (with a buffer
/// for its path).
fn write_list<T>(
    w: &mut String,
    key: &str,
    items: impl Iterator<Item = T>,
    mut line: impl FnMut(T, &mut String, &mut Vec<u8>),
) {
    let _ = write!(w, "  \"{key}\": [");
    let mut empty = true;
    let (mut path, mut bytes) = (String::new(), Vec::new());
    for item in items {
        w.push_str(if empty { "\n    " } else { ",\n    " });
        bytes.clear();
        line(item, &mut path, &mut bytes);
        w.push_str(std::str::from_utf8(&bytes).expect("serde_json writes UTF-8"));
        empty = false;
    }
    w.push_str(if empty { "],\n" } else { "\n  ],\n" });
}

/// One line, compact, appended to `out`.
fn put<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("strings, numbers and lists");
}

/// The JSON document: one line per change, so a large listing stays quick to write and read.
/// `target`: a JSON object on one line.
pub fn json(d: &Diff, target: &str) -> String {
    let mut w = String::with_capacity(d.entries.len() * 96 + 1024);
    let _ = writeln!(w, "{{\n  \"target\": {target},");
    let _ = writeln!(w, "  \"totals\": {},", totals(d).json());
    let _ = write!(w, "  \"changes\": [");
    let mut path = String::new();
    for (i, e) in d.entries.iter().enumerate() {
        w.push_str(if i == 0 { "\n    " } else { ",\n    " });
        let path_bytes = path_members(&e.path, &mut path);
        change_line(&mut w, e, &path, path_bytes.as_deref());
    }
    w.push_str(if d.entries.is_empty() {
        "],\n"
    } else {
        "\n  ],\n"
    });
    let g = groups(d);
    write_list(&mut w, "directories", g.into_iter(), |g, path, out| {
        let path_bytes = path_members(g.dir, path);
        put(
            out,
            &DirectoryLine {
                path,
                path_bytes,
                created: g.counts.created,
                modified: g.counts.modified,
                deleted: g.counts.deleted,
                bytes: g.counts.bytes,
            },
        )
    });
    write_list(
        &mut w,
        "left_out",
        d.left_out.iter(),
        |(p, r), path, out| {
            let path_bytes = path_members(p, path);
            put(
                out,
                &LeftOutLine {
                    path,
                    path_bytes,
                    reason: r.word(),
                },
            )
        },
    );
    let _ = writeln!(w, "  \"recreated_at_boot\": {},", d.recreated);
    let _ = writeln!(w, "  \"notes\": {},", compact(&d.notes));
    let _ = writeln!(w, "  \"errors\": {},", compact(&d.errors));
    let _ = writeln!(w, "  \"complete\": {}\n}}", d.errors.is_empty());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diff with every kind of member the `--json` document has.
    fn every_kind_of_member() -> Diff {
        use super::super::model::{Kind, Reason, What, Whats};
        let entry = |path: &[u8], change, kind, size| Entry {
            path: Path::new(OsStr::from_bytes(path)).to_path_buf(),
            change,
            kind,
            was: None,
            size,
            what: Whats::default(),
            target: None,
            subvolume: false,
            perms: None,
        };
        let mut d = Diff::default();
        d.entries.push(entry(b"", Change::Modified, Kind::Dir, 0));
        let mut e = entry(b"etc/link", Change::Modified, Kind::Symlink, 12);
        e.was = Some(Kind::File);
        e.what.add(What::Type);
        e.what.add(What::Mode);
        e.target = Some(b"/nix/\"store\"\n\xff".to_vec());
        d.entries.push(e);
        d.entries
            .push(entry(b"etc/qu\"ote\t\x01", Change::Created, Kind::File, 5));
        let mut e = entry(b"var/lib/machines", Change::Deleted, Kind::Dir, 4096);
        e.subvolume = true;
        d.entries.push(e);
        d.entries.push(entry(
            b"bad\xffname",
            Change::Created,
            Kind::Fifo,
            u64::MAX / 2,
        ));
        d.left_out.push(("persist".into(), Reason::MountPoint));
        d.left_out.push((
            Path::new(OsStr::from_bytes(b"x\xfe")).to_path_buf(),
            Reason::Persisted,
        ));
        d.recreated = 7;
        d.notes = vec!["a \"note\"".into(), "caf\u{e9} \u{1f600}\u{1b}".into()];
        d.errors = vec!["etc/shadow: Permission denied".into()];
        d
    }

    /// The `--json` document byte for byte as the hand-written writer made it before serde_json.
    #[test]
    fn the_json_document_is_written_as_before() {
        let got = json(
            &every_kind_of_member(),
            r#"{"filesystem":"btrfs","root":"/"}"#,
        );
        let want = r#"{
  "target": {"filesystem":"btrfs","root":"/"},
  "totals": {"bytes":9223372036854779920,"created":2,"deleted":1,"modified":2},
  "changes": [
    {"path":"/","change":"modified","type":"dir","size":0},
    {"path":"/etc/link","change":"modified","type":"symlink","size":12,"was":"file","what":["type","mode"],"target":"/nix/\"store\"\n�"},
    {"path":"/etc/qu\"ote\t\u0001","change":"created","type":"file","size":5},
    {"path":"/var/lib/machines","change":"deleted","type":"dir","size":4096,"subvolume":true},
    {"path":"/bad�name","path_bytes":[47,98,97,100,255,110,97,109,101],"change":"created","type":"fifo","size":9223372036854775807}
  ],
  "directories": [
    {"path":"/","created":1,"modified":1,"deleted":0,"bytes":9223372036854775807},
    {"path":"/etc","created":1,"modified":1,"deleted":0,"bytes":17},
    {"path":"/var/lib","created":0,"modified":0,"deleted":1,"bytes":4096}
  ],
  "left_out": [
    {"path":"/persist","reason":"mount point"},
    {"path":"/x�","path_bytes":[47,120,254],"reason":"persisted"}
  ],
  "recreated_at_boot": 7,
  "notes": ["a \"note\"","café 😀\u001b"],
  "errors": ["etc/shadow: Permission denied"],
  "complete": false
}
"#;
        assert_eq!(got, want);
        let empty = r#"{
  "target": {},
  "totals": {"bytes":0,"created":0,"deleted":0,"modified":0},
  "changes": [],
  "directories": [],
  "left_out": [],
  "recreated_at_boot": 0,
  "notes": [],
  "errors": [],
  "complete": true
}
"#;
        assert_eq!(json(&Diff::default(), "{}"), empty);
    }

    /// Each entry on its own line with its full path, under its directory's header.
    #[test]
    fn the_listing_gives_full_paths_under_directory_headers() {
        let got = text(&every_kind_of_member(), "a test");
        let want = r#"blankroot diff: a test
note: a "note"
note: café 😀\x1b
the next boot erases: 2 created, 2 modified, 1 deleted; 8192.0 PiB
(+ created: erased; ~ modified: put back as in the blank; - deleted: comes back from the blank)

/  (1 created, 1 modified; 8192.0 PiB)
  ~ dir             0 B  /
  + fifo     8192.0 PiB  /bad\xffname

/etc  (1 created, 1 modified; 17 B)
  ~ symlink        12 B  /etc/link -> /nix/"store"\n\xff  [type: file -> symlink, mode]
  + file            5 B  /etc/qu"ote\t\x01

/var/lib  (1 deleted; 4.0 KiB)
  - dir         4.0 KiB  /var/lib/machines/  [nested subvolume]

by top-level directory:
  /                        1 modified; 0 B
  /bad\xffname             1 created; 8192.0 PiB
  /etc                     1 created, 1 modified; 17 B
  /var                     1 deleted; 4.0 KiB

left out (they survive the boot, or the boot makes them again):
  /persist                 mount point
  /x\xfe                   persisted
  7 entries NixOS recreates at every boot (/etc links, /tmp, /run...; --include-nix-managed lists them)
ERROR (listing incomplete): etc/shadow: Permission denied
"#;
        assert_eq!(got, want, "\n{got}");
    }

    /// Strings are written as serde_json writes them.
    #[test]
    fn json_strings_as_serde_json_writes_them() {
        let mut samples: Vec<String> = (0u8..=0x7f).map(|b| format!("a{}b", b as char)).collect();
        samples.extend(
            [
                "",
                "caf\u{e9} \u{1f600}",
                "\u{2028}\u{2029}\u{85}\u{7f}\u{ffff}",
                "\"\\\"\\",
            ]
            .map(String::from),
        );
        samples.push((0u32..0x800).filter_map(char::from_u32).collect());
        for s in samples {
            let mut got = String::new();
            json_str(&mut got, &s);
            assert_eq!(got, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

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
    fn numbers_in_decimal() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(u64::MAX), "16384.0 PiB");
    }

    /// The same text as formatting the size as a 64-bit float with `{:.1}` (what it was).
    #[test]
    fn sizes_match_float_formatting() {
        fn float(bytes: u64) -> String {
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
        let mut n: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples: Vec<u64> = (0..64)
            .flat_map(|s| {
                let p = 1u64 << s;
                [p - 1, p, p + 1, p / 20 * 21, p / 20 * 19, p + p / 2]
            })
            .collect();
        // Exact ties at every unit: x.x5 of a unit.
        for shift in [10, 20, 30, 40, 50] {
            for k in 0..400u64 {
                samples.push((k * 2 + 1) << (shift - 1) >> 3 << 2);
                samples.push(((k << shift) + (1 << shift) / 20).max(1));
                samples.push((k << shift) / 20);
            }
        }
        for _ in 0..200_000 {
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            samples.push(n >> (n % 64));
        }
        for b in samples {
            assert_eq!(size(b), float(b), "{b}");
        }
    }
}
