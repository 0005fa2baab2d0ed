//! The gate authenticated as a GitHub App (JWT from its private key, installation tokens per
//! owner) against the simulator's app support: the approval story end to end with the app's
//! bot account, forged-status detection with the `[bot]` login, token expiry, and a bad key.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::harness::*;
use prgate::config::SecretRef;
use prgate::github::ClientOptions;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";
const APP_ID: u64 = 4242;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The harness seed plus the app `prgate`, installed on `acme`, whose tokens live
/// `lifetime_secs`.
fn seed_with_app(lifetime_secs: u64) -> String {
    let public_key = std::fs::read_to_string(fixture("test-app.pub.pem")).unwrap();
    format!(
        "{SEED}\n[[apps]]\nid = {APP_ID}\nslug = \"prgate\"\ntoken_lifetime_secs = {lifetime_secs}\npublic_key = \"\"\"\n{public_key}\"\"\"\ninstallations = [{{ id = 7, account = \"acme\" }}]\n"
    )
}

fn app_config(w: &World, private_key: PathBuf) -> prgate::config::ServerConfig {
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config.github.token = None;
    config.github.app_id = Some(APP_ID);
    config.github.private_key = Some(SecretRef::File(private_key));
    config
}

async fn start_app_world(lifetime_secs: u64, options: ClientOptions) -> World {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(lifetime_secs)).await;
    let config = app_config(&w, fixture("test-app.pem"));
    w.with_gate(config, options).await
}

async fn propose(w: &World, branch: &str, rules: &str) -> (u64, String) {
    let head = w.commit_and_push(
        branch,
        &[("firewall/rules.toml", rules)],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "change the firewall",
    );
    let n = w.open_pr(AGENT, branch, "main", "Firewall change").await;
    w.settle().await;
    (n, head)
}

#[tokio::test]
async fn as_an_app_the_gate_posts_as_its_bot_and_merges_on_approval() {
    let w = start_app_world(3600, test_client_options()).await;
    let (n, head) = propose(&w, "prgate/ops-agent/app-open-443", "allow = [22, 443]\n").await;
    let (state, _, creator) = w.approval(&head).await.unwrap();
    assert_eq!(
        (state.as_str(), creator.as_str()),
        ("pending", "prgate[bot]")
    );

    let review_id = w.approve("alice-token", n).await;
    w.settle().await;
    let (state, _, creator) = w.approval(&head).await.unwrap();
    assert_eq!(
        (state.as_str(), creator.as_str()),
        ("success", "prgate[bot]")
    );
    let pull = w.pull(n).await;
    assert_eq!(pull["merged"], json!(true), "{pull}");
    assert_eq!(pull["merged_by"]["login"], json!("prgate[bot]"), "{pull}");
    let merge = pull["merge_commit_sha"].as_str().unwrap().to_string();
    let message = w.git_out(&["log", "-1", "--format=%B", &merge]);
    let trailers = prgate::record::trailers::ApprovalTrailers::parse(&message)
        .expect("trailers in the merge message");
    assert_eq!(trailers.head.as_str(), head);
    assert_eq!(trailers.approvals[0].login, "alice");
    assert_eq!(trailers.approvals[0].review_id, review_id);

    // No personal token anywhere: every call was made with the app's credentials.
    let calls = w.gate().gate.github().transport().calls_by_endpoint();
    assert!(calls.contains_key("GET /app"), "{calls:?}");
    assert_eq!(
        calls.get("POST /app/installations/{}/access_tokens"),
        Some(&1),
        "{calls:?}"
    );
    assert!(!calls.contains_key("GET /user"), "{calls:?}");
    w.shutdown().await;
}

#[tokio::test]
async fn as_an_app_a_forged_status_by_a_writer_is_overwritten() {
    let w = start_app_world(3600, test_client_options()).await;
    let (n, head) = propose(&w, "app-forged", "allow = [1]\n").await;
    let (s, _) = w
        .api(
            "bob-token",
            Method::POST,
            &format!("/repos/{REPO}/statuses/{head}"),
            Some(json!({"state": "success", "context": "prgate/approval", "description": "trust me"})),
        )
        .await;
    assert_eq!(s, 201);
    w.settle().await;
    let (state, description, creator) = w.approval(&head).await.unwrap();
    assert_eq!(
        (state.as_str(), creator.as_str()),
        ("failure", "prgate[bot]")
    );
    assert_eq!(description, prgate::gate::FORGED_STATUS_DESCRIPTION);
    assert_eq!(w.pull(n).await["merged"], json!(false));
    w.shutdown().await;
}

