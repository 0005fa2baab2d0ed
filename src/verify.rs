//! Offline verification of one merge commit's approval record, from git alone: what a pipeline
//! runs as its first step (`prgate verify`) before it applies a change. It checks that the
//! record is there and consistent with the repository's own objects; it does not ask the code
//! host, so it proves consistency; with `--public-key` it also proves that the note was
//! written by the holder of the gate's key and not changed since.

use std::path::Path;

pub mod vsa;

use ed25519_dalek::VerifyingKey;
use git2::{Oid, Repository};
use serde::Serialize;

use crate::git::notes::read_note;
use crate::policy::POLICY_PATH;
use crate::record::equivalence::{Equivalence, MergeKind, check_content};
use crate::record::note::{ExecutionNote, ExecutionRecord, NoteError};
use crate::record::signing::{SignatureCheck, check_signature, public_key_hex, signer_hint};
use crate::record::trailers::ApprovalTrailers;
use crate::types::{CommitSha, PullRef};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "cannot open a git repository at {path}: {message}; pass --repo with a clone of the governed repository"
    )]
    Open { path: String, message: String },
    #[error("{commit:?} does not name a commit in {path}: {message}; fetch it first")]
    NoSuchCommit {
        commit: String,
        path: String,
        message: String,
    },
}

/// Where the approval record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// The merge commit's trailers (prgate merged it).
    Trailers,
    /// The note alone (a person merged it, so the message carries no trailers).
    Note,
}

/// What `prgate verify` reports. `holds` is true exactly when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    pub commit: CommitSha,
    pub holds: bool,
    /// `owner/repo#N`.
    pub pull: Option<String>,
    pub head: Option<CommitSha>,
    pub policy_blob: Option<CommitSha>,
    pub record: Option<RecordSource>,
    /// The version of the note's format (2: a DSSE envelope around an in-toto statement; 1:
    /// written by an earlier prgate); `None` without a readable note.
    pub record_version: Option<u32>,
    pub merge_kind: Option<MergeKind>,
    /// Logins of the recorded approvers.
    pub approvals: Vec<String>,
    /// The execution recorded in the note, reported as it is (it does not decide `holds`).
    pub execution: Option<ExecutionRecord>,
    /// The note's signature. It decides `holds` only when trusted keys were given.
    pub signature: SignatureStatus,
    /// Every reason the record does not hold, each saying what to look at.
    pub problems: Vec<String>,
}

/// What is known about a note's signature. Serialized as `{"state": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// There is no (readable) note, so nothing signed.
    NoNote,
    /// The note carries no signature.
    Unsigned,
    /// The note is signed by `key`, and no trusted key was given to check it against.
    NotChecked { key: String },
    /// Signed by `key`, a trusted key, and the note is what it signed.
    Valid { key: String },
    /// Signed by `key`, which is not one of the trusted keys.
    UntrustedKey { key: String },
    /// The signature does not verify (or cannot be read).
    Invalid { reason: String },
}

impl SignatureStatus {
    /// The status of `note` against `trusted`; with no trusted key, a signature is reported
    /// and not judged.
    pub fn of(note: &ExecutionNote, trusted: &[VerifyingKey]) -> SignatureStatus {
        if trusted.is_empty() {
            return match signer_hint(note) {
                None => SignatureStatus::Unsigned,
                Some(key) => SignatureStatus::NotChecked { key },
            };
        }
        match check_signature(note, trusted) {
            SignatureCheck::Valid { key } => SignatureStatus::Valid {
                key: public_key_hex(&key),
            },
            SignatureCheck::Unsigned => SignatureStatus::Unsigned,
            SignatureCheck::UntrustedKey { key } => SignatureStatus::UntrustedKey { key },
            SignatureCheck::Invalid { reason } => SignatureStatus::Invalid { reason },
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            SignatureStatus::NoNote => "no note, nothing signed".into(),
            SignatureStatus::Unsigned => "note unsigned".into(),
            SignatureStatus::NotChecked { key } => {
                format!("note signed by {key}, not checked: pass --public-key")
            }
            SignatureStatus::Valid { key } => format!("note signed by trusted key {key}"),
            SignatureStatus::UntrustedKey { key } => {
                format!("note signed by {key}, which is not a trusted key")
            }
            SignatureStatus::Invalid { reason } => format!("note signature invalid: {reason}"),
        }
    }

