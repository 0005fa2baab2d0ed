//! Decisions out: the `prgate/approval` status (re-posted only when the code host does not
//! already show it), forged statuses overwritten, and the check run for GitHub Apps.

use chrono::Utc;

use crate::APPROVAL_CONTEXT;
use crate::github::GitHubError;
use crate::policy::{self, ApprovalDecision, ApprovalState};
use crate::types::{CommitSha, Login, PullNumber, PullRef, RepoName};

use super::{Gate, GateError};

/// The description prgate gives a `prgate/approval` status someone else posted.
pub const FORGED_STATUS_DESCRIPTION: &str = "status set by someone other than prgate";
/// prgate's status when another app created a `prgate/approval` check run on the commit.
pub const FOREIGN_CHECK_RUN_DESCRIPTION: &str =
    "a prgate/approval check run by another app is not prgate's decision";

impl Gate {
    pub(super) async fn overwrite_forged_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        sender: Option<&Login>,
    ) -> Result<(), GateError> {
        // The delivery is a hint, and a validly signed one can be replayed long after: only
        // what the code host shows now decides. If the latest `prgate/approval` on the SHA is
        // prgate's own, the forged status is already overwritten (or was never the latest).
        let me = self.self_account().await?;
        let statuses = self.gh.recent_statuses(repo, sha).await?;
        let latest = statuses
            .iter()
            .find(|s| s.context == APPROVAL_CONTEXT)
            .and_then(|s| s.creator.as_ref());
        let latest_is_ours = latest.is_some_and(|c| me.wrote(c));
        let creator = latest.map(|c| c.login.clone());
        if latest_is_ours {
            tracing::info!(%repo, %sha, "a status delivery from someone else, but prgate's own status is the latest; nothing to overwrite");
            return Ok(());
        }
        tracing::warn!(%repo, %sha, sender = %sender.map_or("unknown".to_string(), |s| s.to_string()), "overwriting a prgate/approval status posted by someone else");
        // Forget what we posted: the forged status replaced it on the code host.
        if let Ok(mut p) = self.memory.posted.lock() {
            p.pop(&(repo.clone(), sha.clone()));
        }
        self.post(
            repo,
            sha,
            ApprovalState::Failure,
            FORGED_STATUS_DESCRIPTION,
            None,
        )
        .await?;
        if let Some(creator) = creator
            && let Err(e) = self
                .comment_foreign_check(repo, sha, "status", &creator)
                .await
        {
            tracing::warn!(%repo, %sha, error = %e, "cannot comment on the status from someone else");
        }
        Ok(())
    }

    /// Tells the PRs whose head is `sha` that a `prgate/approval` `kind` (status or check run)
    /// came from `creator`, not prgate: once per (sha, creator, kind), found again by its
    /// marker among prgate's own comments.
    pub(super) async fn comment_foreign_check(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        kind: &str,
        creator: &str,
    ) -> Result<(), GateError> {
        let me = self.self_account().await?;
        let marker = format!("<!-- prgate:foreign-check {kind} sha={sha} by={creator} -->");
        for pull in self.gh.pulls_for_commit(repo, sha).await? {
            if pull.state != "open" || pull.head.sha != sha.as_str() {
                continue;
            }
            let n = crate::types::PullNumber(pull.number);
            let existing = self.gh.comments(repo, n).await?;
            if existing.iter().any(|c| {
                c.body.trim_start().starts_with(&marker)
                    && c.user.as_ref().is_some_and(|u| me.wrote(u))
            }) {
                continue;
            }
            let body = format!(
                "{marker}\n**A `{APPROVAL_CONTEXT}` {kind} on {} was created by `{creator}`, not by prgate.** It is not an approval: only prgate's own decision counts, and prgate answered it with `failure` on that commit until it decides again. Ask the repository's admins to pin the required check `{APPROVAL_CONTEXT}` to prgate's app (`prgate config check` names what is missing).",
                sha.short()
            );
            self.gh.comment(repo, n, &body).await?;
        }
        Ok(())
    }

    /// Whether this process's latest `prgate/approval` on the SHA is `success`.
    pub(super) fn posted_success(&self, repo: &RepoName, sha: &CommitSha) -> bool {
        self.memory
            .posted
            .lock()
            .ok()
            .and_then(|p| p.peek(&(repo.clone(), sha.clone())).map(|(s, _)| *s))
            == Some(ApprovalState::Success)
    }

    /// Whether the latest `prgate/approval` on the SHA is prgate's own with this state and
    /// description.
    pub(super) async fn code_host_shows(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: ApprovalState,
        description: &str,
    ) -> Result<bool, GitHubError> {
        let me = self.self_account().await?;
        Ok(self
            .gh
            .recent_statuses(repo, sha)
            .await?
            .iter()
            .find(|s| s.context == APPROVAL_CONTEXT)
            .is_some_and(|s| {
                s.state == state.as_str()
                    && s.description.as_deref() == Some(description)
                    && s.creator.as_ref().is_some_and(|c| me.wrote(c))
            }))
    }

    /// Posts a status unless the code host already shows exactly it as prgate's latest. Its
    /// link is the PR's decision page (the dashboard when the PR is not known).
    pub(super) async fn post(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: ApprovalState,
        description: &str,
        pull: Option<PullNumber>,
    ) -> Result<(), GitHubError> {
        let key = (repo.clone(), sha.clone());
        let value = (state, description.to_string());
        let afresh = pull.is_some_and(|n| {
            self.memory
                .post_afresh
                .lock()
                .is_ok_and(|mut a| a.pop(&(repo.clone(), n)).is_some())
        });
        let remembered = !afresh
            && self
                .memory
                .posted
                .lock()
                .ok()
                .and_then(|mut p| p.get(&key).cloned())
                .as_ref()
                == Some(&value);
        // Memory only saves a post the code host already shows: another replica (or anyone)
        // may have posted since. The read is conditional, so an unchanged list costs no
        // rate limit. A PR a pass found changed since its status is posted afresh.
        if remembered && self.code_host_shows(repo, sha, state, description).await? {
            return Ok(());
        }
        let target = crate::dashboard::page_url(self.public_url.as_deref(), repo, pull);
        self.gh
            .post_status(
                repo,
                sha,
                state.as_str(),
                APPROVAL_CONTEXT,
                description,
                target.as_deref(),
            )
            .await?;
        if let Ok(mut p) = self.memory.posted.lock() {
            p.put(key, value);
        }
        Ok(())
    }

    pub(super) async fn publish(
        &self,
        pull: &PullRef,
        d: &ApprovalDecision,
        plan: Option<&crate::dashboard::PlanView>,
    ) -> Result<(), GitHubError> {
        let description = policy::clip_description(&d.description);
        tracing::info!(state = d.state.as_str(), %description, "decision");
        self.metrics.decision(d.state.as_str());
        self.dashboard.record_decision(
            pull,
            &d.head_sha,
            d.state.as_str(),
            &description,
            Utc::now(),
        );
        self.post(
            &pull.repo,
            &d.head_sha,
            d.state,
            &description,
            Some(pull.number),
        )
        .await?;
        // The check run repeats the status for people; the status stays the decision (branch
        // protection and token mode rely on it). A failed check run write is retried by the
        // next evaluation and never holds up the decision.
        if self.gh.is_app()
            && let Err(e) = self.publish_check_run(pull, d, &description, plan).await
        {
            tracing::warn!(error = %e, "cannot publish the prgate/approval check run");
        }
        Ok(())
    }

    /// The decision page of a PR, when prgate knows its public URL.
    pub(super) fn page_url(&self, pull: &PullRef) -> Option<String> {
        crate::dashboard::page_url(self.public_url.as_deref(), &pull.repo, Some(pull.number))
    }

    /// Publishes the decision as the check run `prgate/approval` on its head (GitHub Apps
    /// only): the run this app already has there is found on the code host, not in memory,
    /// so any replica updates the same run, and an unchanged one costs no write. A completed
    /// run cannot be reopened on GitHub, so a decision that goes back to pending gets a new
    /// run (the newest of a name is the one GitHub shows).
    pub(super) async fn publish_check_run(
        &self,
        pull: &PullRef,
        d: &ApprovalDecision,
        description: &str,
        plan: Option<&crate::dashboard::PlanView>,
    ) -> Result<(), GitHubError> {
        let (status, conclusion, title) = match d.state {
            ApprovalState::Pending => ("in_progress", None, "Waiting for approval"),
            ApprovalState::Success => ("completed", Some("success"), "Approved"),
            ApprovalState::Failure => ("completed", Some("failure"), "Denied"),
            // Check runs have no `error`; the title says what the status says.
            ApprovalState::Error => ("completed", Some("failure"), "Error"),
        };
        let page_url = self.page_url(pull);
        let context = serde_json::json!({
            "state": d.state.as_str(),
            "title": title,
            "description": description,
            "head": d.head_sha.as_str(),
            "head_short": d.head_sha.short(),
            "rules": d.rules,
            "approvals": d.approvals,
            "denials": d.denials,
            "notes": d.notes,
            "page_url": page_url,
            "plan": plan,
        });
        let summary = match self.renderer.render("check_run.md.j2", &context) {
            Ok(s) => clip_summary(&s),
            Err(e) => {
                // A broken operator template must not block the check run itself.
                tracing::error!(error = %e, "cannot render the check run summary");
                description.to_string()
            }
        };
        let existing = self
            .gh
            .own_check_run(&pull.repo, &d.head_sha, APPROVAL_CONTEXT)
            .await?;
        if let Some(run) = &existing
            && run.status == status
            && run.conclusion.as_deref() == conclusion
            && run.output.title.as_deref() == Some(title)
            && run.output.summary.as_deref() == Some(summary.as_str())
        {
            return Ok(());
        }
        let mut body = serde_json::json!({
            "name": APPROVAL_CONTEXT,
            "head_sha": d.head_sha.as_str(),
            "status": status,
            "external_id": pull.to_string(),
            "output": { "title": title, "summary": summary },
        });
        if let Some(c) = conclusion {
            body["conclusion"] = serde_json::json!(c);
        }
        if let Some(url) = &page_url {
            body["details_url"] = serde_json::json!(url);
        }
        match existing {
            Some(run) if !(run.status == "completed" && status != "completed") => {
                self.gh.update_check_run(&pull.repo, run.id, &body).await?;
            }
            _ => {
                self.gh.create_check_run(&pull.repo, &body).await?;
            }
        }
        Ok(())
    }
}

/// GitHub takes at most 65535 bytes of a check run's summary (it counts characters in one
/// check and bytes in another; bytes is the stricter).
const CHECK_SUMMARY_MAX_BYTES: usize = 65535;

/// Clips a check run summary to what GitHub accepts, at a character boundary, saying so.
fn clip_summary(summary: &str) -> String {
    if summary.len() <= CHECK_SUMMARY_MAX_BYTES {
        return summary.to_string();
    }
    const TAIL: &str = "\n\n… (clipped: the decision page has the rest)\n";
    let mut end = CHECK_SUMMARY_MAX_BYTES - TAIL.len();
    while !summary.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TAIL}", &summary[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_summary_is_clipped_to_githubs_byte_limit_at_a_character_boundary() {
        let long = "é".repeat(40_000);
        let clipped = clip_summary(&long);
        assert!(
            clipped.len() <= CHECK_SUMMARY_MAX_BYTES,
            "{}",
            clipped.len()
        );
        assert!(clipped.ends_with("has the rest)\n"));
        assert_eq!(clip_summary("short"), "short");
    }
}
