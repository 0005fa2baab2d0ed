//! Simulator API details the gate depends on: the atomic claim ref, commits that map to no
//! account, ETags and rate limits, authentication, fault injection and pagination.

use crate::sim_support::env;
use serde_json::json;

const AGENT: &str = "agent-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_ref_is_created_exactly_once_under_concurrency() {
    let e = env().await;
    let work = e.clone_repo("acme/infra", AGENT, "ops-agent", "agent@bots.example.com");
    let sha = work.commit_file("a", "a\n", "first");
    // main is protected: its first commit is pushed by the admin.
    work.push_as("root-token", "main");
    let body = json!({"ref": format!("refs/prgate/claims/{sha}"), "sha": sha});
    // Separate tasks on a multi-threaded runtime, so the requests really race.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, url, body) = (
            e.http.clone(),
            e.url("/repos/acme/infra/git/refs"),
            body.clone(),
        );
        set.spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(AGENT)
                .json(&body)
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        });
    }
    let results = set.join_all().await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let exists = results
        .iter()
        .filter(|(s, b)| *s == 422 && b["message"] == "Reference already exists")
        .count();
    assert_eq!((created, exists), (1, 7), "{results:?}");
    let (st, r) = e
        .get(
            AGENT,
            &format!("/repos/acme/infra/git/ref/prgate/claims/{sha}"),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(r["object"]["sha"], sha.as_str());
    let (_, list) = e
        .get(AGENT, "/repos/acme/infra/git/matching-refs/prgate/claims/")
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (st, _) = e
        .post(
            "carol-token",
            "/repos/acme/infra/git/refs",
            json!({"ref": "refs/heads/x", "sha": sha}),
        )
        .await;
    assert_eq!(st, 403, "a non-writer cannot create refs");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn commits_by_unknown_emails_have_no_account() {
    let e = env().await;
    let work = e.clone_repo(
        "acme/infra",
        "root-token",
        "Mallory",
        "mallory@elsewhere.example",
    );
    let sha = work.commit_file("a", "a\n", "first");
    work.push("main");
    let (st, c) = e
        .get(AGENT, &format!("/repos/acme/infra/commits/{sha}"))
        .await;
    assert_eq!(st, 200, "{c}");
    assert!(c["author"].is_null() && c["committer"].is_null(), "{c}");
    assert_eq!(c["commit"]["author"]["email"], "mallory@elsewhere.example");
    assert_eq!(c["files"][0]["filename"], "a");
    let (st, f) = e.get(AGENT, "/repos/acme/infra/contents/a?ref=main").await;
    assert_eq!(st, 200);
    assert_eq!(f["encoding"], "base64");
    assert_eq!(f["content"], "YQo=\n");
    let (st, _) = e
        .get(AGENT, "/repos/acme/infra/contents/missing?ref=main")
        .await;
    assert_eq!(st, 404);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn etags_give_304_without_spending_rate_limit() {
    let e = env().await;
    let get = |etag: Option<String>| {
        let mut r = e
            .http
            .get(e.url("/repos/acme/infra"))
            .bearer_auth("bob-token");
        if let Some(t) = etag {
            r = r.header("If-None-Match", t);
        }
        r.send()
    };
    let first = get(None).await.expect("get");
    assert_eq!(first.status(), 200);
    let h = |r: &reqwest::Response, k: &str| {
        r.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let etag = h(&first, "etag");
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(h(&first, "x-ratelimit-limit"), "5000");
    assert_eq!(h(&first, "x-ratelimit-remaining"), "4999");
    assert_eq!(h(&first, "x-ratelimit-resource"), "core");
    let again = get(Some(etag.clone())).await.expect("get");
    assert_eq!(again.status(), 304);
    assert_eq!(h(&again, "x-ratelimit-remaining"), "4999");
    assert!(again.bytes().await.expect("body").is_empty());
    let third = get(None).await.expect("get");
    assert_eq!(h(&third, "x-ratelimit-remaining"), "4998");
    // Another token has its own budget.
    let other = e
        .http
        .get(e.url("/user"))
        .header("Authorization", "token alice-token")
        .send()
        .await
        .expect("get");
    assert_eq!(h(&other, "x-ratelimit-remaining"), "4999");
    let me: serde_json::Value = other.json().await.expect("json");
    assert_eq!(me["login"], "alice");
    assert_eq!(me["id"], 1000);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_unknown_repos_and_injected_faults() {
    let e = env().await;
    let (st, b) = e.get("wrong", "/user").await;
    assert_eq!(st, 401);
    assert_eq!(b["message"], "Bad credentials");
    let r = e.http.get(e.url("/user")).send().await.expect("get");
    assert_eq!(r.status(), 401);
    let (st, b) = e.get(AGENT, "/repos/acme/nope").await;
    assert_eq!((st, b["message"].as_str()), (404, Some("Not Found")));
    let (st, _) = e
        .post(AGENT, "/repos/acme/infra/pulls", json!({"head": 5}))
        .await;
    assert_eq!(st, 400);

    let calls_before = e.sim.api_calls();
    e.sim.inject_fault("/teams/", 502, 1);
    let (st, _) = e.get(AGENT, "/orgs/acme/teams/netops/members").await;
    assert_eq!(st, 502);
    let (st, members) = e
        .get(AGENT, "/orgs/acme/teams/netops/members?per_page=1")
        .await;
    assert_eq!(st, 200);
    assert_eq!(members[0]["login"], "alice");
    let r = e
        .http
        .get(e.url("/orgs/acme/teams/netops/members?per_page=1"))
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
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    let (st, m) = e
        .get(AGENT, "/orgs/acme/teams/netops/memberships/bob")
        .await;
    assert_eq!((st, m["state"].as_str()), (200, Some("active")));
    let (st, _) = e
        .get(AGENT, "/orgs/acme/teams/netops/memberships/carol")
        .await;
    assert_eq!(st, 404);
    assert_eq!(e.sim.api_calls(), calls_before + 5);

    // The control endpoint does the same over HTTP and does not count as an API call.
    let r = e
        .http
        .post(e.url("/_sim/faults"))
        .json(&json!({"path_contains": "/user", "status": 500, "count": 2}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(e.get(AGENT, "/user").await.0, 500);
    assert_eq!(e.get(AGENT, "/user").await.0, 500);
    assert_eq!(e.get(AGENT, "/user").await.0, 200);
    let stats: serde_json::Value = e
        .http
        .get(e.url("/_sim/stats"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["api_calls"], e.sim.api_calls());
    e.sim.shutdown().await;
}

#[tokio::test]
async fn ready_line_and_clone_urls() {
    let e = env().await;
    let line: serde_json::Value = serde_json::from_str(&e.sim.ready_line()).expect("json");
    assert_eq!(line["api_url"], e.sim.api_url.as_str());
    let url = line["repos"]["acme/infra"].as_str().expect("clone url");
    assert_eq!(url, format!("{}/acme/infra.git", e.sim.api_url));
    let bare = e.sim.git_dir("Acme/Infra").expect("bare dir");
    assert!(bare.ends_with("acme/infra.git") && bare.join("HEAD").is_file());
    assert_eq!(e.sim.clone_url("Acme/Infra").as_deref(), Some(url));
    let (_, repo) = e.get(AGENT, "/repos/acme/infra").await;
    assert_eq!(repo["clone_url"], url);
    assert_eq!(repo["default_branch"], "main");
    e.sim.shutdown().await;
}

/// GitHub's "List commits" with `path` keeps only the commits that changed it, newest first;
/// `GET /user/{account_id}` answers an account by id whatever its login is today.
#[tokio::test]
async fn commits_listed_by_path_and_accounts_by_id() {
    let e = env().await;
    let work = e.clone_repo("acme/infra", "root-token", "Root", "root@acme.example");
    let first = work.commit_file("a", "1\n", "a one");
    work.commit_file("b", "1\n", "b one");
    let third = work.commit_file("a", "2\n", "a two");
    work.push("main");
    let (st, list) = e
        .get(AGENT, "/repos/acme/infra/commits?sha=main&path=a")
        .await;
    assert_eq!(st, 200, "{list}");
    let shas: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap())
        .collect();
    assert_eq!(shas, vec![third.as_str(), first.as_str()]);
    let (st, _) = e.get(AGENT, "/repos/acme/infra/commits?sha=nowhere").await;
    assert_eq!(st, 404);
    let (_, alice) = e.get(AGENT, "/users/alice").await;
    e.sim.rename_user("alice", "alice-old").unwrap();
    let (st, by_id) = e
        .get(AGENT, &format!("/user/{}", alice["id"].as_u64().unwrap()))
        .await;
    assert_eq!(st, 200, "{by_id}");
    assert_eq!(by_id["login"], "alice-old");
    assert_eq!(by_id["created_at"], alice["created_at"]);
    e.sim.shutdown().await;
}
