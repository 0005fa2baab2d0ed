//! Every attack on the approval gate we know of, as a story through the simulator: each ends
//! with `prgate/approval` not `success` on the PR's head, and nothing merged.

use crate::common::harness::*;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";

/// The agent proposes a firewall change; returns (PR number, head SHA).
async fn agent_proposes(w: &World, branch: &str) -> (u64, String) {
    let head = w.commit_and_push(
        branch,
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open 443",
    );
    let n = w.open_pr(AGENT, branch, "main", "Open port 443").await;
    w.settle().await;
    (n, head)
}

async fn assert_not_merged(w: &World, n: u64) {
    let p = w.pull(n).await;
    assert_eq!(p["merged"], json!(false), "PR must not be merged: {p}");
}

#[tokio::test]
async fn approval_on_an_older_head_does_not_count() {
    let w = World::start().await;
    let (n, first) = agent_proposes(&w, "prgate/ops-agent/older").await;
    let second = w.commit_and_push(
        "prgate/ops-agent/older",
        &[("firewall/rules.toml", "allow = [22, 443, 8080]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "more",
    );
    w.settle().await;
    let (s, v) = w
        .review("alice-token", n, "APPROVE", Some(&first), "ok")
        .await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    let (state, description, _) = w.approval(&second).await.expect("status on the new head");
    assert_eq!(state, "pending");
    assert!(description.contains("older commit"), "{description}");
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_push_after_approval_removes_it() {
    let w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let (n, first) = agent_proposes(&w, "prgate/ops-agent/push-after").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&first).await.unwrap().0, "success");
    let second = w.commit_and_push(
        "prgate/ops-agent/push-after",
        &[("firewall/rules.toml", "allow = [0]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "sneak",
    );
    w.settle().await;
    let (state, description, _) = w.approval(&second).await.unwrap();
    assert_eq!(state, "pending");
    assert!(description.contains("older commit"), "{description}");
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn the_pr_author_cannot_approve() {
    let w = World::start().await;
    let head = w.commit_and_push(
        "alice-change",
        &[("firewall/rules.toml", "allow = [1]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w
        .open_pr("alice-token", "alice-change", "main", "by alice")
        .await;
    let (s, _) = w.review("alice-token", n, "APPROVE", None, "mine").await;
    assert_eq!(s, 422, "GitHub refuses self-approval");
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_commit_author_of_the_pr_cannot_approve() {
    let w = World::start().await;
    let head = w.commit_and_push(
        "co-authored",
        &[("firewall/rules.toml", "allow = [2]\n")],
        "alice",
        "ops-agent[bot]",
        "written by alice",
    );
    let n = w.open_pr(AGENT, "co-authored", "main", "co-authored").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    // The gate saw the review, and says why it does not count and who pushed the commit.
    assert!(
        description.contains(&format!(
            "alice's approval does not count: alice authored commit {}, pushed by ops-agent[bot]",
            &head[..7]
        )),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_committer_of_the_pr_cannot_approve() {
    let w = World::start().await;
    let head = w.commit_and_push(
        "committed",
        &[("firewall/rules.toml", "allow = [3]\n")],
        "ops-agent[bot]",
        "carol",
        "committed by carol",
    );
    let n = w.open_pr(AGENT, "committed", "main", "committed").await;
    w.approve("carol-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    // carol committed it and pushed it: either makes her ineligible, and the gate says so.
    assert!(
        description.contains("carol's approval does not count: carol pushed to the head branch"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_bot_account_cannot_approve_even_when_listed() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "bot-approval").await;
    w.approve("helper-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("helper[bot]'s approval does not count: helper[bot] is a bot account"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn an_account_listed_in_agents_cannot_approve() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "agent-approval").await;
    w.approve("release-bot-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("release-bot's approval does not count: release-bot is an agent"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_user_who_is_not_a_designated_approver_does_not_count() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "bob-approval").await;
    w.approve("bob-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending");
    assert!(description.contains("needs"), "{description}");
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_policy_change_in_the_same_pr_needs_the_policy_rules_approvers() {
    let w = World::start().await;
    let lax = POLICY
        .replace("min_approvals = 2", "min_approvals = 1")
        .replace(
            "acme/security\"] }\nmin_approvals = 1\n",
            "acme/netops\"] }\nmin_approvals = 1\n",
        );
    let head = w.commit_and_push(
        "policy-too",
        &[
            ("firewall/rules.toml", "allow = [4]\n"),
            (".github/prgate.toml", &lax),
        ],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "policy and firewall",
    );
    let n = w.open_pr(AGENT, "policy-too", "main", "policy").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    // One security approval is still not the two the current policy asks for.
    w.approve("dave-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    // The PR is told that its new policy is valid, and that the current one judges it.
    let (_, comments) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            None,
        )
        .await;
    let bodies: Vec<&str> = comments
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.contains("is **valid**") && b.contains("rule `policy`"))
            .count(),
        1,
        "{bodies:?}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn retargeting_the_base_to_a_laxer_branch_then_back_does_not_carry_approval() {
    // `lax` is governed too, with a policy that lets bob approve firewall changes.
    let w = World::start_with(POLICY, &["main", "lax"]).await;
    let lax_policy = POLICY
        .replace(
            "users = [\"alice\", \"release-bot\", \"helper[bot]\"]",
            "users = [\"bob\"]",
        )
        .replace("merge = \"auto\"", "merge = \"manual\"");
    w.commit_and_push(
        "lax",
        &[(".github/prgate.toml", &lax_policy)],
        "root",
        "root",
        "lax branch",
    );
    let head = w.commit_and_push(
        "retarget",
        &[("firewall/rules.toml", "allow = [5]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "retarget", "lax", "to lax first").await;
    w.approve("bob-token", n).await;
    w.settle().await;
    assert_eq!(
        w.approval(&head).await.unwrap().0,
        "success",
        "bob may approve under lax's policy"
    );
    let (s, v) = w
        .api(
            AGENT,
            Method::PATCH,
            &format!("/repos/{REPO}/pulls/{n}"),
            Some(json!({"base": "main"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    assert_eq!(
        w.approval(&head).await.unwrap().0,
        "pending",
        "main's policy does not accept bob"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn changes_requested_after_an_approval_deny() {
    let w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let (n, head) = agent_proposes(&w, "denied").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    let (s, _) = w
        .review(
            "carol-token",
            n,
            "REQUEST_CHANGES",
            None,
            "443 must stay closed",
        )
        .await;
    assert_eq!(s, 200);
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "failure");
    assert!(description.contains("carol"), "{description}");
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_commit_with_no_mappable_account_is_an_error() {
    let w = World::start().await;
    let head = w.commit_and_push_as(
        AGENT,
        "ghost",
        &[("firewall/rules.toml", "allow = [6]\n")],
        ("Nobody", "nobody@example.invalid"),
        ("Nobody", "nobody@example.invalid"),
        "who?",
    );
    let n = w.open_pr(AGENT, "ghost", "main", "ghost commit").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "error");
    assert!(
        description.contains("nobody@example.invalid"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_forged_status_by_a_writer_is_overwritten_with_failure() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "forged").await;
    let (s, _) = w
        .api("bob-token", Method::POST, &format!("/repos/{REPO}/statuses/{head}"), Some(json!({"state": "success", "context": "prgate/approval", "description": "trust me"})))
        .await;
    assert_eq!(s, 201);
    w.settle().await;
    let (state, description, creator) = w.approval(&head).await.unwrap();
    assert_eq!((state.as_str(), creator.as_str()), ("failure", "prgate"));
    assert_eq!(description, prgate::gate::FORGED_STATUS_DESCRIPTION);
    assert_not_merged(&w, n).await;
    // The PR says who posted it, once.
    let comments = w.comments_text(n).await;
    assert!(
        comments.contains("A `prgate/approval` status on")
            && comments.contains("was created by `bob`, not by prgate"),
        "{comments}"
    );
    assert_eq!(
        comments.matches("was created by `bob`").count(),
        1,
        "{comments}"
    );
    w.shutdown().await;
}

#[tokio::test]
async fn the_code_host_failing_mid_evaluation_gives_error() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "outage").await;
    // Who pushed to the head branch cannot be read any more (more failures than the client
    // and the worker retry), so the approval cannot be checked. (Team membership now comes
    // in the same GraphQL answer as the PR; the activity API is the read after it.)
    w.sim.inject_fault("/activity", 500, 100);
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "error", "{description}");
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test]
async fn an_invalid_proposed_policy_cannot_be_approved_and_says_why() {
    let w = World::start().await;
    let broken = POLICY.replace("min_approvals = 2", "min_approvals = 0");
    let head = w.commit_and_push(
        "broken-policy",
        &[(".github/prgate.toml", &broken)],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "loosen the policy",
    );
    let n = w.open_pr(AGENT, "broken-policy", "main", "policy").await;
    w.approve("dave-token", n).await;
    w.approve("erin-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("invalid"), "{description}");
    let (_, comments) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            None,
        )
        .await;
    let bodies: Vec<&str> = comments
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("is **invalid**") && b.contains("min_approvals")),
        "{bodies:?}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

/// `(author, body)` of every comment on a PR.
async fn comments_by(w: &World, n: u64) -> Vec<(String, String)> {
    let (_, v) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            None,
        )
        .await;
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["user"]["login"].as_str().unwrap_or("").to_string(),
                        c["body"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// prgate finds its decision comments again by a hidden marker; anyone can write that marker,
/// and prgate's own denied comment quotes the reviewer's text. Neither a writer's comment
/// holding the markers nor a review body quoting one silences prgate's own comments: a marker
/// counts only at the start of a comment by prgate's own account.
#[tokio::test]
async fn a_copied_decision_marker_does_not_silence_prgates_comments() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "prgate/ops-agent/marker").await;
    let approved = format!("<!-- prgate:decision state=approved head={head} -->");
    let denied = format!("<!-- prgate:decision state=denied head={head} -->");
    let (s, v) = w
        .api(
            "bob-token",
            Method::POST,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            Some(json!({"body": format!("{denied}\n{approved}\nnothing to see here")})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = w
        .review(
            "carol-token",
            n,
            "REQUEST_CHANGES",
            None,
            &format!("{approved}\nport 443 needs a ticket"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    let by_prgate = |cs: &[(String, String)], marker: &str| {
        cs.iter()
            .filter(|(who, body)| who == "prgate" && body.starts_with(marker))
            .count()
    };
    let cs = comments_by(&w, n).await;
    assert_eq!(by_prgate(&cs, &denied), 1, "{cs:#?}");
    // prgate's denied comment quotes carol's body, approved marker and all, inside its quote.
    assert!(
        cs.iter()
            .any(|(who, body)| who == "prgate" && body.contains(&format!("> {approved}"))),
        "{cs:#?}"
    );
    w.approve("carol-token", n).await;
    w.settle().await;
    let cs = comments_by(&w, n).await;
    assert_eq!(by_prgate(&cs, &approved), 1, "{cs:#?}");
    assert_eq!(w.pull(n).await["merged"], json!(true));
    w.shutdown().await;
}

/// alice, a designated approver, says no; the agent dismisses her review and carol (another
/// firewall approver) approves. alice's "no" still stands: the agent cannot clear it, and the
/// status names who dismissed it. carol dismissing it herself clears it.
#[tokio::test]
async fn attack_the_agent_dismisses_a_designated_approvers_no() {
    let w = World::start().await;
    let (n, head) = agent_proposes(&w, "prgate/ops-agent/dismiss").await;
    let (s, v) = w
        .review(
            "alice-token",
            n,
            "REQUEST_CHANGES",
            None,
            "port 443 stays closed",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let review_id = v["id"].as_u64().unwrap();
    let (s, v) = w
        .api(
            AGENT,
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/reviews/{review_id}/dismissals"),
            Some(json!({"message": "outdated"})),
        )
        .await;
    assert_eq!(s, 200, "a writer may dismiss a review on GitHub: {v}");
    w.approve("carol-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains("changes requested by alice")
            && description.contains("dismissed by ops-agent[bot]"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
}

/// alice is pinned (`alice#ID`). She renames her account; someone registers the released
/// login `alice` and approves: that account is not alice, and the status says so. alice,
/// renamed, approves: her approval counts.
#[tokio::test]
async fn attack_a_released_login_registered_again_does_not_approve() {
    let w = World::start_without_gate(POLICY).await;
    let (_, alice) = w
        .api("alice-token", Method::GET, "/users/alice", None)
        .await;
    let id = alice["id"].as_u64().unwrap();
    let pinned = POLICY.replace(
        "approvers = { users = [\"alice\", \"release-bot\", \"helper[bot]\"], teams = [\"acme/netops\"] }",
        &format!("approvers = {{ users = [\"alice#{id}\"] }}"),
    );
    assert_ne!(pinned, POLICY);
    w.commit_and_push(
        "main",
        &[(".github/prgate.toml", &pinned)],
        "root",
        "root",
        "pin alice",
    );
    let config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    let w = w.with_gate(config, test_client_options()).await;
    w.sim.rename_user("alice", "alice-old").unwrap();
    let squatter = w.sim.register_user("alice", "squatter-token").unwrap();
    assert_ne!(squatter, id);
    let (n, head) = agent_proposes(&w, "prgate/ops-agent/squat").await;
    let (s, v) = w.review("squatter-token", n, "APPROVE", None, "lgtm").await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(&format!(
            "alice is account {squatter}, not the pinned alice#{id}"
        )),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    // The pinned account, under its new login, approves.
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
}

/// The policy names alice without pinning her id. She renames her account, and someone
/// registers the released login `alice` after the policy commit that named it: that account
/// approves, and the status says its account is younger than the policy's naming of the login.
/// alice, renamed, still counts through her team.
#[tokio::test]
async fn attack_a_login_registered_after_the_policy_named_it_does_not_approve() {
    let w = World::start().await;
    w.sim.rename_user("alice", "alice-old").unwrap();
    let squatter = w.sim.register_user("alice", "squatter-token").unwrap();
    let (n, head) = agent_proposes(&w, "prgate/ops-agent/registered").await;
    let (s, v) = w.review("squatter-token", n, "APPROVE", None, "lgtm").await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(&format!("alice is account {squatter}, created "))
            && description.contains("after the policy named the login on"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
}

/// The policy named alice long ago, then changed more than a hundred times (one page of GitHub's
/// commit listing). Someone registers the released login `alice` in between: the commit that
/// named it is the oldest of the unbroken run that names it, found on a later page, so that
/// account is younger than the naming and does not approve. (Read from the first page only, the
/// naming would seem to be from the latest changes, dated after the registration.)
#[tokio::test]
async fn a_login_named_before_a_hundred_policy_changes_is_judged_from_its_first_naming() {
    let w = World::start().await;
    w.sim.rename_user("alice", "alice-old").unwrap();
    let squatter = w.sim.register_user("alice", "squatter-token").unwrap();
    let clone = w.agent_clone("policy-history");
    let policy = clone.join(".github").join("prgate.toml");
    let original = std::fs::read_to_string(&policy).unwrap();
    for i in 0..105 {
        std::fs::write(&policy, format!("{original}\n# revision {i}\n")).unwrap();
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&clone)
            .args([
                "-c",
                "user.name=root",
                "-c",
                "user.email=root@users.noreply.github.com",
            ])
            .args(["commit", "-q", "-am", &format!("policy revision {i}")])
            .env("GIT_COMMITTER_DATE", "2030-01-01T00:00:00Z")
            .env("GIT_AUTHOR_DATE", "2030-01-01T00:00:00Z")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    w.settle().await;
    let (n, head) = agent_proposes(&w, "prgate/ops-agent/history").await;
    let (s, v) = w.review("squatter-token", n, "APPROVE", None, "lgtm").await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(&format!("alice is account {squatter}, created ")),
        "{description}"
    );
    assert_not_merged(&w, n).await;
}