#[tokio::test]
async fn as_an_app_the_gate_keeps_working_after_its_token_expires() {
    // Tokens live 2 s and the gate uses them to the end, so that the simulator's 401 on an
    // expired token is what makes it fetch a new one (the refresh-once-on-401 path).
    let options = ClientOptions {
        app_token_refresh_margin: Duration::ZERO,
        ..test_client_options()
    };
    let w = start_app_world(2, options).await;
    let (n, head) = propose(&w, "app-expiry", "allow = [2]\n").await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, _, creator) = w.approval(&head).await.unwrap();
    assert_eq!(
        (state.as_str(), creator.as_str()),
        ("success", "prgate[bot]")
    );
    assert_eq!(w.pull(n).await["merged"], json!(true));
    let calls = w.gate().gate.github().transport().calls_by_endpoint();
    let minted = calls
        .get("POST /app/installations/{}/access_tokens")
        .copied()
        .unwrap_or(0);
    assert!(minted >= 2, "a new token after expiry: {calls:?}");
    w.shutdown().await;
}

#[tokio::test]
async fn a_bad_private_key_is_a_clear_start_up_error() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(3600)).await;
    let bad = w.tmp.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = match prgate::serve::start(app_config(&w, bad), test_client_options()).await {
        Ok(_) => panic!("the gate started with a bad key"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("github.private_key"), "{err}");
    assert!(err.contains("RSA private key"), "{err}");
    assert!(
        !err.contains("not a key"),
        "the key's content is never shown: {err}"
    );

    let missing = w.tmp.path().join("missing.pem");
    let err = match prgate::serve::start(app_config(&w, missing), test_client_options()).await {
        Ok(_) => panic!("the gate started without its key"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("missing.pem"), "{err}");
    w.shutdown().await;
}

#[tokio::test]
async fn as_an_app_a_refused_token_is_replaced_once_and_the_call_retried() {
    let w = start_app_world(3600, test_client_options()).await;
    let (n, head) = propose(&w, "app-revoked", "allow = [3]\n").await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    // The gate's cached token still looks valid to it; the code host now refuses it.
    w.sim.revoke_installation_tokens();
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    assert_eq!(w.pull(n).await["merged"], json!(true));
    let calls = w.gate().gate.github().transport().calls_by_endpoint();
    assert_eq!(
        calls.get("POST /app/installations/{}/access_tokens"),
        Some(&2),
        "one new token after the 401: {calls:?}"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_an_app_the_executor_fetches_runs_and_records_with_the_installation_token() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(3600)).await;
    let mut config = app_config(&w, fixture("test-app.pem"));
    config.executors.insert(
        "firewall".into(),
        firewall_executor(&w.exec_dir(), &ExecSettings::default()),
    );
    let w = w.with_gate(config, test_client_options()).await;
    let (n, _) = propose(&w, "app-exec", "allow = [22, 8443]\n").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged by prgate[bot]")
        .to_string();
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    assert_eq!(w.runs(), vec![merge.clone()]);
    let note = w
        .note(&merge)
        .expect("a note pushed with the installation token");
    assert_eq!(note["execution"]["outcome"], json!("succeeded"), "{note}");
    w.shutdown().await;
}

/// The simulator's side on its own: JWTs only on the app endpoints, checked against the
/// app's key and clock; installation tokens act as the bot and stop at `expires_at`.
#[tokio::test]
async fn the_simulator_checks_app_jwts_and_expires_installation_tokens() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(1)).await;
    let key = std::fs::read(fixture("test-app.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&key).unwrap();
    let now = chrono::Utc::now().timestamp();
    let sign = |iss: serde_json::Value, iat: i64, exp: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &json!({"iss": iss, "iat": iat, "exp": exp}),
            &key,
        )
        .unwrap()
    };
    let good = sign(json!(APP_ID.to_string()), now - 60, now + 540);
    let (s, app) = w.api(&good, Method::GET, "/app", None).await;
    assert_eq!((s, app["slug"].clone()), (200, json!("prgate")));
    // Wrong issuer, expired, too long-lived, a user's token: all refused.
    for bad in [
        sign(json!("1"), now - 60, now + 540),
        sign(json!(APP_ID), now - 700, now - 100),
        sign(json!(APP_ID), now - 60, now + 3600),
        "alice-token".to_string(),
    ] {
        assert_eq!(w.api(&bad, Method::GET, "/app", None).await.0, 401);
    }
    // A JWT is no installation token.
    let (s, _) = w
        .api(&good, Method::GET, &format!("/repos/{REPO}/pulls"), None)
        .await;
    assert_eq!(s, 401);
    let (s, inst) = w
        .api(
            &good,
            Method::GET,
            &format!("/repos/{REPO}/installation"),
            None,
        )
        .await;
    assert_eq!((s, inst["id"].clone()), (200, json!(7)));
    let (s, _) = w
        .api(&good, Method::GET, "/repos/elsewhere/x/installation", None)
        .await;
    assert_eq!(s, 404);
    let (s, t) = w
        .api(
            &good,
            Method::POST,
            "/app/installations/7/access_tokens",
            None,
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"), "{token}");
    let (s, me) = w.api(&token, Method::GET, "/user", None).await;
    assert_eq!(
        (s, me["login"].clone(), me["type"].clone()),
        (200, json!("prgate[bot]"), json!("Bot"))
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(w.api(&token, Method::GET, "/user", None).await.0, 401);
    w.shutdown().await;
}

/// A required context pinned to the app (the "expected source", as the README tells operators
/// to set it): a writer's forged `success` does not satisfy protection, even for the moment
/// before prgate overwrites it; the app's own `success` does.
#[tokio::test]
async fn a_pinned_context_is_satisfied_only_by_its_app() {
    let pinned = seed_with_app(3600).replace(
        "required_contexts = [\"prgate/approval\"]",
        &format!("required_checks = [{{ context = \"prgate/approval\", app_id = {APP_ID} }}]"),
    );
    assert_ne!(pinned, seed_with_app(3600));
    let w = World::start_without_gate_seeded(POLICY, &pinned).await;
    let head = w.commit_and_push(
        "pinned",
        &[("firewall/rules.toml", "allow = [9]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr(AGENT, "pinned", "main", "pinned").await;
    let status = |token: String| {
        let w = &w;
        let head = head.clone();
        async move {
            w.api(
                &token,
                Method::POST,
                &format!("/repos/{REPO}/statuses/{head}"),
                Some(json!({"state": "success", "context": "prgate/approval"})),
            )
            .await
            .0
        }
    };
    let merge = |token: &'static str| {
        let w = &w;
        async move {
            w.api(
                token,
                Method::PUT,
                &format!("/repos/{REPO}/pulls/{n}/merge"),
                Some(json!({"sha": head_of_pull(w, n).await})),
            )
            .await
        }
    };
    assert_eq!(status("bob-token".into()).await, 201);
    let (s, v) = merge("bob-token").await;
    assert_eq!(
        s, 405,
        "a forged status must not satisfy a pinned context: {v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("Required status check \"prgate/approval\" is expected"),
        "{v}"
    );
    // The app's installation posts success: now protection is satisfied.
    let key = std::fs::read(fixture("test-app.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&key).unwrap();
    let now = chrono::Utc::now().timestamp();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": APP_ID.to_string(), "iat": now - 60, "exp": now + 540}),
        &key,
    )
    .unwrap();
    let (s, t) = w
        .api(
            &jwt,
            Method::POST,
            "/app/installations/7/access_tokens",
            None,
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(status(t["token"].as_str().unwrap().to_string()).await, 201);
    let (s, v) = merge("bob-token").await;
    assert_eq!(s, 200, "{v}");
    w.shutdown().await;
}

async fn head_of_pull(w: &World, n: u64) -> String {
    w.head_of(n).await
}

/// GitHub counts an app's rate limit per installation: one installation running dry holds up
/// the repositories of its account, never another account's. And a fresh token brings no
/// fresh budget, in the simulator as on GitHub.
#[tokio::test]
async fn as_an_app_a_spent_installation_limits_only_its_own_account() {
    let public_key = std::fs::read_to_string(fixture("test-app.pub.pem")).unwrap();
    let seed = format!(
        "{SEED}\n[[apps]]\nid = {APP_ID}\nslug = \"prgate\"\npublic_key = \"\"\"\n{public_key}\"\"\"\ninstallations = [{{ id = 7, account = \"acme\" }}, {{ id = 8, account = \"bob\" }}]\n[[repos]]\nname = \"bob/tools\"\ndefault_branch = \"main\"\nwriters = [\"bob\"]\n"
    );
    let w = World::start_without_gate_seeded(POLICY, &seed).await;
    let key =
        prgate::config::Secret::new(std::fs::read_to_string(fixture("test-app.pem")).unwrap());
    let options = ClientOptions {
        max_rate_limit_wait: Duration::from_secs(1),
        ..test_client_options()
    };
    let gh = prgate::github::GitHub::with_credentials(
        &w.sim.api_url,
        prgate::github::Credentials::App {
            app_id: APP_ID,
            private_key: &key,
        },
        options,
        prgate::metrics::Metrics::new(),
    )
    .unwrap();
    let repo: prgate::types::RepoName = REPO.parse().unwrap();
    let elsewhere: prgate::types::RepoName = "bob/tools".parse().unwrap();
    gh.branch_tip(&repo, "main").await.unwrap();
    // Other work on acme's installation leaves 10 requests, below prgate's reserve of 50.
    w.sim.spend_installation_rate_limit(7, 10);
    gh.branch_tip(&repo, "main").await.unwrap();
    let refused = gh.branch_tip(&repo, "main").await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("rate limit of installation:acme/core"),
        "{refused}"
    );
    // bob's installation has its own budget: its request is sent and answered, not held back
    // by acme's (the answer, 404, is bob's repository having no commit yet).
    let before = w.sim.api_calls();
    let answered = gh.branch_tip(&elsewhere, "main").await;
    assert!(
        !format!("{answered:?}").contains("rate limit"),
        "{answered:?}"
    );
    assert!(w.sim.api_calls() > before);
    // A new token for acme does not reset its budget: spent, it stays spent.
    w.sim.spend_installation_rate_limit(7, 0);
    let token = installation_token(&w, 7).await;
    let (s, body) = w
        .api(&token, Method::GET, &format!("/repos/{REPO}"), None)
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.to_string().contains("rate limit exceeded"), "{body}");
    w.shutdown().await;
}

/// A fresh installation token for `installation`, as prgate would fetch it.
async fn installation_token(w: &World, installation: u64) -> String {
    let key = std::fs::read(fixture("test-app.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&key).unwrap();
    let now = chrono::Utc::now().timestamp();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": APP_ID.to_string(), "iat": now - 60, "exp": now + 540}),
        &key,
    )
    .unwrap();
    let (s, t) = w
        .api(
            &jwt,
            Method::POST,
            &format!("/app/installations/{installation}/access_tokens"),
            None,
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t["token"].as_str().unwrap().to_string()
}

/// The check runs on a commit (`filter=all`: every run, newest first), read as a user.
async fn check_runs(w: &World, sha: &str, filter: &str) -> Vec<serde_json::Value> {
    let (s, v) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/commits/{sha}/check-runs?filter={filter}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["total_count"].as_u64(),
        Some(v["check_runs"].as_array().unwrap().len() as u64)
    );
    v["check_runs"].as_array().unwrap().clone()
}

/// The simulator's check runs API, as GitHub has it: only an app writes, only its own runs;
/// `conclusion` is required to complete; the summary is capped in characters and in bytes; a
/// completed run is not reopened; `filter=latest` keeps the newest run of each name.
#[tokio::test]
async fn the_simulator_lets_only_apps_write_check_runs() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(3600)).await;
    let app = installation_token(&w, 7).await;
    let head = w.commit_and_push(
        "checks-sim",
        &[("firewall/rules.toml", "allow = [7]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "change",
    );
    let path = format!("/repos/{REPO}/check-runs");
    let run = |extra: serde_json::Value| {
        let mut b = json!({"name": "prgate/approval", "head_sha": head});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    // A user, even an admin, is no app.
    let (s, b) = w
        .api("root-token", Method::POST, &path, Some(run(json!({}))))
        .await;
    assert_eq!(
        (s, b["message"].clone()),
        (403, json!("You must authenticate via a GitHub App."))
    );
    let (s, b) = w
        .api(&app, Method::POST, &path, Some(json!({"head_sha": head})))
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("\"name\" wasn't supplied"),
        "{b}"
    );
    let (s, b) = w
        .api(
            &app,
            Method::POST,
            &path,
            Some(run(json!({"status": "completed"}))),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("\"conclusion\" wasn't supplied"),
        "{b}"
    );
    let too_many_chars = "x".repeat(65536);
    let (s, b) = w
        .api(
            &app,
            Method::POST,
            &path,
            Some(run(
                json!({"output": {"title": "t", "summary": too_many_chars}}),
            )),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("Only 65535 characters are allowed; 65536 were supplied."),
        "{b}"
    );
    // Under the character cap, over the byte cap: the second check says no.
    let too_many_bytes = "é".repeat(40_000);
    let (s, b) = w
        .api(
            &app,
            Method::POST,
            &path,
            Some(run(
                json!({"output": {"title": "t", "summary": too_many_bytes}}),
            )),
        )
        .await;
    assert_eq!(
        (s, b["errors"][0]["message"].clone()),
        (422, json!("summary exceeds a maximum bytesize of 65535"))
    );
    // A conclusion completes the run on its own.
    let (s, first) = w
        .api(
            &app,
            Method::POST,
            &path,
            Some(run(
                json!({"conclusion": "success", "output": {"title": "t", "summary": "s"}}),
            )),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["status"], json!("completed"));
    assert!(first["completed_at"].is_string(), "{first}");
    let id = first["id"].as_u64().unwrap();
    // Another writer cannot touch it, and the app cannot reopen it.
    let (s, _) = w
        .api(
            "root-token",
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"status": "in_progress"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = w
        .api(
            &app,
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"status": "in_progress"})),
        )
        .await;
    assert_eq!(
        (s, b["status"].clone(), b["conclusion"].clone()),
        (200, json!("completed"), json!("success"))
    );
    let (s, b) = w
        .api(
            &app,
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"conclusion": "stale"})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    // A second run of the same name: `latest` shows it alone, `all` both.
    let (s, second) = w
        .api(
            &app,
            Method::POST,
            &path,
            Some(run(json!({"status": "in_progress"}))),
        )
        .await;
    assert_eq!(s, 201, "{second}");
    assert_eq!(second["check_suite"], first["check_suite"]);
    let latest = check_runs(&w, &head, "latest").await;
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0]["id"], second["id"]);
    assert_eq!(latest[0]["app"]["slug"], json!("prgate"));
    assert_eq!(check_runs(&w, &head, "all").await.len(), 2);
    w.shutdown().await;
}

