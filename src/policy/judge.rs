//! What one reviewer's latest stance means for the decision: an approval that counts for
//! some rules, a "no" that blocks, something that does not count (and why), or a review
//! prgate cannot judge. One small predicate per stance, as policy-bot judges them.

use std::collections::BTreeMap;

use crate::policy::RepoPolicy;
use crate::types::UserId;

use super::compiled::Requirement;
use super::decision::{Approval, Denial};
use super::eligibility::{designated, ineligibility, not_designated, untimely};
use super::facts::{PullFacts, Review, ReviewState};

/// What the decision rests on while it judges reviews.
pub(super) struct Scope<'a> {
    pub policy: &'a RepoPolicy,
    pub facts: &'a PullFacts,
    /// The rules the PR's files fall under.
    pub reqs: &'a [Requirement<'a>],
}

/// The result of judging one review.
pub(super) enum Judgement {
    /// An approval that counts for these rules (indices into the scope's `reqs`).
    Counts {
        rules: Vec<usize>,
        approval: Approval,
    },
    /// A "no" from someone who may say it; `note` says why it still stands, when it is not
    /// plain (a dismissal by someone who may not clear it).
    Blocks {
        denial: Denial,
        note: Option<String>,
    },
    /// Counts for nothing: `why` for the decision page, `note` for the log of the decision,
    /// and what the status should say about it, if anything.
    Void {
        why: String,
        note: String,
        hint: Option<Hint>,
    },
    /// prgate cannot judge it: the decision is `error`.
    Unreadable(String),
}

/// A line of the status description about a review that does not count.
pub(super) enum Hint {
    /// Why a given approval does not count: shown before what is missing.
    Refused(String),
    /// An approval of an older commit: shown after what is missing.
    Stale(String),
}

/// Each reviewer's latest review that carries a stance, by account id. Order in the list is
/// not trusted: the latest is the greatest (submitted_at, id).
pub(super) fn latest_stances(reviews: &[Review]) -> BTreeMap<UserId, &Review> {
    let mut latest: BTreeMap<UserId, &Review> = BTreeMap::new();
    for r in reviews {
        if !matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        ) {
            continue;
        }
        let newer = latest
            .get(&r.reviewer.id)
            .is_none_or(|cur| (r.submitted_at, r.id) > (cur.submitted_at, cur.id));
        if newer {
            latest.insert(r.reviewer.id, r);
        }
    }
    latest
}

/// An approval that does not count, for `why`.
pub(super) fn refused(review: &Review, why: String) -> Judgement {
    let login = &review.reviewer.login;
    Judgement::Void {
        note: format!(
            "approval by {login} (review {}) does not count: {why}",
            review.id
        ),
        hint: Some(Hint::Refused(format!(
            "{login}'s approval does not count: {why}"
        ))),
        why,
    }
}

/// Judges one reviewer's latest stance; `None` for a review that takes none.
pub(super) fn judge(scope: &Scope<'_>, review: &Review) -> Option<Judgement> {
    let rules_for: Vec<usize> = (0..scope.reqs.len())
        .filter(|&i| designated(scope.reqs[i].approvers, scope.facts, &review.reviewer))
        .collect();
    match review.state {
        ReviewState::Approved => Some(approval(scope, review, rules_for)),
        ReviewState::ChangesRequested => Some(change_request(scope, review, &rules_for)),
        ReviewState::Dismissed => Some(dismissal(scope, review, &rules_for)),
        ReviewState::Commented | ReviewState::Other => None,
    }
}

/// Why the reviewer may not take a stance on this PR at all, or is designated by no rule.
fn standing(scope: &Scope<'_>, review: &Review, rules_for: &[usize]) -> Option<String> {
    ineligibility(scope.policy, scope.facts, &review.reviewer).or_else(|| {
        rules_for
            .is_empty()
            .then(|| not_designated(scope.reqs, scope.facts, &review.reviewer))
    })
}

