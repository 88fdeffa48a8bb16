//! The skip-next-boot request on ZFS: the user property `org.blankroot:skip-next-boot` set on
//! the root dataset itself (`zfs set` returns once the change is on disk), removed with
//! `zfs inherit`. The staging clone of archive mode never carries it.

use super::cmd::{Tool, Tools};
use super::name::Dataset;
use crate::error::{Error, Result};

pub const PROPERTY: &str = "org.blankroot:skip-next-boot";

/// When the pending request was made, if one is pending on `root` (set on it, not inherited).
pub fn pending(tools: &Tools, root: &Dataset) -> Result<Option<String>> {
    let out = tools.query(
        Tool::Zfs,
        &["get", "-H", "-o", "value,source", PROPERTY, root.as_str()],
    )?;
    let line = out.lines().next().unwrap_or_default();
    let (value, source) = line.split_once('\t').unwrap_or((line, ""));
    Ok((source.trim() == "local" && value != "-").then(|| value.to_string()))
}

/// Records a request on `root`.
pub fn request(tools: &Tools, root: &Dataset, now: i64) -> Result<String> {
    let when = crate::time::rfc3339(now);
    run(
        tools,
        &["set", &format!("{PROPERTY}={when}"), root.as_str()],
    )?;
    Ok(when)
}

/// Removes the request from `root`.
pub fn clear(tools: &Tools, root: &Dataset) -> Result<()> {
    run(tools, &["inherit", PROPERTY, root.as_str()])
}

fn run(tools: &Tools, args: &[&str]) -> Result<()> {
    let argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let ran = tools.run(Tool::Zfs, &argv)?;
    if !ran.success {
        return Err(Error::runtime(format!(
            "`zfs {}` failed: {}",
            args.join(" "),
            ran.complaint()
        )));
    }
    Ok(())
}