/// As an app, each decision is also the check run `prgate/approval` on the head, its summary
/// the decision in Markdown (rules, who must approve, which reviews count and why the others
/// do not); one run per head while the decision holds, found on the code host by any replica.
#[tokio::test]
async fn as_an_app_each_decision_is_also_a_check_run_with_the_decision_in_markdown() {
    let w = start_app_world(3600, test_client_options()).await;
    let (n, head) = propose(&w, "app-checks", "allow = [8443]\n").await;
    let runs = check_runs(&w, &head, "all").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(
        (
            run["name"].clone(),
            run["status"].clone(),
            run["conclusion"].clone()
        ),
        (json!("prgate/approval"), json!("in_progress"), json!(null))
    );
    assert_eq!(run["app"]["slug"], json!("prgate"));
    let summary = run["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("**firewall**"), "{summary}");
    assert!(summary.contains("alice"), "{summary}");
    assert!(summary.contains("acme/netops"), "{summary}");
    assert!(summary.contains("No review counts yet"), "{summary}");

    // bob is no designated approver: his approval is listed as not counting, and why.
    w.approve("bob-token", n).await;
    w.settle().await;
    let latest = check_runs(&w, &head, "latest").await;
    let summary = latest[0]["output"]["summary"].as_str().unwrap().to_string();
    assert!(summary.contains("Not counted"), "{summary}");
    assert!(
        summary.contains("bob is not a designated approver"),
        "{summary}"
    );
    // Still pending: the same run was updated, not a second one created.
    assert_eq!(check_runs(&w, &head, "all").await.len(), 1);

    // Another replica, which remembers nothing, evaluates the same PR: it finds the run on
    // the code host and, the decision being the same, writes nothing.
    let config = app_config(&w, fixture("test-app.pem"));
    let metrics = prgate::metrics::Metrics::new();
    let (gh, _) =
        prgate::serve::github_client(&config.github, test_client_options(), metrics.clone())
            .unwrap();
    let replica = std::sync::Arc::new(prgate::gate::Gate::new(
        &config,
        std::sync::Arc::new(gh),
        metrics,
        prgate::dashboard::Dashboard::new(),
    ));
    let repo: prgate::types::RepoName = REPO.parse().unwrap();
    let evaluated = replica
        .evaluate_pull(&repo, prgate::types::PullNumber(n))
        .await
        .unwrap()
        .expect("an open governed PR");
    assert_eq!(evaluated.decision.state.as_str(), "pending");
    let calls = replica.github().transport().calls_by_endpoint();
    assert_eq!(
        calls.get("GET /repos/{}/commits/{}/check-runs"),
        Some(&1),
        "{calls:?}"
    );
    assert!(
        !calls.contains_key("POST /repos/{}/check-runs")
            && !calls.contains_key("PATCH /repos/{}/check-runs/{}"),
        "{calls:?}"
    );
    assert_eq!(check_runs(&w, &head, "all").await.len(), 1);

    let review_id = w.approve("alice-token", n).await;
    w.settle().await;
    let latest = check_runs(&w, &head, "latest").await;
    assert_eq!(
        (latest[0]["status"].clone(), latest[0]["conclusion"].clone()),
        (json!("completed"), json!("success"))
    );
    let summary = latest[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("**Approved**"), "{summary}");
    assert!(
        summary.contains(&format!("alice (review {review_id}")),
        "{summary}"
    );
    assert_eq!(check_runs(&w, &head, "all").await.len(), 1);
    assert_eq!(w.approval(&head).await.unwrap().0, "success");

    // The installation's rate limit is a metric (prgate_github_rate_limit_remaining).
    let text = w.gate().metrics.render();
    assert!(
        text.contains(
            "prgate_github_rate_limit_remaining{credential=\"installation:acme\",resource=\"core\"}"
        ),
        "{text}"
    );
    w.shutdown().await;
}

/// With a personal token there is no check run (GitHub would refuse it): the status alone
/// carries the decision, and no check-runs endpoint is ever called.
#[tokio::test]
async fn with_a_token_the_gate_posts_no_check_run() {
    let w = World::start().await;
    let (n, head) = propose(&w, "token-checks", "allow = [9]\n").await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    assert!(check_runs(&w, &head, "all").await.is_empty());
    let calls = w.gate().gate.github().transport().calls_by_endpoint();
    assert!(!calls.keys().any(|k| k.contains("check-runs")), "{calls:?}");
    w.shutdown().await;
}

/// `prgate config check --json` on `config`: (exit code, the report).
fn config_check_json(
    folder: &std::path::Path,
    config: &prgate::config::ServerConfig,
) -> (i32, serde_json::Value) {
    std::fs::create_dir_all(folder).unwrap();
    let path = folder.join("prgate.toml");
    std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["config", "check", "--json", "--config"])
        .arg(&path)
        .env("PRGATE_LOG", "warn")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), report)
}

