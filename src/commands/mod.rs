//! The commands: each takes a validated request from the command line (targets come from
//! `target` and `config`) and drives the engines below.

pub mod archives;
pub mod check;
pub mod diff;
pub mod init;
pub mod persist;
pub mod restore;
pub mod rollback;
pub mod skip;
pub mod status;
