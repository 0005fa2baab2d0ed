//! The gate's answer to GitHub's merge queue, with the group built by hand as GitHub builds it
//! (a merge of each PR head onto the group before it, on `gh-readonly-queue/<base>/pr-<n>-<sha>`)
//! and the `merge_group` delivery sent as GitHub sends it: `prgate/approval` on the group's head
//! is `success` only when every PR in it is approved now at the head merged there and the
//! content is exactly those merges; otherwise `failure` naming the PR and why.

use serde_json::json;

use crate::common::harness::*;

const AGENT: &str = "agent-token";

/// A world that merges nothing itself (the queue would), with PRs proposed by the agent.
async fn world() -> World {
    World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await
}

async fn propose(w: &World, branch: &str, file: &str, text: &str) -> (u64, String) {
    let head = w.commit_and_push(
        branch,
        &[(file, text)],
        "ops-agent[bot]",
        "ops-agent[bot]",
        branch,
    );
    let n = w.open_pr(AGENT, branch, "main", branch).await;
    w.settle().await;
    (n, head)
}

/// Builds the group as GitHub's queue does: from main, a merge commit per PR head, in order;
/// `extra` adds a file to the last group commit (content that no one approved). Pushed by an
/// admin (the queue's branches are GitHub's own). Returns (base, group head, head ref).
fn build_group(
    w: &World,
    name: &str,
    heads: &[(u64, &str)],
    extra: bool,
) -> (String, String, String) {
    let clone = w.agent_clone(name);
    git(&clone, &["fetch", "-q", "origin"]);
    let base = git_out(&clone, &["rev-parse", "origin/main"])
        .trim()
        .to_string();
    git(&clone, &["checkout", "-q", "-b", "group", &base]);
    for (n, head) in heads {
        git(
            &clone,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                &format!("Merge pull request #{n}"),
                head,
            ],
        );
    }
    if extra {
        std::fs::write(
            clone.join("firewall").join("backdoor.toml"),
            "allow = [1]\n",
        )
        .unwrap();
        git(&clone, &["add", "-A"]);
        git(&clone, &["commit", "-q", "--amend", "--no-edit"]);
    }
    let group = git_out(&clone, &["rev-parse", "HEAD"]).trim().to_string();
    let (last_n, last_head) = heads[heads.len() - 1];
    let head_ref = format!("refs/heads/gh-readonly-queue/main/pr-{last_n}-{last_head}");
    git(
        &clone,
        &["push", "-q", "origin", &format!("HEAD:{head_ref}")],
    );
    (base, group, head_ref)
}

/// Sends `merge_group` `checks_requested` for the group, signed, as GitHub does.
async fn checks_requested(w: &World, base: &str, group: &str, head_ref: &str) {
    let body = json!({
        "action": "checks_requested",
        "merge_group": {
            "head_sha": group, "head_ref": head_ref,
            "base_sha": base, "base_ref": "refs/heads/main",
            "head_commit": {"id": group, "tree_id": group, "message": "Merge", "timestamp": "2026-12-07T10:00:00Z",
                "author": {"name": "GitHub", "email": "noreply@github.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"}},
        },
        "repository": {"full_name": REPO},
        "sender": {"login": "github-merge-queue[bot]", "id": 9919, "type": "Bot"},
    })
    .to_string();
    let res = w
        .http
        .post(format!("{}/webhook", w.gate().url()))
        .header("X-GitHub-Event", "merge_group")
        .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
        .header(
            "X-Hub-Signature-256",
            prgate::webhook::sign(SECRET, body.as_bytes()),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    w.settle().await;
}

/// prgate's `prgate/approval` on the group head, waiting for it: (state, description).
async fn answer(w: &World, group: &str) -> (String, String) {
    for _ in 0..500 {
        if let Some((state, description, creator)) = w.approval(group).await {
            assert_eq!(creator, "prgate");
            return (state, description);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no prgate/approval on the group {group}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_approved_prs_merged_as_approved_is_success() {
    let w = world().await;
    let (a, head_a) = propose(&w, "q-a", "firewall/a.toml", "allow = [1]\n").await;
    let (b, head_b) = propose(&w, "q-b", "firewall/b.toml", "allow = [2]\n").await;
    w.approve("alice-token", a).await;
    w.approve("alice-token", b).await;
    w.settle().await;
    let (base, group, head_ref) = build_group(&w, "g1", &[(a, &head_a), (b, &head_b)], false);
    checks_requested(&w, &base, &group, &head_ref).await;
    let (state, description) = answer(&w, &group).await;
    assert_eq!(state, "success", "{description}");
    assert!(
        description.contains(&format!("#{a}, #{b}")),
        "{description}"
    );
}

/// An admin queued a PR nobody approved, between two approved ones: the group fails, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_holding_a_pr_nobody_approved_fails_naming_it() {
    let w = world().await;
    let (a, head_a) = propose(&w, "q-a", "firewall/a.toml", "allow = [1]\n").await;
    let (x, head_x) = propose(&w, "q-x", "firewall/x.toml", "allow = [0]\n").await;
    let (b, head_b) = propose(&w, "q-b", "firewall/b.toml", "allow = [2]\n").await;
    w.approve("alice-token", a).await;
    w.approve("alice-token", b).await;
    w.settle().await;
    let (base, group, head_ref) =
        build_group(&w, "g2", &[(a, &head_a), (x, &head_x), (b, &head_b)], false);
    checks_requested(&w, &base, &group, &head_ref).await;
    let (state, description) = answer(&w, &group).await;
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains(&format!("acme/infra#{x} is not approved")),
        "{description}"
    );
}

/// The group commit carries a file that no PR in it holds: the group fails, naming the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_content_is_not_the_merge_of_the_approved_heads_fails() {
    let w = world().await;
    let (a, head_a) = propose(&w, "q-a", "firewall/a.toml", "allow = [1]\n").await;
    w.approve("alice-token", a).await;
    w.settle().await;
    let (base, group, head_ref) = build_group(&w, "g3", &[(a, &head_a)], true);
    checks_requested(&w, &base, &group, &head_ref).await;
    let (state, description) = answer(&w, &group).await;
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains("holds other content than the merge of PR head"),
        "{description}"
    );
}
