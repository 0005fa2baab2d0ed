//! The execution record stored as a git note on the merge commit under `refs/notes/prgate`:
//! one JSON object that auditors read with `git log --notes=prgate` and that `prgate verify`
//! checks against the commit's trailers.

use chrono::{DateTime, Utc};
use git2::{Oid, Repository, Signature};
use serde::{Deserialize, Serialize};

use super::signing::NoteSignature;
use crate::config::Secret;
use crate::types::{CommitSha, Login, PullNumber, RepoName, UserId};

/// Where prgate's notes live.
pub const NOTES_REF: &str = "refs/notes/prgate";
/// The note format this code writes; a reader refuses other versions rather than guess.
pub const NOTE_VERSION: u32 = 1;

/// Where the remote's notes are fetched to when a push needs them merged in first.
const REMOTE_NOTES_REF: &str = "refs/prgate/notes-remote";

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error(
        "the note on {commit} under {NOTES_REF} is not a prgate record ({message}); inspect it with `git notes --ref=prgate show {commit}`"
    )]
    NotOurs { commit: String, message: String },
    #[error(
        "the note on {commit} is prgate note version {version}, which this prgate does not read (it reads version {NOTE_VERSION}); upgrade prgate"
    )]
    UnsupportedVersion { commit: String, version: u32 },
    #[error("cannot encode the note for {commit}: {message}")]
    Encode { commit: String, message: String },
    #[error("git notes on {commit}: {source}")]
    Git { commit: String, source: git2::Error },
    #[error(
        "cannot push {NOTES_REF} to {url}: {message}; the note is kept locally and the next push sends it"
    )]
    Push { url: String, message: String },
}

/// The approval and execution record of one merge commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionNote {
    pub version: u32,
    pub repo: RepoName,
    pub pull: PullNumber,
    /// The base commit the policy was read at (the merge commit's first parent).
    pub base: CommitSha,
    /// The approved head.
    pub head: CommitSha,
    pub merge: CommitSha,
    /// Blob SHA of `.github/prgate.toml` at `base`.
    pub policy_blob: CommitSha,
    /// Names of the policy rules the change matched.
    pub rules: Vec<String>,
    pub approvals: Vec<NoteApproval>,
    pub decided_at: DateTime<Utc>,
    /// Absent until the executor has claimed the commit and acted (or refused to).
    #[serde(default)]
    pub execution: Option<ExecutionRecord>,
    /// The executor's ed25519 signature over the rest of the note (see
    /// [`super::signing::signed_bytes`]); absent when no `note_signing_key` is configured, and
    /// left out of the JSON then, so unsigned notes read exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<NoteSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteApproval {
    pub login: Login,
    pub user_id: UserId,
    pub review_id: u64,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl From<&crate::policy::Approval> for NoteApproval {
    fn from(a: &crate::policy::Approval) -> Self {
        NoteApproval {
            login: a.login.clone(),
            user_id: a.user_id,
            review_id: a.review_id,
            submitted_at: a.submitted_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// The executor's name in the server config.
    pub executor: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The process's exit code; `null` when it was killed by a signal or never started.
    pub exit_code: Option<i32>,
    /// sha256 (hex) of the whole redacted output; `null` when nothing ran.
    pub output_sha256: Option<String>,
    pub outcome: Outcome,
    /// Why verification refused to run anything, when `outcome` is `refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The operator's decision behind this run, when it was not the service's own: an
    /// explicit `prgate execute` (by the account named) after an earlier record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

impl ExecutionRecord {
    /// The record of a run that took place.
    pub fn from_run(executor: impl Into<String>, run: &super::run::RunResult) -> Self {
        ExecutionRecord {
            executor: executor.into(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            exit_code: run.exit_code,
            output_sha256: Some(run.output_sha256.clone()),
            outcome: run.outcome,
            // A command that could not be started: the output is prgate's own line saying why.
            refusal: (run.outcome == Outcome::NotStarted).then(|| run.output.trim().to_string()),
            operator: None,
        }
    }

    /// The record of a run that did not take place (`refused`, `held`, `interrupted`);
    /// `reason` is kept only for `refused`, where it says what verification found.
    pub fn not_run(
        executor: impl Into<String>,
        outcome: Outcome,
        at: DateTime<Utc>,
        reason: Option<String>,
    ) -> Self {
        ExecutionRecord {
            executor: executor.into(),
            started_at: at,
            finished_at: at,
            exit_code: None,
            output_sha256: None,
            outcome,
            refusal: if matches!(outcome, Outcome::Refused | Outcome::NotStarted) {
                reason
            } else {
                None
            },
            operator: None,
        }
    }
}

/// What became of an execution. Serialized as snake_case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The command exited with 0.
    Succeeded,
    /// The command exited non-zero, was killed by a signal, or could not be started.
    Failed,
    /// The command ran past its timeout and was killed with its whole process group.
    Timeout,
    /// Verification refused to run anything (see `refusal`).
    Refused,
    /// Not run because the executor is paused (the kill switch).
    Held,
    /// Stopped by an operator's cancel.
    Cancelled,
    /// A claim without a result, found after a crash; never re-run automatically.
    Interrupted,
    /// The command never started (a secret that does not resolve, a checkout that failed, a
    /// program that cannot be executed); `refusal` says why. Not re-run automatically; an
    /// operator may run it again with `prgate execute` once the cause is fixed.
    NotStarted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
            Outcome::Held => "held",
            Outcome::Cancelled => "cancelled",
            Outcome::Interrupted => "interrupted",
            Outcome::NotStarted => "not_started",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ExecutionNote {
    /// The note's text: pretty JSON, so that `git log --notes=prgate` is readable as it is.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|mut s| {
            s.push('\n');
            s
        })
    }

    /// Parses a note's text. Unknown fields are ignored, so that a later prgate may add some
    /// without breaking older readers; another version is refused.
    pub fn from_json(commit: &str, text: &str) -> Result<ExecutionNote, NoteError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let not_ours = |e: serde_json::Error| NoteError::NotOurs {
            commit: commit.to_string(),
            message: e.to_string(),
        };
        let v: VersionOnly = serde_json::from_str(text).map_err(not_ours)?;
        if v.version != NOTE_VERSION {
            return Err(NoteError::UnsupportedVersion {
                commit: commit.to_string(),
                version: v.version,
            });
        }
        serde_json::from_str(text).map_err(not_ours)
    }
}