/// An approval counts when its reviewer may approve, it came in time, and it is of the head.
fn approval(scope: &Scope<'_>, review: &Review, rules_for: Vec<usize>) -> Judgement {
    if let Some(why) = standing(scope, review, &rules_for) {
        return refused(review, why);
    }
    if let Some(why) = untimely(scope.facts, review) {
        return refused(review, why);
    }
    let head = &scope.facts.head_sha;
    if review.commit_id.as_ref() != Some(head) {
        let login = &review.reviewer.login;
        let on = review
            .commit_id
            .as_ref()
            .map_or("an unknown commit".to_string(), |c| c.short().to_string());
        let why = format!("it is for {on}, not the head {}", head.short());
        return Judgement::Void {
            note: format!(
                "approval by {login} (review {}) does not count: {why}",
                review.id
            ),
            hint: Some(Hint::Stale(format!(
                "{login}'s approval is for an older commit"
            ))),
            why,
        };
    }
    Judgement::Counts {
        rules: rules_for,
        approval: Approval {
            login: review.reviewer.login.clone(),
            user_id: review.reviewer.id,
            review_id: review.id,
            submitted_at: review.submitted_at,
        },
    }
}

/// A change request stands whatever commit it was made on: pushing more commits does not
/// answer it, only the reviewer's approval does.
fn change_request(scope: &Scope<'_>, review: &Review, rules_for: &[usize]) -> Judgement {
    let login = &review.reviewer.login;
    match standing(scope, review, rules_for) {
        None => Judgement::Blocks {
            denial: Denial {
                login: login.clone(),
                review_id: review.id,
                reason: review.body.trim().to_string(),
            },
            note: None,
        },
        Some(why) => Judgement::Void {
            note: format!(
                "change request by {login} (review {}) does not block: {why}",
                review.id
            ),
            hint: None,
            why,
        },
    }
}

/// A dismissed "no" still blocks unless someone who may approve in its place dismissed it.
fn dismissal(scope: &Scope<'_>, review: &Review, rules_for: &[usize]) -> Judgement {
    let login = &review.reviewer.login;
    let Some(dismissals) = &scope.facts.dismissals else {
        return Judgement::Unreadable(format!(
            "prgate could not read who dismissed review {} by {login}; it cannot tell whether a designated approver's \"no\" still stands",
            review.id
        ));
    };
    let dismissal = dismissals.iter().find(|d| d.review_id == review.id);
    // Unknown before (no event found): taken as a "no", fail closed.
    let was_no = dismissal
        .is_none_or(|d| !matches!(d.previous, ReviewState::Approved | ReviewState::Commented));
    let by = dismissal.map(|d| &d.by);
    let cleared = by.is_some_and(|by| {
        ineligibility(scope.policy, scope.facts, by).is_none()
            && rules_for
                .iter()
                .any(|&i| designated(scope.reqs[i].approvers, scope.facts, by))
    });
    let who = by.map_or("someone prgate cannot name".to_string(), |b| {
        b.login.to_string()
    });
    let eligible = ineligibility(scope.policy, scope.facts, &review.reviewer).is_none();
    if was_no && eligible && !rules_for.is_empty() && !cleared {
        let rules: Vec<&str> = rules_for
            .iter()
            .map(|&i| scope.reqs[i].name.as_str())
            .collect();
        let why = format!(
            "dismissed by {who}, who is not an eligible approver of {}; it stands until {login} approves",
            rules.join(", ")
        );
        let body = review.body.trim();
        return Judgement::Blocks {
            note: Some(format!(
                "change request by {login} (review {}) still blocks: {why}",
                review.id
            )),
            denial: Denial {
                login: login.clone(),
                review_id: review.id,
                reason: if body.is_empty() {
                    why
                } else {
                    format!("{body} ({why})")
                },
            },
        };
    }
    Judgement::Void {
        note: format!(
            "review {} by {login} was dismissed by {who} and counts for nothing",
            review.id
        ),
        hint: None,
        why: format!("it was dismissed by {who}"),
    }
}
