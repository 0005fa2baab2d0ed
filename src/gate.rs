//! The gate: a delivery names a PR to re-evaluate; the gate gathers the facts afresh from the
//! code host, asks the policy engine, posts `prgate/approval` on the head SHA and, when the
//! policy says `merge = "auto"`, merges with that SHA pinned. Every evaluation is recomputed
//! from scratch, so it is idempotent and any replica may handle any delivery. The reconciler
//! re-evaluates open PRs so that a missed webhook delays a decision but never loses it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::APPROVAL_CONTEXT;
use crate::clock::{Clock, SystemClock};
use crate::config::{MergeMode, RepoPolicy, ServerConfig};
use crate::dashboard::Dashboard;
use crate::executor::blocking::off_runtime;
use crate::executor::service::Executor;
use crate::github::facts::{GatherError, gather_from_read, truncate_chars};
use crate::github::{GitHub, GitHubError, MergeOutcome};
use crate::metrics::Metrics;
use crate::policy::{self, ApprovalDecision, ApprovalState};
use crate::policy::{Account, AccountKind, PlanFact, ProgramPaths, ProposedPolicy, PullFacts};
use crate::record::trailers::{ApprovalTrailers, TrailerApproval};
use crate::render::Renderer;
use crate::types::{CommitSha, Login, PullNumber, PullRef, RepoName};
use crate::webhook::{Delivery, Event, EventAccount, Queue};

mod plans;
mod pool;
pub use pool::{Job, JobKey, Pool};

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

/// The description prgate gives a `prgate/approval` status someone else posted.
pub const FORGED_STATUS_DESCRIPTION: &str = "status set by someone other than prgate";

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

/// Work for the single evaluation worker. Deliveries and reconciler passes go through one
/// task so that two evaluations of the same PR never interleave their status posts.
enum Work {
    Reconcile,
}

