//! Running `zfs` and `zpool`: found on `PATH` (or beside `--zfs-command`), started directly with
//! an argument vector (never through a shell), standard input from /dev/null, `LC_ALL=C` (the
//! messages are matched and quoted), their output captured.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where `PATH` is unset (it is set in every initrd we know; this is a fallback).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Zfs,
    Zpool,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Zfs => "zfs",
            Tool::Zpool => "zpool",
        }
    }
}

/// The two programs, by absolute path.
#[derive(Debug, Clone)]
pub struct Tools {
    zfs: PathBuf,
    zpool: PathBuf,
}

/// What a finished command said.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Stderr as one line, for an error message.
    pub fn complaint(&self) -> String {
        one_line(&self.stderr)
    }
}

pub fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let mut out: String = joined.chars().take(400).collect();
    if out.len() < joined.len() {
        out.push_str("...");
    }
    if out.is_empty() {
        out = "no message".into();
    }
    out
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Tools {
    /// `zfs` and `zpool` from `--zfs-command` (zpool beside it) or from `PATH`.
    pub fn locate(explicit: Option<&Path>, path_var: Option<OsString>) -> Result<Tools> {
        if let Some(zfs) = explicit {
            if !executable(zfs) {
                return Err(Error::usage(format!(
                    "--zfs-command {}: no executable file there: nothing was changed; give the path of the zfs program",
                    zfs.display()
                )));
            }
            let zpool = zfs.with_file_name("zpool");
            if !executable(&zpool) {
                return Err(Error::usage(format!(
                    "--zfs-command {}: there is no executable zpool beside it ({}): nothing was changed; blankroot needs both programs in one directory",
                    zfs.display(),
                    zpool.display()
                )));
            }
            return Ok(Tools {
                zfs: zfs.to_path_buf(),
                zpool,
            });
        }
        let path = path_var.unwrap_or_else(|| DEFAULT_PATH.into());
        let find = |tool: Tool| {
            std::env::split_paths(&path)
                .filter(|d| d.is_absolute())
                .map(|d| d.join(tool.name()))
                .find(|p| executable(p))
                .ok_or_else(|| {
                    Error::runtime(format!(
                        "{} is not on PATH ({}): nothing was changed; put ZFS into the initrd (boot.supportedFilesystems = [ \"zfs\" ]) or pass --zfs-command /path/to/zfs",
                        tool.name(),
                        path.to_string_lossy()
                    ))
                })
        };
        Ok(Tools {
            zfs: find(Tool::Zfs)?,
            zpool: find(Tool::Zpool)?,
        })
    }

    pub fn path(&self, tool: Tool) -> &Path {
        match tool {
            Tool::Zfs => &self.zfs,
            Tool::Zpool => &self.zpool,
        }
    }

    /// Runs `tool args...` and waits for it. Only failing to start it at all is an error here.
    pub fn run(&self, tool: Tool, args: &[String]) -> Result<Ran> {
        log::debug!("running {} {}", tool.name(), args.join(" "));
        let out = Command::new(self.path(tool))
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io(format!("running {}", self.path(tool).display()), e))?;
        Ok(Ran {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs a read-only query and returns its standard output; a failure is a runtime error
    /// that says nothing was changed.
    pub fn query(&self, tool: Tool, args: &[&str]) -> Result<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let ran = self.run(tool, &args)?;
        if !ran.success {
            return Err(Error::runtime(format!(
                "`{} {}` failed: {}: nothing was changed",
                tool.name(),
                args.join(" "),
                ran.complaint()
            )));
        }
        Ok(ran.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake(dir: &Path, name: &str) {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn finds_both_programs_on_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fake(a.path(), "zpool");
        fake(b.path(), "zfs");
        fake(b.path(), "zpool");
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        let t = Tools::locate(None, Some(path)).unwrap();
        assert_eq!(t.path(Tool::Zfs), b.path().join("zfs"));
        assert_eq!(t.path(Tool::Zpool), a.path().join("zpool"));
    }

    #[test]
    fn missing_programs_are_named() {
        let a = tempfile::tempdir().unwrap();
        let err = Tools::locate(None, Some(a.path().into())).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.message.starts_with("zfs is not on PATH"),
            "{}",
            err.message
        );
        fake(a.path(), "zfs");
        let err = Tools::locate(Some(&a.path().join("zfs")), None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.message.contains("no executable zpool"),
            "{}",
            err.message
        );
        let err = Tools::locate(Some(&a.path().join("nope")), None).unwrap_err();
        assert!(
            err.message.contains("no executable file"),
            "{}",
            err.message
        );
        fs::write(a.path().join("zpool"), "not executable").unwrap();
        assert!(Tools::locate(Some(&a.path().join("zfs")), None).is_err());
    }

    /// `/bin/sh` standing in for both programs: `run(Tool::Zfs, ["-c", script])`.
    fn sh() -> Tools {
        Tools {
            zfs: "/bin/sh".into(),
            zpool: "/bin/sh".into(),
        }
    }

    fn script(text: &str) -> Ran {
        sh().run(Tool::Zfs, &["-c".into(), text.into()]).unwrap()
    }

    #[test]
    fn collects_both_streams_and_the_status() {
        let r = script("echo out; echo err >&2; exit 3");
        assert!(!r.success);
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));
        assert!(script("true").success);
        assert!(!script("kill -9 $$").success);
        // Both pipes are read at once: a child that fills one while we read the other finishes.
        let r = script(
            "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; head -c 1000000 /dev/zero",
        );
        assert_eq!((r.stdout.len(), r.stderr.len()), (4_000_000, 2_000_000));
        assert!(r.success);
    }

    #[test]
    fn stdin_is_empty_sigpipe_is_default_and_lc_all_is_c() {
        assert_eq!(script("cat; echo done").stdout, "done\n");
        // With SIGPIPE ignored, `yes` would see EPIPE and complain on stderr.
        let r = script("yes | head -n 1");
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("y\n", ""));
        let r = script("echo \"$LC_ALL:${PATH:+path}\"; env | grep -c '^LC_ALL='");
        assert_eq!(r.stdout, "C:path\n1\n");
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error() {
        let gone = Tools {
            zfs: "/nonexistent/zfs".into(),
            zpool: "/nonexistent/zpool".into(),
        };
        let e = gone.run(Tool::Zpool, &["list".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.message,
            "running /nonexistent/zpool: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn stderr_becomes_one_line() {
        assert_eq!(
            one_line("cannot open 'x':\n  no such pool\n\n"),
            "cannot open 'x':; no such pool"
        );
        assert_eq!(one_line(""), "no message");
        assert!(one_line(&"x".repeat(1000)).len() < 420);
    }
}
