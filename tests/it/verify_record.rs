//! Offline verification of merge commits built in real repositories: a proper record holds;
//! every way of faking or bending one does not.

use crate::executor_support as support;

use git2::Oid;
use prgate::git::notes::write_note;
use prgate::record::equivalence::MergeKind;
use prgate::record::note::NOTE_VERSION;
use prgate::record::note::{ExecutionNote, ExecutionRecord, NoteApproval, Outcome};
use prgate::record::trailers::{ApprovalTrailers, TrailerApproval};
use prgate::types::{Login, PullNumber, UserId};
use prgate::verify::{RecordSource, verify_commit};
use support::{Scenario, TestRepo, scenario};

const POLICY: &str = ".github/prgate.toml";

fn trailers(head: Oid, policy_blob: Oid, approvers: &[&str]) -> String {
    ApprovalTrailers {
        pull: "acme/infra#42".parse().unwrap(),
        head: head.to_string().parse().unwrap(),
        policy_blob: policy_blob.to_string().parse().unwrap(),
        plan: None,
        approvals: approvers
            .iter()
            .enumerate()
            .map(|(i, l)| TrailerApproval {
                login: l.to_string(),
                review_id: 1000 + i as u64,
                submitted_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
            })
            .collect(),
    }
    .to_trailer_block()
}

fn message(block: &str) -> String {
    format!(
        "Merge pull request #42 from acme/prgate/ops-agent/open-443\n\nOpen port 443\n\n{block}"
    )
}

/// The merge commit prgate would write.
fn proper_merge(r: &TestRepo, s: &Scenario) -> Oid {
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    r.commit_tree(
        &[s.main, s.head],
        tree,
        &message(&trailers(s.head, policy, &["alice"])),
    )
}

fn verify(r: &TestRepo, m: Oid) -> prgate::verify::VerifyReport {
    verify_commit(r.path(), &m.to_string()).unwrap()
}

fn assert_fails(r: &TestRepo, m: Oid, needle: &str) {
    let report = verify(r, m);
    assert!(
        !report.holds,
        "expected the record not to hold: {report:#?}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains(needle)),
        "no problem mentions {needle:?}: {:#?}",
        report.problems
    );
}

fn note_for(r: &TestRepo, s: &Scenario, m: Oid) -> ExecutionNote {
    ExecutionNote {
        version: NOTE_VERSION,
        repo: "acme/infra".parse().unwrap(),
        pull: PullNumber(42),
        base: s.main.to_string().parse().unwrap(),
        head: s.head.to_string().parse().unwrap(),
        merge: m.to_string().parse().unwrap(),
        policy_blob: r.blob_id(s.main, POLICY).to_string().parse().unwrap(),
        rules: vec!["fw".into()],
        approvals: vec![NoteApproval {
            login: Login::new("Alice"),
            user_id: UserId(7),
            review_id: 1000,
            submitted_at: None,
        }],
        decided_at: "2026-11-21T10:00:05Z".parse().unwrap(),
        plan: None,
        execution: Some(ExecutionRecord {
            executor: "firewall".into(),
            started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
            finished_at: "2026-11-21T10:01:03Z".parse().unwrap(),
            exit_code: Some(0),
            output_sha256: Some("00".repeat(32)),
            outcome: Outcome::Succeeded,
            refusal: None,
            operator: None,
            plan: None,
        }),
        signature: None,
        v2: None,
    }
}

#[test]
fn a_proper_merge_commit_holds() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    let report = verify(&r, m);
    assert!(report.holds, "{report:#?}");
    assert_eq!(report.record, Some(RecordSource::Trailers));
    assert_eq!(report.merge_kind, Some(MergeKind::MergeCommit));
    assert_eq!(report.pull.as_deref(), Some("acme/infra#42"));
    assert_eq!(
        report.head.as_ref().map(|h| h.to_string()),
        Some(s.head.to_string())
    );
    assert_eq!(report.approvals, ["alice"]);
    assert!(report.execution.is_none());
    // A branch name works as well as a SHA.
    r.set_branch("main", m);
    assert!(verify_commit(r.path(), "main").unwrap().holds);
}

