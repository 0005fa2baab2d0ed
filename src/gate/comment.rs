//! Decision comments on the PR: one per head and kind, found again after a restart.

use crate::policy::{self, ApprovalDecision, ApprovalState};
use crate::policy::{MergeMode, RepoPolicy};
use crate::policy::{ProposedPolicy, PullFacts};
use crate::types::{CommitSha, PullRef};

use super::{Gate, GateError};

impl Gate {
    /// One comment per decision (approved or denied) and head, never repeated.
    pub(super) async fn comment_decision(
        &self,
        pull: &PullRef,
        policy: &RepoPolicy,
        d: &ApprovalDecision,
    ) -> Result<(), GateError> {
        let (kind, template) = match d.state {
            ApprovalState::Success => ("approved", "comment_approved.md.j2"),
            ApprovalState::Failure => ("denied", "comment_denied.md.j2"),
            _ => return Ok(()),
        };
        let mut approvers: Vec<String> = d.approvals.iter().map(|a| a.login.to_string()).collect();
        approvers.dedup();
        let executors: Vec<String> = d.rules.iter().filter_map(|r| r.executor.clone()).collect();
        let context = serde_json::json!({
            "head": d.head_sha.as_str(),
            "head_short": d.head_sha.short(),
            "approvers": approvers,
            "rules": d.rules,
            "denials": d.denials,
            "description": d.description,
            "merge": if policy.merge == MergeMode::Auto { "auto" } else { "manual" },
            "executors": executors,
        });
        self.comment_once(pull, &d.head_sha, kind, template, &context)
            .await
    }

    /// A PR that changes the policy file is told, once per head, whether its new policy is
    /// valid (the status only says so when it is not).
    pub(super) async fn comment_proposed_policy(
        &self,
        pull: &PullRef,
        policy: &RepoPolicy,
        facts: &PullFacts,
    ) -> Result<(), GateError> {
        let (kind, error) = match &facts.proposed_policy {
            ProposedPolicy::Unchanged => return Ok(()),
            ProposedPolicy::Valid => ("policy_valid", String::new()),
            ProposedPolicy::Deleted => ("policy_deleted", String::new()),
            ProposedPolicy::Invalid(e) => ("policy_invalid", e.clone()),
        };
        let rule = policy::matched_rules(policy, &[crate::policy::POLICY_PATH.to_string()])
            .into_iter()
            .next()
            .map(|m| m.name);
        let context = serde_json::json!({
            "kind": kind,
            "head": facts.head_sha.as_str(),
            "head_short": facts.head_sha.short(),
            "rule": rule,
            "error": error,
        });
        self.comment_once(
            pull,
            &facts.head_sha,
            kind,
            "comment_policy.md.j2",
            &context,
        )
        .await
    }

    pub(super) async fn comment_once(
        &self,
        pull: &PullRef,
        head: &CommitSha,
        kind: &'static str,
        template: &str,
        context: &serde_json::Value,
    ) -> Result<(), GateError> {
        let key = (pull.repo.clone(), pull.number, head.clone(), kind);
        if self
            .memory
            .commented
            .lock()
            .map(|c| c.contains(&key))
            .unwrap_or(false)
        {
            return Ok(());
        }
        // Another replica, or this one before a restart, may have commented already. Only a
        // comment of prgate's own account that starts with the marker says so: anyone can
        // write the marker, and prgate's own comments quote others' text (a review body).
        let marker = format!("<!-- prgate:decision state={kind} head={head} -->");
        let me = self.self_account().await?;
        let existing = self.gh.comments(&pull.repo, pull.number).await?;
        let already = existing.iter().any(|c| {
            c.body.trim_start().starts_with(&marker) && c.user.as_ref().is_some_and(|u| me.wrote(u))
        });
        if !already {
            match self.renderer.render(template, context) {
                Ok(body) => {
                    // An operator's template may have left the marker out or moved it.
                    let body = if body.trim_start().starts_with(&marker) {
                        body
                    } else {
                        format!("{marker}\n{body}")
                    };
                    self.gh.comment(&pull.repo, pull.number, &body).await?
                }
                // A broken operator template must not block the decision itself.
                Err(e) => tracing::error!(error = %e, "cannot render the decision comment"),
            }
        }
        if let Ok(mut c) = self.memory.commented.lock() {
            c.put(key, ());
        }
        Ok(())
    }
}
