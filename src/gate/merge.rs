//! Merging an approved PR with its head SHA pinned and the approval trailers in the message.

use crate::github::MergeOutcome;
use crate::github::facts::gather_from_read;
use crate::policy::{self, ApprovalDecision};
use crate::record::trailers::{ApprovalTrailers, TrailerApproval};
use crate::render::truncate_chars;
use crate::types::{CommitSha, PullRef};

use super::{Gate, GateError};

impl Gate {
    /// Merges an approved PR with its head pinned, after one more look at live facts (a
    /// dismissal may have landed since). A moved head means: decide again, never merge.
    pub(super) async fn merge_approved(
        &self,
        pull: &PullRef,
        decision: &ApprovalDecision,
        plan: Option<&super::planning::PlanKnown>,
    ) -> Result<Option<CommitSha>, GateError> {
        let read = self.gh.read_pull(&pull.repo, pull.number).await?;
        let live = read.pull.clone();
        if live.head.sha != decision.head_sha.as_str() || live.state != "open" {
            tracing::info!("head moved or PR closed before the merge; not merging");
            self.metrics.merge("head_moved");
            return Ok(None);
        }
        let mut recheck = gather_from_read(&self.gh, &pull.repo, &read, &self.programs).await?;
        self.add_remembered_pushers(&mut recheck.facts, &live.head.git_ref);
        let mut again = policy::evaluate_approval(&recheck.policy, &recheck.facts);
        // The plan the evaluation showed binds this merge: the same plan, judged again.
        // The plan that binds the merge is the one that counts on the code host: prgate's latest
        // plan comment for the head (another replica's, or an earlier process's, included).
        let mut plan_digest = None;
        if let Some(p) = plan {
            let shown = self.show_plan(pull, &again.head_sha, p).await;
            again = policy::apply_plan(again, &p.counting(shown.as_ref()));
            plan_digest = shown
                .filter(|_| p.digest().is_some())
                .map(|s| s.plan.digest);
        }
        if !again.is_approved()
            || again.head_sha != decision.head_sha
            || (plan.is_some() && plan_digest.is_none())
        {
            tracing::info!(
                state = again.state.as_str(),
                "approval changed just before the merge; not merging"
            );
            self.publish(pull, &again, plan.map(|p| &p.view)).await?;
            self.metrics.merge("approval_changed");
            return Ok(None);
        }
        let trailers = ApprovalTrailers {
            pull: pull.clone(),
            head: again.head_sha.clone(),
            policy_blob: recheck.policy_blob.clone(),
            plan: plan_digest,
            approvals: again.approvals.iter().map(TrailerApproval::from).collect(),
        };
        let title = format!("Merge pull request #{} (approved via prgate)", pull.number);
        let message = merge_message(&live.title, &trailers);
        match self
            .gh
            .merge_pinned(&pull.repo, pull.number, &again.head_sha, &title, &message)
            .await?
        {
            MergeOutcome::Merged { sha } => {
                tracing::info!(merge = %sha, "merged with the approved head pinned");
                self.metrics.merge("merged");
                Ok(Some(sha))
            }
            MergeOutcome::HeadMoved => {
                tracing::info!("GitHub says the head moved (409); deciding again");
                self.metrics.merge("head_moved");
                Box::pin(self.evaluate_pull(&pull.repo, pull.number)).await?;
                Ok(None)
            }
            MergeOutcome::NotMergeable { message } => {
                tracing::warn!(%message, "GitHub refused the merge");
                self.metrics.merge("refused");
                Ok(None)
            }
        }
    }
}

/// The merge commit message: the PR title, then the approval trailers as the last paragraph.
pub fn merge_message(pr_title: &str, trailers: &ApprovalTrailers) -> String {
    // A title that itself looks like trailers must not merge into ours: it is one line in a
    // paragraph of its own, and parsing reads only the last paragraph.
    let one_line = pr_title.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = truncate_chars(&one_line, 200);
    format!("{title}\n\n{}", trailers.to_trailer_block())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_posing_as_trailers_cannot_replace_ours() {
        let ours = ApprovalTrailers {
            pull: "acme/infra#1".parse().unwrap(),
            head: "a".repeat(40).parse().unwrap(),
            policy_blob: "b".repeat(40).parse().unwrap(),
            plan: None,
            approvals: vec![],
        };
        let forged = format!(
            "x\n\nPrgate-Pull: acme/infra#9\nPrgate-Head: {}\nPrgate-Policy: {}",
            "c".repeat(40),
            "d".repeat(40)
        );
        let msg = merge_message(&forged, &ours);
        assert_eq!(ApprovalTrailers::parse(&msg), Some(ours));
    }
}