/// On GitHub a required check not pinned to an app is satisfied by anyone's check run or
/// status with its name (an Actions job an agent adds to its own PR). `config check`, run as
/// prgate's App, reads the branch protection and fails on an unpinned `prgate/approval`,
/// naming the fix; pinned to prgate's app, it passes.
#[tokio::test]
async fn config_check_fails_when_the_required_check_is_not_pinned_to_prgates_app() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(3600)).await;
    let config = app_config(&w, fixture("test-app.pem"));
    let (code, report) = config_check_json(&w.tmp.path().join("unpinned"), &config);
    assert_ne!(code, 0, "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["error"] == json!(true)
            && p["subject"] == json!("repos acme/infra branch main")
            && p["message"]
                .as_str()
                .unwrap()
                .contains("prgate/approval is required on main but not pinned to an app")
            && p["message"]
                .as_str()
                .unwrap()
                .contains(&format!("prgate's app (id {APP_ID})"))),
        "{report}"
    );
    w.shutdown().await;

    let pinned = seed_with_app(3600).replace(
        "required_contexts = [\"prgate/approval\"]",
        &format!("required_checks = [{{ context = \"prgate/approval\", app_id = {APP_ID} }}]"),
    );
    let w = World::start_without_gate_seeded(POLICY, &pinned).await;
    let config = app_config(&w, fixture("test-app.pem"));
    let (code, report) = config_check_json(&w.tmp.path().join("pinned"), &config);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["problems"], json!([]), "{report}");
    w.shutdown().await;

    // An App without "Administration: read" cannot see the protection (GitHub answers 403):
    // a warning that says which permission, not a silent pass.
    let blind = format!("{pinned}extra_permissions = {{ merge_queues = \"read\" }}\n");
    let w = World::start_without_gate_seeded(POLICY, &blind).await;
    let config = app_config(&w, fixture("test-app.pem"));
    let (code, report) = config_check_json(&w.tmp.path().join("blind"), &config);
    assert_eq!(code, 0, "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["error"] == json!(false)
            && p["message"]
                .as_str()
                .unwrap()
                .contains("the App needs the \"Administration: read\" permission")),
        "{report}"
    );
    w.shutdown().await;
}

