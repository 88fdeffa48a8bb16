//! Crash points for the crash tests, compiled in only with the `failpoints` feature.
//!
//! `BLANKROOT_FAILPOINT=NAME` makes the process kill itself with SIGKILL when it reaches the point
//! named NAME: no destructor, no unmount, no status record, exactly like a power cut as far as
//! blankroot's own state goes. Rollbacks name their points `step-N` (just before step N of the
//! plan, counting from 1; `step-<last+1>` is after the last step).
//! With several targets, `TARGET:NAME` (the target's escaped mount point: `home:step-1`) names
//! the point of that target's run only.

#[cfg(feature = "failpoints")]
static SCOPE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// The target whose run the next points belong to (its escaped mount point).
pub fn scope(_target: &str) {
    #[cfg(feature = "failpoints")]
    if let Ok(mut s) = SCOPE.lock() {
        *s = _target.to_string();
    }
}

#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    let wanted = std::env::var("BLANKROOT_FAILPOINT").unwrap_or_default();
    let scoped = SCOPE
        .lock()
        .map(|s| format!("{s}:{name}"))
        .unwrap_or_default();
    if wanted == name || wanted == scoped {
        log::warn!("failpoint {name}: killing myself");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// The clock: `BLANKROOT_NOW=<unix seconds>` stands in for it in builds with the `failpoints`
/// feature (tests of archives made within one second, or with the clock behind).
pub fn now() -> i64 {
    #[cfg(feature = "failpoints")]
    if let Some(secs) = std::env::var("BLANKROOT_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return secs;
    }
    crate::time::unix_now()
}

/// `BLANKROOT_IGNORE_HEADROOM=1`, in builds with the `failpoints` feature: plan as if metadata
/// space were plentiful, so the full-disk tests can drive a run into the kernel's ENOSPC
/// part-way and check that even then the root is never missing.
pub fn ignore_headroom() -> bool {
    cfg!(feature = "failpoints") && std::env::var("BLANKROOT_IGNORE_HEADROOM").as_deref() == Ok("1")
}
