//! Running a program and collecting what it writes: what `std::process::Command::output` does,
//! for blankroot's few commands (`zfs`, `zpool`), with a small part of its code. (The standard
//! library's process code, with the fork fallback and the environment map it brings along, was
//! about 50 KB of the static binary.)
//!
//! As `Command` does: the child is started with the C library's `posix_spawnp` (a program name
//! without a slash is looked up on `PATH`), with standard input from /dev/null and standard output
//! and error into pipes that are read, both at once, until the child closes them; no signal is
//! blocked in the child and SIGPIPE is back at its default action (the Rust runtime ignores it,
//! and a child must not inherit that). Then the child is waited for.

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{waitpid, Pid, WaitOptions};
use std::ffi::{c_char, c_int, CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a finished program wrote, and whether it exited with status 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program args...` and waits for it; `env` is set in the child's environment (which is
/// otherwise ours). Only failing to start it, or to read from it, is an error.
pub fn output<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    env: Option<(&str, &str)>,
) -> io::Result<Output> {
    let mut argv = vec![program.as_os_str()];
    argv.extend(args.iter().map(AsRef::as_ref));
    run(&argv, env)
}

/// `posix_spawn_file_actions_t` and `posix_spawnattr_t` (80 and 336 bytes in glibc), with room
/// to spare; only the C library looks inside.
#[repr(C, align(8))]
struct Opaque([u8; 512]);

/// `sigset_t`: 1024 bits, signal `n` at bit `n - 1`.
#[repr(C)]
struct SigSet([u64; 16]);

const POSIX_SPAWN_SETSIGDEF: i16 = 0x04;
const POSIX_SPAWN_SETSIGMASK: i16 = 0x08;
const SIGPIPE: u32 = 13;

extern "C" {
    static environ: *const *const c_char;
    fn posix_spawn_file_actions_init(actions: *mut Opaque) -> c_int;
    fn posix_spawn_file_actions_destroy(actions: *mut Opaque) -> c_int;
    fn posix_spawn_file_actions_adddup2(actions: *mut Opaque, fd: c_int, to: c_int) -> c_int;
    fn posix_spawn_file_actions_addopen(
        actions: *mut Opaque,
        fd: c_int,
        path: *const c_char,
        flags: c_int,
        mode: u32,
    ) -> c_int;
    fn posix_spawnattr_init(attr: *mut Opaque) -> c_int;
    fn posix_spawnattr_destroy(attr: *mut Opaque) -> c_int;
    fn posix_spawnattr_setflags(attr: *mut Opaque, flags: i16) -> c_int;
    fn posix_spawnattr_setsigmask(attr: *mut Opaque, set: *const SigSet) -> c_int;
    fn posix_spawnattr_setsigdefault(attr: *mut Opaque, set: *const SigSet) -> c_int;
    fn posix_spawnp(
        pid: *mut c_int,
        file: *const c_char,
        actions: *const Opaque,
        attr: *const Opaque,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> c_int;
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A pipe whose ends are not standard input, output or error (which could be closed in this
/// process), both close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    let high = |fd: OwnedFd| match fd.as_raw_fd() {
        0..=2 => rustix::io::fcntl_dupfd_cloexec(&fd, 3),
        _ => Ok(fd),
    };
    Ok((high(r)?, high(w)?))
}

/// A C library call's result: 0, or an error number.
fn check(ret: c_int) -> io::Result<()> {
    match ret {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

fn run(argv: &[&OsStr], env: Option<(&str, &str)>) -> io::Result<Output> {
    let mut args = Vec::with_capacity(argv.len());
    for a in argv {
        args.push(c_string(a)?);
    }
    let mut arg_ptrs: Vec<*const c_char> = Vec::with_capacity(args.len() + 1);
    for a in &args {
        arg_ptrs.push(a.as_ptr());
    }
    arg_ptrs.push(std::ptr::null());
    let extra = env
        .map(|(k, v)| c_string(OsStr::new(&format!("{k}={v}"))))
        .transpose()?;
    let mut env_ptrs: Vec<*const c_char> = Vec::new();
    // SAFETY: `environ` is the process's NULL-terminated array of "NAME=value" C strings; nothing
    // in blankroot changes the environment.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = std::ffi::CStr::from_ptr(*p).to_bytes();
            let replaced = env.is_some_and(|(k, _)| {
                entry.starts_with(k.as_bytes()) && entry.get(k.len()) == Some(&b'=')
            });
            if !replaced {
                env_ptrs.push(*p);
            }
            p = p.add(1);
        }
    }
    env_ptrs.extend(extra.as_ref().map(|e| e.as_ptr()));
    env_ptrs.push(std::ptr::null());

    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let mut actions = Opaque([0; 512]);
    let mut attr = Opaque([0; 512]);
    let mut pid: c_int = 0;
    // SAFETY: the actions and attributes are initialised before use and destroyed after; every
    // pointer passed lives until `posix_spawnp` returns.
    let spawned = unsafe {
        check(posix_spawn_file_actions_init(&mut actions))?;
        check(posix_spawnattr_init(&mut attr)).inspect_err(|_| {
            posix_spawn_file_actions_destroy(&mut actions);
        })?;
        let no_signals = SigSet([0; 16]);
        let mut sigpipe = SigSet([0; 16]);
        sigpipe.0[0] = 1 << (SIGPIPE - 1);
        let ret = (|| {
            check(posix_spawn_file_actions_addopen(
                &mut actions,
                0,
                c"/dev/null".as_ptr(),
                0, // O_RDONLY
                0,
            ))?;
            check(posix_spawn_file_actions_adddup2(
                &mut actions,
                out_w.as_raw_fd(),
                1,
            ))?;
            check(posix_spawn_file_actions_adddup2(
                &mut actions,
                err_w.as_raw_fd(),
                2,
            ))?;
            check(posix_spawnattr_setsigmask(&mut attr, &no_signals))?;
            check(posix_spawnattr_setsigdefault(&mut attr, &sigpipe))?;
            check(posix_spawnattr_setflags(
                &mut attr,
                POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK,
            ))?;
            check(posix_spawnp(
                &mut pid,
                arg_ptrs[0],
                &actions,
                &attr,
                arg_ptrs.as_ptr(),
                env_ptrs.as_ptr(),
            ))
        })();
        posix_spawnattr_destroy(&mut attr);
        posix_spawn_file_actions_destroy(&mut actions);
        ret
    };
    // Our copies of the write ends must go, or the reads below never see the end.
    drop((out_w, err_w));
    spawned?;
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
    let read = read_both(out_r, err_r);
    let status = loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(status) => break status,
        }
    };
    let (stdout, stderr) = read?;
    Ok(Output {
        success: status.is_some_and(|(_, s)| s.exit_status() == Some(0)),
        stdout,
        stderr,
    })
}

/// Reads both pipes until both are closed, whichever has something first (a child blocked
/// writing one while we wait on the other would never finish).
fn read_both(out: OwnedFd, err: OwnedFd) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let fds = [out, err];
    let mut bufs = [Vec::new(), Vec::new()];
    let mut open = [true, true];
    let mut chunk = vec![0u8; 1 << 16];
    while open[0] || open[1] {
        let mut polled: Vec<PollFd<'_>> = Vec::with_capacity(2);
        let mut which = Vec::with_capacity(2);
        for i in 0..2 {
            if open[i] {
                polled.push(PollFd::new(&fds[i], PollFlags::IN));
                which.push(i);
            }
        }
        match poll(&mut polled, None) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready: Vec<usize> = polled
            .iter()
            .zip(&which)
            .filter(|(p, _)| !p.revents().is_empty())
            .map(|(_, &i)| i)
            .collect();
        for i in ready {
            match rustix::io::read(&fds[i], &mut chunk[..]) {
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
                Ok(0) => open[i] = false,
                Ok(n) => bufs[i].extend_from_slice(&chunk[..n]),
            }
        }
    }
    let [stdout, stderr] = bufs;
    Ok((stdout, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Output {
        output(Path::new("sh"), &["-c", script], None).unwrap()
    }

    #[test]
    fn collects_both_streams_and_the_status() {
        let o = sh("echo out; echo err >&2; exit 3");
        assert_eq!(
            o,
            Output {
                success: false,
                stdout: b"out\n".to_vec(),
                stderr: b"err\n".to_vec(),
            }
        );
        assert!(sh("true").success);
        assert!(!sh("kill -9 $$").success);
    }

    #[test]
    fn large_outputs_on_both_streams_do_not_block() {
        let o = sh(
            "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; head -c 1000000 /dev/zero",
        );
        assert_eq!((o.stdout.len(), o.stderr.len()), (4_000_000, 2_000_000));
        assert!(o.success);
    }

    #[test]
    fn stdin_is_empty_and_sigpipe_is_default() {
        let o = sh("cat; echo done");
        assert_eq!(o.stdout, b"done\n");
        // With SIGPIPE ignored, `yes` would see EPIPE and complain on stderr.
        let o = sh("yes | head -n 1");
        assert_eq!(
            (o.stdout.as_slice(), o.stderr.as_slice()),
            (&b"y\n"[..], &b""[..])
        );
    }

    #[test]
    fn sets_one_variable_and_keeps_the_others() {
        let o = output(
            Path::new("/bin/sh"),
            &[
                "-c".to_string(),
                "echo \"$LC_ALL:${PATH:+path}\"".to_string(),
            ],
            Some(("LC_ALL", "C")),
        )
        .unwrap();
        assert_eq!(o.stdout, b"C:path\n");
        let o = output(
            Path::new("sh"),
            &["-c", "env | grep -c '^LC_ALL='"],
            Some(("LC_ALL", "x")),
        )
        .unwrap();
        assert_eq!(o.stdout, b"1\n");
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let e = output(Path::new("/nonexistent/zfs"), &["list"], None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "No such file or directory (os error 2)",
            "the message std::process::Command gave"
        );
        let e = output(Path::new("no-such-program-blankroot"), &["x"], None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