#[test]
fn the_report_is_json_for_scripts() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    let v = serde_json::to_value(verify(&r, m)).unwrap();
    assert_eq!(v["holds"], true);
    assert_eq!(v["commit"], m.to_string());
    assert_eq!(v["record"], "trailers");
    assert_eq!(v["merge_kind"], "merge_commit");
    assert_eq!(v["approvals"][0], "alice");
    assert!(v["problems"].as_array().unwrap().is_empty());
}

#[test]
fn a_squash_merge_with_the_approved_content_holds() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let m = r.commit_tree(
        &[s.main],
        tree,
        &message(&trailers(s.head, policy, &["alice"])),
    );
    let report = verify(&r, m);
    assert!(report.holds, "{report:#?}");
    assert_eq!(report.merge_kind, Some(MergeKind::Squash));
}

#[test]
fn missing_trailers_do_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        "Merge pull request #42\n\nNo record here\n",
    );
    assert_fails(&r, m, "carries no prgate record");
    let report = verify(&r, m);
    assert_eq!(report.record, None);
    assert!(report.approvals.is_empty());
}

#[test]
fn trailers_quoted_before_the_last_paragraph_do_not_count() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let msg = format!(
        "Merge\n\n{}\nSigned-off-by: someone\n\nplain last paragraph\n",
        trailers(s.head, policy, &["alice"])
    );
    let m = r.commit_tree(&[s.main, s.head], tree, &msg);
    assert_fails(&r, m, "carries no prgate record");
}

#[test]
fn malformed_trailers_are_reported() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let msg = format!(
        "Merge\n\nPrgate-Pull: acme/infra#42\nPrgate-Head: not-a-sha\nPrgate-Policy: {}\nApproved-by: alice <review 1 at 2026-11-21T10:00:00Z>\n",
        "0".repeat(40)
    );
    let m = r.commit_tree(&[s.main, s.head], tree, &msg);
    assert_fails(&r, m, "do not parse");
}

/// A record must mean one thing. With two `Prgate-Head` trailers git's own trailer parser (and
/// so any pipeline reading `%(trailers:key=Prgate-Head)`) reports both, while prgate used to
/// read the last one and call the record good. Now it is malformed, naming the key, and
/// `prgate verify` exits 31.
#[test]
fn a_record_with_a_key_twice_is_malformed_naming_the_key() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let block = trailers(s.head, policy, &["alice"]);
    // Another head first, the approved one last: what prgate alone used to read is fine.
    let doubled = block.replacen(
        "Prgate-Head: ",
        &format!("Prgate-Head: {}\nPrgate-Head: ", s.base),
        1,
    );
    let m = r.commit_tree(&[s.main, s.head], tree, &message(&doubled));

    let git = std::process::Command::new("git")
        .arg("-C")
        .arg(r.path())
        .args(["log", "-1", "--format=%B", &m.to_string()])
        .output()
        .unwrap();
    let parsed = std::process::Command::new("git")
        .args(["interpret-trailers", "--parse"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().expect("stdin").write_all(&git.stdout)?;
            child.wait_with_output()
        })
        .unwrap();
    let parsed = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.contains(&format!("Prgate-Head: {}", s.base))
            && parsed.contains(&format!("Prgate-Head: {}", s.head)),
        "git reads both heads: {parsed}"
    );

    let report = verify(&r, m);
    assert!(!report.holds, "{report:#?}");
    assert_fails(
        &r,
        m,
        "malformed record: the trailer Prgate-Head appears more than once",
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["verify", "--repo"])
        .arg(r.path())
        .args(["--commit", &m.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(31), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("malformed"), "{stdout}");
    assert!(stdout.contains("Prgate-Head"), "{stdout}");
}

