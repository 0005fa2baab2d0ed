//! `prgate audit` over real repositories: a history merged through prgate is clean; each way a
//! governed change can reach the branch without a valid record is found, with its commit and
//! author.

use crate::executor_support as support;

use chrono::{TimeZone, Utc};
use git2::{Oid, Signature};
use prgate::audit::{
    AuditError, AuditOptions, AuditReport, ViolationKind, audit, render_html, render_json,
    render_text,
};
use prgate::git::notes::write_note;
use prgate::record::note::NOTE_VERSION;
use prgate::record::note::{ExecutionNote, ExecutionRecord, NoteApproval, Outcome};
use prgate::record::trailers::{ApprovalTrailers, TrailerApproval};
use prgate::types::{Login, PullNumber, UserId};
use support::TestRepo;

const POLICY_PATH: &str = ".github/prgate.toml";
const POLICY: &str = r#"version = 1
[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"] }

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { users = ["alice", "bob"] }
min_approvals = 2
"#;

/// Commit time of the clean history; later commits are an hour apart from it.
const T0: i64 = 1_700_000_000;

fn person(name: &str, time: i64) -> Signature<'static> {
    Signature::new(
        name,
        &format!("{}@example.com", name.to_lowercase()),
        &git2::Time::new(time, 0),
    )
    .unwrap()
}

fn commit_as(
    r: &TestRepo,
    parents: &[Oid],
    tree: Oid,
    message: &str,
    author: &str,
    time: i64,
) -> Oid {
    let tree = r.repo.find_tree(tree).unwrap();
    let parents: Vec<_> = parents
        .iter()
        .map(|p| r.repo.find_commit(*p).unwrap())
        .collect();
    let refs: Vec<_> = parents.iter().collect();
    r.repo
        .commit(
            None,
            &person(author, time),
            &person("GitHub", time),
            message,
            &tree,
            &refs,
        )
        .unwrap()
}

fn change(
    r: &TestRepo,
    parent: Oid,
    files: &[(&str, Option<&str>)],
    msg: &str,
    author: &str,
    time: i64,
) -> Oid {
    let tree = r.tree(Some(parent), files);
    commit_as(r, &[parent], tree, msg, author, time)
}

