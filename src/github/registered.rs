//! Released logins registered again: a policy entry that names a login without pinning an id
//! (`alice`, not `alice#583231`) means the account that held the login when the policy named
//! it. An account created after the policy commit that named its login is someone else who
//! registered the login once it was released, and never counts (DESIGN "Approval semantics").

use std::collections::BTreeSet;

use super::GitHub;
use super::gather_error::GatherError;
use crate::policy::{self, RegisteredAfter, Review, ReviewState};
use crate::policy::{POLICY_PATH, RepoPolicy};
use crate::types::{CommitSha, Login, RepoName};

/// The logins a policy names without pinning an id, in any rule or the defaults.
fn unpinned_logins(policy: &RepoPolicy) -> BTreeSet<Login> {
    policy
        .rules
        .iter()
        .map(|r| &r.approvers)
        .chain(policy.defaults.as_ref().map(|d| &d.approvers))
        .flat_map(|a| a.users.iter())
        .filter(|u| u.pinned_id().is_none())
        .cloned()
        .collect()
}

/// Of the reviewers who took a stance and whose login the policy at `base` names unpinned,
/// those whose account was created after the policy commit that named the login. Costs
/// nothing when no such reviewer took a stance; otherwise the policy file's history at `base`
/// (one call per 100 changes, once per base, then its versions, each read once) and each
/// account once.
pub(crate) async fn read_registered_after(
    gh: &GitHub,
    repo: &RepoName,
    base: &CommitSha,
    policy: &RepoPolicy,
    reviews: &[Review],
) -> Result<Option<Vec<RegisteredAfter>>, GatherError> {
    let named = unpinned_logins(policy);
    let mut seen = BTreeSet::new();
    let candidates: Vec<_> = reviews
        .iter()
        .filter(|r| {
            matches!(
                r.state,
                ReviewState::Approved | ReviewState::ChangesRequested
            )
        })
        .map(|r| &r.reviewer)
        .filter(|a| named.contains(&a.login) && seen.insert(a.id))
        .collect();
    if candidates.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let history = gh.path_history(repo, base, POLICY_PATH).await?;
    let mut out = Vec::new();
    for who in candidates {
        let named_at = named_since(gh, repo, &history, &who.login).await?;
        let created_at = gh.account_created_at(repo, who.id).await?.ok_or_else(|| {
            GatherError::Incomplete(format!(
                "GitHub did not say when account {} ({}) was created",
                who.id.0, who.login
            ))
        })?;
        // The same second counts as after: fail closed.
        if named_at.is_none_or(|at| created_at >= at) {
            out.push(RegisteredAfter {
                id: who.id,
                login: who.login.clone(),
                created_at,
                named_at,
            });
        }
    }
    Ok(Some(out))
}

/// When the policy commit that named `login` was committed: walking the policy file's whole
/// history from the newest version back, the oldest version of the unbroken run that names it.
/// `None` when the newest version does not name it.
async fn named_since(
    gh: &GitHub,
    repo: &RepoName,
    history: &[(CommitSha, Option<chrono::DateTime<chrono::Utc>>)],
    login: &Login,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, GatherError> {
    let mut since = None;
    for (commit, at) in history {
        let names = match gh.policy_text_at(repo, commit).await? {
            // A version that does not parse named nobody.
            Some(text) => policy::parse_policy(POLICY_PATH, &text)
                .is_ok_and(|p| unpinned_logins(&p).contains(login)),
            None => false,
        };
        if !names {
            break;
        }
        // A commit without a date cannot say when; the run stops at the last dated one.
        match at {
            Some(at) => since = Some(*at),
            None => break,
        }
    }
    Ok(since)
}
