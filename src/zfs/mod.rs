//! The ZFS engine (`zfs rollback -r POOL/DATASET@SNAPSHOT`). Placeholder until the ZFS issue lands.

use crate::cli::RollbackArgs;
use crate::error::{Error, Result};
use crate::rollback::Report;
use crate::status::Status;

#[derive(Debug, Clone)]
pub struct Config {
    pub dataset: String,
}

pub fn config(a: &RollbackArgs) -> Result<Config> {
    Ok(Config {
        dataset: a.dataset.clone().unwrap_or_default(),
    })
}

pub fn describe(c: &Config, status: &mut Status) {
    status.filesystem = Some("zfs".into());
    status.target = Some(c.dataset.clone());
}

pub fn rollback(_c: &Config, _dry_run: bool, _now: i64) -> Result<Report> {
    Err(Error::runtime("ZFS is not supported by this build yet"))
}
