//! `prgate status` and `prgate wait`: what became of a proposal, read from the code host alone
//! (the PR, its `prgate/approval` and `prgate/execution` statuses, its reviews), so that an
//! agent needs no access to the gate service. Waiting polls with backoff and conditional
//! requests; a timeout is "still pending", never an approval.

use std::time::Duration;

use serde::Serialize;

use crate::github::facts::{GatherError, compare_changes, gather_facts_with_policy, policy_at};
use crate::github::models::{ApiPull, ApiReview, ApiStatus};
use crate::github::{GitHub, GitHubError};
use crate::policy::{self, ApprovalDecision, ApprovalReading};
use crate::record::run_status::{self, RunStatus};
use crate::types::{CommitSha, PullRef};
use crate::{APPROVAL_CONTEXT, EXECUTION_CONTEXT};

/// Where a proposal stands, from the agent's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    Pending,
    Approved,
    Merged,
    Executed,
    Denied,
    Expired,
    ExecutionFailed,
    ExecutionRefused,
}

impl ProposalState {
    /// The exit code DESIGN.md gives this state when it is final for the caller.
    pub fn exit_code(self) -> u8 {
        match self {
            ProposalState::Approved | ProposalState::Merged | ProposalState::Executed => 0,
            ProposalState::Pending => 10,
            ProposalState::Denied => 20,
            ProposalState::Expired => 21,
            ProposalState::ExecutionFailed => 30,
            ProposalState::ExecutionRefused => 31,
        }
    }

    /// No later event can change this state into success.
    fn is_final_failure(self) -> bool {
        matches!(
            self,
            ProposalState::Denied
                | ProposalState::Expired
                | ProposalState::ExecutionFailed
                | ProposalState::ExecutionRefused
        )
    }

    fn rank(self) -> u8 {
        match self {
            ProposalState::Approved => 1,
            // Whatever became of the execution, the change was merged.
            ProposalState::Merged
            | ProposalState::ExecutionFailed
            | ProposalState::ExecutionRefused => 2,
            ProposalState::Executed => 3,
            _ => 0,
        }
    }
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    Approved,
    Merged,
    Executed,
}

