//! The simulator's merge queue and required checks, as GitHub documents them (see
//! `sim/src/queue.rs` and docs/simulator.md): PRs that meet the branch's rules are queued with
//! GraphQL `enqueuePullRequest`, each gets a group commit on a `gh-readonly-queue/...` branch
//! built on the group ahead of it, `merge_group` deliveries ask for checks on it, and the base
//! branch moves to a group only when its required checks pass there; a failure or the timeout
//! takes a PR out and rebuilds the groups behind it. Check runs satisfy required checks,
//! anyone's unless pinned to an app.

use std::path::Path;
use std::time::Duration;

use crate::common::npm::{ensure, run_node_module};
use crate::sim_support::{Env, Receiver, Work, env_seeded, receiver};
use serde_json::{Map, Value, json};

const QUEUED: &str = "acme/queued";
const CONTEXT: &str = "prgate/approval";
const AGENT: &str = "agent-token";

/// `acme/queued` requires the merge queue (60 s check timeout) and `prgate/approval`;
/// `acme/plain` only the context; `acme/pinned` pins it to the app 4242 (`prgate`).
fn seed() -> String {
    let key = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app.pub.pem"),
    )
    .expect("the test app's public key");
    format!(
        r#"
[[users]]
login = "alice"
token = "alice-token"

[[users]]
login = "bob"
token = "bob-token"

[[users]]
login = "root"
token = "root-token"

[[users]]
login = "ci"
token = "ci-token"

[[users]]
login = "ops-agent[bot]"
type = "Bot"
token = "agent-token"
email = "agent@bots.example.com"

[[repos]]
name = "acme/queued"
admins = ["root"]
writers = ["ops-agent[bot]", "alice", "ci"]
required_contexts = ["prgate/approval"]
merge_queue = true
merge_queue_check_timeout = "60s"

[[repos]]
name = "acme/plain"
admins = ["root"]
writers = ["ops-agent[bot]", "alice", "ci"]
required_contexts = ["prgate/approval"]

[[repos]]
name = "acme/pinned"
admins = ["root"]
writers = ["ops-agent[bot]", "alice", "ci"]
required_checks = [{{ context = "prgate/approval", app_id = 4242 }}]

[[apps]]
id = 4242
slug = "prgate"
public_key = """
{key}"""
installations = [{{ id = 7, account = "acme" }}]
"#
    )
}

struct Q {
    e: Env,
    hook: Receiver,
    work: Work,
}

/// The seeded simulator with a webhook receiver and a clone of `repo` whose main has one
/// commit (pushed by the admin, who may).
async fn setup(repo: &str) -> Q {
    let e = env_seeded(&seed()).await;
    let hook = receiver("s").await;
    e.sim.add_hook(&hook.url, "s");
    let work = e.clone_repo(repo, AGENT, "ops-agent", "agent@bots.example.com");
    work.commit_file("README.md", "base\n", "first");
    work.push_as("root-token", "main");
    Q { e, hook, work }
}

