//! What an engine reports about a run: for the status record, the journal and `--dry-run`.

use crate::status::Action;

#[derive(Debug, Default)]
pub struct Report {
    pub action: Option<Action>,
    pub archive: Option<String>,
    pub pruned: Vec<String>,
    pub destroyed_snapshots: Vec<String>,
    pub left_alone: Vec<String>,
    pub warnings: Vec<String>,
    /// The plan, printed by --dry-run.
    pub plan_text: String,
}
