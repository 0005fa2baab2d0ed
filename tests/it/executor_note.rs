//! The execution note in real repositories: written, replaced, read back, pushed (also when
//! another replica pushed notes first), and foreign notes reported rather than trusted.

use crate::executor_support as support;

use git2::Repository;
use prgate::git::notes::{push_notes, read_note, write_note};
use prgate::record::note::NOTE_VERSION;
use prgate::record::note::{
    ExecutionNote, ExecutionRecord, NOTES_REF, NoteApproval, NoteError, Outcome,
};
use prgate::types::{Login, PullNumber, UserId};
use support::{TestRepo, scenario};

fn note_for(merge: git2::Oid, head: git2::Oid, base: git2::Oid) -> ExecutionNote {
    ExecutionNote {
        version: NOTE_VERSION,
        repo: "acme/infra".parse().unwrap(),
        pull: PullNumber(42),
        base: base.to_string().parse().unwrap(),
        head: head.to_string().parse().unwrap(),
        merge: merge.to_string().parse().unwrap(),
        policy_blob: "4".repeat(40).parse().unwrap(),
        rules: vec!["fw".into()],
        approvals: vec![NoteApproval {
            login: Login::new("alice"),
            user_id: UserId(7),
            review_id: 99,
            submitted_at: None,
        }],
        decided_at: "2026-11-21T10:00:05Z".parse().unwrap(),
        plan: None,
        execution: None,
        signature: None,
        v2: None,
    }
}

#[test]
fn notes_round_trip_and_are_replaced() {
    let r = TestRepo::new();
    let s = scenario(&r);
    assert!(read_note(&r.repo, s.main).unwrap().is_none());
    let mut note = note_for(s.main, s.head, s.base);
    write_note(&r.repo, s.main, &note).unwrap();
    assert_eq!(read_note(&r.repo, s.main).unwrap(), Some(note.clone()));

    note.execution = Some(ExecutionRecord {
        executor: "firewall".into(),
        started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
        finished_at: "2026-11-21T10:01:01Z".parse().unwrap(),
        exit_code: None,
        output_sha256: None,
        outcome: Outcome::Refused,
        refusal: Some("merged content differs from what was approved: x".into()),
        operator: None,
        plan: None,
    });
    write_note(&r.repo, s.main, &note).unwrap();
    let back = read_note(&r.repo, s.main).unwrap().unwrap();
    assert_eq!(back, note);
    assert_eq!(back.execution.unwrap().outcome, Outcome::Refused);
}

#[test]
fn a_foreign_note_is_reported_not_trusted() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let sig = support::sig();
    r.repo
        .note(&sig, &sig, Some(NOTES_REF), s.main, "LGTM -- bob", true)
        .unwrap();
    match read_note(&r.repo, s.main) {
        Err(e @ NoteError::NotOurs { .. }) => assert!(e.to_string().contains(&s.main.to_string())),
        other => panic!("expected NotOurs, got {other:?}"),
    }
}

#[test]
fn notes_are_pushed_and_merged_with_notes_pushed_by_another_replica() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = Repository::init_bare(remote_dir.path()).unwrap();
    let url = format!("file://{}", remote_dir.path().display());

    // This replica records M1 and pushes.
    write_note(&r.repo, s.main, &note_for(s.main, s.head, s.base)).unwrap();
    push_notes(&r.repo, &url, None, &|_| true).unwrap();
    assert_eq!(
        read_note(&remote, s.main).unwrap(),
        Some(note_for(s.main, s.head, s.base))
    );

    // Another replica (its own clone of the objects) records M2 and pushes first.
    let other = TestRepo::new();
    let s2 = scenario(&other); // same objects: the commits are deterministic
    assert_eq!(s2.head, s.head);
    let fetch = |repo: &Repository| {
        repo.remote_anonymous(&url)
            .unwrap()
            .fetch(&[format!("+{NOTES_REF}:{NOTES_REF}")], None, None)
            .unwrap();
    };
    fetch(&other.repo);
    write_note(&other.repo, s2.head, &note_for(s2.head, s2.head, s2.base)).unwrap();
    push_notes(&other.repo, &url, None, &|_| true).unwrap();

    // This replica, unaware, records a third commit; its push must not lose the other's note.
    write_note(&r.repo, s.base, &note_for(s.base, s.head, s.base)).unwrap();
    push_notes(&r.repo, &url, None, &|_| true).unwrap();
    for c in [s.main, s.head, s.base] {
        assert!(read_note(&remote, c).unwrap().is_some(), "note on {c} lost");
    }
}

/// A replica whose mirror holds another run's provisional `interrupted` record must not push
/// it back over that run's final record when it pushes a note of its own.
#[test]
fn a_push_never_rolls_back_a_later_record_another_replica_pushed() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = Repository::init_bare(remote_dir.path()).unwrap();
    let url = format!("file://{}", remote_dir.path().display());
    let run = |outcome: Outcome, finished: &str| {
        let mut n = note_for(s.main, s.head, s.base);
        n.execution = Some(ExecutionRecord {
            executor: "firewall".into(),
            started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
            finished_at: finished.parse().unwrap(),
            exit_code: (outcome == Outcome::Succeeded).then_some(0),
            output_sha256: None,
            outcome,
            refusal: None,
            operator: None,
            plan: None,
        });
        n
    };
    // This replica holds the provisional record (the run is elsewhere) ...
    write_note(
        &r.repo,
        s.main,
        &run(Outcome::Interrupted, "2026-11-21T10:01:00Z"),
    )
    .unwrap();
    // ... the replica that ran it pushes the final one ...
    let other = TestRepo::new();
    let s2 = scenario(&other);
    let final_ = run(Outcome::Succeeded, "2026-11-21T10:01:09Z");
    write_note(&other.repo, s2.main, &final_).unwrap();
    push_notes(&other.repo, &url, None, &|_| true).unwrap();
    // ... and this one pushes a note for another merge.
    write_note(&r.repo, s.base, &note_for(s.base, s.head, s.base)).unwrap();
    push_notes(&r.repo, &url, None, &|_| true).unwrap();
    assert_eq!(read_note(&remote, s.main).unwrap(), Some(final_));
    assert!(read_note(&remote, s.base).unwrap().is_some());
}

/// A writer's note that claims to be later (dated 2099) is not one of prgate's records: a push
/// replays prgate's own record over it instead of keeping it.
#[test]
fn a_push_replaces_a_later_note_prgate_does_not_trust() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = Repository::init_bare(remote_dir.path()).unwrap();
    let url = format!("file://{}", remote_dir.path().display());
    let ours = note_for(s.main, s.head, s.base);
    write_note(&r.repo, s.main, &ours).unwrap();
    // The writer's clone pushes a note dated 2099 on the same commit.
    let writer = TestRepo::new();
    let s2 = scenario(&writer);
    let mut forged = note_for(s2.main, s2.head, s2.base);
    forged.decided_at = "2099-01-01T00:00:00Z".parse().unwrap();
    write_note(&writer.repo, s2.main, &forged).unwrap();
    push_notes(&writer.repo, &url, None, &|_| true).unwrap();
    // prgate trusts only its own records (here: none the writer made).
    let own = ours.clone();
    push_notes(&r.repo, &url, None, &move |n| n == &own).unwrap();
    assert_eq!(read_note(&remote, s.main).unwrap(), Some(ours));
}
