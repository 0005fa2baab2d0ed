//! The approval semantics of DESIGN.md, one named test per rule and per known attack. Each
//! test tells a story: an agent opens a PR, people review, the engine decides.

use prgate::config::ConfigError;

use prgate::policy::RepoPolicy;
use prgate::policy::fixtures::{
    at, bot, commit_by, example_policy, pull, review, sha, team, user, with_team,
};
use prgate::policy::{
    Account, ApprovalState, CompiledPolicy, MAX_DESCRIPTION_CHARS, ProposedPolicy, PullFacts,
    PullState, ReviewState, evaluate_approval, evaluate_final_head, executors_for, matched_rules,
    parse_policy, teams_needed,
};
use prgate::types::CommitSha;

struct Cast {
    agent: Account,
    alice: Account,
    bob: Account,
    carol: Account,
    dave: Account,
    mallory: Account,
    mia: Account,
}

fn cast() -> Cast {
    Cast {
        agent: bot("ops-agent[bot]", 100),
        alice: user("alice", 1),
        bob: user("bob", 2),
        carol: user("carol", 3),
        dave: user("dave", 4),
        mallory: user("mallory", 5),
        mia: user("mia", 6),
    }
}

const HEAD: u64 = 0x1a2b3c4d;
const OLD: u64 = 0x0ddc0ffe;

fn head() -> CommitSha {
    sha(HEAD)
}

/// The agent's PR changing a firewall file, with the example policy's teams filled in:
/// bob is in netops, carol and dave in security, mia in maintainers.
fn firewall_pr(c: &Cast, files: &[&str]) -> PullFacts {
    let mut f = pull(&c.agent, head(), files);
    with_team(&mut f, "acme/netops", &[&c.bob]);
    with_team(&mut f, "acme/security", &[&c.carol, &c.dave]);
    with_team(&mut f, "acme/maintainers", &[&c.mia]);
    f
}

fn decide(f: &PullFacts) -> prgate::policy::ApprovalDecision {
    let d = evaluate_approval(&example_policy(), f);
    assert!(
        d.description.chars().count() < 140,
        "description too long: {}",
        d.description
    );
    d
}

fn notes_mention(d: &prgate::policy::ApprovalDecision, what: &str) -> bool {
    d.notes.iter().any(|n| n.contains(what))
}

#[test]
fn approval_by_designated_user_on_head_succeeds() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Success, "{d:#?}");
    insta::assert_snapshot!(d.description, @"approved by alice (firewall)");
    assert_eq!(d.approvals.len(), 1);
    assert_eq!(d.approvals[0].review_id, 10);
    assert_eq!(d.rules.len(), 1);
    assert_eq!(d.rules[0].name, "firewall");
    assert_eq!(d.rules[0].executor.as_deref(), Some("firewall"));
    assert!(d.rules[0].satisfied);
    assert_eq!(d.head_sha, head());
}

#[test]
fn team_member_approval_succeeds() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    assert_eq!(decide(&f).state, ApprovalState::Success);
}

#[test]
fn no_review_is_pending_and_says_what_is_missing() {
    let c = cast();
    let f = firewall_pr(&c, &["firewall/rules.yml"]);
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    insta::assert_snapshot!(d.description, @"needs 1 approval from alice or acme/netops (firewall)");
    assert!(!d.rules[0].satisfied);
    assert_eq!(d.rules[0].approvers, "alice or acme/netops");
}

#[test]
fn attack_approval_on_older_head_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &sha(OLD), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    insta::assert_snapshot!(d.description, @"needs 1 approval from alice or acme/netops (firewall); alice's approval is for an older commit");
    assert!(
        notes_mention(&d, "it is for 0ddc0ff, not the head 1a2b3c4"),
        "{:?}",
        d.notes
    );
    assert!(d.approvals.is_empty());
}

#[test]
fn attack_push_after_approval_removes_it() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    assert_eq!(decide(&f).state, ApprovalState::Success);
    // The agent pushes one more commit: the approval was for the old head.
    let new_head = sha(0x2b3c4d5e);
    f.head_sha = new_head.clone();
    f.commits.push(commit_by(new_head, &c.agent));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending, "{d:#?}");
    assert!(
        d.description
            .contains("alice's approval is for an older commit"),
        "{}",
        d.description
    );
}

#[test]
fn approval_without_commit_id_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    let mut r = review(10, &c.alice, ReviewState::Approved, &head(), 1);
    r.commit_id = None;
    f.reviews.push(r);
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(notes_mention(&d, "an unknown commit"), "{:?}", d.notes);
}

#[test]
fn attack_approval_by_pr_author_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.author = c.alice.clone();
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        notes_mention(&d, "alice opened the pull request"),
        "{:?}",
        d.notes
    );
    assert!(
        d.description
            .contains("alice's approval does not count: alice opened the pull request"),
        "{}",
        d.description
    );
}

#[test]
fn attack_approval_by_a_commit_author_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // Alice wrote an earlier commit of the PR; the agent committed it.
    let mut early = commit_by(sha(0x33333333), &c.agent);
    early.author = Some(c.alice.clone());
    f.commits.insert(0, early);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        notes_mention(&d, "alice authored commit 3333333"),
        "{:?}",
        d.notes
    );
}

