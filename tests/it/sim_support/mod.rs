//! Shared harness for the simulator tests: a seeded simulator in a temp dir, a git working
//! copy driven by the `git` CLI (authenticated over HTTP with a token in an
//! `http.extraHeader`), an authenticated HTTP client and a webhook receiver.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use prgate_sim::{SimHandle, SimState, start, webhook_signature};
use serde_json::Value;

pub const SEED: &str = r#"
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
login = "ops-agent[bot]"
type = "Bot"
token = "agent-token"
email = "agent@bots.example.com"

[[users]]
login = "carol"
token = "carol-token"

[[teams]]
org = "acme"
slug = "netops"
members = ["alice", "bob"]

[[repos]]
name = "acme/infra"
admins = ["root"]
writers = ["ops-agent[bot]", "alice"]
required_contexts = ["prgate/approval"]

[[repos]]
name = "acme/strict"
admins = ["root"]
writers = ["ops-agent[bot]"]
required_contexts = ["prgate/approval"]
enforce_admins = true
"#;

pub struct Env {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub async fn env() -> Env {
    env_seeded(SEED).await
}

/// As [`env`], from another seed (e.g. [`SEED`] plus an app).
pub async fn env_seeded(seed: &str) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let seed = SimState::from_toml(seed).expect("seed parses");
    let sim = start(
        "127.0.0.1:0".parse().expect("addr"),
        seed,
        dir.path().join("data"),
    )
    .await
    .expect("simulator starts");
    Env {
        sim,
        dir,
        http: reqwest::Client::new(),
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.api_url)
    }
    pub async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, token, path, None).await
    }
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, token, path, Some(body))
            .await
    }
    pub async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, token, path, Some(body))
            .await
    }
    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, token, path, Some(body))
            .await
    }

    /// A clone of `repo` in the temp dir, with the given identity for commits; its git
    /// commands authenticate with `token` (reads need any account; pushes need a writer).
    pub fn clone_repo(&self, repo: &str, token: &str, name: &str, email: &str) -> Work {
        let url = self.sim.clone_url(repo).expect("repo is seeded");
        let path =
            self.dir
                .path()
                .join(format!("work-{}-{}", repo.replace('/', "-"), rand_suffix()));
        let auth = auth_config(token);
        git(
            self.dir.path(),
            &[
                "-c",
                &auth,
                "clone",
                "-q",
                &url,
                path.to_str().expect("utf-8 path"),
            ],
        );
        let w = Work {
            path,
            name: name.into(),
            email: email.into(),
            token: token.into(),
        };
        w.git(&["checkout", "-q", "-B", "main"]);
        w
    }
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// `http.extraHeader=Authorization: Basic ...` for `git -c`: the token as the password of
/// `x-access-token`, as GitHub takes it.
pub fn auth_config(token: &str) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("http.extraHeader=Authorization: Basic {basic}")
}

fn git_command(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git runs")
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs git and returns (success, stderr), for commands a test expects to fail.
pub fn try_git(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = git_command(dir, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Work {
    pub path: PathBuf,
    pub name: String,
    pub email: String,
    /// The token its git commands authenticate with.
    pub token: String,
}

impl Work {
    fn args_as<'a>(&'a self, token: &str, args: &[&'a str]) -> Vec<String> {
        let mut full: Vec<String> = [
            "-c".to_string(),
            format!("user.name={}", self.name),
            "-c".into(),
            format!("user.email={}", self.email),
            "-c".into(),
            "commit.gpgsign=false".into(),
            "-c".into(),
            auth_config(token),
        ]
        .into();
        full.extend(args.iter().map(|a| a.to_string()));
        full
    }
    pub fn git(&self, args: &[&str]) -> String {
        let full = self.args_as(&self.token, args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        git(&self.path, &refs)
    }
    /// Runs git authenticated as `token`: (success, stderr).
    pub fn try_git_as(&self, token: &str, args: &[&str]) -> (bool, String) {
        let full = self.args_as(token, args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        try_git(&self.path, &refs)
    }
    /// Writes a file, commits it and returns the new head sha.
    pub fn commit_file(&self, file: &str, content: &str, message: &str) -> String {
        let p = self.path.join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        self.git(&["add", file]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
    /// Pushes HEAD to `branch`, authenticated as the clone's own token.
    pub fn push(&self, branch: &str) {
        self.git(&["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")]);
    }
    /// Pushes HEAD to `branch` authenticated as `token` (e.g. an admin's).
    pub fn push_as(&self, token: &str, branch: &str) {
        let (ok, err) = self.try_push_as(token, branch, false);
        assert!(ok, "push to {branch} failed: {err}");
    }
    /// Pushes HEAD to `branch` (forced when `force`) as `token`: (success, stderr).
    pub fn try_push_as(&self, token: &str, branch: &str, force: bool) -> (bool, String) {
        let refspec = format!("{}HEAD:refs/heads/{branch}", if force { "+" } else { "" });
        self.try_git_as(token, &["push", "origin", &refspec])
    }
}

/// A webhook received by the test's receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: String,
    pub body: Value,
    pub signature_ok: bool,
    pub delivery_id: String,
}

pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub fn events(&self) -> Vec<Delivery> {
        self.got.lock().expect("lock").clone()
    }
    pub fn find(&self, event: &str, pred: impl Fn(&Value) -> bool) -> Option<Delivery> {
        self.events()
            .into_iter()
            .find(|d| d.event == event && pred(&d.body))
    }
}

/// A small axum server that checks each delivery's signature with `secret` and keeps it.
pub async fn receiver(secret: &'static str) -> Receiver {
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let signature_ok = h("x-hub-signature-256") == webhook_signature(secret, &body);
                let d = Delivery {
                    event: h("x-github-event"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    signature_ok,
                    delivery_id: h("x-github-delivery"),
                };
                store.lock().expect("lock").push(d);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/webhook"),
        got,
    }
}