    /// The problem this status is when trusted keys were given; `None` when it is not one.
    fn problem(&self, commit: Oid) -> Option<String> {
        match self {
            SignatureStatus::NotChecked { .. } | SignatureStatus::Valid { .. } => None,
            // Trailers can be written by anyone who can push; with keys given, only the gate's
            // signed note vouches for a record.
            SignatureStatus::NoNote => Some(format!(
                "{commit} has no note signed by the gate, and --public-key asks for one; trailers alone can be written by anyone who can push"
            )),
            SignatureStatus::Unsigned => Some(format!(
                "the note on {commit} is not signed, and --public-key asks for notes signed by the gate's key; it was written by something other than a signing executor"
            )),
            SignatureStatus::UntrustedKey { key } => Some(format!(
                "the note on {commit} is signed by {key}, which is none of the --public-key keys; it was not signed by the gate's key"
            )),
            SignatureStatus::Invalid { reason } => Some(format!(
                "the note on {commit} has a signature that does not verify: {reason}"
            )),
        }
    }
}

/// The facts a record claims, whichever place it was read from.
struct Claim {
    pull: PullRef,
    head: CommitSha,
    policy_blob: CommitSha,
    /// The approved plan's digest, when the approval bound one.
    plan: Option<String>,
    approvals: Vec<String>,
}

/// What kind of thing is wrong with a record, so that `audit` can classify a problem without
/// reading its wording. Parallel to [`VerifyReport::problems`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ProblemKind {
    /// Neither trailers nor a note.
    NoRecord,
    /// Prgate- trailers that do not parse, or a note under our ref that is not a record.
    Malformed,
    /// The approved head is not in the repository, so the content cannot be compared.
    HeadMissing,
    /// The merged content is not what was approved (or could not be compared).
    ContentDiffers,
    /// The recorded policy is not the base commit's policy.
    PolicyMismatch,
    /// The record names no approver.
    NoApprover,
    /// The note and the trailers (or the commit) contradict each other.
    NoteDisagrees,
    /// Trusted keys were given and the note's signature is missing, by another key, or bad.
    Signature,
    /// The executor refused the merge (its note records the refusal).
    Refused,
}

/// A report together with the kind of each of its problems.
#[derive(Debug, Clone)]
pub(crate) struct CheckedRecord {
    pub report: VerifyReport,
    pub kinds: Vec<ProblemKind>,
}

/// Collects problems and their kinds side by side.
#[derive(Default)]
struct Problems {
    messages: Vec<String>,
    kinds: Vec<ProblemKind>,
}

impl Problems {
    fn push(&mut self, kind: ProblemKind, message: String) {
        self.messages.push(message);
        self.kinds.push(kind);
    }
}

/// Verifies the approval record of `commit` (anything `git rev-parse` takes) in the repository
/// at `repo_path`. Errors only when the repository or the commit cannot be found; everything
/// wrong with the record itself is a problem in the report.
pub fn verify_commit(repo_path: &Path, commit: &str) -> Result<VerifyReport, VerifyError> {
    verify_commit_with_keys(repo_path, commit, &[])
}

/// [`verify_commit`] that also requires the note to be signed by one of `trusted` (when it is
/// not empty; an empty list reports the signature without judging it).
pub fn verify_commit_with_keys(
    repo_path: &Path,
    commit: &str,
    trusted: &[VerifyingKey],
) -> Result<VerifyReport, VerifyError> {
    let repo = Repository::open(repo_path).map_err(|e| VerifyError::Open {
        path: repo_path.display().to_string(),
        message: e.message().to_string(),
    })?;
    let m = repo
        .revparse_single(commit)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| VerifyError::NoSuchCommit {
            commit: commit.to_string(),
            path: repo_path.display().to_string(),
            message: e.message().to_string(),
        })?;
    let note = read_note(&repo, m.id());
    check_record_known(&repo, &m, note, Known::default(), trusted)
        .map(|c| c.report)
        .ok_or_else(|| VerifyError::NoSuchCommit {
            commit: commit.to_string(),
            path: repo_path.display().to_string(),
            message: "the repository uses an object format other than SHA-1".into(),
        })
}

