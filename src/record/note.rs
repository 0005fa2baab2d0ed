//! The execution record stored as a git note on the merge commit under `refs/notes/prgate`,
//! in memory one [`ExecutionNote`] whichever format it was read from: version 2 (what prgate
//! writes) is a DSSE envelope around an in-toto statement (`super::envelope`,
//! `super::statement`); version 1 (written by earlier prgates, still read and verified) is one
//! JSON object with an optional signature over its re-serialisation (`super::signing`).
//! `super::read::parse_note` reads either, from bytes alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{CommitSha, Login, PullNumber, RepoName, UserId};

/// Where prgate's notes live.
pub const NOTES_REF: &str = "refs/notes/prgate";
/// The version 1 note format (one JSON object with a `version` field), still read.
pub const NOTE_VERSION: u32 = 1;
/// The record format this code writes: a DSSE envelope around an in-toto statement. A reader
/// refuses other versions rather than guess.
pub const RECORD_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error(
        "the note on {commit} under {NOTES_REF} is not a prgate record ({message}); inspect it with `git notes --ref=prgate show {commit}`"
    )]
    NotOurs { commit: String, message: String },
    #[error(
        "the note on {commit} is prgate note version {version}, which this prgate does not read (it reads versions {NOTE_VERSION} and {RECORD_VERSION}); upgrade prgate"
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

/// A note's signature as stored in the note (made and checked by `super::signing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSignature {
    /// Always `ed25519`; named so that a later algorithm is refused rather than misread.
    pub algorithm: String,
    /// The signer's public key, hex (32 bytes). A hint for finding the trusted key: it is
    /// trusted only when the verifier was given the same key.
    pub public_key: String,
    /// The signature, hex (64 bytes).
    pub value: String,
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
    /// The plan the approval bound (`Prgate-Plan`), when the executor has a `plan`. Left out
    /// of the JSON when absent, so notes without one read, and verify, exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanDigest>,
    /// Absent until the executor has claimed the commit and acted (or refused to).
    #[serde(default)]
    pub execution: Option<ExecutionRecord>,
    /// The executor's ed25519 signature over the rest of the note (see
    /// [`super::signing::signed_bytes`]); absent when no `note_signing_key` is configured, and
    /// left out of the JSON then, so unsigned notes read exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<NoteSignature>,
    /// What only a version 2 record holds (`None` for version 1). Never part of the version 1
    /// JSON: version 2 is written by `super::statement` inside an envelope.
    #[serde(skip)]
    pub v2: Option<Box<RecordFacts>>,
}

/// The facts a version 2 record holds beyond version 1's, and the envelope it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordFacts {
    /// The branch the pull request was merged into.
    pub base_branch: String,
    /// The approved head's tree; `None` when the head was not in the writer's clone.
    pub head_tree: Option<CommitSha>,
    /// The merge commit's tree (also the subject's `gitTree`); filled in when written.
    pub merge_tree: Option<CommitSha>,
    /// Every account that pushed to the PR's head branch.
    pub head_pushers: Vec<Pusher>,
    /// The record before this one on the branch's first-parent history; `None` for the first.
    pub previous: Option<PreviousRecord>,
    /// The digests (sha256 of the note text) of earlier versions of this commit's own record
    /// that this one replaced (the provisional record before a run's result, an operator's
    /// re-run), so that a later record chained to one of them still finds its predecessor.
    pub replaces: Vec<String>,
    /// The envelope as read from git: its exact payload bytes and signatures; `None` for a
    /// record built in memory and not yet written.
    pub sealed: Option<super::envelope::Opened>,
}

/// An account that pushed to the head branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pusher {
    pub login: Login,
    pub user_id: UserId,
}

/// The approved plan's digest (`sha256:<hex>`) and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanDigest {
    pub digest: String,
    pub size: u64,
}

/// The record a record is chained to: the commit it annotates and the sha256 of its note's
/// text as stored (`super::envelope::note_digest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRecord {
    pub commit: CommitSha,
    pub digest: Sha256Digest,
}

/// A digest in in-toto's shape: `{"sha256": "<hex>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sha256Digest {
    pub sha256: String,
}

impl PlanDigest {
    /// The record of an output whose sha256 (hex) and size are given.
    pub(crate) fn of_output(sha256_hex: &str, size: u64) -> Self {
        PlanDigest {
            digest: format!("sha256:{sha256_hex}"),
            size,
        }
    }

    /// The digest's first 6 hex digits, as statuses show it (`plan 3f2a9c…`).
    pub fn short(&self) -> &str {
        let hex = self.digest.strip_prefix("sha256:").unwrap_or(&self.digest);
        hex.get(..6).unwrap_or(hex)
    }
}

/// Whether `s` is a plan digest as prgate writes it: `sha256:` and 64 lower-case hex digits.
pub(crate) fn is_plan_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The plan the executor ran just before the command: equal to the note's approved plan
    /// when the command ran, the new one when a drifted plan was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanDigest>,
}

impl ExecutionRecord {
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
            plan: None,
        }
    }
}

/// What became of an execution. Serialized as snake_case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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

    /// Parses a version 1 note. Unknown fields are ignored, so that a later prgate may add
    /// some without breaking older readers; another version is refused.
    pub(super) fn from_json_v1(commit: &str, text: &str) -> Result<ExecutionNote, NoteError> {
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

/// When a record was last brought up to date: the end of its execution, or its decision.
pub(crate) fn recorded_at(n: &ExecutionNote) -> DateTime<Utc> {
    n.execution
        .as_ref()
        .map_or(n.decided_at, |e| e.finished_at.max(n.decided_at))
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
            plan: None,
            execution: Some(ExecutionRecord {
                executor: "firewall".into(),
                started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
                finished_at: "2026-11-21T10:01:07Z".parse().unwrap(),
                exit_code: Some(0),
                output_sha256: Some("ab".repeat(32)),
                outcome: Outcome::Succeeded,
                refusal: None,
                operator: None,
                plan: None,
            }),
            signature: None,
            v2: None,
        }
    }

    /// [`sample`] as a version 2 record, as a writer fills it in.
    pub(crate) fn sample_v2() -> ExecutionNote {
        ExecutionNote {
            version: RECORD_VERSION,
            v2: Some(Box::new(RecordFacts {
                base_branch: "main".into(),
                head_tree: Some("6".repeat(40).parse().unwrap()),
                merge_tree: Some("5".repeat(40).parse().unwrap()),
                head_pushers: vec![Pusher {
                    login: Login::new("ops-agent[bot]"),
                    user_id: UserId(2001),
                }],
                previous: Some(PreviousRecord {
                    commit: "9".repeat(40).parse().unwrap(),
                    digest: Sha256Digest {
                        sha256: "cd".repeat(32),
                    },
                }),
                replaces: vec![],
                sealed: None,
            })),
            ..sample()
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
