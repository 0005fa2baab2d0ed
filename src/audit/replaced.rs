//! Notes prgate did not write that its own record replaced: a writer's forged note ("it ran")
//! on a merge, which the executor never adopts (DESIGN "Records in git"), stays in the history
//! of `refs/notes/prgate` after prgate writes its record over it. The audit names each one, so
//! the attempt is seen, not only survived.

use std::collections::{HashMap, HashSet};

use ed25519_dalek::VerifyingKey;
use git2::{Oid, Repository};
use serde::Serialize;

use crate::record::note::{ExecutionNote, NOTES_REF};
use crate::verify::SignatureStatus;

/// A note that once stood on a commit, was not signed by a trusted key, and was replaced by a
/// record that is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReplacedNote {
    /// The commit the note was on.
    pub commit: String,
    /// The replaced note's blob (`git cat-file -p` shows it).
    pub note_blob: String,
    /// The commit of `refs/notes/prgate` that wrote it (`git show` on it says who pushed it).
    pub notes_commit: String,
    /// Why it was not prgate's record.
    pub why: String,
}

/// Every note in the history of `refs/notes/prgate` on one of `commits` that was not signed by
/// a `trusted` key and that a note signed by one replaced. Nothing without trusted keys: then
/// no note can be told to be prgate's. Each notes commit is diffed against its first parent,
/// so the cost follows the number of notes written, not the size of the notes tree.
pub fn replaced_notes(
    repo: &Repository,
    current: &HashMap<Oid, Oid>,
    commits: &HashSet<Oid>,
    trusted: &[VerifyingKey],
) -> Result<Vec<ReplacedNote>, git2::Error> {
    if trusted.is_empty() || commits.is_empty() {
        return Ok(Vec::new());
    }
    let tip = match repo.refname_to_id(NOTES_REF) {
        Ok(tip) => tip,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let status = |commit: Oid, blob: Oid| -> SignatureStatus {
        repo.find_blob(blob)
            .ok()
            .and_then(|b| {
                let text = std::str::from_utf8(b.content()).ok()?.to_string();
                ExecutionNote::from_json(&commit.to_string(), &text).ok()
            })
            .map_or_else(
                || SignatureStatus::Invalid {
                    reason: "it is not a record prgate can read".into(),
                },
                |n| SignatureStatus::of(&n, trusted),
            )
    };
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut out = Vec::new();
    for notes_commit in walk {
        let notes_commit = notes_commit?;
        let c = repo.find_commit(notes_commit)?;
        let parent_tree = match c.parent(0) {
            Ok(p) => Some(p.tree()?),
            Err(_) => None,
        };
        let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&c.tree()?), None)?;
        for delta in diff.deltas() {
            let blob = delta.new_file().id();
            let Some(path) = delta.new_file().path() else {
                continue;
            };
            // Notes trees name the annotated commit by its id, split into fan-out folders.
            let name: String = path
                .to_string_lossy()
                .chars()
                .filter(|c| *c != '/')
                .collect();
            let Ok(annotated) = Oid::from_str(&name) else {
                continue;
            };
            if blob.is_zero()
                || !commits.contains(&annotated)
                || current.get(&annotated) == Some(&blob)
                || !seen.insert(blob)
            {
                continue;
            }
            let Some(&now) = current.get(&annotated) else {
                continue;
            };
            if !matches!(status(annotated, now), SignatureStatus::Valid { .. }) {
                continue;
            }
            let then = status(annotated, blob);
            if matches!(then, SignatureStatus::Valid { .. }) {
                continue;
            }
            out.push(ReplacedNote {
                commit: annotated.to_string(),
                note_blob: blob.to_string(),
                notes_commit: notes_commit.to_string(),
                why: then.describe(),
            });
        }
    }
    Ok(out)
}