#[test]
fn attack_approval_by_a_committer_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.commits[0].committer = Some(c.bob.clone());
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(notes_mention(&d, "bob committed 1a2b3c4"), "{:?}", d.notes);
}

#[test]
fn attack_approval_by_a_bot_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // A bot that somehow sits in the approving team, and a bot that shares a listed login.
    let netops_bot = bot("netops-bot", 7);
    let fake_alice = bot("alice", 8);
    with_team(&mut f, "acme/netops", &[&netops_bot]);
    f.reviews
        .push(review(10, &netops_bot, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &fake_alice, ReviewState::Approved, &head(), 2));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        notes_mention(&d, "netops-bot is a bot account"),
        "{:?}",
        d.notes
    );
    assert!(notes_mention(&d, "alice is a bot account"), "{:?}", d.notes);
}

#[test]
fn approval_by_organization_or_unknown_account_kind_does_not_count() {
    let c = cast();
    for kind in [
        prgate::policy::AccountKind::Organization,
        prgate::policy::AccountKind::Other,
    ] {
        let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
        let mut odd = user("alice", 1);
        odd.kind = kind;
        f.reviews
            .push(review(10, &odd, ReviewState::Approved, &head(), 1));
        assert_eq!(decide(&f).state, ApprovalState::Pending, "{kind:?}");
    }
}

#[test]
fn attack_approval_by_an_agent_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // A service account of type User, listed as an agent, that is also in the team.
    let release_bot = user("Release-Bot", 9);
    with_team(&mut f, "acme/netops", &[&release_bot]);
    f.reviews
        .push(review(10, &release_bot, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        notes_mention(&d, "Release-Bot is an agent"),
        "{:?}",
        d.notes
    );
}

#[test]
fn attack_approval_by_a_non_designated_user_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.mallory, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        notes_mention(&d, "mallory is not a designated approver of firewall"),
        "{:?}",
        d.notes
    );
}

#[test]
fn attack_policy_file_changed_without_the_policy_rules_approvers() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml", ".github/prgate.toml"]);
    f.proposed_policy = ProposedPolicy::Valid;
    // Alice may approve firewall changes, and the maintainer may approve anything else, but
    // neither may approve a change to the policy itself.
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &c.mia, ReviewState::Approved, &head(), 2));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending, "{d:#?}");
    insta::assert_snapshot!(d.description, @"mia's approval does not count: mia is not a designated approver of firewall, policy; needs 2 approvals from acme/security (policy)");
    let names: Vec<&str> = d.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["firewall", "policy"]);

    f.reviews
        .push(review(12, &c.carol, ReviewState::Approved, &head(), 3));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        d.description
            .contains("needs 1 more approval from acme/security (policy)"),
        "{}",
        d.description
    );

    f.reviews
        .push(review(13, &c.dave, ReviewState::Approved, &head(), 4));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Success, "{d:#?}");
    insta::assert_snapshot!(d.description, @"approved by alice (firewall), carol (policy), dave (policy)");
}

#[test]
fn policy_change_missing_from_the_file_list_is_still_governed_by_the_policy_rule() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.proposed_policy = ProposedPolicy::Deleted;
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(d.rules.iter().any(|r| r.name == "policy"));
}

#[test]
fn policy_change_without_a_policy_rule_falls_to_defaults() {
    let c = cast();
    let mut policy = example_policy();
    policy.rules.retain(|r| r.name != "policy");
    let mut f = firewall_pr(&c, &[".github/prgate.toml"]);
    f.proposed_policy = ProposedPolicy::Valid;
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.rules.len(), 1);
    assert_eq!(d.rules[0].name, "defaults");
    f.reviews
        .push(review(10, &c.mia, ReviewState::Approved, &head(), 1));
    assert_eq!(evaluate_approval(&policy, &f).state, ApprovalState::Success);
}

#[test]
fn invalid_proposed_policy_fails() {
    let c = cast();
    let mut f = firewall_pr(&c, &[".github/prgate.toml"]);
    f.proposed_policy =
        ProposedPolicy::Invalid(".github/prgate.toml:3:1: unknown field `rulez`".into());
    f.reviews
        .push(review(10, &c.carol, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &c.dave, ReviewState::Approved, &head(), 2));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Failure);
    insta::assert_snapshot!(d.description, @"the proposed .github/prgate.toml is invalid: .github/prgate.toml:3:1: unknown field `rulez`");
}

#[test]
fn attack_changes_requested_by_a_designated_approver_after_an_approval() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let mut no = review(11, &c.bob, ReviewState::ChangesRequested, &head(), 2);
    no.body = "this opens port 22\nto the world".into();
    f.reviews.push(no);
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Failure, "{d:#?}");
    insta::assert_snapshot!(d.description, @"changes requested by bob: this opens port 22 to the world");
    assert_eq!(d.denials.len(), 1);
    assert_eq!(d.denials[0].review_id, 11);
    assert_eq!(d.denials[0].reason, "this opens port 22\nto the world");

    // Bob looks again and approves: his change request no longer stands.
    f.reviews
        .push(review(12, &c.bob, ReviewState::Approved, &head(), 3));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Success);
    assert!(d.denials.is_empty());
}