/// A GitHub Actions job the agent added to its own PR creates a check run named
/// `prgate/approval` (GitHub Actions is an app; an unpinned required check counts it). prgate
/// sees the `check_run` delivery, reads the run back from the code host, answers `failure` on
/// the head and names the app in a comment on the PR; its own check runs are left alone.
#[tokio::test]
async fn a_prgate_approval_check_run_by_another_app_is_answered_and_named() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_app(3600)).await;
    let config = app_config(&w, fixture("test-app.pem"));
    let w = w.with_gate(config, test_client_options()).await;
    let (n, head) = propose(&w, "actions-check", "allow = [31]\n").await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    // The job of a workflow the agent added to its PR (GitHub Actions, app 15368).
    w.sim
        .actions_check_run(REPO, &head, "prgate/approval", Some("success"))
        .unwrap();
    w.settle().await;
    let (state, description, creator) = w.approval(&head).await.unwrap();
    assert_eq!(
        (state.as_str(), description.as_str(), creator.as_str()),
        (
            "failure",
            "a prgate/approval check run by another app is not prgate's decision",
            "prgate[bot]"
        )
    );
    let comments = w.comments_text(n).await;
    assert!(
        comments.contains("A `prgate/approval` check run on")
            && comments.contains("was created by `github-actions[bot]`, not by prgate"),
        "{comments}"
    );
    // prgate's own decisions, as check runs too, never trigger it.
    assert_eq!(comments.matches("not by prgate").count(), 1, "{comments}");
    w.shutdown().await;
}