impl Q {
    /// A PR from `branch` off main changing its own file; its head.
    async fn pr(&self, repo: &str, branch: &str) -> (u64, String) {
        self.work
            .git(&["checkout", "-q", "-B", branch, "origin/main"]);
        let head = self.work.commit_file(
            &format!("{branch}.txt"),
            &format!("{branch}\n"),
            &format!("add {branch}"),
        );
        self.work.push(branch);
        let (st, v) = self
            .e
            .post(
                AGENT,
                &format!("/repos/{repo}/pulls"),
                json!({"title": format!("Add {branch}"), "head": branch, "base": "main"}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        self.work.git(&["fetch", "-q", "origin"]);
        (v["number"].as_u64().unwrap(), head)
    }

    async fn status(&self, repo: &str, sha: &str, state: &str) {
        let (st, v) = self
            .e
            .post(
                "ci-token",
                &format!("/repos/{repo}/statuses/{sha}"),
                json!({"state": state, "context": CONTEXT}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }

    async fn graphql(&self, token: &str, query: &str, variables: Value) -> Value {
        let (st, v) = self
            .e
            .post(
                token,
                "/graphql",
                json!({"query": query, "variables": variables}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        v
    }

    async fn node_id(&self, repo: &str, n: u64) -> String {
        let (_, v) = self.e.get(AGENT, &format!("/repos/{repo}/pulls/{n}")).await;
        v["node_id"].as_str().expect("node_id").to_string()
    }

    async fn enqueue(&self, token: &str, repo: &str, n: u64, head: Option<&str>) -> Value {
        let id = self.node_id(repo, n).await;
        self.graphql(token, ENQUEUE, json!({"id": id, "head": head}))
            .await
    }

    fn tip(&self, repo: &str) -> String {
        let bare = self.e.sim.git_dir(repo).expect("bare repo");
        crate::sim_support::git(&bare, &["rev-parse", "refs/heads/main"])
    }

    fn git(&self, repo: &str, args: &[&str]) -> String {
        let bare = self.e.sim.git_dir(repo).expect("bare repo");
        crate::sim_support::git(&bare, args)
    }

    async fn deliveries(&self, event: &str) -> Vec<Value> {
        self.e.sim.settle().await;
        self.hook
            .events()
            .into_iter()
            .filter(|d| d.event == event)
            .map(|d| {
                assert!(d.signature_ok, "{event} delivery badly signed");
                d.body
            })
            .collect()
    }
}

const ENQUEUE: &str = r#"mutation Enqueue($id: ID!, $head: GitObjectID) {
  enqueuePullRequest(input: {pullRequestId: $id, expectedHeadOid: $head, clientMutationId: "c1"}) {
    clientMutationId
    mergeQueueEntry {
      id position state jump solo enqueuedAt
      enqueuer { __typename login }
      pullRequest { number isInMergeQueue isMergeQueueEnabled }
      baseCommit { oid }
      headCommit { oid }
    }
  }
}"#;

const DEQUEUE: &str = r#"mutation Dequeue($id: ID!) {
  dequeuePullRequest(input: {id: $id}) {
    clientMutationId
    mergeQueueEntry { position state pullRequest { number } }
  }
}"#;

const QUEUE: &str = r#"query Queue {
  repository(owner: "acme", name: "queued") {
    mergeQueue {
      id url
      configuration { checkResponseTimeout maximumEntriesToMerge mergeMethod mergingStrategy }
      entries(first: 10) {
        totalCount
        nodes { position state pullRequest { number headRefOid mergeQueueEntry { position } } baseCommit { oid } headCommit { oid } }
      }
    }
    pullRequest(number: 1) { id isInMergeQueue isMergeQueueEnabled mergeQueueEntry { state } }
  }
}"#;

fn groups(e: &Env) -> Vec<prgate_sim::MergeGroupInfo> {
    e.sim
        .queue_entries(QUEUED)
        .into_iter()
        .map(|q| q.group.expect("every entry has its group"))
        .collect()
}

#[tokio::test]
async fn three_queued_prs_land_in_order_each_group_built_on_the_one_ahead() {
    let q = setup(QUEUED).await;
    let base = q.tip(QUEUED);
    let mut prs = Vec::new();
    for b in ["one", "two", "three"] {
        let (n, head) = q.pr(QUEUED, b).await;
        q.status(QUEUED, &head, "success").await;
        prs.push((n, head));
    }
    for (n, head) in &prs {
        let v = q.enqueue("alice-token", QUEUED, *n, Some(head)).await;
        assert!(v.get("errors").is_none(), "{v}");
        let entry = &v["data"]["enqueuePullRequest"]["mergeQueueEntry"];
        assert_eq!(v["data"]["enqueuePullRequest"]["clientMutationId"], "c1");
        assert_eq!(entry["pullRequest"]["number"], json!(n));
        assert_eq!(entry["pullRequest"]["isInMergeQueue"], true);
        assert_eq!(entry["enqueuer"]["login"], "alice");
        assert_eq!(entry["state"], "AWAITING_CHECKS", "{v}");
    }
    // Each group is the merge of its PR's head onto the group ahead (the base for the first),
    // on a branch named after its parent, made by GitHub.
    let g = groups(&q.e);
    assert_eq!(g.len(), 3);
    let mut parent = base.clone();
    for (i, (g, (n, head))) in g.iter().zip(&prs).enumerate() {
        assert_eq!(g.base_sha, parent, "group {i} is built on the one ahead");
        assert_eq!(
            g.head_ref,
            format!("refs/heads/gh-readonly-queue/main/pr-{n}-{parent}")
        );
        assert_eq!(q.git(QUEUED, &["rev-parse", &g.head_ref]), g.head_sha);
        let parents = q.git(QUEUED, &["rev-list", "--parents", "-n1", &g.head_sha]);
        assert_eq!(parents, format!("{} {parent} {head}", g.head_sha));
        let who = q.git(
            QUEUED,
            &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", &g.head_sha],
        );
        assert!(
            who.starts_with("alice <alice@users.noreply.github.com>|GitHub <noreply@github.com>|Merge pull request #"),
            "{who}"
        );
        assert!(
            !who.contains("Proposed-by") && !who.contains("Approved-by"),
            "{who}"
        );
        parent = g.head_sha.clone();
    }
    let requested = q.deliveries("merge_group").await;
    assert_eq!(requested.len(), 3);
    for (d, g) in requested.iter().zip(&g) {
        assert_eq!(d["action"], "checks_requested");
        assert_eq!(d["merge_group"]["head_sha"], json!(g.head_sha));
        assert_eq!(d["merge_group"]["head_ref"], json!(g.head_ref));
        assert_eq!(d["merge_group"]["base_sha"], json!(g.base_sha));
        assert_eq!(d["merge_group"]["base_ref"], "refs/heads/main");
        assert_eq!(d["merge_group"]["head_commit"]["id"], json!(g.head_sha));
    }
    // GraphQL shows the queue as the handle does.
    let v = q.graphql(AGENT, QUEUE, json!({})).await;
    assert!(v.get("errors").is_none(), "{v}");
    let mq = &v["data"]["repository"]["mergeQueue"];
    assert_eq!(mq["entries"]["totalCount"], 3);
    assert_eq!(mq["configuration"]["checkResponseTimeout"], 1);
    assert_eq!(
        mq["entries"]["nodes"][2]["baseCommit"]["oid"],
        json!(g[1].head_sha)
    );

    // Checks pass on the groups last to first: nothing lands before the first.
    q.status(QUEUED, &g[2].head_sha, "success").await;
    q.status(QUEUED, &g[1].head_sha, "success").await;
    assert_eq!(q.tip(QUEUED), base, "the base waits for the first group");
    assert_eq!(q.e.sim.queue_entries(QUEUED)[1].state, "MERGEABLE");
    q.status(QUEUED, &g[0].head_sha, "success").await;
    assert_eq!(q.tip(QUEUED), g[2].head_sha, "the base is the last group");
    assert!(q.e.sim.queue_entries(QUEUED).is_empty());
    for ((n, _), g) in prs.iter().zip(&g) {
        let (_, p) = q.e.get(AGENT, &format!("/repos/{QUEUED}/pulls/{n}")).await;
        assert_eq!(p["merged"], true, "{p}");
        assert_eq!(p["merge_commit_sha"], json!(g.head_sha));
        assert_eq!(p["merged_by"]["login"], "alice");
    }
    // Deliveries: each group destroyed as merged, the base pushed to each group's head in
    // order, each PR closed, and the temporary branches deleted.
    let mg = q.deliveries("merge_group").await;
    let destroyed: Vec<&Value> = mg.iter().filter(|d| d["action"] == "destroyed").collect();
    assert_eq!(destroyed.len(), 3);
    for (d, g) in destroyed.iter().zip(&g) {
        assert_eq!(d["reason"], "merged");
        assert_eq!(d["merge_group"]["head_sha"], json!(g.head_sha));
    }
    let pushes = q.deliveries("push").await;
    let to_main: Vec<&Value> = pushes
        .iter()
        .filter(|p| {
            p["ref"] == "refs/heads/main"
                && p["before"] != json!("0000000000000000000000000000000000000000")
        })
        .collect();
    let afters: Vec<&str> = to_main.iter().filter_map(|p| p["after"].as_str()).collect();
    let heads: Vec<&str> = g.iter().map(|g| g.head_sha.as_str()).collect();
    assert_eq!(afters, heads, "the base moved to each group in turn");
    assert!(
        to_main
            .iter()
            .all(|p| p["sender"]["login"] == "alice" && p["forced"] == false)
    );
    let deleted: Vec<&Value> = pushes.iter().filter(|p| p["deleted"] == true).collect();
    assert_eq!(deleted.len(), 3);
    assert!(
        deleted
            .iter()
            .all(|p| p["sender"]["login"] == "github-merge-queue[bot]")
    );
    let closed = q.deliveries("pull_request").await;
    assert_eq!(
        closed
            .iter()
            .filter(|p| p["action"] == "closed" && p["pull_request"]["merged"] == true)
            .count(),
        3
    );
    assert_eq!(
        q.git(QUEUED, &["for-each-ref", "refs/heads/gh-readonly-queue"]),
        ""
    );
    // The activity API says the queue merged, for whom.
    let (_, act) =
        q.e.get(
            AGENT,
            &format!("/repos/{QUEUED}/activity?activity_type=merge_queue_merge"),
        )
        .await;
    assert_eq!(act.as_array().map(Vec::len), Some(3), "{act}");
    assert_eq!(act[0]["actor"]["login"], "alice");
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_group_dequeues_its_pr_and_the_groups_behind_are_rebuilt_and_land() {
    let q = setup(QUEUED).await;
    let mut prs = Vec::new();
    for b in ["one", "two", "three"] {
        let (n, head) = q.pr(QUEUED, b).await;
        q.status(QUEUED, &head, "success").await;
        q.e.sim
            .enqueue(QUEUED, n, "alice", Some(&head), false)
            .expect("enqueued");
        prs.push(n);
    }
    let before = groups(&q.e);
    // GitHub Actions fails the second group's required check: a check run counts.
    q.e.sim
        .actions_check_run(QUEUED, &before[1].head_sha, CONTEXT, Some("failure"))
        .expect("a check run");
    let now = q.e.sim.queue_entries(QUEUED);
    assert_eq!(
        now.iter().map(|e| e.number).collect::<Vec<_>>(),
        [prs[0], prs[2]],
        "the failing PR left the queue"
    );
    let after = groups(&q.e);
    assert_eq!(after[0], before[0], "the group ahead is untouched");
    assert_eq!(
        after[1].base_sha, before[0].head_sha,
        "rebuilt on the group ahead"
    );
    assert_ne!(after[1].head_sha, before[2].head_sha);
    assert_eq!(
        after[1].head_ref,
        format!(
            "refs/heads/gh-readonly-queue/main/pr-{}-{}",
            prs[2], before[0].head_sha
        )
    );
    // The rebuilt group lacks the dequeued PR's change.
    let files = q.git(QUEUED, &["ls-tree", "--name-only", &after[1].head_sha]);
    assert!(
        files.contains("three.txt") && files.contains("one.txt") && !files.contains("two.txt"),
        "{files}"
    );
    let mg = q.deliveries("merge_group").await;
    let reasons: Vec<(String, String)> = mg
        .iter()
        .filter(|d| d["action"] == "destroyed")
        .map(|d| {
            (
                d["reason"].as_str().unwrap().to_string(),
                d["merge_group"]["head_sha"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("dequeued".to_string(), before[1].head_sha.clone()),
            ("invalidated".to_string(), before[2].head_sha.clone())
        ]
    );
    let requested: Vec<&Value> = mg
        .iter()
        .filter(|d| d["action"] == "checks_requested")
        .collect();
    assert_eq!(requested.len(), 4);
    assert_eq!(
        requested[3]["merge_group"]["head_sha"],
        json!(after[1].head_sha)
    );
    // The old groups' branches are gone.
    assert_eq!(
        q.git(
            QUEUED,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/heads/gh-readonly-queue"
            ]
        ),
        format!("{}\n{}", after[0].head_ref, after[1].head_ref)
    );
    // Both remaining groups pass and land; the failed PR stays open, unmerged.
    q.status(QUEUED, &after[0].head_sha, "success").await;
    q.status(QUEUED, &after[1].head_sha, "success").await;
    assert_eq!(q.tip(QUEUED), after[1].head_sha);
    let (_, p) =
        q.e.get(AGENT, &format!("/repos/{QUEUED}/pulls/{}", prs[1]))
            .await;
    assert_eq!(
        (p["state"].clone(), p["merged"].clone()),
        (json!("open"), json!(false))
    );
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn the_timeout_fails_a_group_whose_check_never_reports() {
    let q = setup(QUEUED).await;
    let base = q.tip(QUEUED);
    let (n, head) = q.pr(QUEUED, "slow").await;
    q.status(QUEUED, &head, "success").await;
    q.e.sim
        .enqueue(QUEUED, n, "alice", None, false)
        .expect("enqueued");
    let g = groups(&q.e).remove(0);
    // A pending status is no answer.
    q.status(QUEUED, &g.head_sha, "pending").await;
    q.e.sim.advance_clock(Duration::from_secs(59));
    assert_eq!(q.e.sim.queue_entries(QUEUED).len(), 1, "not yet");
    q.e.sim.advance_clock(Duration::from_secs(2));
    assert!(q.e.sim.queue_entries(QUEUED).is_empty(), "timed out");
    assert_eq!(q.tip(QUEUED), base);
    let mg = q.deliveries("merge_group").await;
    let last = mg.last().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["reason"].as_str()),
        (Some("destroyed"), Some("dequeued"))
    );
    // A success after the fact changes nothing.
    q.status(QUEUED, &g.head_sha, "success").await;
    assert_eq!(q.tip(QUEUED), base);
    // The same through the test-control endpoint `prgate sim` users have.
    q.e.sim
        .enqueue(QUEUED, n, "alice", None, false)
        .expect("queued again");
    let (st, _) =
        q.e.post("x", "/_sim/clock", json!({"advance_secs": 61}))
            .await;
    assert_eq!(st, 200);
    assert!(q.e.sim.queue_entries(QUEUED).is_empty());
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn merges_and_pushes_skipping_the_queue_are_refused_an_admins_merge_is_not() {
    let q = setup(QUEUED).await;
    let (n, head) = q.pr(QUEUED, "direct").await;
    q.status(QUEUED, &head, "success").await;
    // A writer's merge, with every check passing: GitHub's 405.
    let (st, v) =
        q.e.put(
            "alice-token",
            &format!("/repos/{QUEUED}/pulls/{n}/merge"),
            json!({"sha": head}),
        )
        .await;
    assert_eq!(
        (st, v["message"].clone()),
        (405, json!("Changes must be made through the merge queue"))
    );
    // Nor may a writer push to the base, even a commit whose checks pass.
    let (ok, err) = q.work.try_git_as(
        "alice-token",
        &["push", "origin", &format!("{head}:refs/heads/main")],
    );
    assert!(
        !ok && err.contains("GH006")
            && err.contains("Changes must be made through the merge queue"),
        "{err}"
    );
    // The refs API refuses it too.
    let (st, _) =
        q.e.patch(
            "alice-token",
            &format!("/repos/{QUEUED}/git/refs/heads/main"),
            json!({"sha": head}),
        )
        .await;
    assert_eq!(st, 422);
    // The queue's branches are GitHub's alone: not even the admin writes one.
    q.e.sim
        .enqueue(QUEUED, n, "alice", None, false)
        .expect("enqueued");
    let g = groups(&q.e).remove(0);
    let branch = g.head_ref.trim_start_matches("refs/heads/").to_string();
    let (ok, err) = q.work.try_git_as(
        "root-token",
        &[
            "push",
            "-f",
            "origin",
            &format!("{head}:refs/heads/{branch}"),
        ],
    );
    assert!(!ok && err.contains("GH006"), "{err}");
    assert_eq!(q.git(QUEUED, &["rev-parse", &g.head_ref]), g.head_sha);
    // The merge API honours bypass: the admin merges straight past the queue, which drops
    // the PR and its group.
    let (st, v) =
        q.e.put(
            "root-token",
            &format!("/repos/{QUEUED}/pulls/{n}/merge"),
            json!({"sha": head}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(q.e.sim.queue_entries(QUEUED).is_empty());
    let mg = q.deliveries("merge_group").await;
    assert_eq!(mg.last().unwrap()["reason"], "dequeued");
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn enqueue_is_refused_without_the_rules_or_at_another_head() {
    let q = setup(QUEUED).await;
    let (n, head) = q.pr(QUEUED, "early").await;
    let error = |v: &Value| {
        assert!(v["data"]["enqueuePullRequest"].is_null(), "{v}");
        (
            v["errors"][0]["type"].as_str().unwrap_or("").to_string(),
            v["errors"][0]["message"].as_str().unwrap_or("").to_string(),
        )
    };
    // No required check on the head yet: refused, for the admin too (no bypass).
    for token in ["alice-token", "root-token"] {
        let v = q.enqueue(token, QUEUED, n, Some(&head)).await;
        assert_eq!(
            error(&v),
            (
                "UNPROCESSABLE".into(),
                "Pull request Required status check \"prgate/approval\" is expected.".into()
            )
        );
    }
    q.status(QUEUED, &head, "failure").await;
    let v = q.enqueue("alice-token", QUEUED, n, None).await;
    assert_eq!(
        error(&v).1,
        "Pull request Required status check \"prgate/approval\" is failing."
    );
    q.status(QUEUED, &head, "success").await;
    // Another head than expected.
    let base = q.tip(QUEUED);
    let v = q.enqueue("alice-token", QUEUED, n, Some(&base)).await;
    assert_eq!(
        error(&v),
        (
            "UNPROCESSABLE".into(),
            "Head branch was modified. Review and try the merge again.".into()
        )
    );
    // Someone without write access.
    let v = q.enqueue("bob-token", QUEUED, n, Some(&head)).await;
    assert_eq!(error(&v).0, "FORBIDDEN");
    // An id that names nothing.
    let v = q
        .graphql("alice-token", ENQUEUE, json!({"id": "nope", "head": null}))
        .await;
    assert_eq!(
        error(&v),
        (
            "NOT_FOUND".into(),
            "Could not resolve to a node with the global id of 'nope'".into()
        )
    );
    // A field the input has not: refused before anything runs.
    let v = q
        .graphql(
            "alice-token",
            "mutation { enqueuePullRequest(input: {pullRequestId: \"x\", mergeMethod: SQUASH}) { clientMutationId } }",
            json!({}),
        )
        .await;
    assert!(v.get("data").is_none(), "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "InputObject 'EnqueuePullRequestInput' doesn't accept argument 'mergeMethod'"
    );
    // Nothing was queued so far; now it is, once.
    assert!(q.e.sim.queue_entries(QUEUED).is_empty());
    let v = q.enqueue("alice-token", QUEUED, n, Some(&head)).await;
    assert!(v.get("errors").is_none(), "{v}");
    let v = q.enqueue("alice-token", QUEUED, n, Some(&head)).await;
    assert_eq!(error(&v).1, "Pull request is already in the queue");
    // A push to the head takes it out.
    q.work.git(&["checkout", "-q", "early"]);
    let new_head = q.work.commit_file("early.txt", "changed\n", "change");
    q.work.push("early");
    q.e.sim.settle().await;
    assert!(q.e.sim.queue_entries(QUEUED).is_empty(), "a push dequeues");
    // dequeuePullRequest of a PR not queued, then of one that is.
    q.status(QUEUED, &new_head, "success").await;
    let id = q.node_id(QUEUED, n).await;
    let v = q.graphql("alice-token", DEQUEUE, json!({"id": id})).await;
    assert_eq!(
        v["errors"][0]["message"],
        "Pull request is not in the merge queue"
    );
    q.enqueue("alice-token", QUEUED, n, Some(&new_head)).await;
    let v = q.graphql("alice-token", DEQUEUE, json!({"id": id})).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        v["data"]["dequeuePullRequest"]["mergeQueueEntry"]["pullRequest"]["number"],
        json!(n)
    );
    assert!(q.e.sim.queue_entries(QUEUED).is_empty());
    q.e.sim.shutdown().await;
    // A branch with no queue has nothing to enqueue into.
    let q = setup("acme/plain").await;
    let (n, head) = q.pr("acme/plain", "plain").await;
    q.status("acme/plain", &head, "success").await;
    let err =
        q.e.sim
            .enqueue("acme/plain", n, "alice", None, false)
            .unwrap_err();
    assert_eq!(err.kind, "UNPROCESSABLE");
    let v = q.graphql(AGENT, "query { repository(owner: \"acme\", name: \"plain\") { mergeQueue { id } pullRequest(number: 1) { isMergeQueueEnabled isInMergeQueue } } }", json!({})).await;
    assert_eq!(v["data"]["repository"]["mergeQueue"], Value::Null, "{v}");
    assert_eq!(
        v["data"]["repository"]["pullRequest"]["isMergeQueueEnabled"],
        false
    );
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn jumping_the_queue_rebuilds_every_group_behind() {
    let q = setup(QUEUED).await;
    let base = q.tip(QUEUED);
    let mut heads = Vec::new();
    for b in ["first", "second", "urgent"] {
        let (n, head) = q.pr(QUEUED, b).await;
        q.status(QUEUED, &head, "success").await;
        heads.push((n, head));
    }
    for (n, _) in &heads[..2] {
        q.e.sim
            .enqueue(QUEUED, *n, "alice", None, false)
            .expect("enqueued");
    }
    let before = groups(&q.e);
    q.e.sim
        .enqueue(QUEUED, heads[2].0, "alice", None, true)
        .expect("jumped");
    let order: Vec<u64> =
        q.e.sim
            .queue_entries(QUEUED)
            .iter()
            .map(|e| e.number)
            .collect();
    assert_eq!(order, [heads[2].0, heads[0].0, heads[1].0]);
    let after = groups(&q.e);
    assert_eq!(after[0].base_sha, base);
    assert_eq!(after[1].base_sha, after[0].head_sha);
    assert!(
        after[1..]
            .iter()
            .zip(&before)
            .all(|(a, b)| a.head_sha != b.head_sha)
    );
    q.e.sim.shutdown().await;
}

/// The deliveries' shapes: GitHub's OpenAPI description of the `merge_group` webhooks, and
/// the fields of the example deliveries in @octokit/webhooks-examples.
#[tokio::test]
async fn merge_group_deliveries_have_githubs_shape() {
    let dir = ensure(&["@octokit/openapi", "@octokit/webhooks-examples"]);
    let q = setup(QUEUED).await;
    let (n, head) = q.pr(QUEUED, "shape").await;
    q.status(QUEUED, &head, "success").await;
    q.e.sim
        .enqueue(QUEUED, n, "alice", None, false)
        .expect("enqueued");
    let g = groups(&q.e).remove(0);
    q.status(QUEUED, &g.head_sha, "success").await;
    let mg = q.deliveries("merge_group").await;
    assert_eq!(mg.len(), 2);

    let examples: Value = serde_json::from_slice(
        &std::fs::read(
            dir.join("node_modules/@octokit/webhooks-examples/api.github.com/index.json"),
        )
        .expect("the examples"),
    )
    .expect("JSON");
    let example = examples
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "merge_group")
        .map(|e| e["examples"][0].clone())
        .expect("a merge_group example");
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    for d in &mg {
        assert_eq!(keys(&d["merge_group"]), keys(&example["merge_group"]));
        assert_eq!(
            keys(&d["merge_group"]["head_commit"]),
            keys(&example["merge_group"]["head_commit"])
        );
        assert_eq!(
            keys(&d["merge_group"]["head_commit"]["author"]),
            keys(&example["merge_group"]["head_commit"]["author"])
        );
        // A repository hook's delivery: no `installation` (an app's) nor `organization`.
        for k in keys(d) {
            assert!(
                example.get(&k).is_some() || k == "reason",
                "{k} is not in GitHub's example"
            );
        }
    }

    let text = std::fs::read_to_string(
        dir.join("node_modules/@octokit/openapi/generated/api.github.com.json"),
    )
    .expect("the OpenAPI description");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let schemas = &doc["components"]["schemas"];
    for (d, name) in mg.iter().zip([
        "webhook-merge-group-checks-requested",
        "webhook-merge-group-destroyed",
    ]) {
        // The `merge_group` and its `head_commit` as the description has them, with their
        // enums (`action`, `reason`); `repository` and `sender` are the same objects as every
        // other delivery's.
        let schema = &schemas[name];
        let action = schema["properties"]["action"]["enum"].as_array().unwrap();
        assert!(action.contains(&d["action"]), "{name}: {}", d["action"]);
        if let Some(reasons) = schema["properties"]["reason"]["enum"].as_array() {
            assert!(reasons.contains(&d["reason"]), "{}", d["reason"]);
        }
        let mut root = Map::new();
        root.insert("$ref".into(), json!("#/components/schemas/merge-group"));
        root.insert(
            "components".into(),
            json!({"schemas": {
                "merge-group": strip_nullable(schemas["merge-group"].clone()),
                "simple-commit": strip_nullable(schemas["simple-commit"].clone()),
            }}),
        );
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&Value::Object(root))
            .expect("the schema compiles");
        let problems: Vec<String> = validator
            .iter_errors(&d["merge_group"])
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        assert!(problems.is_empty(), "{name}: {problems:?}");
        for required in schema["required"].as_array().unwrap() {
            assert!(
                d.get(required.as_str().unwrap()).is_some(),
                "{name} needs {required}"
            );
        }
    }
    q.e.sim.shutdown().await;
}

/// OpenAPI 3.0's `nullable` is no JSON Schema: the objects here carry it on `author` and
/// `committer`, which the simulator always fills.
fn strip_nullable(mut v: Value) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.remove("nullable");
            for (_, c) in o.iter_mut() {
                *c = strip_nullable(c.take());
            }
        }
        Value::Array(a) => {
            for c in a.iter_mut() {
                *c = strip_nullable(c.take());
            }
        }
        _ => {}
    }
    v
}

/// The mutations and queue reads, checked against GitHub's published schema with graphql-js
/// (as `sim_graphql.rs` does for prgate's queries): documents valid on GitHub, answers that
/// come back unchanged when re-executed on GitHub's schema.
#[tokio::test]
async fn queue_mutations_and_reads_fit_githubs_graphql_schema() {
    let dir = ensure(&["@octokit/graphql-schema", "graphql"]);
    let q = setup(QUEUED).await;
    let (n, head) = q.pr(QUEUED, "gql").await;
    q.status(QUEUED, &head, "success").await;
    let id = q.node_id(QUEUED, n).await;
    let mut executions = Vec::new();
    for (query, variables) in [
        (ENQUEUE, json!({"id": id, "head": head})),
        (QUEUE, json!({})),
        (DEQUEUE, json!({"id": id})),
        (
            "query Node($id: ID!) { node(id: $id) { __typename id ... on PullRequest { number isInMergeQueue } } }",
            json!({"id": id}),
        ),
    ] {
        let v = q.graphql("alice-token", query, variables.clone()).await;
        assert!(v.get("errors").is_none(), "{v}");
        executions.push(json!({"query": query, "variables": variables, "data": v["data"]}));
    }
    assert_eq!(
        executions[1]["data"]["repository"]["pullRequest"]["id"],
        json!(id)
    );
    assert_eq!(executions[3]["data"]["node"]["number"], json!(n));
    let input = json!({
        "documents": executions.iter().map(|x| x["query"].clone()).collect::<Vec<_>>(),
        "simSdl": prgate_sim::graphql::SCHEMA_SDL,
        "executions": executions,
    });
    let out = run_node_module(
        &dir,
        crate::sim_graphql::CHECK,
        input.to_string().as_bytes(),
    );
    let report: Value = serde_json::from_slice(&out).expect("the check prints JSON");
    for (i, errors) in report["validation"].as_array().unwrap().iter().enumerate() {
        assert_eq!(errors, &json!([]), "document {i} is not valid on GitHub");
    }
    assert_eq!(
        report["subset"],
        json!([]),
        "the simulator serves what GitHub does not"
    );
    for (i, x) in report["executions"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            x["errors"],
            json!([]),
            "answer {i} does not fit GitHub's schema"
        );
        assert_eq!(
            x["same"], true,
            "answer {i} changed under GitHub's schema: {}",
            x["result"]
        );
    }
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn check_runs_satisfy_required_checks_unless_pinned_to_another_app() {
    // Unpinned: a GitHub Actions job named `prgate/approval` satisfies protection, and is a
    // `check_run` delivery from `github-actions[bot]`.
    let q = setup("acme/plain").await;
    let (n, head) = q.pr("acme/plain", "actions").await;
    let merge = |token: &'static str, repo: &'static str, n: u64, sha: String| {
        let e = &q.e;
        async move {
            e.put(
                token,
                &format!("/repos/{repo}/pulls/{n}/merge"),
                json!({"sha": sha}),
            )
            .await
        }
    };
    let (st, v) = merge("alice-token", "acme/plain", n, head.clone()).await;
    assert_eq!(
        (st, v["message"].clone()),
        (
            405,
            json!("Required status check \"prgate/approval\" is expected.")
        )
    );
    let run =
        q.e.sim
            .actions_check_run("acme/plain", &head, CONTEXT, None)
            .expect("a run");
    let (st, v) = merge("alice-token", "acme/plain", n, head.clone()).await;
    assert_eq!(
        (st, v["message"].clone()),
        (
            405,
            json!("Required status check \"prgate/approval\" is pending.")
        )
    );
    q.e.sim
        .actions_check_run("acme/plain", &head, CONTEXT, Some("success"))
        .expect("a run");
    let runs = q.deliveries("check_run").await;
    assert_eq!(runs.len(), 3, "created, created, completed");
    assert_eq!(runs[0]["check_run"]["id"], json!(run));
    assert!(
        runs.iter()
            .all(|r| r["sender"]["login"] == "github-actions[bot]"
                && r["check_run"]["app"]["slug"] == "github-actions"
                && r["check_run"]["name"] == CONTEXT)
    );
    // The latest run of each app counts, and a status of the same name is required too:
    // "both the check and the status are required".
    q.status("acme/plain", &head, "failure").await;
    let (st, v) = merge("alice-token", "acme/plain", n, head.clone()).await;
    assert_eq!(
        (st, v["message"].clone()),
        (
            405,
            json!("Required status check \"prgate/approval\" is failure.")
        )
    );
    q.status("acme/plain", &head, "success").await;
    let (st, v) = merge("alice-token", "acme/plain", n, head.clone()).await;
    assert_eq!(st, 200, "{v}");
    q.e.sim.shutdown().await;

    // The same run enqueues a PR on a queued branch, and satisfies the group's check.
    let q = setup(QUEUED).await;
    let (n, head) = q.pr(QUEUED, "actions").await;
    q.e.sim
        .actions_check_run(QUEUED, &head, CONTEXT, Some("success"))
        .expect("a run");
    q.e.sim
        .enqueue(QUEUED, n, "alice", None, false)
        .expect("a check run meets the rule");
    let g = groups(&q.e).remove(0);
    q.e.sim
        .actions_check_run(QUEUED, &g.head_sha, CONTEXT, Some("skipped"))
        .expect("a run");
    assert_eq!(q.tip(QUEUED), g.head_sha, "skipped counts as passing");
    q.e.sim.shutdown().await;

    // Pinned to the app 4242: another app's run does not count; the app's own does.
    let q = setup("acme/pinned").await;
    let (n, head) = q.pr("acme/pinned", "pinned").await;
    q.e.sim
        .actions_check_run("acme/pinned", &head, CONTEXT, Some("success"))
        .expect("a run");
    let (st, v) =
        q.e.put(
            "alice-token",
            &format!("/repos/acme/pinned/pulls/{n}/merge"),
            json!({"sha": head}),
        )
        .await;
    assert_eq!(
        (st, v["message"].clone()),
        (
            405,
            json!("Required status check \"prgate/approval\" is expected.")
        )
    );
    let app = app_token(&q.e).await;
    let (st, v) =
        q.e.post(
            &app,
            "/repos/acme/pinned/check-runs",
            json!({"name": CONTEXT, "head_sha": head, "conclusion": "success"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) =
        q.e.put(
            "alice-token",
            &format!("/repos/acme/pinned/pulls/{n}/merge"),
            json!({"sha": head}),
        )
        .await;
    assert_eq!(st, 200, "the pinned app's run satisfies it: {v}");
    q.e.sim.shutdown().await;
}

/// An installation token of the app 4242 (`prgate`), from a JWT signed with its key.
async fn app_token(e: &Env) -> String {
    let key =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app.pem"))
            .expect("the app's key");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&key).expect("an RSA key");
    let now = chrono::Utc::now().timestamp();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": "4242", "iat": now - 60, "exp": now + 540}),
        &key,
    )
    .expect("sign");
    let (st, t) = e
        .post(&jwt, "/app/installations/7/access_tokens", json!({}))
        .await;
    assert_eq!(st, 201, "{t}");
    t["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn altering_a_group_requests_its_checks_again_on_the_new_commit() {
    let q = setup(QUEUED).await;
    let (n, head) = q.pr(QUEUED, "alter").await;
    q.status(QUEUED, &head, "success").await;
    q.e.sim
        .enqueue(QUEUED, n, "alice", None, false)
        .expect("enqueued");
    let g = groups(&q.e).remove(0);
    let new =
        q.e.sim
            .alter_queue_group(QUEUED, n, "extra.txt", "smuggled\n")
            .expect("altered");
    assert_ne!(new, g.head_sha);
    assert_eq!(
        q.git(QUEUED, &["show", &format!("{new}:extra.txt")]),
        "smuggled"
    );
    let mg = q.deliveries("merge_group").await;
    assert_eq!(mg.last().unwrap()["merge_group"]["head_sha"], json!(new));
    // A success on the old commit lands nothing; on the new one it lands the new one.
    q.status(QUEUED, &g.head_sha, "success").await;
    assert_ne!(q.tip(QUEUED), g.head_sha);
    q.status(QUEUED, &new, "success").await;
    assert_eq!(q.tip(QUEUED), new);
    q.e.sim.shutdown().await;
}

#[tokio::test]
async fn a_bot_in_a_team_is_refused_at_start_naming_it() {
    let seed = "[[users]]\nlogin = \"alice\"\ntoken = \"a\"\n[[users]]\nlogin = \"ops-agent[bot]\"\ntype = \"Bot\"\ntoken = \"b\"\n[[teams]]\norg = \"acme\"\nslug = \"netops\"\nmembers = [\"alice\", \"ops-agent[bot]\"]\n";
    let e = prgate_sim::SimState::from_toml(seed)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("team acme/netops")
            && e.contains("ops-agent[bot] is a Bot account")
            && e.contains("remove it"),
        "{e}"
    );
    // A state built in code is checked at start as well.
    let mut state = prgate_sim::SimState::from_toml("[[users]]\nlogin = \"alice\"\ntoken = \"a\"\n[[users]]\nlogin = \"ops-agent[bot]\"\ntype = \"Bot\"\ntoken = \"b\"\n").unwrap();
    state.teams.push(prgate_sim::SeedTeam {
        org: "acme".into(),
        slug: "netops".into(),
        members: serde_json::from_value(json!(["ops-agent[bot]"])).unwrap(),
    });
    let dir = tempfile::tempdir().unwrap();
    let e = match prgate_sim::start("127.0.0.1:0".parse().unwrap(), state, dir.path().join("d"))
        .await
    {
        Ok(_) => panic!("a bot in a team must not start"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("ops-agent[bot] is a Bot account"), "{e}");
}
