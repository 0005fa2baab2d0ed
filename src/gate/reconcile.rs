//! The reconciler: re-evaluates open PRs and recent merges, so a missed webhook delays a
//! decision but never loses it.

use std::sync::Arc;
use std::time::Duration;

use crate::executor::blocking::off_runtime;
use crate::types::{PullNumber, RepoName};

use super::{Gate, GateError, Job, JobKey};

impl Gate {
    /// Re-evaluates every open PR of `repo` against its governed branches (or one branch):
    /// through the worker pool when it runs (each PR in its own lane), else one by one.
    pub(crate) async fn reconcile_repo(
        self: &Arc<Self>,
        repo: &RepoName,
        branch: Option<&str>,
    ) -> Result<(), GateError> {
        let queue = self.queue.lock().ok().and_then(|q| q.clone());
        if let Some(queue) = queue {
            for pull in self.gh.open_pulls(repo, branch).await? {
                if self.is_governed(repo, &pull.base.git_ref) {
                    let n = PullNumber(pull.number);
                    self.pool.submit(
                        self,
                        &queue,
                        JobKey::Pull(repo.clone(), n),
                        Job::Evaluate(repo.clone(), n),
                        None,
                    );
                }
            }
            return Ok(());
        }
        for pull in self.gh.open_pulls(repo, branch).await? {
            if self.is_governed(repo, &pull.base.git_ref)
                && let Err(e) = self.evaluate_pull(repo, PullNumber(pull.number)).await
            {
                tracing::warn!(%repo, pull = pull.number, error = %e, "reconcile: evaluation failed");
            }
        }
        Ok(())
    }

    /// One reconciler pass over every governed repository, and back once it is done: open PRs
    /// (through the pool, each in its PR's lane), then recent merges.
    pub async fn reconcile_once(self: &Arc<Self>) {
        let started = std::time::Instant::now();
        let ok = self.reconcile_pulls().await;
        while self.pool.busy() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.reconcile_executions(true).await;
        self.metrics
            .reconcile_pass(ok, started.elapsed().as_secs_f64());
    }

    /// The executor's pass over recent merges, on the execution pool, never two at once.
    /// `wait`: run after a pass in progress ends (a caller that needs a fresh pass); else a
    /// pass in progress makes this one unnecessary.
    pub(super) async fn reconcile_executions(&self, wait: bool) {
        let Some(executor) = &self.executor else {
            return;
        };
        let _pass = if wait {
            self.executor_pass.lock().await
        } else {
            match self.executor_pass.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        };
        if let Ok(_permit) = self.executions.acquire().await {
            let executor = executor.clone();
            off_runtime(async move { executor.reconcile().await }).await;
        }
    }

    /// Re-evaluates the open PRs of every governed repository; false when some repository
    /// could not be listed.
    async fn reconcile_pulls(self: &Arc<Self>) -> bool {
        let repos: Vec<RepoName> = self.governed.keys().cloned().collect();
        let mut ok = true;
        for repo in repos {
            if let Err(e) = self.reconcile_repo(&repo, None).await {
                tracing::warn!(%repo, error = %e, "reconcile failed; next pass will retry");
                ok = false;
            }
            if let Err(e) = self.reconcile_groups(&repo).await {
                tracing::warn!(%repo, error = %e, "reconcile of the merge queue failed; next pass will retry");
                ok = false;
            }
        }
        ok
    }

    /// A reconciler pass beside the dispatcher: its evaluations go through the pool.
    pub(super) fn start_reconcile(self: &Arc<Self>) {
        let gate = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let ok = gate.reconcile_pulls().await;
            gate.reconcile_executions(false).await;
            gate.metrics
                .reconcile_pass(ok, started.elapsed().as_secs_f64());
        });
    }
}
