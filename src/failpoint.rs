//! Crash points for the crash tests, compiled in only with the `failpoints` feature.
//!
//! `BLANKROOT_FAILPOINT=NAME` makes the process kill itself with SIGKILL when it reaches the point
//! named NAME: no destructor, no unmount, no status record, exactly like a power cut as far as
//! blankroot's own state goes. Rollbacks name their points `step-N` (just before step N of the
//! plan, counting from 1; `step-<last+1>` is after the last step).

#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if std::env::var("BLANKROOT_FAILPOINT").as_deref() == Ok(name) {
        log::warn!("failpoint {name}: killing myself");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
