//! Offline verification of one merge commit's approval record, from git alone: what a pipeline
//! runs as its first step (`prgate verify`) before it applies a change. It checks that the
//! record is there and consistent with the repository's own objects; it does not ask the code
//! host, so it proves consistency, not who pressed the button (the note's signature will).

use std::path::Path;

use git2::{Oid, Repository};
use serde::Serialize;

use crate::config::POLICY_PATH;
use crate::executor::equivalence::{Equivalence, MergeKind, check_content};
use crate::executor::note::{ExecutionNote, ExecutionRecord, read_note};
use crate::records::ApprovalTrailers;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// The merge commit's trailers (prgate merged it).
    Trailers,
    /// The note alone (a person merged it, so the message carries no trailers).
    Note,
}

/// What `prgate verify` reports. `holds` is true exactly when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub commit: CommitSha,
    pub holds: bool,
    /// `owner/repo#N`.
    pub pull: Option<String>,
    pub head: Option<CommitSha>,
    pub policy_blob: Option<CommitSha>,
    pub record: Option<RecordSource>,
    pub merge_kind: Option<MergeKind>,
    /// Logins of the recorded approvers.
    pub approvals: Vec<String>,
    /// The execution recorded in the note, reported as it is (it does not decide `holds`).
    pub execution: Option<ExecutionRecord>,
    /// Every reason the record does not hold, each saying what to look at.
    pub problems: Vec<String>,
}

/// The facts a record claims, whichever place it was read from.
struct Claim {
    pull: PullRef,
    head: CommitSha,
    policy_blob: CommitSha,
    approvals: Vec<String>,
}

/// Verifies the approval record of `commit` (anything `git rev-parse` takes) in the repository
/// at `repo_path`. Errors only when the repository or the commit cannot be found; everything
/// wrong with the record itself is a problem in the report.
pub fn verify_commit(repo_path: &Path, commit: &str) -> Result<VerifyReport, VerifyError> {
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
    let m_id = m.id();
    let mut problems = Vec::new();

    let message = String::from_utf8_lossy(m.message_bytes()).into_owned();
    let trailers = ApprovalTrailers::parse(&message);
    if trailers.is_none() && has_prgate_trailer_keys(&message) {
        problems.push(format!(
            "{m_id}: the commit message has Prgate- trailers that do not parse (each of Prgate-Pull, Prgate-Head, Prgate-Policy once, well-formed); the record was altered or written by hand"
        ));
    }
    let note = match read_note(&repo, m_id) {
        Ok(n) => n,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };

    let (claim, record) = match (&trailers, &note) {
        (Some(t), _) => (
            Some(Claim {
                pull: t.pull.clone(),
                head: t.head.clone(),
                policy_blob: t.policy_blob.clone(),
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
                approvals: n.approvals.iter().map(|a| a.login.to_string()).collect(),
            }),
            Some(RecordSource::Note),
        ),
        (None, None) => {
            problems.push(format!(
                "{m_id} carries no prgate record: no Prgate- trailers in the last paragraph of its message and no note under refs/notes/prgate (fetch notes with `git fetch origin refs/notes/prgate:refs/notes/prgate`); it was not merged through prgate"
            ));
            (None, None)
        }
    };

    let mut merge_kind = None;
    if let Some(c) = &claim {
        merge_kind = check_head(&repo, m_id, &c.head, &mut problems);
        check_policy(&repo, &m, &c.policy_blob, &mut problems);
        if c.approvals.is_empty() {
            problems.push(format!("{m_id}: the record names no approver (no Approved-by); nothing shows a person approved it"));
        }
        if let Some(n) = &note {
            check_note_agrees(
                &m,
                n,
                c,
                record == Some(RecordSource::Trailers),
                &mut problems,
            );
        }
    }

    let commit_sha = m_id
        .to_string()
        .parse()
        .map_err(|_| VerifyError::NoSuchCommit {
            commit: commit.to_string(),
            path: repo_path.display().to_string(),
            message: "the repository uses an object format other than SHA-1".into(),
        })?;
    Ok(VerifyReport {
        commit: commit_sha,
        holds: problems.is_empty(),
        pull: claim.as_ref().map(|c| c.pull.to_string()),
        head: claim.as_ref().map(|c| c.head.clone()),
        policy_blob: claim.as_ref().map(|c| c.policy_blob.clone()),
        record,
        merge_kind,
        approvals: claim.map(|c| c.approvals).unwrap_or_default(),
        execution: note.and_then(|n| n.execution),
        problems,
    })
}

