//! The reconciler: a missed webhook delays a decision but never loses it. A pass lists each
//! governed repository's open PRs (one query per 100) and re-evaluates only those whose
//! decision may have changed, as the code host shows (see [`super::due`]); then it answers
//! merge groups and looks at recent merges. A pass waits while a budget of the repository's
//! credential runs low, so webhook-driven decisions keep what is left.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::dashboard::BudgetRow;
use crate::executor::blocking::off_runtime;
use crate::github::open_pulls::list_open_pulls;
use crate::types::{PullNumber, RepoName};

use super::due::{BranchView, due};
use super::{Gate, GateError, Job, JobKey};

/// Below this share of a budget left, passes wait for its reset; webhook-driven decisions go
/// on down to the transport's own reserve.
pub(crate) const PASS_BUDGET_SHARE: f64 = 0.2;

impl Gate {
    /// Re-evaluates every open PR of `repo` on `branch` (a push changed its policy, which may
    /// change every decision there): through the pool when it runs, else one by one.
    pub(crate) async fn reconcile_repo(
        self: &Arc<Self>,
        repo: &RepoName,
        branch: Option<&str>,
    ) -> Result<(), GateError> {
        for pull in self.gh.open_pulls(repo, branch).await? {
            if self.is_governed(repo, &pull.base.git_ref) {
                self.reevaluate(repo, PullNumber(pull.number)).await;
            }
        }
        Ok(())
    }

    /// Evaluates a PR through the worker pool (in its PR's lane) when it runs, else now.
    async fn reevaluate(self: &Arc<Self>, repo: &RepoName, n: PullNumber) {
        let queue = self.queue.lock().ok().and_then(|q| q.clone());
        match queue {
            Some(queue) => self.pool.submit(
                self,
                &queue,
                JobKey::Pull(repo.clone(), n),
                Job::Evaluate(repo.clone(), n),
                None,
            ),
            None => {
                if let Err(e) = self.evaluate_pull(repo, n).await {
                    tracing::warn!(%repo, pull = %n, error = %e, "reconcile: evaluation failed");
                }
            }
        }
    }

    /// One repository's share of a pass: the listing, the PRs it shows due, the merge groups.
    async fn pass_repo(self: &Arc<Self>, repo: &RepoName) -> Result<(), GateError> {
        let branches = self.governed.get(repo).cloned().unwrap_or_default();
        let listing = list_open_pulls(&self.gh, repo, &branches).await?;
        self.metrics.reconcile_listed(listing.pulls.len());
        let me = self.self_account().await?;
        let now = self.clock.now();
        let views: std::collections::BTreeMap<&String, BranchView> = listing
            .policies
            .iter()
            .map(|(b, p)| {
                let view = if p.unreadable {
                    BranchView::of(None, p.changed_at)
                } else {
                    let mut v = BranchView::of(p.text.as_deref(), p.changed_at);
                    if p.text.is_none() {
                        // No policy file: nothing merges or expires by it.
                        v.merges = false;
                        v.queued = false;
                    }
                    v
                };
                (b, view)
            })
            .collect();
        // A branch whose policy blob is not the one this process saw last time changed its
        // policy, whatever the date on the commit that changed it (a committer sets it).
        let moved: std::collections::BTreeSet<&String> = match self.memory.policy_seen.lock() {
            Ok(mut seen) => listing
                .policies
                .iter()
                .filter(|(b, p)| {
                    let before = seen.insert((repo.clone(), (*b).clone()), p.blob.clone());
                    before.is_some_and(|before| before != p.blob)
                })
                .map(|(b, _)| b)
                .collect(),
            Err(_) => Default::default(),
        };
        for pull in &listing.pulls {
            if !self.is_governed(repo, &pull.base_ref) {
                continue;
            }
            let view = views.get(&pull.base_ref).cloned().unwrap_or_default();
            let why = due(pull, &view, &me, now).or_else(|| {
                moved
                    .contains(&pull.base_ref)
                    .then_some(super::due::Due::PolicyChanged)
            });
            let Some(why) = why else {
                continue;
            };
            tracing::debug!(%repo, pull = pull.number, why = why.as_str(), "re-evaluating");
            self.metrics.reconcile_due(why.as_str());
            let n = PullNumber(pull.number);
            if why.posts_afresh()
                && let Ok(mut a) = self.memory.post_afresh.lock()
            {
                a.put((repo.clone(), n), ());
            }
            self.reevaluate(repo, n).await;
        }
        if views.values().any(|v| v.queued) {
            self.reconcile_groups(repo).await?;
        }
        Ok(())
    }

    /// One reconciler pass over every governed repository, and back once it is done: open PRs
    /// (through the pool, each in its PR's lane), then recent merges.
    pub async fn reconcile_once(self: &Arc<Self>) {
        let started = std::time::Instant::now();
        let ok = self.reconcile_pulls(Duration::ZERO).await;
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

    /// Looks at the open PRs of every governed repository, one repository every `spread`
    /// (so that a pass's calls do not come at once); false when some repository could not be
    /// listed. A repository whose credential runs low on a budget waits for the next pass.
    async fn reconcile_pulls(self: &Arc<Self>, spread: Duration) -> bool {
        let repos: Vec<RepoName> = self.governed.keys().cloned().collect();
        let mut ok = true;
        for (i, repo) in repos.iter().enumerate() {
            if i > 0 && !spread.is_zero() {
                tokio::time::sleep(spread).await;
            }
            if let Some(low) = self.gh.transport().low_budget(repo, PASS_BUDGET_SHARE) {
                let why = format!(
                    "{} has {} of {} left; the pass waits for its reset",
                    low.name,
                    low.remaining,
                    low.limit.map_or("?".to_string(), |l| l.to_string())
                );
                tracing::warn!(%repo, budget = %low.name, remaining = low.remaining, "budget low; this repository's pass waits, webhook-driven decisions go on");
                self.metrics.reconcile_waiting(&repo.to_string(), true);
                self.dashboard.record_pass_waiting(repo, Some(why));
                continue;
            }
            self.metrics.reconcile_waiting(&repo.to_string(), false);
            self.dashboard.record_pass_waiting(repo, None);
            if let Err(e) = self.pass_repo(repo).await {
                tracing::warn!(%repo, error = %e, "reconcile failed; next pass will retry");
                ok = false;
            }
        }
        self.record_budgets();
        ok
    }

    /// Shows the budgets as the code host last told them on the dashboard.
    fn record_budgets(&self) {
        let rows = self
            .gh
            .transport()
            .budgets()
            .into_iter()
            .map(|b| BudgetRow {
                name: b.name,
                remaining: b.remaining,
                limit: b.limit,
                resets_at: b
                    .reset_epoch
                    .and_then(|r| chrono::DateTime::from_timestamp(r as i64, 0))
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            })
            .collect();
        self.dashboard.record_budgets(rows);
    }

    /// A reconciler pass beside the dispatcher: its evaluations go through the pool, its
    /// repositories spread over most of the interval. A pass still running skips this one.
    pub(super) fn start_reconcile(self: &Arc<Self>) {
        if self.pass_running.swap(true, Ordering::SeqCst) {
            tracing::debug!("a reconciler pass is still running; skipping this tick");
            return;
        }
        let gate = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let repos = gate.governed.len().max(1) as u32;
            let spread = gate.pass_interval.mul_f64(0.8) / repos;
            let ok = gate.reconcile_pulls(spread).await;
            gate.reconcile_executions(false).await;
            gate.metrics
                .reconcile_pass(ok, started.elapsed().as_secs_f64());
            gate.pass_running.store(false, Ordering::SeqCst);
        });
    }
}
