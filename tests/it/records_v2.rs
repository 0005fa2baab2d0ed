//! Version 2 records as an auditor meets them: DSSE envelopes around in-toto statements,
//! checked by prgate and by tools no one here wrote (Python's `securesystemslib` DSSE
//! verifier, the in-toto attestation bindings for SLSA's verification summary), chained so
//! that a deleted, rolled-back or slipped-in note breaks the chain, and version 1 notes still
//! verifiable beside them.

use std::process::Command;

use ed25519_dalek::SigningKey;
use git2::Oid;
use prgate::audit::{AuditOptions, ViolationKind, audit};
use prgate::git::notes::{previous_record, read_note_bytes, write_note_text};
use prgate::record::envelope::key_id;
use prgate::record::note::{
    ExecutionNote, ExecutionRecord, NOTE_VERSION, NoteApproval, Outcome, Pusher, RECORD_VERSION,
    RecordFacts,
};
use prgate::record::signing::{encode_note, public_key_hex, sign_note};
use prgate::types::{Login, PullNumber, UserId};

use crate::common::python::py_dir;
use prgate::verify::{SignatureStatus, verify_commit_with_keys};

use crate::executor_support::{TestRepo, scenario};

const POLICY: &str = ".github/prgate.toml";

fn key(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

/// Three merges of agent branches into main, one after the other, each changing the
/// firewall: `[m1, m2, m3]`, with main at m3. No trailers: the notes are the records.
fn three_merges(r: &TestRepo) -> Vec<Oid> {
    let s = scenario(r);
    let mut main = s.main;
    let mut merges = Vec::new();
    for i in 1..=3 {
        let head = r.commit(
            Some(main),
            &[("firewall/rules", Some(&*format!("allow 22\nallow {i}\n")))],
            &format!("open {i}"),
        );
        let tree = r.clean_merge(main, head);
        main = r.commit_tree(&[main, head], tree, &format!("Merge pull request #{i}"));
        merges.push(main);
    }
    r.set_branch("main", main);
    merges
}

/// The record the executor writes for merge `m` (a merge commit of its first parent and the
/// approved head), with `outcome`, chained as the executor chains it.
fn record_of(r: &TestRepo, m: Oid, outcome: Outcome) -> ExecutionNote {
    let c = r.repo.find_commit(m).unwrap();
    let (base, head) = (c.parent_id(0).unwrap(), c.parent_id(1).unwrap());
    let sha = |o: Oid| o.to_string().parse().unwrap();
    let existing = read_note_bytes(&r.repo, m).unwrap();
    ExecutionNote {
        version: RECORD_VERSION,
        repo: "acme/infra".parse().unwrap(),
        pull: PullNumber(42),
        base: sha(base),
        head: sha(head),
        merge: sha(m),
        policy_blob: sha(r.blob_id(base, POLICY)),
        rules: vec!["fw".into()],
        approvals: vec![NoteApproval {
            login: Login::new("alice"),
            user_id: UserId(7),
            review_id: 1000,
            submitted_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
        }],
        decided_at: "2026-11-21T10:00:05Z".parse().unwrap(),
        plan: None,
        execution: Some(ExecutionRecord {
            executor: "firewall".into(),
            started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
            finished_at: "2026-11-21T10:01:03Z".parse().unwrap(),
            exit_code: (outcome == Outcome::Succeeded).then_some(0),
            output_sha256: Some("00".repeat(32)),
            outcome,
            refusal: None,
            operator: None,
            plan: None,
        }),
        signature: None,
        v2: Some(Box::new(RecordFacts {
            base_branch: "main".into(),
            head_tree: Some(sha(r.repo.find_commit(head).unwrap().tree_id())),
            merge_tree: Some(sha(c.tree_id())),
            head_pushers: vec![Pusher {
                login: Login::new("ops-agent[bot]"),
                user_id: UserId(99),
            }],
            previous: previous_record(&r.repo, base).unwrap(),
            replaces: existing
                .map(|t| vec![prgate::record::envelope::note_digest(&t)])
                .unwrap_or_default(),
            sealed: None,
        })),
    }
}

/// Writes `m`'s record signed by `signer`; returns the note's text.
fn write_record(r: &TestRepo, m: Oid, outcome: Outcome, signer: &SigningKey) -> String {
    let text = encode_note(&record_of(r, m, outcome), Some(signer)).unwrap();
    write_note_text(&r.repo, m, &text).unwrap();
    text
}

fn audit_with(r: &TestRepo, keys: &[SigningKey]) -> prgate::audit::AuditReport {
    audit(&AuditOptions {
        trusted_keys: keys.iter().map(|k| k.verifying_key()).collect(),
        ..AuditOptions::new(r.path())
    })
    .unwrap()
}

fn breaks(report: &prgate::audit::AuditReport) -> Vec<&prgate::audit::Violation> {
    report
        .violations
        .iter()
        .filter(|v| v.kind == ViolationKind::BrokenChain)
        .collect()
}

#[test]
fn chained_v2_records_hold_and_audit_reports_their_version() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    for m in &ms {
        write_record(&r, *m, Outcome::Succeeded, &k);
    }
    let report = audit_with(&r, std::slice::from_ref(&k));
    assert!(report.clean, "{:#?}", report.violations);
    assert_eq!(report.records.len(), 3);
    assert!(report.records.iter().all(|c| c.record_version == Some(2)));
    assert!(prgate::audit::render_text(&report).contains("record version 2"));
    let v = verify_commit_with_keys(r.path(), &ms[2].to_string(), &[k.verifying_key()]).unwrap();
    assert!(v.holds, "{v:#?}");
    assert_eq!(v.record_version, Some(2));
    assert!(matches!(v.signature, SignatureStatus::Valid { .. }));
    // Each record names the one before it: m3's names m2's note, by the digest of its text.
    let m3 = prgate::git::notes::read_note(&r.repo, ms[2])
        .unwrap()
        .unwrap();
    let prev = m3.v2.unwrap().previous.unwrap();
    assert_eq!(prev.commit.as_str(), ms[1].to_string());
    assert_eq!(
        prev.digest.sha256,
        prgate::record::envelope::note_digest(&read_note_bytes(&r.repo, ms[1]).unwrap().unwrap())
    );
}