/// A branch that requires the merge queue: `config check` fails when the App does not hear
/// `merge_group` (every group would fail at its timeout) or when the policy there still says
/// `merge = "auto"` (GitHub refuses merges past the queue); set up as the README says, it passes.
#[tokio::test]
async fn config_check_names_what_a_queued_branch_needs() {
    let queued = |extra_app: &str| {
        seed_with_app(3600)
            .replace(
                "required_contexts = [\"prgate/approval\"]\nenforce_admins = false\n",
                &format!("required_checks = [{{ context = \"prgate/approval\", app_id = {APP_ID} }}]\nenforce_admins = false\nmerge_queue = true\n"),
            )
            + extra_app
    };
    assert_ne!(queued(""), seed_with_app(3600));
    let queue_policy = POLICY.replace("merge = \"auto\"", "merge = \"queue\"");
    // The App hears no merge_group; the policy still merges by itself.
    let w = World::start_without_gate_seeded(
        POLICY,
        &queued("events = [\"pull_request\", \"pull_request_review\", \"push\", \"status\"]\n"),
    )
    .await;
    let config = app_config(&w, fixture("test-app.pem"));
    let (code, report) = config_check_json(&w.tmp.path().join("deaf"), &config);
    assert_ne!(code, 0, "{report}");
    let messages: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["error"] == json!(true))
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("does not subscribe to the merge_group event")),
        "{report}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("its policy says merge = \"auto\"")),
        "{report}"
    );
    w.shutdown().await;
    // As the README says: the event, the permission, merge = "queue".
    let w = World::start_without_gate_seeded(&queue_policy, &queued("")).await;
    let config = app_config(&w, fixture("test-app.pem"));
    let (code, report) = config_check_json(&w.tmp.path().join("ready"), &config);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["problems"], json!([]), "{report}");
    w.shutdown().await;
}

