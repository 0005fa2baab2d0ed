//! A `status` delivery: someone else's `prgate/approval` is overwritten (the code host says
//! who posted it, by account id), and another required check turning green on an approved
//! head may let its PR be merged now.

use std::sync::Arc;

use crate::APPROVAL_CONTEXT;
use crate::types::PullNumber;
use crate::webhook::StatusEvent;

use super::{Gate, GateError};

impl Gate {
    pub(super) async fn on_status(self: &Arc<Self>, e: &StatusEvent) -> Result<(), GateError> {
        let StatusEvent {
            repo,
            sha,
            context,
            state,
            sender,
        } = e;
        if !self.governed.contains_key(repo) {
            return Ok(());
        }
        if context == APPROVAL_CONTEXT {
            // The sender's login is only a hint here: whether the latest status is
            // prgate's own is judged by the creator's id when overwriting.
            match self.self_account().await {
                Ok(me) if sender.as_ref() == Some(me.login()) => {}
                Ok(_) => {
                    self.overwrite_forged_status(repo, sha, sender.as_ref())
                        .await?
                }
                Err(e) => {
                    // Who posted it is unknown: our memory of what this SHA shows can no
                    // longer be trusted, so the next evaluation posts again.
                    if let Ok(mut p) = self.memory.posted.lock() {
                        p.pop(&(repo.clone(), sha.clone()));
                    }
                    return Err(e.into());
                }
            }
        } else if state == "success" && self.posted_success(repo, sha) {
            // Another required check turned green on a head we approved: a PR waiting
            // to be merged may now be. Other checks' statuses cost no API call (after a
            // restart, the reconciler picks such a PR up).
            for pull in self.gh.pulls_for_commit(repo, sha).await? {
                if pull.state == "open" && pull.head.sha == sha.as_str() {
                    self.evaluate_pull(repo, PullNumber(pull.number)).await?;
                }
            }
        }
        Ok(())
    }
}
