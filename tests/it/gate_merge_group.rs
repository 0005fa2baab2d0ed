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
/// admin to a branch of its own (nobody may push to the queue's `gh-readonly-queue/*`; the
/// delivery names that form). Returns (base, group head, head ref).
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
        &[
            "push",
            "-q",
            "origin",
            &format!("HEAD:refs/heads/hand-built/{name}"),
        ],
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

/// The harness seed with `acme/infra`'s main behind GitHub's merge queue.
fn queued_seed() -> String {
    let seed = SEED.replace(
        "enforce_admins = false\n",
        "enforce_admins = false\nmerge_queue = true\nmerge_queue_check_timeout = \"60s\"\n",
    );
    assert_ne!(seed, SEED);
    seed
}

/// The gate's config, with the firewall executor.
fn queue_config(w: &World) -> prgate::config::ServerConfig {
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config.executors.insert(
        "firewall".into(),
        firewall_executor(&w.exec_dir(), &ExecSettings::default()),
    );
    config
}

fn queue_policy() -> String {
    POLICY.replace("merge = \"auto\"", "merge = \"queue\"")
}

/// Waits until PR `n` is merged; its merge commit.
async fn merged(w: &World, n: u64) -> String {
    for _ in 0..1000 {
        w.sim.tick_queues();
        let p = w.pull(n).await;
        if p["merged"] == json!(true) {
            return p["merge_commit_sha"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("#{n} never merged: {}", w.pull(n).await);
}

/// Three approved PRs, queued by prgate as each is approved: GitHub builds a group per PR on
/// the one ahead, prgate answers each group, the base moves to each in turn, and the executor
/// runs each group commit once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_approved_prs_go_through_the_queue_and_each_runs_once_in_order() {
    let w = World::start_without_gate_seeded(&queue_policy(), &queued_seed()).await;
    let mut config = queue_config(&w);
    // Records signed, as an auditor checks them: the queue's commits carry no trailers.
    let seed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let key_file = w.tmp.path().join("note-signing.key");
    std::fs::write(&key_file, hex::encode(seed.to_bytes())).unwrap();
    config.note_signing_key = Some(prgate::config::SecretRef::File(key_file));
    let w = w.with_gate(config, test_client_options()).await;
    let mut pulls = Vec::new();
    for (branch, file) in [
        ("q1", "firewall/one.toml"),
        ("q2", "firewall/two.toml"),
        ("q3", "firewall/three.toml"),
    ] {
        pulls.push(propose(&w, branch, file, "allow = [1]\n").await.0);
    }
    for n in &pulls {
        w.approve("alice-token", *n).await;
    }
    w.settle().await;
    let mut merges = Vec::new();
    for n in &pulls {
        merges.push(merged(&w, *n).await);
    }
    // Each landed through a group that prgate approved.
    for m in &merges {
        let (state, description) = answer(&w, m).await;
        assert_eq!(state, "success", "{description}");
    }
    for m in &merges {
        let (state, description) = w.execution_result(m).await;
        assert_eq!(state, "success", "{m}: {description}");
    }
    // In the order they landed on main (the queue's order, which follows the enqueues).
    let clone = w.agent_clone("landed");
    let landed: Vec<String> = git_out(
        &clone,
        &[
            "log",
            "--first-parent",
            "--reverse",
            "--format=%H",
            "origin/main",
        ],
    )
    .lines()
    .filter(|c| merges.iter().any(|m| m == c))
    .map(str::to_string)
    .collect();
    assert_eq!(landed.len(), 3, "{landed:?}");
    assert_eq!(w.runs(), landed, "each group commit ran once, in order");
    // `verify` and `audit` accept the signed note as the record of each, naming its PR.
    git(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/prgate:refs/notes/prgate",
        ],
    );
    let public = hex::encode(seed.verifying_key().as_bytes());
    for (m, n) in merges.iter().zip(&pulls) {
        let (code, report, err) = prgate_cli(
            &w,
            None,
            &[
                "verify",
                "--repo",
                clone.to_str().unwrap(),
                "--commit",
                m,
                "--public-key",
                &public,
                "--json",
            ],
        );
        assert_eq!(code, 0, "{m}: {report} {err}");
        assert_eq!(report["signature"]["state"], json!("valid"), "{report}");
        assert_eq!(report["pull"], json!(format!("{REPO}#{n}")), "{report}");
        assert_eq!(report["record"], json!("note"), "{report}");
    }
    git(&clone, &["checkout", "-q", "origin/main"]);
    let (code, report, err) = prgate_cli(
        &w,
        None,
        &[
            "audit",
            "--repo",
            clone.to_str().unwrap(),
            "--branch",
            "origin/main",
            "--public-key",
            &public,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{report} {err}");
    assert_eq!(report["clean"], json!(true), "{report}");
}

/// prgate is down while three PRs are queued; one of them lost its approval after it was queued
/// (alice dismissed it: on GitHub the queue does not look again). The reconciler answers the
/// groups whose deliveries were lost: that PR's group fails, naming it; GitHub takes it out and
/// rebuilds the group behind it, which lands. The unapproved change never merges or runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_whose_approval_went_after_it_was_queued_fails_its_group_and_the_rest_land() {
    let w = World::start_without_gate_seeded(&queue_policy(), &queued_seed()).await;
    let mut heads = Vec::new();
    for (branch, file) in [
        ("d1", "firewall/one.toml"),
        ("d2", "firewall/two.toml"),
        ("d3", "firewall/three.toml"),
    ] {
        let head = w.commit_and_push(
            branch,
            &[(file, "allow = [2]\n")],
            "ops-agent[bot]",
            "ops-agent[bot]",
            branch,
        );
        let n = w.open_pr(AGENT, branch, "main", branch).await;
        let (s, v) = w.review("alice-token", n, "APPROVE", None, "ok").await;
        assert_eq!(s, 200, "{v}");
        // prgate's success, as it decided before it went down.
        let (s, v) = w
            .api("prgate-token", http::Method::POST, &format!("/repos/{REPO}/statuses/{head}"),
                Some(json!({"state": "success", "context": "prgate/approval", "description": "approved"})))
            .await;
        assert_eq!(s, 201, "{v}");
        heads.push((n, head, v["id"].as_u64().unwrap(), branch));
    }
    // alice takes back her approval of the middle PR (she dismisses her own review).
    let middle = heads[1].0;
    let (_, reviews) = w
        .api(
            "alice-token",
            http::Method::GET,
            &format!("/repos/{REPO}/pulls/{middle}/reviews"),
            None,
        )
        .await;
    let review = reviews[0]["id"].as_u64().unwrap();
    let (s, v) = w
        .api(
            "root-token",
            http::Method::PUT,
            &format!("/repos/{REPO}/pulls/{middle}/reviews/{review}/dismissals"),
            Some(json!({"message": "not this one"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    for (n, head, _, _) in &heads {
        w.sim.enqueue(REPO, *n, "alice", Some(head), false).unwrap();
    }
    // The middle PR's group, built while prgate is down (its delivery is lost).
    w.sim.tick_queues();
    let middle_group = w
        .sim
        .queue_entries(REPO)
        .into_iter()
        .find(|e| e.number == middle)
        .and_then(|e| e.group)
        .expect("the queue built the middle PR's group")
        .head_sha;
    // prgate starts: its first pass answers the groups.
    let config = queue_config(&w);
    let w = w.with_gate(config, test_client_options()).await;
    w.gate().gate.reconcile_once().await;
    w.settle().await;
    let first = merged(&w, heads[0].0).await;
    let third = merged(&w, heads[2].0).await;
    assert_eq!(w.pull(middle).await["merged"], json!(false));
    // prgate saw it: its answer on that group names the PR and why.
    let (state, description) = answer(&w, &middle_group).await;
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains(&format!("{REPO}#{middle} is not approved")),
        "{description}"
    );
    for m in [&first, &third] {
        let (state, description) = w.execution_result(m).await;
        assert_eq!(state, "success", "{m}: {description}");
    }
    assert_eq!(w.runs(), vec![first, third]);
    assert!(w.sim.queue_entries(REPO).iter().all(|e| e.number != middle));
}