fn trailers(r: &TestRepo, base: Oid, head: Oid, approvers: &[&str]) -> String {
    ApprovalTrailers {
        pull: "acme/infra#42".parse().unwrap(),
        head: head.to_string().parse().unwrap(),
        policy_blob: r.blob_id(base, POLICY_PATH).to_string().parse().unwrap(),
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

/// The merge commit prgate writes for `head` onto `main`.
fn prgate_merge(r: &TestRepo, main: Oid, head: Oid, approvers: &[&str], time: i64) -> Oid {
    let tree = r.clean_merge(main, head);
    let msg = format!(
        "Merge pull request #42 from acme/prgate/ops-agent/change\n\nA change\n\n{}",
        trailers(r, main, head, approvers)
    );
    commit_as(r, &[main, head], tree, &msg, "prgate", time)
}

struct History {
    r: TestRepo,
    tip: Oid,
    first_merge: Oid,
}

/// Before the policy: a root commit and the commit adding the policy. Then an ungoverned
/// direct push, a firewall change merged by prgate while main moved on in the same directory
/// tree, and a change to the policy itself merged by prgate.
fn clean_history() -> History {
    let r = TestRepo::new();
    let t = |n: i64| T0 + n;
    let root = commit_as(
        &r,
        &[],
        r.tree(
            None,
            &[
                ("README", Some("hello\n")),
                ("firewall/rules", Some("allow 22\n")),
                ("docs/a.md", Some("a\n")),
            ],
        ),
        "initial",
        "Alice",
        t(0),
    );
    let with_policy = change(
        &r,
        root,
        &[(POLICY_PATH, Some(POLICY))],
        "add the policy",
        "Alice",
        t(1),
    );
    let readme = change(
        &r,
        with_policy,
        &[("README", Some("hello, world\n"))],
        "README",
        "Dev",
        t(2),
    );
    // The agent's branch changes the firewall and a doc; main meanwhile changes another doc.
    let head = change(
        &r,
        readme,
        &[
            ("firewall/rules", Some("allow 22\nallow 443\n")),
            ("docs/b.md", Some("b\n")),
        ],
        "open 443",
        "ops-agent",
        t(3),
    );
    let main = change(
        &r,
        readme,
        &[("docs/c.md", Some("c\n"))],
        "docs",
        "Dev",
        t(4),
    );
    let first_merge = prgate_merge(&r, main, head, &["alice"], t(5));
    let policy_head = change(
        &r,
        first_merge,
        &[(POLICY_PATH, Some(&format!("{POLICY}\n# reviewed\n")))],
        "policy comment",
        "ops-agent",
        t(6),
    );
    let tip = prgate_merge(&r, first_merge, policy_head, &["alice", "bob"], t(7));
    r.set_branch("main", tip);
    History {
        r,
        tip,
        first_merge,
    }
}

fn run(r: &TestRepo) -> AuditReport {
    audit(&AuditOptions::new(r.path())).unwrap()
}

/// Sets main to `commit`, audits, and checks that the one violation is `kind` on `commit` by
/// `author`.
fn assert_single(h: &History, commit: Oid, kind: ViolationKind, author: &str) -> AuditReport {
    h.r.set_branch("main", commit);
    let report = run(&h.r);
    assert!(!report.clean, "{report:#?}");
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    let v = &report.violations[0];
    assert_eq!(v.kind, kind, "{v:#?}");
    assert_eq!(v.commit, commit.to_string());
    assert!(v.author.starts_with(author), "{v:#?}");
    let text = render_text(&report);
    assert!(text.contains(&commit.to_string()), "{text}");
    assert!(text.contains(author), "{text}");
    assert!(text.contains(kind.as_str()), "{text}");
    report
}

fn note(r: &TestRepo, commit: Oid, head: Oid, outcome: Outcome) -> ExecutionNote {
    let c = r.repo.find_commit(commit).unwrap();
    let base = c.parent_id(0).unwrap();
    ExecutionNote {
        version: NOTE_VERSION,
        repo: "acme/infra".parse().unwrap(),
        pull: PullNumber(42),
        base: base.to_string().parse().unwrap(),
        head: head.to_string().parse().unwrap(),
        merge: commit.to_string().parse().unwrap(),
        policy_blob: r.blob_id(base, POLICY_PATH).to_string().parse().unwrap(),
        rules: vec!["firewall".into()],
        approvals: vec![NoteApproval {
            login: Login::new("alice"),
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
            outcome,
            refusal: None,
            operator: None,
            plan: None,
        }),
        signature: None,
        v2: None,
    }
}

#[test]
fn a_history_merged_through_prgate_is_clean() {
    let h = clean_history();
    let report = run(&h.r);
    assert!(report.clean, "{:#?}", report.violations);
    assert_eq!(report.head, h.tip.to_string());
    assert_eq!(report.branch, "main");
    // root, add policy, README, docs, first merge, policy merge.
    assert_eq!(report.commits_walked, 6);
    assert_eq!(report.commits_before_policy, 2);
    // The firewall merge and the policy-only merge; the README and docs pushes are not.
    assert_eq!(report.governed_commits, 2);
    assert_eq!(report.records.len(), 2);
    assert_eq!(report.records[0].approvers, ["alice", "bob"]);
    assert_eq!(report.records[1].commit, h.first_merge.to_string());
    assert_eq!(report.records[1].pull.as_deref(), Some("acme/infra#42"));
    assert!(report.records.iter().all(|r| r.holds));
    let text = render_text(&report);
    assert!(text.starts_with("prgate audit: 6 commits"), "{text}");
    assert!(text.contains("CLEAN"), "{text}");
    assert!(text.contains("history before the policy"), "{text}");
}

#[test]
fn a_direct_push_to_a_governed_path_is_found() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "quick fix",
        "Mallory",
        T0 + 100,
    );
    let report = assert_single(
        &h,
        push,
        ViolationKind::DirectPush,
        "Mallory <mallory@example.com>",
    );
    assert_eq!(report.violations[0].summary, "quick fix");
    assert!(
        report.violations[0]
            .detail
            .contains("carries no prgate record")
    );
}

#[test]
fn a_direct_push_that_changes_only_the_policy_is_found() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[(POLICY_PATH, Some("version = 1\n"))],
        "relax policy",
        "Mallory",
        T0 + 100,
    );
    assert_single(&h, push, ViolationKind::DirectPush, "Mallory");
}

#[test]
fn a_direct_push_outside_governed_paths_is_not_a_violation() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("docs/new/deep.md", Some("x\n"))],
        "docs",
        "Dev",
        T0 + 100,
    );
    h.r.set_branch("main", push);
    let report = run(&h.r);
    assert!(report.clean, "{:#?}", report.violations);
    assert_eq!(report.governed_commits, 2);
}

#[test]
fn an_admin_merge_without_trailers_is_found() {
    let h = clean_history();
    let head = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let side = change(
        &h.r,
        h.tip,
        &[("README", Some("moved on\n"))],
        "readme",
        "Dev",
        T0 + 101,
    );
    let tree = h.r.clean_merge(side, head);
    let merge = commit_as(
        &h.r,
        &[side, head],
        tree,
        "Merge pull request #43 from acme/x\n\nUrgent",
        "Root",
        T0 + 102,
    );
    assert_single(&h, merge, ViolationKind::MergeWithoutApprovalRecord, "Root");
}

