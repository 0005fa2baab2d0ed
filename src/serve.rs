//! `prgate serve`: wires the HTTP router, the durable queue, the gate's worker and the
//! reconciler together. `start` is also what the integration tests and the demo run.

use crate::readiness::{self, Readiness};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, GithubConfig, Secret, ServerConfig};
use crate::connections::{ListenerLimits, connections_within};
use crate::dashboard::Dashboard;
use crate::executor::Executor;
use crate::gate::Gate;
use crate::github::{ClientOptions, Credentials, Endpoints, GitHub, GitHubError};
use crate::metrics::Metrics;
use crate::routes::{AdminState, AppState, admin_router, router};
use crate::webhook::{BodyIntake, Queue, QueueError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("cannot open the delivery queue under {dir}: {source}")]
    Queue { dir: String, source: QueueError },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create data_dir {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
    #[error("the config cannot be served as it is (prgate config check lists every problem):\n{}", list_findings(.0))]
    Preflight(Vec<crate::preflight::Finding>),
}

fn list_findings(findings: &[crate::preflight::Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// With the code host reachable, a governed repository it cannot read, or a policy missing or
/// invalid on a governed branch, stops the start. A code host out of reach does not: `serve`
/// starts not ready (`/readyz` says why) and decides once it can.
async fn preflight_code_host(config: &ServerConfig, gh: &GitHub) -> Result<(), ServeError> {
    match gh.own_login().await {
        Ok(_) => {}
        Err(e) if e.status() == Some(401) => {
            return Err(ServeError::Preflight(vec![
                crate::preflight::Finding::error(
                    "github",
                    format!(
                        "{} refuses prgate's credential ({e}); check github.token or the app's key",
                        config.github.api_url
                    ),
                ),
            ]));
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the code host to check the config; starting not ready");
            return Ok(());
        }
    }
    let findings = crate::preflight::code_host(config, gh).await;
    for f in findings.iter().filter(|f| !f.error || f.transient) {
        tracing::warn!(subject = %f.subject, "{}", f.message);
    }
    if findings.iter().any(|f| f.error && !f.transient) {
        return Err(ServeError::Preflight(findings));
    }
    Ok(())
}

/// A running gate service.
pub struct ServeHandle {
    /// The public listener: `/webhook`, `/healthz`, `/readyz`.
    pub addr: SocketAddr,
    /// The admin listener: the dashboard, the decision pages, `/metrics`.
    pub admin_addr: SocketAddr,
    pub gate: Arc<Gate>,
    pub queue: Queue,
    pub metrics: Metrics,
    /// Ask for one reconciler pass now (it also runs on its interval).
    pub reconcile: mpsc::Sender<()>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ServeHandle {
    /// The public listener's base URL (the webhook and the probes).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin listener's base URL (the dashboard, decision pages and metrics).
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Stops accepting, and stops the worker (accepted deliveries stay in the durable queue).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

/// The code host client from `[github]`: with a token, or as a GitHub App (JWT from the
/// private key, installation tokens per owner). Also returns the plain token, when there is
/// one, for git over https; with an app the executor asks the client for installation tokens.
pub fn github_client(
    github: &GithubConfig,
    options: ClientOptions,
    metrics: Metrics,
) -> Result<(GitHub, Option<Secret>), ServeError> {
    let token = github.token.as_ref().map(|t| t.resolve()).transpose()?;
    let endpoints =
        Endpoints::derive(&github.api_url, github.graphql_url.as_deref()).map_err(|message| {
            GitHubError::Setup {
                api_url: github.api_url.clone(),
                context: "[github] api_url and graphql_url".into(),
                source: message.into(),
            }
        })?;
    let gh = match (&token, github.app_id, &github.private_key) {
        (Some(t), _, _) => {
            GitHub::with_endpoints(endpoints, Credentials::Token(t), options, metrics)?
        }
        (None, Some(app_id), Some(key)) => {
            let key = key.resolve()?;
            GitHub::with_endpoints(
                endpoints,
                Credentials::App {
                    app_id,
                    private_key: &key,
                },
                options,
                metrics,
            )?
        }
        _ => {
            return Err(ServeError::Config(ConfigError::Other {
                file: "prgate.toml".into(),
                message: "github needs credentials: `token = \"env:GITHUB_TOKEN\"`, or `app_id` with `private_key`".into(),
            }));
        }
    };
    Ok((gh, token))
}

/// Starts the service with options for the code host client (tests shorten the timeouts).
pub async fn start(
    config: ServerConfig,
    options: ClientOptions,
) -> Result<ServeHandle, ServeError> {
    start_with_clock(config, options, Arc::new(SystemClock)).await
}

/// As [`start`], with the clock the gate reads (tests and the demo move it by hand).
pub async fn start_with_clock(
    config: ServerConfig,
    options: ClientOptions,
    clock: Arc<dyn Clock>,
) -> Result<ServeHandle, ServeError> {
    // A config built in code may hold relative paths: they are fixed now, against the
    // working directory, so that no later `cd` (git's included) changes what they mean.
    // The library's callers (tests, the demo) start here without main's hardening.
    if let Err(e) = crate::executor::sandbox::forbid_dumps() {
        tracing::warn!(error = %e, "cannot mark the process as not dumpable");
    }
    tracing::info!("{}", crate::executor::sandbox::report());
    let mut config = config;
    if let Ok(cwd) = std::env::current_dir() {
        config.anchor_paths(&cwd);
    }
    // Every secret resolves now, or nothing starts: an executor's missing secret found after
    // the approval and the merge would leave an approved change that can never run. Checked
    // before the webhook secrets are read, so that a missing one is named by its key too.
    let refused: Vec<_> = crate::preflight::secrets(&config);
    if !refused.is_empty() {
        return Err(ServeError::Preflight(refused));
    }
    let secrets = config
        .webhook_secrets
        .iter()
        .map(|s| s.resolve())
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = Metrics::new();
    // A bad token or app key is a start-up error, before anything is created on disk.
    let (gh, token) = github_client(&config.github, options, metrics.clone())?;
    let gh = Arc::new(gh);
    preflight_code_host(&config, &gh).await?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        dir: config.data_dir.display().to_string(),
        source,
    })?;
    let dashboard = Dashboard::new();
    let queue_dir = config.data_dir.join("queue");
    let queue = Queue::open(&queue_dir, metrics.clone()).map_err(|source| ServeError::Queue {
        dir: queue_dir.display().to_string(),
        source,
    })?;
    // A configured note-signing key that cannot be read stops the start: running on and
    // writing unsigned notes would look like a repository that never signed.
    let signing_key = config
        .note_signing_key
        .as_ref()
        .map(crate::record::signing::resolve_signing_key)
        .transpose()?;
    // The service owns data_dir: a lock file in its mirrors is one a killed process left.
    crate::git::mirror::clear_stale_locks(&config.data_dir.join("mirrors"));
    let mut executor = Executor::new(
        Arc::new(config.clone()),
        gh.clone(),
        token.clone(),
        metrics.clone(),
        dashboard.clone(),
    );
    if let Some(key) = signing_key {
        executor = executor.with_signing_key(key);
    }
    let executor = Arc::new(executor);
    let gate = Gate::new(&config, gh.clone(), metrics.clone(), dashboard.clone())
        .with_clock(clock)
        .with_executor(executor)
        .shared();
    let ready = Readiness::blocked(readiness::CONNECTING, "not yet connected to the code host");

    let (listener, addr) = bind(config.listen).await?;
    // The pages show private repositories' titles, logins and decisions: never on the port
    // that faces GitHub (and so, often, the internet).
    let (admin_listener, admin_addr) = bind(config.admin_listen).await?;
    let admin_token = config
        .admin_token
        .as_ref()
        .map(|t| t.resolve().map(Arc::new))
        .transpose()?;
    let app = router(AppState {
        secrets: Arc::new(secrets),
        queue: queue.clone(),
        metrics: metrics.clone(),
        ready: ready.clone(),
        intake: BodyIntake::new(&config.http),
    });
    let admin_app = admin_router(AdminState {
        queue: queue.clone(),
        metrics: metrics.clone(),
        dashboard,
        renderer: Arc::new(crate::render::Renderer::new(config.templates_dir.clone())),
        token: admin_token,
        hosts: Arc::new(crate::routes::AdminHosts::new(
            admin_addr.ip(),
            config.public_url.as_deref(),
        )),
    });
    let limits = listener_limits(&config);
    let shutdown = CancellationToken::new();
    let mut tasks = vec![
        tokio::spawn(crate::connections::serve(
            listener,
            app,
            limits,
            shutdown.clone(),
        )),
        tokio::spawn(crate::connections::serve(
            admin_listener,
            admin_app,
            limits,
            shutdown.clone(),
        )),
    ];

    let (tick_tx, tick_rx) = mpsc::channel::<()>(1);
    tasks.push(supervise_dispatcher(
        gate.clone(),
        queue.clone(),
        tick_rx,
        ready.clone(),
    ));

    tasks.push(become_ready(gate.clone(), ready));

    let interval = config.reconcile_interval.0.max(Duration::from_secs(1));
    tasks.push(tick_every(interval, tick_tx.clone()));

    Ok(ServeHandle {
        addr,
        admin_addr,
        gate,
        queue,
        metrics,
        reconcile: tick_tx,
        shutdown,
        tasks,
    })
}

/// How the listeners bound their connections: `http.max_connections` within what the
/// open-files limit allows, and the header and close timeouts.
fn listener_limits(config: &ServerConfig) -> ListenerLimits {
    let max_connections = connections_within(
        config.http.max_connections,
        crate::connections::open_files_limit(),
    );
    if max_connections < config.http.max_connections {
        tracing::warn!(
            configured = config.http.max_connections,
            max_connections,
            "http.max_connections exceeds what the open-files limit allows; serving fewer"
        );
    }
    ListenerLimits {
        max_connections,
        header_timeout: config.http.header_timeout.0,
        // A request in progress needs no longer than its body may take, plus a moment.
        close_grace: config.http.body_timeout.0 + Duration::from_secs(2),
    }
}

/// Runs the delivery dispatcher, supervised: if it panics, `/readyz` says not ready until it
/// runs again (jobs themselves run apart, and one that panics is retried and set aside).
fn supervise_dispatcher(
    gate: Arc<Gate>,
    queue: Queue,
    tick_rx: mpsc::Receiver<()>,
    ready: Readiness,
) -> tokio::task::JoinHandle<()> {
    let ticks = Arc::new(tokio::sync::Mutex::new(tick_rx));
    tokio::spawn(async move {
        loop {
            // Aborted with its supervisor (a shutdown), so the queue's lock goes with them.
            let worker = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
                gate.clone().run_worker(queue.clone(), ticks.clone()),
            ));
            match worker.await {
                Err(e) if e.is_panic() => {
                    ready.block(
                        readiness::DISPATCHER,
                        "the delivery dispatcher panicked and is restarting",
                    );
                    tracing::error!(error = %e, "the delivery dispatcher panicked; restarting it");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    ready.clear(readiness::DISPATCHER);
                }
                _ => return,
            }
        }
    })
}

