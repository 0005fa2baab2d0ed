//! The good paths of the gate through the simulator: approval on the head gives `success` and
//! an auto-merge pinned to that head with the trailers; several rules; dismissal.

use crate::common::harness::*;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";

#[tokio::test]
async fn one_designated_approval_merges_with_head_pinned_and_trailers() {
    let w = World::start().await;
    let head = w.commit_and_push(
        "prgate/ops-agent/open-443",
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open 443",
    );
    let n = w
        .open_pr(AGENT, "prgate/ops-agent/open-443", "main", "Open port 443")
        .await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending");
    assert!(description.contains("firewall"), "{description}");

    let review_id = w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    let pull = w.pull(n).await;
    assert_eq!(pull["merged"], json!(true), "{pull}");
    let merge = pull["merge_commit_sha"].as_str().unwrap().to_string();
    assert_eq!(w.git_out(&["rev-parse", &format!("{merge}^2")]), head);
    let message = w.git_out(&["log", "-1", "--format=%B", &merge]);
    let trailers = prgate::record::trailers::ApprovalTrailers::parse(&message)
        .expect("trailers in the merge message");
    assert_eq!(trailers.pull.to_string(), format!("{REPO}#{n}"));
    assert_eq!(trailers.head.as_str(), head);
    let policy_blob = w.git_out(&["rev-parse", &format!("{merge}^1:.github/prgate.toml")]);
    assert_eq!(trailers.policy_blob.as_str(), policy_blob);
    assert_eq!(trailers.approvals.len(), 1);
    assert_eq!(trailers.approvals[0].login, "alice");
    assert_eq!(trailers.approvals[0].review_id, review_id);

    // What an operator sees: metrics and the dashboard.
    let metrics = w
        .http
        .get(format!("{}/metrics", w.gate().admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "prgate_decisions_total{state=\"success\"}",
        "prgate_decisions_total{state=\"pending\"}",
        "prgate_webhook_deliveries_total{event=\"pull_request_review\",outcome=\"accepted\"}",
        "prgate_merges_total",
        "prgate_github_api_calls_total",
        "prgate_queue_depth",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    let dashboard = w
        .http
        .get(w.gate().admin_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // minijinja escapes `/` as well.
    let shown = format!("{REPO}#{n}").replace('/', "&#x2f;");
    assert!(dashboard.contains(&shown), "{dashboard}");
    // Neither is on the webhook's port.
    for path in ["/", "/metrics"] {
        let status = w
            .http
            .get(format!("{}{path}", w.gate().url()))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }
    w.shutdown().await;
}

#[tokio::test]
async fn two_rules_need_two_different_teams() {
    let w = World::start().await;
    let head = w.commit_and_push(
        "two-rules",
        &[
            ("firewall/rules.toml", "allow = [7]\n"),
            ("dns/zone.txt", "a 1.2.3.4\n"),
        ],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "fw and dns",
    );
    let n = w.open_pr(AGENT, "two-rules", "main", "two rules").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending");
    assert!(description.contains("dns"), "{description}");
    assert_eq!(w.pull(n).await["merged"], json!(false));
    w.approve("dave-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    assert_eq!(w.pull(n).await["merged"], json!(true));
    w.shutdown().await;
}

#[tokio::test]
async fn dismissing_the_approval_takes_it_back() {
    let w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let head = w.commit_and_push(
        "dismiss",
        &[("firewall/rules.toml", "allow = [8]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "dismiss", "main", "dismiss").await;
    let review = w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    let (s, v) = w
        .api(
            "root-token",
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/reviews/{review}/dismissals"),
            Some(json!({"message": "wrong ticket"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    w.shutdown().await;
}

#[tokio::test]
async fn a_missed_webhook_is_caught_by_the_reconciler() {
    let mut w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    // The gate is down while the PR is opened and approved.
    let gate = w.gate.take().unwrap();
    gate.shutdown().await;
    let head = w.commit_and_push(
        "missed",
        &[("firewall/rules.toml", "allow = [9]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "missed", "main", "missed").await;
    w.approve("alice-token", n).await;
    w.sim.settle().await;
    assert!(w.approval(&head).await.is_none());
    let gate = prgate::serve::start(
        gate_config(&w.sim.api_url, &w.data_dir, &["main"]),
        test_client_options(),
    )
    .await
    .unwrap();
    gate.gate.reconcile_once().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    gate.shutdown().await;
}