#[test]
fn a_merge_whose_tree_was_amended_is_found() {
    let h = clean_history();
    let head = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let side = change(
        &h.r,
        h.tip,
        &[("docs/d.md", Some("d\n"))],
        "docs",
        "Dev",
        T0 + 101,
    );
    let clean =
        h.r.repo
            .find_commit(prgate_merge(&h.r, side, head, &["alice"], T0 + 102))
            .unwrap();
    // Same message and parents, one more line in the firewall.
    let amended_tree = {
        let mut b = git2::Index::new().unwrap();
        b.read_tree(&clean.tree().unwrap()).unwrap();
        let blob = h.r.repo.blob(b"allow 8080\nallow all\n").unwrap();
        let mut e = b
            .get_path(std::path::Path::new("firewall/rules"), 0)
            .unwrap();
        e.id = blob;
        e.file_size = 20;
        b.add(&e).unwrap();
        b.write_tree_to(&h.r.repo).unwrap()
    };
    let amended = commit_as(
        &h.r,
        &[side, head],
        amended_tree,
        clean.message().unwrap(),
        "Eve",
        T0 + 103,
    );
    let report = assert_single(&h, amended, ViolationKind::ContentDiffers, "Eve");
    assert!(
        report.violations[0]
            .detail
            .contains("merged content differs from what was approved"),
        "{:#?}",
        report.violations
    );
    assert!(report.violations[0].detail.contains("firewall/rules"));
}

#[test]
fn an_execution_on_a_commit_without_a_valid_record_is_found() {
    let h = clean_history();
    // A squash-like push whose note claims an approved head with other content, and says
    // the executor ran.
    let approved = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "open all",
        "Mallory",
        T0 + 101,
    );
    write_note(
        &h.r.repo,
        push,
        &note(&h.r, push, approved, Outcome::Succeeded),
    )
    .unwrap();
    h.r.set_branch("main", push);
    let report = run(&h.r);
    let kinds: Vec<ViolationKind> = report.violations.iter().map(|v| v.kind).collect();
    assert_eq!(
        kinds,
        [
            ViolationKind::ContentDiffers,
            ViolationKind::ExecutionWithoutApproval
        ]
    );
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.commit == push.to_string() && v.author.starts_with("Mallory"))
    );
    assert!(report.violations[1].detail.contains("succeeded"));
    assert_eq!(report.records[0].execution, Some(Outcome::Succeeded));
}

#[test]
fn an_execution_recorded_on_an_ungoverned_commit_needs_a_record_too() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("README", Some("x\n"))],
        "readme",
        "Mallory",
        T0 + 100,
    );
    write_note(&h.r.repo, push, &note(&h.r, push, h.tip, Outcome::Failed)).unwrap();
    assert_single(&h, push, ViolationKind::ExecutionWithoutApproval, "Mallory");
}

#[test]
fn a_refused_execution_is_not_an_execution() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "open all",
        "Mallory",
        T0 + 100,
    );
    let mut n = note(&h.r, push, h.tip, Outcome::Refused);
    n.approvals.clear();
    write_note(&h.r.repo, push, &n).unwrap();
    h.r.set_branch("main", push);
    let report = run(&h.r);
    assert!(!report.clean);
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.kind != ViolationKind::ExecutionWithoutApproval),
        "{:#?}",
        report.violations
    );
}

#[test]
fn malformed_trailers_are_an_invalid_record() {
    let h = clean_history();
    let head = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let tree = h.r.clean_merge(h.tip, head);
    let msg = format!(
        "Merge pull request #44\n\nPrgate-Pull: acme/infra#44\nPrgate-Head: {}\nPrgate-Policy: not-a-sha\nApproved-by: alice <review 1 at 2026-11-21T10:00:00Z>\n",
        head
    );
    let merge = commit_as(&h.r, &[h.tip, head], tree, &msg, "Eve", T0 + 101);
    let report = assert_single(&h, merge, ViolationKind::InvalidRecord, "Eve");
    assert!(report.violations[0].detail.contains("do not parse"));
}

/// Two `Prgate-Head` trailers: git reads both, so the record says two things; the audit calls
/// it malformed and names the key (it used to read the last one and call the merge clean).
#[test]
fn a_record_with_a_key_twice_is_an_invalid_record_naming_the_key() {
    let h = clean_history();
    let head = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let tree = h.r.clean_merge(h.tip, head);
    let block = trailers(&h.r, h.tip, head, &["alice"]);
    let doubled = block.replacen(
        "Prgate-Head: ",
        &format!("Prgate-Head: {}\nPrgate-Head: ", h.first_merge),
        1,
    );
    let msg = format!("Merge pull request #44\n\n{doubled}");
    let merge = commit_as(&h.r, &[h.tip, head], tree, &msg, "Eve", T0 + 101);
    let report = assert_single(&h, merge, ViolationKind::InvalidRecord, "Eve");
    let detail = &report.violations[0].detail;
    assert!(detail.contains("malformed"), "{detail}");
    assert!(
        detail.contains("Prgate-Head appears more than once"),
        "{detail}"
    );
}

#[test]
fn a_record_under_another_policy_is_an_invalid_record() {
    let h = clean_history();
    let head = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let tree = h.r.clean_merge(h.tip, head);
    // Trailers name the policy of the root's child, not the one at the base.
    let with_policy =
        h.r.repo
            .find_commit(h.first_merge)
            .unwrap()
            .parent_id(0)
            .unwrap();
    let msg = format!("Merge\n\n{}", trailers(&h.r, with_policy, head, &["alice"]));
    let old_policy = h.r.blob_id(with_policy, POLICY_PATH);
    let at_base = h.r.blob_id(h.tip, POLICY_PATH);
    assert_ne!(old_policy, at_base);
    let merge = commit_as(&h.r, &[h.tip, head], tree, &msg, "Eve", T0 + 101);
    let report = assert_single(&h, merge, ViolationKind::InvalidRecord, "Eve");
    assert!(
        report.violations[0]
            .detail
            .contains("approved under another policy")
    );
}