#[test]
fn a_forged_or_edited_v2_record_fails_verify_and_audit() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    for m in &ms[..2] {
        write_record(&r, *m, Outcome::Succeeded, &k);
    }
    // m3's record signed by another key: a forgery under the trusted key.
    write_record(&r, ms[2], Outcome::Succeeded, &key(8));
    let v = verify_commit_with_keys(r.path(), &ms[2].to_string(), &[k.verifying_key()]).unwrap();
    assert!(!v.holds);
    assert!(
        matches!(v.signature, SignatureStatus::UntrustedKey { .. }),
        "{v:#?}"
    );
    // m2's payload edited, signature kept.
    let text = String::from_utf8(read_note_bytes(&r.repo, ms[1]).unwrap().unwrap()).unwrap();
    let edited = edit_payload(&text, |p| p.replace("\"succeeded\"", "\"failed\""));
    write_note_text(&r.repo, ms[1], &edited).unwrap();
    let v = verify_commit_with_keys(r.path(), &ms[1].to_string(), &[k.verifying_key()]).unwrap();
    assert!(!v.holds);
    assert!(
        matches!(v.signature, SignatureStatus::Invalid { .. }),
        "{v:#?}"
    );
    let report = audit_with(&r, std::slice::from_ref(&k));
    let invalid: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.kind == ViolationKind::InvalidRecord)
        .map(|v| v.commit.clone())
        .collect();
    assert!(invalid.contains(&ms[1].to_string()) && invalid.contains(&ms[2].to_string()));
}

/// The envelope `text` with its payload decoded, changed by `edit`, and encoded again.
fn edit_payload(text: &str, edit: impl FnOnce(String) -> String) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut env: serde_json::Value = serde_json::from_str(text).unwrap();
    let payload = String::from_utf8(b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let changed = edit(payload.clone());
    assert_ne!(changed, payload, "the edit changed nothing");
    env["payload"] = b64.encode(changed).into();
    env.to_string()
}

