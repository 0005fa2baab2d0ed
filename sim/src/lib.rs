//! A GitHub simulator, honest about being one: real HTTP (axum on a loopback port), real git
//! (bare repositories on disk, served over smart HTTP with token authentication at
//! `http://127.0.0.1:PORT/<owner>/<repo>.git`, as GitHub's `clone_url`), JSON shaped like
//! GitHub's, and signed webhook deliveries for every change. It backs `prgate sim`,
//! `prgate demo` and the integration tests. `docs/simulator.md` lists which of GitHub's
//! behaviours it models, with the documentation each follows, and which it does not.
//! It is a crate of its own that knows nothing of prgate's code (its identifiers, in `ids`,
//! and its fixtures are its own), so that it cannot share a mistake with what it tests.
//!
//! It runs on a runtime of its own (two worker threads), so that a caller may run git
//! against it synchronously, even from a single-threaded runtime.
//!
//! - Every push authenticates (HTTP Basic, a token as the password), so every push has a
//!   pusher: the `push` webhook's `sender` and `pusher`, `pull_request` `synchronize` and the
//!   repository activity API (`GET /repos/{o}/{r}/activity`) name that account, never one
//!   guessed from commit emails. Branch protection refuses a push to the protected default
//!   branch as GitHub does (GH006); see `receive`.
//! - A ref move written straight into a bare repository (past the git server and the API) is
//!   still noticed (a ref scan every ~100 ms and on every API call touching the repo) and
//!   announced, with no authenticated actor: see `scan`.
//! - Every authenticated account may read every repo; write permissions follow the seed.
//! - GitHub Apps (`[[apps]]` in the seed: `id`, `slug`, `public_key` PEM, `installations =
//!   [{ id, account }]`, optional `token_lifetime_secs`): a JWT signed with the app's key
//!   (RS256, `iss` = id, `exp` not past and at most 10 minutes after `iat`) is accepted on
//!   `GET /app`, `GET /repos/{o}/{r}/installation`, `GET /orgs/{o}/installation` and
//!   `POST /app/installations/{id}/access_tokens`, and nowhere else. The installation tokens
//!   (`ghs_...`) act as the account `<slug>[bot]` (type Bot), a writer on every repo of the
//!   installation's account, until `expires_at`; after that they answer 401, over git too.
//!
//! In GitHub Enterprise Server's shape ([`Shape::EnterpriseServer`], `prgate sim --ghes`) the
//! same API is served under `/api/v3`, GraphQL at `/api/graphql` and git at the host's root,
//! and any request outside those bases answers 404 and is recorded (see `ghes`).
//!
//! Test-control endpoints (not GitHub's; under the API URL, `<api_url>/_sim/...`; they need no
//! token and are not counted as API calls):
//! - `POST /_sim/faults` `{"path_contains": "...", "status": 500, "count": N}`: the next N API
//!   requests whose path (with query) contains the string fail with that status.
//! - `GET /_sim/stats` -> `{"api_calls", "deliveries_sent", "deliveries_failed",
//!   "deliveries_pending", "off_base_requests"}`.
//! - `POST /_sim/hooks` `{"url", "secret"}` -> `{"id"}`: adds a webhook (a `ping` follows).
//! - `POST /_sim/refresh`: scans every repo's refs now and announces what moved.
//! - `POST /_sim/clock` `{"advance_secs": N}`: moves the simulator's clock forward (merge
//!   queue timeouts are measured on it) and advances the queues.
//!
//! Merge queues (`merge_queue = true` on a repo): see `queue`. GitHub Actions is built in as
//! the app `github-actions` (id 15368), whose bot `github-actions[bot]` creates check runs
//! through [`SimHandle::actions_check_run`], as a PR's own workflow would.

mod api;
mod changes;
mod commit_status;
mod ghes;
mod githttp;
mod gitproc;
mod gitstore;
pub mod graphql;
mod hooks;
mod http;
mod ids;
mod pktline;
mod protection;
mod queue;
mod receive;
mod render;
mod scan;
mod seed;
mod world;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

pub use hooks::signature as webhook_signature;
pub use queue::QueueError;
pub use seed::{
    AccountType, SeedApp, SeedHook, SeedInstallation, SeedRepo, SeedTeam, SeedUser, SimState,
};

