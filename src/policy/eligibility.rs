//! Predicates about one reviewer and one review: may this account approve at all, is it
//! designated by a rule, and was its review given in time. Each says why when the answer is
//! "no", in the words the status and the decision page show.

use crate::policy::{Approvers, RepoPolicy, TeamRef};
use crate::types::{Login, UserId};

use super::compiled::Requirement;
use super::facts::{Account, AccountKind, PullFacts, RegisteredAfter, Review};

/// Why an account's review cannot count for any rule, before looking at which rule.
pub(super) fn ineligibility(
    policy: &RepoPolicy,
    facts: &PullFacts,
    who: &Account,
) -> Option<String> {
    let login = &who.login;
    match who.kind {
        AccountKind::User => {}
        AccountKind::Bot => return Some(format!("{login} is a bot account")),
        AccountKind::Organization => return Some(format!("{login} is an organization account")),
        AccountKind::Other => return Some(format!("{login} is not a user account")),
    }
    if policy.identities.agents.contains(login) {
        return Some(format!("{login} is an agent (identities.agents)"));
    }
    if who.id == facts.author.id {
        return Some(format!("{login} opened the pull request"));
    }
    // Pushes are authenticated; commit emails are not. Whoever pushed to the head branch
    // helped write the change, whatever names its commits carry.
    if facts
        .head_pushers
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| p.id == who.id))
    {
        return Some(format!("{login} pushed to the head branch"));
    }
    for c in &facts.commits {
        // An email still disqualifies its account (fail closed), but the description names
        // who really pushed the commit, so that a forged identity is visible as such.
        let pushed = match &c.pushed_by {
            Some(p) if p.id != who.id => format!(", pushed by {}", p.login),
            Some(_) => String::new(),
            None => ", pushed by an unknown account".to_string(),
        };
        if c.author.as_ref().is_some_and(|a| a.id == who.id) {
            return Some(format!("{login} authored commit {}{pushed}", c.sha.short()));
        }
        if c.committer.as_ref().is_some_and(|a| a.id == who.id) {
            return Some(format!("{login} committed {}{pushed}", c.sha.short()));
        }
    }
    None
}

/// Whether a review submitted at `t` came before a merge at `merged`. GitHub's times have
/// whole seconds, so a review of the merge's own second is not "after" it: it counts.
pub(super) fn before_merge(
    t: chrono::DateTime<chrono::Utc>,
    merged: chrono::DateTime<chrono::Utc>,
) -> bool {
    t <= merged
}

/// Why a review cannot count by when it was submitted: after the merge (GitHub accepts
/// reviews on merged PRs), or before the PR's base branch last changed.
pub(super) fn untimely(facts: &PullFacts, review: &Review) -> Option<String> {
    if let Some(merged) = facts.merged_at {
        match review.submitted_at {
            Some(t) if before_merge(t, merged) => {}
            Some(_) => return Some("it was submitted after the merge".to_string()),
            None => return Some("its submission time is unknown".to_string()),
        }
    }
    if let Some(changed) = facts.base_changed_at {
        match review.submitted_at {
            Some(t) if t > changed => {}
            Some(_) => {
                return Some(format!(
                    "it was given before the base branch changed to {}",
                    facts.base_ref
                ));
            }
            None => return Some("its submission time is unknown".to_string()),
        }
    }
    None
}

fn team_has(facts: &PullFacts, team: &TeamRef, id: UserId) -> bool {
    let members = facts.team_members.get(team).or_else(|| {
        // The gate may spell a team with other case than the policy does; GitHub does not
        // distinguish them.
        facts
            .team_members
            .iter()
            .find(|(t, _)| {
                t.org.eq_ignore_ascii_case(&team.org) && t.slug.eq_ignore_ascii_case(&team.slug)
            })
            .map(|(_, m)| m)
    });
    members.is_some_and(|m| m.contains(&id))
}

pub(super) fn designated(approvers: &Approvers, facts: &PullFacts, who: &Account) -> bool {
    approvers.users.iter().any(|u| {
        u.names_account(&who.login, who.id)
            // An unpinned login whose account is younger than the policy's naming of it was
            // released and registered again: that account is not the one the policy meant.
            && (u.pinned_id().is_some() || registered_after(facts, who).is_none())
    }) || approvers.teams.iter().any(|t| team_has(facts, t, who.id))
}

/// `who`, when their account was created after the policy named their login.
fn registered_after<'a>(facts: &'a PullFacts, who: &Account) -> Option<&'a RegisteredAfter> {
    facts
        .registered_after
        .as_ref()?
        .iter()
        .find(|r| r.id == who.id)
}

/// Why `who` is designated by none of the rules `reqs`, in the reviewer's terms: a released
/// login registered again is named as such, not only as "not designated".
pub(super) fn not_designated(reqs: &[Requirement<'_>], facts: &PullFacts, who: &Account) -> String {
    let login = &who.login;
    let pinned_other = reqs
        .iter()
        .flat_map(|r| r.approvers.users.iter())
        .find(|u| u.pinned_id().is_some() && Login::new(u.name()) == *login);
    if let Some(pinned) = pinned_other {
        return format!("{login} is account {}, not the pinned {pinned}", who.id.0);
    }
    if let Some(r) = registered_after(facts, who) {
        let named = r.named_at.map_or_else(
            || "named the login".to_string(),
            |at| format!("named the login on {}", at.format("%Y-%m-%d")),
        );
        return format!(
            "{login} is account {}, created {} after the policy {named}: a released login registered again",
            who.id.0,
            r.created_at.format("%Y-%m-%d"),
        );
    }
    let names: Vec<&str> = reqs.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        format!("{login} is not a designated approver (no rule applies)")
    } else {
        format!(
            "{login} is not a designated approver of {}",
            names.join(", ")
        )
    }
}