/// A commit's dates are what its pusher wrote, so `--since` never stops at one: with no record
/// the gate wrote before the date, the whole history is audited (it used to stop at the first
/// commit dated before `--since`, and report this history clean).
#[test]
fn since_without_an_older_record_audits_the_whole_history() {
    let h = clean_history();
    let bad = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "old push",
        "Mallory",
        T0 + 100,
    );
    let later = change(
        &h.r,
        bad,
        &[("README", Some("later\n"))],
        "later",
        "Dev",
        T0 + 10_000,
    );
    h.r.set_branch("main", later);
    let all = run(&h.r);
    assert_eq!(all.violations.len(), 1);
    let report = audit(&AuditOptions {
        since: Utc.timestamp_opt(T0 + 5_000, 0).single(),
        ..AuditOptions::new(h.r.path())
    })
    .unwrap();
    assert_eq!(report.commits_walked, all.commits_walked);
    assert_eq!(report.violations, all.violations);
    assert_eq!(report.stopped_at, None);
    assert!(report.since.is_some());
    assert!(
        render_text(&report).contains("no record decided before then, so the whole history"),
        "{}",
        render_text(&report)
    );
}

/// 2026-01-01T00:00:00Z, the `--since` of the stories below.
const JAN_1_2026: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

struct SinceStory {
    h: History,
    recent_merge: Oid,
    pushed: Oid,
    backdated: Oid,
    tip: Oid,
}

/// The clean history (2023) with the gate's note on its first merge, then in 2026 a firewall
/// change merged by prgate (noted), a direct push to the firewall, a second direct push whose
/// author and committer dates say 2019, and a README change on top.
fn since_story() -> SinceStory {
    let h = clean_history();
    let first_head =
        h.r.repo
            .find_commit(h.first_merge)
            .unwrap()
            .parent_id(1)
            .unwrap();
    let mut old = note(&h.r, h.first_merge, first_head, Outcome::Succeeded);
    old.decided_at = Utc.timestamp_opt(T0 + 6, 0).single().unwrap();
    write_note(&h.r.repo, h.first_merge, &old).unwrap();

    let head = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 22\nallow 443\nallow 8443\n"))],
        "open 8443",
        "ops-agent",
        JAN_1_2026 + 8 * DAY,
    );
    let recent_merge = prgate_merge(&h.r, h.tip, head, &["alice"], JAN_1_2026 + 9 * DAY);
    let mut recent = note(&h.r, recent_merge, head, Outcome::Succeeded);
    recent.decided_at = Utc
        .timestamp_opt(JAN_1_2026 + 9 * DAY + 5, 0)
        .single()
        .unwrap();
    write_note(&h.r.repo, recent_merge, &recent).unwrap();

    let pushed = change(
        &h.r,
        recent_merge,
        &[("firewall/rules", Some("allow all\n"))],
        "quick fix",
        "Mallory",
        JAN_1_2026 + 10 * DAY,
    );
    // 2019-01-01: git takes whatever date the pusher writes.
    let backdated = change(
        &h.r,
        pushed,
        &[("firewall/rules", Some("allow all\nallow 0\n"))],
        "old tidy-up",
        "Mallory",
        1_546_300_800,
    );
    let tip = change(
        &h.r,
        backdated,
        &[("README", Some("2026\n"))],
        "README",
        "Dev",
        JAN_1_2026 + 11 * DAY,
    );
    h.r.set_branch("main", tip);
    SinceStory {
        h,
        recent_merge,
        pushed,
        backdated,
        tip,
    }
}

fn since_2026(s: &SinceStory) -> AuditReport {
    audit(&AuditOptions {
        since: Utc.timestamp_opt(JAN_1_2026, 0).single(),
        ..AuditOptions::new(s.h.r.path())
    })
    .unwrap()
}

