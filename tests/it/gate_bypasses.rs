//! The five bypasses of approval found by trying prgate as an attacker would, each as a story
//! through the simulator with real git over HTTP: none ends merged with `success` or executed,
//! and each proves the gate saw the attack (its description names who and why).

use std::time::Duration;

use crate::common::harness::*;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";

/// The agent proposes `files` on `branch`; returns (PR, head).
async fn propose(w: &World, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
    let head = w.commit_and_push(branch, files, "ops-agent[bot]", "ops-agent[bot]", "change");
    let n = w.open_pr(AGENT, branch, "main", branch).await;
    w.settle().await;
    (n, head)
}

async fn assert_not_merged(w: &World, n: u64) {
    let p = w.pull(n).await;
    assert_eq!(p["merged"], json!(false), "PR must not be merged: {p}");
}

async fn merge_sha(w: &World, n: u64) -> String {
    let p = w.pull(n).await;
    p["merge_commit_sha"]
        .as_str()
        .unwrap_or_else(|| panic!("PR #{n} is not merged: {p}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_an_approver_who_pushed_under_the_agents_name_does_not_count() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (n, _) = propose(
        &w,
        "spoof",
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
    )
    .await;
    // alice (a designated approver with write access) pushes a commit that names the agent as
    // its author and committer, then approves it.
    let head = w.commit_and_push_by(
        "alice-token",
        "spoof",
        &[("firewall/rules.toml", "allow = [0]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open everything",
    );
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("alice's approval does not count: alice pushed to the head branch"),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    assert!(w.runs().is_empty());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_an_agent_forging_a_reviewers_email_blocks_them_and_is_named() {
    let w = World::start().await;
    // The agent pushes a commit whose author email is alice's, to keep her from approving.
    let head = w.commit_and_push_by(
        AGENT,
        "forged",
        &[("firewall/rules.toml", "allow = [22, 8443]\n")],
        "alice",
        "ops-agent[bot]",
        "written by alice, says the commit",
    );
    let n = w.open_pr(AGENT, "forged", "main", "forged").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    let short = &head[..7];
    assert!(
        description.contains(&format!(
            "alice's approval does not count: alice authored commit {short}, pushed by ops-agent[bot]"
        )),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_unapproved_content_on_the_base_never_rides_along() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    // An admin pushes straight to firewall/ (protection lets admins through): refused, never run.
    let pushed = w.commit_and_push(
        "main",
        &[("firewall/rules.toml", "allow = [0]\n")],
        "root",
        "root",
        "hotfix",
    );
    w.settle().await;
    let (state, description) = w.execution_result(&pushed).await;
    assert_eq!(state, "failure", "{description}");
    // An approved PR touching another firewall file merges: it must not apply the admin's change.
    let (n, _) = propose(&w, "zones", &[("firewall/zones.toml", "dmz = []\n")]).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let m1 = merge_sha(&w, n).await;
    let (state, description) = w.execution_result(&m1).await;
    assert_eq!(state, "failure", "{description}");
    let short = &pushed[..7];
    assert!(
        description.contains(&format!(
            "unapproved changes to firewall/rules.toml since {short} (direct push by root)"
        )),
        "{description}"
    );
    assert!(w.runs().is_empty(), "{:?}", w.runs());
    // The refusal is a durable note that keeps the merge's own approval.
    let note = w.note(&m1).expect("a refusal note");
    assert_eq!(note["execution"]["outcome"], json!("refused"), "{note}");
    assert_eq!(note["approvals"][0]["login"], json!("alice"), "{note}");
    // An approved PR reverts the admin's change: the content matches again and runs resume.
    let (n2, _) = propose(&w, "revert", &[("firewall/rules.toml", "allow = [22]\n")]).await;
    w.approve("alice-token", n2).await;
    w.settle().await;
    let m2 = merge_sha(&w, n2).await;
    let (state, description) = w.execution_result(&m2).await;
    assert_eq!(state, "success", "{description}");
    assert_eq!(w.runs(), vec![m2.clone()]);
    // The refused merge stays refused.
    assert_eq!(w.execution_result(&m1).await.0, "failure");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_a_change_to_the_executors_script_needs_the_firewall_approvers() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let script = format!("{APPLY_SCRIPT}echo changed by the agent\n");
    let (n, head) = propose(&w, "script", &[("scripts/apply-firewall.sh", &script)]).await;
    // dave is a maintainer: the defaults' approver, not the firewall rule's.
    w.approve("dave-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(
            "dave's approval does not count: dave is not a designated approver of firewall"
        ),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    // The firewall approver's approval is what it takes; the new script then runs.
    w.approve("alice-token", n).await;
    w.settle().await;
    let m = merge_sha(&w, n).await;
    let (state, description) = w.execution_result(&m).await;
    assert_eq!(state, "success", "{description}");
    assert_eq!(w.runs(), vec![m]);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_a_refused_admin_merge_is_never_laundered_by_a_late_approval() {
    let policy = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let w = World::start_with_executor(&policy, ExecSettings::default()).await;
    let (n, _) = propose(&w, "late", &[("firewall/rules.toml", "allow = [1]\n")]).await;
    let (s, v) = w
        .api(
            "root-token",
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/merge"),
            Some(json!({"merge_method": "merge"})),
        )
        .await;
    assert_eq!(s, 200, "admin merge: {v}");
    let merge = v["sha"].as_str().unwrap().to_string();
    w.settle().await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("not approved"), "{description}");
    // GitHub accepts an approval on a merged PR. Its times have whole seconds: one given in
    // the merge's own second is not "after" it, so the late one comes a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = w.review("alice-token", n, "APPROVE", None, "lgtm").await;
    assert_eq!(s, 200, "GitHub accepts reviews on merged PRs: {v}");
    // Another replica (or this one after a restart) reconsiders nothing: the refusal is a note.
    let replica = fresh_executor(&w, "replica");
    replica.reconcile().await;
    let again = replica
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            prgate::executor::Considered::AlreadyRecorded {
                outcome: prgate::record::note::Outcome::Refused,
                ..
            }
        ),
        "{again:?}"
    );
    // Even an operator's explicit re-run does not count the late approval.
    let operator = replica
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Operator,
        )
        .await
        .unwrap();
    match operator {
        // The executor saw the late approval and says why it does not count.
        prgate::executor::Considered::Refused { reason } => assert!(
            reason.contains(
                "not approved: alice's approval does not count: it was submitted after the merge"
            ),
            "{reason}"
        ),
        other => panic!("the operator's re-run must be refused: {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(w.runs().is_empty(), "{:?}", w.runs());
    let note = w.note(&merge).expect("a refusal note");
    assert_eq!(note["execution"]["outcome"], json!("refused"), "{note}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_a_policy_tightened_on_main_reaches_prs_already_open() {
    let w = World::start().await;
    let (n, head) = propose(&w, "early", &[("firewall/rules.toml", "allow = [2]\n")]).await;
    // main tightens the firewall rule after the PR was opened: only erin may approve now.
    let tight = POLICY.replace(
        "approvers = { users = [\"alice\", \"release-bot\", \"helper[bot]\"], teams = [\"acme/netops\"] }",
        "approvers = { users = [\"erin\"] }",
    );
    assert_ne!(tight, POLICY);
    w.commit_and_push(
        "main",
        &[(".github/prgate.toml", &tight)],
        "root",
        "root",
        "tighten",
    );
    w.settle().await;
    let base_sha = w.pull(n).await["base"]["sha"].as_str().unwrap().to_string();
    let tip = w.git_out(&["rev-parse", "origin/main"]);
    assert_ne!(
        base_sha, tip,
        "GitHub does not refresh base.sha when the base moves"
    );
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(
            "alice's approval does not count: alice is not a designated approver of firewall"
        ),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.approve("erin-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_given_before_a_retarget_does_not_count() {
    // Manual merges, so that the approval on `dev` does not merge it there at once.
    let manual = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let w = World::start_with(&manual, &["main", "dev"]).await;
    w.commit_and_push(
        "dev",
        &[("README.md", "dev\n")],
        "root",
        "root",
        "dev branch",
    );
    let head = w.commit_and_push(
        "retarget",
        &[("firewall/rules.toml", "allow = [6]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "retarget", "dev", "to dev first").await;
    w.approve("alice-token", n).await;
    w.settle().await;
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
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(
            "alice's approval does not count: it was given before the base branch changed to main"
        ),
        "{description}"
    );
    assert_not_merged(&w, n).await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_designated_approvers_are_asked_once_and_only_those_who_can_approve() {
    let w = World::start().await;
    let (n, _) = propose(&w, "ask", &[("firewall/rules.toml", "allow = [7]\n")]).await;
    let (_, v) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/pulls/{n}/requested_reviewers"),
            None,
        )
        .await;
    let users: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["login"].as_str())
        .collect();
    let teams: Vec<&str> = v["teams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["slug"].as_str())
        .collect();
    // release-bot is a listed agent and helper[bot] a bot: never asked.
    assert_eq!(users, vec!["alice"], "{v}");
    assert_eq!(teams, vec!["netops"], "{v}");
    // Asked once: a later evaluation of the same head asks nobody again.
    let events = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "review_requested")
            .count()
    };
    let (_, before) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/events"),
            None,
        )
        .await;
    w.gate().reconcile.send(()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.settle().await;
    let (_, after) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/events"),
            None,
        )
        .await;
    assert_eq!(events(&before), 2, "{before}");
    assert_eq!(events(&after), 2, "{after}");
    w.shutdown().await;
}

/// `command = ["sh", "scripts/apply-firewall.sh"]` without `program_paths` (an easy omission):
/// the script is still governed by the firewall rule, with `[defaults]` (a maintainer's
/// approval is not enough) and without (no auto-merge with no human at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_the_script_an_interpreter_runs_is_governed_without_program_paths() {
    let without_defaults = {
        let start = POLICY.find("[defaults]").unwrap();
        let end = POLICY[start..].find("[[rules]]").unwrap() + start;
        format!("{}{}", &POLICY[..start], &POLICY[end..])
    };
    for (policy, approver) in [
        (POLICY.to_string(), Some("dave-token")),
        (without_defaults, None),
    ] {
        let w = World::start_without_gate(&policy).await;
        let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
        let mut fw = firewall_executor(&w.exec_dir(), &ExecSettings::default());
        fw.program_paths = None;
        config.executors.insert("firewall".into(), fw);
        let w = w.with_gate(config, test_client_options()).await;
        let script = format!("{APPLY_SCRIPT}echo changed by the agent\n");
        let (n, head) = propose(&w, "script", &[("scripts/apply-firewall.sh", &script)]).await;
        if let Some(token) = approver {
            w.approve(token, n).await;
            w.settle().await;
        }
        let (state, description, _) = w.approval(&head).await.unwrap();
        assert_eq!(state, "pending", "{description}");
        assert!(
            description.contains("alice") || description.contains("acme/netops"),
            "the firewall approvers are asked: {description}"
        );
        if approver.is_some() {
            assert!(
                description.contains("dave is not a designated approver of firewall"),
                "{description}"
            );
        }
        assert_not_merged(&w, n).await;
        w.shutdown().await;
    }
}