#[test]
fn changes_requested_on_an_older_commit_still_deny() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews.push(review(
        10,
        &c.bob,
        ReviewState::ChangesRequested,
        &sha(OLD),
        1,
    ));
    f.reviews
        .push(review(11, &c.alice, ReviewState::Approved, &head(), 2));
    assert_eq!(decide(&f).state, ApprovalState::Failure);
}

#[test]
fn changes_requested_by_an_ineligible_reviewer_do_not_block() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    f.reviews.push(review(
        11,
        &c.mallory,
        ReviewState::ChangesRequested,
        &head(),
        2,
    ));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Success);
    assert!(
        notes_mention(&d, "change request by mallory"),
        "{:?}",
        d.notes
    );
}

#[test]
fn attack_dismissal_removes_an_approval() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // On GitHub a dismissed review keeps its id and time and changes state; the issue events
    // say who dismissed it and what it was.
    let approval_dismissed = |id| {
        Some(vec![prgate::policy::Dismissal {
            review_id: id,
            by: c.mallory.clone(),
            previous: ReviewState::Approved,
        }])
    };
    f.reviews
        .push(review(10, &c.alice, ReviewState::Dismissed, &head(), 1));
    f.dismissals = approval_dismissed(10);
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(notes_mention(&d, "dismissed by mallory"), "{:?}", d.notes);

    // An older approval does not come back when a later one is dismissed.
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &c.alice, ReviewState::Dismissed, &head(), 2));
    f.dismissals = approval_dismissed(11);
    assert_eq!(decide(&f).state, ApprovalState::Pending);
}

#[test]
fn dismissing_an_older_review_keeps_a_later_approval() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Dismissed, &head(), 1));
    f.reviews
        .push(review(11, &c.alice, ReviewState::Approved, &head(), 2));
    assert_eq!(decide(&f).state, ApprovalState::Success);
}

#[test]
fn a_comment_does_not_change_a_stance() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &c.alice, ReviewState::Commented, &head(), 2));
    f.reviews
        .push(review(12, &c.alice, ReviewState::Other, &head(), 3));
    assert_eq!(decide(&f).state, ApprovalState::Success);

    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews.push(review(
        10,
        &c.bob,
        ReviewState::ChangesRequested,
        &head(),
        1,
    ));
    f.reviews
        .push(review(11, &c.bob, ReviewState::Commented, &head(), 2));
    f.reviews
        .push(review(12, &c.alice, ReviewState::Approved, &head(), 3));
    assert_eq!(decide(&f).state, ApprovalState::Failure);
}

#[test]
fn the_latest_review_is_found_by_time_not_by_list_order() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // Listed newest first: the approval at minute 5 is the stance, not the change request.
    f.reviews
        .push(review(11, &c.bob, ReviewState::Approved, &head(), 5));
    f.reviews.push(review(
        10,
        &c.bob,
        ReviewState::ChangesRequested,
        &head(),
        1,
    ));
    assert_eq!(decide(&f).state, ApprovalState::Success);

    f.reviews.reverse();
    assert_eq!(decide(&f).state, ApprovalState::Success);

    // Same second: the higher review id is the later one.
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews.push(review(
        21,
        &c.bob,
        ReviewState::ChangesRequested,
        &head(),
        1,
    ));
    f.reviews
        .push(review(20, &c.bob, ReviewState::Approved, &head(), 1));
    assert_eq!(decide(&f).state, ApprovalState::Failure);
}

#[test]
fn attack_unmappable_commit_author_is_an_error() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.commits[0].author = None;
    f.commits[0].author_email = "x@y".into();
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Error);
    insta::assert_snapshot!(d.description, @"commit 1a2b3c4 has an author (x@y) that maps to no account; prgate cannot tell who wrote it");
}

#[test]
fn unmappable_committer_is_an_error_and_beats_a_change_request() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.commits[0].committer = None;
    f.commits[0].committer_email = "ci@build.local".into();
    f.reviews.push(review(
        10,
        &c.bob,
        ReviewState::ChangesRequested,
        &head(),
        1,
    ));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Error);
    assert!(
        d.description.contains("committer (ci@build.local)"),
        "{}",
        d.description
    );
}

#[test]
fn commit_list_without_the_head_is_an_error() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.commits[0].sha = sha(OLD);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Error);
    assert!(
        d.description.contains("does not include the head 1a2b3c4"),
        "{}",
        d.description
    );
}

fn two_team_policy() -> RepoPolicy {
    let text = r#"
version = 1

[defaults]
approvers = { teams = ["acme/maintainers"] }

[[rules]]
name = "network"
paths = ["net/**"]
approvers = { teams = ["acme/netops"] }

[[rules]]
name = "db"
paths = ["db/**", "**/*.sql"]
approvers = { teams = ["acme/dba"] }
executor = "migrate"

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { teams = ["acme/security"] }
"#;
    match parse_policy("two-teams", text) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn two_rules_need_two_different_teams() {
    let c = cast();
    let erin = user("erin", 11);
    let policy = two_team_policy();
    let mut f = pull(&c.agent, head(), &["net/fw.yml", "db/001.sql"]);
    with_team(&mut f, "acme/netops", &[&c.bob]);
    with_team(&mut f, "acme/dba", &[&erin]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Pending);
    insta::assert_snapshot!(d.description, @"needs 1 approval from acme/dba (db)");
    f.reviews
        .push(review(11, &erin, ReviewState::Approved, &head(), 2));
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Success);
    assert_eq!(d.approvals.len(), 2);
}