/// The evasion: a direct push backdated to 2019 sits on top of 2026's history. An audit
/// `--since 2026-01-01` that stops at the first commit dated before then stops right there and
/// reports nothing, hiding the backdated push and the push behind it. Anchored on the gate's
/// records instead, the walk goes through both, past the 2026 merge (decided in 2026), back to
/// the 2023 merge whose note says it was decided before 2026, and reports both pushes.
#[test]
fn a_backdated_push_does_not_end_a_since_audit() {
    let s = since_story();
    let report = since_2026(&s);
    let found: Vec<(&str, ViolationKind)> = report
        .violations
        .iter()
        .map(|v| (v.commit.as_str(), v.kind))
        .collect();
    let (backdated, pushed) = (s.backdated.to_string(), s.pushed.to_string());
    assert_eq!(
        found,
        [
            (backdated.as_str(), ViolationKind::DirectPush),
            (pushed.as_str(), ViolationKind::DirectPush)
        ],
        "{:#?}",
        report.violations
    );
    // tip, backdated, pushed, the 2026 merge, the 2023 policy merge; the 2023 firewall merge
    // is where it stopped.
    assert_eq!(report.commits_walked, 5);
    let stop = report
        .stopped_at
        .clone()
        .expect("stopped at the 2023 record");
    assert_eq!(stop.commit, s.h.first_merge.to_string());
    assert_eq!(stop.decided_at, Utc.timestamp_opt(T0 + 6, 0).single(),);
    let text = render_text(&report);
    assert!(
        text.contains(&format!("back to {}", s.h.first_merge)),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
    assert_eq!(v["stopped_at"]["commit"], s.h.first_merge.to_string());

    // The command line says the same, and exits 40.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["audit", "--repo"])
        .arg(s.h.r.path())
        .args(["--since", "2026-01-01", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(40), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["violations"][0]["commit"], backdated);
    assert_eq!(v["violations"][1]["commit"], pushed);
    assert_eq!(v["commits_walked"], 5);
}

/// A note only dates the commit it was written about: the 2023 note copied onto the
/// backdated push (a writer can push notes) does not end the walk there.
#[test]
fn a_record_copied_onto_another_commit_does_not_end_a_since_audit() {
    let s = since_story();
    let first_head =
        s.h.r
            .repo
            .find_commit(s.h.first_merge)
            .unwrap()
            .parent_id(1)
            .unwrap();
    let mut copied = note(&s.h.r, s.h.first_merge, first_head, Outcome::Succeeded);
    copied.decided_at = Utc.timestamp_opt(T0 + 6, 0).single().unwrap();
    write_note(&s.h.r.repo, s.backdated, &copied).unwrap();
    let report = since_2026(&s);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.commit == s.backdated.to_string()),
        "{:#?}",
        report.violations
    );
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.commit == s.pushed.to_string()),
        "{:#?}",
        report.violations
    );
    assert_eq!(
        report.stopped_at.map(|st| st.commit),
        Some(s.h.first_merge.to_string())
    );
}

/// With `--public-key`, only a note signed by a trusted key dates a commit: an unsigned old
/// note (anyone who can push notes could have written it) ends nothing.
#[test]
fn with_keys_only_a_signed_record_ends_a_since_audit() {
    let s = since_story();
    let key = signing_key(7);
    let first_head =
        s.h.r
            .repo
            .find_commit(s.h.first_merge)
            .unwrap()
            .parent_id(1)
            .unwrap();
    let since = Utc.timestamp_opt(JAN_1_2026, 0).single();
    let with_keys = |keys: &[ed25519_dalek::SigningKey]| {
        audit(&AuditOptions {
            since,
            trusted_keys: keys.iter().map(|k| k.verifying_key()).collect(),
            ..AuditOptions::new(s.h.r.path())
        })
        .unwrap()
    };
    // Unsigned: walked through to the root.
    let report = with_keys(std::slice::from_ref(&key));
    assert_eq!(report.stopped_at, None);
    assert_eq!(report.commits_walked, run(&s.h.r).commits_walked);
    // Signed by the gate's key: the walk ends there; by another key, it does not.
    let mut old = note(&s.h.r, s.h.first_merge, first_head, Outcome::Succeeded);
    old.decided_at = Utc.timestamp_opt(T0 + 6, 0).single().unwrap();
    prgate::record::signing::sign_note(&mut old, &key).unwrap();
    write_note(&s.h.r.repo, s.h.first_merge, &old).unwrap();
    let report = with_keys(std::slice::from_ref(&key));
    assert_eq!(
        report.stopped_at.map(|st| st.commit),
        Some(s.h.first_merge.to_string())
    );
    let report = with_keys(&[signing_key(8)]);
    assert_eq!(report.stopped_at, None);
}

/// `--since-commit` stops exactly at the commit named, whatever dates say, as
/// `git log SHA..main`; a commit off the first-parent history is an error, not a silent
/// whole-history audit.
#[test]
fn since_commit_stops_exactly_there() {
    let s = since_story();
    let report = audit(&AuditOptions {
        since_commit: Some(s.recent_merge.to_string()),
        ..AuditOptions::new(s.h.r.path())
    })
    .unwrap();
    assert_eq!(report.commits_walked, 3, "tip, backdated, pushed");
    assert_eq!(report.violations.len(), 2, "{:#?}", report.violations);
    assert_eq!(
        report.stopped_at.as_ref().map(|st| st.commit.clone()),
        Some(s.recent_merge.to_string())
    );
    assert_eq!(report.since_commit, Some(s.recent_merge.to_string()));
    let text = render_text(&report);
    assert!(
        text.contains(&format!("after {}", s.recent_merge)),
        "{text}"
    );
    // Just below the tip: nothing to report.
    let report = audit(&AuditOptions {
        since_commit: Some(s.backdated.to_string()),
        ..AuditOptions::new(s.h.r.path())
    })
    .unwrap();
    assert!(report.clean);
    assert_eq!(report.commits_walked, 1);
    assert_eq!(s.tip.to_string(), report.head);
    // The agent's head of the first merge is reachable, but not on the first-parent line.
    let off =
        s.h.r
            .repo
            .find_commit(s.h.first_merge)
            .unwrap()
            .parent_id(1)
            .unwrap();
    let err = audit(&AuditOptions {
        since_commit: Some(off.to_string()),
        ..AuditOptions::new(s.h.r.path())
    })
    .unwrap_err();
    assert!(
        matches!(err, AuditError::SinceCommitNotOnBranch { .. }),
        "{err}"
    );
    let err = audit(&AuditOptions {
        since_commit: Some("0".repeat(40)),
        ..AuditOptions::new(s.h.r.path())
    })
    .unwrap_err();
    assert!(matches!(err, AuditError::NoSinceCommit { .. }), "{err}");
}

