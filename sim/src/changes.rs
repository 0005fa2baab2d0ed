//! A PR's commits and changed files, from the merge base of its base and head, and the PR as
//! REST renders it whole (with those counts): what the API routes, the GraphQL resolver and
//! the webhook payloads all show of a PR.

use git2::Oid;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::world::{Pull, World};
use crate::{Sim, gitstore, render};

/// The base commit a PR is compared against: the live base tip while open, the tip at
/// closing afterwards (so that a merged PR keeps listing its own commits, as on GitHub).
pub(crate) fn base_oid(repo: &git2::Repository, p: &Pull) -> Option<Oid> {
    if !p.open
        && let Some(s) = &p.closed_base_sha
    {
        return Oid::from_str(s).ok();
    }
    gitstore::branch_tip(repo, &p.base_ref)
}

/// The PR's commits (oldest first) and files, from the merge base of base and head.
pub(crate) fn pull_changes(
    repo: &git2::Repository,
    p: &Pull,
) -> Result<(Vec<Oid>, Vec<gitstore::FileChange>), ApiError> {
    let (mb, head) = ends(repo, p)?;
    let commits = gitstore::range(repo, mb, head)?;
    let files = gitstore::diff_files(repo, mb, head)?;
    Ok((commits, files))
}

/// The PR's commits alone (oldest first): no diff, for a reader that lists only those.
pub(crate) fn pull_commits(repo: &git2::Repository, p: &Pull) -> Result<Vec<Oid>, ApiError> {
    let (mb, head) = ends(repo, p)?;
    Ok(gitstore::range(repo, mb, head)?)
}

/// The merge base of the PR's base and head (none for unrelated histories), and its head.
fn ends(repo: &git2::Repository, p: &Pull) -> Result<(Option<Oid>, Oid), ApiError> {
    let head = Oid::from_str(&p.head_sha).map_err(ApiError::internal)?;
    let mb = base_oid(repo, p).and_then(|b| gitstore::merge_base(repo, b, head));
    Ok((mb, head))
}

pub(crate) fn render_pull(sim: &Sim, w: &World, idx: usize, n: u64) -> Option<Value> {
    let r = &w.repos[idx];
    let p = r.pull(n)?;
    let repo = gitstore::open(&r.git_dir).ok()?;
    let base = base_oid(&repo, p);
    let head = Oid::from_str(&p.head_sha).ok();
    let mergeable = match (p.open, base, head) {
        (true, Some(b), Some(h)) => gitstore::mergeable(&repo, b, h).ok(),
        _ => None,
    };
    let mut v = render::pull(&sim.urls, w, r, p, &p.base_sha, mergeable);
    if let Ok((commits, files)) = pull_changes(&repo, p) {
        v["commits"] = json!(commits.len());
        v["changed_files"] = json!(files.len());
        v["additions"] = json!(files.iter().map(|f| f.additions).sum::<usize>());
        v["deletions"] = json!(files.iter().map(|f| f.deletions).sum::<usize>());
    }
    Some(v)
}
