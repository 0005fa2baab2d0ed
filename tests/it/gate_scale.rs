//! Reconciler passes at an organisation's scale: an idle pass costs one listing per 100 open
//! PRs, and still finds what changed while its delivery was lost, and what is due to expire.
//! Which PRs a pass takes is judged from what the code host shows, so the passes here run on a
//! gate started after the changes (a fresh process: nothing remembered).

use std::time::Duration;

use crate::common::harness::*;
use serde_json::Value;

const AGENT: &str = "agent-token";

/// How long to wait for a status to be older than the pass's margin (10 s) for sure.
const PAST_MARGIN: Duration = Duration::from_millis(11_000);

/// `n` proposals of the agent's, each its own branch and commit, pushed at once; their PRs
/// opened. Returns the PR numbers.
async fn open_many(w: &World, n: usize) -> Vec<u64> {
    let work = w.tmp.path().join("many");
    git(
        w.tmp.path(),
        &["clone", "-q", &w.clone_url, work.to_str().unwrap()],
    );
    let email = "ops-agent[bot]@users.noreply.github.com";
    let mut refs = Vec::new();
    for i in 0..n {
        git(
            &work,
            &["checkout", "-q", "-B", &format!("many-{i}"), "origin/main"],
        );
        std::fs::write(
            work.join(format!("firewall/many-{i}.toml")),
            format!("allow = [{i}]\n"),
        )
        .unwrap();
        git(&work, &["add", "-A"]);
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&work)
            .args(["commit", "-q", "-m", &format!("proposal {i}")])
            .env("GIT_AUTHOR_NAME", "ops-agent[bot]")
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", "ops-agent[bot]")
            .env("GIT_COMMITTER_EMAIL", email)
            .status()
            .unwrap();
        assert!(out.success());
        refs.push(format!("many-{i}"));
    }
    let mut args = vec!["push", "-q", "origin"];
    args.extend(refs.iter().map(String::as_str));
    git_as(&work, AGENT, &args);
    let mut numbers = Vec::new();
    for r in &refs {
        numbers.push(w.open_pr(AGENT, r, "main", r).await);
    }
    w.sim.settle().await;
    numbers
}

