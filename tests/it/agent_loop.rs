//! The agent's loop through the real binary: propose, status, wait — against the simulator
//! and the real gate; and the ways it refuses bad input without touching the working tree.

use std::sync::Arc;

use crate::common::harness::*;
use serde_json::json;

const AGENT: &str = "agent-token";

fn write(dir: &std::path::Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn propose(
    w: &World,
    dir: &std::path::Path,
    title: &str,
    paths: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut args = vec![
        "propose",
        "--repo",
        dir.to_str().unwrap(),
        "--title",
        title,
        "--reason",
        "ticket NET-1",
        "--json",
    ];
    args.extend_from_slice(paths);
    prgate_cli(w, Some(AGENT), &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_then_approval_then_wait_until_merged() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let dir = w.agent_clone("agent");
    write(&dir, "firewall/rules.toml", "allow = [22, 443]\n");
    let (code, p, err) = propose(&w, &dir, "Open port 443", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p["branch"], json!("prgate/ops-agent/open-port-443"));
    let pull = p["pull"].as_u64().unwrap();
    let required = p["required"].as_array().unwrap();
    assert_eq!(required[0]["rule"], json!("firewall"));
    assert!(
        required[0]["approvers"]
            .as_str()
            .unwrap()
            .contains("acme/netops")
    );
    // The proposal commit is authored by the agent and says so.
    let msg = w.git_out(&["log", "-1", "--format=%an%n%B", p["head"].as_str().unwrap()]);
    assert!(
        msg.starts_with("ops-agent[bot]") && msg.contains("Proposed-by: ops-agent[bot]"),
        "{msg}"
    );
    // propose pushed over HTTP with the agent's token: the code host knows who pushed.
    let pushes = w.activity("?ref=prgate/ops-agent/open-port-443").await;
    assert_eq!(pushes[0]["actor"]["login"], "ops-agent[bot]", "{pushes:?}");
    assert_eq!(pushes[0]["after"], p["head"]);
    w.settle().await;

    let target = format!("{REPO}#{pull}");
    let (code, s, _) = prgate_cli(&w, Some(AGENT), &["status", &target, "--json"]);
    assert_eq!((code, s["state"].clone()), (10, json!("pending")), "{s}");
    assert!(
        s["approval"]["description"]
            .as_str()
            .unwrap()
            .contains("firewall"),
        "{s}"
    );

    w.approve("alice-token", pull).await;
    w.settle().await;
    let (code, s, err) = prgate_cli(
        &w,
        Some(AGENT),
        &[
            "wait",
            &target,
            "--until",
            "merged",
            "--timeout",
            "20s",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{s} {err}");
    // Merged; the executor may already have run it too.
    assert!(
        s["state"] == json!("merged") || s["state"] == json!("executed"),
        "{s}"
    );
    let merge_sha = s["merge_sha"].as_str().unwrap();
    assert_eq!(
        w.git_out(&["rev-parse", &format!("{merge_sha}^2")]),
        p["head"].as_str().unwrap()
    );
    assert_eq!(s["approvals"][0]["login"], json!("alice"));
    assert_eq!(s["approvals"][0]["sha"], p["head"]);
    // And on to the execution.
    let (code, s, err) = prgate_cli(
        &w,
        Some(AGENT),
        &[
            "wait",
            &target,
            "--until",
            "executed",
            "--timeout",
            "20s",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{s} {err}");
    assert_eq!(s["state"], json!("executed"));
    assert_eq!(s["execution"]["state"], json!("success"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_carries_the_reason_and_exit_20() {
    let w = World::start().await;
    let dir = w.agent_clone("agent");
    write(&dir, "firewall/rules.toml", "allow = [0]\n");
    let (code, p, err) = propose(&w, &dir, "Open everything", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    let pull = p["pull"].as_u64().unwrap();
    w.settle().await;
    let (s, _) = w
        .review(
            "carol-token",
            pull,
            "REQUEST_CHANGES",
            None,
            "port 0 opens everything; no",
        )
        .await;
    assert_eq!(s, 200);
    w.settle().await;
    let (code, s, _) = prgate_cli(
        &w,
        Some(AGENT),
        &[
            "wait",
            &format!("{REPO}#{pull}"),
            "--timeout",
            "20s",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!(code, 20, "{s}");
    assert_eq!(s["state"], json!("denied"));
    assert_eq!(s["reason"], json!("port 0 opens everything; no"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_expires_as_denied_and_nothing_merges() {
    let clock = Arc::new(prgate::clock::ManualClock::new(chrono::Utc::now()));
    let w = World::start_full(POLICY, &["main"], clock.clone()).await;
    let dir = w.agent_clone("agent");
    write(&dir, "firewall/rules.toml", "allow = [1]\n");
    let (code, p, err) = propose(&w, &dir, "Slow one", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    let pull = p["pull"].as_u64().unwrap();
    w.settle().await;
    let target = format!("{REPO}#{pull}");
    // 71 hours: still pending.
    clock.advance(chrono::Duration::hours(71));
    w.gate().gate.reconcile_once().await;
    assert_eq!(prgate_cli(&w, Some(AGENT), &["status", &target]).0, 10);
    // Past 72 hours: closed, commented, and `wait` says expired.
    clock.advance(chrono::Duration::hours(2));
    w.gate().gate.reconcile_once().await;
    w.settle().await;
    let pr = w.pull(pull).await;
    assert_eq!(
        (pr["state"].clone(), pr["merged"].clone()),
        (json!("closed"), json!(false))
    );
    let (_, comments) = w
        .api(
            "root-token",
            reqwest::Method::GET,
            &format!("/repos/{REPO}/issues/{pull}/comments"),
            None,
        )
        .await;
    let bodies: Vec<&str> = comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.contains("Expired without approval"))
            .count(),
        1,
        "{bodies:?}"
    );
    assert!(bodies.iter().any(|b| b.contains("nothing was executed")));
    let (code, s, _) = prgate_cli(
        &w,
        Some(AGENT),
        &[
            "wait",
            &target,
            "--timeout",
            "5s",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!(code, 21, "{s}");
    assert_eq!(s["state"], json!("expired"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_proposing_updates_the_same_pr_and_drops_the_old_approval() {
    let w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let dir = w.agent_clone("agent");
    write(&dir, "firewall/rules.toml", "allow = [2]\n");
    let (code, first, err) = propose(&w, &dir, "Port two", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    let pull = first["pull"].as_u64().unwrap();
    w.settle().await;
    w.approve("alice-token", pull).await;
    w.settle().await;
    assert_eq!(w.approval_state(pull).await, "success");
    write(&dir, "firewall/rules.toml", "allow = [2, 3]\n");
    let (code, second, err) = propose(&w, &dir, "Port two", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(second["pull"], first["pull"], "same PR");
    assert_eq!(second["updated"], json!(true));
    assert_ne!(second["head"], first["head"]);
    w.settle().await;
    assert_eq!(w.head_of(pull).await, second["head"].as_str().unwrap());
    assert_eq!(w.approval_state(pull).await, "pending");
    let (_, list) = w
        .api(
            "root-token",
            reqwest::Method::GET,
            &format!("/repos/{REPO}/pulls?state=all"),
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    w.shutdown().await;
}

fn tree_state(dir: &std::path::Path) -> (String, String, String) {
    (
        git_out(dir, &["status", "--porcelain"]),
        git_out(dir, &["rev-parse", "HEAD"]),
        std::fs::read_to_string(dir.join("firewall/rules.toml")).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_message_and_a_distinct_code_and_leaves_the_tree_alone() {
    let w = World::start().await;
    let dir = w.agent_clone("agent");

    // Nothing to commit: the file matches the base.
    let before = tree_state(&dir);
    let (code, _, err) = propose(&w, &dir, "Nothing", &["firewall/rules.toml"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nothing to commit"), "{err}");
    assert_eq!(tree_state(&dir), before);

    write(&dir, "firewall/rules.toml", "allow = [9]\n");
    let before = tree_state(&dir);

    // Missing token.
    let (code, _, err) = prgate_cli(
        &w,
        None,
        &[
            "propose",
            "--repo",
            dir.to_str().unwrap(),
            "--title",
            "x",
            "firewall/rules.toml",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PRGATE_GITHUB_TOKEN"), "{err}");

    // Unknown repository.
    let (code, _, err) = prgate_cli(
        &w,
        Some(AGENT),
        &[
            "propose",
            "--repo",
            dir.to_str().unwrap(),
            "--title",
            "x",
            "--remote-repo",
            "acme/nope",
            "firewall/rules.toml",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("acme/nope"), "{err}");

    // A bad token.
    let (code, _, err) = prgate_cli(
        &w,
        Some("wrong-token"),
        &[
            "propose",
            "--repo",
            dir.to_str().unwrap(),
            "--title",
            "x",
            "firewall/rules.toml",
        ],
    );
    assert_eq!(code, 6, "{err}");

    // A push the remote rejects: the branch ref is locked on the remote.
    let lock = w.bare_dir().join("refs/heads/prgate/ops-agent/locked.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let (code, _, err) = prgate_cli(
        &w,
        Some(AGENT),
        &[
            "propose",
            "--repo",
            dir.to_str().unwrap(),
            "--title",
            "x",
            "--branch",
            "prgate/ops-agent/locked",
            "firewall/rules.toml",
        ],
    );
    assert_eq!(code, 5, "{err}");
    std::fs::remove_file(&lock).unwrap();

    assert_eq!(tree_state(&dir), before, "the working tree is as it was");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_proposing_after_a_denial_updates_the_same_pr_until_the_reviewer_approves() {
    let w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let dir = w.agent_clone("agent");
    write(&dir, "firewall/rules.toml", "allow = [0]\n");
    let (code, first, err) = propose(&w, &dir, "Firewall", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    let pull = first["pull"].as_u64().unwrap();
    w.settle().await;
    w.approve("alice-token", pull).await;
    let (s, _) = w
        .review("carol-token", pull, "REQUEST_CHANGES", None, "not port 0")
        .await;
    assert_eq!(s, 200);
    w.settle().await;
    let target = format!("{REPO}#{pull}");
    assert_eq!(prgate_cli(&w, Some(AGENT), &["status", &target]).0, 20);

    write(&dir, "firewall/rules.toml", "allow = [443]\n");
    let (code, second, err) = propose(&w, &dir, "Firewall", &["firewall/rules.toml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(second["pull"], first["pull"]);
    w.settle().await;
    // alice's approval was for the old head; carol's request still stands.
    let (state, _, _) = w.approval(second["head"].as_str().unwrap()).await.unwrap();
    assert_eq!(state, "failure");
    w.approve("carol-token", pull).await;
    w.settle().await;
    let (code, s, _) = prgate_cli(&w, Some(AGENT), &["status", &target, "--json"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(
        s["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["on_head"] == json!(true))
            .count(),
        1
    );
    w.shutdown().await;
}
