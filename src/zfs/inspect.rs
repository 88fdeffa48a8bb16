//! Reading the pool: read-only `zpool list`, `zfs list` and `zfs get`, parsed into the model.
//! (The one exception, `zpool import -N`, is here because it precedes every read; it mounts
//! nothing.) Only options that both OpenZFS and the old zfs-fuse understand are used: `zfs list`
//! without `-p`, snapshots in their default order (by creation txg within a dataset).

use super::cmd::{Tool, Tools};
use super::model::Map;
use super::model::{Ds, Kind, Pool, Snap, ARCHIVE_PROPERTY};
use super::plan::Facts;
use super::Config;
use crate::error::{Error, Result};
use std::collections::BTreeSet as Set;

pub fn pool_imported(tools: &Tools, pool: &str) -> Result<bool> {
    let ran = tools.run(
        Tool::Zpool,
        &["list".into(), "-H".into(), "-o".into(), "name".into()],
    )?;
    if !ran.success {
        return Err(Error::runtime(format!(
            "`zpool list` failed: {}: nothing was changed; is ZFS loaded (the zfs kernel module) in this initrd?",
            ran.complaint()
        )));
    }
    Ok(ran.stdout.lines().any(|l| l.trim_end() == pool))
}

pub fn import_argv(pool: &str, force: bool) -> Vec<String> {
    let mut argv = vec!["import".to_string(), "-N".to_string()];
    if force {
        argv.push("-f".into());
    }
    argv.push(pool.to_string());
    argv
}

/// `zpool import -N [-f] POOL`: imports without mounting anything. The devices are searched
/// where `zpool` searches by default, or in `ZPOOL_IMPORT_PATH`.
pub fn import(tools: &Tools, pool: &str, force: bool) -> Result<()> {
    let argv = import_argv(pool, force);
    log::info!("importing pool {pool}: zpool {}", argv.join(" "));
    let ran = tools.run(Tool::Zpool, &argv)?;
    if !ran.success {
        let hint = if force {
            "check that the pool's devices are present (set ZPOOL_IMPORT_PATH to where they are) and unlocked"
        } else {
            "if the pool was last used by another system (hostid), pass --force-import; check that its devices are present and unlocked"
        };
        return Err(Error::runtime(format!(
            "`zpool {}` failed: {}: nothing was changed; {hint}",
            argv.join(" "),
            ran.complaint()
        )));
    }
    Ok(())
}

fn unexpected(what: &str, line: &str) -> Error {
    Error::runtime(format!(
        "unexpected output from {what}: {line:?}: nothing was changed; is this zfs too old or too new for blankroot?"
    ))
}

/// The columns of `zfs list` that [`parse_datasets`] reads.
pub fn dataset_columns() -> String {
    format!("name,type,origin,mounted,mountpoint,canmount,{ARCHIVE_PROPERTY}")
}

/// Parses `zfs list -H -o` [`dataset_columns`].
pub fn parse_datasets(out: &str) -> Result<Pool> {
    let mut pool = Pool::default();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, kind, origin, mounted, mountpoint, canmount, mark] = f[..] else {
            return Err(unexpected("zfs list", line));
        };
        let kind = match kind {
            "filesystem" => Kind::Filesystem,
            "volume" => Kind::Volume,
            other => Kind::Other(other.to_string()),
        };
        pool.datasets.insert(
            name.to_string(),
            Ds {
                kind,
                origin: (origin != "-" && origin.contains('@')).then(|| origin.to_string()),
                mounted: mounted == "yes",
                mountpoint: mountpoint.to_string(),
                canmount: canmount.to_string(),
                local: Map::new(),
                snapshots: None,
                mark: (mark != "-").then(|| mark.to_string()),
            },
        );
    }
    Ok(pool)
}

