//! Running an approved merge once it is claimed: the `running` status, the provisional record,
//! the fresh checkout, the command under its kill switch, the record and the final status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::claim::Claim;
use super::consider::Gathered;
use super::considered::{Considered, HOLD_LABEL, Mode};
use super::engine::{DEFAULT_TIMEOUT, Executor};
use super::error::ExecError;
use super::local::LocalFacts;
use super::refusal::Refusal;
use super::run::{RunResult, RunSpec, run_executor};
use super::verify::Verified;
use crate::config::ExecutorConfig;
use crate::git::worktree::checkout_fresh;
use crate::record::note::{ExecutionRecord, Outcome, PlanDigest};
use crate::record::run_status;
use crate::types::{CommitSha, PullNumber, RepoName};

/// Output kept in the record; the rest is hashed only.
const OUTPUT_CAP: usize = 1024 * 1024;

/// Marks a merge as running in this process while it lives (however the run ends).
pub(super) struct RunningHere<'a> {
    pub(super) running: &'a Mutex<HashMap<CommitSha, CancellationToken>>,
    pub(super) merge: CommitSha,
}

impl Drop for RunningHere<'_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&self.merge);
        }
    }
}

impl Executor {
    /// The kill switch, before anything starts: the record says `held` and why, the status and
    /// the PR say how to release it; nothing runs.
    pub(super) async fn hold(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        g: &Gathered,
        reason: String,
    ) -> Result<Considered, ExecError> {
        let verified = g
            .verified
            .as_ref()
            .ok_or_else(|| ExecError::Other("a hold without a verified approval".into()))?;
        let name = g.executor_name().unwrap_or_default();
        let mut note = verified.note.clone();
        note.execution = Some(ExecutionRecord::not_run(
            name,
            Outcome::Held,
            Utc::now(),
            Some(reason.clone()),
        ));
        let git_token = self.note_token(repo).await;
        let mirror = self.local_mirror(repo).await?;
        self.record(&mirror, &g.clone_url, g.m, &note, git_token.as_ref())?;
        drop(mirror);
        let (state, description) = run_status::held(&reason);
        self.status_retried(repo, merge, state, &description)
            .await?;
        self.comment(repo, PullNumber(verified.pull.number), &note, None)
            .await;
        self.metrics.execution("held");
        Ok(Considered::Held { reason })
    }