/// The gate's `/metrics` text.
async fn metrics_text(w: &World, gate: &prgate::serve::ServeHandle) -> String {
    w.http
        .get(format!("{}/metrics", gate.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The gate's metric `name{labels}`, 0 when absent.
async fn metric(w: &World, gate: &prgate::serve::ServeHandle, series: &str) -> f64 {
    metrics_text(w, gate)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The gate's calls so far, per `method endpoint status` series.
async fn calls_by_endpoint(
    w: &World,
    gate: &prgate::serve::ServeHandle,
) -> std::collections::BTreeMap<String, u64> {
    metrics_text(w, gate)
        .await
        .lines()
        .filter_map(|l| l.strip_prefix("prgate_github_api_calls_total"))
        .filter_map(|l| {
            let (labels, n) = l.rsplit_once(' ')?;
            Some((labels.to_string(), n.parse().ok()?))
        })
        .collect()
}

fn delta(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

async fn start_gate(w: &World) -> prgate::serve::ServeHandle {
    prgate::serve::start(
        gate_config(&w.sim.api_url, &w.data_dir, &["main"]),
        test_client_options(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_idle_pass_over_many_open_prs_costs_one_listing_per_hundred() {
    let w =
        World::start_without_gate(&POLICY.replace("merge = \"auto\"", "merge = \"manual\"")).await;
    let open = 150;
    let numbers = open_many(&w, open).await;
    assert_eq!(numbers.len(), open);
    // The first pass (at start-up) finds every PR undecided and decides it.
    let gate = start_gate(&w).await;
    gate.gate.reconcile_once().await;
    assert_eq!(w.approval_state(numbers[0]).await, "pending");
    assert_eq!(w.approval_state(numbers[open - 1]).await, "pending");
    assert!(
        metric(
            &w,
            &gate,
            "prgate_reconcile_reevaluations_total{reason=\"undecided\"}"
        )
        .await
            >= open as f64
    );
    // Opened moments before their decisions, and not updated since: nothing to do again.
    gate.gate.reconcile_once().await;
    let updated = "prgate_reconcile_reevaluations_total{reason=\"updated\"}";
    assert_eq!(metric(&w, &gate, updated).await, 0.0);
    // The policy's commit is as recent: until it is older than the margin, each pass decides
    // again the PRs decided within the margin of it.
    tokio::time::sleep(PAST_MARGIN).await;
    gate.gate.reconcile_once().await;

    // Nothing happened since: the pass is the listing, 100 PRs a query, and the executor's
    // conditional look at its claims (a 304, free of rate limit).
    let before = w.sim.api_calls();
    let calls_before = calls_by_endpoint(&w, &gate).await;
    gate.gate.reconcile_once().await;
    let calls = w.sim.api_calls() - before;
    let spent = delta(&calls_before, &calls_by_endpoint(&w, &gate).await);
    let listings = spent
        .iter()
        .filter(|(k, _)| k.contains("/graphql"))
        .map(|(_, n)| n)
        .sum::<u64>();
    assert_eq!(listings, open.div_ceil(100) as u64, "{spent:?}");
    assert!(
        spent
            .iter()
            .all(|(k, _)| k.contains("/graphql") || k.contains("status=\"304\"")),
        "an idle pass spends nothing but the listing: {spent:?}"
    );
    assert_eq!(
        calls,
        spent.iter().map(|(_, n)| n).sum::<u64>(),
        "{spent:?}"
    );
    assert_eq!(
        metric(&w, &gate, "prgate_reconcile_listed_pulls_total").await,
        (open * 5) as f64,
        "five passes (the one at start-up and four here) listed every PR"
    );
    gate.shutdown().await;
    w.shutdown().await;
}

#[tokio::test]
async fn a_pr_changed_while_its_delivery_was_lost_is_reevaluated_by_the_next_pass() {
    let mut w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let changed_head = w.commit_and_push(
        "lost-review",
        &[("firewall/rules.toml", "allow = [31]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let changed = w.open_pr(AGENT, "lost-review", "main", "lost review").await;
    let quiet_head = w.commit_and_push(
        "quiet",
        &[("firewall/quiet.toml", "allow = [32]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "y",
    );
    let quiet = w.open_pr(AGENT, "quiet", "main", "quiet").await;
    w.settle().await;
    assert_eq!(w.approval_state(changed).await, "pending");
    assert_eq!(w.approval_state(quiet).await, "pending");
    // The PRs were opened within the margin of their decisions: a pass posts them afresh.
    tokio::time::sleep(PAST_MARGIN).await;
    w.gate().gate.reconcile_once().await;
    // Long after, the gate is down while alice approves: her review's delivery is lost, and
    // a review does not move the PR's `updated_at`.
    tokio::time::sleep(PAST_MARGIN).await;
    let gate = w.gate.take().unwrap();
    gate.shutdown().await;
    let updated_before = w.pull(changed).await["updated_at"].clone();
    w.approve("alice-token", changed).await;
    w.sim.settle().await;
    assert_eq!(w.pull(changed).await["updated_at"], updated_before);
    let quiet_statuses = approvals_on(&w, REPO, &quiet_head).await;

    let gate = start_gate(&w).await;
    gate.gate.reconcile_once().await;
    assert_eq!(
        w.approval(&changed_head).await.unwrap().0,
        "success",
        "the pass saw the review by its own date"
    );
    assert!(
        metric(
            &w,
            &gate,
            "prgate_reconcile_reevaluations_total{reason=\"reviewed\"}"
        )
        .await
            >= 1.0
    );
    assert_eq!(
        approvals_on(&w, REPO, &quiet_head).await,
        quiet_statuses,
        "the PR nothing happened to was left alone"
    );
    gate.shutdown().await;
    w.shutdown().await;
}

#[tokio::test]
async fn an_expired_pr_is_closed_on_time_without_a_delivery() {
    let clock = std::sync::Arc::new(prgate::clock::ManualClock::new(chrono::Utc::now()));
    let mut w = World::start_full(POLICY, &["main"], clock.clone()).await;
    let head = w.commit_and_push(
        "expiring",
        &[("firewall/rules.toml", "allow = [41]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "expiring", "main", "expiring").await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    tokio::time::sleep(PAST_MARGIN).await;
    w.gate().gate.reconcile_once().await;
    tokio::time::sleep(PAST_MARGIN).await;
    // Nothing happens on the PR; only time passes, past `expire_after` (72h).
    clock.advance(chrono::Duration::hours(73));
    let gate = w.gate.take().unwrap();
    gate.gate.reconcile_once().await;
    let pull: Value = w.pull(n).await;
    assert_eq!(pull["state"], "closed", "expired and closed by the pass");
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "failure");
    assert!(description.starts_with("expired"), "{description}");
    assert_eq!(
        metric(
            &w,
            &gate,
            "prgate_reconcile_reevaluations_total{reason=\"expiring\"}"
        )
        .await,
        1.0
    );
    gate.shutdown().await;
    w.shutdown().await;
}

/// A policy tightened on the base by a commit whose date its committer set in the past, while
/// no delivery reaches prgate: the pass sees the policy's blob change, not the date, and
/// re-decides every PR on the branch.
#[tokio::test]
async fn a_policy_change_with_a_backdated_commit_is_seen_by_its_blob() {
    let manual = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let mut w = World::start_with(&manual, &["main"]).await;
    let head = w.commit_and_push(
        "backdated",
        &[("firewall/rules.toml", "allow = [61]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "backdated", "main", "backdated").await;
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    // Past the margin, nothing on the PR or the branch is recent enough to make it due.
    tokio::time::sleep(PAST_MARGIN).await;
    // No one takes deliveries from now on; a gate without a hook runs the passes.
    let hooked = w.gate.take().unwrap();
    hooked.shutdown().await;
    let gate = start_gate(&w).await;
    gate.gate.reconcile_once().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    let policy_changed = "prgate_reconcile_reevaluations_total{reason=\"policy_changed\"}";
    assert_eq!(metric(&w, &gate, policy_changed).await, 0.0);

    // The firewall rule now needs dave; the commit says it was made in 2020.
    let work = w.tmp.path().join("policy-change");
    git(
        w.tmp.path(),
        &["clone", "-q", &w.clone_url, work.to_str().unwrap()],
    );
    let tightened = manual.replace(
        "approvers = { users = [\"alice\", \"release-bot\", \"helper[bot]\"], teams = [\"acme/netops\"] }",
        "approvers = { users = [\"dave\"] }",
    );
    assert_ne!(tightened, manual);
    std::fs::write(work.join(".github/prgate.toml"), &tightened).unwrap();
    git(&work, &["add", "-A"]);
    let email = "root@users.noreply.github.com";
    let ok = std::process::Command::new("git")
        .arg("-C")
        .arg(&work)
        .args(["commit", "-q", "-m", "only dave approves firewall changes"])
        .env("GIT_AUTHOR_NAME", "root")
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", "root")
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .status()
        .unwrap();
    assert!(ok.success());
    git_as(&work, "root-token", &["push", "-q", "origin", "HEAD:main"]);
    w.sim.settle().await;

    gate.gate.reconcile_once().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        metric(
            &w,
            &gate,
            "prgate_reconcile_reevaluations_total{reason=\"policy_changed\"}"
        )
        .await
            >= 1.0
    );
    gate.shutdown().await;
    w.shutdown().await;
}

/// A writer posts `prgate/approval` = success on an unapproved head while no delivery reaches
/// prgate: the pass sees that the latest status is not prgate's (by account id), decides the
/// PR again and its own `pending` replaces the forgery.
#[tokio::test]
async fn attack_a_forged_approval_status_with_its_delivery_lost_is_replaced_by_the_next_pass() {
    let mut w = World::start().await;
    let head = w.commit_and_push(
        "forged-quiet",
        &[("firewall/rules.toml", "allow = [71]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "forged-quiet", "main", "forged").await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    let hooked = w.gate.take().unwrap();
    hooked.shutdown().await;
    // bob, a writer, is no approver of firewall changes and no one approved.
    let (st, _) = w
        .api(
            "bob-token",
            reqwest::Method::POST,
            &format!("/repos/{REPO}/statuses/{head}"),
            Some(serde_json::json!({ "state": "success", "context": "prgate/approval" })),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(w.approval(&head).await.unwrap().0, "success");

    let gate = start_gate(&w).await;
    gate.gate.reconcile_once().await;
    assert_eq!(
        w.approval(&head).await.unwrap().0,
        "pending",
        "prgate's own decision replaced bob's status"
    );
    assert!(
        metric(
            &w,
            &gate,
            "prgate_reconcile_reevaluations_total{reason=\"not_prgates\"}"
        )
        .await
            >= 1.0,
        "the pass saw a status that was not prgate's"
    );
    assert_ne!(
        w.pull(n).await["merged"],
        true,
        "nothing unapproved was merged"
    );
    gate.shutdown().await;
    w.shutdown().await;
}