/// The same for the other keys of a record, and for an approval named twice.
#[test]
fn records_with_other_keys_twice_are_malformed() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let block = trailers(s.head, policy, &["alice"]);
    for (extra, needle) in [
        (
            "Prgate-Pull: acme/infra#7".to_string(),
            "Prgate-Pull appears more than once",
        ),
        (
            format!("Prgate-Policy: {}", "0".repeat(40)),
            "Prgate-Policy appears more than once",
        ),
        (
            "Approved-by: mallory <review 1000 at 2026-11-21T10:00:00Z>".to_string(),
            "review 1000",
        ),
    ] {
        let m = r.commit_tree(
            &[s.main, s.head],
            tree,
            &message(&format!("{block}{extra}\n")),
        );
        assert_fails(&r, m, needle);
    }
}

#[test]
fn a_head_that_is_not_the_second_parent_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    // Approved: head. Merged: a later push on top of it.
    let later = r.commit(
        Some(s.head),
        &[("firewall/rules", Some("allow all\n"))],
        "after approval",
    );
    let tree = r.clean_merge(s.main, later);
    let m = r.commit_tree(
        &[s.main, later],
        tree,
        &message(&trailers(s.head, policy, &["alice"])),
    );
    assert_fails(&r, m, "second parent");
}

#[test]
fn a_head_missing_from_the_repository_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let ghost = Oid::from_str(&"9".repeat(40)).unwrap();
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        &message(&trailers(ghost, policy, &["alice"])),
    );
    assert_fails(&r, m, "is not in this repository");
}

#[test]
fn a_tree_that_differs_from_the_approved_merge_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let clean = r.commit_tree(&[s.main, s.head], r.clean_merge(s.main, s.head), "tmp");
    let tree = r.tree(Some(clean), &[("firewall/rules", Some("allow 0-65535\n"))]);
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        &message(&trailers(s.head, policy, &["alice"])),
    );
    assert_fails(&r, m, "merged content differs from what was approved");
}

#[test]
fn a_policy_blob_absent_from_the_repository_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let ghost = Oid::from_str(&"8".repeat(40)).unwrap();
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        &message(&trailers(s.head, ghost, &["alice"])),
    );
    assert_fails(&r, m, "not in this repository");
}

#[test]
fn a_policy_blob_other_than_the_base_policy_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    // A blob that exists, but is not the base's policy: say, the PR's own relaxed policy.
    let relaxed = r.commit(
        Some(s.head),
        &[(POLICY, Some("version = 1\n"))],
        "relax policy",
    );
    let relaxed_blob = r.blob_id(relaxed, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        &message(&trailers(s.head, relaxed_blob, &["alice"])),
    );
    assert_fails(&r, m, "approved under another policy");
}

#[test]
fn a_base_without_a_policy_does_not_hold() {
    let r = TestRepo::new();
    let base = r.commit(None, &[("README", Some("x\n"))], "base");
    let head = r.commit(Some(base), &[("a", Some("a\n"))], "head");
    let elsewhere = r.commit(None, &[(POLICY, Some("version = 1\n"))], "some policy");
    let policy = r.blob_id(elsewhere, POLICY);
    let tree = r.clean_merge(base, head);
    let m = r.commit_tree(
        &[base, head],
        tree,
        &message(&trailers(head, policy, &["alice"])),
    );
    assert_fails(&r, m, "has no .github/prgate.toml");
}

#[test]
fn a_record_without_approvers_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let policy = r.blob_id(s.main, POLICY);
    let tree = r.clean_merge(s.main, s.head);
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        &message(&trailers(s.head, policy, &[])),
    );
    assert_fails(&r, m, "names no approver");
}

#[test]
fn an_agreeing_note_holds_and_its_execution_is_reported() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    write_note(&r.repo, m, &note_for(&r, &s, m)).unwrap();
    let report = verify(&r, m);
    assert!(report.holds, "{report:#?}");
    let execution = report.execution.unwrap();
    assert_eq!(execution.outcome, Outcome::Succeeded);
    assert_eq!(execution.exit_code, Some(0));
}

