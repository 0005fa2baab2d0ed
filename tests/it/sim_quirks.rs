//! Where GitHub is surprising, the simulator is equally surprising, because that is where
//! bypasses hide: `base.sha` is not refreshed, reviews land on merged PRs, a retarget is an
//! issue event, and review requests follow GitHub's rules. See docs/simulator.md.

use crate::common::harness::*;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";

async fn open(w: &World, branch: &str) -> (u64, String) {
    let head = w.commit_and_push(
        branch,
        &[("firewall/rules.toml", &format!("# {branch}\n"))],
        "ops-agent[bot]",
        "ops-agent[bot]",
        branch,
    );
    (w.open_pr(AGENT, branch, "main", branch).await, head)
}

#[tokio::test]
async fn base_sha_is_not_refreshed_when_the_base_moves() {
    let w = World::start_without_gate(POLICY).await;
    let tip_then = w.git_out(&["rev-parse", "origin/main"]);
    let (n, _) = open(&w, "stale-base").await;
    assert_eq!(w.pull(n).await["base"]["sha"], json!(tip_then));
    w.commit_and_push(
        "main",
        &[("README.md", "moved\n")],
        "root",
        "root",
        "move main",
    );
    w.sim.settle().await;
    let tip_now = w.git_out(&["rev-parse", "origin/main"]);
    assert_ne!(tip_then, tip_now);
    assert_eq!(
        w.pull(n).await["base"]["sha"],
        json!(tip_then),
        "GitHub does not refresh base.sha when the base branch moves"
    );
    // A push to the head refreshes it.
    w.commit_and_push(
        "stale-base",
        &[("firewall/more.toml", "x\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "more",
    );
    w.sim.settle().await;
    assert_eq!(w.pull(n).await["base"]["sha"], json!(tip_now));
    w.shutdown().await;
}

#[tokio::test]
async fn reviews_are_accepted_on_a_merged_pr() {
    let w = World::start_without_gate(POLICY).await;
    let (n, _) = open(&w, "merged-review").await;
    let (s, v) = w
        .api(
            "root-token",
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = w
        .review("alice-token", n, "APPROVE", None, "after the fact")
        .await;
    assert_eq!(s, 200, "GitHub accepts an approval on a merged PR: {v}");
    assert_eq!(v["state"], json!("APPROVED"));
    w.shutdown().await;
}

#[tokio::test]
async fn a_retarget_is_an_issue_event() {
    let w = World::start_without_gate(POLICY).await;
    w.commit_and_push("dev", &[("README.md", "dev\n")], "root", "root", "dev");
    let head = w.commit_and_push(
        "to-dev",
        &[("firewall/rules.toml", "allow = [1]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "to-dev", "dev", "to dev").await;
    let dev_tip = w.git_out(&["rev-parse", "origin/dev"]);
    assert_eq!(w.pull(n).await["base"]["sha"], json!(dev_tip));
    let (s, v) = w
        .api(
            AGENT,
            Method::PATCH,
            &format!("/repos/{REPO}/pulls/{n}"),
            Some(json!({"base": "main"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let main_tip = w.git_out(&["rev-parse", "origin/main"]);
    assert_eq!(
        v["base"]["sha"],
        json!(main_tip),
        "a retarget refreshes base.sha"
    );
    assert_eq!(v["head"]["sha"], json!(head));
    let (s, events) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/events"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let changed: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "base_ref_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{events}");
    assert_eq!(changed[0]["actor"]["login"], json!("ops-agent[bot]"));
    assert!(changed[0]["created_at"].is_string());
    w.shutdown().await;
}

#[tokio::test]
async fn review_requests_follow_githubs_rules() {
    let w = World::start_without_gate(POLICY).await;
    let (n, head) = open(&w, "asks").await;
    let path = format!("/repos/{REPO}/pulls/{n}/requested_reviewers");
    let ask = |body: serde_json::Value| w.api(AGENT, Method::POST, &path, Some(body));
    let (s, v) = ask(json!({"reviewers": ["ops-agent[bot]"]})).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Review cannot be requested from pull request author"),
        "{v}"
    );
    let (s, v) = ask(json!({"reviewers": ["nobody-here"]})).await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = ask(json!({"team_reviewers": ["no-such-team"]})).await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = ask(json!({"reviewers": ["alice"], "team_reviewers": ["netops"]})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["requested_reviewers"][0]["login"], json!("alice"), "{v}");
    assert_eq!(v["requested_teams"][0]["slug"], json!("netops"), "{v}");
    let (_, listed) = w.api("root-token", Method::GET, &path, None).await;
    assert_eq!(listed["users"][0]["login"], json!("alice"), "{listed}");
    assert_eq!(listed["teams"][0]["slug"], json!("netops"), "{listed}");
    // Reviewing answers the request.
    w.review("alice-token", n, "APPROVE", Some(&head), "ok")
        .await;
    let (_, listed) = w.api("root-token", Method::GET, &path, None).await;
    assert_eq!(listed["users"], json!([]), "{listed}");
    assert_eq!(listed["teams"][0]["slug"], json!("netops"), "{listed}");
    w.shutdown().await;
}
