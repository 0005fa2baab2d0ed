//! The approval record of a governed merge that runs no executor: verified as any merge is,
//! then written as prgate's note on M, so that an auditor finds every governed merge's
//! approval in git.

use git2::Oid;

use super::consider::Gathered;
use super::considered::Considered;
use super::engine::Executor;
use super::error::ExecError;
use super::verify::Verification;
use crate::record::equivalence::{Equivalence, check_content};
use crate::types::{CommitSha, RepoName};

impl Executor {
    /// Writes the approval record of a governed merge that runs no executor. A merge that does
    /// not verify gets no record (and no status: nothing was going to run); the audit reports it.
    pub(super) async fn record_approval(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        g: &Gathered,
    ) -> Result<Considered, ExecError> {
        let (m, clone_url) = (g.m, g.clone_url.as_str());
        let policy = g
            .policy
            .clone()
            .ok_or_else(|| ExecError::Other("an approval record without a policy".into()))?;
        let verified = match self.verify(repo, merge, policy, &g.local).await? {
            Verification::Approved(v) => v,
            Verification::Refused { pull, refusal } => {
                let reason = refusal.to_string();
                tracing::info!(%repo, %merge, %reason, "governed commit without a valid approval; its refusal is recorded");
                // Durable, so that a review given after the merge never launders it later.
                if let Some(pull) = &pull {
                    self.record_refusal(repo, merge, pull, None, &reason)
                        .await?;
                }
                return Ok(Considered::NotGoverned);
            }
        };
        let token = self.note_token(repo).await;
        // No git2 borrow across an await: the mirror is opened only for the local work below.
        let mirror = self.local_mirror(repo).await?;
        let h = Oid::from_str(verified.note.head.as_str()).map_err(Self::git_err(repo))?;
        if !matches!(
            check_content(&mirror, m, h),
            Ok(Equivalence::Equivalent { .. })
        ) {
            tracing::info!(%repo, %merge, "merged content differs from the approved head; no record written");
            return Ok(Considered::NotGoverned);
        }
        self.record(&mirror, clone_url, m, &verified.note, token.as_ref())?;
        Ok(Considered::Recorded)
    }
}