/// `prgate verify --format vsa`: the SLSA verification summary of `commit` (see [`vsa`]) and
/// whether it says PASSED.
pub fn verification_summary(
    repo_path: &Path,
    commit: &str,
    trusted: &[VerifyingKey],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(serde_json::Value, bool), VerifyError> {
    let report = verify_commit_with_keys(repo_path, commit, trusted)?;
    let repo = Repository::open(repo_path).map_err(|e| VerifyError::Open {
        path: repo_path.display().to_string(),
        message: e.message().to_string(),
    })?;
    let origin = repo
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().map(str::to_string));
    let recorded = report
        .pull
        .as_deref()
        .and_then(|p| p.split_once('#'))
        .map(|(r, _)| r.to_string());
    let note_sha256 = Oid::from_str(report.commit.as_str())
        .ok()
        .and_then(|m| crate::git::notes::read_note_bytes(&repo, m).ok().flatten())
        .map(|text| crate::record::envelope::note_digest(&text));
    let uri = vsa::resource_uri(origin.as_deref(), recorded.as_deref());
    Ok((
        vsa::summary(&report, &uri, note_sha256.as_deref(), now),
        vsa::passes(&report),
    ))
}

/// What the caller already knows about the history, so that the checks need not read it
/// again. Every fact is optional; what is not known is read from the repository, and a fact
/// only ever spares a read, never a check.
#[derive(Default, Clone, Copy)]
pub(crate) struct Known<'a> {
    /// Root trees and unique merge bases, from git's commit-graph.
    pub graph: Option<&'a crate::git::commit_graph::CommitGraph>,
    /// The blob of the policy file at M's first parent, as the caller read it there
    /// (`Some(None)`: that commit has no policy file).
    pub base_policy: Option<Option<Oid>>,
}

/// The checks of [`verify_commit`] on an open repository, with the note already read (the
/// audit reads all notes in one pass rather than one lookup per commit) and facts the caller
/// already has; `trusted` as in [`verify_commit_with_keys`]. `None` only when the commit id is
/// not a SHA-1, which prgate's types cannot hold.
pub(crate) fn check_record_known(
    repo: &Repository,
    m: &git2::Commit<'_>,
    note: Result<Option<ExecutionNote>, NoteError>,
    known: Known<'_>,
    trusted: &[VerifyingKey],
) -> Option<CheckedRecord> {
    let m_id = m.id();
    let mut problems = Problems::default();

    let message = String::from_utf8_lossy(m.message_bytes());
    let trailers = match ApprovalTrailers::read(&message) {
        Ok(t) => t,
        Err(e) => {
            problems.push(ProblemKind::Malformed, format!(
                "{m_id}: malformed record: {e} (a record has each of Prgate-Pull, Prgate-Head, Prgate-Policy once, well-formed, and one Approved-by per approver); the record was altered or written by hand"
            ));
            None
        }
    };
    let note = match note {
        Ok(n) => n,
        Err(e) => {
            problems.push(ProblemKind::Malformed, e.to_string());
            None
        }
    };

    // A refusal is a record that the merge does not hold, whatever else the commit says.
    if let Some(refusal) = note
        .as_ref()
        .and_then(|n| n.execution.as_ref())
        .filter(|e| e.outcome == crate::record::note::Outcome::Refused)
    {
        problems.push(
            ProblemKind::Refused,
            format!(
                "{m_id}: the executor refused this merge ({}); nothing was run and it does not count as approved",
                refusal.refusal.as_deref().unwrap_or("no reason recorded")
            ),
        );
    }

    // With trusted keys, a record must be the gate's signed note; without, trailers suffice.
    let signature = note
        .as_ref()
        .map_or(SignatureStatus::NoNote, |n| SignatureStatus::of(n, trusted));
    if !trusted.is_empty()
        && let Some(p) = signature.problem(m_id)
    {
        problems.push(ProblemKind::Signature, p);
    }

    let (claim, record) = match (&trailers, &note) {
        (Some(t), _) => (
            Some(Claim {
                pull: t.pull.clone(),
                head: t.head.clone(),
                policy_blob: t.policy_blob.clone(),
                plan: t.plan.clone(),
                approvals: t.approvals.iter().map(|a| a.login.clone()).collect(),
            }),
            Some(RecordSource::Trailers),
        ),
        (None, Some(n)) => (
            Some(Claim {
                pull: PullRef {
                    repo: n.repo.clone(),
                    number: n.pull,
                },
                head: n.head.clone(),
                policy_blob: n.policy_blob.clone(),
                plan: n.plan.as_ref().map(|p| p.digest.clone()),
                approvals: n.approvals.iter().map(|a| a.login.to_string()).collect(),
            }),
            Some(RecordSource::Note),
        ),
        (None, None) => {
            problems.push(ProblemKind::NoRecord, format!(
                "{m_id} carries no prgate record: no Prgate- trailers in the last paragraph of its message and no note under refs/notes/prgate (fetch notes with `git fetch origin refs/notes/prgate:refs/notes/prgate`); it was not merged through prgate"
            ));
            (None, None)
        }
    };

    let mut merge_kind = None;
    if let Some(c) = &claim {
        merge_kind = check_head(repo, m, &c.head, known, &mut problems);
        check_policy(repo, m, &c.policy_blob, known, &mut problems);
        if c.approvals.is_empty() {
            problems.push(ProblemKind::NoApprover, format!("{m_id}: the record names no approver (no Approved-by); nothing shows a person approved it"));
        }
        if let Some(n) = &note {
            check_note_agrees(
                repo,
                m,
                n,
                c,
                record == Some(RecordSource::Trailers),
                &mut problems,
            );
        }
    }

    let record_version = note.as_ref().map(|n| n.version);
    let commit_sha = m_id.to_string().parse().ok()?;
    Some(CheckedRecord {
        report: VerifyReport {
            commit: commit_sha,
            holds: problems.messages.is_empty(),
            pull: claim.as_ref().map(|c| c.pull.to_string()),
            head: claim.as_ref().map(|c| c.head.clone()),
            policy_blob: claim.as_ref().map(|c| c.policy_blob.clone()),
            record,
            record_version,
            merge_kind,
            approvals: claim.map(|c| c.approvals).unwrap_or_default(),
            execution: note.and_then(|n| n.execution),
            signature,
            problems: problems.messages,
        },
        kinds: problems.kinds,
    })
}

