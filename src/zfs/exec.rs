//! Carrying out a plan: one `zfs` command per step, in order, stopping at the first failure.

use super::cmd::Tools;
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::failpoint;

pub fn execute(tools: &Tools, plan: &Plan) -> Result<()> {
    let total = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        failpoint::hit(&format!("step-{}", i + 1));
        log::info!("step {}/{total}: {step}", i + 1);
        let (tool, argv) = step.argv();
        // A failed command may still have done part of its work (`zfs clone` that made the
        // clone but could not mount it), so never "nothing was changed" here.
        let after = if i == 0 {
            "no step before it was done; the next run starts again from what is on the pool"
        } else {
            "the steps before it are done and the next run finishes the job"
        };
        let ran = tools.run(tool, &argv).map_err(|e| {
            Error::runtime(format!(
                "step {}/{total} (`{}`): {e}; {after}",
                i + 1,
                step.command()
            ))
        })?;
        if !ran.success {
            return Err(Error::runtime(format!(
                "step {}/{total} (`{}`) failed: {}; {after}",
                i + 1,
                step.command(),
                ran.complaint()
            )));
        }
    }
    failpoint::hit(&format!("step-{}", total + 1));
    Ok(())
}
