//! A story-like harness: the simulator with real git repositories, the real gate service
//! (axum router, durable queue, octocrab client) pointed at it, and helpers that act as the
//! people involved: an agent pushing and opening PRs, reviewers approving, an admin pushing.
//!
//! Git runs over the simulator's smart HTTP, authenticated as GitHub takes it (a token as the
//! Basic password), passed per command as `git -c http.extraHeader=...` so that no clone's
//! config or origin URL holds a token: `prgate propose` in an agent's clone pushes with its
//! own token, never with one the harness left behind. Every push has the pusher the story
//! says: `commit_and_push` pushes as the committer's account, `commit_and_push_by` as anyone.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use prgate::config::{GithubConfig, GovernedRepo, HumanDuration, SecretRef, ServerConfig};
use prgate::github::ClientOptions;
use prgate::serve::ServeHandle;
use prgate_sim::SimHandle;
use serde_json::{Value, json};

pub const SECRET: &str = "harness-webhook-secret";

/// A file content that [`World::commit`] writes as a symlink to what follows it.
pub const LINK_TO: &str = "symlink->";
pub const REPO: &str = "acme/infra";

/// Users of the seeded world. `alice` and `carol` are in acme/netops; `dave` and `erin` in
/// acme/security; `bob` is a writer but no designated approver; `ops-agent[bot]` is the agent.
pub const SEED: &str = r#"
[[users]]
login = "prgate"
token = "prgate-token"

[[users]]
login = "root"
token = "root-token"

[[users]]
login = "alice"
token = "alice-token"

[[users]]
login = "bob"
token = "bob-token"

[[users]]
login = "carol"
token = "carol-token"

[[users]]
login = "dave"
token = "dave-token"

[[users]]
login = "erin"
token = "erin-token"

[[users]]
login = "release-bot"
token = "release-bot-token"

[[users]]
login = "ops-agent[bot]"
type = "Bot"
token = "agent-token"

[[users]]
login = "helper[bot]"
type = "Bot"
token = "helper-token"

[[teams]]
org = "acme"
slug = "netops"
members = ["alice", "carol"]

[[teams]]
org = "acme"
slug = "security"
members = ["dave", "erin"]

[[teams]]
org = "acme"
slug = "maintainers"
members = ["alice", "carol", "dave"]

[[repos]]
name = "acme/infra"
default_branch = "main"
admins = ["root"]
writers = ["prgate", "ops-agent[bot]", "alice", "bob", "carol", "dave", "erin", "release-bot"]
required_contexts = ["prgate/approval"]
enforce_admins = false
"#;

/// The policy of DESIGN.md, with two extra designated approvers used by attack tests.
pub const POLICY: &str = r#"
version = 1
expire_after = "72h"
merge = "auto"

[identities]
agents = ["ops-agent[bot]", "release-bot"]

[defaults]
approvers = { teams = ["acme/maintainers"] }
min_approvals = 1

