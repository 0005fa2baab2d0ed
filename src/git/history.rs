//! What the executor reads from its mirror: the first-parent commits a push added, the policy
//! at a commit, and the paths a commit changed against its first parent.

use git2::{Oid, Repository, Sort};

use crate::policy::POLICY_PATH;

/// The policy file at `commit`: (blob id, text); `None` when the commit has none.
pub(crate) fn policy_blob_at(
    repo: &Repository,
    commit: Oid,
) -> Result<Option<(Oid, String)>, git2::Error> {
    let tree = repo.find_commit(commit)?.tree()?;
    let Ok(entry) = tree.get_path(std::path::Path::new(POLICY_PATH)) else {
        return Ok(None);
    };
    let blob = repo.find_blob(entry.id())?;
    Ok(std::str::from_utf8(blob.content())
        .ok()
        .map(|t| (entry.id(), t.to_string())))
}

/// Paths that differ between `commit`'s first parent and `commit` (both sides of a rename).
pub(crate) fn changed_paths(repo: &Repository, commit: Oid) -> Result<Vec<String>, git2::Error> {
    let c = repo.find_commit(commit)?;
    let new_tree = c.tree()?;
    let old_tree = match c.parent(0) {
        Ok(p) => Some(p.tree()?),
        Err(_) => None,
    };
    paths_between(repo, old_tree.as_ref(), &new_tree)
}

/// Paths that differ between two trees (both sides of a rename), each once, in diff order.
pub(crate) fn paths_between(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
) -> Result<Vec<String>, git2::Error> {
    let diff = repo.diff_tree_to_tree(old, Some(new), None)?;
    let mut out = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file().path(), d.new_file().path()]
            .into_iter()
            .flatten()
        {
            let s = f.to_string_lossy().to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// First-parent commits reachable from `tip` and not from `stop`, oldest first, at most `limit`.
pub(crate) fn first_parent_range(
    repo: &Repository,
    tip: Oid,
    stop: Option<Oid>,
    limit: usize,
) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.simplify_first_parent()?;
    walk.set_sorting(Sort::TOPOLOGICAL)?;
    if let Some(stop) = stop {
        // A force-push may have removed `stop` from history; then there is nothing to hide.
        if repo.find_commit(stop).is_ok() {
            walk.hide(stop)?;
        }
    }
    let mut out = Vec::new();
    for oid in walk {
        out.push(oid?);
        if out.len() >= limit {
            break;
        }
    }
    out.reverse();
    Ok(out)
}