#[test]
fn one_person_may_satisfy_two_rules() {
    let c = cast();
    let frank = user("frank", 12);
    let policy = two_team_policy();
    let mut f = pull(&c.agent, head(), &["net/fw.yml", "db/001.sql"]);
    with_team(&mut f, "acme/netops", &[&frank]);
    with_team(&mut f, "acme/dba", &[&frank]);
    f.reviews
        .push(review(10, &frank, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Success, "{d:#?}");
    insta::assert_snapshot!(d.description, @"approved by frank (network, db)");
    assert_eq!(d.approvals.len(), 1);
    assert!(d.rules.iter().all(|r| r.approvals.len() == 1));
}

#[test]
fn a_file_matching_several_rules_needs_all_of_them() {
    let c = cast();
    let erin = user("erin", 11);
    let policy = two_team_policy();
    // net/schema.sql is under net/** and matches **/*.sql.
    let mut f = pull(&c.agent, head(), &["net/schema.sql"]);
    with_team(&mut f, "acme/netops", &[&c.bob]);
    with_team(&mut f, "acme/dba", &[&erin]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    let names: Vec<&str> = d.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["network", "db"]);
    assert_eq!(d.state, ApprovalState::Pending);
}

#[test]
fn an_approver_of_one_rule_does_not_count_for_another() {
    let c = cast();
    let policy = two_team_policy();
    let mut f = pull(&c.agent, head(), &["net/fw.yml", "db/001.sql"]);
    with_team(&mut f, "acme/netops", &[&c.bob]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    let network = d
        .rules
        .iter()
        .find(|r| r.name == "network")
        .map(|r| r.approvals.len());
    let db = d
        .rules
        .iter()
        .find(|r| r.name == "db")
        .map(|r| r.approvals.len());
    assert_eq!((network, db), (Some(1), Some(0)));
}

#[test]
fn a_team_missing_from_the_facts_has_no_members() {
    let c = cast();
    let mut f = pull(&c.agent, head(), &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    assert_eq!(decide(&f).state, ApprovalState::Pending);
}

#[test]
fn logins_compare_case_insensitively() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews.push(review(
        10,
        &user("ALICE", 1),
        ReviewState::Approved,
        &head(),
        1,
    ));
    assert_eq!(decide(&f).state, ApprovalState::Success);
}

#[test]
fn two_reviews_by_one_person_count_once() {
    let c = cast();
    let mut f = firewall_pr(&c, &[".github/prgate.toml"]);
    f.proposed_policy = ProposedPolicy::Valid;
    f.reviews
        .push(review(10, &c.carol, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &c.carol, ReviewState::Approved, &head(), 2));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert_eq!(d.rules[0].approvals.len(), 1);
    assert_eq!(d.rules[0].approvals[0].review_id, 11);
}

#[test]
fn draft_stays_pending() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.draft = true;
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    insta::assert_snapshot!(d.description, @"draft: needs 1 approval from alice or acme/netops (firewall)");
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    insta::assert_snapshot!(d.description, @"draft: mark the pull request ready for review");
}

#[test]
fn closed_or_merged_pr_is_never_success_but_a_merged_head_can_be_verified() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    f.state = PullState::Closed;
    assert_eq!(decide(&f).state, ApprovalState::Pending);
    assert_eq!(
        evaluate_final_head(&example_policy(), &f).state,
        ApprovalState::Pending
    );
    f.state = PullState::Merged;
    assert_eq!(decide(&f).state, ApprovalState::Pending);
    assert_eq!(
        evaluate_final_head(&example_policy(), &f).state,
        ApprovalState::Success
    );
}

#[test]
fn no_changed_files_fall_to_the_defaults() {
    let c = cast();
    let mut f = firewall_pr(&c, &[]);
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert_eq!(d.rules.len(), 1);
    assert_eq!(d.rules[0].name, "defaults");
    f.reviews
        .push(review(10, &c.mia, ReviewState::Approved, &head(), 1));
    assert_eq!(decide(&f).state, ApprovalState::Success);
}

#[test]
fn unmatched_files_fall_to_the_defaults() {
    let c = cast();
    let mut f = firewall_pr(&c, &["README.md", "firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    insta::assert_snapshot!(d.description, @"needs 1 approval from acme/maintainers (defaults)");
    f.reviews
        .push(review(11, &c.mia, ReviewState::Approved, &head(), 2));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Success);
    insta::assert_snapshot!(d.description, @"approved by alice (firewall), mia (defaults)");
}

#[test]
fn without_defaults_unmatched_files_need_no_approval() {
    let c = cast();
    let mut policy = example_policy();
    policy.defaults = None;
    let f = firewall_pr(&c, &["README.md"]);
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Success);
    assert!(d.rules.is_empty());
    assert!(
        d.description.starts_with("no approval needed"),
        "{}",
        d.description
    );
    // Still fail closed on who wrote it.
    let mut f = f;
    f.commits[0].author = None;
    assert_eq!(evaluate_approval(&policy, &f).state, ApprovalState::Error);
}