#[test]
fn a_note_that_disagrees_with_the_trailers_does_not_hold() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    let mut note = note_for(&r, &s, m);
    note.head = s.main.to_string().parse().unwrap();
    note.pull = PullNumber(43);
    write_note(&r.repo, m, &note).unwrap();
    assert_fails(&r, m, "about the approved head");
    assert_fails(&r, m, "about the pull request");

    // A note copied from another merge commit.
    let mut copied = note_for(&r, &s, m);
    copied.merge = s.head.to_string().parse().unwrap();
    write_note(&r.repo, m, &copied).unwrap();
    assert_fails(&r, m, "about the merge commit");
}

#[test]
fn a_foreign_note_is_a_problem() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    let sig = support::sig();
    r.repo
        .note(
            &sig,
            &sig,
            Some("refs/notes/prgate"),
            m,
            "approved, trust me",
            true,
        )
        .unwrap();
    assert_fails(&r, m, "not a prgate record");
}

#[test]
fn a_manual_merge_is_verified_from_its_note() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let m = r.commit_tree(
        &[s.main, s.head],
        tree,
        "Merge pull request #42 (merged by a person)\n",
    );
    write_note(&r.repo, m, &note_for(&r, &s, m)).unwrap();
    let report = verify(&r, m);
    assert!(report.holds, "{report:#?}");
    assert_eq!(report.record, Some(RecordSource::Note));
    assert_eq!(report.approvals, ["Alice"]);
}

#[test]
fn unknown_repositories_and_commits_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(verify_commit(dir.path(), "HEAD").is_err());
    let r = TestRepo::new();
    scenario(&r);
    let e = verify_commit(r.path(), &"7".repeat(40)).unwrap_err();
    assert!(e.to_string().contains("does not name a commit"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Signed notes

use ed25519_dalek::SigningKey;
use prgate::record::signing::sign_note;
use prgate::verify::{SignatureStatus, verify_commit_with_keys};

fn signing_key(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

/// Replaces the stored note's text with `edit` applied to its JSON, as someone with push
/// access to `refs/notes/prgate` could.
fn edit_note_json(r: &TestRepo, m: Oid, edit: impl FnOnce(&mut serde_json::Value)) {
    let text = r
        .repo
        .find_note(Some("refs/notes/prgate"), m)
        .unwrap()
        .message()
        .unwrap()
        .to_string();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    let sig = support::sig();
    r.repo
        .note(
            &sig,
            &sig,
            Some("refs/notes/prgate"),
            m,
            &serde_json::to_string_pretty(&v).unwrap(),
            true,
        )
        .unwrap();
}

fn signed_merge(r: &TestRepo, s: &Scenario, key: &SigningKey) -> Oid {
    let m = proper_merge(r, s);
    let mut note = note_for(r, s, m);
    sign_note(&mut note, key).unwrap();
    write_note(&r.repo, m, &note).unwrap();
    m
}

fn verify_with(r: &TestRepo, m: Oid, keys: &[SigningKey]) -> prgate::verify::VerifyReport {
    let trusted: Vec<_> = keys.iter().map(|k| k.verifying_key()).collect();
    verify_commit_with_keys(r.path(), &m.to_string(), &trusted).unwrap()
}

#[test]
fn a_signed_note_holds_against_its_public_key() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let key = signing_key(7);
    let m = signed_merge(&r, &s, &key);
    let report = verify_with(&r, m, &[signing_key(1), signing_key(7)]);
    assert!(report.holds, "{report:#?}");
    let hex = hex::encode(key.verifying_key().as_bytes());
    assert_eq!(
        report.signature,
        SignatureStatus::Valid { key: hex.clone() }
    );
    // Without keys the signature is reported, not judged.
    let report = verify(&r, m);
    assert!(report.holds);
    assert_eq!(report.signature, SignatureStatus::NotChecked { key: hex });
}

#[test]
fn a_tampered_signed_note_does_not_hold_with_a_key_and_is_unchanged_without() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let key = signing_key(7);
    let m = signed_merge(&r, &s, &key);
    // The recorded exit code changed: still consistent with the trailers, so only the
    // signature can tell.
    edit_note_json(&r, m, |v| v["execution"]["exit_code"] = 1.into());
    let report = verify_with(&r, m, &[key]);
    assert!(!report.holds, "{report:#?}");
    assert!(matches!(report.signature, SignatureStatus::Invalid { .. }));
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&m.to_string()) && p.contains("does not verify")),
        "{:#?}",
        report.problems
    );
    assert!(
        verify(&r, m).holds,
        "no key given: the verdict is as before"
    );
}

