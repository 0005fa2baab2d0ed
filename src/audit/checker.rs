//! The audit's second thread: for each commit the walk hands over, with a `Repository` of its
//! own, it reads the note, checks the chain of records and checks the record (the merge
//! commit, the approved head, the merge base, the trees of a three-way comparison). The walk
//! keeps the commits, the root trees and which changes are governed. With a commit-graph
//! each side reads about half of the objects, so on two cores the audit takes about as long
//! as the slower side alone (figures in docs/audit.md).

use std::path::Path;
use std::sync::mpsc::Receiver;

use ed25519_dalek::VerifyingKey;
use git2::{Oid, Repository};

use super::chain::{Break, Chain};
use super::{
    AuditError, Findings, WalkError, audit_governed, audit_ungoverned_note, chain_findings,
    git_err, parse_note_blob,
};
use crate::git::commit_graph::{CommitFacts, CommitGraph};
use crate::record::envelope::note_digest;
use crate::record::note::{ExecutionNote, NoteError};
use crate::verify::Known;

/// Checks the walk may be ahead of the checker by: bounds the memory of notes in flight.
pub(super) const IN_FLIGHT: usize = 1024;

/// What the walk hands over, in walk order.
pub(super) enum Message {
    /// A commit with a note, or one that changes a governed path.
    Commit(Box<Check>),
    /// The walk is over: it reached the root (`at_root`) or stopped at its limit.
    End { passed: Vec<Oid>, at_root: bool },
}

/// One commit, as the walk found it.
pub(super) struct Check {
    /// Its position in the walk (the report's order).
    pub index: u64,
    pub commit: Oid,
    /// The commits without a note and not governed that the walk passed since the previous
    /// message, in walk order.
    pub passed: Vec<Oid>,
    pub note: Option<NoteToRead>,
    /// `None`: the commit where the walk stopped, whose note only closes the chain.
    pub audit: Option<Audit>,
}

/// The note on a commit: its blob, and the note as the walk read it, if it did.
pub(super) struct NoteToRead {
    pub blob: Oid,
    pub read: Option<Result<Option<ExecutionNote>, NoteError>>,
}

/// What the walk found about a commit to audit.
pub(super) struct Audit {
    /// It changes a governed path (else it is audited for its note alone).
    pub governed: bool,
    /// What the commit-graph said about the commit, when the walk used one: the commit read
    /// in full must agree.
    pub graph_facts: Option<CommitFacts>,
    /// The policy blob at its first parent, as the walk read it (`None`: no first parent).
    pub base_policy: Option<Option<Oid>>,
}

/// Checks every commit received until the walk hangs up: the chain of records, then each
/// commit's record. Returns what it found with each walk position. Stops at the first git
/// error, or when the commit-graph disagrees with a commit (the walk then starts over
/// without it).
pub(super) fn check_commits(
    repo_path: &Path,
    graph: Option<&CommitGraph>,
    trusted: &[VerifyingKey],
    path: &str,
    messages: Receiver<Message>,
) -> Result<Vec<(u64, Findings)>, WalkError> {
    let repo = Repository::open(repo_path).map_err(|e| AuditError::Open {
        path: path.to_string(),
        message: e.message().to_string(),
    })?;
    let mut chain = Chain::default();
    let mut found = Vec::new();
    let chain_break = |b: Option<Break>, found: &mut Vec<(u64, Findings)>| {
        let Some(b) = b else { return Ok(()) };
        let f =
            chain_findings(&repo, &b).map_err(git_err(path, || format!("commit {}", b.later)))?;
        found.push((b.index, f));
        Ok::<_, AuditError>(())
    };
    for message in messages {
        let check = match message {
            Message::Commit(check) => *check,
            Message::End { passed, at_root } => {
                passed.into_iter().for_each(|c| chain.pass(c));
                if at_root {
                    chain_break(chain.at_root(), &mut found)?;
                }
                break;
            }
        };
        check.passed.into_iter().for_each(|c| chain.pass(c));
        let commit = check.commit;
        let note = match check.note {
            // A governed commit without a note is passed like any other commit without one.
            None => {
                chain.pass(commit);
                None
            }
            Some(n) => {
                let blob = repo
                    .find_blob(n.blob)
                    .map_err(git_err(path, || format!("the note on {commit}")))?;
                let note = n.read.unwrap_or_else(|| parse_note_blob(commit, &blob));
                // Hashed only when a later record names this one: a version 1 history never.
                let digest = || note_digest(blob.content());
                chain_break(
                    chain.meet(commit, check.index, digest, Some(&note)),
                    &mut found,
                )?;
                Some(note)
            }
        };
        let Some(audit) = check.audit else { continue };
        let c = repo
            .find_commit(commit)
            .map_err(git_err(path, || format!("commit {commit}")))?;
        if let Some(facts) = audit.graph_facts
            && (c.tree_id() != facts.tree
                || c.parent_ids().next() != facts.first_parent
                || c.time().seconds() != facts.time)
        {
            return Err(WalkError::GraphDisagrees);
        }
        let known = Known {
            graph,
            base_policy: audit.base_policy,
        };
        let mut f = Findings::default();
        if audit.governed {
            audit_governed(&repo, &c, note, known, trusted, &mut f);
        } else if let Some(note) = note {
            audit_ungoverned_note(&repo, &c, note, known, trusted, &mut f);
        }
        found.push((check.index, f));
    }
    Ok(found)
}