#[test]
fn an_invalid_base_policy_is_an_error() {
    let c = cast();
    let mut policy = example_policy();
    policy.rules[0].min_approvals = 0;
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Error);
    assert!(d.description.contains("is invalid"), "{}", d.description);

    let mut policy = example_policy();
    policy.rules[0].paths = vec!["firewall/[".into()];
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Error);
    // The gate still learns which teams it might need.
    assert!(teams_needed(&policy, &f.changed_files).contains(&team("acme/security")));
}

#[test]
fn description_is_always_under_140_characters() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    let mut no = review(10, &c.bob, ReviewState::ChangesRequested, &head(), 1);
    no.body = "é".repeat(50) + "\n\n" + &"this is far too long ".repeat(40);
    f.reviews.push(no);
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Failure);
    assert!(
        d.description.chars().count() <= MAX_DESCRIPTION_CHARS,
        "{}",
        d.description
    );
    assert!(d.description.ends_with('…'));
    assert!(!d.description.contains('\n'));

    // Many unsatisfied rules and many hints.
    let mut f = firewall_pr(
        &c,
        &["firewall/rules.yml", ".github/prgate.toml", "README.md"],
    );
    for i in 0..30 {
        let u = user(&format!("someone-with-a-long-name-{i}"), 1000 + i);
        f.reviews.push(review(
            2000 + i,
            &u,
            ReviewState::Approved,
            &head(),
            i as i64,
        ));
    }
    let d = decide(&f);
    assert!(d.description.chars().count() < 140, "{}", d.description);
    assert_eq!(d.notes.len(), 30);
}

#[test]
fn matched_rules_teams_and_executors() {
    let policy = two_team_policy();
    let files: Vec<String> = ["net/a", "db/b.sql", "README.md"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let m = matched_rules(&policy, &files);
    let names: Vec<&str> = m.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["network", "db", "defaults"]);
    assert_eq!(m[2].files, ["README.md"]);
    let teams: Vec<String> = teams_needed(&policy, &files)
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(teams, ["acme/dba", "acme/maintainers", "acme/netops"]);
    assert_eq!(executors_for(&policy, &files), ["migrate"]);
    assert!(executors_for(&policy, &["net/a".to_string()]).is_empty());
}