#[test]
fn the_json_report_has_the_documented_shape() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "quick fix",
        "Mallory",
        T0 + 100,
    );
    h.r.set_branch("main", push);
    let v: serde_json::Value = serde_json::from_str(&render_json(&run(&h.r))).unwrap();
    assert_eq!(v["branch"], "main");
    assert_eq!(v["head"], push.to_string());
    assert_eq!(v["commits_walked"], 7);
    assert_eq!(v["governed_commits"], 3);
    assert_eq!(v["commits_before_policy"], 2);
    assert_eq!(v["clean"], false);
    assert!(v["since"].is_null());
    assert!(v["since_commit"].is_null());
    assert!(v["stopped_at"].is_null());
    let viol = &v["violations"][0];
    assert_eq!(viol["commit"], push.to_string());
    assert_eq!(viol["author"], "Mallory <mallory@example.com>");
    assert_eq!(viol["summary"], "quick fix");
    assert_eq!(viol["kind"], "direct_push");
    assert!(
        viol["detail"]
            .as_str()
            .unwrap()
            .contains("no prgate record")
    );
    let rec = &v["records"][1];
    for key in [
        "commit",
        "author",
        "summary",
        "committed_at",
        "holds",
        "record",
        "pull",
        "head",
        "merge_kind",
        "approvers",
        "executor",
        "execution",
    ] {
        assert!(rec.get(key).is_some(), "records[] lacks {key}: {rec}");
    }
    assert_eq!(rec["record"], "trailers");
    assert_eq!(rec["merge_kind"], "merge_commit");
    assert_eq!(rec["approvers"][0], "alice");
    assert_eq!(rec["committed_at"], "2023-11-14T22:13:27Z");
}

#[test]
fn html_escapes_what_comes_from_the_repository() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("x\n"))],
        "<script>alert(1)</script>",
        "Mallory & \"Co\"",
        T0 + 100,
    );
    h.r.set_branch("main", push);
    let html = render_html(&run(&h.r)).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    // minijinja escapes `/` too.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(html.contains("Mallory &amp; &quot;Co"), "{html}");
}

#[test]
fn a_policy_with_defaults_governs_every_change() {
    let h = clean_history();
    let with_defaults = format!("{POLICY}\n[defaults]\napprovers = {{ users = [\"carol\"] }}\n");
    let policy_head = change(
        &h.r,
        h.tip,
        &[(POLICY_PATH, Some(&with_defaults))],
        "defaults",
        "ops-agent",
        T0 + 100,
    );
    let merged = prgate_merge(&h.r, h.tip, policy_head, &["alice", "bob"], T0 + 101);
    let push = change(
        &h.r,
        merged,
        &[("README", Some("now governed\n"))],
        "readme",
        "Dev",
        T0 + 102,
    );
    assert_single(&h, push, ViolationKind::DirectPush, "Dev");
}

#[test]
fn an_unknown_branch_is_an_error() {
    let h = clean_history();
    let err = audit(&AuditOptions {
        branch: "nope".into(),
        ..AuditOptions::new(h.r.path())
    })
    .unwrap_err();
    assert!(matches!(err, AuditError::NoBranch { .. }), "{err}");
    assert!(err.to_string().contains("--branch"));
}

#[test]
fn a_commit_graph_changes_nothing_in_the_report() {
    let h = clean_history();
    // Something to find on top of the clean history: a direct push with an execution note.
    let approved = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow 8080\n"))],
        "open 8080",
        "ops-agent",
        T0 + 100,
    );
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "open all",
        "Mallory",
        T0 + 101,
    );
    write_note(
        &h.r.repo,
        push,
        &note(&h.r, push, approved, Outcome::Succeeded),
    )
    .unwrap();
    let tip = change(
        &h.r,
        push,
        &[("README", Some("bye\n"))],
        "docs",
        "Dev",
        T0 + 102,
    );
    h.r.set_branch("main", tip);
    let without = render_json(&run(&h.r));
    // git writes a commit-graph on gc; the audit then reads the walk from it.
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(h.r.path())
        .args(["commit-graph", "write", "--reachable"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        h.r.path().join(".git/objects/info/commit-graph").exists()
            || h.r.path().join("objects/info/commit-graph").exists()
    );
    let with = render_json(&run(&h.r));
    assert_eq!(with, without);
    assert!(with.contains("execution_without_approval"));
}

