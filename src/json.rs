//! The little JSON blankroot reads and writes: the status record (`src/status.rs`),
//! `/etc/blankroot/config.json`, persisted lists, and the `--json` outputs.
//!
//! Reading is strict RFC 8259 (one value, nothing after it but whitespace; no trailing commas, no
//! comments, no lone surrogates, no control characters inside strings; at most 128 levels of
//! nesting). Numbers are kept as the text that was read, so nothing is lost and no floating point
//! code is needed: blankroot itself only reads and writes whole numbers. Objects keep their
//! members in order, duplicates included; `get` returns the last one.
//!
//! Writing: `Value::compact` (no whitespace) and `Pretty`, a record one member a line
//! (`"key": value`, two spaces of indent). Strings are escaped as `\"`, `\\`, `\b`, `\f`, `\n`,
//! `\r`, `\t` and `\u00XX` for other control characters; everything else is written as it is.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A number as written in the text (always valid JSON number syntax).
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in the order written.
    Object(Vec<(String, Value)>),
}

const MAX_DEPTH: usize = 128;

impl Value {
    /// The last member named `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A whole number from 0 to `u64::MAX` (`1.0` and `1e3` are not).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// What it is, for error messages: `a string`, `null`, `an array`...
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// On one line, without spaces.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_str(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// An object written one member a line, indented by two spaces (a list one element a line,
/// indented by four; an empty one as `[]`), as records are written. Members are strings, null,
/// whole numbers and lists of strings.
pub struct Pretty {
    out: String,
}

impl Default for Pretty {
    fn default() -> Self {
        Pretty {
            out: String::from("{"),
        }
    }
}

impl Pretty {
    fn key(&mut self, key: &str) -> &mut String {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push_str("\n  ");
        write_str(&mut self.out, key);
        self.out.push_str(": ");
        &mut self.out
    }

    /// A string, or null for `None`.
    pub fn str(&mut self, key: &str, value: Option<&str>) {
        let out = self.key(key);
        match value {
            Some(s) => write_str(out, s),
            None => out.push_str("null"),
        }
    }

    pub fn uint(&mut self, key: &str, n: u64) {
        let _ = write!(self.key(key), "{n}");
    }

    pub fn strs(&mut self, key: &str, items: &[String]) {
        let out = self.key(key);
        out.push('[');
        for (i, s) in items.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            write_str(out, s);
        }
        out.push_str(if items.is_empty() { "]" } else { "\n  ]" });
    }

    /// The object, without a final newline.
    pub fn finish(mut self) -> String {
        let end = if self.out.len() > 1 { "\n}" } else { "}" };
        self.out.push_str(end);
        self.out
    }
}

