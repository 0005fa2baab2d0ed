//! The webhook endpoint through the real axum router: signatures, size cap, headers,
//! duplicates, malformed bodies, every example delivery GitHub documents, and the other routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prgate::config::Secret;
use prgate::dashboard::Dashboard;
use prgate::metrics::Metrics;
use prgate::routes::{AdminState, AppState, admin_router, router};
use prgate::webhook::{BodyIntake, Event, Queue, sign};
use tower::ServiceExt;

const SECRET: &str = "s3cret-for-tests";

struct App {
    _dir: tempfile::TempDir,
    state: AppState,
    router: Router,
    dashboard: Dashboard,
    /// The admin listener's routes over the same queue and metrics.
    admin: Router,
}

fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let queue = Queue::open(&dir.path().join("queue"), metrics.clone()).unwrap();
    let state = AppState {
        // Rotation: the old secret is still accepted.
        secrets: Arc::new(vec![Secret::new("old-secret"), Secret::new(SECRET)]),
        queue,
        metrics,
        ready: prgate::readiness::Readiness::blocked(
            prgate::readiness::CONNECTING,
            "not yet connected to the code host",
        ),
        intake: BodyIntake::new(&Default::default()),
    };
    let router = router(state.clone());
    let dashboard = Dashboard::new();
    let admin = admin_router(admin_state(&state, &dashboard, None));
    App {
        _dir: dir,
        state,
        router,
        dashboard,
        admin,
    }
}

fn admin_state(state: &AppState, dashboard: &Dashboard, token: Option<&str>) -> AdminState {
    AdminState {
        queue: state.queue.clone(),
        metrics: state.metrics.clone(),
        dashboard: dashboard.clone(),
        renderer: Arc::new(prgate::render::Renderer::default()),
        token: token.map(|t| Arc::new(Secret::new(t))),
        hosts: Arc::new(prgate::routes::AdminHosts::new(
            "127.0.0.1".parse().unwrap(),
            Some("https://prgate.example.com"),
        )),
    }
}

#[tokio::test]
async fn the_admin_listener_answers_only_its_own_names() {
    let app = app();
    let ask = |host: &str| {
        Request::get("/metrics")
            .header("host", host)
            .body(Body::empty())
            .unwrap()
    };
    for own in [
        "127.0.0.1:9090",
        "localhost:9090",
        "LOCALHOST",
        "prgate.example.com",
        "prgate.example.com.:443",
    ] {
        assert_eq!(route(&app.admin, ask(own)).await.0, StatusCode::OK, "{own}");
    }
    // A page of another site whose name now points here (DNS rebinding) sends its own name.
    for other in [
        "evil.example:9090",
        "attacker.test",
        "127.0.0.2:9090",
        "[::1]:9090",
        "localhost.evil.example",
        "",
    ] {
        let (status, _, body) = route(&app.admin, ask(other)).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{other}");
        assert!(body.contains("own address"), "{body}");
    }
    // The sign-in form is behind the same check.
    let login = Request::get("/login")
        .header("host", "evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        route(&app.admin, login).await.0,
        StatusCode::MISDIRECTED_REQUEST
    );
}

struct Post<'a> {
    event: Option<&'a str>,
    delivery: Option<&'a str>,
    signature: Option<String>,
    body: Vec<u8>,
}

impl<'a> Post<'a> {
    fn signed(event: &'a str, delivery: &'a str, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        Post {
            event: Some(event),
            delivery: Some(delivery),
            signature: Some(sign(SECRET, &body)),
            body,
        }
    }
}

async fn send(app: &App, p: Post<'_>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post("/webhook").header("content-type", "application/json");
    if let Some(e) = p.event {
        req = req.header("x-github-event", e);
    }
    if let Some(d) = p.delivery {
        req = req.header("x-github-delivery", d);
    }
    if let Some(s) = &p.signature {
        req = req.header("x-hub-signature-256", s);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::from(p.body)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn get(app: &App, path: &str) -> (StatusCode, String, String) {
    route(&app.router, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn route(router: &Router, mut request: Request<Body>) -> (StatusCode, String, String) {
    // As a browser or curl sends it: the listener's own address.
    if !request.headers().contains_key("host") {
        request
            .headers_mut()
            .insert("host", "127.0.0.1:9090".parse().unwrap());
    }
    let res = router.clone().oneshot(request).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8_lossy(&bytes).into_owned())
}

fn review_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "submitted",
        "review": {"state": "approved", "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
        "pull_request": {"number": 42},
        "repository": {"full_name": "acme/infra"},
        "sender": {"login": "alice"}
    }))
    .unwrap()
}

