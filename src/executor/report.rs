//! What the executor writes about a merge: its record (a signed note), its
//! `prgate/execution` status, and the PR comment; and each kind of refusal reported the way
//! its [`Handling`] names.

use chrono::Utc;
use git2::{Oid, Repository};

use super::consider::Gathered;
use super::considered::Considered;
use super::engine::Executor;
use super::error::ExecError;
use super::local::{complete_record_facts, read_local};
use super::plan_run::PlanRun;
use super::refusal::{Handling, Refusal};
use super::verify::Verified;
use crate::EXECUTION_CONTEXT;
use crate::config::Secret;
use crate::git::notes::{push_notes, read_note, write_note_text};
use crate::github::models::ApiPull;
use crate::policy;
use crate::record::note::{
    ExecutionNote, ExecutionRecord, Outcome, PlanDigest, RECORD_VERSION, RecordFacts,
};
use crate::record::run_status;
use crate::record::signing::encode_note;
use crate::types::{CommitSha, PullNumber, RepoName};

/// The executor name a refusal records for a governed merge that runs no executor.
const NO_EXECUTOR: &str = "(none)";

impl Executor {
    /// Reports a refusal the way its [`Handling`] names, and answers what became of the merge.
    pub(super) async fn report_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        refusal: &Refusal,
        g: &Gathered,
    ) -> Result<Considered, ExecError> {
        let reason = refusal.to_string();
        let executor = match refusal {
            Refusal::UnknownExecutor { name, .. } => Some(name.as_str()),
            Refusal::PolicyInvalid(_) | Refusal::SeveralExecutors(_) => None,
            _ => g.executor_name(),
        };
        let approved = |what: &str| {
            g.verified
                .as_ref()
                .ok_or_else(|| ExecError::Other(format!("{what} without a verified approval")))
        };
        match refusal.handling() {
            Handling::CannotAct => self.cannot_act(repo, merge, executor, &reason).await,
            Handling::Refuse => self.refuse(repo, merge, g.pull(), executor, &reason).await,
            Handling::RefuseApproved => {
                let v = approved("a refusal of carried content")?;
                self.refuse_approved(repo, merge, v, executor.unwrap_or(NO_EXECUTOR), &reason)
                    .await
            }
            Handling::RefusePlan => {
                let v = approved("a plan refusal")?;
                self.refuse_plan(
                    repo,
                    merge,
                    v,
                    executor.unwrap_or(NO_EXECUTOR),
                    &reason,
                    refusal.approved_plan().cloned(),
                    g.plan_run.as_ref(),
                )
                .await
            }
            Handling::Block => self.block(repo, merge, g.pull(), &reason).await,
        }
    }

    /// A refusal because of the plan: recorded durably with the approved plan (the note's
    /// `plan`) and the new one (the execution's), posted on the PR with both plans' text.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn refuse_plan(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        verified: &Verified,
        executor: &str,
        reason: &str,
        approved: Option<PlanDigest>,
        now: Option<&PlanRun>,
    ) -> Result<Considered, ExecError> {
        let mut note = verified.note.clone();
        note.plan = approved.clone();
        let mut rec = ExecutionRecord::not_run(
            executor,
            Outcome::Refused,
            Utc::now(),
            Some(reason.to_string()),
        );
        rec.plan = now.and_then(|r| r.plan.clone());
        note.execution = Some(rec);
        self.write_refusal(repo, merge, note).await?;
        self.refuse(repo, merge, None, Some(executor), reason)
            .await?;
        // The approved plan's text: remembered by this process, or else as prgate's own plan
        // comment on the PR shows it (after a restart), if that text hashes to the digest.
        let approved_output = match &approved {
            None => None,
            Some(a) => match self.plan_output(&a.digest) {
                Some(text) => Some(text),
                None => {
                    let pull = PullNumber(verified.pull.number);
                    self.shown_plan_text(repo, pull, executor, a).await
                }
            },
        };
        let plans = serde_json::json!({
            "approved": approved.as_ref().map(|a| serde_json::json!({
                "digest": a.digest,
                "size": a.size,
                "output": approved_output,
            })),
            "now": now.map(|r| serde_json::json!({
                "digest": r.plan.as_ref().map(|p| p.digest.clone()),
                "size": r.plan.as_ref().map(|p| p.size),
                "output": r.output,
                "truncated": r.truncated,
                "failure": r.failure,
            })),
        });
        self.comment_refusal_with(
            repo,
            merge,
            &verified.pull,
            Some(executor),
            reason,
            Some(plans),
        )
        .await;
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    /// Nothing runs: an `error` status on M says which ref and what to do, and the PR hears it
    /// once. No claim or record is left, so the next pass retries once the ref is gone.
    pub(super) async fn block(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: Option<&ApiPull>,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        tracing::error!(%repo, %merge, %reason, "execution blocked by a ref prgate did not create");
        let (state, description) = run_status::blocked(reason);
        let latest = self.own_statuses_raw(repo, merge).await?;
        if latest
            .first()
            .map(|s| (s.state.as_str(), s.description.as_deref().unwrap_or("")))
            != Some((state, policy::clip_description(&description).as_str()))
        {
            self.status(repo, merge, state, &description).await?;
        }
        if let Some(pull) = pull {
            let body = format!(
                "<!-- prgate:blocked merge={merge} -->\n**Execution blocked** for merge `{}`: {reason}.\n\nNothing was run. Delete the ref (`git push origin :REF`, or `DELETE /repos/{repo}/git/refs/...`); the next pass (or `prgate execute --repo {repo} --commit {merge}`) runs it after the same verification.\n",
                merge.short()
            );
            if let Err(e) = self.gh.comment(repo, PullNumber(pull.number), &body).await {
                tracing::warn!(error = %e, "cannot comment the blocked execution");
            }
        }
        self.metrics.execution("blocked");
        Ok(Considered::Blocked {
            reason: reason.to_string(),
        })
    }

    pub(super) fn record(
        &self,
        mirror: &Repository,
        url: &str,
        m: Oid,
        note: &ExecutionNote,
        token: Option<&Secret>,
    ) -> Result<(), ExecError> {
        // Each write is signed anew: the note grows from the claim to the result, and a
        // signature covers the whole record as written.
        let mut note = note.clone();
        complete_record_facts(mirror, m, &mut note).map_err(|e| ExecError::Other(e.to_string()))?;
        let text = encode_note(&note, self.signing_key.as_deref())
            .map_err(|e| ExecError::Other(e.to_string()))?;
        write_note_text(mirror, m, &text).map_err(|e| ExecError::Other(e.to_string()))?;
        if let Err(e) = push_notes(mirror, url, token, &self.trusted_note()) {
            // The note stays in the mirror and goes out with the next push.
            tracing::warn!(error = %e, "cannot push the note yet");
        }
        Ok(())
    }

    /// Posts a status on M, again on an unclear answer: statuses are append-only, so a post
    /// whose answer was lost is sent again freely (a repeat shows twice and changes nothing).
    /// Only an unclear answer (no answer, a 5xx) is retried; a refusal is final.
    pub(super) async fn status_retried(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: &str,
        description: &str,
    ) -> Result<(), ExecError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.status(repo, sha, state, description).await {
                Ok(()) => return Ok(()),
                Err(ExecError::GitHub(e)) if e.is_ambiguous() && tries < 4 => {
                    tracing::warn!(%repo, merge = %sha, error = %e, "a status got no clear answer; posting it again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) async fn status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: &str,
        description: &str,
    ) -> Result<(), ExecError> {
        let d = policy::clip_description(description);
        let target = self.page_url(repo, sha);
        self.gh
            .post_status(repo, sha, state, EXECUTION_CONTEXT, &d, target.as_deref())
            .await?;
        Ok(())
    }

    /// Records a refusal durably, as a (signed) note with outcome `refused` and no approvals,
    /// so that no restart, replica or later review reconsiders it; only an operator's
    /// `prgate execute` can. Without a PR there is no approval to record a refusal of (a
    /// direct push): the status says it.
    pub(super) async fn record_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: &ApiPull,
        executor: Option<&str>,
        reason: &str,
    ) -> Result<(), ExecError> {
        let mirror = self.local_mirror(repo).await?;
        let m = Oid::from_str(merge.as_str()).map_err(Self::git_err(repo))?;
        let local = read_local(&mirror, m, repo).map_err(Self::git_err(repo))?;
        drop(mirror);
        let Some(local) = local else {
            return Ok(());
        };
        let head = pull
            .head
            .sha
            .parse()
            .map_err(|e: crate::types::InvalidId| ExecError::Other(e.to_string()))?;
        let now = Utc::now();
        let note = ExecutionNote {
            version: RECORD_VERSION,
            repo: repo.clone(),
            pull: PullNumber(pull.number),
            base: local.parent,
            head,
            merge: merge.clone(),
            policy_blob: local.policy_blob,
            rules: vec![],
            approvals: vec![],
            decided_at: now,
            plan: None,
            execution: Some(ExecutionRecord::not_run(
                executor.unwrap_or(NO_EXECUTOR),
                Outcome::Refused,
                now,
                Some(reason.to_string()),
            )),
            signature: None,
            // No approval was established, so no pushers were judged; the branch is the PR's.
            v2: Some(Box::new(RecordFacts {
                base_branch: pull.base.git_ref.clone(),
                ..RecordFacts::default()
            })),
        };
        self.write_refusal(repo, merge, note).await
    }

    /// A refusal of a merge whose approval and content verified (step 4 refused it): the note
    /// keeps the approvals, because the merge did approve its own change.
    pub(super) async fn refuse_approved(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        verified: &Verified,
        executor: &str,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        let mut note = verified.note.clone();
        note.execution = Some(ExecutionRecord::not_run(
            executor,
            Outcome::Refused,
            Utc::now(),
            Some(reason.to_string()),
        ));
        self.write_refusal(repo, merge, note).await?;
        self.refuse(repo, merge, None, Some(executor), reason)
            .await?;
        self.comment_refusal(repo, merge, &verified.pull, Some(executor), reason)
            .await;
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    pub(super) async fn write_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        note: ExecutionNote,
    ) -> Result<(), ExecError> {
        let clone_url = self.clone_url(repo).await?;
        let token = self.note_token(repo).await;
        let mirror = self.local_mirror(repo).await?;
        let m = Oid::from_str(merge.as_str()).map_err(Self::git_err(repo))?;
        let existing = read_note(&mirror, m)
            .ok()
            .flatten()
            .and_then(|n| n.execution);
        let same = existing.as_ref().is_some_and(|e| {
            e.outcome == Outcome::Refused
                && e.refusal == note.execution.as_ref().and_then(|x| x.refusal.clone())
        });
        if same {
            return Ok(());
        }
        self.record(&mirror, &clone_url, m, &note, token.as_ref())
    }

    /// The dashboard's line for a merge that did not run, and why.
    pub(super) fn show_refused(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        executor: Option<&str>,
        reason: &str,
    ) {
        self.dashboard.record_execution(
            repo,
            merge,
            executor.unwrap_or(""),
            Outcome::Refused.as_str(),
            Utc::now(),
        );
        self.dashboard.record_execution_reason(repo, merge, reason);
    }

    /// prgate cannot act on the merge for a reason of its own configuration (no such executor,
    /// several executors, a policy it cannot read): an `error`, not a refusal, and not durable —
    /// the merge is considered again once the configuration is fixed.
    pub(super) async fn cannot_act(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        executor: Option<&str>,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        tracing::warn!(%repo, %merge, %reason, "execution blocked");
        self.show_refused(repo, merge, executor, reason);
        let (state, description) = run_status::blocked(reason);
        self.status(repo, merge, state, &description).await?;
        self.metrics.execution("blocked");
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    pub(super) async fn refuse(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: Option<&ApiPull>,
        executor: Option<&str>,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        tracing::warn!(%repo, %merge, %reason, "execution refused");
        self.show_refused(repo, merge, executor, reason);
        if let Some(pull) = pull {
            self.record_refusal(repo, merge, pull, executor, reason)
                .await?;
        }
        let (state, description) = run_status::refused(reason);
        self.status(repo, merge, state, &description).await?;
        if let Some(pull) = pull {
            self.comment_refusal(repo, merge, pull, executor, reason)
                .await;
        }
        self.metrics.execution("refused");
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    /// One refusal comment per merge commit, also across restarts: found again by its marker
    /// at the start of a comment by prgate's own account (anyone may write the marker, so a
    /// writer's comment must not silence the refusal). The reason goes through the template's
    /// `oneline` filter: it can name paths from the repository.
    pub(super) async fn comment_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: &ApiPull,
        executor: Option<&str>,
        reason: &str,
    ) {
        self.comment_refusal_with(repo, merge, pull, executor, reason, None)
            .await
    }

    /// As [`Self::comment_refusal`], with the approved and the new plan when the plan refused.
    pub(super) async fn comment_refusal_with(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: &ApiPull,
        executor: Option<&str>,
        reason: &str,
        plans: Option<serde_json::Value>,
    ) {
        let marker = format!("<!-- prgate:execution merge={merge} -->");
        // Without our own login no comment can be told to be ours: comment (a repeat is better
        // than a refusal silenced).
        let me = self.own_account().await.ok();
        let already = match (&me, self.gh.comments(repo, PullNumber(pull.number)).await) {
            (Some(me), Ok(cs)) => cs.iter().any(|c| {
                c.body.trim_start().starts_with(&marker)
                    && c.user.as_ref().is_some_and(|u| me.wrote(u))
            }),
            _ => false,
        };
        if already {
            return;
        }
        let context = serde_json::json!({
            "merge": merge.as_str(),
            "merge_short": merge.short(),
            "executor": executor,
            "repo": repo.to_string(),
            "reason": reason,
            "plans": plans,
            "pull": pull.number,
        });
        let body = match self.renderer.render("comment_refused.md.j2", &context) {
            Ok(body) if body.trim_start().starts_with(&marker) => body,
            Ok(body) => format!("{marker}\n{body}"),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the refusal comment");
                return;
            }
        };
        if let Err(e) = self.gh.comment(repo, PullNumber(pull.number), &body).await {
            tracing::warn!(error = %e, "cannot comment the refusal");
        }
    }

    pub(super) async fn comment(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        note: &ExecutionNote,
        output: Option<&str>,
    ) {
        let Some(exec) = &note.execution else { return };
        // Lines as Markdown will show them: a bare `\r` (a progress bar) ends a line too.
        let tail: String = output
            .map(|o| {
                let o = crate::render::normalize_newlines(o);
                let lines: Vec<&str> = o.lines().collect();
                let start = lines.len().saturating_sub(20);
                lines[start..].join("\n")
            })
            .unwrap_or_default();
        let context = serde_json::json!({
            "merge": note.merge.as_str(),
            "merge_short": note.merge.short(),
            "head_short": note.head.short(),
            "executor": exec.executor,
            "outcome": exec.outcome.as_str(),
            "exit_code": exec.exit_code,
            "output_sha256": exec.output_sha256,
            "reason": exec.refusal,
            "output_tail": tail,
            "approvers": note.approvals.iter().map(|a| a.login.to_string()).collect::<Vec<_>>(),
        });
        match self.renderer.render("comment_executed.md.j2", &context) {
            Ok(body) => {
                if let Err(e) = self.gh.comment(repo, pull, &body).await {
                    tracing::warn!(error = %e, "cannot comment the execution outcome");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot render the execution comment"),
        }
    }
}