/// `s` as a JSON string, quotes included.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'\n' => 'n',
            b'\t' => 't',
            b'\r' => 'r',
            0x08 => 'b',
            0x0c => 'f',
            0..=0x1f => 'u',
            _ => continue,
        };
        out.push_str(&s[start..i]);
        start = i + 1;
        out.push('\\');
        out.push(short);
        if short == 'u' {
            let _ = write!(out, "{:04x}", b);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Reads one JSON document. The error says what was wrong and where (`line L column C`).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        text,
        at: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.skip_ws();
    if p.at < text.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    /// `what` was wrong where the parser is; something expected at the end of the text is an
    /// unexpected end.
    fn error(&self, what: &str) -> String {
        let what = match what.starts_with("expected") && self.at >= self.text.len() {
            true => "unexpected end of input",
            false => what,
        };
        let before = &self.text.as_bytes()[..self.at.min(self.text.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = 1 + String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count();
        format!("{what} at line {line} column {column}")
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `b` if it comes next (after whitespace).
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        let found = self.peek() == Some(b);
        if found {
            self.at += 1;
        }
        found
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        let rest = &self.text[self.at..];
        for (word, v) in [
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
        ] {
            if rest.starts_with(word) {
                self.at += word.len();
                return Ok(v);
            }
        }
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(open @ (b'[' | b'{')) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error("nested too deeply"));
                }
                self.at += 1;
                let v = self.container(open == b'{')?;
                self.depth -= 1;
                Ok(v)
            }
            _ => Err(self.error("expected a value")),
        }
    }

    /// The rest of an array or object, after its opening bracket.
    fn container(&mut self, object: bool) -> Result<Value, String> {
        let close = if object { b'}' } else { b']' };
        let (mut items, mut members) = (Vec::new(), Vec::new());
        if !self.eat(close) {
            loop {
                if object {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a member name"));
                    }
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return Err(self.error("expected `:`"));
                    }
                    members.push((key, self.value()?));
                } else {
                    items.push(self.value()?);
                }
                if self.eat(close) {
                    break;
                }
                if !self.eat(b',') {
                    return Err(self.error(if object {
                        "expected `,` or `}`"
                    } else {
                        "expected `,` or `]`"
                    }));
                }
            }
        }
        Ok(if object {
            Value::Object(members)
        } else {
            Value::Array(items)
        })
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        let n = self.digits();
        if n == 0 || (n > 1 && self.text.as_bytes()[int_start] == b'0') {
            self.at = int_start;
            return Err(self.error("invalid number"));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        Ok(Value::Number(self.text[start..self.at].to_string()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.text.get(self.at..self.at + 4);
        match digits.filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit())) {
            Some(d) => {
                self.at += 4;
                Ok(u32::from_str_radix(d, 16).expect("four hex digits"))
            }
            None => Err(self.error("invalid \\u escape")),
        }
    }

    /// A string, from its opening quote.
    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out = String::new();
        let mut start = self.at;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            if b != b'"' && b != b'\\' && b >= 0x20 {
                self.at += 1;
                continue;
            }
            // Quotes, backslashes and control characters are ASCII: char boundaries.
            out.push_str(&self.text[start..self.at]);
            if b < 0x20 {
                return Err(self.error("control character in a string"));
            }
            self.at += 1;
            if b == b'"' {
                return Ok(out);
            }
            let esc = self.peek();
            self.at += 1;
            let c = match esc {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    let mut code = self.hex4()?;
                    if (0xDC00..0xE000).contains(&code) {
                        return Err(self.error("lone trailing surrogate in \\u escape"));
                    }
                    if (0xD800..0xDC00).contains(&code) {
                        if !self.text[self.at..].starts_with("\\u") {
                            return Err(self.error("lone leading surrogate in \\u escape"));
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return Err(self.error("lone leading surrogate in \\u escape"));
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    }
                    char::from_u32(code).expect("not a surrogate")
                }
                _ => {
                    self.at -= 1;
                    return Err(self.error("invalid escape"));
                }
            };
            out.push(c);
            start = self.at;
        }
    }
}

/// Reads a record out of an object: `field(name, value)` is called for each member, in the
/// order written, and says whether it knows the name (unknown members are ignored). A known
/// member given twice, or a `required` one missing, is an error.
pub fn record(
    v: &Value,
    required: &[&str],
    field: &mut dyn FnMut(&str, &Value) -> Result<bool, String>,
) -> Result<(), String> {
    let Value::Object(members) = v else {
        return Err(format!("expected an object, got {}", v.kind()));
    };
    for (i, (k, v)) in members.iter().enumerate() {
        if field(k, v)? && members[..i].iter().any(|(p, _)| p == k) {
            return Err(format!("duplicate field `{k}`"));
        }
    }
    match required
        .iter()
        .find(|r| !members.iter().any(|(k, _)| k == *r))
    {
        Some(r) => Err(format!("missing field `{r}`")),
        None => Ok(()),
    }
}

/// A member that must be a string.
pub fn string(key: &str, v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(key, v, "a string"))
}

/// A string, or null as `None`.
pub fn opt_string(key: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        v => string(key, v).map(Some),
    }
}

/// A list of strings.
pub fn strings(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid(key, v, "a list of strings"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(string(key, item)?);
    }
    Ok(out)
}

/// A whole number from 0 to `max`.
pub fn uint(key: &str, v: &Value, max: u64) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| *n <= max)
        .ok_or_else(|| invalid(key, v, &format!("a whole number from 0 to {max}")))
}