fn has_prgate_trailer_keys(message: &str) -> bool {
    let last = message.trim_end().rsplit("\n\n").next().unwrap_or_default();
    last.lines()
        .any(|l| l.starts_with("Prgate-") || l.starts_with("Approved-by:"))
}

fn oid(sha: &CommitSha) -> Option<Oid> {
    Oid::from_str(sha.as_str()).ok()
}

/// The approved head must be here, and the merge must carry exactly its content.
fn check_head(
    repo: &Repository,
    m: Oid,
    head: &CommitSha,
    problems: &mut Vec<String>,
) -> Option<MergeKind> {
    let Some(h) = oid(head).filter(|h| repo.find_commit(*h).is_ok()) else {
        problems.push(format!(
            "the approved head {head} is not in this repository; fetch it (for a squash merge: `git fetch origin 'refs/pull/*/head:refs/pull/*/head'`) and verify again"
        ));
        return None;
    };
    match check_content(repo, m, h) {
        Ok(Equivalence::Equivalent { kind }) => Some(kind),
        Ok(Equivalence::Differs { reason }) => {
            problems.push(reason);
            None
        }
        Err(e) => {
            problems.push(format!(
                "cannot compare {m} with the approved head {head}: {}",
                e.message()
            ));
            None
        }
    }
}

/// The recorded policy must be the one the change was governed by: the policy file at the
/// merge commit's first parent (the base the policy is read at).
fn check_policy(
    repo: &Repository,
    m: &git2::Commit<'_>,
    policy_blob: &CommitSha,
    problems: &mut Vec<String>,
) {
    if oid(policy_blob)
        .filter(|b| repo.find_blob(*b).is_ok())
        .is_none()
    {
        problems.push(format!("the recorded policy blob {policy_blob} is not in this repository; no policy with that content was ever committed here"));
        return;
    }
    let Ok(base) = m.parent(0) else {
        problems.push(format!(
            "{} has no parent, so there is no base policy to compare with",
            m.id()
        ));
        return;
    };
    let at_base = base
        .tree()
        .ok()
        .and_then(|t| t.get_path(Path::new(POLICY_PATH)).ok())
        .map(|e| e.id());
    match at_base {
        None => problems.push(format!(
            "the base commit {} has no {POLICY_PATH}; the record claims a policy the branch did not have",
            base.id()
        )),
        Some(b) if b.to_string() != policy_blob.as_str() => problems.push(format!(
            "the recorded policy blob {policy_blob} is not {POLICY_PATH} at the base commit {} (that is {b}); the change was approved under another policy",
            base.id()
        )),
        Some(_) => {}
    }
}

fn check_note_agrees(
    m: &git2::Commit<'_>,
    n: &ExecutionNote,
    c: &Claim,
    from_trailers: bool,
    problems: &mut Vec<String>,
) {
    let m_id = m.id().to_string();
    let mut disagree = |what: &str, note: String, record: String| {
        problems.push(format!("the note on {m_id} disagrees with the record about {what}: the note says {note}, the record says {record}"));
    };
    if n.merge.as_str() != m_id {
        disagree("the merge commit", n.merge.to_string(), m_id.clone());
    }
    if let Ok(base) = m.parent_id(0)
        && n.base.as_str() != base.to_string()
    {
        disagree("the base commit", n.base.to_string(), base.to_string());
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