#[test]
fn a_deleted_note_breaks_the_chain_between_its_neighbours() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    for m in &ms {
        write_record(&r, *m, Outcome::Succeeded, &k);
    }
    r.repo
        .note_delete(
            ms[1],
            Some("refs/notes/prgate"),
            &crate::executor_support::sig(),
            &crate::executor_support::sig(),
        )
        .unwrap();
    let report = audit_with(&r, std::slice::from_ref(&k));
    let b = breaks(&report);
    assert_eq!(b.len(), 1, "{:#?}", report.violations);
    assert_eq!(b[0].commit, ms[2].to_string());
    assert!(
        b[0].detail.contains(&ms[1].to_string()) && b[0].detail.contains("gone"),
        "{}",
        b[0].detail
    );
    assert!(!report.clean);
    // The last record deleted as well: the chain from m3 is gone with it, and m3 itself is a
    // governed merge without a signed record.
    r.repo
        .note_delete(
            ms[2],
            Some("refs/notes/prgate"),
            &crate::executor_support::sig(),
            &crate::executor_support::sig(),
        )
        .unwrap();
    let report = audit_with(&r, std::slice::from_ref(&k));
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.commit == ms[2].to_string())
    );
}

#[test]
fn a_note_rolled_back_to_its_older_version_breaks_the_chain() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    write_record(&r, ms[0], Outcome::Succeeded, &k);
    // m2: the provisional record, then its result; then m3.
    let provisional = write_record(&r, ms[1], Outcome::Interrupted, &k);
    write_record(&r, ms[1], Outcome::Succeeded, &k);
    write_record(&r, ms[2], Outcome::Succeeded, &k);
    assert!(audit_with(&r, std::slice::from_ref(&k)).clean);
    // A writer puts the provisional record back (signed by the gate, so no signature fails).
    write_note_text(&r.repo, ms[1], &provisional).unwrap();
    let report = audit_with(&r, std::slice::from_ref(&k));
    let b = breaks(&report);
    assert_eq!(b.len(), 1, "{:#?}", report.violations);
    assert_eq!(b[0].commit, ms[2].to_string());
    assert!(
        b[0].detail.contains(&ms[1].to_string()) && b[0].detail.contains(&ms[2].to_string()),
        "{}",
        b[0].detail
    );
    assert!(b[0].detail.contains("replaced"), "{}", b[0].detail);
}

#[test]
fn a_record_replaced_after_its_successor_was_chained_still_holds() {
    // m3 was recorded while m2's record was provisional; m2's result came later and says
    // which record it replaced, so m3 still finds its predecessor.
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    write_record(&r, ms[0], Outcome::Succeeded, &k);
    write_record(&r, ms[1], Outcome::Interrupted, &k);
    write_record(&r, ms[2], Outcome::Succeeded, &k);
    write_record(&r, ms[1], Outcome::Succeeded, &k);
    let report = audit_with(&r, std::slice::from_ref(&k));
    assert!(report.clean, "{:#?}", report.violations);
}

#[test]
fn a_record_whose_predecessor_is_not_the_previous_record_breaks_the_chain() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    write_record(&r, ms[0], Outcome::Succeeded, &k);
    // m3 recorded while m2 had none: m3 names m1. Then a record appears on m2.
    write_record(&r, ms[2], Outcome::Succeeded, &k);
    write_record(&r, ms[1], Outcome::Succeeded, &k);
    let report = audit_with(&r, std::slice::from_ref(&k));
    let b = breaks(&report);
    assert_eq!(b.len(), 1, "{:#?}", report.violations);
    assert_eq!(b[0].commit, ms[2].to_string());
    assert!(
        b[0].detail.contains(&ms[0].to_string()) && b[0].detail.contains(&ms[1].to_string()),
        "{}",
        b[0].detail
    );
}

#[test]
fn version_1_notes_stay_verifiable_beside_version_2_records() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    // m1 recorded by an earlier prgate: a signed version 1 note.
    let mut old = record_of(&r, ms[0], Outcome::Succeeded);
    old.version = NOTE_VERSION;
    old.v2 = None;
    sign_note(&mut old, &k).unwrap();
    write_note_text(&r.repo, ms[0], &old.to_json().unwrap()).unwrap();
    write_record(&r, ms[1], Outcome::Succeeded, &k);
    write_record(&r, ms[2], Outcome::Succeeded, &k);
    let report = audit_with(&r, std::slice::from_ref(&k));
    assert!(report.clean, "{:#?}", report.violations);
    let versions: Vec<_> = report.records.iter().map(|c| c.record_version).collect();
    assert_eq!(versions, [Some(2), Some(2), Some(1)]);
    let json = prgate::audit::render_json(&report);
    assert!(json.contains("\"record_version\": 1"), "{json}");
    // The version 1 note is still checked: edited, it fails.
    old.approvals[0].login = Login::new("mallory");
    write_note_text(&r.repo, ms[0], &old.to_json().unwrap()).unwrap();
    let v = verify_commit_with_keys(r.path(), &ms[0].to_string(), &[k.verifying_key()]).unwrap();
    assert!(!v.holds && v.record_version == Some(1), "{v:#?}");
}