/// Parses `zfs get -H -o property,value`.
pub fn parse_props(out: &str) -> Result<Map<String>> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (k, v) = line
                .split_once('\t')
                .ok_or_else(|| unexpected("zfs get", line))?;
            let ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_:.-@".contains(c));
            if !ok {
                return Err(unexpected("zfs get", line));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Parses `zfs list -H -t snapshot -o name,userrefs` into the listed datasets' snapshots.
pub fn parse_snapshots(out: &str, pool: &mut Pool, listed: &Set<String>) -> Result<()> {
    for name in listed {
        if let Some(ds) = pool.datasets.get_mut(name) {
            ds.snapshots = Some(Vec::new());
        }
    }
    for line in out.lines().filter(|l| !l.is_empty()) {
        let (full, refs) = line
            .split_once('\t')
            .ok_or_else(|| unexpected("zfs list -t snapshot", line))?;
        let (ds, snap) = full
            .split_once('@')
            .ok_or_else(|| unexpected("zfs list -t snapshot", line))?;
        let Some(snaps) = pool.datasets.get_mut(ds).and_then(|d| d.snapshots.as_mut()) else {
            continue;
        };
        snaps.push(Snap {
            name: snap.to_string(),
            held: !matches!(refs.trim(), "0" | "-" | ""),
        });
    }
    Ok(())
}

/// Everything the planner needs, read without changing anything.
pub fn gather(tools: &Tools, c: &Config, now: i64) -> Result<Facts> {
    let pool_name = c.dataset.pool();
    let columns = dataset_columns();
    let out = tools.query(
        Tool::Zfs,
        &[
            "list",
            "-H",
            "-o",
            &columns,
            "-t",
            "filesystem,volume",
            "-r",
            pool_name,
        ],
    )?;
    let mut pool = parse_datasets(&out)?;
    let root = c.dataset.as_str();
    if pool.get(root).is_some() {
        let out = tools.query(
            Tool::Zfs,
            &[
                "get",
                "-H",
                "-o",
                "property,value",
                "-s",
                "local,received",
                "all",
                root,
            ],
        )?;
        let props = parse_props(&out)?;
        pool.datasets.get_mut(root).expect("listed").local = props;
    }
    // The snapshots that matter: the root's, the staging clone's, those of the datasets they were
    // cloned from (a promote moves them), and those of every archive.
    let staging = c.staging();
    let mut wanted = Set::new();
    for name in [root, staging.as_str()] {
        if let Some(ds) = pool.get(name) {
            wanted.insert(name.to_string());
            if let Some(origin) = &ds.origin {
                wanted.insert(super::model::dataset_of(origin).to_string());
            }
        }
    }
    if let Some(a) = &c.archive {
        for (n, _) in pool.children(a.parent.as_str()) {
            wanted.insert(n.clone());
        }
    }
    wanted.retain(|n| pool.get(n).is_some());
    if !wanted.is_empty() {
        let mut args = vec![
            "list",
            "-H",
            "-t",
            "snapshot",
            "-o",
            "name,userrefs",
            "-d",
            "1",
        ];
        args.extend(wanted.iter().map(String::as_str));
        let out = tools.query(Tool::Zfs, &args)?;
        parse_snapshots(&out, &mut pool, &wanted)?;
    }
    Ok(Facts { pool, now })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listings() {
        let mut pool = parse_datasets(
            "rpool\tfilesystem\t-\tno\tnone\toff\t-\n\
             rpool/local/root\tfilesystem\t-\tno\tlegacy\tnoauto\t-\n\
             rpool/old/a b\tfilesystem\trpool/local/root@blank\tyes\t/x y\ton\ta b\n\
             rpool/vol\tvolume\t-\t-\t-\t-\t-\n",
        )
        .unwrap();
        let a = pool.get("rpool/old/a b").unwrap();
        assert_eq!(a.origin.as_deref(), Some("rpool/local/root@blank"));
        assert!(a.mounted);
        assert_eq!(a.mountpoint, "/x y");
        assert_eq!(a.mark.as_deref(), Some("a b"));
        assert_eq!(pool.get("rpool").unwrap().mark, None);
        assert_eq!(pool.get("rpool/vol").unwrap().kind, Kind::Volume);
        let mut listed = Set::new();
        listed.insert("rpool/local/root".to_string());
        parse_snapshots(
            "rpool/local/root@blank\t0\nrpool/local/root@later\t2\nrpool/x@y\t0\n",
            &mut pool,
            &listed,
        )
        .unwrap();
        let snaps = pool.get("rpool/local/root").unwrap().snaps().to_vec();
        assert_eq!(snaps.len(), 2);
        assert!(!snaps[0].held && snaps[1].held);
        assert!(parse_datasets("only\ttwo\n").is_err());
        let props = parse_props("mountpoint\tlegacy\ncom.sun:auto-snapshot\tfalse\n").unwrap();
        assert_eq!(props["com.sun:auto-snapshot"], "false");
        assert!(parse_props("no tab here\n").is_err());
    }
}
