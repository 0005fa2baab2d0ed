//! A `check_run` delivery: a `prgate/approval` check run from any app but prgate's would
//! satisfy an unpinned required check, so prgate answers it with `failure` and a comment.

use std::sync::Arc;

use crate::webhook::CheckRunEvent;

use super::{Gate, GateError};

impl Gate {
    pub(super) async fn on_check_run(self: &Arc<Self>, e: &CheckRunEvent) -> Result<(), GateError> {
        let CheckRunEvent {
            repo,
            head_sha,
            app_id,
            app_slug,
            ..
        } = e;
        if !self.governed.contains_key(repo) {
            return Ok(());
        }
        // prgate's own check run (as an App) is its decision; any other app's is not.
        let ours = self.gh.transport().app_id();
        if ours.is_some() && *app_id == ours {
            return Ok(());
        }
        // A delivery is a hint (a signed one can be replayed): the code host decides.
        let foreign = self
            .gh
            .foreign_check_runs(repo, head_sha, crate::APPROVAL_CONTEXT)
            .await?;
        let Some(slug) = foreign.first() else {
            tracing::info!(%repo, sha = %head_sha, app = ?app_slug, "a check run delivery, but the code host shows no prgate/approval check run by another app");
            return Ok(());
        };
        let creator = format!("{slug}[bot]");
        tracing::warn!(%repo, sha = %head_sha, %creator, "a prgate/approval check run from someone else");
        if let Ok(mut p) = self.memory.posted.lock() {
            p.pop(&(repo.clone(), head_sha.clone()));
        }
        self.post(
            repo,
            head_sha,
            crate::policy::ApprovalState::Failure,
            super::publish::FOREIGN_CHECK_RUN_DESCRIPTION,
            None,
        )
        .await?;
        self.comment_foreign_check(repo, head_sha, "check run", &creator)
            .await?;
        Ok(())
    }
}
