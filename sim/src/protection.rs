//! Branch protection as the simulator models it: the default branch is protected when the
//! repo has required status contexts; admins bypass it unless `enforce_admins`. Shared by the
//! API merge, the refs API and pushes over HTTP, so that all three refuse the same things.
//!
//! GitHub: "About protected branches",
//! https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
//! (force pushes and deletions are blocked by default; admins are exempt unless included).

use super::world::Repo;
use crate::ids::UserId;

/// Whether `refname` (a full ref name) is the repo's protected default branch.
pub fn is_protected(r: &Repo, refname: &str) -> bool {
    !r.required_contexts.is_empty()
        && refname
            .strip_prefix("refs/heads/")
            .is_some_and(|b| b == r.default_branch)
}

/// Whether `user` may ignore the protection of `r`'s default branch.
pub fn bypasses(r: &Repo, user: UserId) -> bool {
    r.is_admin(user) && !r.enforce_admins
}

/// Each required context whose latest status on `sha` is not `success`, with that status's
/// state (`None`: no status at all, GitHub's "expected").
pub fn unmet_checks<'a>(r: &'a Repo, sha: &str) -> Vec<(&'a str, Option<&'a str>)> {
    r.required_contexts
        .iter()
        .filter_map(|ctx| {
            // A context pinned to an app counts only that app's statuses.
            let source = r.required_sources.get(ctx);
            let latest = r
                .statuses
                .iter()
                .filter(|s| s.sha == sha && &s.context == ctx)
                .filter(|s| source.is_none_or(|bot| *bot == s.creator))
                .max_by_key(|s| s.id);
            match latest {
                Some(s) if s.state == "success" => None,
                Some(s) => Some((ctx.as_str(), Some(s.state.as_str()))),
                None => Some((ctx.as_str(), None)),
            }
        })
        .collect()
}