pub struct Gate {
    gh: Arc<GitHub>,
    governed: BTreeMap<RepoName, Vec<String>>,
    public_url: Option<String>,
    metrics: Metrics,
    dashboard: Dashboard,
    /// The last status this process posted per (repo, sha): re-posting the same one is skipped.
    posted: Mutex<HashMap<(RepoName, CommitSha), (ApprovalState, String)>>,
    self_login: Mutex<Option<Login>>,
    retry_backoff: Duration,
    clock: Arc<dyn Clock>,
    renderer: Renderer,
    /// The post-merge executor, when the service runs one.
    executor: Option<Arc<Executor>>,
    /// Decision comments this process posted or found: (repo, pull, head, kind).
    commented: Mutex<HashSet<(RepoName, PullNumber, CommitSha, &'static str)>>,
    /// Each executor's program paths, governed by the rules that run it.
    programs: ProgramPaths,
    /// Senders of push deliveries per (repo, branch): pushers the activity API may not list
    /// yet. They only ever make someone ineligible, so forgetting them is safe.
    push_senders: Mutex<HashMap<(RepoName, String), Vec<Account>>>,
    /// Heads whose reviewers were asked for: (repo, pull, head).
    requested: Mutex<HashSet<(RepoName, PullNumber, CommitSha)>>,
    /// Evaluations and deliveries run here, per key in order, bounded.
    pool: Pool,
    /// The queue the worker takes deliveries from (set when it starts).
    queue: Mutex<Option<Queue>>,
    /// Executions run apart, so a long run never holds up a decision.
    executions: Arc<tokio::sync::Semaphore>,
    /// Held while an executor reconciler pass runs, so passes never run twice at once.
    executor_pass: tokio::sync::Mutex<()>,
    /// Executors' plans per head (see [`plans`]).
    plans: Arc<plans::Plans>,
    /// This gate, for work that outlives an evaluation (a plan) and must evaluate again.
    me: std::sync::OnceLock<std::sync::Weak<Gate>>,
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
            posted: Mutex::new(HashMap::new()),
            self_login: Mutex::new(None),
            retry_backoff: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            renderer: Renderer::new(config.templates_dir.clone()),
            commented: Mutex::new(HashSet::new()),
            executor: None,
            programs: config.program_paths(),
            push_senders: Mutex::new(HashMap::new()),
            requested: Mutex::new(HashSet::new()),
            pool,
            queue: Mutex::new(None),
            executions: Arc::new(tokio::sync::Semaphore::new(
                config.runtime.executions.max(1),
            )),
            executor_pass: tokio::sync::Mutex::new(()),
            plans: Arc::new(plans::Plans::new(config)),
            me: std::sync::OnceLock::new(),
        }
    }

    /// The gate, shared: work it starts in the background (a plan) can evaluate again.
    pub fn shared(self) -> Arc<Self> {
        let gate = Arc::new(self);
        let _ = gate.me.set(Arc::downgrade(&gate));
        gate
    }

    /// Hands pushes to governed branches to the executor.
    pub fn with_executor(mut self, executor: Arc<Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Replaces the clock (tests and the demo move time by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Shorter retry backoff, for tests.
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
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

    /// The account prgate posts as; learnt once from the code host.
    pub async fn self_login(&self) -> Result<Login, GitHubError> {
        if let Some(l) = self.self_login.lock().ok().and_then(|g| g.clone()) {
            return Ok(l);
        }
        let login = Login::new(self.gh.own_login().await?);
        if let Ok(mut g) = self.self_login.lock() {
            *g = Some(login.clone());
        }
        Ok(login)
    }

    /// Acts on one delivery. Errors are transient code host failures: the caller retries.
    pub async fn handle(self: &Arc<Self>, delivery: &Delivery) -> Result<(), GateError> {
        match &delivery.event {
            Event::PullRequest {
                action,
                repo,
                number,
                ..
            } => {
                if IGNORED_PULL_ACTIONS.contains(&action.as_str()) {
                    return Ok(());
                }
                self.evaluate_pull(repo, *number).await?;
            }
            Event::PullRequestReview { repo, number, .. } => {
                self.evaluate_pull(repo, *number).await?;
            }
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
                    match self.self_login().await {
                        Ok(me) if sender.as_ref() == Some(&me) => {}
                        Ok(_) => {
                            self.overwrite_forged_status(repo, sha, sender.as_ref())
                                .await?
                        }
                        Err(e) => {
                            // Who posted it is unknown: our memory of what this SHA shows can no
                            // longer be trusted, so the next evaluation posts again.
                            if let Ok(mut p) = self.posted.lock() {
                                p.remove(&(repo.clone(), sha.clone()));
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
            Event::Ping | Event::Ignored { .. } => {}
        }
        Ok(())
    }

    fn remember_pusher(&self, repo: &RepoName, branch: &str, sender: &EventAccount) {
        let account = Account {
            login: sender.login.clone(),
            id: crate::types::UserId(sender.id),
            kind: AccountKind::from_github(&sender.kind),
        };
        if let Ok(mut m) = self.push_senders.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            let list = m.entry((repo.clone(), branch.to_string())).or_default();
            if !list.iter().any(|a| a.id == account.id) {
                list.push(account);
            }
        }
    }

    /// Adds the pushers this process saw in push deliveries to those the activity API listed.
    fn add_remembered_pushers(&self, facts: &mut PullFacts, head_branch: &str) {
        let Some(pushers) = facts.head_pushers.as_mut() else {
            return;
        };
        let remembered = self
            .push_senders
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&(facts.repo.clone(), head_branch.to_string()))
                    .cloned()
            })
            .unwrap_or_default();
        for a in remembered {
            if !pushers.iter().any(|p| p.id == a.id) {
                pushers.push(a);
            }
        }
    }

    async fn overwrite_forged_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        sender: Option<&Login>,
    ) -> Result<(), GateError> {
        // The delivery is a hint, and a validly signed one can be replayed long after: only
        // what the code host shows now decides. If the latest `prgate/approval` on the SHA is
        // prgate's own, the forged status is already overwritten (or was never the latest).
        let me = self.self_login().await?;
        let latest_is_ours = self
            .gh
            .recent_statuses(repo, sha)
            .await?
            .iter()
            .find(|s| s.context == APPROVAL_CONTEXT)
            .and_then(|s| s.creator.as_ref())
            .is_some_and(|c| Login::new(c.login.clone()) == me);
        if latest_is_ours {
            tracing::info!(%repo, %sha, "a status delivery from someone else, but prgate's own status is the latest; nothing to overwrite");
            return Ok(());
        }
        tracing::warn!(%repo, %sha, sender = %sender.map_or("unknown".to_string(), |s| s.to_string()), "overwriting a prgate/approval status posted by someone else");
        // Forget what we posted: the forged status replaced it on the code host.
        if let Ok(mut p) = self.posted.lock() {
            p.remove(&(repo.clone(), sha.clone()));
        }
        self.post(
            repo,
            sha,
            ApprovalState::Failure,
            FORGED_STATUS_DESCRIPTION,
            None,
        )
        .await?;
        Ok(())
    }

    /// Whether this process's latest `prgate/approval` on the SHA is `success`.
    fn posted_success(&self, repo: &RepoName, sha: &CommitSha) -> bool {
        self.posted
            .lock()
            .ok()
            .and_then(|p| p.get(&(repo.clone(), sha.clone())).map(|(s, _)| *s))
            == Some(ApprovalState::Success)
    }

    /// Whether the latest `prgate/approval` on the SHA is prgate's own with this state and
    /// description.
    async fn code_host_shows(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: ApprovalState,
        description: &str,
    ) -> Result<bool, GitHubError> {
        let me = self.self_login().await?;
        Ok(self
            .gh
            .recent_statuses(repo, sha)
            .await?
            .iter()
            .find(|s| s.context == APPROVAL_CONTEXT)
            .is_some_and(|s| {
                s.state == state.as_str()
                    && s.description.as_deref() == Some(description)
                    && s.creator
                        .as_ref()
                        .is_some_and(|c| Login::new(c.login.clone()) == me)
            }))
    }

    /// Posts a status unless the code host already shows exactly it as prgate's latest. Its
    /// link is the PR's decision page (the dashboard when the PR is not known).
    async fn post(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: ApprovalState,
        description: &str,
        pull: Option<PullNumber>,
    ) -> Result<(), GitHubError> {
        let key = (repo.clone(), sha.clone());
        let value = (state, description.to_string());
        let remembered = self
            .posted
            .lock()
            .ok()
            .and_then(|p| p.get(&key).cloned())
            .as_ref()
            == Some(&value);
        // Memory only saves a post the code host already shows: another replica (or anyone)
        // may have posted since. The read is conditional, so an unchanged list costs no
        // rate limit.
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
        if let Ok(mut p) = self.posted.lock() {
            if p.len() > 100_000 {
                p.clear();
            }
            p.insert(key, value);
        }
        Ok(())
    }

    /// Re-evaluates one PR from fresh facts, posts its status, and merges it when approved and
    /// the policy says `merge = "auto"`. `Ok(None)` when the PR is not ours to decide.
    pub async fn evaluate_pull(
        &self,
        repo: &RepoName,
        number: PullNumber,
    ) -> Result<Option<Evaluation>, GateError> {
        let pull_ref = PullRef {
            repo: repo.clone(),
            number,
        };
        let span = tracing::info_span!("evaluate", pull = %pull_ref, head = tracing::field::Empty);
        async {
            // One GraphQL query reads the PR and nearly all its facts; they are only used
            // once the PR is known to be open and governed.
            let read = self.gh.read_pull(repo, number).await?;
            let pull = read.pull.clone();
            if pull.state != "open" || pull.merged || !self.is_governed(repo, &pull.base.git_ref) {
                return Ok(None);
            }
            let head: CommitSha = match pull.head.sha.parse() {
                Ok(h) => h,
                Err(_) => return Ok(None),
            };
            tracing::Span::current().record("head", head.as_str());
            let g = match gather_from_read(&self.gh, repo, &read, &self.programs).await {
                Ok(mut g) => {
                    self.add_remembered_pushers(&mut g.facts, &pull.head.git_ref);
                    g
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not gather the facts; deciding error");
                    let d = policy::error_decision(head.clone(), &e.status_description());
                    // The page's view first: a row with its title is never shown without it.
                    self.record_evaluation(&pull_ref, &pull, None, None, &d, None);
                    self.publish(&pull_ref, &d, None).await?;
                    // A code host failure is retried; a policy problem is a final answer.
                    return match e {
                        GatherError::GitHub(e) => Err(e.into()),
                        _ => Ok(Some(Evaluation {
                            pull: pull_ref,
                            decision: d,
                            merged: None,
                        })),
                    };
                }
            };
            let decision = policy::evaluate_approval(&g.policy, &g.facts);
            // The executor's plan, when it has one: its effect is shown before any approval
            // counts, and a plan that fails makes the decision `error`.
            let plan = self.plan_of(&pull_ref, &head, &g.facts.base_sha, &decision);
            let decision = match &plan {
                Some(p) => {
                    // A finished plan, failed or not, is posted on the PR once per head.
                    let shown = self.show_plan(&pull_ref, &head, p).await;
                    let mut fact = p.fact.clone();
                    if let PlanFact::Ready { shown_at, .. } = &mut fact {
                        *shown_at = shown;
                    }
                    policy::apply_plan(decision, &fact)
                }
                None => decision,
            };
            let plan_view = plan.as_ref().map(|p| &p.view);
            if let Some(expired) = self
                .expire_if_due(&pull_ref, &g.policy, &g.facts, &decision, plan_view)
                .await?
            {
                self.record_evaluation(
                    &pull_ref,
                    &pull,
                    Some(&g.policy),
                    Some(&g.facts),
                    &expired,
                    plan_view,
                );
                return Ok(Some(Evaluation {
                    pull: pull_ref,
                    decision: expired,
                    merged: None,
                }));
            }
            self.record_evaluation(
                &pull_ref,
                &pull,
                Some(&g.policy),
                Some(&g.facts),
                &decision,
                plan_view,
            );
            self.publish(&pull_ref, &decision, plan_view).await?;
            // The comment tells people; the status is the decision. A failing comment must
            // not hold up the merge, so it is logged and retried on the next evaluation.
            if let Err(e) = self.comment_decision(&pull_ref, &g.policy, &decision).await {
                tracing::warn!(error = %e, "cannot post the decision comment");
            }
            if let Err(e) = self
                .comment_proposed_policy(&pull_ref, &g.policy, &g.facts)
                .await
            {
                tracing::warn!(error = %e, "cannot post the proposed policy's check");
            }
            if decision.state == ApprovalState::Pending
                && !g.facts.draft
                && let Err(e) = self
                    .request_reviews(&pull_ref, &pull, &g.policy, &g.facts, &decision)
                    .await
            {
                tracing::warn!(error = %e, "cannot request the reviews");
            }
            let mut merged = None;
            if decision.is_approved() && g.policy.merge == MergeMode::Auto {
                merged = self
                    .merge_approved(&pull_ref, &decision, plan.as_ref())
                    .await?;
                if let Some(sha) = &merged {
                    self.dashboard.record_merge(&pull_ref, sha);
                }
            }
            Ok(Some(Evaluation {
                pull: pull_ref,
                decision,
                merged,
            }))
        }
        .instrument(span)
        .await
    }

    /// Keeps the evaluation for the PR's decision page: a view of what was decided and why.
    fn record_evaluation(
        &self,
        pull_ref: &PullRef,
        pull: &crate::github::models::ApiPull,
        policy: Option<&RepoPolicy>,
        facts: Option<&PullFacts>,
        decision: &ApprovalDecision,
        plan: Option<&crate::dashboard::PlanView>,
    ) {
        let created_at = facts.and_then(|f| f.created_at).or(pull.created_at);
        let expires_at = policy
            .and_then(|p| p.expire_after)
            .and_then(|e| chrono::Duration::from_std(e.0).ok())
            .zip(created_at)
            .map(|(ttl, created)| created + ttl);
        self.dashboard.record_evaluation(
            pull_ref,
            crate::dashboard::PullEvaluation {
                title: pull.title.clone(),
                html_url: pull.html_url.clone(),
                author: pull
                    .user
                    .as_ref()
                    .map(|u| u.login.clone())
                    .unwrap_or_default(),
                base_ref: pull.base.git_ref.clone(),
                draft: facts.map_or(pull.draft, |f| f.draft),
                created_at,
                expires_at,
                merge: match policy.map(|p| p.merge) {
                    Some(MergeMode::Manual) => "manual",
                    _ => "auto",
                },
                decision: decision.clone(),
                pushers: facts
                    .and_then(|f| f.head_pushers.as_ref())
                    .map(|ps| ps.iter().map(|p| p.login.to_string()).collect()),
                evaluated_at: self.clock.now(),
                plan: plan.cloned(),
            },
        );
    }

    /// Asks the designated approvers of the rules not yet satisfied to review (GitHub then
    /// notifies them), once per head: users by login and teams of the repository owner's
    /// organisation by slug, never an account that could not approve (the author, agents,
    /// bots, pushers, commit authors and committers), nor anyone already asked or who
    /// reviewed this head.
    async fn request_reviews(
        &self,
        pull: &PullRef,
        live: &crate::github::models::ApiPull,
        policy: &RepoPolicy,
        facts: &PullFacts,
        decision: &ApprovalDecision,
    ) -> Result<(), GateError> {
        let key = (pull.repo.clone(), pull.number, facts.head_sha.clone());
        if self
            .requested
            .lock()
            .map(|r| r.contains(&key))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let wanted = crate::policy::reviewers_to_request(policy, facts, decision);
        if !wanted.is_empty() {
            // The PR as just read lists who is requested already: no call to find out.
            let users: Vec<String> = wanted
                .users
                .iter()
                .filter(|u| {
                    !live
                        .requested_reviewers
                        .iter()
                        .any(|a| Login::new(a.login.clone()) == **u)
                })
                .map(|u| u.to_string())
                .collect();
            let owner = pull.repo.owner();
            let teams: Vec<String> = wanted
                .teams
                .iter()
                .filter(|t| t.org.eq_ignore_ascii_case(owner))
                .filter(|t| {
                    !live
                        .requested_teams
                        .iter()
                        .any(|a| a.slug.eq_ignore_ascii_case(&t.slug))
                })
                .map(|t| t.slug.clone())
                .collect();
            if !users.is_empty() || !teams.is_empty() {
                tracing::info!(
                    users = %users.join(", "),
                    teams = %teams.join(", "),
                    "requesting reviews"
                );
                self.gh
                    .request_reviewers(&pull.repo, pull.number, &users, &teams)
                    .await?;
            }
        }
        if let Ok(mut r) = self.requested.lock() {
            if r.len() > 100_000 {
                r.clear();
            }
            r.insert(key);
        }
        Ok(())
    }

    /// A request still pending after the policy's `expire_after` is closed as denied: status
    /// `failure`, a comment saying nothing was executed. Time never approves.
    async fn expire_if_due(
        &self,
        pull: &PullRef,
        policy: &RepoPolicy,
        facts: &PullFacts,
        decision: &ApprovalDecision,
        plan: Option<&crate::dashboard::PlanView>,
    ) -> Result<Option<ApprovalDecision>, GateError> {
        let (Some(expire_after), Some(created)) = (policy.expire_after, facts.created_at) else {
            return Ok(None);
        };
        // Undecided requests expire: pending, and `error` from the facts themselves (a code
        // host outage never gets here: gathering failed before).
        if !matches!(
            decision.state,
            ApprovalState::Pending | ApprovalState::Error
        ) {
            return Ok(None);
        }
        let Ok(ttl) = chrono::Duration::from_std(expire_after.0) else {
            return Ok(None);
        };
        if self.clock.now() < created + ttl {
            return Ok(None);
        }
        let human = crate::render::short_duration(expire_after.0);
        let mut expired = decision.clone();
        expired.state = ApprovalState::Failure;
        expired.description =
            format!("expired without approval after {human}; nothing was executed");
        tracing::info!(%pull, "request expired without approval; closing it");
        self.publish(pull, &expired, plan).await?;
        let context = serde_json::json!({
            "head": expired.head_sha.as_str(),
            "head_short": expired.head_sha.short(),
            "expire_after": human,
            "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        self.comment_once(
            pull,
            &expired.head_sha,
            "expired",
            "comment_expired.md.j2",
            &context,
        )
        .await?;
        self.gh
            .update_pull(
                &pull.repo,
                pull.number,
                &serde_json::json!({ "state": "closed" }),
            )
            .await?;
        self.metrics.decision("expired");
        Ok(Some(expired))
    }

    /// One comment per decision (approved or denied) and head, never repeated.
    async fn comment_decision(
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
    async fn comment_proposed_policy(
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
        let rule = policy::matched_rules(policy, &[crate::config::POLICY_PATH.to_string()])
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

    async fn comment_once(
        &self,
        pull: &PullRef,
        head: &CommitSha,
        kind: &'static str,
        template: &str,
        context: &serde_json::Value,
    ) -> Result<(), GateError> {
        let key = (pull.repo.clone(), pull.number, head.clone(), kind);
        if self
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
        let me = self.self_login().await?;
        let existing = self.gh.comments(&pull.repo, pull.number).await?;
        let already = existing.iter().any(|c| {
            c.body.trim_start().starts_with(&marker)
                && c.user
                    .as_ref()
                    .is_some_and(|u| Login::new(u.login.clone()) == me)
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
        if let Ok(mut c) = self.commented.lock() {
            if c.len() > 100_000 {
                c.clear();
            }
            c.insert(key);
        }
        Ok(())
    }

    async fn publish(
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
    fn page_url(&self, pull: &PullRef) -> Option<String> {
        crate::dashboard::page_url(self.public_url.as_deref(), &pull.repo, Some(pull.number))
    }

    /// Publishes the decision as the check run `prgate/approval` on its head (GitHub Apps
    /// only): the run this app already has there is found on the code host, not in memory,
    /// so any replica updates the same run, and an unchanged one costs no write. A completed
    /// run cannot be reopened on GitHub, so a decision that goes back to pending gets a new
    /// run (the newest of a name is the one GitHub shows).
    async fn publish_check_run(
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

    /// Merges an approved PR with its head pinned, after one more look at live facts (a
    /// dismissal may have landed since). A moved head means: decide again, never merge.
    async fn merge_approved(
        &self,
        pull: &PullRef,
        decision: &ApprovalDecision,
        plan: Option<&plans::PlanKnown>,
    ) -> Result<Option<CommitSha>, GateError> {
        let read = self.gh.read_pull(&pull.repo, pull.number).await?;
        let live = read.pull.clone();
        if live.head.sha != decision.head_sha.as_str() || live.state != "open" {
            tracing::info!("head moved or PR closed before the merge; not merging");
            self.metrics.merge("head_moved");
            return Ok(None);
        }
        let mut recheck = gather_from_read(&self.gh, &pull.repo, &read, &self.programs).await?;
        self.add_remembered_pushers(&mut recheck.facts, &live.head.git_ref);
        let mut again = policy::evaluate_approval(&recheck.policy, &recheck.facts);
        // The plan the evaluation showed binds this merge: the same plan, judged again.
        if let Some(p) = plan {
            let mut fact = p.fact.clone();
            if let PlanFact::Ready { shown_at, .. } = &mut fact {
                *shown_at = self.show_plan(pull, &again.head_sha, p).await;
            }
            again = policy::apply_plan(again, &fact);
        }
        let plan_digest = plan.and_then(|p| p.digest()).map(|d| d.digest.clone());
        if !again.is_approved()
            || again.head_sha != decision.head_sha
            || (plan.is_some() && plan_digest.is_none())
        {
            tracing::info!(
                state = again.state.as_str(),
                "approval changed just before the merge; not merging"
            );
            self.publish(pull, &again, plan.map(|p| &p.view)).await?;
            self.metrics.merge("approval_changed");
            return Ok(None);
        }
        let trailers = ApprovalTrailers {
            pull: pull.clone(),
            head: again.head_sha.clone(),
            policy_blob: recheck.policy_blob.clone(),
            plan: plan_digest,
            approvals: again.approvals.iter().map(TrailerApproval::from).collect(),
        };
        let title = format!("Merge pull request #{} (approved via prgate)", pull.number);
        let message = merge_message(&live.title, &trailers);
        match self
            .gh
            .merge_pinned(&pull.repo, pull.number, &again.head_sha, &title, &message)
            .await?
        {
            MergeOutcome::Merged { sha } => {
                tracing::info!(merge = %sha, "merged with the approved head pinned");
                self.metrics.merge("merged");
                Ok(Some(sha))
            }
            MergeOutcome::HeadMoved => {
                tracing::info!("GitHub says the head moved (409); deciding again");
                self.metrics.merge("head_moved");
                Box::pin(self.evaluate_pull(&pull.repo, pull.number)).await?;
                Ok(None)
            }
            MergeOutcome::NotMergeable { message } => {
                tracing::warn!(%message, "GitHub refused the merge");
                self.metrics.merge("refused");
                Ok(None)
            }
        }
    }

    /// Whether a push from `before` to `after` changed the policy file: from the delivery's
    /// own list of changed files when it is complete, else from one compare call.
    async fn policy_changed(
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
                f.filename == crate::config::POLICY_PATH
                    || f.previous_filename.as_deref() == Some(crate::config::POLICY_PATH)
            }),
            None => true,
        })
    }

    /// Re-evaluates every open PR of `repo` against its governed branches (or one branch):
    /// through the worker pool when it runs (each PR in its own lane), else one by one.
    pub async fn reconcile_repo(
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
    async fn reconcile_executions(&self, wait: bool) {
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
    pub async fn reconcile_pulls(self: &Arc<Self>) -> bool {
        let repos: Vec<RepoName> = self.governed.keys().cloned().collect();
        let mut ok = true;
        for repo in repos {
            if let Err(e) = self.reconcile_repo(&repo, None).await {
                tracing::warn!(%repo, error = %e, "reconcile failed; next pass will retry");
                ok = false;
            }
        }
        ok
    }

    /// Handles one delivery with bounded retries. A delivery that keeps failing is left to the
    /// reconciler (its PR stays without `success` meanwhile, which is the safe side).
    pub async fn handle_with_retries(self: &Arc<Self>, delivery: &Delivery) {
        let span = tracing::info_span!("delivery", id = %delivery.id, event = %delivery.event_name);
        async {
            for attempt in 0..3u32 {
                match self.handle(delivery).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(attempt, error = %e, "delivery processing failed");
                        if attempt < 2 {
                            tokio::time::sleep(self.retry_backoff * 2u32.pow(attempt)).await;
                        }
                    }
                }
            }
            tracing::error!("giving up on the delivery; the reconciler will re-evaluate");
        }
        .instrument(span)
        .await
    }

    /// Evaluates one PR with bounded retries; one that keeps failing is left to the reconciler.
    async fn evaluate_with_retries(&self, repo: &RepoName, number: PullNumber) {
        for attempt in 0..3u32 {
            match self.evaluate_pull(repo, number).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(%repo, pull = %number, attempt, error = %e, "evaluation failed");
                    if attempt < 2 {
                        tokio::time::sleep(self.retry_backoff * 2u32.pow(attempt)).await;
                    }
                }
            }
        }
        tracing::error!(%repo, pull = %number, "giving up on the evaluation; the reconciler will re-evaluate");
    }

    /// The dispatcher: takes deliveries from the durable queue in acceptance order and hands
    /// each to the pool under its key (a PR, a commit, a branch), where different keys run
    /// concurrently and one key in order; reconciler ticks start a pass beside it, the first
    /// at start-up. A delivery is completed once the run covering it has finished.
    pub async fn run_worker(
        self: Arc<Self>,
        queue: Queue,
        ticks: Arc<tokio::sync::Mutex<mpsc::Receiver<()>>>,
    ) {
        if let Ok(mut q) = self.queue.lock() {
            *q = Some(queue.clone());
        }
        let _ = self.me.set(Arc::downgrade(&self));
        // Deliveries set aside before a restart stay on the dashboard.
        let set_aside = queue.set_aside_list();
        self.metrics.set_aside_count(set_aside.len());
        for d in set_aside {
            self.dashboard.record_set_aside(&d.id, &d.event, &d.reason);
        }
        self.start_reconcile();
        loop {
            let work = tokio::select! {
                d = queue.next() => Ok(d),
                Some(()) = async { ticks.lock().await.recv().await } => Err(Work::Reconcile),
            };
            match work {
                Ok(delivery) => {
                    let age = (Utc::now() - delivery.received_at)
                        .num_milliseconds()
                        .max(0) as f64
                        / 1000.0;
                    self.metrics.processing_latency(age);
                    match pool::job_of(&delivery) {
                        Some((key, job)) => {
                            self.pool
                                .submit(&self, &queue, key, job, Some(delivery.id.clone()))
                        }
                        None => {
                            if let Err(e) = queue.complete(&delivery.id).await {
                                tracing::error!(error = %e, id = %delivery.id, "cannot mark the delivery done");
                            }
                        }
                    }
                    self.metrics.queue_depth(queue.depth());
                }
                Err(Work::Reconcile) => self.start_reconcile(),
            }
        }
    }

    /// A reconciler pass beside the dispatcher: its evaluations go through the pool.
    fn start_reconcile(self: &Arc<Self>) {
        let gate = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let ok = gate.reconcile_pulls().await;
            gate.reconcile_executions(false).await;
            gate.metrics
                .reconcile_pass(ok, started.elapsed().as_secs_f64());
        });
    }

    /// The worker pool (for tests and metrics).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl pool::Runner for Gate {
    async fn run(self: Arc<Self>, job: Job) {
        match job {
            Job::Evaluate(repo, number) => self.evaluate_with_retries(&repo, number).await,
            Job::Handle(d) => self.handle_with_retries(&d).await,
        }
    }
}

