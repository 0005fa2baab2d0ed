//! Routes a delivery the gate acts on as it is (not an evaluation of one PR) to its one
//! handler: `on_status`, `on_push`, `on_check_run`, or the merge queue's group. PR and review
//! deliveries never come here: `pool::job_of` routes them, once, to an evaluation of their PR.

use std::sync::Arc;

use super::pool::Handled;
use super::{Gate, GateError};

impl Gate {
    /// Acts on one delivery. Errors are transient code host failures: the caller retries.
    pub(crate) async fn handle(self: &Arc<Self>, event: &Handled) -> Result<(), GateError> {
        match event {
            Handled::Status(e) => self.on_status(e).await,
            Handled::Push(e) => self.on_push(e).await,
            Handled::CheckRun(e) => self.on_check_run(e).await,
            Handled::MergeGroup(e) => {
                if !self.governed.contains_key(&e.repo) {
                    return Ok(());
                }
                self.answer_merge_group(&e.repo, &e.head_sha, &e.base_sha, &e.base_ref)
                    .await
            }
        }
    }
}