fn signature() -> Result<Signature<'static>, git2::Error> {
    Signature::now("prgate", "prgate@localhost")
}

/// Writes (or replaces) the note on `commit`. Replacing is deliberate: the record grows from
/// the decision to the execution result, and each write is the newest knowledge about it.
pub fn write_note(repo: &Repository, commit: Oid, note: &ExecutionNote) -> Result<Oid, NoteError> {
    let text = note.to_json().map_err(|e| NoteError::Encode {
        commit: commit.to_string(),
        message: e.to_string(),
    })?;
    let git = |source| NoteError::Git {
        commit: commit.to_string(),
        source,
    };
    let sig = signature().map_err(git)?;
    repo.note(&sig, &sig, Some(NOTES_REF), commit, &text, true)
        .map_err(git)
}

/// Reads the note on `commit`: `Ok(None)` when there is none, an error (never a panic) when
/// there is one that is not a prgate record this version reads.
pub fn read_note(repo: &Repository, commit: Oid) -> Result<Option<ExecutionNote>, NoteError> {
    read_note_at(repo, NOTES_REF, commit)
}

fn read_note_at(
    repo: &Repository,
    notes_ref: &str,
    commit: Oid,
) -> Result<Option<ExecutionNote>, NoteError> {
    let note = match repo.find_note(Some(notes_ref), commit) {
        Ok(n) => n,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(source) => {
            return Err(NoteError::Git {
                commit: commit.to_string(),
                source,
            });
        }
    };
    let text = note.message().ok_or_else(|| NoteError::NotOurs {
        commit: commit.to_string(),
        message: "the note is not UTF-8 text".into(),
    })?;
    ExecutionNote::from_json(&commit.to_string(), text).map(Some)
}

/// Pushes `refs/notes/prgate` to `url`. Never forced: when another replica has pushed notes
/// meanwhile, theirs are fetched and ours are replayed on top (ours win for a commit both
/// annotated, as the claim makes this replica the one executing it), then the push is retried.
pub fn push_notes(repo: &Repository, url: &str, token: Option<&Secret>) -> Result<(), NoteError> {
    const ATTEMPTS: usize = 3;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match push_once(repo, url, token) {
            Ok(()) => return Ok(()),
            Err(message) => last = message,
        }
        merge_remote_notes(repo, url, token)?;
    }
    Err(NoteError::Push {
        url: url.to_string(),
        message: last,
    })
}

fn push_once(repo: &Repository, url: &str, token: Option<&Secret>) -> Result<(), String> {
    match crate::git::push_refspec(repo, url, &format!("{NOTES_REF}:{NOTES_REF}"), token) {
        Ok(None) => Ok(()),
        Ok(Some(rejection)) => Err(rejection),
        Err(e) => Err(e.message().to_string()),
    }
}