#[test]
fn glob_semantics() {
    let policy = parse_policy(
        "globs",
        r#"
version = 1
[[rules]]
name = "fw"
paths = ["firewall/**"]
approvers = { users = ["alice"] }
[[rules]]
name = "tf"
paths = ["*.tf"]
approvers = { users = ["alice"] }
[[rules]]
name = "dir"
paths = ["deploy"]
approvers = { users = ["alice"] }
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let compiled = CompiledPolicy::compile(&policy).unwrap_or_else(|e| panic!("{e}"));
    let rules_of = |path: &str| -> Vec<String> {
        compiled
            .matched_rules(&[path.to_string()])
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    assert_eq!(rules_of("firewall/a.yml"), ["fw"]);
    assert_eq!(rules_of("firewall/deep/er/a.yml"), ["fw"]);
    // A case variant is governed by the same rule: on a case-insensitive filesystem
    // `Firewall/a.yml` would be checked out over `firewall/a.yml`.
    assert_eq!(rules_of("Firewall/a.yml"), ["fw"]);
    assert_eq!(rules_of("FIREWALL/rules.toml"), ["fw"]);
    assert!(rules_of("firewallx/a.yml").is_empty());
    assert!(
        rules_of("x/firewall/a.yml").is_empty(),
        "a slash in a pattern anchors it at the root"
    );
    assert_eq!(rules_of("main.tf"), ["tf"]);
    // A pattern without a slash matches at any depth, as in CODEOWNERS (it used to match only
    // at the root, so modules/vpc/main.tf fell to the defaults).
    assert_eq!(rules_of("mod/main.tf"), ["tf"]);
    assert_eq!(rules_of("modules/vpc/main.tf"), ["tf"]);
    assert_eq!(rules_of("main.TF"), ["tf"], "a case variant is governed");
    assert_eq!(rules_of("deploy"), ["dir"]);
    assert_eq!(
        rules_of("deploy/prod/app.yml"),
        ["dir"],
        "a directory pattern covers its contents"
    );
    assert_eq!(
        rules_of("services/deploy/app.yml"),
        ["dir"],
        "and a slash-less folder name is found at any depth"
    );
}

/// The bug this semantics fixes: with `paths = ["*.tf"]`, a change to `modules/vpc/main.tf`
/// fell to `[defaults]`, and a maintainer alone approved it. Now the terraform rule governs it:
/// the maintainer's approval is not enough, the infra team's is.
#[test]
fn a_slashless_pattern_governs_files_in_every_folder() {
    let c = cast();
    let policy = parse_policy(
        "tf",
        r#"
version = 1
[defaults]
approvers = { teams = ["acme/maintainers"] }

[[rules]]
name = "terraform"
paths = ["*.tf"]
approvers = { teams = ["acme/infra"] }
executor = "terraform"

[[rules]]
name = "policy"
paths = ["/.github/prgate.toml"]
approvers = { teams = ["acme/security"] }
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let erin = user("erin", 11);
    let mut f = pull(&c.agent, head(), &["modules/vpc/main.tf"]);
    with_team(&mut f, "acme/maintainers", &[&c.bob]);
    with_team(&mut f, "acme/infra", &[&erin]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    let names: Vec<&str> = d.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["terraform"], "{d:#?}");
    assert_eq!(d.state, ApprovalState::Pending, "{d:#?}");
    assert!(d.description.contains("acme/infra"), "{}", d.description);
    assert_eq!(
        executors_for(&policy, &["modules/vpc/main.tf".to_string()]),
        ["terraform"]
    );
    f.reviews
        .push(review(11, &erin, ReviewState::Approved, &head(), 2));
    assert_eq!(evaluate_approval(&policy, &f).state, ApprovalState::Success);
}

#[test]
fn invalid_policy_text_reports_through_parse_policy() {
    let e = parse_policy("p", "version = 1\nrulez = []\n").expect_err("unknown key");
    assert!(
        matches!(
            e,
            ConfigError::Invalid {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn reviews_at_the_same_minute_from_different_people_are_independent() {
    let c = cast();
    let mut f = firewall_pr(&c, &[".github/prgate.toml"]);
    f.proposed_policy = ProposedPolicy::Valid;
    let mut r1 = review(10, &c.carol, ReviewState::Approved, &head(), 1);
    let mut r2 = review(11, &c.dave, ReviewState::Approved, &head(), 1);
    r1.submitted_at = Some(at(1));
    r2.submitted_at = None;
    f.reviews = vec![r1, r2];
    assert_eq!(decide(&f).state, ApprovalState::Success);
}

#[test]
fn switching_policies_on_one_thread_uses_the_right_one() {
    // evaluate_approval keeps the last compiled policy; a different policy must not reuse it.
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.alice, ReviewState::Approved, &head(), 1));
    let strict = {
        let mut p = example_policy();
        p.rules[0].approvers.users.clear();
        p
    };
    assert_eq!(
        evaluate_approval(&example_policy(), &f).state,
        ApprovalState::Success
    );
    assert_eq!(evaluate_approval(&strict, &f).state, ApprovalState::Pending);
    assert_eq!(
        evaluate_approval(&example_policy(), &f).state,
        ApprovalState::Success
    );
}

// --- who pushed, when reviews were given, what the executor runs (issue: five bypasses) ---

#[test]
fn attack_a_designated_approver_who_pushed_under_the_agents_name_cannot_approve() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // bob (netops) pushed a commit whose author and committer emails are the agent's.
    f.commits[0].pushed_by = Some(c.bob.clone());
    f.head_pushers = Some(vec![c.agent.clone(), c.bob.clone()]);
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending, "{}", d.description);
    assert!(
        d.description
            .contains("bob's approval does not count: bob pushed to the head branch"),
        "{}",
        d.description
    );
}

#[test]
fn attack_an_agent_forging_a_reviewers_email_blocks_them_and_is_named() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    // The agent pushed a commit claiming bob as its author: bob is blocked (fail closed),
    // and the description says who really pushed it.
    f.commits[0].author = Some(c.bob.clone());
    f.commits[0].pushed_by = Some(c.agent.clone());
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        d.description
            .contains("bob authored commit 1a2b3c4, pushed by ops-agent[bot]"),
        "{}",
        d.description
    );
}

#[test]
fn a_stance_judged_without_knowing_the_pushers_is_an_error() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.head_pushers = None;
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Error);
    assert!(d.description.contains("who pushed"), "{}", d.description);
}

#[test]
fn attack_an_approval_given_after_the_merge_never_counts() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.state = PullState::Merged;
    f.merged_at = Some(at(10));
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 20));
    let d = evaluate_final_head(&example_policy(), &f);
    assert_ne!(d.state, ApprovalState::Success);
    assert!(
        notes_mention(
            &d,
            "approval by bob (review 10) does not count: it was submitted after the merge"
        ),
        "{:?}",
        d.notes
    );
    // The same approval before the merge holds.
    f.reviews[0].submitted_at = Some(at(5));
    assert_eq!(
        evaluate_final_head(&example_policy(), &f).state,
        ApprovalState::Success
    );
}

#[test]
fn a_change_request_after_the_merge_takes_nothing_back() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.state = PullState::Merged;
    f.merged_at = Some(at(10));
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 5));
    let mut late = review(11, &c.bob, ReviewState::ChangesRequested, &head(), 30);
    late.body = "too late".into();
    f.reviews.push(late);
    assert_eq!(
        evaluate_final_head(&example_policy(), &f).state,
        ApprovalState::Success
    );
}

#[test]
fn attack_an_approval_given_before_a_retarget_does_not_count() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.base_changed_at = Some(at(10));
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 5));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Pending);
    assert!(
        d.description.contains(
            "bob's approval does not count: it was given before the base branch changed to main"
        ),
        "{}",
        d.description
    );
    f.reviews
        .push(review(11, &c.bob, ReviewState::Approved, &head(), 15));
    assert_eq!(decide(&f).state, ApprovalState::Success);
}