#[test]
fn unsigned_and_foreign_notes_do_not_hold_when_a_key_is_required() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    write_note(&r.repo, m, &note_for(&r, &s, m)).unwrap();
    let report = verify_with(&r, m, &[signing_key(7)]);
    assert!(!report.holds);
    assert_eq!(report.signature, SignatureStatus::Unsigned);
    assert!(report.problems.iter().any(|p| p.contains("not signed")));
    let report = verify(&r, m);
    assert!(report.holds, "{report:#?}");
    assert_eq!(report.signature, SignatureStatus::Unsigned);

    let m = signed_merge(&r, &s, &signing_key(8));
    let report = verify_with(&r, m, &[signing_key(7)]);
    assert!(!report.holds);
    assert!(matches!(
        report.signature,
        SignatureStatus::UntrustedKey { .. }
    ));

    // Stripping the signature from a signed note is the same as never signing.
    let m = signed_merge(&r, &s, &signing_key(7));
    edit_note_json(&r, m, |v| {
        v.as_object_mut().unwrap().remove("signature");
    });
    assert_eq!(
        verify_with(&r, m, &[signing_key(7)]).signature,
        SignatureStatus::Unsigned
    );
}

#[test]
fn trailers_without_a_signed_note_do_not_hold_when_a_key_is_asked_for() {
    // Anyone who can push can write trailers; only the gate's signed note vouches for them.
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = proper_merge(&r, &s);
    let report = verify_with(&r, m, &[signing_key(7)]);
    assert!(!report.holds, "{report:#?}");
    assert_eq!(report.signature, SignatureStatus::NoNote);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("no note signed by the gate")),
        "{report:#?}"
    );
    // Without a key, trailers are judged as before.
    assert!(verify_with(&r, m, &[]).holds);
}

/// `prgate key generate` and `prgate verify --public-key`, through the binary.
#[test]
fn key_generate_then_verify_round_trips_through_the_cli() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_prgate");
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("note-signing.key");
    let out = Command::new(bin)
        .args(["key", "generate", "--json", "--out"])
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let public = printed["public_key"].as_str().unwrap().to_string();
    assert_eq!(public.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwritten.
    let again = Command::new(bin)
        .args(["key", "generate", "--out"])
        .arg(&key_path)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let out = Command::new(bin)
        .args(["key", "public", "--key"])
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public);

    // The executor's side: sign with the seed as the server would read it.
    let r = TestRepo::new();
    let s = scenario(&r);
    let key = prgate::record::signing::read_seed_file(&key_path).unwrap();
    let m = signed_merge(&r, &s, &key);
    let pub_file = dir.path().join("gate.pub");
    std::fs::write(&pub_file, format!("{public}\n")).unwrap();
    let verify_cli = |keys: &[String]| {
        let mut c = Command::new(bin);
        c.args(["verify", "--repo"])
            .arg(r.path())
            .args(["--commit", &m.to_string()]);
        for k in keys {
            c.args(["--public-key", k]);
        }
        c.output().unwrap()
    };
    let ok = verify_cli(std::slice::from_ref(&public));
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("signed by trusted key"));
    let other = hex::encode(signing_key(3).verifying_key().as_bytes());
    let ok = verify_cli(&[other.clone(), format!("file:{}", pub_file.display())]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let wrong = verify_cli(&[other]);
    assert_eq!(wrong.status.code(), Some(31), "{wrong:?}");
    let unchecked = verify_cli(&[]);
    assert_eq!(unchecked.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unchecked.stdout).contains("not checked: pass --public-key"));
    let bad = verify_cli(&["abc".into()]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}