/// Fetches the remote's notes and replays every local note the remote lacks (or has
/// differently) on top of them, so that the next push is a fast-forward.
fn merge_remote_notes(
    repo: &Repository,
    url: &str,
    token: Option<&Secret>,
) -> Result<(), NoteError> {
    let push_err = |message: String| NoteError::Push {
        url: url.to_string(),
        message,
    };
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| push_err(e.message().to_string()))?;
    let mut opts = git2::FetchOptions::new();
    opts.remote_callbacks(crate::git::callbacks(token));
    remote
        .fetch(
            &[format!("+{NOTES_REF}:{REMOTE_NOTES_REF}")],
            Some(&mut opts),
            None,
        )
        .map_err(|e| {
            push_err(format!(
                "fetching the remote's notes to merge them: {}",
                e.message()
            ))
        })?;
    let git = |source| NoteError::Git {
        commit: NOTES_REF.to_string(),
        source,
    };
    if repo.find_reference(REMOTE_NOTES_REF).is_err() {
        // The remote has no notes at all; the push failed for another reason.
        return Ok(());
    }
    let sig = signature().map_err(git)?;
    let ours: Vec<(Oid, Oid)> = match repo.notes(Some(NOTES_REF)) {
        Ok(iter) => iter.collect::<Result<_, _>>().map_err(git)?,
        Err(e) if e.code() == git2::ErrorCode::NotFound => Vec::new(),
        Err(e) => return Err(git(e)),
    };
    for (note_blob, annotated) in ours {
        let ours_text = repo.find_blob(note_blob).map_err(git)?.content().to_vec();
        let theirs_text = repo
            .find_note(Some(REMOTE_NOTES_REF), annotated)
            .ok()
            .map(|n| n.message_bytes().to_vec());
        if theirs_text.as_deref() != Some(ours_text.as_slice()) {
            let text = String::from_utf8_lossy(&ours_text);
            repo.note(&sig, &sig, Some(REMOTE_NOTES_REF), annotated, &text, true)
                .map_err(git)?;
        }
    }
    let merged = repo.refname_to_id(REMOTE_NOTES_REF).map_err(git)?;
    repo.reference(
        NOTES_REF,
        merged,
        true,
        "prgate: notes merged with the remote's",
    )
    .map_err(git)?;
    Ok(())
}

/// Where the mirror fetches the remote's notes: beside, never over, the executor's own
/// `refs/notes/prgate`, so that a writer who rewrites or empties the remote's notes cannot
/// erase what prgate wrote.
pub const FETCHED_NOTES_REF: &str = "refs/prgate/remote-notes/prgate";

/// When a record was last brought up to date: the end of its execution, or its decision.
fn recorded_at(n: &ExecutionNote) -> DateTime<Utc> {
    n.execution
        .as_ref()
        .map_or(n.decided_at, |e| e.finished_at.max(n.decided_at))
}