fn programs() -> prgate::policy::ProgramPaths {
    [(
        "firewall".to_string(),
        vec!["scripts/apply-firewall.sh".to_string()],
    )]
    .into_iter()
    .collect()
}

#[test]
fn attack_a_change_to_the_executors_script_needs_the_rules_approvers() {
    let c = cast();
    let policy = prgate::policy::govern_programs(&example_policy(), &programs());
    let mut f = firewall_pr(&c, &["scripts/apply-firewall.sh"]);
    // A maintainer (the defaults' approver) is not enough.
    f.reviews
        .push(review(10, &c.mia, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Pending, "{}", d.description);
    assert!(d.description.contains("(firewall)"), "{}", d.description);
    assert_eq!(
        executors_for(&policy, &["scripts/apply-firewall.sh".into()]),
        vec!["firewall".to_string()]
    );
    f.reviews
        .push(review(11, &c.bob, ReviewState::Approved, &head(), 2));
    assert_eq!(evaluate_approval(&policy, &f).state, ApprovalState::Success);
    // Without the program paths, the script falls to the defaults.
    assert_eq!(
        matched_rules(&example_policy(), &["scripts/apply-firewall.sh".into()])[0].name,
        "defaults"
    );
}

#[test]
fn policy_check_reports_an_executor_program_no_rule_running_it_covers() {
    let run: std::collections::BTreeMap<String, Vec<String>> = [(
        "firewall".to_string(),
        vec!["scripts/apply-firewall.sh".to_string()],
    )]
    .into_iter()
    .collect();
    let found = prgate::policy::uncovered_programs(&example_policy(), &Default::default(), &run);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, "firewall");
    assert_eq!(found[0].path, "scripts/apply-firewall.sh");
    assert!(prgate::policy::uncovered_programs(&example_policy(), &programs(), &run).is_empty());
}

#[test]
fn reviews_are_requested_from_those_who_could_approve() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    let d = decide(&f);
    let asked = prgate::policy::reviewers_to_request(&example_policy(), &f, &d);
    assert_eq!(asked.users, vec![c.alice.login.clone()]);
    assert_eq!(asked.teams, vec![team("acme/netops")]);
    // alice pushed to the branch: asking her would only invite an approval that cannot count.
    f.head_pushers = Some(vec![c.agent.clone(), c.alice.clone()]);
    let asked = prgate::policy::reviewers_to_request(&example_policy(), &f, &d);
    assert!(asked.users.is_empty(), "{asked:?}");
    // Nothing is asked once the rule is satisfied.
    f.reviews
        .push(review(10, &c.bob, ReviewState::Approved, &head(), 1));
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Success);
    assert!(prgate::policy::reviewers_to_request(&example_policy(), &f, &d).is_empty());
}

/// The decision page lists every review with what it meant, in the engine's own words.
#[test]
fn every_review_has_a_verdict_for_the_decision_page() {
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &c.mallory, ReviewState::Approved, &head(), 1));
    f.reviews
        .push(review(11, &c.alice, ReviewState::Approved, &sha(OLD), 2));
    f.reviews
        .push(review(12, &c.bob, ReviewState::Commented, &head(), 3));
    f.reviews
        .push(review(13, &c.bob, ReviewState::Approved, &head(), 4));
    f.reviews.push(review(
        14,
        &c.carol,
        ReviewState::ChangesRequested,
        &head(),
        5,
    ));
    f.reviews
        .push(review(15, &c.dave, ReviewState::Approved, &head(), 6));
    f.reviews
        .push(review(16, &c.dave, ReviewState::Approved, &head(), 7));
    let d = decide(&f);
    let verdict = |id: u64| d.reviews.iter().find(|r| r.review_id == id).unwrap();
    assert_eq!(d.reviews.len(), 7);
    assert!(!verdict(10).counts);
    assert_eq!(
        verdict(10).why_not.as_deref(),
        Some("mallory is not a designated approver of firewall")
    );
    assert!(
        verdict(11)
            .why_not
            .as_deref()
            .is_some_and(|w| w.starts_with("it is for 0") && w.contains("not the head")),
        "{:?}",
        verdict(11)
    );
    assert_eq!(
        verdict(12).why_not.as_deref(),
        Some("a comment takes no stance")
    );
    assert!(verdict(13).counts);
    assert_eq!(verdict(13).counted_for, vec!["firewall".to_string()]);
    assert_eq!(verdict(13).stance, "approved");
    // carol is not designated for firewall files: her change request does not block.
    assert!(!verdict(14).counts);
    assert_eq!(verdict(14).stance, "changes requested");
    assert_eq!(
        verdict(15).why_not.as_deref(),
        Some("dave's later review 16 replaces it")
    );
    // Every reason the verdicts give is also among the decision's notes.
    for r in d.reviews.iter().filter(|r| r.stance != "commented") {
        if let Some(why) = &r.why_not
            && !why.contains("replaces it")
        {
            assert!(notes_mention(&d, why), "{why} not in {:?}", d.notes);
        }
    }
}

