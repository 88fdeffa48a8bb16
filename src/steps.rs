//! What the plans of both engines share: the numbered listing `--dry-run` prints.

use std::fmt;

/// The steps of a plan, one numbered line each.
pub fn numbered<T: fmt::Display>(f: &mut fmt::Formatter<'_>, steps: &[T]) -> fmt::Result {
    for (i, step) in steps.iter().enumerate() {
        writeln!(f, "{:>3}. {step}", i + 1)?;
    }
    Ok(())
}
