//! From judged reviews to the decision's tree: each rule's outcome with the approvals that
//! count for it, the state and the one-line description the status shows, and what every
//! review meant, for the decision page and `explain_decision`.

use std::collections::BTreeMap;

use crate::policy::POLICY_PATH;

use super::compiled::Requirement;
use super::decision::{Approval, ApprovalState, Denial, ReviewVerdict, RuleOutcome};
use super::facts::{ProposedPolicy, PullFacts, PullState, Review, ReviewState};
use super::judge::{Hint, Judgement, latest_stances};

/// What one review meant, kept until the verdicts are written.
struct Verdict {
    counts: bool,
    counted_for: Vec<String>,
    why_not: Option<String>,
}

/// What judging the facts found, in the order it was found.
pub(super) struct Findings {
    /// Why prgate cannot decide; any makes the decision `error`.
    pub errors: Vec<String>,
    /// Every finding in words, errors included: the decision's notes.
    pub notes: Vec<String>,
    pub denials: Vec<Denial>,
    /// Per rule (as the scope's `reqs`): the approvals that count.
    counted: Vec<Vec<Approval>>,
    verdicts: BTreeMap<u64, Verdict>,
    refused: Vec<String>,
    stale: Vec<String>,
}

impl Findings {
    pub(super) fn new(rules: usize) -> Findings {
        Findings {
            errors: Vec::new(),
            notes: Vec::new(),
            denials: Vec::new(),
            counted: vec![Vec::new(); rules],
            verdicts: BTreeMap::new(),
            refused: Vec::new(),
            stale: Vec::new(),
        }
    }

    /// Something that keeps prgate from deciding.
    pub(super) fn error(&mut self, why: String) {
        self.notes.push(why.clone());
        self.errors.push(why);
    }

