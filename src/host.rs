//! What blankroot reads about the machine it runs on, every read relative to a root directory so
//! the logic can be tested on fixtures.

use std::fs;
use std::path::{Path, PathBuf};

/// Kernel command-line switch that turns blankroot off for one boot.
pub const KILL_SWITCH: &str = "rd.blankroot";

pub struct Host {
    root: PathBuf,
    cmdline: Option<String>,
}

impl Host {
    /// The running machine. `BLANKROOT_KERNEL_CMDLINE`, when set, stands in for
    /// `/proc/cmdline` (tests use it to try the kill switch; it can only turn blankroot off).
    pub fn system() -> Host {
        Host {
            root: PathBuf::from("/"),
            cmdline: std::env::var("BLANKROOT_KERNEL_CMDLINE").ok(),
        }
    }

    pub fn at(root: impl Into<PathBuf>) -> Host {
        Host {
            root: root.into(),
            cmdline: None,
        }
    }

    /// systemd's initrd and NixOS's scripted stage 1 both have `/etc/initrd-release`.
    pub fn in_initrd(&self) -> bool {
        fs::symlink_metadata(self.root.join("etc/initrd-release")).is_ok()
    }

    pub fn cmdline(&self) -> String {
        match &self.cmdline {
            Some(line) => line.clone(),
            None => fs::read_to_string(self.root.join("proc/cmdline")).unwrap_or_default(),
        }
    }

    /// The `rd.blankroot=...` word that turns blankroot off, if the command line has one
    /// (the last occurrence wins, as with other `rd.` switches).
    pub fn kill_switch(&self) -> Option<String> {
        let line = self.cmdline();
        let last = words(&line)
            .into_iter()
            .rfind(|w| w.split('=').next() == Some(KILL_SWITCH))?;
        let value = last.split_once('=').map(|(_, v)| v.to_ascii_lowercase());
        matches!(value.as_deref(), Some("0" | "no" | "false" | "off")).then_some(last)
    }

    /// What is mounted where (`proc/self/mountinfo` under the root; empty when unreadable).
    pub fn mounts(&self) -> Vec<crate::mountinfo::Mount> {
        crate::mountinfo::parse(
            &fs::read_to_string(self.root.join("proc/self/mountinfo")).unwrap_or_default(),
        )
    }

    pub fn boot_id(&self) -> Option<String> {
        let id = fs::read_to_string(self.root.join("proc/sys/kernel/random/boot_id")).ok()?;
        Some(id.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// NixOS: the blankroot configuration of the system this boot started (`/run/booted-system`,
    /// which a switch leaves alone). `None`: not known (no booted-system link, or the file
    /// unreadable); `Some(None)`: the booted system has no blankroot configuration.
    pub fn booted_config(&self) -> Option<Option<String>> {
        let system = self.root.join("run/booted-system");
        fs::metadata(&system).ok()?;
        match fs::read_to_string(system.join("etc/blankroot/config.json")) {
            Ok(text) => Some(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
            Err(_) => None,
        }
    }
}

/// Splits a kernel command line into words; double quotes group (`a="b c"`).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Creates `path` and the directories above it that are missing, new ones with `mode` (less the
/// umask).
/// Writes `bytes` to `file` whole or not at all: into a temporary name beside it (which
/// node-exporter's textfile collector ignores: it reads `*.prom` only), synced, then renamed over
/// it. The directory is made (0755) if missing; the file is 0644.
pub fn write_atomic(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let tmp = file.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dirs(dir, 0o755)?;
    }
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, file)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

pub fn create_dirs(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let host = Host::at(dir.path());
        (dir, host)
    }

    #[test]
    fn creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dirs(&deep, 0o755).unwrap();
        assert!(deep.is_dir());
        create_dirs(&deep, 0o755).unwrap();
        create_dirs(Path::new(""), 0o755).unwrap();
        fs::write(dir.path().join("file"), "").unwrap();
        assert!(create_dirs(&dir.path().join("file"), 0o755).is_err());
        assert!(create_dirs(&dir.path().join("file/x"), 0o755).is_err());
    }

    #[test]
    fn initrd_is_recognised_by_its_release_file() {
        assert!(host_with(&[("etc/initrd-release", "")]).1.in_initrd());
        assert!(!host_with(&[("etc/os-release", "")]).1.in_initrd());
    }

    #[test]
    fn kill_switch_values() {
        for (line, off) in [
            ("quiet rd.blankroot=0\n", true),
            ("rd.blankroot=no", true),
            ("rd.blankroot=1", false),
            ("rd.blankroot=0 rd.blankroot=1", false),
            ("rd.blankroot=1 rd.blankroot=off", true),
            ("rd.blankrootx=0", false),
            ("x=\"rd.blankroot=0 y\"", false),
            ("", false),
        ] {
            let (_d, host) = host_with(&[("proc/cmdline", line)]);
            assert_eq!(host.kill_switch().is_some(), off, "{line}");
        }
    }

    #[test]
    fn boot_id_is_trimmed() {
        let (_d, host) = host_with(&[("proc/sys/kernel/random/boot_id", "abc-1\n")]);
        assert_eq!(host.boot_id().as_deref(), Some("abc-1"));
        assert_eq!(host_with(&[]).1.boot_id(), None);
    }

    #[test]
    fn mounts_are_read_under_the_root() {
        let line = "22 1 0:25 /root / rw - btrfs /dev/vda2 rw,subvol=/root\n";
        let (_d, host) = host_with(&[("proc/self/mountinfo", line)]);
        assert_eq!(host.mounts()[0].source, "/dev/vda2");
        assert!(host_with(&[]).1.mounts().is_empty());
    }
}