fn oid(sha: &CommitSha) -> Option<Oid> {
    Oid::from_str(sha.as_str()).ok()
}

/// The approved head must be here, and the merge must carry exactly its content.
fn check_head(
    repo: &Repository,
    m: &git2::Commit<'_>,
    head: &CommitSha,
    known: Known<'_>,
    problems: &mut Problems,
) -> Option<MergeKind> {
    let Some((h, h_tree)) =
        oid(head).and_then(|h| repo.find_commit(h).ok().map(|c| (h, c.tree_id())))
    else {
        problems.push(ProblemKind::HeadMissing, format!(
            "the approved head {head} is not in this repository; fetch it (for a squash merge: `git fetch origin 'refs/pull/*/head:refs/pull/*/head'`) and verify again"
        ));
        return None;
    };
    // Most merges are trivial at the tree level; recognising them costs a few tree reads,
    // where a full merge builds an index of every file. Anything else, and every refusal,
    // goes through `check_content`, which alone decides that content differs.
    if let Some(kind) = trivially_equivalent(repo, m, h, h_tree, known) {
        return Some(kind);
    }
    match check_content(repo, m.id(), h) {
        Ok(Equivalence::Equivalent { kind }) => Some(kind),
        Ok(Equivalence::Differs { reason }) => {
            problems.push(ProblemKind::ContentDiffers, reason);
            None
        }
        Err(e) => {
            problems.push(
                ProblemKind::ContentDiffers,
                format!(
                    "cannot compare {} with the approved head {head}: {}",
                    m.id(),
                    e.message()
                ),
            );
            None
        }
    }
}

