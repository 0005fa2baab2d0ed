//! Evaluation of a policy against the facts of a PR: the approval semantics of DESIGN.md.
//! Every path that is not a clean, current, eligible approval ends in something other than
//! `success`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::policy::{Approvers, POLICY_PATH, RepoPolicy, TeamRef};
use crate::types::CommitSha;

use super::compiled::{CompiledPolicy, DEFAULTS_RULE, Requirement};
use super::conclude::{Findings, conclude, distinct_approvals, review_verdicts, rule_outcomes};
use super::decision::{ApprovalDecision, ApprovalState};
use super::eligibility::{before_merge, untimely};
use super::facts::{ProposedPolicy, PullFacts, Review, ReviewState};
use super::judge::{Scope, judge, latest_stances, refused};
use super::pattern::GlobError;

pub use super::validate::parse_policy;

/// GitHub refuses status descriptions of 140 characters or more; we stay below.
pub const MAX_DESCRIPTION_CHARS: usize = 139;

/// A rule (or the defaults) that changed files of a PR fall under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRule {
    pub name: String,
    pub files: Vec<String>,
}

thread_local! {
    /// The last policy compiled on this thread. The gate evaluates many deliveries against
    /// the same few policies, and building glob sets costs far more than comparing policies.
    static LAST_COMPILED: RefCell<Option<Rc<Result<CompiledPolicy, GlobError>>>> = const { RefCell::new(None) };
}

fn compiled(policy: &RepoPolicy) -> Rc<Result<CompiledPolicy, GlobError>> {
    LAST_COMPILED.with(|cell| {
        let mut last = cell.borrow_mut();
        if let Some(c) = last.as_ref()
            && let Ok(cp) = c.as_ref()
            && cp.policy() == policy
        {
            return Rc::clone(c);
        }
        let fresh = Rc::new(CompiledPolicy::compile(policy));
        // Only successes are cached: a broken policy is rare and its error is cheap to rebuild.
        if fresh.is_ok() {
            *last = Some(Rc::clone(&fresh));
        }
        fresh
    })
}

/// Which rules the changed files fall under, defaults last. If the policy's globs cannot be
/// compiled, every rule and the defaults are returned with all files, so that the gate looks
/// up every team it might need (the decision itself will be `error`).
pub fn matched_rules(policy: &RepoPolicy, changed_files: &[String]) -> Vec<MatchedRule> {
    match compiled(policy).as_ref() {
        Ok(c) => c.matched_rules(changed_files),
        Err(_) => policy
            .rules
            .iter()
            .map(|r| r.name.clone())
            .chain(policy.defaults.as_ref().map(|_| DEFAULTS_RULE.to_string()))
            .map(|name| MatchedRule {
                name,
                files: changed_files.to_vec(),
            })
            .collect(),
    }
}

/// The teams whose members must be in [`PullFacts::team_members`] to decide about these files.
/// Falls back to every team of the policy if the globs cannot be compiled.
pub fn teams_needed(policy: &RepoPolicy, changed_files: &[String]) -> BTreeSet<TeamRef> {
    match compiled(policy).as_ref() {
        Ok(c) => c.teams_needed(changed_files),
        Err(_) => policy
            .rules
            .iter()
            .map(|r| &r.approvers)
            .chain(policy.defaults.as_ref().map(|d| &d.approvers))
            .flat_map(|a| a.teams.iter().cloned())
            .collect(),
    }
}

/// The executors named by the rules these files fall under, each once, in policy order.
pub fn executors_for(policy: &RepoPolicy, changed_files: &[String]) -> Vec<String> {
    match compiled(policy).as_ref() {
        Ok(c) => c.executors_for(changed_files),
        Err(_) => vec![],
    }
}

/// Decides whether the PR's current head is approved under `policy`. A PR that is not open
/// is never `success` (see [`evaluate_final_head`] for merged PRs).
pub fn evaluate_approval(policy: &RepoPolicy, facts: &PullFacts) -> ApprovalDecision {
    match compiled(policy).as_ref() {
        Ok(c) => c.evaluate(facts),
        Err(e) => invalid_policy_decision(facts, &e.to_string()),
    }
}

/// Like [`evaluate_approval`], but a merged PR is judged as it stood when it was merged: for
/// post-merge verification, where the question is whether the final head was approved.
pub fn evaluate_final_head(policy: &RepoPolicy, facts: &PullFacts) -> ApprovalDecision {
    match compiled(policy).as_ref() {
        Ok(c) => c.evaluate_final_head(facts),
        Err(e) => invalid_policy_decision(facts, &e.to_string()),
    }
}

fn invalid_policy_decision(facts: &PullFacts, why: &str) -> ApprovalDecision {
    let mut d = error_decision(
        facts.head_sha.clone(),
        &format!("the policy {POLICY_PATH} at the base commit is invalid: {why}"),
    );
    d.notes.push(format!(
        "the policy at base {} is invalid: {why}",
        facts.base_sha.short()
    ));
    d
}

/// A decision of `error` for when the facts could not be gathered.
pub(crate) fn error_decision(head_sha: CommitSha, description: &str) -> ApprovalDecision {
    ApprovalDecision {
        state: ApprovalState::Error,
        description: clip_description(description),
        head_sha,
        rules: vec![],
        approvals: vec![],
        denials: vec![],
        notes: vec![],
        reviews: vec![],
    }
}

