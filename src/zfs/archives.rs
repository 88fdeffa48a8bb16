//! The archive datasets under the archive parent, as retention sees them
//! (`plan::sort_archives`), for `blankroot archives` and `restore`. Read-only: `zfs list` and
//! `zfs get` only.

use super::cmd::{Tool, Tools};
use super::{inspect, plan, Config};
use crate::archived::{archive_mode_off, Archived, LeftAlone, Listing};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

pub fn list(tools: &Tools, c: &Config, now: i64) -> Result<Listing> {
    let Some(archive) = &c.archive else {
        return Err(archive_mode_off());
    };
    let parent = archive.parent.as_str();
    let pool = c.dataset.pool();
    if !inspect::pool_imported(tools, pool)? {
        return Err(Error::runtime(format!(
            "pool {pool} is not imported: import it first (zpool import {pool})"
        )));
    }
    let facts = inspect::gather(tools, c, now)?;
    let mut listing = Listing {
        dir: parent.to_string(),
        ..Listing::default()
    };
    if facts.pool.get(parent).is_none() {
        listing.notes.push(format!(
            "the archive parent {parent} does not exist yet: no root was archived"
        ));
    }
    for s in plan::sort_archives(&facts.pool, c, parent) {
        let ds = facts.pool.get(&s.name).expect("listed");
        if let (super::model::Kind::Filesystem, Some(stamp)) = (&ds.kind, s.stamp) {
            listing.archives.push(Archived {
                marked: ds.mark.as_deref() == Some(s.base.as_str()),
                nested: facts
                    .pool
                    .descendants(&s.name)
                    .map(|(n, _)| n.clone())
                    .collect(),
                name: s.base.clone(),
                path: s.name.clone(),
                stamp,
                size_bytes: None,
            });
        }
        if let Some(reason) = s.left_alone {
            listing.left_alone.push(LeftAlone {
                name: s.name,
                reason,
            });
        }
    }
    if !listing.archives.is_empty() {
        match used(tools, &listing.archives) {
            Ok(sizes) => {
                for a in &mut listing.archives {
                    a.size_bytes = sizes.get(&a.path).copied();
                }
            }
            Err(why) => listing.size_unknown = Some(why),
        }
    }
    listing.sort();
    Ok(listing)
}

/// `zfs get -H -p -o name,value used` of the archives (`-p` on `get` is understood by
/// zfs-fuse too, unlike `zfs list -p`).
fn used(
    tools: &Tools,
    archives: &[Archived],
) -> std::result::Result<BTreeMap<String, u64>, String> {
    let mut args: Vec<String> = ["get", "-H", "-p", "-o", "name,value", "used"]
        .map(String::from)
        .to_vec();
    args.extend(archives.iter().map(|a| a.path.clone()));
    let ran = tools.run(Tool::Zfs, &args).map_err(|e| e.message)?;
    if !ran.success {
        return Err(format!("zfs get used failed: {}", ran.complaint()));
    }
    Ok(parse_used(&ran.stdout))
}

fn parse_used(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(n, v)| Some((n.to_string(), v.trim().parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn used_is_read_in_bytes() {
        let m = super::parse_used("p/old/a b\t118784\np/old/c\t-\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m["p/old/a b"], 118_784);
    }
}