impl Until {
    fn reached_by(self, s: ProposalState) -> bool {
        let need = match self {
            Until::Approved => 1,
            Until::Merged => 2,
            Until::Executed => 3,
        };
        s.rank() >= need
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StatusCheck {
    pub state: String,
    pub description: String,
    pub creator: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ApprovalRecord {
    pub login: String,
    pub sha: Option<String>,
    pub review_id: u64,
    pub submitted_at: Option<String>,
    /// Whether it was given on the current head.
    pub on_head: bool,
    /// Whether it counts for the decision, as the gate's policy core judges it.
    pub counts: bool,
    /// Why it does not count, in the gate's own words; `null` when it counts.
    pub why_not: Option<String>,
}

/// One rule the change falls under, and how far its approvals are.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RuleStatus {
    /// The rule's name; `defaults` for files no rule matched.
    pub name: String,
    pub min_approvals: u32,
    /// Who may approve, in words: "alice or acme/netops".
    pub approvers: String,
    /// The logins whose approvals counted for it.
    pub approved_by: Vec<String>,
    pub satisfied: bool,
    /// The executor a merge of it runs, if any.
    pub executor: Option<String>,
}

/// The `--json` answer of `status` and `wait`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProposalStatus {
    pub repo: String,
    pub pull: u64,
    pub url: String,
    pub state: ProposalState,
    pub head: String,
    pub approval: Option<StatusCheck>,
    pub execution: Option<StatusCheck>,
    pub approvals: Vec<ApprovalRecord>,
    pub merge_sha: Option<String>,
    /// Why it was denied: the change request's text, or the status description; for a merge
    /// that runs nothing, "no executor for this change".
    pub reason: Option<String>,
    /// What is missing or decided, in the gate's words (its status description, recomputed
    /// here); `null` when the policy could not be read.
    pub decision: Option<String>,
    /// The rules the change falls under; empty when the policy could not be read.
    pub rules: Vec<RuleStatus>,
    /// The executors a merge of this change runs; `null` when prgate could not tell (then
    /// `wait --until executed` waits for the executor's status).
    pub executors: Option<Vec<String>>,
    /// Whether the merge was executed: true when it ran and succeeded, false when it failed or
    /// was refused, `null` when nothing ran (yet, or ever: see `reason`).
    pub executed: Option<bool>,
    /// True when `wait` ended because its timeout passed (time never approves).
    pub timed_out: bool,
    pub exit_code: u8,
}

/// Why prgate could not judge the reviews here; every approval then does not count.
const NOT_JUDGED: &str = "prgate could not judge the reviews here";

/// The reason given for a merge that runs no executor.
pub(crate) const NO_EXECUTOR: &str = "no executor for this change";

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{pull} not found on the code host (or the token cannot see it)")]
    NotFound { pull: PullRef },
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

/// The status prgate itself posted in a context (the newest one); others are ignored, so a
/// forged status cannot make an agent believe it was approved.
fn latest_by(
    statuses: &[ApiStatus],
    context: &str,
    gate_login: Option<&str>,
) -> Option<StatusCheck> {
    statuses
        .iter()
        .filter(|s| s.context == context)
        .find(|s| match gate_login {
            Some(g) => s
                .creator
                .as_ref()
                .is_some_and(|c| c.login.eq_ignore_ascii_case(g)),
            None => true,
        })
        .map(|s| StatusCheck {
            state: s.state.clone(),
            description: s.description.clone().unwrap_or_default(),
            creator: s.creator.as_ref().map(|c| c.login.clone()),
        })
}

/// Classifies a proposal from what the code host says. Pure, for tests.
pub(crate) fn classify(
    pull: &ApiPull,
    reviews: &[ApiReview],
    approval: Option<&StatusCheck>,
    execution: Option<&StatusCheck>,
) -> (ProposalState, Option<String>) {
    let reading = approval.map(|a| ApprovalReading::read(&a.state, &a.description));
    let expired = || {
        (
            ProposalState::Expired,
            approval.map(|a| a.description.clone()),
        )
    };
    if pull.merged {
        let Some(e) = execution else {
            return (ProposalState::Merged, None);
        };
        return match (
            e.state.as_str(),
            run_status::classify(&e.state, &e.description),
        ) {
            ("success", _) => (ProposalState::Executed, None),
            ("failure" | "error", Some(RunStatus::Refused)) => {
                (ProposalState::ExecutionRefused, Some(e.description.clone()))
            }
            ("failure" | "error", _) => {
                (ProposalState::ExecutionFailed, Some(e.description.clone()))
            }
            _ => (ProposalState::Merged, None),
        };
    }
    if pull.state != "open" {
        if reading == Some(ApprovalReading::Expired) {
            return expired();
        }
        return (
            ProposalState::Denied,
            Some(latest_change_request(reviews).unwrap_or_else(|| "closed without merging".into())),
        );
    }
    match reading {
        // A `success` with no approving review on the head cannot be prgate's: not approved.
        Some(ApprovalReading::Approved) if !approved_on_head(pull, reviews) => {
            (ProposalState::Pending, None)
        }
        Some(ApprovalReading::Approved) => (ProposalState::Approved, None),
        Some(ApprovalReading::Expired) => expired(),
        Some(ApprovalReading::Denied) => {
            let reason =
                latest_change_request(reviews).or_else(|| approval.map(|a| a.description.clone()));
            (ProposalState::Denied, reason)
        }
        _ => (ProposalState::Pending, None),
    }
}

fn approved_on_head(pull: &ApiPull, reviews: &[ApiReview]) -> bool {
    reviews
        .iter()
        .any(|r| r.state == "APPROVED" && r.commit_id.as_deref() == Some(pull.head.sha.as_str()))
}

fn latest_change_request(reviews: &[ApiReview]) -> Option<String> {
    reviews
        .iter()
        .filter(|r| r.state == "CHANGES_REQUESTED")
        .max_by_key(|r| (r.submitted_at, r.id))
        .map(|r| r.body.clone().unwrap_or_default())
        .filter(|b| !b.trim().is_empty())
}

/// Reads where a proposal stands. `gate_login` is the account prgate posts as, when known.
pub async fn read_status(
    gh: &GitHub,
    pull_ref: &PullRef,
    gate_login: Option<&str>,
) -> Result<ProposalStatus, WatchError> {
    read_status_judged(gh, pull_ref, gate_login, true).await
}

/// As [`read_status`]; without `judge`, the approvals are not judged (each says so) and the
/// rules and executors are unknown: the cheap read `wait` polls with, a handful of calls.
async fn read_status_judged(
    gh: &GitHub,
    pull_ref: &PullRef,
    gate_login: Option<&str>,
    judge_it: bool,
) -> Result<ProposalStatus, WatchError> {
    let pull = match gh.pull(&pull_ref.repo, pull_ref.number).await {
        Ok(p) => p,
        Err(e) if e.status() == Some(404) => {
            return Err(WatchError::NotFound {
                pull: pull_ref.clone(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let head: Option<CommitSha> = pull.head.sha.parse().ok();
    let statuses = match &head {
        Some(h) => gh.statuses(&pull_ref.repo, h).await?,
        None => vec![],
    };
    let approval = latest_by(&statuses, APPROVAL_CONTEXT, gate_login);
    let reviews = gh.reviews(&pull_ref.repo, pull_ref.number).await?;
    let merge_sha = if pull.merged {
        pull.merge_commit_sha.clone()
    } else {
        None
    };
    let execution = match merge_sha
        .as_deref()
        .and_then(|s| s.parse::<CommitSha>().ok())
    {
        Some(m) => latest_by(
            &gh.statuses(&pull_ref.repo, &m).await?,
            EXECUTION_CONTEXT,
            gate_login,
        ),
        None => None,
    };
    let (state, mut reason) = classify(&pull, &reviews, approval.as_ref(), execution.as_ref());
    let judged = if judge_it {
        judge(gh, pull_ref, &pull, merge_sha.as_deref()).await
    } else {
        Err(GatherError::Incomplete("not judged while polling".into()))
    };
    let mut approvals = approval_records(&reviews, &pull.head.sha);
    let (decision, rules, executors) = match &judged {
        Ok(j) => {
            for a in &mut approvals {
                let verdict = j
                    .decision
                    .reviews
                    .iter()
                    .find(|v| v.review_id == a.review_id);
                a.counts = verdict.is_some_and(|v| v.counts);
                a.why_not = match verdict {
                    Some(v) if !v.counts => v.why_not.clone(),
                    Some(_) => None,
                    None => Some("the gate's evaluation did not see this review".into()),
                };
            }
            let rules = j
                .decision
                .rules
                .iter()
                .map(|r| RuleStatus {
                    name: r.name.clone(),
                    min_approvals: r.min_approvals,
                    approvers: r.approvers.clone(),
                    approved_by: r.approvals.iter().map(|a| a.login.to_string()).collect(),
                    satisfied: r.satisfied,
                    executor: r.executor.clone(),
                })
                .collect();
            (
                Some(j.decision.description.clone()),
                rules,
                Some(j.executors.clone()),
            )
        }
        Err(e) => {
            for a in &mut approvals {
                a.counts = false;
                a.why_not = Some(format!("{NOT_JUDGED}: {e}"));
            }
            let executors = if judge_it {
                executors_only(gh, pull_ref, &pull, merge_sha.as_deref())
                    .await
                    .ok()
            } else {
                None
            };
            (None, vec![], executors)
        }
    };
    let executed = match state {
        ProposalState::Executed => Some(true),
        ProposalState::ExecutionFailed | ProposalState::ExecutionRefused => Some(false),
        _ => None,
    };
    if state == ProposalState::Merged && executors.as_ref().is_some_and(Vec::is_empty) {
        reason = Some(NO_EXECUTOR.into());
    }
    Ok(ProposalStatus {
        repo: pull_ref.repo.to_string(),
        pull: pull_ref.number.0,
        url: pull.html_url.clone(),
        state,
        head: pull.head.sha.clone(),
        approval,
        execution,
        approvals,
        merge_sha,
        reason,
        decision,
        rules,
        executors,
        executed,
        timed_out: false,
        exit_code: state.exit_code(),
    })
}

/// The gate's judgement of a PR, made here with the same pure policy core the gate uses.
struct Judged {
    decision: ApprovalDecision,
    executors: Vec<String>,
}

/// The commit whose policy judges the PR: a merge's first parent (the base's tip already
/// contains the head), else the base branch's tip.
async fn judging_base(
    gh: &GitHub,
    pull_ref: &PullRef,
    pull: &ApiPull,
    merge_sha: Option<&str>,
) -> Result<CommitSha, GatherError> {
    match merge_sha {
        Some(m) => gh
            .commit_parents(&pull_ref.repo, m)
            .await?
            .first()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| GatherError::Incomplete(format!("merge {m} has no first parent"))),
        None => Ok(gh.branch_tip(&pull_ref.repo, &pull.base.git_ref).await?),
    }
}

/// Judges the PR from the code host's facts, as the executor would for a merge. The server's
/// executor program paths are not known here, so a change to an executor's program that only
/// the server config governs is judged without them.
async fn judge(
    gh: &GitHub,
    pull_ref: &PullRef,
    pull: &ApiPull,
    merge_sha: Option<&str>,
) -> Result<Judged, GatherError> {
    let base = judging_base(gh, pull_ref, pull, merge_sha).await?;
    let (policy, file) = policy_at(gh, &pull_ref.repo, &base).await?;
    let g =
        gather_facts_with_policy(gh, &pull_ref.repo, pull, &base, policy, file.blob_sha).await?;
    Ok(Judged {
        decision: policy::evaluate_approval(&g.policy, &g.facts),
        executors: policy::executors_for(&g.policy, &g.facts.changed_files),
    })
}

/// Only the executors a merge of the PR runs: the policy and the changed files, which an
/// agent's token can read even when it cannot read the teams the full judgement needs.
async fn executors_only(
    gh: &GitHub,
    pull_ref: &PullRef,
    pull: &ApiPull,
    merge_sha: Option<&str>,
) -> Result<Vec<String>, GatherError> {
    let base = judging_base(gh, pull_ref, pull, merge_sha).await?;
    let (policy, _) = policy_at(gh, &pull_ref.repo, &base).await?;
    let head: CommitSha = pull
        .head
        .sha
        .parse()
        .map_err(|_| GatherError::Incomplete("the PR's head is not a commit id".into()))?;
    let (_, files) = compare_changes(gh, &pull_ref.repo, &base, &head).await?;
    Ok(policy::executors_for(&policy, &files))
}

fn approval_records(reviews: &[ApiReview], head: &str) -> Vec<ApprovalRecord> {
    reviews
        .iter()
        .filter(|r| r.state == "APPROVED")
        .filter_map(|r| {
            let user = r.user.as_ref()?;
            Some(ApprovalRecord {
                login: user.login.clone(),
                sha: r.commit_id.clone(),
                review_id: r.id,
                submitted_at: r.submitted_at.map(|t| t.to_rfc3339()),
                on_head: r.commit_id.as_deref() == Some(head),
                // Judged by the caller; until then it does not count.
                counts: false,
                why_not: Some(NOT_JUDGED.into()),
            })
        })
        .collect()
}

/// How `wait` polls.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub until: Until,
    pub timeout: Option<Duration>,
    pub first_interval: Duration,
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            until: Until::Approved,
            timeout: None,
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(60),
        }
    }
}

/// Polls until the proposal reaches `until`, fails for good, or the timeout passes (then the
/// answer is the last state seen, normally pending: time never approves).
pub async fn wait(
    gh: &GitHub,
    pull_ref: &PullRef,
    gate_login: Option<&str>,
    opts: &WaitOptions,
) -> Result<ProposalStatus, WatchError> {
    wait_observed(gh, pull_ref, gate_login, opts, |_, _| async {}).await
}

/// As [`wait`], telling `observe` each state it reads and how long it has waited (the MCP
/// server turns these into progress notifications).
pub(crate) async fn wait_observed<F, Fut>(
    gh: &GitHub,
    pull_ref: &PullRef,
    gate_login: Option<&str>,
    opts: &WaitOptions,
    mut observe: F,
) -> Result<ProposalStatus, WatchError>
where
    F: FnMut(ProposalState, Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = tokio::time::Instant::now();
    let mut interval = opts.first_interval;
    let mut transient_failures = 0u32;
    loop {
        // Polls are the cheap read; the answer, and whether a merge runs anything, come from
        // the full one.
        let mut read = read_status_judged(gh, pull_ref, gate_login, false).await;
        let mut full = false;
        if let Ok(light) = &read {
            observe(light.state, started.elapsed()).await;
            let timed_out = opts.timeout.is_some_and(|t| started.elapsed() >= t);
            let may_end = opts.until.reached_by(light.state)
                || light.state.is_final_failure()
                || timed_out
                || (opts.until == Until::Executed && light.state == ProposalState::Merged);
            if may_end {
                read = read_status(gh, pull_ref, gate_login).await;
                full = true;
            }
        }
        match read {
            Ok(mut s) if full => {
                transient_failures = 0;
                if opts.until.reached_by(s.state) {
                    s.exit_code = 0;
                    return Ok(s);
                }
                // A merge that runs nothing has reached all it will: waiting for its
                // execution would only end at the timeout.
                if opts.until == Until::Executed
                    && s.state == ProposalState::Merged
                    && s.executors.as_ref().is_some_and(Vec::is_empty)
                {
                    s.exit_code = 0;
                    return Ok(s);
                }
                if s.state.is_final_failure() {
                    return Ok(s);
                }
                if opts.timeout.is_some_and(|t| started.elapsed() >= t) {
                    // Approved but not yet merged, when waiting for the merge, is still pending.
                    s.exit_code = ProposalState::Pending.exit_code();
                    s.timed_out = true;
                    return Ok(s);
                }
            }
            Ok(_) => transient_failures = 0,
            // A missing PR will not appear by waiting.
            Err(e @ WatchError::NotFound { .. }) => return Err(e),
            Err(e) => {
                transient_failures += 1;
                tracing::warn!(error = %e, "reading the proposal failed; will retry");
                if transient_failures > 20 || opts.timeout.is_some_and(|t| started.elapsed() >= t) {
                    return Err(e);
                }
            }
        }
        let mut sleep = interval;
        if let Some(t) = opts.timeout {
            sleep = sleep.min(t.saturating_sub(started.elapsed()));
        }
        tokio::time::sleep(sleep).await;
        interval = (interval.mul_f64(1.5)).min(opts.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "1111111111111111111111111111111111111111";

    fn pull(state: &str, merged: bool) -> ApiPull {
        serde_json::from_value(serde_json::json!({
            "number": 1, "state": state, "merged": merged, "user": {"login": "agent", "id": 1, "type": "Bot"},
            "head": {"ref": "b", "sha": HEAD}, "base": {"ref": "main", "sha": "2".repeat(40)},
        }))
        .unwrap()
    }

    fn review(state: &str, commit: &str, body: &str) -> ApiReview {
        serde_json::from_value(serde_json::json!({
            "id": 7, "user": {"login": "alice", "id": 2, "type": "User"}, "state": state,
            "commit_id": commit, "body": body, "submitted_at": "2026-11-21T10:00:00Z",
        }))
        .unwrap()
    }

    fn check(state: &str, description: &str) -> StatusCheck {
        StatusCheck {
            state: state.into(),
            description: description.into(),
            creator: Some("prgate".into()),
        }
    }

    #[test]
    fn states_follow_the_code_host() {
        let open = pull("open", false);
        assert_eq!(
            classify(&open, &[], Some(&check("pending", "needs 1")), None).0,
            ProposalState::Pending
        );
        assert_eq!(classify(&open, &[], None, None).0, ProposalState::Pending);
        let approved = [review("APPROVED", HEAD, "")];
        assert_eq!(
            classify(&open, &approved, Some(&check("success", "ok")), None).0,
            ProposalState::Approved
        );
        let denied = classify(
            &open,
            &[review("CHANGES_REQUESTED", HEAD, "no: port 0")],
            Some(&check("failure", "changes requested")),
            None,
        );
        assert_eq!(denied, (ProposalState::Denied, Some("no: port 0".into())));
        let closed = pull("closed", false);
        assert_eq!(
            classify(
                &closed,
                &[],
                Some(&check("failure", "expired without approval after 72h")),
                None
            )
            .0,
            ProposalState::Expired
        );
        assert_eq!(
            classify(&closed, &[], Some(&check("pending", "needs 1")), None).0,
            ProposalState::Denied
        );
        let merged = pull("closed", true);
        assert_eq!(
            classify(&merged, &approved, None, None).0,
            ProposalState::Merged
        );
        assert_eq!(
            classify(&merged, &approved, None, Some(&check("success", "ran"))).0,
            ProposalState::Executed
        );
        assert_eq!(
            classify(
                &merged,
                &approved,
                None,
                Some(&check("failure", "firewall failed with exit code 1"))
            )
            .0,
            ProposalState::ExecutionFailed
        );
        assert_eq!(
            classify(
                &merged,
                &approved,
                None,
                Some(&check("failure", "execution refused: not approved"))
            )
            .0,
            ProposalState::ExecutionRefused
        );
    }

    /// The readers of prgate's own statuses take them as their writers wrote them: a run that
    /// failed stays failed even when its reason says "refused", and an expiry is told from a
    /// "no" by the words `expired_description` writes.
    #[test]
    fn statuses_read_back_as_their_writers_meant() {
        use crate::record::note::Outcome;
        let merged = pull("closed", true);
        let approved = [review("APPROVED", &"a".repeat(40), "")];
        let execution = |(state, description): (&str, String)| {
            classify(&merged, &approved, None, Some(&check(state, &description))).0
        };
        assert_eq!(
            execution(run_status::refused("the head moved")),
            ProposalState::ExecutionRefused
        );
        assert_eq!(
            execution(run_status::ended(
                "firewall",
                Outcome::Failed,
                ": the remote refused the connection"
            )),
            ProposalState::ExecutionFailed,
            "a failed run whose output mentions a refusal is a failure, not a refused execution"
        );
        assert_eq!(
            execution(run_status::blocked("the claim ref could not be written")),
            ProposalState::ExecutionFailed
        );
        let open = pull("open", false);
        let expired = check("failure", &policy::expired_description("72h"));
        assert_eq!(
            classify(&open, &[], Some(&expired), None).0,
            ProposalState::Expired
        );
        assert_eq!(
            classify(&pull("closed", false), &[], Some(&expired), None).0,
            ProposalState::Expired
        );
        assert_eq!(
            classify(
                &open,
                &[],
                Some(&check("failure", "changes requested by bob")),
                None
            )
            .0,
            ProposalState::Denied
        );
    }

    #[test]
    fn a_success_without_an_approval_on_the_head_is_not_approved() {
        let open = pull("open", false);
        assert_eq!(
            classify(&open, &[], Some(&check("success", "trust me")), None).0,
            ProposalState::Pending
        );
        let stale = [review("APPROVED", &"9".repeat(40), "")];
        assert_eq!(
            classify(&open, &stale, Some(&check("success", "trust me")), None).0,
            ProposalState::Pending
        );
    }

    #[test]
    fn until_is_reached_in_order() {
        assert!(Until::Approved.reached_by(ProposalState::Merged));
        assert!(!Until::Merged.reached_by(ProposalState::Approved));
        assert!(!Until::Executed.reached_by(ProposalState::Merged));
        assert!(!Until::Approved.reached_by(ProposalState::Denied));
        // Merged is merged, whatever the executor did after.
        assert!(Until::Merged.reached_by(ProposalState::ExecutionRefused));
        assert!(!Until::Executed.reached_by(ProposalState::ExecutionFailed));
    }
}