/// The agent (or any writer) dismisses a designated approver's "no": it still stands, and
/// the description names who dismissed it. Only an eligible approver of the same rule, or
/// the reviewer's own approval, clears it.
#[test]
fn attack_a_dismissed_change_request_still_blocks_unless_an_approver_dismissed_it() {
    use prgate::policy::Dismissal;
    let c = cast();
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    let mut no = review(10, &c.alice, ReviewState::Dismissed, &head(), 1);
    no.body = "port 22 stays closed".into();
    f.reviews.push(no);
    f.reviews
        .push(review(11, &c.bob, ReviewState::Approved, &head(), 2));
    let dismissed_by = |who: &prgate::policy::Account, previous| {
        Some(vec![Dismissal {
            review_id: 10,
            by: who.clone(),
            previous,
        }])
    };
    for writer in [&c.agent, &c.mallory, &c.carol] {
        f.dismissals = dismissed_by(writer, ReviewState::ChangesRequested);
        let d = decide(&f);
        assert_eq!(d.state, ApprovalState::Failure, "{}: {d:#?}", writer.login);
        assert!(
            d.description.starts_with("changes requested by alice"),
            "{}",
            d.description
        );
        assert_eq!(d.denials[0].review_id, 10);
        assert!(
            d.denials[0].reason.contains(&format!(
                "dismissed by {}, who is not an eligible approver of firewall",
                writer.login
            )),
            "{}",
            d.denials[0].reason
        );
    }
    // bob may approve the firewall change himself: his dismissal clears alice's "no".
    f.dismissals = dismissed_by(&c.bob, ReviewState::ChangesRequested);
    assert_eq!(decide(&f).state, ApprovalState::Success);
    // A dismissed approval is simply gone, whoever dismissed it.
    f.dismissals = dismissed_by(&c.agent, ReviewState::Approved);
    assert_eq!(decide(&f).state, ApprovalState::Success);
    // Alice's own new approval clears her "no" whoever dismissed it.
    f.dismissals = dismissed_by(&c.agent, ReviewState::ChangesRequested);
    f.reviews
        .push(review(12, &c.alice, ReviewState::Approved, &head(), 3));
    assert_eq!(decide(&f).state, ApprovalState::Success);
    f.reviews.pop();
    // Who dismissed it could not be read: fail closed.
    f.dismissals = None;
    let d = decide(&f);
    assert_eq!(d.state, ApprovalState::Error, "{d:#?}");
    assert!(d.description.contains("dismissed"), "{}", d.description);
}

/// An unpinned approver (`alice`) is the account that held the login when the policy named it:
/// an account created after that commit registered the login once it was released, and its
/// approval never counts; the status names the account and the dates. Without knowing when the
/// reviewers' accounts were created, a stance is an error.
#[test]
fn attack_a_login_registered_after_the_policy_named_it_does_not_approve() {
    let c = cast();
    let mut policy = example_policy();
    policy.rules[0].approvers.users = vec![prgate::types::Login::new("alice")];
    policy.rules[0].approvers.teams.clear();
    let squatter = user("alice", 999);
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &squatter, ReviewState::Approved, &head(), 1));
    // No account is younger than the policy's naming of its login: the approval counts.
    assert_eq!(evaluate_approval(&policy, &f).state, ApprovalState::Success);
    f.registered_after = Some(vec![prgate::policy::RegisteredAfter {
        id: squatter.id,
        login: squatter.login.clone(),
        created_at: at(0),
        named_at: Some(at(-60 * 24 * 400)),
    }]);
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Pending, "{d:#?}");
    assert_eq!(
        d.notes,
        vec![
            "approval by alice (review 10) does not count: alice is account 999, created 2026-11-21 after the policy named the login on 2025-10-17: a released login registered again"
        ],
        "{d:#?}"
    );
    assert!(
        d.description
            .contains("alice is account 999, created 2026-11-21"),
        "{}",
        d.description
    );
    // Not read at all: fail closed.
    f.registered_after = None;
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Error, "{d:#?}");
    assert!(
        d.description
            .contains("when the reviewers' accounts were created"),
        "{}",
        d.description
    );
}

/// A pinned approver (`alice#1`) is that account, whatever its login is today: a new account
/// that registered the released login `alice` is not it, and alice renamed still is.
#[test]
fn attack_a_released_login_does_not_approve_for_a_pinned_approver() {
    let c = cast();
    let mut policy = example_policy();
    policy.rules[0].approvers.users =
        vec![prgate::types::Login::new(format!("alice#{}", c.alice.id.0))];
    policy.rules[0].approvers.teams.clear();
    let squatter = user("alice", 999);
    let mut f = firewall_pr(&c, &["firewall/rules.yml"]);
    f.reviews
        .push(review(10, &squatter, ReviewState::Approved, &head(), 1));
    let d = evaluate_approval(&policy, &f);
    assert_eq!(d.state, ApprovalState::Pending, "{d:#?}");
    assert!(
        d.description.contains("alice's approval does not count"),
        "{}",
        d.description
    );
    // The pinned account, renamed, approves: it counts.
    let renamed = user("alice-old", c.alice.id.0);
    f.reviews
        .push(review(11, &renamed, ReviewState::Approved, &head(), 2));
    assert_eq!(evaluate_approval(&policy, &f).state, ApprovalState::Success);
}