/// Ready once prgate knows who it is on the code host (needed to spot forged statuses).
fn become_ready(gate: Arc<Gate>, ready: Readiness) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            match gate.self_account().await {
                Ok(me) => {
                    let login = me.login().clone();
                    tracing::info!(%login, "connected to the code host");
                    ready.clear(readiness::CONNECTING);
                    return;
                }
                Err(e) => {
                    ready.block(
                        readiness::CONNECTING,
                        format!("cannot read prgate's own account on the code host: {e}"),
                    );
                    tracing::warn!(error = %e, "cannot read the gate's own account yet; not ready");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    })
}

/// Asks for a reconciler pass every `interval`, the first one interval after start.
fn tick_every(interval: Duration, ticker: mpsc::Sender<()>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first pass comes one interval after start, so that startup does not burst.
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // A full channel means a pass is already waiting: skipping is right.
            let _ = ticker.try_send(());
        }
    })
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
    let err = |source| ServeError::Listen { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let bound = listener.local_addr().map_err(err)?;
    Ok((listener, bound))
}

/// Runs `prgate serve` until SIGINT or SIGTERM.
pub async fn run(config: ServerConfig) -> Result<(), ServeError> {
    // The connection cap, not the descriptor limit, should be what a flood of clients meets.
    crate::connections::raise_open_files_limit();
    let handle = start(config, ClientOptions::default()).await?;
    tracing::info!(addr = %handle.addr, admin_addr = %handle.admin_addr, "prgate serve listening (webhook on addr; dashboard, decision pages and metrics on admin_addr)");
    wait_for_signal().await;
    tracing::info!("shutting down; accepted deliveries stay queued");
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