/// The harness seed plus `globex/site`, and the app installed on both owners (acme: 7,
/// globex: 8), each installation with its own budgets.
fn seed_with_two_installations() -> String {
    let public_key = std::fs::read_to_string(fixture("test-app.pub.pem")).unwrap();
    format!(
        "{SEED}\n[[repos]]\nname = \"globex/site\"\ndefault_branch = \"main\"\nadmins = [\"root\"]\nwriters = [\"ops-agent[bot]\", \"alice\"]\nrequired_contexts = [\"prgate/approval\"]\n\n[[apps]]\nid = {APP_ID}\nslug = \"prgate\"\npublic_key = \"\"\"\n{public_key}\"\"\"\ninstallations = [{{ id = 7, account = \"acme\" }}, {{ id = 8, account = \"globex\" }}]\n"
    )
}

const GLOBEX_POLICY: &str = "version = 1\nmerge = \"manual\"\n\n[defaults]\napprovers = { users = [\"alice\"] }\nmin_approvals = 1\n";

/// A proposal on `globex/site`: main holds its policy; the agent's branch adds a page.
fn globex_proposal(w: &World) -> String {
    let url = w.sim.clone_url("globex/site").unwrap();
    let dir = w.tmp.path().join("globex");
    git(w.tmp.path(), &["clone", "-q", &url, dir.to_str().unwrap()]);
    let commit = |who: &str, message: &str| {
        let email = format!("{who}@users.noreply.github.com");
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["commit", "-q", "-m", message])
            .env("GIT_AUTHOR_NAME", who)
            .env("GIT_AUTHOR_EMAIL", &email)
            .env("GIT_COMMITTER_NAME", who)
            .env("GIT_COMMITTER_EMAIL", &email)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    git(&dir, &["checkout", "-q", "-b", "main"]);
    std::fs::create_dir_all(dir.join(".github")).unwrap();
    std::fs::write(dir.join(".github/prgate.toml"), GLOBEX_POLICY).unwrap();
    std::fs::write(dir.join("index.md"), "site\n").unwrap();
    git(&dir, &["add", "-A"]);
    commit("root", "initial");
    git_as(&dir, "root-token", &["push", "-q", "origin", "main"]);
    git(&dir, &["checkout", "-q", "-b", "page"]);
    std::fs::write(dir.join("page.md"), "a page\n").unwrap();
    git(&dir, &["add", "-A"]);
    commit("ops-agent[bot]", "a page");
    git_as(&dir, AGENT, &["push", "-q", "origin", "page"]);
    git_out(&dir, &["rev-parse", "HEAD"])
}

