//! The simulator's git server as GitHub's: smart HTTP with token authentication, branch
//! protection on push (GH006), pushes announced with the authenticated pusher (never a commit
//! email), and the repository activity API that records them.

use std::io::Write;

use crate::sim_support::{Env, Work, env, receiver, try_git};
use serde_json::{Value, json};

const AGENT: &str = "agent-token";
const AGENT_EMAIL: &str = "agent@bots.example.com";

/// A clone of acme/infra whose main has one commit, pushed by the admin root.
fn seeded(e: &Env, token: &str, name: &str, email: &str) -> (Work, String) {
    let work = e.clone_repo("acme/infra", token, name, email);
    let base = work.commit_file("README.md", "infra\n", "first");
    work.push_as("root-token", "main");
    (work, base)
}

async fn activity(e: &Env, query: &str) -> Vec<Value> {
    let (st, v) = e
        .get(AGENT, &format!("/repos/acme/infra/activity{query}"))
        .await;
    assert_eq!(st, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

fn remote_main(e: &Env) -> String {
    let bare = e.sim.git_dir("acme/infra").expect("bare dir");
    crate::sim_support::git(&bare, &["rev-parse", "refs/heads/main"])
}

#[tokio::test]
async fn git_needs_a_token_and_is_no_api_call() {
    let e = env().await;
    let (_work, base) = seeded(&e, AGENT, "ops-agent", AGENT_EMAIL);
    let url = e.sim.clone_url("acme/infra").expect("url");
    let calls = e.sim.api_calls();

    // No credentials: 401 with the challenge that makes git ask for some.
    let refs = format!("{url}/info/refs?service=git-upload-pack");
    let r = e.http.get(&refs).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"GitHub\"")
    );
    let dir = e.dir.path();
    let (ok, err) = try_git(dir, &["clone", "-q", &url, "anon"]);
    assert!(!ok, "a clone without a token must fail");
    assert!(err.contains("terminal prompts disabled"), "{err}");

    // A bad token: 401 again, and git says authentication failed.
    let r = e
        .http
        .get(&refs)
        .basic_auth("x-access-token", Some("wrong"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let bad = url.replace("http://", "http://x-access-token:wrong@");
    let (ok, err) = try_git(dir, &["clone", "-q", &bad, "bad"]);
    assert!(!ok && err.contains("Authentication failed"), "{err}");

    // A token as the password, with any user name: the smart protocol's advertisement.
    let r = e
        .http
        .get(&refs)
        .basic_auth("anyone", Some("carol-token"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-git-upload-pack-advertisement")
    );
    let body = r.text().await.expect("body");
    assert!(
        body.starts_with("001e# service=git-upload-pack\n0000"),
        "{body}"
    );
    assert!(body.contains(&format!("{base} refs/heads/main")), "{body}");
    let good = url.replace("http://", "http://x-access-token:carol-token@");
    let (ok, err) = try_git(dir, &["clone", "-q", &good, "good"]);
    assert!(ok, "{err}");
    assert_eq!(
        crate::sim_support::git(&dir.join("good"), &["rev-parse", "HEAD"]),
        base
    );

    // An unknown repository, and the dumb protocol GitHub does not serve.
    let r = e
        .http
        .get(format!(
            "{}/acme/nope.git/info/refs?service=git-upload-pack",
            e.sim.api_url
        ))
        .basic_auth("x", Some(AGENT))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let r = e
        .http
        .get(format!("{url}/info/refs"))
        .basic_auth("x", Some(AGENT))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    assert_eq!(e.sim.api_calls(), calls, "git requests are no API calls");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn a_gzipped_protocol_v2_request_is_understood() {
    let e = env().await;
    let (_work, base) = seeded(&e, AGENT, "ops-agent", AGENT_EMAIL);
    let url = e.sim.clone_url("acme/infra").expect("url");
    let mut request = Vec::new();
    for line in ["command=ls-refs\n", "object-format=sha1\n"] {
        request.extend_from_slice(format!("{:04x}{line}", line.len() + 4).as_bytes());
    }
    request.extend_from_slice(b"0001");
    let prefix = "ref-prefix refs/heads/\n";
    request.extend_from_slice(format!("{:04x}{prefix}", prefix.len() + 4).as_bytes());
    request.extend_from_slice(b"0000");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&request).expect("gzip");
    let r = e
        .http
        .post(format!("{url}/git-upload-pack"))
        .basic_auth("x-access-token", Some(AGENT))
        .header("Content-Type", "application/x-git-upload-pack-request")
        .header("Content-Encoding", "gzip")
        .header("Git-Protocol", "version=2")
        .body(gz.finish().expect("gzip"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains(&format!("{base} refs/heads/main")), "{body}");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn a_reader_without_write_access_cannot_push() {
    let e = env().await;
    let (_, _) = seeded(&e, AGENT, "ops-agent", AGENT_EMAIL);
    let carol = e.clone_repo("acme/infra", "carol-token", "carol", "carol@example.com");
    carol.commit_file("a.txt", "carol\n", "mine");
    let (ok, err) = carol.try_push_as("carol-token", "topic", false);
    assert!(!ok, "carol may read but not write");
    assert!(
        err.contains("Permission to acme/infra.git denied to carol."),
        "{err}"
    );
    let (st, _) = e.get(AGENT, "/repos/acme/infra/git/ref/heads/topic").await;
    assert_eq!(st, 404, "nothing was created");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn a_writer_cannot_push_to_protected_main_and_nothing_is_announced() {
    let e = env().await;
    let hook = receiver("s").await;
    e.sim.add_hook(&hook.url, "s");
    let (work, base) = seeded(&e, "alice-token", "alice", "alice@users.noreply.github.com");
    work.commit_file("firewall.txt", "allow all\n", "open everything");
    let (ok, err) = work.try_push_as("alice-token", "main", false);
    assert!(!ok, "alice is a writer, not an admin: main is protected");
    assert!(
        err.contains("remote: error: GH006: Protected branch update failed for refs/heads/main."),
        "{err}"
    );
    assert!(
        err.contains("Required status check \"prgate/approval\" is expected."),
        "{err}"
    );
    assert!(err.contains("(protected branch hook declined)"), "{err}");
    assert_eq!(remote_main(&e), base, "main did not move");

    // Deleting main or force-pushing over it is refused too, whatever its statuses.
    let (ok, err) = work.try_git_as("alice-token", &["push", "origin", ":main"]);
    assert!(
        !ok && err.contains("Cannot delete this protected branch"),
        "{err}"
    );
    work.git(&["checkout", "-q", "--orphan", "unrelated"]);
    let other = work.commit_file("other.txt", "x\n", "unrelated history");
    work.push("unrelated");
    e.post(
        AGENT,
        &format!("/repos/acme/infra/statuses/{other}"),
        json!({"state": "success", "context": "prgate/approval"}),
    )
    .await;
    let (ok, err) = work.try_push_as("alice-token", "main", true);
    assert!(
        !ok && err.contains("Cannot force-push to this branch"),
        "{err}"
    );

    // One push of two refs: the protected one is refused, the other lands.
    work.git(&["checkout", "-q", "-B", "topic", &base]);
    let topic = work.commit_file("b.txt", "b\n", "topic work");
    let (ok, err) = work.try_git_as(
        "alice-token",
        &[
            "push",
            "origin",
            "HEAD:refs/heads/main",
            "HEAD:refs/heads/topic",
        ],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("[new branch]") && err.contains("HEAD -> topic"),
        "{err}"
    );
    assert!(
        err.contains("HEAD -> main (protected branch hook declined)"),
        "{err}"
    );
    assert_eq!(remote_main(&e), base);

    e.sim.settle().await;
    let main_pushes: Vec<_> = hook
        .events()
        .into_iter()
        .filter(|d| d.event == "push" && d.body["ref"] == "refs/heads/main")
        .collect();
    assert_eq!(main_pushes.len(), 1, "only root's first push of main");
    let main_activity = activity(&e, "?ref=main").await;
    assert_eq!(main_activity.len(), 1, "{main_activity:?}");
    assert_eq!(main_activity[0]["activity_type"], "branch_creation");
    assert_eq!(main_activity[0]["actor"]["login"], "root");
    let topic_activity = activity(&e, "?ref=topic").await;
    assert_eq!(topic_activity[0]["after"], topic.as_str());
    assert_eq!(topic_activity[0]["actor"]["login"], "alice");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn admins_push_to_main_unless_enforce_admins() {
    let e = env().await;
    let (work, _) = seeded(&e, AGENT, "ops-agent", AGENT_EMAIL);
    let next = work.commit_file("c.txt", "c\n", "admin hotfix");
    work.push_as("root-token", "main");
    assert_eq!(remote_main(&e), next);

    let strict = e.clone_repo("acme/strict", AGENT, "ops-agent", AGENT_EMAIL);
    strict.commit_file("a.txt", "a\n", "first");
    let (ok, err) = strict.try_push_as("root-token", "main", false);
    assert!(
        !ok && err.contains("GH006: Protected branch update failed for refs/heads/main."),
        "enforce_admins holds the admin too: {err}"
    );
    e.sim.shutdown().await;
}

#[tokio::test]
async fn a_writer_may_push_a_commit_whose_required_checks_pass() {
    let e = env().await;
    let hook = receiver("s").await;
    e.sim.add_hook(&hook.url, "s");
    let (work, base) = seeded(&e, "alice-token", "alice", "alice@users.noreply.github.com");
    work.git(&["checkout", "-q", "-b", "topic"]);
    let head = work.commit_file("d.txt", "d\n", "reviewed change");
    work.push("topic");
    let (st, _) = e
        .post(
            "alice-token",
            "/repos/acme/infra/pulls",
            json!({"title": "t", "head": "topic", "base": "main"}),
        )
        .await;
    assert_eq!(st, 201);
    let (ok, err) = work.try_push_as("alice-token", "main", false);
    assert!(!ok && err.contains("GH006"), "no status yet: {err}");
    let statuses = format!("/repos/acme/infra/statuses/{head}");
    let status = |state: &'static str| {
        e.post(
            AGENT,
            &statuses,
            json!({"state": state, "context": "prgate/approval"}),
        )
    };
    status("failure").await;
    let (ok, err) = work.try_push_as("alice-token", "main", false);
    assert!(
        !ok && err.contains("Required status check \"prgate/approval\" is failing."),
        "{err}"
    );
    status("success").await;
    let (ok, err) = work.try_push_as("alice-token", "main", false);
    assert!(ok, "the PR head passed its required check: {err}");
    assert_eq!(remote_main(&e), head);

    e.sim.settle().await;
    let (_, pr) = e.get(AGENT, "/repos/acme/infra/pulls/1").await;
    assert_eq!(pr["merged"], true, "GitHub marks the PR merged by the push");
    assert_eq!(pr["merged_by"]["login"], "alice");
    let push = hook
        .find("push", |b| {
            b["ref"] == "refs/heads/main" && b["after"] == head.as_str()
        })
        .expect("push of main");
    assert_eq!(push.body["before"], base.as_str());
    assert_eq!(push.body["sender"]["login"], "alice");
    let a = activity(&e, "?ref=refs/heads/main&activity_type=push").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (a[0]["before"].as_str(), a[0]["after"].as_str()),
        (Some(base.as_str()), Some(head.as_str()))
    );
    e.sim.shutdown().await;
}

#[tokio::test]
async fn the_pusher_is_the_authenticated_account_not_the_commit_email() {
    let e = env().await;
    let hook = receiver("s").await;
    e.sim.add_hook(&hook.url, "s");
    // alice's token, the agent's name and email on every commit.
    let (work, base) = seeded(&e, "alice-token", "ops-agent", AGENT_EMAIL);
    work.git(&["checkout", "-q", "-b", "prgate/ops-agent/fw"]);
    let one = work.commit_file("fw.txt", "1\n", "one");
    work.push("prgate/ops-agent/fw");
    let two = work.commit_file("fw.txt", "2\n", "two");
    work.push("prgate/ops-agent/fw");
    work.git(&["reset", "-q", "--hard", &one]);
    let forced = work.commit_file("fw.txt", "3\n", "rewritten");
    let (ok, err) = work.try_push_as("alice-token", "prgate/ops-agent/fw", true);
    assert!(ok, "{err}");
    let (ok, err) = work.try_git_as("alice-token", &["push", "origin", ":prgate/ops-agent/fw"]);
    assert!(ok, "{err}");

    e.sim.settle().await;
    let push = hook
        .find("push", |b| b["after"] == two.as_str())
        .expect("push of two");
    assert_eq!(push.body["sender"]["login"], "alice");
    assert_eq!(push.body["pusher"]["name"], "alice");
    assert_eq!(
        push.body["pusher"]["email"],
        "alice@users.noreply.github.com"
    );
    assert_eq!(
        push.body["commits"][0]["author"]["username"],
        "ops-agent[bot]"
    );
    let force = hook
        .find("push", |b| b["after"] == forced.as_str())
        .expect("forced push");
    assert_eq!(force.body["forced"], true);
    assert_eq!(force.body["sender"]["login"], "alice");

    let a = activity(&e, "?ref=prgate/ops-agent/fw").await;
    let summary: Vec<(&str, &str, &str, &str)> = a
        .iter()
        .map(|x| {
            (
                x["activity_type"].as_str().unwrap_or(""),
                x["actor"]["login"].as_str().unwrap_or(""),
                x["before"].as_str().unwrap_or(""),
                x["after"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let zero = "0000000000000000000000000000000000000000";
    assert_eq!(
        summary,
        vec![
            ("branch_deletion", "alice", forced.as_str(), zero),
            ("force_push", "alice", two.as_str(), forced.as_str()),
            ("push", "alice", one.as_str(), two.as_str()),
            ("branch_creation", "alice", zero, one.as_str()),
        ]
    );
    assert_eq!(a[0]["ref"], "refs/heads/prgate/ops-agent/fw");
    assert!(activity(&e, "?actor=ops-agent%5Bbot%5D").await.is_empty());
    let _ = base;
    e.sim.shutdown().await;
}

#[tokio::test]
async fn activity_filters_pages_and_records_api_moves() {
    let e = env().await;
    let (work, base) = seeded(&e, AGENT, "ops-agent", AGENT_EMAIL);
    work.git(&["checkout", "-q", "-b", "topic"]);
    let head = work.commit_file("e.txt", "e\n", "e");
    work.push("topic");
    for i in 0..3 {
        let b = format!("b{i}");
        work.push_as("alice-token", &b);
    }
    // API moves: a branch created by the refs API, and a merge by the merge endpoint.
    let (st, _) = e
        .post(
            "alice-token",
            "/repos/acme/infra/git/refs",
            json!({"ref": "refs/heads/api-made", "sha": base}),
        )
        .await;
    assert_eq!(st, 201);
    e.post(
        AGENT,
        "/repos/acme/infra/pulls",
        json!({"title": "t", "head": "topic", "base": "main"}),
    )
    .await;
    let (st, merged) = e
        .put(
            "root-token",
            "/repos/acme/infra/pulls/1/merge",
            json!({"sha": head}),
        )
        .await;
    assert_eq!(st, 200, "{merged}");

    let all = activity(&e, "").await;
    assert_eq!(all.len(), 7, "{all:#?}");
    assert_eq!(all[0]["activity_type"], "pr_merge");
    assert_eq!(all[0]["actor"]["login"], "root");
    assert_eq!(all[0]["after"], merged["sha"]);
    assert_eq!(all[1]["ref"], "refs/heads/api-made");
    assert_eq!(all[1]["actor"]["login"], "alice");
    let asc = activity(&e, "?direction=asc").await;
    assert_eq!(asc[0]["ref"], "refs/heads/main");
    assert_eq!(asc[0]["actor"]["login"], "root");
    assert_eq!(activity(&e, "?actor=alice").await.len(), 4);
    assert_eq!(activity(&e, "?actor=ALICE&ref=b1").await.len(), 1);
    assert_eq!(
        activity(&e, "?activity_type=branch_creation").await.len(),
        6
    );
    assert_eq!(activity(&e, "?time_period=day").await.len(), 7);
    assert!(activity(&e, "?actor=nobody").await.is_empty());
    let (st, _) = e
        .get(AGENT, "/repos/acme/infra/activity?activity_type=merge")
        .await;
    assert_eq!(st, 422);
    let (st, _) = e.get(AGENT, "/repos/acme/infra/activity?after=bogus").await;
    assert_eq!(st, 422);

    // Cursor pagination: follow `next` to the end, then `prev` back.
    let mut seen = Vec::new();
    let mut url = e.url("/repos/acme/infra/activity?per_page=3");
    let mut prev = None;
    loop {
        let r = e
            .http
            .get(&url)
            .bearer_auth(AGENT)
            .send()
            .await
            .expect("get");
        let link = r
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let page: Vec<Value> = r.json().await.expect("json");
        seen.extend(page.iter().map(|a| a["id"].clone()));
        let rel = |name: &str| {
            link.split(", ")
                .find(|p| p.ends_with(&format!("rel=\"{name}\"")))
                .and_then(|p| p.split_once('>'))
                .map(|(u, _)| u.trim_start_matches('<').to_string())
        };
        prev = rel("prev").or(prev);
        match rel("next") {
            Some(next) => {
                assert!(
                    next.contains("per_page=3") && next.contains("after="),
                    "{next}"
                );
                url = next;
            }
            None => break,
        }
    }
    let ids: Vec<Value> = all.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(seen, ids, "the pages hold every entry once, in order");
    let prev = prev.expect("a prev link");
    let r = e
        .http
        .get(&prev)
        .bearer_auth(AGENT)
        .send()
        .await
        .expect("get");
    let page: Vec<Value> = r.json().await.expect("json");
    assert_eq!(
        page.iter().map(|a| a["id"].clone()).collect::<Vec<_>>(),
        ids[3..6].to_vec()
    );
    e.sim.shutdown().await;
}

#[tokio::test]
async fn a_move_written_past_the_server_has_no_actor() {
    let e = env().await;
    let hook = receiver("s").await;
    e.sim.add_hook(&hook.url, "s");
    let (_work, base) = seeded(&e, AGENT, "ops-agent", AGENT_EMAIL);
    let bare = e.sim.git_dir("acme/infra").expect("bare dir");
    crate::sim_support::git(&bare, &["update-ref", "refs/heads/sideways", &base]);
    e.sim.settle().await;
    let a = activity(&e, "?ref=sideways").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["activity_type"], "branch_creation");
    assert!(a[0]["actor"].is_null(), "{}", a[0]);
    let push = hook
        .find("push", |b| b["ref"] == "refs/heads/sideways")
        .expect("push announced");
    assert_eq!(push.body["sender"]["login"], "acme");
    assert_eq!(push.body["sender"]["type"], "Organization");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn the_refs_api_refuses_what_a_push_would() {
    let e = env().await;
    let (work, base) = seeded(&e, "alice-token", "alice", "alice@users.noreply.github.com");
    let next = work.commit_file("f.txt", "f\n", "next");
    work.push("topic");
    let main = "/repos/acme/infra/git/refs/heads/main";
    let (st, err) = e.patch("alice-token", main, json!({"sha": next})).await;
    assert_eq!(st, 422, "no passing status yet: {err}");
    e.post(
        AGENT,
        &format!("/repos/acme/infra/statuses/{next}"),
        json!({"state": "success", "context": "prgate/approval"}),
    )
    .await;
    let (st, r) = e.patch("alice-token", main, json!({"sha": next})).await;
    assert_eq!(st, 200, "a passing fast-forward: {r}");
    let (st, _) = e
        .patch("alice-token", main, json!({"sha": base, "force": true}))
        .await;
    assert_eq!(st, 422, "a forced move back");
    let (st, _) = e
        .call(reqwest::Method::DELETE, "alice-token", main, None)
        .await;
    assert_eq!(st, 422, "a deletion");
    let a = activity(&e, "?ref=main").await;
    assert_eq!(a[0]["activity_type"], "push");
    assert_eq!(a[0]["actor"]["login"], "alice");
    e.sim.shutdown().await;
}
