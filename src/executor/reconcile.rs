//! What brings merges to the executor: each push's new first-parent commits, and the
//! reconciler's pass over recent commits without a record and over claims left without a result.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use git2::Oid;

use super::claim::merge_of_claim;
use super::considered::{Considered, Mode};
use super::engine::Executor;
use super::error::ExecError;
use super::local::read_local;
use crate::EXECUTION_CONTEXT;
use crate::git::history::first_parent_range;
use crate::git::notes::read_note;
use crate::policy;
use crate::policy::POLICY_PATH;
use crate::record::note::Outcome;
use crate::record::run_status::{self, RunStatus};
use crate::types::{CommitSha, RepoName};

/// How many recent first-parent commits the reconciler looks at per branch.
const RECONCILE_DEPTH: usize = 50;

impl Executor {
    /// A push moved `branch` from `before` to `after`: consider each new first-parent commit.
    pub(crate) async fn on_push(
        self: &Arc<Self>,
        repo: &RepoName,
        before: Option<&CommitSha>,
        after: &CommitSha,
    ) -> Result<Vec<(CommitSha, Considered)>, ExecError> {
        let order = self
            .push_order
            .lock()
            .map(|mut m| m.entry(repo.clone()).or_default().clone())
            .unwrap_or_default();
        let _in_order = order.lock().await;
        let (mirror, _) = self.mirror(repo).await?;
        let tip = Oid::from_str(after.as_str()).map_err(Self::git_err(repo))?;
        let stop = before.and_then(|b| Oid::from_str(b.as_str()).ok());
        let commits =
            first_parent_range(&mirror, tip, stop, RECONCILE_DEPTH).map_err(Self::git_err(repo))?;
        drop(mirror);
        let mut out = Vec::new();
        for oid in commits {
            let sha: CommitSha = match oid.to_string().parse() {
                Ok(s) => s,
                Err(_) => continue,
            };
            // One commit that cannot be dealt with now must not keep the later ones from
            // being considered; the reconciler comes back to it.
            let mut result = self.consider(repo, &sha, Mode::Automatic).await;
            // The earlier merge may be running in another replica: wait a little for its
            // record rather than leave this one to the next reconciler pass (minutes away).
            for wait in [1, 2, 4, 8] {
                if !matches!(result, Err(ExecError::EarlierMergeUnrecorded(_))) {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
                result = self.consider(repo, &sha, Mode::Automatic).await;
            }
            match result {
                Ok(result) => out.push((sha, result)),
                Err(e) => {
                    tracing::warn!(%repo, merge = %sha, error = %e, "cannot consider the commit now; the reconciler retries")
                }
            }
        }
        Ok(out)
    }

    /// The reconciler's pass: recent commits of each governed branch that have no record yet.
    pub async fn reconcile(self: &Arc<Self>) {
        for governed in &self.config.repos {
            let repo = &governed.name;
            let result: Result<(), ExecError> = async {
                let (mirror, _) = self.mirror(repo).await?;
                let programs = self.config.program_paths();
                let mut todo = Vec::new();
                for branch in &governed.branches {
                    let Ok(tip) = mirror.refname_to_id(&format!("refs/heads/{branch}")) else {
                        continue;
                    };
                    for oid in first_parent_range(&mirror, tip, None, RECONCILE_DEPTH)
                        .map_err(Self::git_err(repo))?
                    {
                        // Only commits that would run an executor and have no record yet; the
                        // rest is decided from the mirror alone, without a code host call.
                        let needs_look = match read_local(&mirror, oid, repo) {
                            Ok(Some(local)) => {
                                // The dashboard lists what the notes record (after a restart
                                // too); a run in progress here is not yet what its note says.
                                if let Some(rec) = &local.existing
                                    && let Ok(sha) = oid.to_string().parse::<CommitSha>()
                                    && !self
                                        .running
                                        .lock()
                                        .map(|r| r.contains_key(&sha))
                                        .unwrap_or(true)
                                {
                                    self.dashboard.record_execution(
                                        repo,
                                        &sha,
                                        &rec.executor,
                                        rec.outcome.as_str(),
                                        rec.finished_at,
                                    );
                                }
                                let unposted = self.final_unposted.lock().map_or(true, |f| {
                                    oid.to_string()
                                        .parse::<CommitSha>()
                                        .is_ok_and(|sha| f.contains(&(repo.clone(), sha)))
                                });
                                unposted
                                    || (local.existing.is_none()
                                    && policy::parse_policy(POLICY_PATH, &local.policy_text)
                                        .map(|p| policy::govern_programs(&p, &programs))
                                        .map(|p| policy::links::govern_links(&p, &local.links))
                                        .map(|p| {
                                            // An executor to run, or a governed merge still
                                            // without its approval record.
                                            !policy::executors_for(&p, &local.changed).is_empty()
                                                || (!local.has_note
                                                    && !policy::matched_rules(&p, &local.changed)
                                                        .is_empty())
                                        })
                                        // An unreadable policy is refused (and reported) by consider.
                                        .unwrap_or(true))
                            }
                            Ok(None) => false,
                            Err(_) => true,
                        };
                        if needs_look {
                            todo.push(oid.to_string());
                        }
                    }
                }
                drop(mirror);
                for sha in todo {
                    let Ok(sha) = sha.parse::<CommitSha>() else {
                        continue;
                    };
                    let key = (repo.clone(), sha.clone());
                    let unposted = self
                        .final_unposted
                        .lock()
                        .map(|f| f.contains(&key))
                        .unwrap_or(true);
                    if !unposted && self.seen.lock().map(|s| s.contains(&key)).unwrap_or(false) {
                        continue;
                    }
                    if let Err(e) = self.consider(repo, &sha, Mode::Automatic).await {
                        tracing::warn!(%repo, merge = %sha, error = %e, "reconcile: cannot consider the commit now; next pass retries");
                    }
                }
                self.report_interrupted(repo).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(%repo, error = %e, "executor reconcile failed; next pass retries");
            }
        }
    }

    /// Claims whose run ended without a result (the process died) are reported as
    /// `interrupted`, and never re-run automatically.
    pub(super) async fn report_interrupted(&self, repo: &RepoName) -> Result<(), ExecError> {
        let claims = self.gh.matching_refs(repo, "prgate/claims/").await?;
        // The reconciler synced the mirror just before.
        let mirror = self.local_mirror(repo).await?;
        for (name, target) in claims {
            // The claim names M (`refs/prgate/claims/<M>` or `<M>-operator-<id>`); its target
            // is a claim commit on M.
            let Some(m) = merge_of_claim(&name) else {
                continue;
            };
            if self
                .running
                .lock()
                .map(|r| r.contains_key(&m))
                .unwrap_or(false)
            {
                continue;
            }
            let Ok(oid) = Oid::from_str(m.as_str()) else {
                continue;
            };
            // The local note is a cheap first look; prgate's own statuses decide, since a
            // writer can delete a note or roll back a finished one to its provisional
            // `interrupted` version.
            let maybe = match read_note(&mirror, oid) {
                Ok(Some(n)) => n
                    .execution
                    .as_ref()
                    .is_some_and(|e| e.outcome == Outcome::Interrupted),
                Ok(None) => true,
                Err(_) => false,
            };
            if !maybe {
                continue;
            }
            // Interrupted: claimed (`running`) and nothing after. A claim with no status of
            // prgate's at all is not prgate's: considering the merge reports it as blocked.
            let newest = self.own_statuses_dated(repo, &m).await?.into_iter().next();
            let interrupted = match newest {
                Some((RunStatus::Running, since)) => {
                    self.claim_is_over(repo, &target, &m, since).await?
                }
                _ => false,
            };
            // Once said, prgate's newest status is `interrupted` itself, so it is said once,
            // across restarts and replicas, whatever else considered the merge meanwhile.
            if interrupted {
                tracing::warn!(%repo, merge = %m, "execution was interrupted; not re-running it");
                self.gh
                    .post_status(
                        repo,
                        &m,
                        "failure",
                        EXECUTION_CONTEXT,
                        run_status::INTERRUPTED,
                        self.page_url(repo, &m).as_deref(),
                    )
                    .await?;
                self.metrics.execution(Outcome::Interrupted.as_str());
                let executor = read_note(&mirror, oid)
                    .ok()
                    .flatten()
                    .and_then(|n| n.execution)
                    .map(|e| e.executor)
                    .unwrap_or_default();
                self.dashboard.record_execution(
                    repo,
                    &m,
                    &executor,
                    Outcome::Interrupted.as_str(),
                    Utc::now(),
                );
            }
        }
        Ok(())
    }
}
