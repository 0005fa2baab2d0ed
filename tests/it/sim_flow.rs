//! The simulator end to end: real git pushes to the clone URL over HTTP, a PR, reviews,
//! statuses, and merges with sha pinning and branch protection, with the webhooks a receiver
//! gets.

use crate::sim_support::{env, git, receiver};
use serde_json::json;

const AGENT: &str = "agent-token";
const AGENT_EMAIL: &str = "agent@bots.example.com";

#[tokio::test]
async fn propose_review_protect_and_merge() {
    let e = env().await;
    let hook = receiver("hook-secret").await;
    e.sim.add_hook(&hook.url, "hook-secret");

    let work = e.clone_repo("acme/infra", AGENT, "ops-agent", AGENT_EMAIL);
    let base = work.commit_file("README.md", "infra\n", "first commit");
    // main is protected: the admin pushes its first commit.
    work.push_as("root-token", "main");
    work.git(&["checkout", "-q", "-b", "prgate/ops-agent/fw"]);
    let head = work.commit_file("firewall/rules.txt", "allow 443\n", "open 443");
    work.push("prgate/ops-agent/fw");

    let (st, pr) = e
        .post(AGENT, "/repos/acme/infra/pulls", json!({"title": "Open 443", "head": "prgate/ops-agent/fw", "base": "main", "body": "why"}))
        .await;
    assert_eq!(st, 201, "{pr}");
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["head"]["sha"], head.as_str());
    assert_eq!(pr["base"]["sha"], base.as_str());
    assert_eq!(pr["user"]["login"], "ops-agent[bot]");
    assert_eq!(pr["user"]["type"], "Bot");
    let (st, dup) = e
        .post(
            AGENT,
            "/repos/acme/infra/pulls",
            json!({"title": "again", "head": "acme:prgate/ops-agent/fw", "base": "main"}),
        )
        .await;
    assert_eq!(st, 422, "{dup}");
    let (st, _) = e
        .post(
            AGENT,
            "/repos/acme/infra/pulls",
            json!({"title": "x", "head": "nope", "base": "main"}),
        )
        .await;
    assert_eq!(st, 422);

    // Reviews: no self-approval; an approval pins the head commit.
    let (st, err) = e
        .post(
            AGENT,
            "/repos/acme/infra/pulls/1/reviews",
            json!({"event": "APPROVE"}),
        )
        .await;
    assert_eq!(st, 422, "{err}");
    let (st, review) = e
        .post(
            "alice-token",
            "/repos/acme/infra/pulls/1/reviews",
            json!({"event": "APPROVE", "body": "ok"}),
        )
        .await;
    assert_eq!(st, 200, "{review}");
    assert_eq!(review["state"], "APPROVED");
    assert_eq!(review["commit_id"], head.as_str());
    assert_eq!(review["user"]["id"], 1000);
    let (_, reviews) = e
        .get("bob-token", "/repos/acme/infra/pulls/1/reviews")
        .await;
    assert_eq!(reviews.as_array().map(Vec::len), Some(1));

    // Commits and files of the PR, in one compare call too.
    let (_, commits) = e.get(AGENT, "/repos/acme/infra/pulls/1/commits").await;
    assert_eq!(commits[0]["sha"], head.as_str());
    assert_eq!(commits[0]["author"]["login"], "ops-agent[bot]");
    let (_, files) = e.get(AGENT, "/repos/acme/infra/pulls/1/files").await;
    assert_eq!(files[0]["filename"], "firewall/rules.txt");
    assert_eq!(files[0]["status"], "added");
    let (_, cmp) = e
        .get(
            AGENT,
            "/repos/acme/infra/compare/main...prgate/ops-agent/fw",
        )
        .await;
    assert_eq!(cmp["status"], "ahead");
    assert_eq!(cmp["ahead_by"], 1);
    assert_eq!(cmp["merge_base_commit"]["sha"], base.as_str());

    // Merge: pinned sha must match; protection needs the required context as a writer.
    let (st, err) = e
        .put(
            AGENT,
            "/repos/acme/infra/pulls/1/merge",
            json!({"sha": base, "merge_method": "merge"}),
        )
        .await;
    assert_eq!(st, 409, "{err}");
    let (st, err) = e
        .put(
            AGENT,
            "/repos/acme/infra/pulls/1/merge",
            json!({"sha": head}),
        )
        .await;
    assert_eq!(st, 405, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("prgate/approval"),
        "{err}"
    );
    let (st, _) = e
        .post(
            "carol-token",
            &format!("/repos/acme/infra/statuses/{head}"),
            json!({"state": "success", "context": "prgate/approval"}),
        )
        .await;
    assert_eq!(st, 403, "a non-writer cannot post statuses");
    let long = "x".repeat(141);
    let (st, _) = e
        .post(
            AGENT,
            &format!("/repos/acme/infra/statuses/{head}"),
            json!({"state": "success", "context": "prgate/approval", "description": long}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, s) = e
        .post(
            AGENT,
            &format!("/repos/acme/infra/statuses/{head}"),
            json!({"state": "pending", "context": "prgate/approval"}),
        )
        .await;
    assert_eq!(st, 201, "{s}");
    let (st, _) = e
        .put(
            AGENT,
            "/repos/acme/infra/pulls/1/merge",
            json!({"sha": head}),
        )
        .await;
    assert_eq!(st, 405, "pending is not success");
    e.post(AGENT, &format!("/repos/acme/infra/statuses/{head}"), json!({"state": "success", "context": "prgate/approval", "description": "approved by alice"}))
        .await;
    let (_, combined) = e
        .get(AGENT, &format!("/repos/acme/infra/commits/{head}/status"))
        .await;
    assert_eq!(combined["state"], "success");
    assert_eq!(combined["total_count"], 1);
    let (_, all) = e
        .get(AGENT, &format!("/repos/acme/infra/commits/{head}/statuses"))
        .await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(all[0]["creator"]["login"], "ops-agent[bot]");

    let (st, merged) = e
        .put(AGENT, "/repos/acme/infra/pulls/1/merge", json!({"sha": head, "commit_title": "Merge #1", "commit_message": "Prgate-Pull: acme/infra#1", "merge_method": "merge"}))
        .await;
    assert_eq!(st, 200, "{merged}");
    assert_eq!(merged["merged"], true);
    let m = merged["sha"].as_str().expect("merge sha").to_string();
    let bare = e.dir.path().join("data/acme/infra.git");
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), m);
    assert_eq!(git(&bare, &["rev-parse", &format!("{m}^1")]), base);
    assert_eq!(git(&bare, &["rev-parse", &format!("{m}^2")]), head);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%B", &m]),
        "Merge #1\n\nPrgate-Pull: acme/infra#1"
    );
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%an <%ae>", &m]),
        "ops-agent[bot] <agent@bots.example.com>"
    );
    let (_, pr) = e.get(AGENT, "/repos/acme/infra/pulls/1").await;
    assert_eq!(pr["state"], "closed");
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["merge_commit_sha"], m.as_str());
    let (_, pulls) = e
        .get(AGENT, &format!("/repos/acme/infra/commits/{m}/pulls"))
        .await;
    assert_eq!(pulls[0]["number"], 1);
    let (_, commits) = e.get(AGENT, "/repos/acme/infra/pulls/1/commits").await;
    assert_eq!(
        commits.as_array().map(Vec::len),
        Some(1),
        "a merged PR keeps its commits"
    );

    // An admin bypasses protection...
    work.git(&["fetch", "-q", "origin"]);
    work.git(&["checkout", "-q", "-b", "second", &m]);
    work.commit_file("firewall/rules.txt", "allow 443\nallow 22\n", "open 22");
    work.push("second");
    let (st, _) = e
        .post(
            AGENT,
            "/repos/acme/infra/pulls",
            json!({"title": "Open 22", "head": "second", "base": "main"}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, err) = e
        .put(AGENT, "/repos/acme/infra/pulls/2/merge", json!({}))
        .await;
    assert_eq!(st, 405, "{err}");
    let (st, res) = e
        .put(
            "root-token",
            "/repos/acme/infra/pulls/2/merge",
            json!({"merge_method": "squash"}),
        )
        .await;
    assert_eq!(st, 200, "{res}");
    let squash = res["sha"].as_str().expect("sha");
    assert_eq!(
        git(&bare, &["rev-list", "--parents", "-n1", squash])
            .split(' ')
            .count(),
        2,
        "squash has one parent"
    );

    // ...unless enforce_admins.
    let strict = e.clone_repo("acme/strict", AGENT, "ops-agent", AGENT_EMAIL);
    let first = strict.commit_file("a.txt", "a\n", "first");
    // Even the admin cannot create the protected main without its required status: the
    // first commit goes to another branch, gets its status, then becomes main.
    let (ok, err) = strict.try_push_as("root-token", "main", false);
    assert!(!ok && err.contains("GH006"), "{err}");
    strict.push("seed");
    let (st, _) = e
        .post(
            AGENT,
            &format!("/repos/acme/strict/statuses/{first}"),
            json!({"state": "success", "context": "prgate/approval"}),
        )
        .await;
    assert_eq!(st, 201);
    strict.push("main");
    strict.git(&["checkout", "-q", "-b", "change"]);
    strict.commit_file("a.txt", "b\n", "change");
    strict.push("change");
    let (st, _) = e
        .post(
            AGENT,
            "/repos/acme/strict/pulls",
            json!({"title": "t", "head": "change", "base": "main"}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, err) = e
        .put("root-token", "/repos/acme/strict/pulls/1/merge", json!({}))
        .await;
    assert_eq!(st, 405, "{err}");

    // Webhooks for all of it, signed.
    e.sim.settle().await;
    let got = hook.events();
    assert!(
        got.iter().all(|d| d.signature_ok),
        "every delivery is signed"
    );
    assert_eq!(got[0].event, "ping");
    assert!(
        hook.find("pull_request", |b| b["action"] == "opened"
            && b["number"] == 1)
            .is_some()
    );
    assert!(
        hook.find("pull_request_review", |b| b["action"] == "submitted"
            && b["review"]["state"] == "approved")
            .is_some()
    );
    assert!(
        hook.find("status", |b| b["state"] == "success"
            && b["sender"]["login"] == "ops-agent[bot]")
            .is_some()
    );
    assert!(
        hook.find("pull_request", |b| b["action"] == "closed"
            && b["pull_request"]["merged"] == true)
            .is_some()
    );
    assert!(
        hook.find("push", |b| b["ref"] == "refs/heads/main"
            && b["after"] == m.as_str())
            .is_some()
    );
    e.sim.shutdown().await;
}

#[tokio::test]
async fn plain_git_push_is_announced_and_synchronizes_the_pull() {
    let e = env().await;
    let hook = receiver("s3cret").await;
    e.sim.add_hook(&hook.url, "s3cret");
    let work = e.clone_repo(
        "acme/infra",
        "alice-token",
        "alice",
        "alice@users.noreply.github.com",
    );
    work.commit_file("README.md", "x\n", "first");
    work.push_as("root-token", "main");
    work.git(&["checkout", "-q", "-b", "topic"]);
    let first = work.commit_file("a.txt", "1\n", "one");
    work.push("topic");
    let (st, _) = e
        .post(
            "alice-token",
            "/repos/acme/infra/pulls",
            json!({"title": "t", "head": "topic", "base": "main"}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = e
        .post(
            "bob-token",
            "/repos/acme/infra/pulls/1/reviews",
            json!({"event": "APPROVE"}),
        )
        .await;
    assert_eq!(st, 200);
    let second = work.commit_file("a.txt", "2\n", "two");
    work.push("topic");
    // No API call here: the git server announces the push by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if hook
            .find("pull_request", |b| b["action"] == "synchronize")
            .is_some()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no synchronize delivery: {:?}",
            hook.events()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    e.sim.settle().await;
    let push = hook
        .find("push", |b| {
            b["ref"] == "refs/heads/topic" && b["after"] == second.as_str()
        })
        .expect("push delivery");
    assert!(push.signature_ok);
    assert_eq!(push.body["before"], first.as_str());
    assert_eq!(push.body["commits"][0]["id"], second.as_str());
    assert_eq!(push.body["commits"][0]["author"]["username"], "alice");
    assert_eq!(push.body["sender"]["login"], "alice");
    assert_eq!(push.body["repository"]["full_name"], "acme/infra");
    assert_eq!(push.delivery_id.len(), 36);
    let sync = hook
        .find("pull_request", |b| b["action"] == "synchronize")
        .expect("synchronize");
    assert_eq!(sync.body["pull_request"]["head"]["sha"], second.as_str());
    assert_eq!(sync.body["before"], first.as_str());
    // Reviews are kept on push, as GitHub does by default.
    let (_, reviews) = e
        .get("bob-token", "/repos/acme/infra/pulls/1/reviews")
        .await;
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_eq!(reviews[0]["commit_id"], first.as_str());
    e.sim.shutdown().await;
}

#[tokio::test]
async fn dismissal_and_base_change_are_announced() {
    let e = env().await;
    let hook = receiver("k").await;
    e.sim.add_hook(&hook.url, "k");
    let work = e.clone_repo(
        "acme/infra",
        "alice-token",
        "alice",
        "alice@users.noreply.github.com",
    );
    work.commit_file("a", "a\n", "first");
    work.push_as("root-token", "main");
    work.push("release");
    work.git(&["checkout", "-q", "-b", "topic"]);
    work.commit_file("b", "b\n", "second");
    work.push("topic");
    let (st, _) = e
        .post(
            "alice-token",
            "/repos/acme/infra/pulls",
            json!({"title": "t", "head": "topic", "base": "main"}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, review) = e
        .post(
            "bob-token",
            "/repos/acme/infra/pulls/1/reviews",
            json!({"event": "APPROVE"}),
        )
        .await;
    let id = review["id"].as_u64().expect("review id");
    let path = format!("/repos/acme/infra/pulls/1/reviews/{id}/dismissals");
    let (st, _) = e.put("bob-token", &path, json!({"message": "no"})).await;
    assert_eq!(st, 403, "a non-writer cannot dismiss");
    let (st, dismissed) = e
        .put("alice-token", &path, json!({"message": "stale"}))
        .await;
    assert_eq!((st, dismissed["state"].as_str()), (200, Some("DISMISSED")));
    let (st, pr) = e
        .patch(
            "alice-token",
            "/repos/acme/infra/pulls/1",
            json!({"base": "release"}),
        )
        .await;
    assert_eq!((st, pr["base"]["ref"].as_str()), (200, Some("release")));
    e.sim.settle().await;
    assert!(
        hook.find("pull_request_review", |b| b["action"] == "dismissed")
            .is_some()
    );
    let edited = hook
        .find("pull_request", |b| b["action"] == "edited")
        .expect("edited");
    assert_eq!(edited.body["changes"]["base"]["ref"]["from"], "main");
    e.sim.shutdown().await;
}