#[test]
fn a_v2_refusal_is_a_record_that_does_not_hold() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    let mut n = record_of(&r, ms[0], Outcome::Refused);
    n.execution = Some(ExecutionRecord::not_run(
        "firewall",
        Outcome::Refused,
        "2026-11-21T10:01:00Z".parse().unwrap(),
        Some("merged content differs from what was approved".into()),
    ));
    let text = encode_note(&n, Some(&k)).unwrap();
    write_note_text(&r.repo, ms[0], &text).unwrap();
    let statement = decode_statement(&text);
    assert_eq!(
        statement["predicate"]["refusal"]["reason"],
        "merged content differs from what was approved"
    );
    assert!(statement["predicate"].get("execution").is_none());
    let v = verify_commit_with_keys(r.path(), &ms[0].to_string(), &[k.verifying_key()]).unwrap();
    assert!(!v.holds);
    assert!(v.problems.iter().any(|p| p.contains("refused")), "{v:#?}");
}

#[test]
fn an_approver_who_pushed_to_the_head_is_not_a_second_party() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    let mut n = record_of(&r, ms[0], Outcome::Succeeded);
    if let Some(f) = n.v2.as_mut() {
        f.head_pushers.push(Pusher {
            login: Login::new("alice"),
            user_id: UserId(7),
        });
    }
    write_note_text(&r.repo, ms[0], &encode_note(&n, Some(&k)).unwrap()).unwrap();
    let v = verify_commit_with_keys(r.path(), &ms[0].to_string(), &[k.verifying_key()]).unwrap();
    assert!(!v.holds);
    assert!(v.problems.iter().any(|p| p.contains("pusher")), "{v:#?}");
}

fn decode_statement(text: &str) -> serde_json::Value {
    use base64::Engine as _;
    let env: serde_json::Value = serde_json::from_str(text).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tools no one here wrote

/// Runs a Python script with the packages of `common::python` (installed when absent); (exit code, stdout, stderr).
fn python(script: &str, args: &[&str]) -> (i32, String, String) {
    let dir = py_dir();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", &dir)
        .output()
        .expect("python3 runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The README's auditor check, exactly as the README shows it (the Python block after
/// `<!-- record-check -->`): given the note's text in a file, the key id, the public key and
/// the commit, it prints the record's predicate or fails.
fn readme_record_check() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = readme
        .split_once("<!-- record-check -->\n```python\n")
        .expect("the README's auditor section has the record check")
        .1;
    after.split_once("```").unwrap().0.to_string()
}

#[test]
fn python_securesystemslib_accepts_a_genuine_record_and_refuses_a_tampered_one() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let k = key(7);
    let text = write_record(&r, ms[0], Outcome::Succeeded, &k);
    let (keyid, public) = (
        key_id(&k.verifying_key()),
        public_key_hex(&k.verifying_key()),
    );
    let file = r.path().join("note.json");
    let script = readme_record_check();
    let check = |note: &str, keyid: &str, public: &str| {
        std::fs::write(&file, note).unwrap();
        python(
            &script,
            &[file.to_str().unwrap(), keyid, public, &ms[0].to_string()],
        )
    };
    let (code, out, err) = check(&text, &keyid, &public);
    assert_eq!(code, 0, "{out}{err}");
    let predicate: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(predicate["execution"]["outcome"], "succeeded");
    assert_eq!(predicate["approvals"][0]["login"], "alice");

    // The payload edited, signature kept: refused there too.
    let tampered = edit_payload(&text, |p| p.replace("\"succeeded\"", "\"failed\""));
    let (code, out, err) = check(&tampered, &keyid, &public);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("VerificationError"), "{err}");
    // Signed by another key that claims the gate's key id.
    let forged = encode_note(&record_of(&r, ms[0], Outcome::Succeeded), Some(&key(8))).unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&forged).unwrap();
    env["signatures"][0]["keyid"] = keyid.clone().into();
    let (code, _, err) = check(&env.to_string(), &keyid, &public);
    assert_ne!(code, 0);
    assert!(err.contains("VerificationError"), "{err}");
    // And a statement about another commit does not pass the subject check.
    let (code, _, err) = {
        std::fs::write(&file, &text).unwrap();
        python(
            &script,
            &[file.to_str().unwrap(), &keyid, &public, &ms[1].to_string()],
        )
    };
    assert_ne!(code, 0);
    assert!(err.contains("AssertionError"), "{err}");
}

