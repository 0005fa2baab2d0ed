//! The gate: a delivery names a PR to re-evaluate; the gate gathers the facts afresh from the
//! code host, asks the policy engine, posts `prgate/approval` on the head SHA and, when the
//! policy says `merge = "auto"`, merges with that SHA pinned (`"queue"`: puts it into GitHub's
//! merge queue, and answers the queue's groups, `merge_group`). Every evaluation is recomputed
//! from scratch, so it is idempotent and any replica may handle any delivery. The reconciler
//! re-evaluates open PRs so that a missed webhook delays a decision but never loses it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::ServerConfig;
use crate::dashboard::Dashboard;
use crate::executor::Executor;
use crate::github::facts::GatherError;
use crate::github::{GitHub, GitHubError};
use crate::metrics::Metrics;
use crate::policy::ApprovalDecision;
use crate::policy::ProgramPaths;
use crate::render::Renderer;
use crate::types::{CommitSha, PullNumber, PullRef, RepoName};
use crate::webhook::Queue;

/// A decision comment: (repo, pull, head, kind).
type CommentKey = (RepoName, PullNumber, CommitSha, &'static str);

/// What the gate remembers per key (statuses posted, comments made, pushers, review
/// requests): only a saving of calls, so the least recently used are forgotten past this.
const REMEMBERED_ENTRIES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(100_000).unwrap();

mod comment;
mod deliver;
mod due;
mod evaluate;
mod memory;
mod merge;
mod merge_group;
mod on_check_run;
mod on_push;
mod on_status;
mod planning;
mod pool;
mod publish;
mod reconcile;
mod worker;

pub use merge::merge_message;
pub use pool::Pool;
pub(crate) use pool::{Job, JobKey};
pub use publish::FORGED_STATUS_DESCRIPTION;

/// `pull_request` actions that change nothing prgate decides on.
pub(crate) const IGNORED_PULL_ACTIONS: &[&str] = &[
    "closed",
    "assigned",
    "unassigned",
    "review_requested",
    "review_request_removed",
    "locked",
    "unlocked",
    "milestoned",
    "demilestoned",
];

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Gather(#[from] GatherError),
}

/// What one evaluation did, for logs and tests.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub pull: PullRef,
    pub decision: ApprovalDecision,
    pub merged: Option<CommitSha>,
}

/// What the dispatcher takes besides deliveries: a reconciler tick. Evaluations themselves
/// run on the pool, one at a time per PR (its lane), so that two evaluations of the same PR
/// never interleave their status posts.
enum Work {
    Reconcile,
}

pub struct Gate {
    gh: Arc<GitHub>,
    governed: BTreeMap<RepoName, Vec<String>>,
    public_url: Option<String>,
    metrics: Metrics,
    dashboard: Dashboard,
    /// What this process remembers to save calls; forgetting any of it is safe.
    memory: memory::Memory,
    /// How evaluations and deliveries are retried (each re-reads every fact: idempotent).
    retry: crate::retry::Backoff,
    clock: Arc<dyn Clock>,
    renderer: Renderer,
    /// The post-merge executor, when the service runs one.
    executor: Option<Arc<Executor>>,
    /// Each executor's program paths, governed by the rules that run it.
    programs: ProgramPaths,
    /// Evaluations and deliveries run here, per key in order, bounded.
    pool: Pool,
    /// The queue the worker takes deliveries from (set when it starts).
    queue: Mutex<Option<Queue>>,
    /// Executions run apart, so a long run never holds up a decision.
    executions: Arc<tokio::sync::Semaphore>,
    /// Held while an executor reconciler pass runs, so passes never run twice at once.
    executor_pass: tokio::sync::Mutex<()>,
    /// Executors' plans per head (see [`planning`]).
    plans: Arc<planning::Plans>,
    /// Plans run on their own pool: an approved execution never waits behind one.
    plan_slots: Arc<tokio::sync::Semaphore>,
    /// This gate, for work that outlives an evaluation (a plan) and must evaluate again.
    me: std::sync::OnceLock<std::sync::Weak<Gate>>,
    /// The reconciler's interval: a pass spreads its repositories over most of it.
    pass_interval: Duration,
    /// Whether a periodic pass is running (a tick meanwhile is skipped).
    pass_running: std::sync::atomic::AtomicBool,
}

impl Gate {
    pub fn new(
        config: &ServerConfig,
        gh: Arc<GitHub>,
        metrics: Metrics,
        dashboard: Dashboard,
    ) -> Self {
        let pool = Pool::reporting(config.runtime.workers, metrics.clone(), dashboard.clone());
        Gate {
            gh,
            governed: config
                .repos
                .iter()
                .map(|r| (r.name.clone(), r.branches.clone()))
                .collect(),
            public_url: config.public_url.clone(),
            metrics,
            dashboard,
            memory: memory::Memory::new(),
            retry: crate::retry::Backoff {
                tries: 3,
                first_pause: Duration::from_secs(1),
            },
            clock: Arc::new(SystemClock),
            renderer: Renderer::new(config.templates_dir.clone()),
            executor: None,
            programs: config.program_paths(),
            pool,
            queue: Mutex::new(None),
            executions: Arc::new(tokio::sync::Semaphore::new(
                config.runtime.executions.max(1),
            )),
            executor_pass: tokio::sync::Mutex::new(()),
            plans: Arc::new(planning::Plans::new(config)),
            plan_slots: Arc::new(tokio::sync::Semaphore::new(config.runtime.plans.max(1))),
            me: std::sync::OnceLock::new(),
            pass_interval: config.reconcile_interval.0,
            pass_running: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The gate, shared: work it starts in the background (a plan) can evaluate again.
    pub fn shared(self) -> Arc<Self> {
        let gate = Arc::new(self);
        let _ = gate.me.set(Arc::downgrade(&gate));
        gate
    }

    /// Hands pushes to governed branches to the executor.
    pub(crate) fn with_executor(mut self, executor: Arc<Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Replaces the clock (tests and the demo move time by hand).
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn github(&self) -> &GitHub {
        &self.gh
    }

    fn is_governed(&self, repo: &RepoName, base_ref: &str) -> bool {
        self.governed
            .get(repo)
            .is_some_and(|branches| branches.iter().any(|b| b == base_ref))
    }

    /// The account prgate posts as; learnt once from the code host. What prgate wrote is told
    /// by this account's id.
    pub(crate) async fn self_account(&self) -> Result<crate::github::OwnAccount, GitHubError> {
        self.gh.own_account().await
    }

    /// The worker pool (for tests and metrics).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}
