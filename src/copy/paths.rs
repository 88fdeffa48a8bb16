//! The PATHs to copy (`restore`: as they were in the old root; `persist`: on the running
//! system), checked before anything is mounted or opened. Relative paths, `.` and `..` components, NUL bytes, the empty path, `/` itself
//! and paths given twice (or one inside another) are usage errors.

use crate::error::{Error, Result};
use crate::names::NAME_MAX;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One PATH, split into its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// As it is shown: `/etc/ssh` (repeated and trailing slashes dropped).
    pub shown: String,
    pub parts: Vec<OsString>,
}

impl Wanted {
    /// The same PATH as found in the archive of a target mounted on `under` (its first
    /// components are the mount point's); `None` when it does not lie below the mount point.
    pub fn below(&self, under: &[OsString]) -> Option<Wanted> {
        (self.parts.len() > under.len() && self.parts[..under.len()] == under[..]).then(|| Wanted {
            shown: self.shown.clone(),
            parts: self.parts[under.len()..].to_vec(),
        })
    }

    /// `self` is `other` or lies inside it.
    pub fn is_within(&self, other: &Wanted) -> bool {
        self.parts.len() >= other.parts.len() && self.parts[..other.parts.len()] == other.parts[..]
    }
}

/// The command a PATH is given to, for the messages: `restore`, `persist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmd {
    pub name: &'static str,
    /// What a PATH is, with an example: "absolute paths as they were in the old root, like
    /// /etc/ssh/ssh_host_ed25519_key".
    pub give: &'static str,
}

pub const RESTORE: Cmd = Cmd {
    name: "restore",
    give: "absolute paths as they were in the old root, like /etc/ssh/ssh_host_ed25519_key",
};

pub fn parse(raw: &Path, cmd: Cmd) -> Result<Wanted> {
    let bytes = raw.as_os_str().as_bytes();
    let bad = |why: &str| {
        Error::usage(format!(
            "{}: PATH {:?} {why}; give {}",
            cmd.name,
            raw.as_os_str(),
            cmd.give
        ))
    };
    if bytes.is_empty() {
        return Err(bad("is empty"));
    }
    if bytes.contains(&0) {
        return Err(bad("contains a NUL byte"));
    }
    if bytes[0] != b'/' {
        return Err(bad("is relative"));
    }
    let mut parts = Vec::new();
    for part in bytes.split(|&b| b == b'/') {
        match part {
            b"" => {}
            b"." => return Err(bad("has a `.` component")),
            b".." => return Err(bad("has a `..` component")),
            p if p.len() > NAME_MAX => return Err(bad("has a component longer than 255 bytes")),
            p => parts.push(OsStr::from_bytes(p).to_owned()),
        }
    }
    if parts.is_empty() {
        return Err(bad("is the whole root: give the paths below it to copy"));
    }
    let mut shown = String::new();
    for p in &parts {
        shown.push('/');
        shown.push_str(&p.to_string_lossy());
    }
    Ok(Wanted { shown, parts })
}

/// Every PATH, in the order given; none twice, none inside another.
pub fn parse_all(raw: &[PathBuf], cmd: Cmd) -> Result<Vec<Wanted>> {
    if raw.is_empty() {
        return Err(Error::usage(format!(
            "{}: no PATH: give {}",
            cmd.name, cmd.give
        )));
    }
    let mut out: Vec<Wanted> = Vec::new();
    for r in raw {
        let w = parse(r, cmd)?;
        for o in &out {
            if o.parts == w.parts {
                return Err(Error::usage(format!(
                    "{}: PATH {} is given twice; give it once",
                    cmd.name, w.shown
                )));
            }
            let (inner, outer) = if w.is_within(o) {
                (&w, o)
            } else if o.is_within(&w) {
                (o, &w)
            } else {
                continue;
            };
            return Err(Error::usage(format!(
                "{}: PATH {} lies inside {}, also given; give only {} (its content comes with it)",
                cmd.name, inner.shown, outer.shown, outer.shown
            )));
        }
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn one(s: &[u8]) -> Result<Wanted> {
        parse(Path::new(&OsString::from_vec(s.to_vec())), RESTORE)
    }

    #[test]
    fn absolute_paths_are_split_and_shown_plainly() {
        let w = one(b"//etc//ssh/").unwrap();
        assert_eq!(w.shown, "/etc/ssh");
        assert_eq!(w.parts, ["etc", "ssh"]);
        let odd = one(b"/var/lib/a b\xff").unwrap();
        assert_eq!(odd.parts[2].as_bytes(), b"a b\xff");
    }

    #[test]
    fn hostile_paths_are_usage_errors() {
        let long = [b"/".as_slice(), &[b'x'; 256]].concat();
        for (raw, why) in [
            (b"".as_slice(), "is empty"),
            (b"etc/passwd", "is relative"),
            (b"./etc", "is relative"),
            (b"/etc/../../x", "has a `..` component"),
            (b"/..", "has a `..` component"),
            (b"/etc/./ssh", "has a `.` component"),
            (b"/etc/\0x", "contains a NUL byte"),
            (b"/", "is the whole root"),
            (b"///", "is the whole root"),
            (&long, "longer than 255 bytes"),
        ] {
            let e = one(raw).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{raw:?}");
            assert!(e.message.contains(why), "{raw:?}: {}", e.message);
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn overlapping_paths_are_refused() {
        let p = |v: &[&str]| parse_all(&v.iter().map(PathBuf::from).collect::<Vec<_>>(), RESTORE);
        assert_eq!(p(&["/etc/ssh", "/var/lib/foo"]).unwrap().len(), 2);
        assert_eq!(p(&["/etc/ssh", "/etc/sshd"]).unwrap().len(), 2);
        let e = p(&["/etc/ssh/key", "/etc/ssh"]).unwrap_err();
        assert!(
            e.message.contains("/etc/ssh/key lies inside /etc/ssh"),
            "{e}"
        );
        let e = p(&["/etc", "/etc/"]).unwrap_err();
        assert!(e.message.contains("/etc is given twice"), "{e}");
        assert!(p(&[]).is_err());
    }
}