[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice", "release-bot", "helper[bot]"], teams = ["acme/netops"] }
min_approvals = 1
executor = "firewall"

[[rules]]
name = "dns"
paths = ["dns/**"]
approvers = { teams = ["acme/security"] }
min_approvals = 1

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { teams = ["acme/security"] }
min_approvals = 2
"#;

/// The firewall executor's script, as the repository holds it: it "applies" the rules by
/// copying them to the production folder, logs each run, and prints its token (which the
/// executor must redact). A `firewall/sleep` file makes it take that many seconds.
pub const APPLY_SCRIPT: &str = r#"#!/bin/sh
set -e
echo "applying $PRGATE_MERGE_SHA with token $FIREWALL_TOKEN"
mkdir -p "$PROD_DIR"
echo "$PRGATE_MERGE_SHA" >> "$PROD_DIR/runs.log"
if [ -f firewall/sleep ]; then sleep "$(cat firewall/sleep)"; fi
cp firewall/rules.toml "$PROD_DIR/rules.toml"
echo "applied"
"#;

/// The secret the firewall executor gets; it must never show up in any record.
pub const FIREWALL_TOKEN: &str = "fw-token-7d1e0c2b9a";

pub struct World {
    pub sim: SimHandle,
    pub gate: Option<ServeHandle>,
    pub tmp: tempfile::TempDir,
    pub http: reqwest::Client,
    pub clone_url: String,
    pub data_dir: PathBuf,
    work: PathBuf,
}

/// Every `prgate/approval` status on `sha` of `repo`, newest first: (state, created_at).
pub async fn approvals_on(w: &World, repo: &str, sha: &str) -> Vec<(String, String)> {
    let (_, v) = w
        .api(
            "root-token",
            reqwest::Method::GET,
            &format!("/repos/{repo}/commits/{sha}/statuses?per_page=100"),
            None,
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["context"] == "prgate/approval")
        .map(|s| {
            (
                s["state"].as_str().unwrap().to_string(),
                s["created_at"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Settings of the firewall executor for a test.
#[derive(Clone)]
pub struct ExecSettings {
    pub timeout: Duration,
    pub paused: bool,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            timeout: Duration::from_secs(30),
            paused: false,
        }
    }
}

/// The firewall executor, with its secrets as file references under `dir`.
pub fn firewall_executor(dir: &Path, settings: &ExecSettings) -> prgate::config::ExecutorConfig {
    std::fs::create_dir_all(dir).unwrap();
    let prod = dir.join("production");
    // The sandbox lets the command write there, so it must exist before the first run.
    std::fs::create_dir_all(&prod).unwrap();
    std::fs::write(dir.join("prod-dir.secret"), prod.display().to_string()).unwrap();
    std::fs::write(dir.join("firewall-token.secret"), FIREWALL_TOKEN).unwrap();
    prgate::config::ExecutorConfig {
        command: vec!["sh".into(), "scripts/apply-firewall.sh".into()],
        timeout: Some(HumanDuration(settings.timeout)),
        env: [
            (
                "PROD_DIR".to_string(),
                SecretRef::File(dir.join("prod-dir.secret")),
            ),
            (
                "FIREWALL_TOKEN".to_string(),
                SecretRef::File(dir.join("firewall-token.secret")),
            ),
        ]
        .into_iter()
        .collect(),
        repos: vec![REPO.parse().unwrap()],
        paused: settings.paused,
        // The script runs through `sh`, so it is named here: it is governed by the firewall
        // rule, not by the defaults.
        program_paths: Some(vec!["scripts/apply-firewall.sh".into()]),
        plan: None,
        plan_env: Default::default(),
        // The command writes production and nothing else of this machine.
        sandbox: prgate::config::SandboxSetting::Paths(prgate::config::SandboxPaths {
            read: Vec::new(),
            write: vec![prod],
        }),
        plan_network: false,
    }
}

pub fn gate_config(api_url: &str, data_dir: &Path, branches: &[&str]) -> ServerConfig {
    // SAFETY of env mutation: each test binary sets the same values; no test reads other ones.
    unsafe {
        std::env::set_var("PRGATE_TEST_WEBHOOK_SECRET", SECRET);
        std::env::set_var("PRGATE_TEST_TOKEN", "prgate-token");
    }
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        webhook_secrets: vec![SecretRef::Env("PRGATE_TEST_WEBHOOK_SECRET".into())],
        public_url: None,
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: None,
        github: GithubConfig {
            api_url: api_url.to_string(),
            graphql_url: None,
            token: Some(SecretRef::Env("PRGATE_TEST_TOKEN".into())),
            app_id: None,
            private_key: None,
        },
        repos: vec![GovernedRepo {
            name: REPO.parse().unwrap(),
            branches: branches.iter().map(|b| b.to_string()).collect(),
        }],
        executors: Default::default(),
        // The tests drive reconciliation themselves.
        reconcile_interval: HumanDuration(Duration::from_secs(3600)),
        templates_dir: None,
        note_signing_key: None,
        http: Default::default(),
        runtime: Default::default(),
    }
}

pub fn test_client_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        retries: 1,
        backoff: Duration::from_millis(20),
        ..ClientOptions::default()
    }
}

impl World {
    /// A simulator seeded with [`SEED`], `main` holding `policy` and a firewall file, and the
    /// gate governing `branches`.
    pub async fn start_with(policy: &str, branches: &[&str]) -> World {
        Self::start_full(
            policy,
            branches,
            std::sync::Arc::new(prgate::clock::SystemClock),
        )
        .await
    }

    /// As [`World::start_with`], with the clock the gate reads.
    pub async fn start_full(
        policy: &str,
        branches: &[&str],
        clock: std::sync::Arc<dyn prgate::clock::Clock>,
    ) -> World {
        Self::start_configured(policy, branches, clock, None).await
    }

    /// The world with the firewall executor configured.
    pub async fn start_with_executor(policy: &str, settings: ExecSettings) -> World {
        Self::start_configured(
            policy,
            &["main"],
            std::sync::Arc::new(prgate::clock::SystemClock),
            Some(settings),
        )
        .await
    }

    pub async fn start_configured(
        policy: &str,
        branches: &[&str],
        clock: std::sync::Arc<dyn prgate::clock::Clock>,
        executor: Option<ExecSettings>,
    ) -> World {
        let mut w = Self::start_without_gate(policy).await;
        let mut config = gate_config(&w.sim.api_url, &w.data_dir, branches);
        if let Some(settings) = executor {
            config.executors.insert(
                "firewall".into(),
                firewall_executor(&w.exec_dir(), &settings),
            );
        }
        let gate = prgate::serve::start_with_clock(config, test_client_options(), clock)
            .await
            .unwrap();
        w.sim.add_hook(&format!("{}/webhook", gate.url()), SECRET);
        w.gate = Some(gate);
        w.wait_ready().await;
        w
    }

    /// The simulator and the repository, with no gate running.
    pub async fn start_without_gate(policy: &str) -> World {
        Self::start_without_gate_seeded(policy, SEED).await
    }

    /// As [`World::start_without_gate`], with another simulator seed.
    pub async fn start_without_gate_seeded(policy: &str, seed: &str) -> World {
        Self::start_without_gate_with(policy, seed, &[]).await
    }

    /// As [`World::start_without_gate_seeded`], with more files in the first commit on main.
    pub async fn start_without_gate_with(
        policy: &str,
        seed: &str,
        extra_files: &[(&str, &str)],
    ) -> World {
        Self::start_without_gate_shaped(policy, seed, extra_files, prgate_sim::Shape::GitHubCom)
            .await
    }

    /// As [`World::start_without_gate_with`], with the simulator in `shape` (GitHub Enterprise
    /// Server's: `sim.api_url` ends in `/api/v3`, git stays at the host's root).
    pub async fn start_without_gate_shaped(
        policy: &str,
        seed: &str,
        extra_files: &[(&str, &str)],
        shape: prgate_sim::Shape,
    ) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let seed = prgate_sim::SimState::from_toml(seed).unwrap();
        let sim = prgate_sim::start_shaped(
            "127.0.0.1:0".parse().unwrap(),
            seed,
            tmp.path().join("sim"),
            shape,
        )
        .await
        .unwrap();
        let clone_url = sim.clone_url(REPO).unwrap();
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &["clone", "-q", &clone_url, work.to_str().unwrap()],
        );
        let w = World {
            sim,
            gate: None,
            http: reqwest::Client::new(),
            clone_url,
            data_dir: tmp.path().join("gate"),
            work,
            tmp,
        };
        let mut files = vec![
            (".github/prgate.toml", policy),
            ("firewall/rules.toml", "allow = [22]\n"),
            ("README.md", "infra\n"),
            ("scripts/apply-firewall.sh", APPLY_SCRIPT),
        ];
        files.extend_from_slice(extra_files);
        w.commit_and_push("main", &files, "root", "root", "initial");
        w.sim.settle().await;
        w
    }

    /// Starts the gate on a world made with [`World::start_without_gate_seeded`].
    pub async fn with_gate(mut self, config: ServerConfig, options: ClientOptions) -> World {
        let gate = prgate::serve::start(config, options).await.unwrap();
        self.sim
            .add_hook(&format!("{}/webhook", gate.url()), SECRET);
        self.gate = Some(gate);
        self.wait_ready().await;
        self
    }

    pub async fn start() -> World {
        Self::start_with(POLICY, &["main"]).await
    }

    pub fn gate(&self) -> &ServeHandle {
        self.gate.as_ref().unwrap()
    }

    /// A page of the gate's admin listener (`/`, `/pulls/acme/infra/7`, `/metrics`), as text.
    pub async fn admin_page(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.gate().admin_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.gate().url());
        for _ in 0..200 {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gate never became ready");
    }

    /// Waits until every webhook the simulator sent was processed by the gate, including the
    /// deliveries that processing itself caused.
    pub async fn settle(&self) {
        let mut quiet_rounds = 0;
        let mut last = u64::MAX;
        for _ in 0..2000 {
            self.sim.settle().await;
            let depth = self.gate.as_ref().map(|g| g.queue.depth()).unwrap_or(0);
            let sent = self.sim_stats().await["deliveries_sent"]
                .as_u64()
                .unwrap_or(0);
            if depth == 0 && sent == last {
                quiet_rounds += 1;
                if quiet_rounds >= 3 {
                    return;
                }
            } else {
                quiet_rounds = 0;
            }
            last = sent;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        panic!("the world never settled");
    }

    pub async fn sim_stats(&self) -> Value {
        self.http
            .get(format!("{}/_sim/stats", self.sim.api_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Writes files in the working clone, commits them on `branch` with the accounts' noreply
    /// emails as author and committer, and pushes as the committer's account (its token, see
    /// [`token_of`]). Returns the new commit's SHA.
    pub fn commit_and_push(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        author: &str,
        committer: &str,
        message: &str,
    ) -> String {
        self.commit_and_push_by(
            &token_of(committer),
            branch,
            files,
            author,
            committer,
            message,
        )
    }

    /// As [`World::commit_and_push`], pushed by the account of `pusher_token`, whoever the
    /// commit names: "alice pushes a commit whose author and committer are the agent".
    pub fn commit_and_push_by(
        &self,
        pusher_token: &str,
        branch: &str,
        files: &[(&str, &str)],
        author: &str,
        committer: &str,
        message: &str,
    ) -> String {
        let author_email = format!("{author}@users.noreply.github.com");
        let committer_email = format!("{committer}@users.noreply.github.com");
        self.commit_and_push_as(
            pusher_token,
            branch,
            files,
            (author, &author_email),
            (committer, &committer_email),
            message,
        )
    }

    /// Commits with any (name, email) as author and committer and pushes (forced) as the
    /// account of `pusher_token`; panics when the push is refused.
    pub fn commit_and_push_as(
        &self,
        pusher_token: &str,
        branch: &str,
        files: &[(&str, &str)],
        author: (&str, &str),
        committer: (&str, &str),
        message: &str,
    ) -> String {
        let sha = self.commit(branch, files, author, committer, message);
        if let Err(e) = self.push_head(pusher_token, branch) {
            panic!("push of {branch} by {pusher_token} refused: {e}");
        }
        sha
    }

    /// Commits on `branch` (from the remote's branch, or from `origin/main` for a new one)
    /// in the working clone, without pushing. Returns the new commit's SHA.
    pub fn commit(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        author: (&str, &str),
        committer: (&str, &str),
        message: &str,
    ) -> String {
        let w = &self.work;
        let has_head = Command::new("git")
            .arg("-C")
            .arg(w)
            .args(["rev-parse", "--verify", "-q", "HEAD"])
            .output()
            .unwrap()
            .status
            .success();
        if has_head {
            git(w, &["fetch", "-q", "--prune", "origin"]);
            let exists_remote = Command::new("git")
                .arg("-C")
                .arg(w)
                .args([
                    "rev-parse",
                    "--verify",
                    "-q",
                    &format!("refs/remotes/origin/{branch}"),
                ])
                .output()
                .unwrap()
                .status
                .success();
            if exists_remote {
                git(
                    w,
                    &["checkout", "-q", "-B", branch, &format!("origin/{branch}")],
                );
            } else {
                git(w, &["checkout", "-q", "-B", branch, "origin/main"]);
            }
        } else {
            git(w, &["checkout", "-q", "-b", branch]);
        }
        for (path, content) in files {
            let p = w.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&p);
            match content.strip_prefix(LINK_TO) {
                Some(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
                None => std::fs::write(&p, content).unwrap(),
            }
            git(w, &["add", path]);
        }
        let status = Command::new("git")
            .arg("-C")
            .arg(w)
            .args(["commit", "-q", "-m", message])
            .env("GIT_AUTHOR_NAME", author.0)
            .env("GIT_AUTHOR_EMAIL", author.1)
            .env("GIT_COMMITTER_NAME", committer.0)
            .env("GIT_COMMITTER_EMAIL", committer.1)
            .status()
            .unwrap();
        assert!(status.success(), "git commit failed");
        git_out(w, &["rev-parse", "HEAD"])
    }

    /// Pushes the working clone's HEAD to `branch` (forced) as the account of `token`;
    /// `Err` with git's stderr when the simulator refuses it (e.g. GH006 on a protected
    /// branch).
    pub fn push_head(&self, token: &str, branch: &str) -> Result<(), String> {
        let out = git_command_as(
            &self.work,
            token,
            &[
                "push",
                "-q",
                "-f",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        );
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The repository activity API (`GET /repos/acme/infra/activity` + `query`, e.g.
    /// `?ref=main&activity_type=push`), read as root: who pushed what, newest first.
    pub async fn activity(&self, query: &str) -> Vec<Value> {
        let (status, v) = self
            .api(
                "root-token",
                reqwest::Method::GET,
                &format!("/repos/{REPO}/activity{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "activity{query}: {v}");
        v.as_array().cloned().unwrap_or_default()
    }

    /// The simulator's bare repository of acme/infra on disk.
    pub fn bare_dir(&self) -> PathBuf {
        self.sim.git_dir(REPO).unwrap()
    }

    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.sim.api_url, path))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/vnd.github+json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn open_pr(&self, token: &str, head: &str, base: &str, title: &str) -> u64 {
        let (s, v) = self
            .api(
                token,
                reqwest::Method::POST,
                &format!("/repos/{REPO}/pulls"),
                Some(json!({"title": title, "head": head, "base": base, "body": "proposed"})),
            )
            .await;
        assert_eq!(s, 201, "open PR: {v}");
        v["number"].as_u64().unwrap()
    }

    /// Submits a review; `commit_id` defaults (on the code host) to the current head.
    pub async fn review(
        &self,
        token: &str,
        pull: u64,
        event: &str,
        commit_id: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let mut b = json!({"event": event, "body": body});
        if let Some(c) = commit_id {
            b["commit_id"] = json!(c);
        }
        self.api(
            token,
            reqwest::Method::POST,
            &format!("/repos/{REPO}/pulls/{pull}/reviews"),
            Some(b),
        )
        .await
    }

    pub async fn approve(&self, token: &str, pull: u64) -> u64 {
        let (s, v) = self
            .review(token, pull, "APPROVE", None, "looks right")
            .await;
        assert_eq!(s, 200, "approve: {v}");
        v["id"].as_u64().unwrap()
    }

    pub async fn pull(&self, pull: u64) -> Value {
        self.api(
            "root-token",
            reqwest::Method::GET,
            &format!("/repos/{REPO}/pulls/{pull}"),
            None,
        )
        .await
        .1
    }

    pub async fn head_of(&self, pull: u64) -> String {
        self.pull(pull).await["head"]["sha"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The latest `prgate/approval` status on a commit: (state, description, creator login).
    pub async fn approval(&self, sha: &str) -> Option<(String, String, String)> {
        let (_, v) = self
            .api(
                "root-token",
                reqwest::Method::GET,
                &format!("/repos/{REPO}/commits/{sha}/statuses"),
                None,
            )
            .await;
        let list = v.as_array()?.clone();
        // GitHub lists newest first.
        list.iter()
            .find(|s| s["context"] == "prgate/approval")
            .map(|s| {
                (
                    s["state"].as_str().unwrap_or("").to_string(),
                    s["description"].as_str().unwrap_or("").to_string(),
                    s["creator"]["login"].as_str().unwrap_or("").to_string(),
                )
            })
    }

    pub async fn approval_state(&self, pull: u64) -> String {
        let head = self.head_of(pull).await;
        self.approval(&head)
            .await
            .map(|s| s.0)
            .unwrap_or_else(|| "none".into())
    }

    pub fn git_out(&self, args: &[&str]) -> String {
        git(&self.work, &["fetch", "-q", "origin"]);
        git_out(&self.work, args)
    }

    pub async fn shutdown(mut self) {
        if let Some(g) = self.gate.take() {
            g.shutdown().await;
        }
    }
}

/// The seed's token of an account: `<login>-token`, but `agent-token` for `ops-agent[bot]`
/// and `helper-token` for `helper[bot]`.
pub fn token_of(login: &str) -> String {
    match login {
        "ops-agent[bot]" => "agent-token".into(),
        "helper[bot]" => "helper-token".into(),
        other => format!("{other}-token"),
    }
}

/// `http.extraHeader=Authorization: Basic ...` for `git -c`: the token as the password of
/// `x-access-token`, as GitHub takes it.
pub fn auth_config(token: &str) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("http.extraHeader=Authorization: Basic {basic}")
}

/// Runs git in `dir` authenticated as the account of `token` (author and committer root,
/// unless the caller's environment says otherwise).
pub fn git_command_as(dir: &Path, token: &str, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("-c")
        .arg(auth_config(token))
        .args(args)
        .env("GIT_AUTHOR_NAME", "root")
        .env("GIT_AUTHOR_EMAIL", "root@users.noreply.github.com")
        .env("GIT_COMMITTER_NAME", "root")
        .env("GIT_COMMITTER_EMAIL", "root@users.noreply.github.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap()
}

/// Runs git in `dir` as the admin `root`: its commits are root's, and its fetches and pushes
/// authenticate with root's token (an admin's direct push to main, in a story).
pub fn git(dir: &Path, args: &[&str]) {
    git_as(dir, "root-token", args);
}

/// Runs git in `dir`, fetching and pushing as the account of `token`; panics on failure.
pub fn git_as(dir: &Path, token: &str, args: &[&str]) {
    let out = git_command_as(dir, token, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the `prgate` binary as an agent would, against the world's simulator.
pub fn prgate_cli(
    w: &World,
    token: Option<&str>,
    args: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prgate"));
    cmd.args(args)
        .env("PRGATE_API_URL", &w.sim.api_url)
        .env_remove("GITHUB_TOKEN")
        .env_remove("PRGATE_GITHUB_TOKEN")
        .env("PRGATE_LOG", "warn");
    if let Some(t) = token {
        cmd.env("PRGATE_GITHUB_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

impl World {
    /// Where the firewall executor's secrets and "production" folder live.
    pub fn exec_dir(&self) -> PathBuf {
        self.tmp.path().join("exec")
    }

    pub fn production(&self) -> PathBuf {
        self.exec_dir().join("production")
    }

    /// The merge commits the executor ran for (one line per run).
    pub fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.production().join("runs.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The latest status in `context` on a commit: (state, description).
    pub async fn status_in(&self, sha: &str, context: &str) -> Option<(String, String)> {
        let (_, v) = self
            .api(
                "root-token",
                reqwest::Method::GET,
                &format!("/repos/{REPO}/commits/{sha}/statuses"),
                None,
            )
            .await;
        v.as_array()?
            .iter()
            .find(|s| s["context"] == context)
            .map(|s| {
                (
                    s["state"].as_str().unwrap_or("").to_string(),
                    s["description"].as_str().unwrap_or("").to_string(),
                )
            })
    }

    /// Waits for a final `prgate/execution` status (not pending) on a commit.
    pub async fn execution_result(&self, sha: &str) -> (String, String) {
        for _ in 0..1500 {
            if let Some((state, d)) = self.status_in(sha, "prgate/execution").await
                && state != "pending"
            {
                return (state, d);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no execution result on {sha}");
    }

    /// The prgate note on a commit, read from the code host's repository, as the record it
    /// states (see `super::record_json`).
    pub fn note(&self, sha: &str) -> Option<serde_json::Value> {
        self.note_text(sha)
            .map(|t| super::record_json(t.as_bytes()))
    }

    /// The prgate note's text on a commit exactly as stored.
    pub fn note_text(&self, sha: &str) -> Option<String> {
        let bare = self.bare_dir();
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&bare)
            .args(["notes", "--ref=prgate", "show", sha])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every comment on a PR, joined.
    pub async fn comments_text(&self, pull: u64) -> String {
        let (_, v) = self
            .api(
                "root-token",
                reqwest::Method::GET,
                &format!("/repos/{REPO}/issues/{pull}/comments"),
                None,
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["body"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            })
            .unwrap_or_default()
    }

    /// The PR's comments once the executor's comment is among them: the executor posts its
    /// status first and its comment after, so a test that read the comments right after the
    /// status could miss it.
    pub async fn comments_after_execution(&self, pull: u64) -> String {
        for _ in 0..250 {
            let text = self.comments_text(pull).await;
            if text.contains("<!-- prgate:execution") {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no execution comment on #{pull}");
    }

    /// A fresh clone of the repository, as an agent's working tree. Its origin is the plain
    /// clone URL; the clone itself authenticated as root, and no token stays behind.
    pub fn agent_clone(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        git(
            self.tmp.path(),
            &["clone", "-q", &self.clone_url, dir.to_str().unwrap()],
        );
        dir
    }
}

/// An executor of its own (its own data dir, as another replica would have), pointed at the
/// world's simulator.
pub fn fresh_executor(w: &World, name: &str) -> std::sync::Arc<prgate::executor::Executor> {
    let mut config = gate_config(&w.sim.api_url, &w.tmp.path().join(name), &["main"]);
    config.executors.insert(
        "firewall".into(),
        firewall_executor(&w.exec_dir(), &ExecSettings::default()),
    );
    let token = config.github.token.as_ref().unwrap().resolve().unwrap();
    let gh = std::sync::Arc::new(
        prgate::github::GitHub::new(
            &w.sim.api_url,
            Some(&token),
            test_client_options(),
            prgate::metrics::Metrics::new(),
        )
        .unwrap(),
    );
    std::sync::Arc::new(prgate::executor::Executor::new(
        std::sync::Arc::new(config),
        gh,
        Some(token),
        prgate::metrics::Metrics::new(),
        prgate::dashboard::Dashboard::new(),
    ))
}

/// A `prgate serve` process a test runs. It is killed (SIGKILL) and reaped when dropped, so a
/// test that fails half-way leaves no server behind holding ports or inherited locks.
pub struct ServeProcess(std::process::Child);

impl ServeProcess {
    /// Starts `prgate serve --config CONFIG` with `env`, its log going to `stderr`.
    pub fn spawn(config: &Path, env: &[(&str, &str)], stderr: std::process::Stdio) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prgate"));
        cmd.args(["serve", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(stderr);
        ServeProcess(cmd.spawn().unwrap())
    }

    /// `kill -9`, and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the server at `url` answers `/readyz` with 200.
pub async fn wait_ready_at(http: &reqwest::Client, url: &str) {
    for _ in 0..500 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("prgate serve never became ready");
}
