//! The version 2 record's content: an in-toto Statement v1
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>) whose subject is
//! the merge commit (`digest.gitCommit`, and `gitTree` of its tree) and whose predicate, of
//! prgate's own type [`PREDICATE_TYPE`], holds the approval and what became of it. Pure: bytes
//! in, bytes out; the envelope around it is `super::envelope`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::note::{
    ExecutionNote, ExecutionRecord, NoteApproval, NoteError, Outcome, PlanDigest, PreviousRecord,
    Pusher, RECORD_VERSION, RecordFacts,
};
use crate::types::{CommitSha, Login, PullNumber, RepoName, UserId};

/// in-toto's statement type, version 1.
pub(crate) const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// prgate's predicate type for approval records, version 2 of the record format. An
/// identifier (in-toto asks for a URI, which need not resolve); docs/audit.md describes it.
const PREDICATE_TYPE: &str = "https://prgate.dev/approval-record/v2";

#[derive(Debug, Serialize, Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    statement_type: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    digest: BTreeMap<String, String>,
}

/// The predicate, field for field as docs/audit.md lists it. Fields a later prgate adds are
/// ignored when reading (they are covered by the signature all the same, since the signature
/// is over the exact bytes).
#[derive(Debug, Serialize, Deserialize)]
struct ApprovalPredicate {
    repo: RepoName,
    pull: PullNumber,
    base_branch: String,
    base: CommitSha,
    head: CommitSha,
    /// `null` only when the approved head was not in the executor's clone (a refusal).
    head_tree: Option<CommitSha>,
    merge_tree: CommitSha,
    policy_blob: CommitSha,
    rules: Vec<String>,
    approvals: Vec<PredicateApproval>,
    head_pushers: Vec<Pusher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<PlanDigest>,
    decided_at: DateTime<Utc>,
    previous: Option<PreviousRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    replaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution: Option<PredicateExecution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refusal: Option<PredicateRefusal>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PredicateApproval {
    login: Login,
    user_id: UserId,
    review_id: u64,
    commit_id: CommitSha,
    submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PredicateExecution {
    executor: String,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    exit_code: Option<i32>,
    output_sha256: Option<String>,
    outcome: Outcome,
    /// Why a run did not start (`not_started`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operator: Option<String>,
    /// The plan run just before the command (equal to the approved `plan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<PlanDigest>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PredicateRefusal {
    reason: String,
    executor: String,
    refused_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operator: Option<String>,
    /// The plan run before the command when it differed from the approved one (a drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<PlanDigest>,
}

/// The statement's bytes for `note` (which must carry its version 2 facts). Compact JSON;
/// these bytes are what is signed and stored, and never produced again by a reader.
pub(crate) fn statement_bytes(note: &ExecutionNote) -> Result<Vec<u8>, String> {
    let facts = note
        .v2
        .as_deref()
        .ok_or("the record has no version 2 facts (merge tree, pushers, chain)")?;
    let merge_tree = facts
        .merge_tree
        .clone()
        .ok_or("the record does not name the merge commit's tree")?;
    let (execution, refusal) = match &note.execution {
        Some(e) if e.outcome == Outcome::Refused => (
            None,
            Some(PredicateRefusal {
                reason: e
                    .refusal
                    .clone()
                    .unwrap_or_else(|| "no reason recorded".into()),
                executor: e.executor.clone(),
                refused_at: e.finished_at,
                operator: e.operator.clone(),
                plan: e.plan.clone(),
            }),
        ),
        Some(e) => (
            Some(PredicateExecution {
                executor: e.executor.clone(),
                started_at: e.started_at,
                finished_at: e.finished_at,
                exit_code: e.exit_code,
                output_sha256: e.output_sha256.clone(),
                outcome: e.outcome,
                reason: e.refusal.clone(),
                operator: e.operator.clone(),
                plan: e.plan.clone(),
            }),
            None,
        ),
        None => (None, None),
    };
    let predicate = ApprovalPredicate {
        repo: note.repo.clone(),
        pull: note.pull,
        base_branch: facts.base_branch.clone(),
        base: note.base.clone(),
        head: note.head.clone(),
        head_tree: facts.head_tree.clone(),
        merge_tree: merge_tree.clone(),
        policy_blob: note.policy_blob.clone(),
        rules: note.rules.clone(),
        approvals: note
            .approvals
            .iter()
            .map(|a| PredicateApproval {
                login: a.login.clone(),
                user_id: a.user_id,
                review_id: a.review_id,
                // Only reviews of the final head count, so every approval is of it.
                commit_id: note.head.clone(),
                submitted_at: a.submitted_at,
            })
            .collect(),
        head_pushers: facts.head_pushers.clone(),
        plan: note.plan.clone(),
        decided_at: note.decided_at,
        previous: facts.previous.clone(),
        replaces: facts.replaces.clone(),
        execution,
        refusal,
    };
    let statement = Statement {
        statement_type: STATEMENT_TYPE.into(),
        subject: vec![Subject {
            name: Some(note.repo.to_string()),
            digest: BTreeMap::from([
                ("gitCommit".to_string(), note.merge.to_string()),
                ("gitTree".to_string(), merge_tree.to_string()),
            ]),
        }],
        predicate_type: PREDICATE_TYPE.into(),
        predicate: serde_json::to_value(&predicate).map_err(|e| e.to_string())?,
    };
    serde_json::to_vec(&statement).map_err(|e| e.to_string())
}

/// Reads a statement's exact bytes into the record they state (pure: no I/O). `commit` names
/// the annotated commit in errors only; whether the statement is about it is `verify`'s check.
pub(crate) fn parse_statement(commit: &str, payload: &[u8]) -> Result<ExecutionNote, NoteError> {
    let not_ours = |message: String| NoteError::NotOurs {
        commit: commit.to_string(),
        message,
    };
    let s: Statement = serde_json::from_slice(payload).map_err(|e| {
        not_ours(format!(
            "the envelope's payload is not an in-toto statement: {e}"
        ))
    })?;
    if s.statement_type != STATEMENT_TYPE {
        return Err(not_ours(format!(
            "the statement's _type is {:?}, not {STATEMENT_TYPE:?}",
            s.statement_type
        )));
    }
    if s.predicate_type != PREDICATE_TYPE {
        return Err(not_ours(format!(
            "the statement's predicateType is {:?}; this prgate reads {PREDICATE_TYPE:?} (a newer prgate may read it)",
            s.predicate_type
        )));
    }
    let [subject] = s.subject.as_slice() else {
        return Err(not_ours(format!(
            "the statement has {} subjects; a prgate record has exactly one, the merge commit",
            s.subject.len()
        )));
    };
    let digest = |name: &str| -> Result<CommitSha, NoteError> {
        subject
            .digest
            .get(name)
            .ok_or_else(|| not_ours(format!("the subject has no digest.{name}")))?
            .parse()
            .map_err(|e: crate::types::InvalidId| {
                not_ours(format!("the subject's digest.{name}: {e}"))
            })
    };
    let merge = digest("gitCommit")?;
    let subject_tree = digest("gitTree")?;
    let p: ApprovalPredicate = serde_json::from_value(s.predicate)
        .map_err(|e| not_ours(format!("the statement's predicate: {e}")))?;
    if p.merge_tree != subject_tree {
        return Err(not_ours(format!(
            "the predicate's merge_tree {} is not the subject's gitTree {subject_tree}",
            p.merge_tree
        )));
    }
    if let Some(a) = p.approvals.iter().find(|a| a.commit_id != p.head) {
        return Err(not_ours(format!(
            "the approval by {} is of commit {}, not of the approved head {}",
            a.login, a.commit_id, p.head
        )));
    }
    let execution = match (p.execution, p.refusal) {
        (Some(_), Some(_)) => {
            return Err(not_ours(
                "the predicate holds both an execution and a refusal; a record has at most one"
                    .into(),
            ));
        }
        (Some(e), None) if e.outcome == Outcome::Refused => {
            return Err(not_ours(
                "the predicate's execution says `refused`; a refusal is written as `refusal`"
                    .into(),
            ));
        }
        (Some(e), None) => Some(ExecutionRecord {
            executor: e.executor,
            started_at: e.started_at,
            finished_at: e.finished_at,
            exit_code: e.exit_code,
            output_sha256: e.output_sha256,
            outcome: e.outcome,
            refusal: e.reason,
            operator: e.operator,
            plan: e.plan,
        }),
        (None, Some(r)) => Some(ExecutionRecord {
            executor: r.executor,
            started_at: r.refused_at,
            finished_at: r.refused_at,
            exit_code: None,
            output_sha256: None,
            outcome: Outcome::Refused,
            refusal: Some(r.reason),
            operator: r.operator,
            plan: r.plan,
        }),
        (None, None) => None,
    };
    Ok(ExecutionNote {
        version: RECORD_VERSION,
        repo: p.repo,
        pull: p.pull,
        base: p.base,
        head: p.head,
        merge,
        policy_blob: p.policy_blob,
        rules: p.rules,
        approvals: p
            .approvals
            .into_iter()
            .map(|a| NoteApproval {
                login: a.login,
                user_id: a.user_id,
                review_id: a.review_id,
                submitted_at: a.submitted_at,
            })
            .collect(),
        decided_at: p.decided_at,
        plan: p.plan,
        execution,
        signature: None,
        v2: Some(Box::new(RecordFacts {
            base_branch: p.base_branch,
            head_tree: p.head_tree,
            merge_tree: Some(p.merge_tree),
            head_pushers: p.head_pushers,
            previous: p.previous,
            replaces: p.replaces,
            sealed: None,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::note::tests::sample_v2;

    #[test]
    fn the_statement_has_the_designed_shape() {
        let v: serde_json::Value =
            serde_json::from_slice(&statement_bytes(&sample_v2()).unwrap()).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PREDICATE_TYPE);
        assert_eq!(v["subject"][0]["digest"]["gitCommit"], "3".repeat(40));
        assert_eq!(v["subject"][0]["digest"]["gitTree"], "5".repeat(40));
        let p = &v["predicate"];
        for field in [
            "repo",
            "pull",
            "base_branch",
            "base",
            "head",
            "head_tree",
            "merge_tree",
            "policy_blob",
            "rules",
            "approvals",
            "head_pushers",
            "decided_at",
            "previous",
            "execution",
        ] {
            assert!(p.get(field).is_some(), "predicate lacks {field}: {p}");
        }
        assert_eq!(p["approvals"][0]["commit_id"], "2".repeat(40));
        assert_eq!(p["head_pushers"][0]["login"], "ops-agent[bot]");
        assert_eq!(p["previous"]["digest"]["sha256"], "cd".repeat(32));
        assert!(p.get("refusal").is_none() && p.get("plan").is_none());
    }

    #[test]
    fn a_statement_reads_back_into_the_same_record() {
        let n = sample_v2();
        let back = parse_statement("m", &statement_bytes(&n).unwrap()).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn refusals_are_a_refusal_object_not_an_execution() {
        let mut n = sample_v2();
        n.execution = Some(ExecutionRecord::not_run(
            "firewall",
            Outcome::Refused,
            "2026-11-21T10:02:00Z".parse().unwrap(),
            Some("merged content differs from what was approved".into()),
        ));
        let bytes = statement_bytes(&n).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v["predicate"]["refusal"]["reason"],
            "merged content differs from what was approved"
        );
        assert!(v["predicate"].get("execution").is_none());
        assert_eq!(parse_statement("m", &bytes).unwrap(), n);
    }

    #[test]
    fn the_plan_is_optional_and_kept() {
        let mut n = sample_v2();
        n.plan = Some(PlanDigest {
            digest: format!("sha256:{}", "ef".repeat(32)),
            size: 512,
        });
        let bytes = statement_bytes(&n).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["predicate"]["plan"]["size"], 512);
        assert_eq!(parse_statement("m", &bytes).unwrap(), n);
    }

    #[test]
    fn malformed_statements_are_refused_with_the_reason() {
        let good: serde_json::Value =
            serde_json::from_slice(&statement_bytes(&sample_v2()).unwrap()).unwrap();
        let refused = |edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
            let mut v = good.clone();
            edit(&mut v);
            let e = parse_statement("m", v.to_string().as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        };
        refused(
            &|v| v["_type"] = "https://in-toto.io/Statement/v0.1".into(),
            "_type",
        );
        refused(
            &|v| v["predicateType"] = "https://slsa.dev/provenance/v1".into(),
            "predicateType",
        );
        refused(&|v| v["subject"] = serde_json::json!([]), "0 subjects");
        refused(
            &|v| v["subject"][0]["digest"]["gitTree"] = "6".repeat(40).into(),
            "gitTree",
        );
        refused(
            &|v| v["predicate"]["approvals"][0]["commit_id"] = "7".repeat(40).into(),
            "not of the approved head",
        );
        refused(
            &|v| v["predicate"]["refusal"] = serde_json::json!({"reason": "x", "executor": "e", "refused_at": "2026-11-21T10:00:00Z"}),
            "both",
        );
        refused(&|v| v["predicate"]["head"] = "main".into(), "predicate");
        assert!(parse_statement("m", b"\x00\x01").is_err());
    }
}