/// Takes the remote's notes (just fetched to [`FETCHED_NOTES_REF`]) into the local notes: a
/// note for a commit the local notes lack, or a newer record that `trusted` accepts (another
/// replica's or an operator's later write), is adopted; any other difference keeps the local
/// record. Returns the commits whose local record the remote lacks or has otherwise, which
/// the caller pushes again: a rewritten or rolled-back notes ref is restored.
pub fn adopt_fetched_notes(
    repo: &Repository,
    trusted: &dyn Fn(&ExecutionNote) -> bool,
) -> Result<Vec<Oid>, NoteError> {
    let git = |source| NoteError::Git {
        commit: NOTES_REF.to_string(),
        source,
    };
    let list = |r: &str| -> Result<Vec<(Oid, Oid)>, NoteError> {
        match repo.notes(Some(r)) {
            Ok(iter) => iter.collect::<Result<Vec<_>, _>>().map_err(git),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(Vec::new()),
            Err(e) => Err(git(e)),
        }
    };
    let text_of = |blob: Oid| -> Result<String, NoteError> {
        Ok(String::from_utf8_lossy(repo.find_blob(blob).map_err(git)?.content()).into_owned())
    };
    let theirs = list(FETCHED_NOTES_REF)?;
    let ours = list(NOTES_REF)?;
    let sig = signature().map_err(git)?;
    let mut restore = Vec::new();
    for (their_blob, commit) in &theirs {
        let their_text = text_of(*their_blob)?;
        let Some((our_blob, _)) = ours.iter().find(|(_, c)| c == commit) else {
            repo.note(&sig, &sig, Some(NOTES_REF), *commit, &their_text, true)
                .map_err(git)?;
            continue;
        };
        let our_text = text_of(*our_blob)?;
        if our_text == their_text {
            continue;
        }
        let id = commit.to_string();
        let newer = match (
            ExecutionNote::from_json(&id, &their_text),
            ExecutionNote::from_json(&id, &our_text),
        ) {
            (Ok(t), Ok(o)) => {
                t.merge.as_str() == id && trusted(&t) && recorded_at(&t) > recorded_at(&o)
            }
            (Ok(t), Err(_)) => t.merge.as_str() == id && trusted(&t),
            _ => false,
        };
        if newer {
            repo.note(&sig, &sig, Some(NOTES_REF), *commit, &their_text, true)
                .map_err(git)?;
        } else {
            restore.push(*commit);
        }
    }
    for (_, commit) in &ours {
        if !theirs.iter().any(|(_, c)| c == commit) {
            restore.push(*commit);
        }
    }
    Ok(restore)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ExecutionNote {
        ExecutionNote {
            version: NOTE_VERSION,
            repo: "acme/infra".parse().unwrap(),
            pull: PullNumber(42),
            base: "1".repeat(40).parse().unwrap(),
            head: "2".repeat(40).parse().unwrap(),
            merge: "3".repeat(40).parse().unwrap(),
            policy_blob: "4".repeat(40).parse().unwrap(),
            rules: vec!["firewall".into()],
            approvals: vec![NoteApproval {
                login: Login::new("alice"),
                user_id: UserId(1001),
                review_id: 123456,
                submitted_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
            }],
            decided_at: "2026-11-21T10:00:05Z".parse().unwrap(),
            execution: Some(ExecutionRecord {
                executor: "firewall".into(),
                started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
                finished_at: "2026-11-21T10:01:07Z".parse().unwrap(),
                exit_code: Some(0),
                output_sha256: Some("ab".repeat(32)),
                outcome: Outcome::Succeeded,
                refusal: None,
                operator: None,
            }),
            signature: None,
        }
    }

    #[test]
    fn note_json_has_the_designed_fields() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["repo"], "acme/infra");
        assert_eq!(v["pull"], 42);
        assert_eq!(v["approvals"][0]["login"], "alice");
        assert_eq!(v["approvals"][0]["user_id"], 1001);
        assert_eq!(v["approvals"][0]["submitted_at"], "2026-11-21T10:00:00Z");
        assert_eq!(v["execution"]["outcome"], "succeeded");
        assert_eq!(v["execution"]["exit_code"], 0);
        assert!(v["execution"].get("refusal").is_none());
    }

    #[test]
    fn note_json_round_trips_and_tolerates_new_fields() {
        let n = sample();
        assert_eq!(
            ExecutionNote::from_json("m", &n.to_json().unwrap()).unwrap(),
            n
        );
        let mut v: serde_json::Value = serde_json::to_value(&n).unwrap();
        v["added_later"] = "by a newer prgate".into();
        assert_eq!(ExecutionNote::from_json("m", &v.to_string()).unwrap(), n);
    }

    #[test]
    fn refusals_keep_their_reason_and_claim_no_output() {
        let at = "2026-11-21T10:01:00Z".parse().unwrap();
        let r = ExecutionRecord::not_run(
            "firewall",
            Outcome::Refused,
            at,
            Some("merged content differs".into()),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["outcome"], "refused");
        assert_eq!(v["refusal"], "merged content differs");
        assert!(v["exit_code"].is_null() && v["output_sha256"].is_null());
        let held = ExecutionRecord::not_run("firewall", Outcome::Held, at, Some("ignored".into()));
        assert_eq!(held.refusal, None);
    }

    #[test]
    fn outcomes_are_snake_case_strings() {
        for o in [
            Outcome::Succeeded,
            Outcome::Failed,
            Outcome::Timeout,
            Outcome::Refused,
            Outcome::Held,
            Outcome::Cancelled,
            Outcome::Interrupted,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

    #[test]
    fn foreign_notes_and_other_versions_are_reported() {
        assert!(matches!(
            ExecutionNote::from_json("m", "reviewed by bob"),
            Err(NoteError::NotOurs { .. })
        ));
        assert!(matches!(
            ExecutionNote::from_json("m", "{\"version\": 1}"),
            Err(NoteError::NotOurs { .. })
        ));
        assert!(matches!(
            ExecutionNote::from_json("m", "{\"version\": 2}"),
            Err(NoteError::UnsupportedVersion { version: 2, .. })
        ));
    }
}