/// GitHub takes at most 65535 bytes of a check run's summary (it counts characters in one
/// check and bytes in another; bytes is the stricter).
pub const CHECK_SUMMARY_MAX_BYTES: usize = 65535;

/// Clips a check run summary to what GitHub accepts, at a character boundary, saying so.
pub fn clip_summary(summary: &str) -> String {
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

/// The merge commit message: the PR title, then the approval trailers as the last paragraph.
pub fn merge_message(pr_title: &str, trailers: &ApprovalTrailers) -> String {
    // A title that itself looks like trailers must not merge into ours: it is one line in a
    // paragraph of its own, and parsing reads only the last paragraph.
    let one_line = pr_title.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = truncate_chars(&one_line, 200);
    format!("{title}\n\n{}", trailers.to_trailer_block())
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

    #[test]
    fn a_title_posing_as_trailers_cannot_replace_ours() {
        let ours = ApprovalTrailers {
            pull: "acme/infra#1".parse().unwrap(),
            head: "a".repeat(40).parse().unwrap(),
            policy_blob: "b".repeat(40).parse().unwrap(),
            plan: None,
            approvals: vec![],
        };
        let forged = format!(
            "x\n\nPrgate-Pull: acme/infra#9\nPrgate-Head: {}\nPrgate-Policy: {}",
            "c".repeat(40),
            "d".repeat(40)
        );
        let msg = merge_message(&forged, &ours);
        assert_eq!(ApprovalTrailers::parse(&msg), Some(ours));
    }
}