/// Why the simulator could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator state file: {0}")]
    Seed(String),
    #[error("simulator: {0}")]
    Io(String),
    #[error("simulator git storage: {0}")]
    Git(String),
}

/// A fault to inject: the next `count` API requests whose path contains `path_contains`
/// fail with `status`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub path_contains: String,
    pub status: u16,
    #[serde(default = "one")]
    pub count: u64,
    /// Sent as `Retry-After` (seconds), as GitHub's secondary rate limits do.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Carry the request out, then answer with `status` anyway: the answer to a write lost
    /// on its way back (a 502 or a timeout at GitHub's edge after the write happened), which
    /// is why a client must read a write back before trying it again.
    #[serde(default)]
    pub after: bool,
    /// Only requests with this method (`POST`); any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Let this many matching requests through first: reaches a step that follows an earlier
    /// call to the same path (the final status after the `running` one).
    #[serde(default)]
    pub skip: u64,
}

fn one() -> u64 {
    1
}

/// Which of GitHub's shapes the simulator takes: the paths it serves its API, GraphQL and git
/// at. Nothing else differs between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// github.com's: REST and GraphQL (`/graphql`) at one root, as `https://api.github.com`.
    #[default]
    GitHubCom,
    /// GitHub Enterprise Server's (`--ghes`): REST under `/api/v3`, GraphQL at `/api/graphql`,
    /// git at the host's root; every other path answers 404 and is recorded (see `ghes`).
    EnterpriseServer,
}

/// Shared by every request handler and background task.
pub(crate) struct Sim {
    world: Mutex<world::World>,
    hooks: hooks::Hooks,
    urls: render::Urls,
    api_calls: AtomicU64,
    faults: Mutex<Vec<Fault>>,
    rate: Mutex<std::collections::HashMap<String, u64>>,
    rate_reset: i64,
    /// Each budget's size per hour (see `SimState::rate_limit`).
    rate_limit: u64,
    /// Added to every API answer (milliseconds), to give benchmarks a real round trip.
    latency_ms: AtomicU64,
    /// In GitHub Enterprise Server's shape, every request that missed its bases
    /// (`METHOD path?query`), in order.
    off_base: Mutex<Vec<String>>,
    /// How far the simulator's clock is ahead of the real one (milliseconds).
    clock_offset_ms: AtomicI64,
}

impl Sim {
    fn world(&self) -> MutexGuard<'_, world::World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn add_hook(&self, url: &str, secret: &str) -> u64 {
        // Hold the world lock so that no event is emitted half-way through registering.
        let _w = self.world();
        self.hooks.add(url, secret, &self.urls.api)
    }
    fn stats(&self) -> serde_json::Value {
        let c = &self.hooks.counters;
        json!({
            "api_calls": self.api_calls.load(Ordering::SeqCst),
            "deliveries_sent": c.sent.load(Ordering::SeqCst),
            "deliveries_failed": c.failed.load(Ordering::SeqCst),
            "deliveries_pending": c.pending.load(Ordering::SeqCst),
            "off_base_requests": self.off_base_requests().len(),
            // What each budget spent so far: `<installation or token>/<core|graphql>`.
            "rate_used": self.rate.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        })
    }
    fn record_off_base(&self, request: String) {
        tracing::warn!(%request, "request outside GitHub Enterprise Server's bases");
        self.off_base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
    }
    fn off_base_requests(&self) -> Vec<String> {
        self.off_base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn inject_fault(&self, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
    }
    fn refresh(&self) {
        let mut w = self.world();
        for i in 0..w.repos.len() {
            scan::scan_repo(self, &mut w, i, scan::Cause::Unseen);
        }
    }
    /// The simulator's clock: the real one, plus however far tests moved it.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::SeqCst))
    }
    fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2);
        self.clock_offset_ms.fetch_add(ms, Ordering::SeqCst);
        queue::tick_all(self);
    }
}

/// A merge queue entry, as [`SimHandle::queue_entries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntryInfo {
    pub number: u64,
    /// 1-based, first in line first.
    pub position: usize,
    /// The PR's head when it was queued.
    pub head_sha: String,
    /// The login of who queued it.
    pub enqueuer: String,
    /// GraphQL's `MergeQueueEntryState`: `QUEUED`, `AWAITING_CHECKS` or `MERGEABLE`.
    pub state: String,
    /// Its merge group, once built.
    pub group: Option<MergeGroupInfo>,
}

