//! A `push` delivery: who pushed to a branch (they may not approve a PR from it); on a
//! governed branch, the executor considers the new commits, and a push that changed the
//! policy file re-decides the branch's open PRs. Anything else costs no call.

use std::sync::Arc;

use crate::executor::blocking::off_runtime;
use crate::policy::{Account, AccountKind, PullFacts};
use crate::types::{CommitSha, RepoName};
use crate::webhook::{EventAccount, PushEvent};

use super::{Gate, GateError};

impl Gate {
    pub(super) async fn on_push(self: &Arc<Self>, e: &PushEvent) -> Result<(), GateError> {
        let PushEvent {
            repo,
            git_ref,
            before,
            after,
            sender,
            policy_touched,
            ..
        } = e;
        if let (Some(branch), Some(sender)) = (git_ref.strip_prefix("refs/heads/"), sender) {
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
        Ok(())
    }

    pub(super) fn remember_pusher(&self, repo: &RepoName, branch: &str, sender: &EventAccount) {
        let account = Account {
            login: sender.login.clone(),
            id: crate::types::UserId(sender.id),
            kind: AccountKind::from_github(&sender.kind),
        };
        if let Ok(mut m) = self.memory.push_senders.lock() {
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
            .memory
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
