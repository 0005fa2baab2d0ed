//! Deliveries in: which PRs an event names, who pushed, and whether a push to a base branch
//! changed what decides its open PRs (the policy file); otherwise it costs no call.

use std::sync::Arc;

use crate::APPROVAL_CONTEXT;
use crate::executor::blocking::off_runtime;
use crate::policy::{Account, AccountKind, PullFacts};
use crate::types::{CommitSha, PullNumber, RepoName};
use crate::webhook::{Delivery, Event, EventAccount};

use super::{Gate, GateError};

impl Gate {
    /// Acts on one delivery that is not about one PR's decision (a status, a push, a merge
    /// group, a check run). Errors are transient code host failures: the caller retries.
    /// PR and review deliveries never come here: `pool::job_of` routes them, once, to an
    /// evaluation of their PR.
    pub(crate) async fn handle(self: &Arc<Self>, delivery: &Delivery) -> Result<(), GateError> {
        match &delivery.event {
            Event::PullRequest { .. } | Event::PullRequestReview { .. } => {}
            Event::Status {
                repo,
                sha,
                context,
                state,
                sender,
            } => {
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
                            if let Ok(mut p) = self.posted.lock() {
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
            }
            Event::Push {
                repo,
                git_ref,
                before,
                after,
                sender,
                policy_touched,
                ..
            } => {
                if let (Some(branch), Some(sender)) = (git_ref.strip_prefix("refs/heads/"), sender)
                {
                    self.remember_pusher(repo, branch, sender);
                }
                if let Some(branch) = git_ref.strip_prefix("refs/heads/")
                    && self.is_governed(repo, branch)
                {
                    // New commits on a governed branch: the executor verifies each on its own.
                    // It runs beside the worker, so a long execution never holds up decisions;
                    // its claim and provisional note make a crash show as `interrupted`.
                    if let (Some(executor), Some(after)) = (&self.executor, after) {
                        let (executor, repo, before, after) = (
                            executor.clone(),
                            repo.clone(),
                            before.clone(),
                            after.clone(),
                        );
                        let permits = self.executions.clone();
                        tokio::spawn(async move {
                            let Ok(_permit) = permits.acquire_owned().await else {
                                return;
                            };
                            let pushed = off_runtime(async move {
                                executor
                                    .on_push(&repo, before.as_ref(), &after)
                                    .await
                                    .map_err(|e| (repo, e))
                            });
                            if let Some(Err((repo, e))) = pushed.await {
                                tracing::warn!(%repo, error = %e, "executor failed on the push; the reconciler retries");
                            }
                        });
                    }
                    // Open PRs are judged by the base's policy: only a push that changed it
                    // can change their decisions. Anything else costs no call.
                    if self
                        .policy_changed(repo, before.as_ref(), after.as_ref(), *policy_touched)
                        .await?
                    {
                        self.reconcile_repo(repo, Some(branch)).await?;
                    }
                }
            }
            Event::MergeGroup {
                action,
                repo,
                head_sha,
                base_sha,
                base_ref,
                ..
            } => {
                if action == "checks_requested" && self.governed.contains_key(repo) {
                    self.answer_merge_group(repo, head_sha, base_sha, base_ref)
                        .await?;
                }
            }
            Event::CheckRun {
                repo,
                head_sha,
                app_id,
                app_slug,
                ..
            } => {
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
                if let Ok(mut p) = self.posted.lock() {
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
            }
            Event::Ping | Event::Ignored { .. } => {}
        }
        Ok(())
    }

    pub(super) fn remember_pusher(&self, repo: &RepoName, branch: &str, sender: &EventAccount) {
        let account = Account {
            login: sender.login.clone(),
            id: crate::types::UserId(sender.id),
            kind: AccountKind::from_github(&sender.kind),
        };
        if let Ok(mut m) = self.push_senders.lock() {
            let list = m.get_or_insert_mut((repo.clone(), branch.to_string()), Vec::new);
            if !list.iter().any(|a| a.id == account.id) {
                list.push(account);
            }
        }
    }

    /// Adds the pushers this process saw in push deliveries to those the activity API listed.
    pub(super) fn add_remembered_pushers(&self, facts: &mut PullFacts, head_branch: &str) {
        let Some(pushers) = facts.head_pushers.as_mut() else {
            return;
        };
        let remembered = self
            .push_senders
            .lock()
            .ok()
            .and_then(|m| {
                m.peek(&(facts.repo.clone(), head_branch.to_string()))
                    .cloned()
            })
            .unwrap_or_default();
        for a in remembered {
            if !pushers.iter().any(|p| p.id == a.id) {
                pushers.push(a);
            }
        }
    }

    /// Whether a push from `before` to `after` changed the policy file: from the delivery's
    /// own list of changed files when it is complete, else from one compare call.
    pub(super) async fn policy_changed(
        &self,
        repo: &RepoName,
        before: Option<&CommitSha>,
        after: Option<&CommitSha>,
        hint: Option<bool>,
    ) -> Result<bool, GateError> {
        if let Some(known) = hint {
            return Ok(known);
        }
        let (Some(before), Some(after)) = (before, after) else {
            return Ok(true);
        };
        let compare = self.gh.compare(repo, before, after).await?;
        Ok(match compare.files {
            Some(files) => files.iter().any(|f| {
                f.filename == crate::policy::POLICY_PATH
                    || f.previous_filename.as_deref() == Some(crate::policy::POLICY_PATH)
            }),
            None => true,
        })
    }
}