#[tokio::test]
async fn a_low_budget_delays_passes_not_decisions_and_never_another_installation() {
    let w = World::start_without_gate_seeded(POLICY, &seed_with_two_installations()).await;
    let globex_head = globex_proposal(&w);
    let mut config = app_config(&w, fixture("test-app.pem"));
    config.repos.push(prgate::config::GovernedRepo {
        name: "globex/site".parse().unwrap(),
        branches: vec!["main".into()],
    });
    let w = w.with_gate(config, test_client_options()).await;
    let (waiting_pr, waiting_head) = propose(&w, "budget-waits", "allow = [51]\n").await;
    let (approved_pr, approved_head) = propose(&w, "budget-approved", "allow = [52]\n").await;
    let (_, v) = w
        .api(
            AGENT,
            Method::POST,
            "/repos/globex/site/pulls",
            Some(json!({ "title": "a page", "head": "page", "base": "main" })),
        )
        .await;
    let globex_pr = v["number"].as_u64().unwrap();
    w.settle().await;
    assert_eq!(w.approval_state(waiting_pr).await, "pending");
    assert_eq!(approvals_on(&w, "globex/site", &globex_head).await.len(), 1);

    // Other work on acme's installation has spent 90 % of its REST budget.
    w.sim.spend_installation_rate_limit(7, 500);
    // A webhook-driven decision on acme still goes ahead (the gate learns the budget from it).
    w.approve("alice-token", approved_pr).await;
    w.settle().await;
    assert_eq!(
        w.approval(&approved_head).await.unwrap().0,
        "success",
        "a decision waits for no budget but the last reserve"
    );

    // The pass: acme's repository waits for its reset, globex's runs. Both PRs were opened
    // within the margin of their decisions, so a running pass would post both afresh.
    w.gate().gate.reconcile_once().await;
    let metrics = w.admin_page("/metrics").await;
    assert!(
        metrics.contains("prgate_reconcile_waiting{repo=\"acme/infra\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prgate_reconcile_waiting{repo=\"globex/site\"} 0"),
        "{metrics}"
    );
    assert_eq!(
        approvals_on(&w, REPO, &waiting_head).await.len(),
        1,
        "acme's pass waited: its PR was not evaluated again"
    );
    assert_eq!(
        approvals_on(&w, "globex/site", &globex_head).await.len(),
        2,
        "globex's pass ran on its own budget"
    );
    let dashboard = w.admin_page("/").await.replace("&#x2f;", "/");
    assert!(
        dashboard.contains("acme/infra: installation:acme/core has ")
            && dashboard.contains(" of 5000 left; the pass waits for its reset"),
        "{dashboard}"
    );
    assert!(
        dashboard.contains("installation:globex/graphql"),
        "{dashboard}"
    );
    // acme's installation runs dry altogether: globex's decisions go on.
    w.sim.spend_installation_rate_limit(7, 0);
    let (st, _) = w
        .api(
            "alice-token",
            Method::POST,
            &format!("/repos/globex/site/pulls/{globex_pr}/reviews"),
            Some(json!({ "event": "APPROVE", "body": "ok" })),
        )
        .await;
    assert_eq!(st, 200);
    w.settle().await;
    let (_, statuses) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/globex/site/commits/{globex_head}/statuses"),
            None,
        )
        .await;
    assert_eq!(statuses[0]["state"], "success", "{statuses}");
    w.shutdown().await;
}
