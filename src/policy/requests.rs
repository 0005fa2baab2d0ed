//! Whom to ask for a review: the designated approvers of the rules a PR still needs, minus
//! every account that could not approve it anyway. Pure, like the rest of the engine.

use crate::policy::{RepoPolicy, TeamRef};
use crate::types::Login;

use super::compiled::DEFAULTS_RULE;
use super::decision::ApprovalDecision;
use super::facts::PullFacts;

/// Users (by login) and teams to request a review from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewRequest {
    pub users: Vec<Login>,
    pub teams: Vec<TeamRef>,
}

impl ReviewRequest {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.teams.is_empty()
    }
}

/// The designated users and teams of the rules not yet satisfied. Users who opened the PR,
/// pushed to it, wrote or committed one of its commits, are listed agents or bot accounts,
/// or already reviewed the head are left out: asking them would only invite an approval that
/// does not count.
pub fn reviewers_to_request(
    policy: &RepoPolicy,
    facts: &PullFacts,
    decision: &ApprovalDecision,
) -> ReviewRequest {
    let mut out = ReviewRequest::default();
    for outcome in decision.rules.iter().filter(|r| !r.satisfied) {
        let approvers = if outcome.name == DEFAULTS_RULE {
            policy.defaults.as_ref().map(|d| &d.approvers)
        } else {
            policy
                .rules
                .iter()
                .find(|r| r.name == outcome.name)
                .map(|r| &r.approvers)
        };
        let Some(approvers) = approvers else { continue };
        for u in &approvers.users {
            if !out.users.contains(u) && may_be_asked(policy, facts, u) {
                out.users.push(u.clone());
            }
        }
        for t in &approvers.teams {
            if !out.teams.contains(t) {
                out.teams.push(t.clone());
            }
        }
    }
    out
}

fn may_be_asked(policy: &RepoPolicy, facts: &PullFacts, entry: &Login) -> bool {
    // A review is requested by login; a pinned entry's login is its name part.
    let login = &Login::new(entry.name());
    let is = |l: &Login| l == login;
    let wrote = facts.commits.iter().any(|c| {
        c.author.as_ref().is_some_and(|a| is(&a.login))
            || c.committer.as_ref().is_some_and(|a| is(&a.login))
    });
    let pushed = facts
        .head_pushers
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| is(&p.login)));
    let reviewed_head = facts
        .reviews
        .iter()
        .any(|r| is(&r.reviewer.login) && r.commit_id.as_ref() == Some(&facts.head_sha));
    !(is(&facts.author.login)
        || policy.identities.agents.contains(login)
        || login.as_str().ends_with("[bot]")
        || wrote
        || pushed
        || reviewed_head)
}