    /// Step 5 on: claims M, runs it once in a fresh checkout, and records the outcome.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn claim_and_run(
        self: &Arc<Self>,
        repo: &RepoName,
        merge: &CommitSha,
        mode: Mode,
        g: Gathered,
        name: &str,
        (approved_plan, ran_plan): (Option<PlanDigest>, Option<PlanDigest>),
        replaces_foreign_note: bool,
    ) -> Result<Considered, ExecError> {
        let Some(mut verified) = g.verified.clone() else {
            return Err(ExecError::Other("a run without a verified approval".into()));
        };
        let Some(exec) = g.exec.clone() else {
            return Err(ExecError::Other(format!(
                "a run of {name} without its configuration"
            )));
        };
        if approved_plan.is_some() {
            verified.note.plan = approved_plan;
        }
        let (m, clone_url, local) = (g.m, g.clone_url.clone(), &g.local);
        let pull_number = PullNumber(verified.pull.number);
        let mirror = self.local_mirror(repo).await?;

        // One attempt per merge in this process, from before the claim until the record and the
        // final status are written: a second consider of M here (a push and a reconciler pass at
        // once) stops now, so that it never meets the first one's claim and takes it for an
        // earlier attempt of its own; and this process's reconciler does not take its own claim,
        // with no result yet, for an interrupted run.
        let cancel = CancellationToken::new();
        match self.running.lock() {
            Ok(mut r) if !r.contains_key(merge) => {
                r.insert(merge.clone(), cancel.clone());
            }
            _ => return Ok(Considered::ClaimedElsewhere),
        }
        let _running = RunningHere {
            running: &self.running,
            merge: merge.clone(),
        };

        // --- claim: at most once, atomically on the code host, and confirmed as prgate's ---
        let tree = mirror
            .find_commit(m)
            .map_err(Self::git_err(repo))?
            .tree_id()
            .to_string();
        match self.claim(repo, merge, &tree, mode).await? {
            Claim::Ours => {}
            Claim::Elsewhere => return Ok(Considered::ClaimedElsewhere),
            Claim::Blocked(reason) => {
                drop(mirror);
                return self
                    .report_refusal(repo, merge, &Refusal::ClaimBlocked(reason), &g)
                    .await;
            }
        }
        // The claim shows on the merge commit at once, in a status only prgate can post and
        // nobody can delete: from now on no pass, replica or restart runs M again.
        // Statuses are append-only: a post whose answer was lost is sent again freely.
        let (state, description) = run_status::running(name);
        self.status_retried(repo, merge, state, &description)
            .await?;
        // An operator's re-run is their decision, and the record says so.
        let operator = self.operator_rerun(mode, local).await;
        // A provisional record: if this process dies now, the note already says `interrupted`.
        let mut note = verified.note.clone();
        let started = Utc::now();
        let mut provisional = ExecutionRecord::not_run(name, Outcome::Interrupted, started, None);
        provisional.operator = operator.clone();
        note.execution = Some(provisional);
        let git_token = self.note_token(repo).await;
        self.record(&mirror, &clone_url, m, &note, git_token.as_ref())?;

        // --- run ---
        let (mut execution, run) = self
            .run_command(
                repo,
                merge,
                name,
                &exec,
                &verified,
                (mirror, m),
                &cancel,
                started,
            )
            .await;
        execution.operator = operator;
        execution.plan = ran_plan;
        let (outcome, exit_code) = (execution.outcome, execution.exit_code);
        let (state, description) = ended_status(name, &execution, replaces_foreign_note);
        note.execution = Some(execution);

        // --- record --- (the mirror was synced before the run; notes merge on push)
        let mirror = self.local_mirror(repo).await?;
        let git_token = self.note_token(repo).await;
        self.record(&mirror, &clone_url, m, &note, git_token.as_ref())?;
        drop(mirror);
        // The run is over and its record pushed; a final status that still fails is posted
        // again from the record by the reconciler's next pass (it looks at M again for that).
        if let Err(e) = self.status_retried(repo, merge, state, &description).await {
            if let Ok(mut f) = self.final_unposted.lock() {
                f.insert((repo.clone(), merge.clone()));
            }
            return Err(e);
        }
        self.comment(
            repo,
            pull_number,
            &note,
            run.as_ref().map(|r| r.output.as_str()),
        )
        .await;
        self.metrics.execution(outcome.as_str());
        self.dashboard
            .record_execution(repo, merge, name, outcome.as_str(), Utc::now());
        Ok(Considered::Ran { outcome, exit_code })
    }

    /// An operator's re-run of a merge whose record already says how it ended: who re-ran it.
    async fn operator_rerun(&self, mode: Mode, local: &LocalFacts) -> Option<String> {
        let (Mode::Operator, Some(rec)) = (mode, &local.existing) else {
            return None;
        };
        let who = self
            .gh
            .own_login()
            .await
            .unwrap_or_else(|_| "an operator".to_string());
        Some(format!(
            "re-run by {who} with prgate execute after the record said {}",
            rec.outcome
        ))
    }

    /// Runs the executor's command on a fresh checkout of the merge, cancelled when the hold
    /// label appears on its PR: the execution's record and, when it started, its result.
    #[allow(clippy::too_many_arguments)]
    async fn run_command(
        self: &Arc<Self>,
        repo: &RepoName,
        merge: &CommitSha,
        name: &str,
        exec: &ExecutorConfig,
        verified: &Verified,
        (mirror, m): (git2::Repository, git2::Oid),
        cancel: &CancellationToken,
        started: chrono::DateTime<Utc>,
    ) -> (ExecutionRecord, Option<RunResult>) {
        let pull_number = PullNumber(verified.pull.number);
        let workdir = self.config.data_dir.join("worktrees").join(merge.as_str());
        // Whatever keeps the command from starting (a checkout that fails, a secret that does
        // not resolve) is recorded as `not_started` with the reason: nothing ran, and an
        // operator may run it again once the cause is fixed.
        let prepared = checkout_fresh(&mirror, m, &workdir)
            .map_err(|e| format!("cannot check out the merge: {e}"))
            .and_then(|checkout| {
                let env = crate::config::resolve_env(&exec.env);
                match env {
                    Ok(env) => Ok((checkout, env)),
                    Err(reason) => {
                        checkout.remove();
                        Err(reason)
                    }
                }
            });
        drop(mirror);
        match prepared {
            Err(reason) => {
                tracing::warn!(%repo, %merge, %reason, "the execution did not start");
                (
                    ExecutionRecord::not_run(name, Outcome::NotStarted, started, Some(reason)),
                    None,
                )
            }
            Ok((checkout, env)) => {
                let approvers: Vec<String> = verified
                    .note
                    .approvals
                    .iter()
                    .map(|a| a.login.to_string())
                    .collect();
                let spec = RunSpec {
                    argv: exec.command.clone(),
                    workdir: checkout.work_tree.clone(),
                    git_dir: Some(checkout.git_dir.clone()),
                    env,
                    context: vec![
                        ("PRGATE_REPO".into(), repo.to_string()),
                        ("PRGATE_PULL".into(), pull_number.to_string()),
                        ("PRGATE_MERGE_SHA".into(), merge.to_string()),
                        ("PRGATE_HEAD_SHA".into(), verified.note.head.to_string()),
                        ("PRGATE_APPROVERS".into(), approvers.join(",")),
                        ("PRGATE_CHANGED_FILES".into(), verified.changed.join("\n")),
                    ],
                    timeout: exec.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT),
                    output_cap: OUTPUT_CAP,
                    isolation: super::sandbox::Isolation::for_command(exec, &checkout.objects),
                    held: self.held.clone(),
                };
                let watcher = self.watch_hold_label(repo.clone(), pull_number, cancel.clone());
                let result = run_executor(&spec, cancel.clone()).await;
                watcher.abort();
                checkout.remove();
                (ExecutionRecord::from_run(name, &result), Some(result))
            }
        }
    }

    /// Cancels the run when the hold label appears on the PR while it runs.
    pub(super) fn watch_hold_label(
        &self,
        repo: RepoName,
        pull: PullNumber,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let gh = self.gh.clone();
        let every = self.label_poll;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Ok(p) = gh.pull(&repo, pull).await
                    && p.labels.iter().any(|l| l.name == HOLD_LABEL)
                {
                    tracing::warn!(%repo, %pull, "hold label added while running; cancelling");
                    cancel.cancel();
                    return;
                }
            }
        })
    }
}

/// The final `prgate/execution` status of a run, from its record.
fn ended_status(
    name: &str,
    rec: &ExecutionRecord,
    replaces_foreign_note: bool,
) -> (&'static str, String) {
    let detail = match rec.exit_code {
        Some(c) => format!(" with exit code {c}"),
        None => format!(": {}", rec.refusal.as_deref().unwrap_or("it did not run")),
    };
    let (state, mut description) = run_status::ended(name, rec.outcome, &detail);
    if replaces_foreign_note {
        description.push_str("; it replaced a note prgate did not write");
    }
    (state, description)
}