/// Parses the statement with the in-toto attestation bindings (strict: a field in-toto's
/// Statement v1 does not have is refused) and checks every field name of the predicate, at
/// every depth, against the bindings' SLSA VSA v1 message. The names only: in those bindings
/// (0.9.3) `verifiedLevels` is declared a single string, where SLSA's specification says an
/// array, so a full parse of the predicate would refuse what the specification asks for.
const VSA_CHECK: &str = r#"
import json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.predicates.vsa.v1 import vsa_pb2
doc = json.load(sys.stdin)
json_format.ParseDict(doc, statement_pb2.Statement())
assert doc["predicateType"] == "https://slsa.dev/verification_summary/v1", doc["predicateType"]
def check(obj, desc, where):
    fields = {f.json_name: f for f in desc.fields}
    for name, value in obj.items():
        if name not in fields:
            raise SystemExit(f"{where}: {desc.full_name} has no field named {name!r}")
        sub = fields[name].message_type
        if sub is None or sub.GetOptions().map_entry:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                check(item, sub, f"{where}.{name}")
p = doc["predicate"]
check(p, vsa_pb2.VerificationSummary.DESCRIPTOR, "predicate")
for required in ["verifier", "timeVerified", "resourceUri", "policy", "verificationResult", "verifiedLevels"]:
    assert required in p, f"the VSA lacks {required}"
assert p["verificationResult"] in ("PASSED", "FAILED"), p["verificationResult"]
assert isinstance(p["verifiedLevels"], list), p["verifiedLevels"]
print(p["verificationResult"], ",".join(p["verifiedLevels"]))
"#;