/// `Some(kind)` when M's tree is the merge of M^1 and H that `check_content` would accept,
/// found by a three-way comparison of tree entries in which, for every path, at most one side
/// changed it (or both changed it the same way). `None` means "not shown this way": a
/// content-level merge, a conflict, a git error, or a difference, all left to `check_content`.
///
/// When no path needs a content merge, rename detection cannot change what `merge_trees`
/// produces (a rename that meets a change on the other side is a modify/delete on the old
/// path, which is not trivial and so falls back), so accepting here agrees with it.
fn trivially_equivalent(
    repo: &Repository,
    m: &git2::Commit<'_>,
    h: Oid,
    h_tree: Oid,
    known: Known<'_>,
) -> Option<MergeKind> {
    let kind = match m.parent_count() {
        1 => MergeKind::Squash,
        2 if m.parent_id(1).ok()? == h => MergeKind::MergeCommit,
        _ => return None,
    };
    let first = m.parent_id(0).ok()?;
    let graph = known.graph;
    let base = match graph.and_then(|g| g.merge_base(first, h)) {
        Some(b) => b,
        None => repo.merge_base(first, h).ok()?,
    };
    let tree_of = |c: Oid| {
        graph
            .and_then(|g| g.tree_of(c))
            .or_else(|| repo.find_commit(c).ok().map(|c| c.tree_id()))
    };
    let (base_t, ours_t, theirs_t) = (tree_of(base)?, tree_of(first)?, h_tree);
    let result = Some((m.tree_id(), TREE_MODE));
    let same = trivial_merge_matches(
        repo,
        Some((base_t, TREE_MODE)),
        Some((ours_t, TREE_MODE)),
        Some((theirs_t, TREE_MODE)),
        result,
    )?;
    same.then_some(kind)
}

const TREE_MODE: i32 = 0o040000;

/// An entry as the merge sees it: object id and file mode.
type Entry = Option<(Oid, i32)>;

/// Whether `result` is the trivial three-way merge of (`base`, `ours`, `theirs`); `None` when
/// some path needs more than a trivial merge.
fn trivial_merge_matches(
    repo: &Repository,
    base: Entry,
    ours: Entry,
    theirs: Entry,
    result: Entry,
) -> Option<bool> {
    if ours == theirs || base == theirs {
        return Some(result == ours);
    }
    if base == ours {
        return Some(result == theirs);
    }
    // Both sides changed this path differently: only two trees can still merge trivially.
    let is_tree = |e: Entry| e.is_none_or(|(_, mode)| mode == TREE_MODE);
    let (Some(_), Some(_)) = (ours, theirs) else {
        return None;
    };
    if !is_tree(base) || !is_tree(ours) || !is_tree(theirs) {
        return None;
    }
    let Some((result_id, TREE_MODE)) = result else {
        return Some(false);
    };
    let load = |e: Entry| -> Option<Option<git2::Tree<'_>>> {
        match e {
            None => Some(None),
            Some((id, _)) => repo.find_tree(id).ok().map(Some),
        }
    };
    let trees = [
        load(base)?,
        load(ours)?,
        load(theirs)?,
        load(Some((result_id, TREE_MODE)))?,
    ];
    let mut names: Vec<Vec<u8>> = trees
        .iter()
        .flatten()
        .flat_map(|t| t.iter().map(|e| e.name_bytes().to_vec()))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let entry = |t: &Option<git2::Tree<'_>>| -> Entry {
            t.as_ref()?
                .get_name_bytes(&name)
                .map(|e| (e.id(), e.filemode()))
        };
        let [b, o, t, r] = [
            entry(&trees[0]),
            entry(&trees[1]),
            entry(&trees[2]),
            entry(&trees[3]),
        ];
        if !trivial_merge_matches(repo, b, o, t, r)? {
            return Some(false);
        }
    }
    Some(true)
}

/// The recorded policy must be the one the change was governed by: the policy file at the
/// merge commit's first parent (the base the policy is read at).
fn check_policy(
    repo: &Repository,
    m: &git2::Commit<'_>,
    policy_blob: &CommitSha,
    known: Known<'_>,
    problems: &mut Problems,
) {
    // The caller read the policy blob at the base itself: when the record names that blob,
    // it is in the repository and it is the base's policy.
    if let (Some(Some(at_base)), Some(recorded)) = (known.base_policy, oid(policy_blob))
        && at_base == recorded
    {
        return;
    }
    if oid(policy_blob)
        .filter(|b| repo.find_blob(*b).is_ok())
        .is_none()
    {
        problems.push(ProblemKind::PolicyMismatch, format!("the recorded policy blob {policy_blob} is not in this repository; no policy with that content was ever committed here"));
        return;
    }
    let Ok(base) = m.parent(0) else {
        problems.push(
            ProblemKind::PolicyMismatch,
            format!(
                "{} has no parent, so there is no base policy to compare with",
                m.id()
            ),
        );
        return;
    };
    let at_base = base
        .tree()
        .ok()
        .and_then(|t| t.get_path(Path::new(POLICY_PATH)).ok())
        .map(|e| e.id());
    match at_base {
        None => problems.push(ProblemKind::PolicyMismatch, format!(
            "the base commit {} has no {POLICY_PATH}; the record claims a policy the branch did not have",
            base.id()
        )),
        Some(b) if b.to_string() != policy_blob.as_str() => problems.push(ProblemKind::PolicyMismatch, format!(
            "the recorded policy blob {policy_blob} is not {POLICY_PATH} at the base commit {} (that is {b}); the change was approved under another policy",
            base.id()
        )),
        Some(_) => {}
    }
}

