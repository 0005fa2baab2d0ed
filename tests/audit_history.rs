//! `prgate audit` over real repositories: a history merged through prgate is clean; each way a
//! governed change can reach the branch without a valid record is found, with its commit and
//! author.

#[path = "executor_support.rs"]
mod support;

use chrono::{TimeZone, Utc};
use git2::{Oid, Signature};
use prgate::audit::{
    AuditError, AuditOptions, AuditReport, ViolationKind, audit, render_html, render_json,
    render_text,
};
use prgate::executor::note::NOTE_VERSION;
use prgate::executor::{ExecutionNote, ExecutionRecord, NoteApproval, Outcome, write_note};
use prgate::records::{ApprovalTrailers, TrailerApproval};
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
        execution: Some(ExecutionRecord {
            executor: "firewall".into(),
            started_at: "2026-11-21T10:01:00Z".parse().unwrap(),
            finished_at: "2026-11-21T10:01:03Z".parse().unwrap(),
            exit_code: Some(0),
            output_sha256: Some("00".repeat(32)),
            outcome,
            refusal: None,
            operator: None,
        }),
        signature: None,
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
    assert!(detail.contains("Prgate-Head appears more than once"), "{detail}");
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

#[test]
fn since_limits_the_walk() {
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
    assert_eq!(report.commits_walked, 1);
    assert!(report.clean);
    assert!(report.since.is_some());
    let report = audit(&AuditOptions {
        since: Utc.timestamp_opt(T0 + 100, 0).single(),
        ..AuditOptions::new(h.r.path())
    })
    .unwrap();
    assert_eq!(report.commits_walked, 2);
    assert_eq!(report.violations.len(), 1);
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
    let html = render_html(&run(&h.r));
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
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

// ---------------------------------------------------------------------------------------------
// Signed notes

fn signing_key(b: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[b; 32])
}

/// The clean history with a signed note on each prgate merge.
fn signed_history(key: &ed25519_dalek::SigningKey) -> History {
    let h = clean_history();
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
        prgate::executor::sign_note(&mut n, key).unwrap();
        write_note(&h.r.repo, m, &n).unwrap();
    }
    h
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