#[test]
fn a_commit_graph_that_disagrees_with_a_checked_commit_is_dropped() {
    let h = clean_history();
    let push = change(
        &h.r,
        h.tip,
        &[("firewall/rules", Some("allow all\n"))],
        "open all",
        "Mallory",
        T0 + 101,
    );
    let tip = change(
        &h.r,
        push,
        &[("README", Some("bye\n"))],
        "docs",
        "Dev",
        T0 + 102,
    );
    h.r.set_branch("main", tip);
    let without = render_json(&run(&h.r));
    assert!(without.contains(&push.to_string()), "{without}");
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(h.r.path())
        .args(["commit-graph", "write", "--reachable"])
        .status()
        .unwrap();
    assert!(status.success());
    // A damaged graph: it says the push left the tree as it was (its parent's tree).
    let file = h.r.repo.path().join("objects/info/commit-graph");
    let tree_of = |c: Oid| h.r.repo.find_commit(c).unwrap().tree_id();
    let mut bytes = std::fs::read(&file).unwrap();
    let (from, to) = (tree_of(push), tree_of(h.tip));
    let at = bytes
        .windows(20)
        .position(|w| w == from.as_bytes())
        .expect("the push's tree in the graph");
    bytes[at..at + 20].copy_from_slice(to.as_bytes());
    std::fs::write(&file, &bytes).unwrap();
    // The walk believes the graph where it reads no commit: the report changes (which shows
    // that the graph is read at all).
    let believed = render_json(&run(&h.r));
    assert_ne!(believed, without);
    // A note on the push makes the audit read it in full: the graph disagrees with the
    // commit, and the audit starts over without it.
    write_note(
        &h.r.repo,
        push,
        &note(&h.r, push, h.tip, Outcome::Succeeded),
    )
    .unwrap();
    let report = run(&h.r);
    let push_kinds: Vec<ViolationKind> = report
        .violations
        .iter()
        .filter(|v| v.commit == push.to_string())
        .map(|v| v.kind)
        .collect();
    // Governed (its content is judged), as it is without the graph; the README change after
    // it is not blamed for the push's change.
    assert!(
        push_kinds.contains(&ViolationKind::ContentDiffers)
            && push_kinds.contains(&ViolationKind::ExecutionWithoutApproval),
        "{:#?}",
        report.violations
    );
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.commit != tip.to_string()),
        "{:#?}",
        report.violations
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(render_json(&report), render_json(&run(&h.r)));
}

// ---------------------------------------------------------------------------------------------
// Signed notes

fn signing_key(b: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[b; 32])
}

/// The clean history with a signed note on each prgate merge.
fn signed_history(key: &ed25519_dalek::SigningKey) -> History {
    let h = clean_history();
    write_signed_notes(&h, key);
    h
}

/// A signed note on each prgate merge of `h`.
fn write_signed_notes(h: &History, key: &ed25519_dalek::SigningKey) {
    for m in [h.first_merge, h.tip] {
        let head = h.r.repo.find_commit(m).unwrap().parent_id(1).unwrap();
        let mut n = note(&h.r, m, head, Outcome::Succeeded);
        n.approvals = if m == h.tip {
            ["alice", "bob"]
                .iter()
                .map(|l| NoteApproval {
                    login: Login::new(*l),
                    user_id: UserId(7),
                    review_id: 1000,
                    submitted_at: None,
                })
                .collect()
        } else {
            n.approvals
        };
        prgate::record::signing::sign_note(&mut n, key).unwrap();
        write_note(&h.r.repo, m, &n).unwrap();
    }
}

fn audit_with(r: &TestRepo, keys: &[ed25519_dalek::SigningKey]) -> AuditReport {
    audit(&AuditOptions {
        trusted_keys: keys.iter().map(|k| k.verifying_key()).collect(),
        ..AuditOptions::new(r.path())
    })
    .unwrap()
}

#[test]
fn signed_notes_audit_clean_with_the_gates_key_and_without_any() {
    let key = signing_key(7);
    let h = signed_history(&key);
    let report = audit_with(&h.r, std::slice::from_ref(&key));
    assert!(report.clean, "{:#?}", report.violations);
    assert!(
        report
            .records
            .iter()
            .all(|r| matches!(r.signature, prgate::verify::SignatureStatus::Valid { .. })),
        "{:#?}",
        report.records
    );
    let report = run(&h.r);
    assert!(report.clean, "{:#?}", report.violations);
    assert!(
        render_text(&report).contains("not checked: pass --public-key"),
        "{}",
        render_text(&report)
    );
}

#[test]
fn a_tampered_signed_note_is_an_invalid_record_naming_its_commit() {
    let key = signing_key(7);
    let h = signed_history(&key);
    let m = h.first_merge;
    let text =
        h.r.repo
            .find_note(Some("refs/notes/prgate"), m)
            .unwrap()
            .message()
            .unwrap()
            .to_string();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["execution"]["output_sha256"] = "ff".repeat(32).into();
    let sig = support::sig();
    h.r.repo
        .note(
            &sig,
            &sig,
            Some("refs/notes/prgate"),
            m,
            &serde_json::to_string_pretty(&v).unwrap(),
            true,
        )
        .unwrap();
    let report = audit_with(&h.r, &[key]);
    assert!(!report.clean);
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    let violation = &report.violations[0];
    assert_eq!(violation.kind, ViolationKind::InvalidRecord);
    assert_eq!(violation.commit, m.to_string());
    assert!(violation.detail.contains(&m.to_string()), "{violation:#?}");
    // Without a key the verdict is unchanged.
    assert!(run(&h.r).clean);
}