fn check_note_agrees(
    repo: &Repository,
    m: &git2::Commit<'_>,
    n: &ExecutionNote,
    c: &Claim,
    from_trailers: bool,
    problems: &mut Problems,
) {
    let m_id = m.id().to_string();
    // A version 2 record names who pushed to the head branch, which no approver may have done
    // (two parties: the one who changed the content and the one who approved it).
    if let Some(facts) = &n.v2 {
        for a in &n.approvals {
            if facts.head_pushers.iter().any(|p| p.user_id == a.user_id) {
                problems.push(ProblemKind::NoteDisagrees, format!(
                    "the record on {m_id} names {} both as an approver and as a pusher to the head branch; an approval by someone who changed the content is not a second party's",
                    a.login
                ));
            }
        }
    }
    let mut disagree = |what: &str, note: String, record: String| {
        problems.push(ProblemKind::NoteDisagrees, format!("the note on {m_id} disagrees with the record about {what}: the note says {note}, the record says {record}"));
    };
    if n.merge.as_str() != m_id {
        disagree("the merge commit", n.merge.to_string(), m_id.clone());
    }
    if let Ok(base) = m.parent_id(0)
        && n.base.as_str() != base.to_string()
    {
        disagree("the base commit", n.base.to_string(), base.to_string());
    }
    // A version 2 record also states the trees: of the merge (its subject) and of the head.
    if let Some(facts) = &n.v2 {
        let m_tree = m.tree_id().to_string();
        if facts.merge_tree.as_ref().map(|t| t.as_str()) != Some(m_tree.as_str()) {
            disagree(
                "the merge commit's tree",
                facts
                    .merge_tree
                    .as_ref()
                    .map_or("nothing".into(), |t| t.to_string()),
                m_tree,
            );
        }
        if let (Some(recorded), Some(actual)) = (
            &facts.head_tree,
            oid(&n.head)
                .and_then(|h| repo.find_commit(h).ok())
                .map(|h| h.tree_id().to_string()),
        ) && recorded.as_str() != actual
        {
            disagree("the approved head's tree", recorded.to_string(), actual);
        }
    }
    if !from_trailers {
        return;
    }
    if n.head != c.head {
        disagree("the approved head", n.head.to_string(), c.head.to_string());
    }
    if n.repo != c.pull.repo || n.pull != c.pull.number {
        disagree(
            "the pull request",
            format!("{}#{}", n.repo, n.pull),
            c.pull.to_string(),
        );
    }
    if n.policy_blob != c.policy_blob {
        disagree(
            "the policy",
            n.policy_blob.to_string(),
            c.policy_blob.to_string(),
        );
    }
    let note_plan = n.plan.as_ref().map(|p| p.digest.clone());
    if note_plan != c.plan {
        let say = |p: &Option<String>| p.clone().unwrap_or_else(|| "no plan".into());
        disagree("the approved plan", say(&note_plan), say(&c.plan));
    }
    let mut note_logins: Vec<String> = n
        .approvals
        .iter()
        .map(|a| a.login.as_str().to_ascii_lowercase())
        .collect();
    let mut record_logins: Vec<String> =
        c.approvals.iter().map(|a| a.to_ascii_lowercase()).collect();
    note_logins.sort();
    note_logins.dedup();
    record_logins.sort();
    record_logins.dedup();
    if note_logins != record_logins {
        disagree(
            "the approvers",
            note_logins.join(", "),
            record_logins.join(", "),
        );
    }
}
