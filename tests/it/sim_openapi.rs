//! The simulator's responses checked against GitHub's own OpenAPI description (npm package
//! `@octokit/openapi`), so that a client written against the simulator also works against
//! GitHub. The description is looked for under `$PRGATE_NPM_DIR`, `target/npm` and
//! `$CARGO_TARGET_DIR/npm`, and installed into `target/npm` with npm when missing.

use std::path::{Path, PathBuf};

use crate::sim_support::env_seeded;
use serde_json::{Map, Value, json};

const PACKAGE_FILE: &str = "node_modules/@octokit/openapi/generated/api.github.com.json";

fn description_file() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut prefixes: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("PRGATE_NPM_DIR") {
        prefixes.push(d.into());
    }
    prefixes.push(manifest.join("target/npm"));
    if let Ok(d) = std::env::var("CARGO_TARGET_DIR") {
        prefixes.push(Path::new(&d).join("npm"));
    }
    if let Some(found) = prefixes
        .iter()
        .map(|p| p.join(PACKAGE_FILE))
        .find(|p| p.exists())
    {
        return found;
    }
    let prefix = prefixes[0].clone();
    std::fs::create_dir_all(&prefix).expect("create npm prefix");
    let out = std::process::Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg("@octokit/openapi")
        .output()
        .expect("npm must be installed to fetch GitHub's OpenAPI description (or run scripts/install-openapi.sh)");
    assert!(
        out.status.success(),
        "npm install @octokit/openapi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    prefix.join(PACKAGE_FILE)
}

/// OpenAPI 3.0's `nullable: true` is not JSON Schema; turn it into a type union (or an
/// `anyOf` with null where the node has no `type`, e.g. beside `$ref`/`oneOf`).
fn convert_nullable(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(convert_nullable),
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                // Examples are data, not schema.
                if k != "example" && k != "examples" {
                    convert_nullable(child);
                }
            }
            if o.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = o.get("type").cloned() {
                    o.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(e)) = o.get_mut("enum") {
                        e.push(Value::Null);
                    }
                } else {
                    let inner = Value::Object(std::mem::take(o));
                    o.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                }
            }
        }
        _ => {}
    }
}

struct Checker {
    paths: Value,
    components: Value,
    problems: Vec<String>,
    checked: usize,
}

impl Checker {
    fn check(&mut self, api_path: &str, method: &str, status: u16, body: &Value) {
        let op = &self.paths[api_path][method];
        let schema =
            op["responses"][status.to_string()]["content"]["application/json"]["schema"].clone();
        if schema.is_null() {
            self.problems.push(format!(
                "{method} {api_path} {status}: no response schema in the description"
            ));
            return;
        }
        self.check_against(&format!("{method} {api_path} {status}"), &schema, body);
    }

    /// Checks `body` against one of the description's own schemas (`components/schemas/NAME`):
    /// where a response may be one of several (`GET /user`: `private-user` or `public-user`),
    /// the one the simulator must answer.
    fn check_component(&mut self, what: &str, name: &str, body: &Value) {
        if self.components["schemas"][name].is_null() {
            self.problems
                .push(format!("{what}: no schema {name} in the description"));
            return;
        }
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        self.check_against(&format!("{what} ({name})"), &schema, body);
    }

