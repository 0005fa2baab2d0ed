//! A webhook receiver with no gate behind it, for load tests: the real router and durable queue
//! (in a temporary directory unless `--data DIR`), and a consumer that completes every delivery
//! as it arrives.
//!
//! ```text
//! webhook_sink [--listen 127.0.0.1:8089] [--secret SECRET] [--data DIR]
//! webhook_sink --write-body FILE [--secret SECRET]   # writes a ~25 KB pull_request_review
//!                                                   # delivery, prints its signature
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use prgate::config::{HttpLimits, Secret};
use prgate::connections::{ListenerLimits, serve};
use prgate::dashboard::Dashboard;
use prgate::metrics::Metrics;
use prgate::routes::{AdminState, AppState, admin_router, router};
use prgate::webhook::{BodyIntake, Queue, sign};
use tokio_util::sync::CancellationToken;

/// A realistic `pull_request_review` delivery padded with a long review body to ~25 KB.
fn sample_body() -> Vec<u8> {
    let padding: String =
        "Looks good to me; one more check on the firewall rule ordering. ".repeat(386);
    let body = serde_json::json!({
        "action": "submitted",
        "review": {
            "id": 2_333_444_555u64,
            "user": {"login": "alice", "id": 1001, "type": "User"},
            "body": padding,
            "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "submitted_at": "2026-11-21T10:00:00Z",
            "state": "approved",
            "html_url": "https://github.com/acme/infra/pull/42#pullrequestreview-2333444555",
            "author_association": "MEMBER"
        },
        "pull_request": {
            "number": 42,
            "state": "open",
            "title": "Open port 443 on the edge firewall",
            "user": {"login": "ops-agent[bot]", "id": 2002, "type": "Bot"},
            "head": {"ref": "prgate/ops-agent/open-443", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
            "base": {"ref": "main", "sha": "34c5c7793cb3b279e22454cb6750c80560547b3a"}
        },
        "repository": {"id": 77, "full_name": "acme/infra", "private": true, "default_branch": "main"},
        "organization": {"login": "acme", "id": 900},
        "sender": {"login": "alice", "id": 1001, "type": "User"}
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:8089".parse()?;
    let mut secret = "load-test-secret".to_string();
    let mut data: Option<PathBuf> = None;
    let mut write_body: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--secret" => secret = value()?,
            "--data" => data = Some(PathBuf::from(value()?)),
            "--write-body" => write_body = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if let Some(path) = write_body {
        let body = sample_body();
        std::fs::write(&path, &body)?;
        println!("{}", sign(&secret, &body));
        return Ok(());
    }

    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let temp = tempfile::tempdir()?;
    let dir = data
        .unwrap_or_else(|| temp.path().to_path_buf())
        .join("queue");
    let metrics = Metrics::new();
    let queue = Queue::open(&dir, metrics.clone())?;
    let consumer = queue.clone();
    let consumer_metrics = metrics.clone();
    tokio::spawn(async move {
        loop {
            let d = consumer.next().await;
            let age = (chrono::Utc::now() - d.received_at)
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1e6;
            consumer_metrics.processing_latency(age);
            if let Err(e) = consumer.complete(&d.id).await {
                eprintln!("cannot complete {}: {e}", d.id);
            }
        }
    });
    let limits = HttpLimits::default();
    // The load scripts read `/metrics` from the same port: the sink serves both routers on
    // one listener (it holds no private data; `prgate serve` never does this).
    let admin = admin_router(AdminState {
        queue: queue.clone(),
        metrics: metrics.clone(),
        dashboard: Dashboard::new(),
        renderer: Arc::new(prgate::render::Renderer::default()),
        token: None,
        hosts: Arc::new(prgate::routes::AdminHosts::new(listen.ip(), None)),
    });
    let state = AppState {
        secrets: Arc::new(vec![Secret::new(secret)]),
        queue,
        metrics,
        ready: prgate::readiness::Readiness::default(),
        intake: BodyIntake::new(&limits),
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "listening on http://{} (queue in {})",
        listener.local_addr()?,
        dir.display()
    );
    // The same listener as `prgate serve`, so that load figures include its limits.
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let listener_limits = ListenerLimits {
        max_connections: limits.max_connections,
        header_timeout: limits.header_timeout.0,
        close_grace: limits.body_timeout.0,
    };
    serve(
        listener,
        router(state).merge(admin),
        listener_limits,
        shutdown,
    )
    .await;
    Ok(())
}
