//! One evaluation: facts gathered afresh, the policy asked, the status posted, reviewers asked
//! for, and expiry applied — recomputed from scratch, so any replica may run it.

use tracing::Instrument;

use crate::github::facts::{GatherError, gather_from_read};
use crate::policy::PullFacts;
use crate::policy::{self, ApprovalDecision, ApprovalState};
use crate::policy::{MergeMode, RepoPolicy};
use crate::types::{CommitSha, PullNumber, PullRef, RepoName};

use super::{Evaluation, Gate, GateError};

impl Gate {
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
                    policy::apply_plan(decision, &p.counting(shown.as_ref()))
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
            if decision.is_approved() && g.policy.merge == MergeMode::Queue {
                // GitHub merges it once the queue's checks pass; prgate answers those.
                if let Err(e) = self.enqueue_approved(&pull_ref, &decision).await {
                    tracing::warn!(error = %e, "cannot put the approved PR into the merge queue; the next evaluation tries again");
                }
            }
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
    pub(super) fn record_evaluation(
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
                    Some(MergeMode::Queue) => "queue",
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
    pub(super) async fn request_reviews(
        &self,
        pull: &PullRef,
        live: &crate::github::models::ApiPull,
        policy: &RepoPolicy,
        facts: &PullFacts,
        decision: &ApprovalDecision,
    ) -> Result<(), GateError> {
        let key = (pull.repo.clone(), pull.number, facts.head_sha.clone());
        if self
            .memory
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
                        .any(|a| a.login.eq_ignore_ascii_case(u.name()))
                })
                .map(|u| u.name().to_string())
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
        if let Ok(mut r) = self.memory.requested.lock() {
            r.put(key, ());
        }
        Ok(())
    }

    /// A request still pending after the policy's `expire_after` is closed as denied: status
    /// `failure`, a comment saying nothing was executed. Time never approves.
    pub(super) async fn expire_if_due(
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
        expired.description = policy::expired_description(&human);
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
}