fn prgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn python_stdin(script: &str, input: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", py_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_format_vsa_is_a_slsa_verification_summary_asserting_two_party_review() {
    let r = TestRepo::new();
    let ms = three_merges(&r);
    let seed = r.path().join("gate.key");
    let k = prgate::record::signing::generate_key().unwrap();
    prgate::record::signing::write_seed_file(&seed, &k).unwrap();
    let (code, out, err) = prgate(&["key", "public", "--key", seed.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let public = out.trim().to_string();
    assert_eq!(public, public_key_hex(&k.verifying_key()));
    assert!(
        err.contains(&format!("key id: {}", key_id(&k.verifying_key()))),
        "{err}"
    );
    let (_, json, _) = prgate(&["key", "public", "--json", "--key", seed.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["key_id"], key_id(&k.verifying_key()));

    for m in &ms {
        write_record(&r, *m, Outcome::Succeeded, &k);
    }
    let repo = r.path().to_str().unwrap();
    let vsa = |commit: Oid, keys: &[&str]| {
        let mut args = vec!["verify", "--repo", repo, "--format", "vsa"];
        let c = commit.to_string();
        args.extend(["--commit", &c]);
        for k in keys {
            args.extend(["--public-key", k]);
        }
        prgate(&args)
    };
    // Rotation: an old key and the current one, both trusted.
    let old = public_key_hex(&key(1).verifying_key());
    let (code, out, err) = vsa(ms[2], &[&old, &public]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(doc["subject"][0]["digest"]["gitCommit"], ms[2].to_string());
    assert_eq!(
        doc["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let p = &doc["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(
        p["verifiedLevels"],
        serde_json::json!(["SLSA_SOURCE_TWO_PARTY_REVIEWED"])
    );
    assert_eq!(
        p["inputAttestations"][0]["digest"]["sha256"],
        prgate::record::envelope::note_digest(&read_note_bytes(&r.repo, ms[2]).unwrap().unwrap())
    );
    let (code, parsed, err) = python_stdin(VSA_CHECK, &out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(parsed.trim(), "PASSED SLSA_SOURCE_TWO_PARTY_REVIEWED");

    // The checker is strict: a field the VSA does not define is refused.
    let mut extra = doc.clone();
    extra["predicate"]["approvedBy"] = "alice".into();
    let (code, _, err) = python_stdin(VSA_CHECK, &extra.to_string());
    assert_ne!(code, 0);
    assert!(err.contains("approvedBy"), "{err}");

    // A record under another key: FAILED, exit 31, no property asserted.
    let (code, out, _) = vsa(ms[2], &[&old]);
    assert_eq!(code, 31);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["predicate"]["verificationResult"], "FAILED");
    let (code, parsed, err) = python_stdin(VSA_CHECK, &out);
    assert_eq!(code, 0, "{err}");
    assert!(!parsed.contains("TWO_PARTY"), "{parsed}");
    // Without a key, no summary at all.
    let (code, out, err) = vsa(ms[2], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("--public-key"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Written by the real executor

/// Two approved firewall changes through the simulator and the real executor: each record is
/// a version 2 statement about its merge, the second chained to the first, and the chain
/// breaks in the auditor's clone when the first note is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_writes_chained_v2_records_that_audit_checks() {
    use crate::common::harness::{self as h, World};
    let w = World::start_with_executor(h::POLICY, h::ExecSettings::default()).await;
    let mut merges = Vec::new();
    for (i, branch) in ["open-443", "open-8443"].iter().enumerate() {
        let head = w.commit_and_push(
            branch,
            &[(
                "firewall/rules.toml",
                &*format!("allow = [22, {}]\n", 443 + i),
            )],
            "ops-agent[bot]",
            "ops-agent[bot]",
            "firewall change",
        );
        let n = w
            .open_pr("agent-token", branch, "main", "firewall change")
            .await;
        w.settle().await;
        w.approve("alice-token", n).await;
        w.settle().await;
        let merge = w.pull(n).await["merge_commit_sha"]
            .as_str()
            .expect("merged by prgate")
            .to_string();
        let (state, description) = w.execution_result(&merge).await;
        assert_eq!(state, "success", "{description}");
        merges.push((merge, head));
    }
    let text = |m: &str| w.note_text(m).expect("a note");
    let first = decode_statement(&text(&merges[0].0));
    let second = decode_statement(&text(&merges[1].0));
    for (s, (merge, head)) in [&first, &second].into_iter().zip(&merges) {
        assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(s["subject"][0]["digest"]["gitCommit"], *merge);
        let p = &s["predicate"];
        assert_eq!(p["head"], *head);
        assert_eq!(p["base_branch"], "main");
        assert_eq!(p["approvals"][0]["login"], "alice");
        assert_eq!(p["approvals"][0]["commit_id"], *head);
        assert_eq!(p["head_pushers"][0]["login"], "ops-agent[bot]", "{p}");
        assert_eq!(p["merge_tree"], s["subject"][0]["digest"]["gitTree"]);
        assert!(p["head_tree"].is_string(), "{p}");
        assert_eq!(p["execution"]["outcome"], "succeeded");
        // The provisional record came first, and the result says it replaced it.
        assert_eq!(p["replaces"].as_array().map(Vec::len), Some(1), "{p}");
    }
    assert!(first["predicate"]["previous"].is_null(), "{first}");
    assert_eq!(second["predicate"]["previous"]["commit"], merges[0].0);
    assert_eq!(
        second["predicate"]["previous"]["digest"]["sha256"],
        prgate::record::envelope::note_digest(text(&merges[0].0).as_bytes())
    );

    let clone = w.agent_clone("auditor");
    h::git(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/prgate:refs/notes/prgate",
        ],
    );
    let report = audit(&AuditOptions::new(&clone)).unwrap();
    assert!(breaks(&report).is_empty(), "{:#?}", report.violations);
    assert!(report.records.iter().all(|r| r.record_version == Some(2)));
    h::git(&clone, &["notes", "--ref=prgate", "remove", &merges[0].0]);
    let report = audit(&AuditOptions::new(&clone)).unwrap();
    let b = breaks(&report);
    assert_eq!(b.len(), 1, "{:#?}", report.violations);
    assert_eq!(b[0].commit, merges[1].0);
    assert!(b[0].detail.contains(&merges[0].0), "{}", b[0].detail);
    w.shutdown().await;
}
