//! `/proc/self/mountinfo`: what is mounted where, to find the live root and the mounts on it.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the filesystem (the same for every subvolume of one Btrfs).
    pub dev: String,
    /// The path inside the filesystem that is mounted (`/root` for `subvol=/root`).
    pub fs_root: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

impl Mount {
    /// The `subvol=` of a Btrfs mount, without its leading slash.
    pub fn subvol(&self) -> Option<String> {
        self.super_options
            .split(',')
            .find_map(|o| o.strip_prefix("subvol="))
            .map(|s| s.trim_start_matches('/').to_string())
    }
}

pub fn read() -> Vec<Mount> {
    parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

pub fn parse(text: &str) -> Vec<Mount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if dash < 6 || fields.len() < dash + 3 {
            continue;
        }
        mounts.push(Mount {
            dev: fields[2].to_string(),
            fs_root: PathBuf::from(unescape(fields[3])),
            mount_point: PathBuf::from(unescape(fields[4])),
            fstype: fields[dash + 1].to_string(),
            source: unescape(fields[dash + 2]),
            super_options: fields.get(dash + 3).copied().unwrap_or("").to_string(),
        });
    }
    mounts
}

/// The mount that holds `path` (the last one mounted on the longest matching mount point).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<(usize, &Mount)> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point) {
            let depth = m.mount_point.components().count();
            // `>=`: of equal depth, the later one (mounted over the earlier).
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, m));
            }
        }
    }
    best.map(|(_, m)| m)
}

/// Mount points strictly below `root`, relative to it.
pub fn below<'a>(mounts: &'a [Mount], root: &Path) -> Vec<(PathBuf, &'a Mount)> {
    let mut found = Vec::new();
    for m in mounts {
        if let Ok(rel) = m.mount_point.strip_prefix(root) {
            if !rel.as_os_str().is_empty() {
                found.push((rel.to_path_buf(), m));
            }
        }
    }
    found
}

/// Where the directory `fs_root` of filesystem `dev` is mounted: on `/` if it is, else the first
/// mount of it.
pub fn mounted_from<'a>(mounts: &'a [Mount], dev: &str, fs_root: &Path) -> Option<&'a Mount> {
    let mut of = mounts
        .iter()
        .filter(|m| m.dev == dev && m.fs_root == fs_root);
    let first = of.next()?;
    if first.mount_point == Path::new("/") {
        return Some(first);
    }
    of.find(|m| m.mount_point == Path::new("/")).or(Some(first))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let d = |k: usize| u32::from(b[i + k] - b'0');
            out.push((d(1) * 64 + d(2) * 8 + d(3)) as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:25 /root / rw,relatime shared:1 - btrfs /dev/vda2 rw,space_cache=v2,subvolid=256,subvol=/root
23 22 0:25 /nix /nix rw,relatime shared:2 - btrfs /dev/vda2 rw,subvolid=257,subvol=/nix
24 22 0:5 / /dev rw,nosuid shared:3 - devtmpfs devtmpfs rw,size=4k
25 22 0:25 /persist/etc/nixos /etc/nixos rw shared:2 - btrfs /dev/vda2 rw,subvolid=258,subvol=/persist
26 22 0:30 / /my\\040dir rw - tmpfs none rw
";

    #[test]
    fn parses_and_finds() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].subvol().as_deref(), Some("root"));
        assert_eq!(m[0].source, "/dev/vda2");
        assert_eq!(m[4].mount_point, Path::new("/my dir"));
        assert_eq!(
            mount_of(&m, Path::new("/")).unwrap().fs_root,
            Path::new("/root")
        );
        assert_eq!(
            mount_of(&m, Path::new("/nix/store")).unwrap().mount_point,
            Path::new("/nix")
        );
        let rel: Vec<PathBuf> = below(&m, Path::new("/")).into_iter().map(|r| r.0).collect();
        assert_eq!(
            rel,
            ["nix", "dev", "etc/nixos", "my dir"].map(PathBuf::from)
        );
        let at = |root: &str| mounted_from(&m, "0:25", Path::new(root)).map(|m| &m.mount_point);
        assert_eq!(at("/root"), Some(&PathBuf::from("/")));
        assert_eq!(at("/persist/etc/nixos"), Some(&PathBuf::from("/etc/nixos")));
        assert_eq!(at("/home"), None);
        let twice = parse("1 0 0:25 /r /mnt rw - btrfs d rw\n2 0 0:25 /r / rw - btrfs d rw\n");
        assert_eq!(
            mounted_from(&twice, "0:25", Path::new("/r"))
                .unwrap()
                .mount_point,
            Path::new("/")
        );
    }
}