#[tokio::test]
async fn github_signature_vector_through_the_router() {
    let mut app = app();
    app.state.secrets = Arc::new(vec![Secret::new("It's a Secret to Everybody")]);
    app.router = router(app.state.clone());
    // GitHub's vector is over a body that is not JSON: the signature passes, decoding refuses.
    let post = Post {
        event: Some("issues"),
        delivery: Some("vector-1"),
        signature: Some(
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".into(),
        ),
        body: b"Hello, World!".to_vec(),
    };
    let (status, json) = send(&app, post).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let post = Post {
        event: Some("issues"),
        delivery: Some("vector-2"),
        signature: Some(
            "sha256=0000000000000000000000000000000000000000000000000000000000000000".into(),
        ),
        body: b"Hello, World!".to_vec(),
    };
    assert_eq!(send(&app, post).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn accepts_queues_and_deduplicates() {
    let app = app();
    let (status, json) = send(
        &app,
        Post::signed("pull_request_review", "d-1", review_body()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let (status, json) = send(
        &app,
        Post::signed("pull_request_review", "d-1", review_body()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["queued"], false);
    assert_eq!(app.state.queue.depth(), 1);
    let d = tokio::time::timeout(Duration::from_secs(5), app.state.queue.next())
        .await
        .unwrap();
    assert_eq!(d.id, "d-1");
    assert_eq!(d.event_name, "pull_request_review");
    assert!(matches!(d.event, Event::PullRequestReview(ref e) if e.action == "submitted"));
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains(
            r#"prgate_webhook_deliveries_total{event="pull_request_review",outcome="accepted"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"prgate_webhook_deliveries_total{event="pull_request_review",outcome="duplicate"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn missing_or_bad_signatures_are_401_and_nothing_is_queued() {
    let app = app();
    let body = review_body();
    let cases = [
        None,
        Some(String::new()),
        Some("sha1=abc".to_string()),
        Some(sign("wrong secret", &body)),
        Some(sign(SECRET, b"another body")),
        Some(format!("sha256={}", "g".repeat(64))),
    ];
    for signature in cases {
        let post = Post {
            event: Some("pull_request_review"),
            delivery: Some("d-x"),
            signature,
            body: body.clone(),
        };
        let (status, json) = send(&app, post).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{json}"
        );
    }
    assert_eq!(app.state.queue.depth(), 0);
    // The id of a refused delivery was not remembered: the genuine one is still accepted.
    assert_eq!(
        send(&app, Post::signed("pull_request_review", "d-x", body))
            .await
            .0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn required_headers_and_malformed_bodies_are_400() {
    let app = app();
    let mut p = Post::signed("pull_request_review", "d-2", review_body());
    p.event = None;
    assert_eq!(send(&app, p).await.0, StatusCode::BAD_REQUEST);
    let mut p = Post::signed("pull_request_review", "d-2", review_body());
    p.delivery = None;
    assert_eq!(send(&app, p).await.0, StatusCode::BAD_REQUEST);
    for body in [&b"{not json"[..], b"", b"[1,2", b"\xff\xfe", b"{} {}"] {
        for event in [
            "pull_request",
            "push",
            "status",
            "pull_request_review",
            "ping",
            "issues",
        ] {
            let (status, json) = send(&app, Post::signed(event, "d-3", body.to_vec())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{event} {body:?} {json}");
        }
    }
    // Well-formed JSON of the wrong types in a field we read.
    for (event, body) in [
        ("pull_request", &br#"{"action": 5}"#[..]),
        ("pull_request_review", br#"{"action":"submitted","pull_request":{"number":"7"}}"#),
        ("push", br#"{"ref":"refs/heads/main","forced":"yes"}"#),
        ("status", br#"{"sha":"not-a-sha","context":"c","state":"success","repository":{"full_name":"acme/infra"}}"#),
        ("pull_request", br#"{"action":"opened","number":1,"pull_request":{},"repository":{"full_name":"not a repo"}}"#),
    ] {
        let (status, json) = send(&app, Post::signed(event, "d-4", body.to_vec())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{event} {json}");
    }
    assert_eq!(app.state.queue.depth(), 0);
}

#[tokio::test]
async fn ping_and_unknown_events_are_answered_without_queueing() {
    let app = app();
    let (status, json) = send(
        &app,
        Post::signed(
            "ping",
            "p-1",
            br#"{"zen":"Design for failure.","hook_id":1}"#.to_vec(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["ok"], true);
    assert_eq!(json["zen"], "Design for failure.");
    let (status, _) = send(
        &app,
        Post::signed("star", "s-1", br#"{"action":"created"}"#.to_vec()),
    )
    .await;
    assert!(status.is_success());
    let (status, _) = send(
        &app,
        Post::signed("some_future_event", "f-1", br#"{}"#.to_vec()),
    )
    .await;
    assert!(status.is_success());
    assert_eq!(app.state.queue.depth(), 0);
}

#[tokio::test]
async fn form_encoded_deliveries_are_accepted() {
    let app = app();
    let json = String::from_utf8(review_body()).unwrap();
    let mut form = String::from("payload=");
    for b in json.bytes() {
        if b.is_ascii_alphanumeric() {
            form.push(b as char);
        } else {
            form.push_str(&format!("%{b:02X}"));
        }
    }
    let req = Request::post("/webhook")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "pull_request_review")
        .header("x-github-delivery", "form-1")
        .header("x-hub-signature-256", sign(SECRET, form.as_bytes()))
        .body(Body::from(form))
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(app.state.queue.depth(), 1);
}

#[tokio::test]
async fn oversized_body_is_413_and_not_queued() {
    let app = app();
    let mut body = review_body();
    body.resize(25 * 1024 * 1024 + 1, b' ');
    let (status, _) = send(&app, Post::signed("pull_request_review", "big-1", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the cap is fine.
    let mut body = review_body();
    body.resize(25 * 1024 * 1024, b' ');
    let (status, json) = send(&app, Post::signed("pull_request_review", "big-2", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(app.state.queue.depth(), 1);
    assert!(
        app.state
            .metrics
            .render()
            .contains(r#"outcome="too_large"} 1"#)
    );
}

/// A declared Content-Length over the cap is refused at once, before any of the body is sent.
#[tokio::test]
async fn declared_oversized_length_is_refused_without_reading() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app.router.clone()).into_future());
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: huge\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
        sign(SECRET, b""),
        1u64 << 40
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut response))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&response[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(app.state.queue.depth(), 0);
    server.abort();
}

#[tokio::test]
async fn probes_on_the_public_listener_and_nothing_else() {
    let app = app();
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    let (status, _, text) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text, "not ready: not yet connected to the code host");
    app.state.ready.clear(prgate::readiness::CONNECTING);
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    // The pages and metrics show private repositories: never on the webhook's port.
    for path in [
        "/",
        "/metrics",
        "/pulls/acme/infra/7",
        "/login",
        "/webhook/../metrics",
        "/favicon.ico",
    ] {
        assert_eq!(get(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _, _) = route(
        &app.router,
        Request::post("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_and_dashboard_on_the_admin_listener() {
    let app = app();
    let admin_get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let (status, ct, text) = route(&app.admin, admin_get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert!(text.contains("prgate_queue_depth 0"), "{text}");
    app.dashboard.record_decision(
        &"acme/infra#7".parse().unwrap(),
        &"ec26c3e57ca3a959ca5aad62de7213c562f8c821".parse().unwrap(),
        "pending",
        "waiting for <b>approval</b>",
        chrono::Utc::now(),
    );
    let (status, ct, html) = route(&app.admin, admin_get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(
        html.contains("acme&#x2f;infra#7") && html.contains("&lt;b&gt;approval&lt;&#x2f;b&gt;"),
        "{html}"
    );
    let (status, _, html) = route(&app.admin, admin_get("/pulls/acme/infra/7")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _, text) = route(&app.admin, admin_get("/pulls/acme/infra/8")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("has not evaluated acme/infra#8"), "{text}");
    assert_eq!(
        route(&app.admin, admin_get("/pulls/acme/infra/x")).await.0,
        StatusCode::NOT_FOUND
    );
    // The admin listener has no webhook: nothing can be queued through it.
    assert_eq!(
        route(
            &app.admin,
            Request::post("/webhook").body(Body::empty()).unwrap()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_admin_token_guards_every_page() {
    let app = app();
    let admin = admin_router(admin_state(
        &app.state,
        &app.dashboard,
        Some("t0ken-of-admin"),
    ));
    let with = |path: &str, header: Option<(&str, &str)>| {
        let mut r = Request::get(path);
        if let Some((name, value)) = header {
            r = r.header(name, value);
        }
        r.body(Body::empty()).unwrap()
    };
    for path in ["/", "/metrics", "/pulls/acme/infra/7"] {
        for header in [
            None,
            Some(("authorization", "Bearer wrong")),
            Some(("authorization", "Bearer t0ken-of-admi")),
            Some(("authorization", "Basic t0ken-of-admin")),
            Some(("cookie", "prgate_admin_token=wrong")),
            Some(("cookie", "other=t0ken-of-admin")),
        ] {
            let (status, _, _) = route(&admin, with(path, header)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {header:?}");
        }
    }
    let (status, _, _) = route(
        &admin,
        with("/metrics", Some(("authorization", "Bearer t0ken-of-admin"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = route(
        &admin,
        with(
            "/",
            Some(("cookie", "a=b; prgate_admin_token=t0ken-of-admin")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The sign-in form sets the cookie only for the right token.
    let login = |token: &str| {
        Request::post("/login")
            .header("host", "localhost:9090")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap()
    };
    assert_eq!(route(&admin, with("/login", None)).await.0, StatusCode::OK);
    let res = admin.clone().oneshot(login("nope")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("set-cookie").is_none());
    let res = admin
        .clone()
        .oneshot(login("t0ken-of-admin"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("prgate_admin_token=t0ken-of-admin;")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

/// Every example delivery in @octokit/webhooks-examples, signed, is answered 2xx; unsigned or
/// badly signed, 401; and nothing is ever answered 5xx.
#[tokio::test]
async fn every_documented_example_delivery() {
    let dir = crate::common::npm::ensure(&["@octokit/webhooks-examples"]);
    let app = app();
    let root = dir.join("node_modules/@octokit/webhooks-examples");
    let mut names = std::collections::BTreeSet::new();
    let mut total = 0;
    let mut queued_by_event = std::collections::BTreeMap::<String, usize>::new();
    for flavour in ["api.github.com", "ghes-35"] {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(flavour).join("index.json")).unwrap())
                .unwrap();
        for entry in index.as_array().unwrap() {
            let name = entry["name"].as_str().unwrap();
            names.insert(name.to_string());
            for (i, example) in entry["examples"].as_array().unwrap().iter().enumerate() {
                total += 1;
                let body = serde_json::to_vec(example).unwrap();
                let id = format!("{flavour}-{name}-{i}");
                let before = app.state.queue.depth();
                let (status, json) = send(&app, Post::signed(name, &id, body.clone())).await;
                assert!(
                    status.is_success(),
                    "{flavour} {name} #{i}: {status} {json}"
                );
                if app.state.queue.depth() > before {
                    *queued_by_event.entry(name.to_string()).or_default() += 1;
                }
                let unsigned = Post {
                    event: Some(name),
                    delivery: Some(&id),
                    signature: None,
                    body: body.clone(),
                };
                assert_eq!(
                    send(&app, unsigned).await.0,
                    StatusCode::UNAUTHORIZED,
                    "{name} #{i}"
                );
                let mut tampered = body.clone();
                tampered.push(b' ');
                let bad = Post {
                    event: Some(name),
                    delivery: Some(&id),
                    signature: Some(sign(SECRET, &body)),
                    body: tampered,
                };
                assert_eq!(
                    send(&app, bad).await.0,
                    StatusCode::UNAUTHORIZED,
                    "{name} #{i}"
                );
            }
        }
    }
    assert!(
        names.len() >= 50,
        "only {} event names in the examples",
        names.len()
    );
    // `merge_group` too: GitHub's example is decoded (its `checks_requested` is answered).
    let acted_on = [
        "pull_request",
        "pull_request_review",
        "push",
        "status",
        "merge_group",
    ];
    for event in acted_on {
        assert!(
            queued_by_event.get(event).copied().unwrap_or(0) > 0,
            "no {event} example was queued: {queued_by_event:?}"
        );
    }
    for event in queued_by_event.keys() {
        assert!(acted_on.contains(&event.as_str()), "{event} was queued");
    }
    eprintln!(
        "{total} examples of {} events; queued {queued_by_event:?}",
        names.len()
    );
}

/// Our signer agrees with Octokit's reference implementation, including non-ASCII bodies and
/// secrets.
#[test]
fn sign_matches_octokit_webhooks_methods() {
    let dir = crate::common::npm::ensure(&["@octokit/webhooks-methods"]);
    let cases: Vec<(&str, &str)> = vec![
        ("It's a Secret to Everybody", "Hello, World!"),
        ("s3cret", r#"{"action":"opened","number":1}"#),
        ("sécret-ключ-🔑", "{\"title\":\"héllo wörld — 日本語 🚀\"}"),
        ("x", "{}"),
        (
            "a much longer secret that is longer than the sixty-four byte block size of sha-256 ....",
            "body\nwith\r\nnewlines\t\u{0}",
        ),
    ];
    let input = serde_json::to_vec(&cases).unwrap();
    let script = r#"
        import { sign } from "@octokit/webhooks-methods";
        let data = "";
        process.stdin.on("data", (c) => (data += c));
        process.stdin.on("end", async () => {
            const out = [];
            for (const [secret, body] of JSON.parse(data)) out.push(await sign(secret, body));
            process.stdout.write(JSON.stringify(out));
        });
    "#;
    let out = crate::common::npm::run_node_module(&dir, script, &input);
    let theirs: Vec<String> = serde_json::from_slice(&out).unwrap();
    assert_eq!(theirs.len(), cases.len());
    for ((secret, body), expected) in cases.iter().zip(&theirs) {
        assert_eq!(
            &sign(secret, body.as_bytes()),
            expected,
            "secret {secret:?} body {body:?}"
        );
    }
    assert_eq!(
        theirs[0],
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}
