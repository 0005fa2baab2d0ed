//! The gate's runtime against a code host with a real round trip: evaluations of different PRs
//! run concurrently, deliveries for one PR are coalesced, a long execution never delays a
//! decision, and a push that does not touch the policy costs no call.

use std::time::Duration;

use crate::common::harness::*;

const AGENT: &str = "agent-token";

async fn open(w: &World, branch: &str, file: &str) -> u64 {
    w.commit_and_push(
        branch,
        &[(file, &format!("# {branch}\n"))],
        "ops-agent[bot]",
        "ops-agent[bot]",
        branch,
    );
    w.open_pr(AGENT, branch, "main", branch).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_of_different_prs_run_concurrently() {
    let w = World::start().await;
    w.sim.set_latency(Duration::from_millis(150));
    let a = open(&w, "slow-a", "firewall/a.toml").await;
    let b = open(&w, "slow-b", "firewall/b.toml").await;
    w.settle().await;
    assert_eq!(w.approval_state(a).await, "pending");
    assert_eq!(w.approval_state(b).await, "pending");
    let pool = w.gate().gate.pool();
    assert!(
        pool.max_concurrent() >= 2,
        "two PRs whose facts are slow to read are evaluated side by side (max {})",
        pool.max_concurrent()
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_queued_for_one_pr_are_coalesced() {
    let w = World::start().await;
    let n = open(&w, "busy", "firewall/rules.toml").await;
    w.settle().await;
    w.sim.set_latency(Duration::from_millis(100));
    let pool = w.gate().gate.pool();
    let before = pool.evaluations();
    // Ten comments at once, while the PR is being evaluated: each is a delivery for the same
    // PR. (Sent together: one after the other, the ten round trips outlast several
    // evaluations, now that an evaluation takes two calls rather than four.)
    let posts: Vec<_> = (0..10)
        .map(|i| {
            let url = format!("{}/repos/{REPO}/pulls/{n}/reviews", w.sim.api_url);
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .header("Authorization", "Bearer bob-token")
                    .json(&serde_json::json!({"event": "COMMENT", "body": format!("question {i}")}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for p in posts {
        assert_eq!(p.await.unwrap().unwrap(), 200);
    }
    w.settle().await;
    let evaluations = pool.evaluations() - before;
    assert!(
        (1..=4).contains(&evaluations),
        "ten deliveries for one PR cost {evaluations} evaluations"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_execution_never_delays_a_decision() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    // The first change makes the executor run for a while.
    w.commit_and_push(
        "slow-run",
        &[
            ("firewall/rules.toml", "allow = [1]\n"),
            ("firewall/sleep", "4\n"),
        ],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "slow",
    );
    let first = w.open_pr(AGENT, "slow-run", "main", "slow").await;
    w.settle().await;
    w.approve("alice-token", first).await;
    w.settle().await;
    let merge = w.pull(first).await["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_string();
    // While it runs, another approval is decided.
    let second = open(&w, "next", "firewall/other.toml").await;
    w.settle().await;
    w.approve("alice-token", second).await;
    let mut decided = false;
    for _ in 0..100 {
        if w.approval_state(second).await == "success" {
            decided = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(decided, "the approval is decided");
    let (state, description) = w.status_in(&merge, "prgate/execution").await.unwrap();
    assert_eq!(
        (state.as_str(), description.as_str()),
        ("pending", "running firewall"),
        "the first execution is still running when the second decision is posted"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_does_not_touch_the_policy_costs_no_call() {
    // No [defaults]: README is governed by nothing, so the executor has nothing to do either.
    let policy = POLICY.replace(
        "[defaults]\napprovers = { teams = [\"acme/maintainers\"] }\nmin_approvals = 1\n",
        "",
    );
    assert_ne!(policy, POLICY);
    let w = World::start_with(&policy, &["main"]).await;
    for i in 0..3 {
        open(&w, &format!("open-{i}"), "firewall/rules.toml").await;
    }
    w.settle().await;
    w.gate().gate.reconcile_once().await;
    let calls = || w.gate().gate.github().calls();
    let before = calls();
    w.commit_and_push(
        "main",
        &[("README.md", "unrelated\n")],
        "root",
        "root",
        "docs",
    );
    w.settle().await;
    assert_eq!(calls() - before, 0, "an unrelated push costs no call");
    // A push that changes the policy re-evaluates every open PR.
    let tighter = policy.replace("min_approvals = 1\nexecutor", "min_approvals = 2\nexecutor");
    assert_ne!(tighter, policy);
    let before = calls();
    w.commit_and_push(
        "main",
        &[(".github/prgate.toml", &tighter)],
        "root",
        "root",
        "tighten",
    );
    w.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.settle().await;
    assert!(
        calls() - before >= 3,
        "a policy change re-evaluates the open PRs ({} calls)",
        calls() - before
    );
    w.shutdown().await;
}

/// Only idempotent calls are retried blindly: a POST that failed may have been acted on. A
/// secondary rate limit (403 with Retry-After) was not acted on: waited out and sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_honest() {
    let w = World::start_without_gate(POLICY).await;
    let gh = prgate::github::GitHub::new(
        &w.sim.api_url,
        Some(&prgate::config::Secret::new("prgate-token".to_string())),
        test_client_options(),
        prgate::metrics::Metrics::new(),
    )
    .unwrap();
    let n = open(&w, "retries", "firewall/rules.toml").await;
    let repo: prgate::types::RepoName = REPO.parse().unwrap();
    let pull = prgate::types::PullNumber(n);
    // A 502 on a comment: not sent again (it might have been posted).
    w.sim.inject_fault(&format!("/issues/{n}/comments"), 502, 1);
    assert!(gh.comment(&repo, pull, "first").await.is_err());
    // A secondary rate limit on a comment: waited out, then posted once.
    w.sim
        .inject_rate_limit(&format!("/issues/{n}/comments"), 403, 1);
    gh.comment(&repo, pull, "second").await.unwrap();
    let text = w.comments_text(n).await;
    assert_eq!(text.matches("second").count(), 1, "{text}");
    assert!(!text.contains("first"), "{text}");
    // A 502 on a read: read again.
    w.sim.inject_fault(&format!("/pulls/{n}"), 502, 1);
    assert_eq!(gh.pull(&repo, pull).await.unwrap().number, n);
    w.shutdown().await;
}

/// `/readyz` says why it is not ready, in words an operator can act on.
#[tokio::test]
async fn readyz_names_what_keeps_the_gate_from_being_ready() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 of loopback: the code host cannot be reached.
    let config = gate_config("http://127.0.0.1:9", dir.path(), &["main"]);
    let gate = prgate::serve::start(config, test_client_options())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut text = String::new();
    for _ in 0..100 {
        let r = http
            .get(format!("{}/readyz", gate.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        text = r.text().await.unwrap();
        if text.contains("cannot read prgate's own account") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.starts_with("not ready: cannot read prgate's own account on the code host:")
            && text.contains("127.0.0.1:9"),
        "{text}"
    );
    gate.shutdown().await;
}

/// Merges that land together all change governed content, so each is verified after the one
/// before it has its record: they run one after the other, at once, not at the next
/// reconciler pass (an hour away here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_that_land_together_all_run_without_waiting_for_the_reconciler() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let mut pulls = Vec::new();
    for i in 0..3 {
        pulls.push(open(&w, &format!("together-{i}"), &format!("firewall/t{i}.toml")).await);
    }
    w.settle().await;
    for n in &pulls {
        w.approve("alice-token", *n).await;
    }
    w.settle().await;
    for n in &pulls {
        let merge = w.pull(*n).await["merge_commit_sha"]
            .as_str()
            .expect("merged")
            .to_string();
        let (state, description) = w.execution_result(&merge).await;
        assert_eq!(state, "success", "#{n}: {description}");
    }
    assert_eq!(w.runs().len(), 3, "{:?}", w.runs());
    w.shutdown().await;
}

/// The code host fails every facts query while an approval arrives: the evaluation gives up
/// after its retries, and instead of leaving "needs 1 approval" on the head (as if nothing had
/// happened), the status becomes `error` with the cause and "retrying at the next pass". Once
/// the code host recovers, the next pass replaces it with the decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_that_gives_up_says_so_and_the_next_pass_replaces_it() {
    let w = World::start().await;
    let head = w.commit_and_push(
        "prgate/ops-agent/quiet",
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open 443",
    );
    let n = w
        .open_pr(AGENT, "prgate/ops-agent/quiet", "main", "Open port 443")
        .await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    w.sim.inject_fault("/graphql", 502, 10_000);
    w.approve("alice-token", n).await;
    let mut seen = None;
    for _ in 0..600 {
        let (state, description, _) = w.approval(&head).await.unwrap();
        if state == "error" {
            seen = Some(description);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let description = seen.expect("the status never said the decision failed");
    assert!(
        description.contains("GitHub answered 502")
            && description.ends_with("retrying at the next pass"),
        "{description}"
    );
    assert_eq!(w.pull(n).await["merged"], false);
    w.sim.clear_faults();
    w.gate().gate.reconcile_once().await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
}
