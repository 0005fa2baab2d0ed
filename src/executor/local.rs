//! What the mirror says about a merge commit, read before any await (no git2 borrow may live
//! across one), and the facts a record learns from the mirror when it is written.

use git2::{Oid, Repository};

use crate::git::history::{changed_paths, policy_blob_at};
use crate::git::notes::{previous_record, read_note, read_note_bytes};
use crate::record::envelope::note_digest;
use crate::record::note::{ExecutionNote, ExecutionRecord};
use crate::record::read::parse_note;
use crate::record::trailers::ApprovalTrailers;
use crate::types::{CommitSha, PullNumber, RepoName};

/// What the mirror says about a commit, read before any await.
pub(super) struct LocalFacts {
    pub(super) parent: CommitSha,
    pub(super) policy_blob: CommitSha,
    pub(super) policy_text: String,
    pub(super) changed: Vec<String>,
    pub(super) trailer_pull: Option<PullNumber>,
    /// The `Prgate-Plan` digest of the merge's trailers: the plan prgate merged it with.
    pub(super) trailer_plan: Option<String>,
    pub(super) existing: Option<ExecutionRecord>,
    /// Whether any prgate note is on the commit (an approval record without execution too).
    pub(super) has_note: bool,
    /// The symlinks of M^1 and M that stay in the tree, with their targets: a governed link
    /// governs its target (see `policy::links::govern_links`).
    pub(super) links: Vec<(String, String)>,
    /// The note the code host had on M at the last fetch, whoever wrote it.
    pub(super) fetched: Option<ExecutionNote>,
}

/// `None` when the commit is not governed: a root commit, or no policy at its first parent.
pub(super) fn read_local(
    mirror: &Repository,
    m: Oid,
    repo: &RepoName,
) -> Result<Option<LocalFacts>, git2::Error> {
    let commit = mirror.find_commit(m)?;
    let Ok(parent) = commit.parent_id(0) else {
        return Ok(None);
    };
    let Some((blob, policy_text)) = policy_blob_at(mirror, parent)? else {
        return Ok(None);
    };
    let changed = changed_paths(mirror, m)?;
    let mut links = crate::git::resolved_links(mirror, mirror.find_commit(parent)?.tree_id())?;
    links.extend(crate::git::resolved_links(mirror, commit.tree_id())?);
    links.sort();
    links.dedup();
    let trailers = commit
        .message()
        .and_then(ApprovalTrailers::parse)
        .filter(|t| &t.pull.repo == repo);
    let trailer_pull = trailers.as_ref().map(|t| t.pull.number);
    let trailer_plan = trailers.and_then(|t| t.plan);
    let note = read_note(mirror, m).ok().flatten();
    let fetched = crate::git::notes::read_fetched_note(mirror, m)
        .ok()
        .flatten();
    let has_note = note.is_some();
    let existing = note.and_then(|n| n.execution);
    let (Ok(parent), Ok(policy_blob)) = (parent.to_string().parse(), blob.to_string().parse())
    else {
        return Err(git2::Error::from_str("object id is not a SHA-1"));
    };
    Ok(Some(LocalFacts {
        parent,
        policy_blob,
        policy_text,
        changed,
        trailer_pull,
        trailer_plan,
        existing,
        has_note,
        links,
        fetched,
    }))
}

/// Fills in what a version 2 record learns from the mirror at the moment it is written: the
/// merge's and the approved head's trees, the record it is chained to (`previous`), and the
/// digests of this commit's earlier records it replaces.
pub(super) fn complete_record_facts(
    mirror: &Repository,
    m: Oid,
    note: &mut ExecutionNote,
) -> Result<(), crate::record::note::NoteError> {
    let git = |source| crate::record::note::NoteError::Git {
        commit: m.to_string(),
        source,
    };
    let Some(facts) = note.v2.as_mut() else {
        return Ok(());
    };
    let commit = mirror.find_commit(m).map_err(git)?;
    facts.merge_tree = commit.tree_id().to_string().parse().ok();
    facts.head_tree = Oid::from_str(note.head.as_str())
        .ok()
        .and_then(|h| mirror.find_commit(h).ok())
        .and_then(|h| h.tree_id().to_string().parse().ok());
    facts.previous = match commit.parent_ids().next() {
        Some(parent) => previous_record(mirror, parent)?,
        None => None,
    };
    // The record this write replaces: its digest, and those it replaced in turn, so that a
    // later record chained to any version of this one still finds it.
    if let Some(existing) = read_note_bytes(mirror, m)? {
        let digest = note_digest(&existing);
        let mut replaces = parse_note(&m.to_string(), &existing)
            .ok()
            .and_then(|n| n.v2)
            .map(|f| f.replaces)
            .unwrap_or_default();
        if !replaces.contains(&digest) {
            replaces.push(digest);
        }
        facts.replaces = replaces;
    }
    Ok(())
}