/// Makes `text` a valid status description: one line, under 140 characters, cut on a
/// character boundary with "…" when it had to be shortened.
pub(crate) fn clip_description(text: &str) -> String {
    // Review bodies and error messages may hold newlines, tabs or control characters; a
    // status description is one line.
    let one_line: String = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if one_line.chars().count() <= MAX_DESCRIPTION_CHARS {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX_DESCRIPTION_CHARS - 1).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// "alice", "alice or acme/netops", "alice, bob or acme/netops".
pub(crate) fn describe_approvers(approvers: &Approvers) -> String {
    let names: Vec<String> = approvers
        .users
        .iter()
        .map(|u| u.name().to_string())
        .chain(approvers.teams.iter().map(|t| t.to_string()))
        .collect();
    match names.as_slice() {
        [] => "nobody".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl CompiledPolicy {
    /// Decides whether the PR's current head is approved. Pure: the same facts always give the
    /// same decision.
    pub fn evaluate(&self, facts: &PullFacts) -> ApprovalDecision {
        self.decide(facts, false)
    }

    /// As [`CompiledPolicy::evaluate`], but a merged PR is judged as if still open.
    pub fn evaluate_final_head(&self, facts: &PullFacts) -> ApprovalDecision {
        self.decide(facts, true)
    }

    /// Composes the predicates: who wrote the change, which reviews came in time, what
    /// each reviewer's latest stance means, then each rule's outcome and the conclusion.
    fn decide(&self, facts: &PullFacts, merged_counts_as_open: bool) -> ApprovalDecision {
        if let Some(why) = self.invalid_reason() {
            return invalid_policy_decision(facts, why);
        }
        let reqs: Vec<Requirement<'_>> = self.matched_requirements(&governed_files(facts));
        let mut findings = Findings::new(reqs.len());
        for why in unknown_writers(facts) {
            findings.error(why);
        }
        let (timely, late) = split_at_merge(facts);
        for review in late {
            let why = untimely(facts, review).unwrap_or_else(|| "it came after the merge".into());
            findings.record(review, refused(review, why), &reqs);
        }
        for why in unknown_standing(facts, &timely) {
            findings.error(why);
        }
        let scope = Scope {
            policy: self.policy(),
            facts,
            reqs: &reqs,
        };
        for review in latest_stances(&timely).values() {
            if let Some(judgement) = judge(&scope, review) {
                findings.record(review, judgement, &reqs);
            }
        }
        let rules = rule_outcomes(&reqs, &mut findings);
        let approvals = distinct_approvals(&rules);
        findings
            .denials
            .sort_by(|a, b| a.login.cmp(&b.login).then(a.review_id.cmp(&b.review_id)));
        let (state, description) =
            conclude(facts, merged_counts_as_open, &rules, &approvals, &findings);
        let reviews = review_verdicts(facts, &timely, &mut findings);
        ApprovalDecision {
            state,
            description: clip_description(&description),
            head_sha: facts.head_sha.clone(),
            rules,
            approvals,
            denials: findings.denials,
            notes: findings.notes,
            reviews,
        }
    }
}

/// The files the PR changes. One that touches the policy file is governed as one that
/// changes it, even if the file list the gate gathered somehow missed it.
fn governed_files(facts: &PullFacts) -> Vec<String> {
    let mut files = facts.changed_files.clone();
    if facts.proposed_policy != ProposedPolicy::Unchanged && !files.iter().any(|f| f == POLICY_PATH)
    {
        files.push(POLICY_PATH.to_string());
    }
    files
}

/// Who wrote the change must be known, or self-approval cannot be ruled out.
fn unknown_writers(facts: &PullFacts) -> Vec<String> {
    let mut errors = Vec::new();
    for c in &facts.commits {
        if c.author.is_none() {
            errors.push(format!(
                "commit {} has an author ({}) that maps to no account; prgate cannot tell who wrote it",
                c.sha.short(),
                c.author_email
            ));
        }
        if c.committer.is_none() {
            errors.push(format!(
                "commit {} has a committer ({}) that maps to no account; prgate cannot tell who committed it",
                c.sha.short(),
                c.committer_email
            ));
        }
    }
    // The code host lists at most 250 commits of a PR; without the head among them the list
    // is incomplete and some author could be missing.
    if !facts.commits.iter().any(|c| c.sha == facts.head_sha) {
        errors.push(format!(
            "the commit list does not include the head {}; prgate cannot tell who wrote every commit",
            facts.head_sha.short()
        ));
    }
    errors
}

/// The reviews given before the merge (all, for an open PR), and the approvals given after
/// it. Reviews after the merge never existed as far as the decision goes: they cannot
/// approve a merge that already happened, nor take back an approval it rested on.
fn split_at_merge(facts: &PullFacts) -> (Vec<Review>, Vec<&Review>) {
    let timely: Vec<Review> = facts
        .reviews
        .iter()
        .filter(|r| match (facts.merged_at, r.submitted_at) {
            (Some(merged), Some(t)) => before_merge(t, merged),
            (Some(_), None) => r.state != ReviewState::Approved,
            (None, _) => true,
        })
        .cloned()
        .collect();
    let late = facts
        .reviews
        .iter()
        .filter(|r| r.state == ReviewState::Approved && !timely.contains(r))
        .collect();
    (timely, late)
}

/// Eligibility rests on who pushed to the head branch and when reviewers' accounts were
/// created; judging a stance without knowing them could count a co-author's approval, or a
/// released login registered again.
fn unknown_standing(facts: &PullFacts, timely: &[Review]) -> Vec<String> {
    let stance_taken = timely.iter().any(|r| {
        matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested
        )
    });
    let mut errors = Vec::new();
    if stance_taken && facts.head_pushers.is_none() {
        errors.push(
            "prgate could not read who pushed to the head branch; it cannot tell who may approve"
                .to_string(),
        );
    }
    if stance_taken && facts.registered_after.is_none() {
        errors.push(
            "prgate could not read when the reviewers' accounts were created; it cannot tell a released login registered again from its owner"
                .to_string(),
        );
    }
    errors
}