    fn check_against(&mut self, what: &str, schema: &Value, body: &Value) {
        let mut root: Map<String, Value> = Map::new();
        root.insert("allOf".into(), json!([schema.clone()]));
        root.insert("components".into(), self.components.clone());
        let validator = match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&Value::Object(root))
        {
            Ok(v) => v,
            Err(e) => {
                self.problems
                    .push(format!("{what}: schema does not compile: {e}"));
                return;
            }
        };
        self.checked += 1;
        for err in validator.iter_errors(body).take(20) {
            let mut text = err.to_string();
            if text.len() > 300 {
                text = format!("{}...", &text[..text.floor_char_boundary(300)]);
            }
            self.problems
                .push(format!("{what}: at {}: {text}", err.instance_path));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_githubs_openapi_description() {
    let file = description_file();
    let text = std::fs::read_to_string(&file).expect("read the OpenAPI description");
    let mut doc: Value = serde_json::from_str(&text).expect("OpenAPI description is JSON");
    convert_nullable(&mut doc);
    let mut c = Checker {
        paths: doc["paths"].take(),
        components: doc["components"].take(),
        problems: vec![],
        checked: 0,
    };

    // The app `prgate`, installed on acme: only apps may write check runs.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let public_key =
        std::fs::read_to_string(fixtures.join("test-app.pub.pem")).expect("app public key");
    // Plus a bot account with no email of its own: its no-reply address is no email
    // address, and `GET /user` must not show it as one.
    let seed = format!(
        "{}\n[[apps]]\nid = 4242\nslug = \"prgate\"\npublic_key = \"\"\"\n{public_key}\"\"\"\ninstallations = [{{ id = 7, account = \"acme\" }}]\n[[users]]\nlogin = \"deploy[bot]\"\ntype = \"Bot\"\ntoken = \"deploy-token\"\n",
        crate::sim_support::SEED
    );
    let e = env_seeded(&seed).await;
    let agent = "agent-token";
    let work = e.clone_repo("acme/infra", agent, "ops-agent", "agent@bots.example.com");
    let base = work.commit_file("README.md", "hello\n", "first");
    work.push_as("root-token", "main");
    work.git(&["checkout", "-q", "-b", "topic"]);
    work.commit_file("README.md", "hello\nworld\n", "edit readme");
    let head = work.commit_file("dir/new.txt", "new\n", "add file");
    work.push("topic");

    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/pulls",
            json!({"title": "t", "head": "topic", "base": "main", "body": "b"}),
        )
        .await;
    c.check("/repos/{owner}/{repo}/pulls", "post", st, &b);
    // "Get the authenticated user" answers the caller's own profile: the private one.
    let (st, b) = e.get(agent, "/user").await;
    assert_eq!(
        (st, b["user_view_type"].clone()),
        (200, json!("private")),
        "{b}"
    );
    c.check_component("get /user 200", "private-user", &b);
    let (_, b) = e.get("alice-token", "/user").await;
    c.check_component("get /user 200 as alice", "private-user", &b);
    let (_, b) = e.get("deploy-token", "/user").await;
    assert_eq!(b["email"], Value::Null, "{b}");
    c.check_component("get /user 200 as a bot", "private-user", &b);
    let (st, b) = e.get(agent, "/users/alice").await;
    c.check("/users/{username}", "get", st, &b);
    let alice_id = b["id"].as_u64().unwrap();
    let (st, b) = e
        .get("root-token", "/repos/acme/infra/branches/main/protection")
        .await;
    assert_eq!(st, 200, "{b}");
    c.check(
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        "get",
        st,
        &b,
    );
    // Not an admin: GitHub shows no protection at all.
    let (st, _) = e
        .get(agent, "/repos/acme/infra/branches/main/protection")
        .await;
    assert_eq!(st, 404);
    let (st, b) = e.get(agent, "/repos/acme/infra/rules/branches/main").await;
    c.check(
        "/repos/{owner}/{repo}/rules/branches/{branch}",
        "get",
        st,
        &b,
    );
    let (st, b) = e.get(agent, &format!("/user/{alice_id}")).await;
    c.check("/user/{account_id}", "get", st, &b);
    let (st, b) = e.get(agent, "/repos/acme/infra/commits?sha=main").await;
    assert!(b.as_array().is_some_and(|a| !a.is_empty()), "{b}");
    c.check("/repos/{owner}/{repo}/commits", "get", st, &b);
    let (st, b) = e.get(agent, "/repos/acme/infra").await;
    c.check("/repos/{owner}/{repo}", "get", st, &b);
    let (st, b) = e.get(agent, "/repos/acme/infra/pulls?state=all").await;
    c.check("/repos/{owner}/{repo}/pulls", "get", st, &b);
    let (st, b) = e.get(agent, "/repos/acme/infra/pulls/1").await;
    c.check("/repos/{owner}/{repo}/pulls/{pull_number}", "get", st, &b);
    let (st, b) = e
        .post(
            "alice-token",
            "/repos/acme/infra/pulls/1/reviews",
            json!({"event": "APPROVE"}),
        )
        .await;
    c.check(
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        "post",
        st,
        &b,
    );
    let review_id = b["id"].as_u64().unwrap_or(0);
    let (st, b) = e.get(agent, "/repos/acme/infra/pulls/1/reviews").await;
    c.check(
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .get(
            agent,
            &format!("/repos/acme/infra/pulls/1/reviews/{review_id}"),
        )
        .await;
    c.check(
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}",
        "get",
        st,
        &b,
    );
    let (st, b) = e.get(agent, "/repos/acme/infra/pulls/1/commits").await;
    c.check(
        "/repos/{owner}/{repo}/pulls/{pull_number}/commits",
        "get",
        st,
        &b,
    );
    let (st, b) = e.get(agent, "/repos/acme/infra/pulls/1/files").await;
    c.check(
        "/repos/{owner}/{repo}/pulls/{pull_number}/files",
        "get",
        st,
        &b,
    );
    let (st, b) = e.get(agent, "/repos/acme/infra/compare/main...topic").await;
    c.check("/repos/{owner}/{repo}/compare/{basehead}", "get", st, &b);
    let (st, b) = e
        .post(agent, &format!("/repos/acme/infra/statuses/{head}"), json!({"state": "success", "context": "prgate/approval", "description": "ok", "target_url": "http://example.com/x"}))
        .await;
    c.check("/repos/{owner}/{repo}/statuses/{sha}", "post", st, &b);
    let (st, b) = e
        .get(agent, &format!("/repos/acme/infra/commits/{head}/statuses"))
        .await;
    c.check(
        "/repos/{owner}/{repo}/commits/{ref}/statuses",
        "get",
        st,
        &b,
    );
    // Check runs, written with an installation token of the app.
    let key = std::fs::read(fixtures.join("test-app.pem")).expect("app private key");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&key).expect("an RSA key");
    let now = chrono::Utc::now().timestamp();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": "4242", "iat": now - 60, "exp": now + 540}),
        &key,
    )
    .expect("sign the JWT");
    let (st, t) = e
        .post(&jwt, "/app/installations/7/access_tokens", json!({}))
        .await;
    assert_eq!(st, 201, "{t}");
    let app = t["token"].as_str().expect("a token").to_string();
    let (st, b) = e
        .post(
            &app,
            "/repos/acme/infra/check-runs",
            json!({"name": "prgate/approval", "head_sha": head, "status": "in_progress",
                   "details_url": "http://example.com/pulls/acme/infra/1",
                   "output": {"title": "Waiting for approval", "summary": "**firewall**: needs 1"}}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    c.check("/repos/{owner}/{repo}/check-runs", "post", st, &b);
    let run_id = b["id"].as_u64().unwrap_or(0);
    let (st, b) = e
        .patch(
            &app,
            &format!("/repos/acme/infra/check-runs/{run_id}"),
            json!({"conclusion": "success", "output": {"title": "Approved", "summary": "ok"}}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    c.check(
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        "patch",
        st,
        &b,
    );
    let (st, b) = e
        .get(agent, &format!("/repos/acme/infra/check-runs/{run_id}"))
        .await;
    c.check(
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .get(
            agent,
            "/repos/acme/infra/commits/topic/check-runs?check_name=prgate%2Fapproval",
        )
        .await;
    assert_eq!(b["total_count"], json!(1), "{b}");
    c.check(
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/check-runs",
            json!({"name": "forged", "head_sha": head}),
        )
        .await;
    assert_eq!(
        (st, b["message"].clone()),
        (403, json!("You must authenticate via a GitHub App."))
    );
    let (st, b) = e.get(agent, "/repos/acme/infra/commits/topic/status").await;
    c.check("/repos/{owner}/{repo}/commits/{ref}/status", "get", st, &b);
    let (st, b) = e
        .get(agent, &format!("/repos/acme/infra/commits/{head}"))
        .await;
    c.check("/repos/{owner}/{repo}/commits/{ref}", "get", st, &b);
    let (st, b) = e
        .get(agent, &format!("/repos/acme/infra/commits/{head}/pulls"))
        .await;
    c.check(
        "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .get(agent, "/repos/acme/infra/contents/dir/new.txt?ref=topic")
        .await;
    c.check("/repos/{owner}/{repo}/contents/{path}", "get", st, &b);
    // "Get a tree": a ref names its commit's tree, and `recursive` set to any value, even
    // `false`, lists the whole tree (GitHub's docs say so); without it, only the root.
    let (st, b) = e
        .get(agent, "/repos/acme/infra/git/trees/topic?recursive=false")
        .await;
    c.check("/repos/{owner}/{repo}/git/trees/{tree_sha}", "get", st, &b);
    let paths: Vec<&str> = b["tree"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(paths.contains(&"dir/new.txt"), "{paths:?}");
    assert_eq!(b["truncated"], json!(false));
    let blob = b["tree"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == json!("dir/new.txt"))
        .and_then(|e| e["sha"].as_str())
        .unwrap()
        .to_string();
    let (_, root_only) = e.get(agent, "/repos/acme/infra/git/trees/topic").await;
    assert!(
        root_only["tree"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["path"].as_str().unwrap().contains('/')),
        "{root_only}"
    );
    let (st, b) = e
        .get(agent, &format!("/repos/acme/infra/git/blobs/{blob}"))
        .await;
    c.check("/repos/{owner}/{repo}/git/blobs/{file_sha}", "get", st, &b);
    assert_eq!(b["encoding"], json!("base64"));
    let (st, b) = e.get(agent, "/repos/acme/infra/git/ref/heads/main").await;
    c.check("/repos/{owner}/{repo}/git/ref/{ref}", "get", st, &b);
    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/git/refs",
            json!({"ref": format!("refs/prgate/claims/{base}"), "sha": base}),
        )
        .await;
    c.check("/repos/{owner}/{repo}/git/refs", "post", st, &b);
    let (_, commit) = e
        .get(agent, &format!("/repos/acme/infra/commits/{base}"))
        .await;
    let tree = commit["commit"]["tree"]["sha"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/git/commits",
            json!({"message": "a claim", "tree": tree, "parents": [base]}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    c.check("/repos/{owner}/{repo}/git/commits", "post", st, &b);
    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/git/commits",
            json!({"message": "no such tree", "tree": base, "parents": []}),
        )
        .await;
    assert_eq!(
        (st, b["message"].clone()),
        (422, json!("Tree SHA does not exist"))
    );
    let (st, b) = e
        .get(agent, "/repos/acme/infra/git/matching-refs/heads/")
        .await;
    c.check(
        "/repos/{owner}/{repo}/git/matching-refs/{ref}",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/issues/1/comments",
            json!({"body": "hello"}),
        )
        .await;
    c.check(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "post",
        st,
        &b,
    );
    let (st, b) = e.get(agent, "/repos/acme/infra/issues/1/comments").await;
    c.check(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .post(
            agent,
            "/repos/acme/infra/issues/1/labels",
            json!({"labels": ["prgate"]}),
        )
        .await;
    c.check(
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        "post",
        st,
        &b,
    );
    let (st, b) = e.get(agent, "/orgs/acme/teams/netops/members").await;
    c.check("/orgs/{org}/teams/{team_slug}/members", "get", st, &b);
    let (st, b) = e
        .get(agent, "/orgs/acme/teams/netops/memberships/alice")
        .await;
    c.check(
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "get",
        st,
        &b,
    );
    let (st, b) = e
        .put(
            agent,
            "/repos/acme/infra/pulls/1/merge",
            json!({"sha": head}),
        )
        .await;
    c.check(
        "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
        "put",
        st,
        &b,
    );
    let (st, b) = e.get(agent, "/repos/acme/infra/pulls/1").await;
    c.check("/repos/{owner}/{repo}/pulls/{pull_number}", "get", st, &b);
    // Activity: pushes, a merge, and a move written past the git server (actor null).
    let bare = e.sim.git_dir("acme/infra").expect("bare dir");
    crate::sim_support::git(&bare, &["update-ref", "refs/heads/sideways", &base]);
    e.sim.refresh();
    let (st, b) = e.get(agent, "/repos/acme/infra/activity").await;
    assert!(
        b.as_array()
            .is_some_and(|a| a.len() == 4 && a[0]["actor"].is_null()),
        "{b}"
    );
    c.check("/repos/{owner}/{repo}/activity", "get", st, &b);
    e.sim.shutdown().await;

    assert!(
        c.problems.is_empty(),
        "{} of {} responses checked against {} differ from GitHub's schema:\n{}",
        c.problems.len(),
        c.checked,
        file.display(),
        c.problems.join("\n")
    );
    assert!(c.checked >= 33, "only {} responses were checked", c.checked);
}
