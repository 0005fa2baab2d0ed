//! Step 4 of post-merge verification: no unapproved content rides along. The governed content
//! a merge runs with must itself have been approved: in the merge's first parent it equals
//! that content as of the last commit on the branch that carries a valid record for it (or as
//! it stood when the policy first governed the branch). A direct push, an admin merge or any
//! refused commit that changed it since then makes the merge refuse, until a revert (in an
//! approved PR) restores equality.

use git2::{Oid, Repository, Tree};

use super::history::policy_blob_at;

/// How far back along the first-parent line the walk looks for the last approved state; a
/// branch whose governed content was last approved further back is refused, never guessed.
pub const MAX_WALK: usize = 20_000;

/// What the walk found on the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// The governed content in the first parent is the approved one.
    Approved,
    /// `since` is the first commit after the last approved state that changed governed
    /// content without a valid record; `paths` are the governed paths that still differ.
    Unapproved { since: Oid, paths: Vec<String> },
    /// `commit` changed governed content and carries prgate's trailers but has no record yet:
    /// its own verification has not run, so this one must wait for it.
    Pending { commit: Oid },
    /// The last approved state lies more than [`MAX_WALK`] commits back.
    TooDeep,
}

/// Walks first parents from `parent` (the merge's first parent) back to the last commit that
/// changed governed content with a valid record (`has_valid_record`), or to the commit that
/// brought the policy, and compares the governed content there with `parent`'s.
/// `governs(path)` says whether a path is governed content; `awaiting_record(commit)` whether
/// a commit claims to be a prgate merge (trailers) and has no record at all yet.
pub fn check_carried(
    repo: &Repository,
    parent: Oid,
    governs: &dyn Fn(&str) -> bool,
    has_valid_record: &dyn Fn(Oid) -> bool,
    awaiting_record: &dyn Fn(Oid) -> bool,
) -> Result<Carried, git2::Error> {
    let mut offenders: Vec<Oid> = Vec::new();
    let mut cursor = Some(parent);
    let mut baseline = None;
    let mut walked = 0usize;
    while let Some(c) = cursor {
        walked += 1;
        if walked > MAX_WALK {
            return Ok(Carried::TooDeep);
        }
        let commit = repo.find_commit(c)?;
        let first_parent = commit.parent_id(0).ok();
        // The commit that brought the policy: what it holds is where governance starts.
        let governed_before = match first_parent {
            Some(p) => policy_blob_at(repo, p)?.is_some(),
            None => false,
        };
        if !governed_before {
            baseline = Some(c);
            break;
        }
        let touched = governed_changes(repo, first_parent, c, governs)?;
        if !touched.is_empty() {
            if has_valid_record(c) {
                baseline = Some(c);
                break;
            }
            offenders.push(c);
        }
        cursor = first_parent;
    }
    let Some(baseline) = baseline else {
        return Ok(Carried::Approved);
    };
    if offenders.is_empty() {
        return Ok(Carried::Approved);
    }
    // A revert restores equality: what counts is the content, not the history.
    let differing = governed_diff(
        repo,
        &repo.find_commit(baseline)?.tree()?,
        &repo.find_commit(parent)?.tree()?,
        governs,
    )?;
    if differing.is_empty() {
        return Ok(Carried::Approved);
    }
    // offenders are newest first; the first one after the approved state is the last.
    let earliest = offenders[offenders.len() - 1];
    if let Some(p) = offenders.iter().rev().find(|&&o| awaiting_record(o)) {
        return Ok(Carried::Pending { commit: *p });
    }
    Ok(Carried::Unapproved {
        since: earliest,
        paths: differing,
    })
}

/// Governed paths that `commit` changed against `first_parent`.
fn governed_changes(
    repo: &Repository,
    first_parent: Option<Oid>,
    commit: Oid,
    governs: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, git2::Error> {
    let new = repo.find_commit(commit)?.tree()?;
    let old = match first_parent {
        Some(p) => Some(repo.find_commit(p)?.tree()?),
        None => None,
    };
    paths_between(repo, old.as_ref(), &new, governs)
}

fn governed_diff(
    repo: &Repository,
    old: &Tree<'_>,
    new: &Tree<'_>,
    governs: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, git2::Error> {
    paths_between(repo, Some(old), new, governs)
}

fn paths_between(
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
    governs: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, git2::Error> {
    let diff = repo.diff_tree_to_tree(old, Some(new), None)?;
    let mut out: Vec<String> = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file().path(), d.new_file().path()]
            .into_iter()
            .flatten()
        {
            let s = f.to_string_lossy().to_string();
            if governs(&s) && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out.sort();
    Ok(out)
}