/// A merge group: the commit the queue built for an entry, on its temporary branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeGroupInfo {
    /// `refs/heads/gh-readonly-queue/<base>/pr-<n>-<base_sha>`.
    pub head_ref: String,
    pub head_sha: String,
    /// The group's parent: the group ahead of it, or the base branch's tip.
    pub base_sha: String,
}

fn entry_info(w: &world::World, v: &queue::EntryView) -> QueueEntryInfo {
    QueueEntryInfo {
        number: v.entry.number,
        position: v.position,
        head_sha: v.entry.head_sha.clone(),
        enqueuer: w
            .account(v.entry.enqueuer)
            .map(|a| a.login.to_string())
            .unwrap_or_default(),
        state: v.state.to_string(),
        group: v.entry.group.as_ref().map(|g| MergeGroupInfo {
            head_ref: g.head_ref.clone(),
            head_sha: g.head_sha.clone(),
            base_sha: g.base_sha.clone(),
        }),
    }
}

/// A running simulator.
pub struct SimHandle {
    /// The `api_url` for clients, no trailing slash: `http://127.0.0.1:PORT` in github.com's
    /// shape, `http://127.0.0.1:PORT/api/v3` in GitHub Enterprise Server's.
    pub api_url: String,
    /// The host's root, `http://127.0.0.1:PORT`: where git and the web pages live.
    pub host_url: String,
    pub shape: Shape,
    /// `owner/repo` -> clone URL over HTTP (`http://127.0.0.1:PORT/owner/repo.git`).
    pub repos: BTreeMap<String, String>,
    sim: Arc<Sim>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// The one JSON line `prgate sim` prints once ready.
    pub fn ready_line(&self) -> String {
        json!({ "api_url": self.api_url, "repos": self.repos }).to_string()
    }
    /// A user renames their account (it keeps its id; the old login is free at once).
    pub fn rename_user(&self, login: &str, to: &str) -> Result<(), String> {
        self.sim.world().rename(login, to)
    }
    /// Someone registers a new user account under `login` (a released one, say), with a new
    /// id and `created_at`; it signs in with `token`. Returns its id.
    pub fn register_user(&self, login: &str, token: &str) -> Result<u64, String> {
        self.sim.world().register(login, token).map(|id| id.0)
    }
    /// Adds a webhook; it receives a `ping` and then every later event.
    pub fn add_hook(&self, url: &str, secret: &str) {
        self.sim.add_hook(url, secret);
    }
    /// As [`SimHandle::inject_fault`], answered with `Retry-After: retry_after` (a secondary
    /// rate limit when the status is 429 or 403).
    pub fn inject_rate_limit(&self, path_contains: &str, status: u16, retry_after: u64) {
        self.sim.inject_fault(Fault {
            path_contains: path_contains.to_string(),
            status,
            count: 1,
            retry_after: Some(retry_after),
            after: false,
            method: None,
            skip: 0,
        });
    }
    /// Delays every API answer by `latency` from now on (git and `/_sim` excluded), as a real
    /// code host's round trip would.
    pub fn set_latency(&self, latency: Duration) {
        self.sim.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
    /// API requests served so far, `/_sim` and git excluded.
    pub fn api_calls(&self) -> u64 {
        self.sim.api_calls.load(Ordering::SeqCst)
    }
    /// Makes the next `count` API requests whose path contains `path_contains` fail.
    pub fn inject_fault(&self, path_contains: &str, status: u16, count: u64) {
        self.sim.inject_fault(Fault {
            path_contains: path_contains.to_string(),
            status,
            count,
            retry_after: None,
            after: false,
            method: None,
            skip: 0,
        });
    }
    /// Makes the next `count` API requests whose path contains `path_contains` happen, but
    /// answers them with `status`, as when the answer to a write is lost on its way back.
    pub fn inject_fault_after(&self, path_contains: &str, status: u16, count: u64) {
        self.sim.inject_fault(Fault {
            path_contains: path_contains.to_string(),
            status,
            count,
            retry_after: None,
            after: true,
            method: None,
            skip: 0,
        });
    }
    /// Drops every injected fault not yet taken: the code host recovers.
    pub fn clear_faults(&self) {
        self.sim
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
    /// Makes `count` `method` requests whose path contains `path_contains` fail (`after`:
    /// happen, with their answer lost), after letting `skip` through: one step of several
    /// that call one path.
    pub fn inject_fault_on(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        (skip, count): (u64, u64),
        after: bool,
    ) {
        self.sim.inject_fault(Fault {
            path_contains: path_contains.to_string(),
            status,
            count,
            retry_after: None,
            after,
            method: Some(method.to_ascii_uppercase()),
            skip,
        });
    }
    /// Scans refs now (announcing moves written past the git server since the last scan),
    /// advances the merge queues, then waits until every webhook delivery queued so far has
    /// been answered or given up on.
    pub async fn settle(&self) {
        self.sim.refresh();
        queue::tick_all(&self.sim);
        self.sim.hooks.settle().await;
    }
    fn repo_idx(&self, w: &world::World, repo: &str) -> Result<usize, QueueError> {
        let not_found = || QueueError {
            kind: "NOT_FOUND",
            message: format!("Could not resolve to a Repository with the name '{repo}'."),
        };
        let name: crate::ids::RepoName = repo.parse().map_err(|_| not_found())?;
        w.repo_index(name.owner(), name.name())
            .ok_or_else(not_found)
    }
    fn account_id(w: &world::World, login: &str) -> Result<crate::ids::UserId, QueueError> {
        w.account_by_login(login)
            .map(|a| a.id)
            .ok_or_else(|| QueueError {
                kind: "NOT_FOUND",
                message: format!("no account {login}"),
            })
    }
    /// Adds PR `number` of `repo` to its merge queue as the account `login` would with GraphQL
    /// `enqueuePullRequest` (same checks, same refusals: see `queue`), pinned to
    /// `expected_head` when given, at the front with `jump`. Its group is built at once.
    pub fn enqueue(
        &self,
        repo: &str,
        number: u64,
        login: &str,
        expected_head: Option<&str>,
        jump: bool,
    ) -> Result<QueueEntryInfo, QueueError> {
        let mut w = self.sim.world();
        let idx = self.repo_idx(&w, repo)?;
        let actor = Self::account_id(&w, login)?;
        let v = queue::enqueue(&self.sim, &mut w, idx, number, actor, expected_head, jump)?;
        Ok(entry_info(&w, &v))
    }
    /// Takes PR `number` out of `repo`'s merge queue as `login` would with GraphQL
    /// `dequeuePullRequest`.
    pub fn dequeue(&self, repo: &str, number: u64, login: &str) -> Result<(), QueueError> {
        let mut w = self.sim.world();
        let idx = self.repo_idx(&w, repo)?;
        let actor = Self::account_id(&w, login)?;
        queue::dequeue(&self.sim, &mut w, idx, number, actor).map(|_| ())
    }
    /// `repo`'s merge queue now, first in line first (empty for an unknown repo).
    pub fn queue_entries(&self, repo: &str) -> Vec<QueueEntryInfo> {
        let w = self.sim.world();
        let Ok(idx) = self.repo_idx(&w, repo) else {
            return vec![];
        };
        (0..w.repos[idx].queue.len())
            .filter_map(|pos| queue::view(&w, idx, pos))
            .map(|v| entry_info(&w, &v))
            .collect()
    }
    /// Advances the merge queues now (they also advance on their own every ~100 ms, and
    /// after every write that can change a group's checks).
    pub fn tick_queues(&self) {
        queue::tick_all(&self.sim);
    }
    /// Moves the simulator's clock forward by `by` (merge queue check timeouts are measured
    /// on it), then advances the queues: a test reaches a timeout without waiting for it.
    pub fn advance_clock(&self, by: Duration) {
        self.sim.advance_clock(by);
    }
    /// A check run made by GitHub Actions (the app `github-actions`, its bot
    /// `github-actions[bot]`) on `head_sha` of `repo`, as a job named `name` of a workflow in
    /// the repository would make it: `created` in progress, then `completed` with
    /// `conclusion` when one is given. Each is a `check_run` delivery. Returns the run's id.
    pub fn actions_check_run(
        &self,
        repo: &str,
        head_sha: &str,
        name: &str,
        conclusion: Option<&str>,
    ) -> Result<u64, QueueError> {
        let mut w = self.sim.world();
        let idx = self.repo_idx(&w, repo)?;
        api::create_actions_check_run(&self.sim, &mut w, idx, head_sha, name, conclusion).map_err(
            |e| QueueError {
                kind: "UNPROCESSABLE",
                message: e.message,
            },
        )
    }
    /// Test-only, not GitHub's: replaces the merge group of PR `number` with a commit of the
    /// same parents, author, committer and message whose tree also has `path` = `content`,
    /// moves its branch there and requests its checks again (`checks_requested` with the new
    /// `head_sha`), as if the queue had built that commit: what a group whose content is not
    /// the sequential merge of its PRs looks like to a gate. Returns the new head.
    pub fn alter_queue_group(
        &self,
        repo: &str,
        number: u64,
        path: &str,
        content: &str,
    ) -> Result<String, QueueError> {
        let mut w = self.sim.world();
        let idx = self.repo_idx(&w, repo)?;
        queue::alter_group(&self.sim, &mut w, idx, number, path, content)
    }
    /// Spends an installation's rate limit down to `remaining` requests (all its tokens share
    /// it), as other work on that installation would.
    pub fn spend_installation_rate_limit(&self, installation: u64, remaining: u64) {
        let mut rate = self.sim.rate.lock().unwrap_or_else(|e| e.into_inner());
        rate.insert(
            format!("installation:{installation}/core"),
            self.sim.rate_limit.saturating_sub(remaining),
        );
    }
    /// Revokes every installation token handed out so far (they answer 401 from now on), as
    /// GitHub does when an app's token is revoked or its installation suspended and resumed.
    pub fn revoke_installation_tokens(&self) {
        self.sim.world().issued_tokens.clear();
    }
    /// Scans every repo's refs now and announces what moved.
    pub fn refresh(&self) {
        self.sim.refresh();
    }
    /// `{api_calls, deliveries_sent, deliveries_failed, deliveries_pending, off_base_requests,
    /// rate_used}`.
    pub fn stats(&self) -> serde_json::Value {
        self.sim.stats()
    }
    /// In GitHub Enterprise Server's shape, every request so far that missed its bases (a
    /// github.com-shaped path such as `/repos/...` or `/graphql` at the root, GraphQL or git
    /// under `/api/v3`), as `METHOD path?query`; each was answered 404. Always empty in
    /// github.com's shape.
    pub fn off_base_requests(&self) -> Vec<String> {
        self.sim.off_base_requests()
    }
    /// The clone URL of `owner/repo` (case-insensitive), as GitHub's `clone_url`.
    pub fn clone_url(&self, repo: &str) -> Option<String> {
        let wanted: crate::ids::RepoName = repo.parse().ok()?;
        self.repos
            .iter()
            .find(|(k, _)| k.parse::<crate::ids::RepoName>().ok().as_ref() == Some(&wanted))
            .map(|(_, v)| v.clone())
    }
    /// The bare repository of `owner/repo` on disk (`<data>/<owner>/<repo>.git`), for tests
    /// that read it directly. Writing to it bypasses authentication and protection: such a
    /// move is announced without an actor.
    pub fn git_dir(&self, repo: &str) -> Option<PathBuf> {
        let wanted: crate::ids::RepoName = repo.parse().ok()?;
        let w = self.sim.world();
        w.repo_index(wanted.owner(), wanted.name())
            .map(|i| w.repos[i].git_dir.clone())
    }
    /// Stops serving and scanning. Deliveries still queued are dropped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Creates the bare repositories (kept if they already exist), binds `listen` (port 0 picks
/// a free port) and starts serving, scanning refs and delivering webhooks, on a runtime of
/// its own, in github.com's shape. Dropping the handle stops it too.
pub async fn start(
    listen: SocketAddr,
    seed: SimState,
    data_dir: PathBuf,
) -> Result<SimHandle, SimError> {
    start_shaped(listen, seed, data_dir, Shape::GitHubCom).await
}

/// As [`start`], in the given shape.
pub async fn start_shaped(
    listen: SocketAddr,
    seed: SimState,
    data_dir: PathBuf,
    shape: Shape,
) -> Result<SimHandle, SimError> {
    seed.validate()?;
    std::fs::create_dir_all(&data_dir).map_err(|e| {
        SimError::Io(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let data_dir = std::path::absolute(&data_dir)
        .map_err(|e| SimError::Io(format!("data directory {}: {e}", data_dir.display())))?;
    let mut world = world::World::from_seed(&seed, &data_dir);
    for r in &mut world.repos {
        gitstore::init_bare(&r.git_dir, &r.default_branch)
            .map_err(|e| SimError::Git(format!("cannot create {}: {e}", r.git_dir.display())))?;
        // Refs already on disk (a restart over an old data dir) are not news.
        let repo = gitstore::open(&r.git_dir)
            .map_err(|e| SimError::Git(format!("{}: {e}", r.git_dir.display())))?;
        r.known_refs = gitstore::list_refs(&repo).map_err(|e| SimError::Git(e.to_string()))?;
    }
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| SimError::Io(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| SimError::Io(e.to_string()))?;
    let host_url = format!("http://{addr}");
    let api_url = match shape {
        Shape::GitHubCom => host_url.clone(),
        Shape::EnterpriseServer => format!("{host_url}{}", ghes::REST_PREFIX),
    };
    let urls = render::Urls {
        api: api_url.clone(),
        html: host_url.clone(),
    };
    let repos = world
        .repos
        .iter()
        .map(|r| (r.full_name(), render::clone_url(&urls, r)))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("prgate-sim")
        .enable_all()
        .build()
        .map_err(|e| SimError::Io(format!("cannot start the simulator's runtime: {e}")))?;
    let sim = {
        let _inside = runtime.enter();
        Arc::new(Sim {
            world: Mutex::new(world),
            hooks: hooks::Hooks::new(runtime.handle().clone()),
            urls,
            api_calls: AtomicU64::new(0),
            faults: Mutex::new(Vec::new()),
            rate: Mutex::new(Default::default()),
            rate_reset: chrono::Utc::now().timestamp() + 3600,
            rate_limit: seed.rate_limit.unwrap_or(http::RATE_LIMIT),
            latency_ms: AtomicU64::new(0),
            off_base: Mutex::new(Vec::new()),
            clock_offset_ms: AtomicI64::new(0),
        })
    };
    for h in &seed.hooks {
        sim.add_hook(&h.url, &h.secret);
    }
    let (stop, stopped) = watch::channel(false);
    let mut app = githttp::router(sim.clone()).merge(api::router(sim.clone()));
    if shape == Shape::EnterpriseServer {
        app = ghes::shaped(sim.clone(), app);
    }
    let scan_sim = sim.clone();
    let thread = std::thread::Builder::new()
        .name("prgate-sim".into())
        .spawn(move || {
            runtime.block_on(serve(listener, app, scan_sim, stopped));
            // The runtime is dropped here, on a thread of its own, never inside async code.
        })
        .map_err(|e| SimError::Io(format!("cannot start the simulator's thread: {e}")))?;
    Ok(SimHandle {
        api_url,
        host_url,
        shape,
        repos,
        sim,
        stop,
        thread: Some(thread),
    })
}

/// Serves HTTP and scans refs every ~100 ms until told to stop (or the handle is dropped).
async fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    sim: Arc<Sim>,
    stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "simulator cannot listen");
            return;
        }
    };
    let mut stop_server = stopped.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop_server.changed().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "simulator HTTP server stopped");
        }
    });
    let mut stop_scan = stopped;
    let scanner = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop_scan.changed() => break,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    let s = sim.clone();
                    // git2 work is blocking; keep it off the async workers.
                    let _ = tokio::task::spawn_blocking(move || {
                        s.refresh();
                        queue::tick_all(&s);
                    })
                    .await;
                }
            }
        }
    });
    let _ = server.await;
    let _ = scanner.await;
}

/// `prgate sim`: loads the seed, starts in `shape`, prints the ready line on stdout and runs
/// until ctrl-c. Without `data_dir`, repos live in `<state file>.data` next to the state file.
pub async fn run_cli(
    listen: SocketAddr,
    state_file: &Path,
    data_dir: Option<PathBuf>,
    latency: Duration,
    shape: Shape,
) -> Result<(), SimError> {
    let text = std::fs::read_to_string(state_file)
        .map_err(|e| SimError::Seed(format!("cannot read {}: {e}", state_file.display())))?;
    let seed = SimState::from_toml(&text).map_err(|e| match e {
        SimError::Seed(m) => SimError::Seed(format!("{}:{m}", state_file.display())),
        other => other,
    })?;
    let data_dir = data_dir.unwrap_or_else(|| {
        let mut p = state_file.as_os_str().to_owned();
        p.push(".data");
        PathBuf::from(p)
    });
    let handle = start_shaped(listen, seed, data_dir, shape).await?;
    handle.set_latency(latency);
    println!("{}", handle.ready_line());
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(())
}