    /// Takes in the judgement of `review`.
    pub(super) fn record(
        &mut self,
        review: &Review,
        judgement: Judgement,
        reqs: &[Requirement<'_>],
    ) {
        let verdict = match judgement {
            Judgement::Counts { rules, approval } => {
                let counted_for = rules.iter().map(|&i| reqs[i].name.clone()).collect();
                for i in rules {
                    self.counted[i].push(approval.clone());
                }
                Verdict {
                    counts: true,
                    counted_for,
                    why_not: None,
                }
            }
            Judgement::Blocks { denial, note } => {
                self.notes.extend(note);
                self.denials.push(denial);
                Verdict {
                    counts: true,
                    counted_for: vec![],
                    why_not: None,
                }
            }
            Judgement::Void { why, note, hint } => {
                self.notes.push(note);
                match hint {
                    Some(Hint::Refused(h)) => self.refused.push(h),
                    Some(Hint::Stale(h)) => self.stale.push(h),
                    None => {}
                }
                Verdict {
                    counts: false,
                    counted_for: vec![],
                    why_not: Some(why),
                }
            }
            Judgement::Unreadable(why) => return self.error(why),
        };
        self.verdicts.insert(review.id, verdict);
    }
}

/// Each rule's outcome: the approvals that count for it (by login) and whether they suffice.
pub(super) fn rule_outcomes(reqs: &[Requirement<'_>], findings: &mut Findings) -> Vec<RuleOutcome> {
    let counted = std::mem::take(&mut findings.counted);
    reqs.iter()
        .zip(counted)
        .map(|(req, mut approvals)| {
            approvals.sort_by(|a, b| a.login.cmp(&b.login).then(a.user_id.cmp(&b.user_id)));
            // A hand-built policy with min_approvals = 0 never passes validation; still,
            // never let "zero" mean "nobody needs to look".
            let needed = req.min_approvals.max(1) as usize;
            RuleOutcome {
                name: req.name.clone(),
                min_approvals: req.min_approvals,
                satisfied: approvals.len() >= needed,
                approvals,
                approvers: super::describe_approvers(req.approvers),
                executor: req.executor.clone(),
            }
        })
        .collect()
}

/// The distinct approvals that count for any rule, by login.
pub(super) fn distinct_approvals(rules: &[RuleOutcome]) -> Vec<Approval> {
    let mut approvals: Vec<Approval> = Vec::new();
    for a in rules.iter().flat_map(|r| r.approvals.iter()) {
        if !approvals.iter().any(|x| x.user_id == a.user_id) {
            approvals.push(a.clone());
        }
    }
    approvals.sort_by(|a, b| a.login.cmp(&b.login).then(a.user_id.cmp(&b.user_id)));
    approvals
}

/// The state and description: an error first, then a "no", then a PR that is not open, then
/// what is missing; `success` only when every rule that applies is satisfied.
pub(super) fn conclude(
    facts: &PullFacts,
    merged_counts_as_open: bool,
    rules: &[RuleOutcome],
    approvals: &[Approval],
    findings: &Findings,
) -> (ApprovalState, String) {
    if let Some(first) = findings.errors.first() {
        let more = match findings.errors.len() {
            1 => String::new(),
            n => format!(" (and {} more problems)", n - 1),
        };
        return (ApprovalState::Error, format!("{first}{more}"));
    }
    if !findings.denials.is_empty() || matches!(facts.proposed_policy, ProposedPolicy::Invalid(_)) {
        let mut parts: Vec<String> = Vec::new();
        for d in &findings.denials {
            if d.reason.is_empty() {
                parts.push(format!("changes requested by {}", d.login));
            } else {
                parts.push(format!("changes requested by {}: {}", d.login, d.reason));
            }
        }
        if let ProposedPolicy::Invalid(msg) = &facts.proposed_policy {
            parts.push(format!("the proposed {POLICY_PATH} is invalid: {msg}"));
        }
        return (ApprovalState::Failure, parts.join("; "));
    }
    let is_open = facts.state == PullState::Open
        || (merged_counts_as_open && facts.state == PullState::Merged);
    if !is_open {
        let what = match facts.state {
            PullState::Merged => {
                "the pull request is merged; its approval is judged after the merge"
            }
            _ => "the pull request is closed; nothing will be approved",
        };
        return (ApprovalState::Pending, what.to_string());
    }
    let missing = missing(rules);
    // Why a review that was given does not count comes first: it is what the reviewer
    // looking at the status needs to read, and the approver list can be long.
    let pending_text = || {
        let mut lines = findings.refused.clone();
        lines.extend(missing.iter().cloned());
        lines.extend(findings.stale.iter().cloned());
        lines.join("; ")
    };
    if facts.draft {
        let rest = if missing.is_empty() {
            "mark the pull request ready for review".to_string()
        } else {
            pending_text()
        };
        (ApprovalState::Pending, format!("draft: {rest}"))
    } else if !missing.is_empty() {
        (ApprovalState::Pending, pending_text())
    } else if rules.is_empty() {
        (
            ApprovalState::Success,
            "no approval needed: no rule covers the changed files and there is no [defaults]"
                .to_string(),
        )
    } else {
        (ApprovalState::Success, approved_text(rules, approvals))
    }
}

/// "needs 1 more approval from alice or acme/netops (firewall)", per unsatisfied rule.
fn missing(rules: &[RuleOutcome]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| !r.satisfied)
        .map(|r| {
            let need = r.min_approvals.max(1) - r.approvals.len() as u32;
            let more = if r.approvals.is_empty() { "" } else { "more " };
            format!(
                "needs {} from {} ({})",
                plural(
                    need,
                    &format!("{more}approval"),
                    &format!("{more}approvals")
                ),
                r.approvers,
                r.name
            )
        })
        .collect()
}

/// Every review of the PR, oldest first, with what it meant. `timely` are the reviews given
/// before the merge (all of them for an open PR).
pub(super) fn review_verdicts(
    facts: &PullFacts,
    timely: &[Review],
    findings: &mut Findings,
) -> Vec<ReviewVerdict> {
    // Reviews the judging did not reach: comments, stances replaced by a later one, and
    // anything submitted after the merge.
    let latest = latest_stances(timely);
    let mut verdicts: Vec<ReviewVerdict> = facts
        .reviews
        .iter()
        .map(|r| {
            let v = findings.verdicts.remove(&r.id).unwrap_or_else(|| {
                let why = if !timely.iter().any(|x| x.id == r.id) {
                    "it was submitted after the merge".to_string()
                } else {
                    match (r.state, latest.get(&r.reviewer.id)) {
                        (ReviewState::Commented | ReviewState::Other, _) => {
                            "a comment takes no stance".to_string()
                        }
                        (_, Some(newer)) if newer.id != r.id => format!(
                            "{}'s later review {} replaces it",
                            r.reviewer.login, newer.id
                        ),
                        _ => "it takes no part in the decision".to_string(),
                    }
                };
                Verdict {
                    counts: false,
                    counted_for: vec![],
                    why_not: Some(why),
                }
            });
            ReviewVerdict {
                review_id: r.id,
                login: r.reviewer.login.clone(),
                stance: stance_words(r.state).to_string(),
                commit: r.commit_id.clone(),
                submitted_at: r.submitted_at,
                counts: v.counts,
                counted_for: v.counted_for,
                why_not: v.why_not,
            }
        })
        .collect();
    // In the order they were given: the decision does not depend on how the code host
    // listed them, and neither does this.
    verdicts.sort_by_key(|v| (v.submitted_at, v.review_id));
    verdicts
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn stance_words(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Approved => "approved",
        ReviewState::ChangesRequested => "changes requested",
        ReviewState::Commented => "commented",
        ReviewState::Dismissed => "dismissed",
        ReviewState::Other => "other",
    }
}

/// "approved by alice (firewall, policy), bob (policy)".
fn approved_text(rules: &[RuleOutcome], approvals: &[Approval]) -> String {
    let parts: Vec<String> = approvals
        .iter()
        .map(|a| {
            let names: Vec<&str> = rules
                .iter()
                .filter(|r| r.approvals.iter().any(|x| x.user_id == a.user_id))
                .map(|r| r.name.as_str())
                .collect();
            format!("{} ({})", a.login, names.join(", "))
        })
        .collect();
    format!("approved by {}", parts.join(", "))
}