/// A writer pushed an unsigned note saying the tip ran; prgate's executor never adopted it and
/// wrote its signed record over it. The record holds, and the audit names the replaced note, the
/// notes commit that pushed it and why it was not prgate's. Without a key nothing can be told
/// to be prgate's, so nothing is named.
#[test]
fn a_note_prgate_did_not_write_is_named_after_its_record_replaced_it() {
    let key = signing_key(7);
    let h = clean_history();
    let head = h.r.repo.find_commit(h.tip).unwrap().parent_id(1).unwrap();
    let forged = note(&h.r, h.tip, head, Outcome::Succeeded);
    write_note(&h.r.repo, h.tip, &forged).unwrap();
    let forged_commit = h.r.repo.refname_to_id("refs/notes/prgate").unwrap();
    let forged_blob =
        h.r.repo
            .find_note(Some("refs/notes/prgate"), h.tip)
            .unwrap()
            .id();
    write_signed_notes(&h, &key);
    let report = audit_with(&h.r, std::slice::from_ref(&key));
    assert!(report.clean, "{:#?}", report.violations);
    assert_eq!(
        report.replaced_notes.len(),
        1,
        "{:#?}",
        report.replaced_notes
    );
    let replaced = &report.replaced_notes[0];
    assert_eq!(replaced.commit, h.tip.to_string());
    assert_eq!(replaced.note_blob, forged_blob.to_string());
    assert_eq!(replaced.notes_commit, forged_commit.to_string());
    assert_eq!(replaced.why, "note unsigned");
    let text = render_text(&report);
    assert!(
        text.contains("Notes prgate did not write, replaced by its record")
            && text.contains("note unsigned"),
        "{text}"
    );
    assert!(run(&h.r).replaced_notes.is_empty());
}

#[test]
fn unsigned_or_foreign_notes_are_invalid_records_when_a_key_is_given() {
    let h = signed_history(&signing_key(8));
    let report = audit_with(&h.r, &[signing_key(7)]);
    assert_eq!(report.violations.len(), 2, "{:#?}", report.violations);
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.kind == ViolationKind::InvalidRecord
                && v.detail.contains("none of the --public-key"))
    );
    // Key rotation: the old key listed next to the new one.
    assert!(audit_with(&h.r, &[signing_key(7), signing_key(8)]).clean);

    // An unsigned note on a commit that changed no governed path, even one that ran nothing.
    let push = change(
        &h.r,
        h.tip,
        &[("README", Some("x\n"))],
        "readme",
        "Mallory",
        T0 + 100,
    );
    write_note(&h.r.repo, push, &note(&h.r, push, h.tip, Outcome::Held)).unwrap();
    h.r.set_branch("main", push);
    assert!(run(&h.r).clean);
    let report = audit_with(&h.r, &[signing_key(8)]);
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    assert_eq!(report.violations[0].kind, ViolationKind::InvalidRecord);
    assert_eq!(report.violations[0].commit, push.to_string());
    assert!(report.violations[0].detail.contains("not signed"));
}

/// The audit reads patterns as the gate does: `*.tf` governs `modules/vpc/main.tf` (a
/// slash-less pattern matches in every folder), so a direct push there is found, and so is
/// one to its case variant `MAIN.TF` (it would overwrite `main.tf` on a case-insensitive
/// filesystem).
#[test]
fn a_slashless_pattern_governs_files_deep_in_the_tree() {
    let r = TestRepo::new();
    let policy = "version = 1\n[[rules]]\nname = \"terraform\"\npaths = [\"*.tf\"]\napprovers = { users = [\"alice\"] }\n";
    let root = commit_as(
        &r,
        &[],
        r.tree(
            None,
            &[
                (POLICY_PATH, Some(policy)),
                ("modules/vpc/main.tf", Some("a\n")),
            ],
        ),
        "initial",
        "Alice",
        T0,
    );
    let deep = change(
        &r,
        root,
        &[("modules/vpc/main.tf", Some("b\n"))],
        "vpc",
        "Mallory",
        T0 + 1,
    );
    let upper = change(
        &r,
        deep,
        &[("modules/vpc/MAIN.TF", Some("c\n"))],
        "upper",
        "Dev",
        T0 + 2,
    );
    r.set_branch("main", upper);
    let report = run(&r);
    assert_eq!(report.governed_commits, 2, "{report:#?}");
    assert_eq!(report.violations.len(), 2, "{:#?}", report.violations);
    let found: Vec<String> = report.violations.iter().map(|v| v.commit.clone()).collect();
    assert!(found.contains(&deep.to_string()), "{found:?}");
    assert!(found.contains(&upper.to_string()), "{found:?}");
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.kind == ViolationKind::DirectPush)
    );
}
