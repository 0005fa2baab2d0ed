//! Content equivalence: does merge commit M contain exactly what the reviewers approved at
//! head H? The approval is of H's content on top of its base; whatever reached the branch must
//! be the clean merge of that content into the branch, nothing more and nothing less.

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

/// How the approved head reached the branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeKind {
    /// A two-parent merge commit whose second parent is the approved head.
    MergeCommit,
    /// A single-parent commit (squash or rebase merge) whose tree is the approved change
    /// applied onto its parent.
    Squash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Equivalence {
    Equivalent { kind: MergeKind },
    Differs { reason: String },
}

impl Equivalence {
    pub fn is_equivalent(&self) -> bool {
        matches!(self, Equivalence::Equivalent { .. })
    }
}

/// The prefix of every refusal, as DESIGN.md words it, so that people and scripts can find it.
const DIFFERS: &str = "merged content differs from what was approved";

fn differs(detail: impl AsRef<str>) -> Equivalence {
    Equivalence::Differs {
        reason: format!("{DIFFERS}: {}", detail.as_ref()),
    }
}

/// Checks that `merge` carries exactly the content approved at `approved_head`.
///
/// Errors are git failures (an object missing from the repository, a corrupt object); every
/// reason to refuse on content is an `Ok(Equivalence::Differs)`. Callers fail closed on both.
pub fn check_content(
    repo: &Repository,
    merge: Oid,
    approved_head: Oid,
) -> Result<Equivalence, git2::Error> {
    let m = repo.find_commit(merge)?;
    let head = repo.find_commit(approved_head)?;
    match m.parent_count() {
        0 => Ok(differs(format!(
            "{merge} is a root commit; it has no base the approval could apply to"
        ))),
        2 => {
            let second = m.parent_id(1)?;
            if second != approved_head {
                return Ok(differs(format!(
                    "the merge commit's second parent is {second}, not the approved head {approved_head}"
                )));
            }
            compare_with_clean_merge(repo, &m, &head, MergeKind::MergeCommit)
        }
        1 => compare_with_clean_merge(repo, &m, &head, MergeKind::Squash),
        n => Ok(differs(format!(
            "{merge} has {n} parents; an octopus merge is never what a review approved"
        ))),
    }
}

/// M's tree must equal the three-way merge of M^1 and H over their merge base, without
/// conflicts. For a squash this is "H's change applied onto M^1"; for a merge commit it is what
/// `git merge` would have produced.
fn compare_with_clean_merge(
    repo: &Repository,
    m: &git2::Commit<'_>,
    head: &git2::Commit<'_>,
    kind: MergeKind,
) -> Result<Equivalence, git2::Error> {
    let first = m.parent(0)?;
    let base = match repo.merge_base(first.id(), head.id()) {
        Ok(b) => b,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Ok(differs(format!(
                "the approved head {} and the branch at {} share no history",
                head.id(),
                first.id()
            )));
        }
        Err(e) => return Err(e),
    };
    let ancestor = repo.find_commit(base)?.tree()?;
    let mut index = repo.merge_trees(&ancestor, &first.tree()?, &head.tree()?, None)?;
    if index.has_conflicts() {
        let mut paths = Vec::new();
        for c in index.conflicts()? {
            let c = c?;
            if let Some(e) = c.our.or(c.their).or(c.ancestor) {
                paths.push(String::from_utf8_lossy(&e.path).into_owned());
            }
        }
        return Ok(differs(format!(
            "the approved head {} does not merge cleanly onto {} (conflicts in {}); a conflict resolution was never reviewed",
            head.id(),
            first.id(),
            list(&paths)
        )));
    }
    let expected = index.write_tree_to(repo)?;
    let actual = m.tree_id();
    if expected == actual {
        return Ok(Equivalence::Equivalent { kind });
    }
    let diff = repo.diff_tree_to_tree(Some(&repo.find_tree(expected)?), Some(&m.tree()?), None)?;
    let mut paths = Vec::new();
    for d in diff.deltas() {
        if let Some(p) = d.new_file().path().or(d.old_file().path()) {
            paths.push(p.to_string_lossy().into_owned());
        }
    }
    Ok(differs(format!(
        "{} differs from the clean merge of the approved head {} onto {} in {}",
        m.id(),
        head.id(),
        first.id(),
        list(&paths)
    )))
}

/// A short list of paths for a message: a long list helps nobody read the refusal.
fn list(paths: &[String]) -> String {
    const SHOWN: usize = 10;
    match paths.len() {
        0 => "no path (the trees differ in mode or order only)".into(),
        n if n <= SHOWN => paths.join(", "),
        n => format!("{} and {} more", paths[..SHOWN].join(", "), n - SHOWN),
    }
}
