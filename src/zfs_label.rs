//! Recognising a ZFS pool member by the uberblock magic in its labels.

use crate::error::Result;
use std::fs::File;

/// True when the device carries a ZFS label. (Filled in by the ZFS engine.)
pub fn is_member(_f: &mut File) -> Result<bool> {
    Ok(false)
}
