//! The gate's answer to GitHub's merge queue: every `checks_requested` gets `prgate/approval`
//! on the group's head, `success` only when every PR in the group is approved now at the head
//! the group merged, and the group's content is exactly the clean sequential merge of those
//! heads onto its base; otherwise `failure` naming the PR and the reason. Never an
//! unconditional success, never silence (DESIGN "Merge queues").

use std::sync::Arc;

use crate::executor::GroupContent;
use crate::policy::ApprovalState;
use crate::types::{CommitSha, PullNumber, PullRef, RepoName};

use super::{Gate, GateError};

impl Gate {
    /// Answers one group's `checks_requested`. A code host failure is an error (the delivery
    /// is retried, and the queue's timeout fails the group if it never clears).
    pub(super) async fn answer_merge_group(
        self: &Arc<Self>,
        repo: &RepoName,
        head: &CommitSha,
        base: &CommitSha,
        base_ref: &str,
    ) -> Result<(), GateError> {
        let branch = base_ref.strip_prefix("refs/heads/").unwrap_or(base_ref);
        if !self.is_governed(repo, branch) {
            return Ok(());
        }
        let (state, description) = match self.judge_group(repo, head, base, branch).await? {
            Ok(pulls) => (
                ApprovalState::Success,
                format!(
                    "merge group approved: {} each approved at the head merged here",
                    pulls
                        .iter()
                        .map(|n| format!("#{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Err(reason) => (
                ApprovalState::Failure,
                format!("merge group refused: {reason}"),
            ),
        };
        tracing::info!(%repo, group = %head, state = state.as_str(), %description, "merge group answered");
        let description = crate::policy::clip_description(&description);
        self.post(repo, head, state, &description, None).await?;
        Ok(())
    }

    /// `Ok(Ok(pulls))` when the group may land; `Ok(Err(reason))` when it may not.
    async fn judge_group(
        self: &Arc<Self>,
        repo: &RepoName,
        head: &CommitSha,
        base: &CommitSha,
        branch: &str,
    ) -> Result<Result<Vec<PullNumber>, String>, GateError> {
        let Some(executor) = &self.executor else {
            return Ok(Err(
                "prgate runs without a git mirror here, so it cannot read the group's content"
                    .into(),
            ));
        };
        let steps = match executor.group_content(repo, base, head).await {
            Ok(GroupContent::Steps(steps)) => steps,
            Ok(GroupContent::Differs(why)) => return Ok(Err(why)),
            Err(e) => {
                tracing::warn!(%repo, group = %head, error = %e, "cannot read the merge group");
                return Ok(Err(format!(
                    "prgate could not read the group's commits ({e})"
                )));
            }
        };
        if steps.is_empty() {
            return Ok(Err("the group holds no PR".into()));
        }
        // Each step's PR head, attributed to the open PR whose head it is.
        let open = self.gh.open_pulls(repo, Some(branch)).await?;
        let mut pulls = Vec::with_capacity(steps.len());
        for step in &steps {
            let Some(pull) = open.iter().find(|p| p.head.sha == step.head.as_str()) else {
                return Ok(Err(format!(
                    "commit {} merges {}, the head of no open PR into {branch}",
                    step.commit.short(),
                    step.head.short()
                )));
            };
            let n = PullNumber(pull.number);
            // Decided now, as for any evaluation: approvals dismissed or a "no" given after
            // the PR was queued, or a policy tightened on the base, count.
            let evaluation = self.evaluate_pull(repo, n).await?;
            let Some(evaluation) = evaluation else {
                return Ok(Err(format!("#{n} is no longer an open governed PR")));
            };
            let d = &evaluation.decision;
            if d.head_sha != step.head {
                return Ok(Err(format!(
                    "#{n} was decided at head {}, but the group merged {}",
                    d.head_sha.short(),
                    step.head.short()
                )));
            }
            if !d.is_approved() {
                let pull_ref = PullRef {
                    repo: repo.clone(),
                    number: n,
                };
                return Ok(Err(format!(
                    "{pull_ref} is not approved: {}",
                    d.description
                )));
            }
            if let Some(why) = self.plan_drift(executor, repo, n, step, d).await? {
                return Ok(Err(why));
            }
            pulls.push(n);
        }
        Ok(Ok(pulls))
    }

    /// Each plan the PR's rules run, re-run on the group's content (its head merged onto the
    /// step before), must be the one its approvers saw: prgate's latest plan comment for the
    /// head. `Some(reason)` when one is not.
    async fn plan_drift(
        &self,
        executor: &crate::executor::Executor,
        repo: &RepoName,
        n: PullNumber,
        step: &crate::executor::GroupStep,
        decision: &crate::policy::ApprovalDecision,
    ) -> Result<Option<String>, GateError> {
        for name in self.plans.named(repo, decision) {
            let shown = match executor.shown_plans(repo, n, &step.head, &name).await {
                Ok(shown) => shown,
                Err(e) => return Ok(Some(format!("cannot read the plans shown on #{n}: {e}"))),
            };
            let Some((approved, _)) = shown.last() else {
                return Ok(Some(format!("#{n} shows no plan of {name} for its head")));
            };
            let run = executor
                .plan_pull(
                    repo,
                    n,
                    &step.base,
                    &step.head,
                    &name,
                    tokio_util::sync::CancellationToken::new(),
                )
                .await;
            let run = match run {
                Ok(run) => run,
                Err(e) => {
                    return Ok(Some(format!(
                        "cannot run the plan of {name} on the group: {e}"
                    )));
                }
            };
            match (&run.plan, &run.failure) {
                (Some(now), _) if now == approved => {}
                (Some(now), _) => {
                    return Ok(Some(format!(
                        "the plan of {name} on the group ({}) is not the one approved for #{n} ({}); it needs a new approval",
                        short_digest(&now.digest),
                        short_digest(&approved.digest)
                    )));
                }
                (None, failure) => {
                    return Ok(Some(format!(
                        "the plan of {name} failed on the group for #{n}: {}",
                        failure.as_deref().unwrap_or("no effect to compare")
                    )));
                }
            }
        }
        Ok(None)
    }

    /// The reconciler's look at the merge queue: a group whose `checks_requested` delivery was
    /// lost (prgate down, a delivery dropped) has no `prgate/approval` of prgate's on its head;
    /// it is answered now, before the queue's timeout fails it. Its base is its first parent
    /// (the base tip or the group ahead), as GitHub's `base_sha` is.
    pub(super) async fn reconcile_groups(
        self: &Arc<Self>,
        repo: &RepoName,
    ) -> Result<(), GateError> {
        const PREFIX: &str = "refs/heads/gh-readonly-queue/";
        let groups = self
            .gh
            .matching_refs(repo, "heads/gh-readonly-queue/")
            .await?;
        if groups.is_empty() {
            return Ok(());
        }
        let me = self.self_account().await?;
        for (name, target) in groups {
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            // `<base>/pr-<n>-<sha>`; the base may itself hold slashes.
            let Some((branch, _)) = rest.rsplit_once("/pr-") else {
                continue;
            };
            let Ok(head) = target.parse::<CommitSha>() else {
                continue;
            };
            if !self.is_governed(repo, branch) {
                continue;
            }
            let answered = self.gh.recent_statuses(repo, &head).await?.iter().any(|s| {
                s.context == crate::APPROVAL_CONTEXT
                    && s.creator.as_ref().is_some_and(|c| me.wrote(c))
            });
            if answered {
                continue;
            }
            let Some(base) = self.gh.first_parent(repo, &head).await? else {
                continue;
            };
            tracing::info!(%repo, group = %head, "a merge group without prgate's answer; answering it now");
            self.answer_merge_group(repo, &head, &base, &format!("refs/heads/{branch}"))
                .await?;
        }
        Ok(())
    }

    /// Puts an approved PR into the merge queue, pinned to the approved head.
    pub(super) async fn enqueue_approved(
        &self,
        pull: &PullRef,
        decision: &crate::policy::ApprovalDecision,
    ) -> Result<(), GateError> {
        crate::github::queue::enqueue_pull(&self.gh, &pull.repo, pull.number, &decision.head_sha)
            .await?;
        tracing::info!(head = %decision.head_sha, "approved PR put into the merge queue with its head pinned");
        Ok(())
    }
}

/// `sha256:0123456789ab`: enough to tell two plans apart in a status.
fn short_digest(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}