/// `field "x": expected a string, got a number (1.5)`.
pub fn invalid(key: &str, got: &Value, expected: &str) -> String {
    let shown = match got {
        Value::Number(n) => format!(" ({n})"),
        Value::String(s) => {
            let mut q = String::from(" (");
            write_str(&mut q, s);
            q.push(')');
            q
        }
        _ => String::new(),
    };
    format!(
        "field `{key}`: expected {expected}, got {}{shown}",
        got.kind()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn num(n: u64) -> Value {
        Value::Number(n.to_string())
    }

    fn list(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|v| s(v)).collect())
    }

    #[test]
    fn reads_every_kind_of_value() {
        let v = parse(
            " {\"a\": [1, -2, 3.5, 4e10, -0.0e-1, true, false, null], \"b\": {\"c\": \"d\"}, \"e\": []}\n",
        )
        .unwrap();
        let a = v.get("a").unwrap().as_array().unwrap();
        let nums: Vec<&Value> = a[..5].iter().collect();
        assert_eq!(
            nums,
            ["1", "-2", "3.5", "4e10", "-0.0e-1"]
                .map(|n| Value::Number(n.into()))
                .iter()
                .collect::<Vec<_>>()
        );
        assert_eq!(a[5..], [Value::Bool(true), Value::Bool(false), Value::Null]);
        assert_eq!(v.get("b").unwrap().get("c"), Some(&s("d")));
        assert_eq!(v.get("e"), Some(&Value::Array(Vec::new())));
        assert_eq!(v.get("zz"), None);
        assert_eq!(a[0].as_u64(), Some(1));
        assert_eq!(a[1].as_u64(), None);
        assert_eq!(a[2].as_u64(), None);
        assert_eq!(
            parse("18446744073709551615").unwrap().as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(parse("18446744073709551616").unwrap().as_u64(), None);
        // Duplicates are kept; `get` returns the last.
        let d = parse(r#"{"k": 1, "k": 2, "u": 1, "u": 2}"#).unwrap();
        assert_eq!(d.get("k").unwrap().as_u64(), Some(2));
        let known = &mut |k: &str, _: &Value| Ok(k == "k");
        assert_eq!(record(&d, &[], known).unwrap_err(), "duplicate field `k`");
        let d = parse(r#"{"u": 1, "u": 2, "k": 1}"#).unwrap();
        assert_eq!(record(&d, &["k"], known), Ok(()));
        assert_eq!(
            record(&d, &["k", "x"], known).unwrap_err(),
            "missing field `x`"
        );
        assert_eq!(
            record(&Value::Null, &[], known).unwrap_err(),
            "expected an object, got null"
        );
        let v = parse(r#"["a", 1, null]"#).unwrap();
        assert_eq!(
            string("f", &v).unwrap_err(),
            "field `f`: expected a string, got an array"
        );
        assert_eq!(
            strings("f", &v).unwrap_err(),
            "field `f`: expected a string, got a number (1)"
        );
        assert_eq!(opt_string("f", &Value::Null), Ok(None));
        assert_eq!(
            uint("f", &num(256), 255).unwrap_err(),
            "field `f`: expected a whole number from 0 to 255, got a number (256)"
        );
        assert_eq!(uint("f", &num(255), 255), Ok(255));
    }

    #[test]
    fn reads_escapes_and_surrogate_pairs() {
        let v = parse(r#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00 é€😀""#).unwrap();
        assert_eq!(
            v,
            s("a\"b\\c/d\u{8}\u{c}\n\r\tA\u{e9}\u{20ac}\u{1f600} \u{e9}\u{20ac}\u{1f600}")
        );
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "   ",
            "nul",
            "tru",
            "[1,]",
            "[1 2]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a: 1}",
            "{\"a\":1",
            "[",
            "\"abc",
            "\"a\nb\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"\\ud83d\"",
            "\"\\ud83dx\"",
            "\"\\ud83d\\u0041\"",
            "\"\\ude00\"",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "NaN",
            "Infinity",
            "{} {}",
            "[1] x",
            "'a'",
            "[1,,2]",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("nested too deeply"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        assert_eq!(
            parse("{\n  \"a\": tru\n}").unwrap_err(),
            "expected a value at line 2 column 8"
        );
        assert_eq!(
            parse("{\n").unwrap_err(),
            "unexpected end of input at line 2 column 1"
        );
        assert_eq!(
            parse("[1, ").unwrap_err(),
            "unexpected end of input at line 1 column 5"
        );
    }

    #[test]
    fn writes_records_as_serde_json_did() {
        let mut p = Pretty::default();
        p.str("a", Some("x\ny"));
        p.strs("empty", &[]);
        p.strs("list", &["1".into(), "\"2\"".into()]);
        p.uint("n", u64::MAX);
        p.str("none", None);
        let text = p.finish();
        assert_eq!(
            text,
            "{\n  \"a\": \"x\\ny\",\n  \"empty\": [],\n  \"list\": [\n    \"1\",\n    \"\\\"2\\\"\"\n  ],\n  \"n\": 18446744073709551615,\n  \"none\": null\n}"
        );
        let theirs = serde_json::json!({
            "a": "x\ny",
            "empty": [],
            "list": ["1", "\"2\""],
            "n": u64::MAX,
            "none": null,
        });
        assert_eq!(text, serde_json::to_string_pretty(&theirs).unwrap());
        assert_eq!(Pretty::default().finish(), "{}");
        let v = Value::Object(vec![
            ("a".into(), s("x")),
            ("empty".into(), Value::Array(Vec::new())),
            ("list".into(), list(&["1", "2"])),
            ("n".into(), num(42)),
            ("none".into(), Value::Null),
            ("obj".into(), Value::Object(Vec::new())),
            (
                "nested".into(),
                Value::Object(vec![("t".into(), Value::Bool(true))]),
            ),
        ]);
        assert_eq!(
            v.compact(),
            r#"{"a":"x","empty":[],"list":["1","2"],"n":42,"none":null,"obj":{},"nested":{"t":true}}"#
        );
    }

    #[test]
    fn escapes_every_character_as_serde_json_does() {
        for c in (0u32..0x3000).chain([0xfeff, 0xfffd, 0x10000, 0x1f600, 0x10ffff]) {
            let Some(c) = char::from_u32(c) else { continue };
            let text = format!("a{c}b");
            let mut ours = String::new();
            write_str(&mut ours, &text);
            assert_eq!(ours, serde_json::to_string(&text).unwrap(), "{c:?}");
            assert_eq!(parse(&ours).unwrap(), s(&text));
        }
    }

    #[test]
    fn escapes_what_must_be_escaped() {
        let mut out = String::new();
        write_str(&mut out, "q\"b\\s/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}é😀");
        assert_eq!(
            out,
            "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}é😀\""
        );
    }

    #[test]
    fn round_trips() {
        let mut all = String::new();
        for c in (0u32..0x800).chain([0xfffd, 0x10000, 0x1f600, 0x10ffff]) {
            all.extend(char::from_u32(c));
        }
        let v = Value::Object(vec![
            ("text".into(), s(&all)),
            ("list".into(), list(&["", "a b", "\"", "\\"])),
            ("n".into(), num(u64::MAX)),
            (
                "deep".into(),
                Value::Array(vec![Value::Array(vec![Value::Null, Value::Bool(false)])]),
            ),
            ("".into(), Value::Object(Vec::new())),
        ]);
        assert_eq!(parse(&v.compact()).unwrap(), v);
        let mut p = Pretty::default();
        p.str("text", Some(&all));
        p.strs("list", &["".into(), "a b".into()]);
        p.uint("n", 0);
        p.str("none", None);
        let back = parse(&p.finish()).unwrap();
        assert_eq!(back.get("text"), Some(&s(&all)));
        assert_eq!(back.get("list"), Some(&list(&["", "a b"])));
        assert_eq!(back.get("n").and_then(Value::as_u64), Some(0));
        assert_eq!(back.get("none"), Some(&Value::Null));
    }
}
