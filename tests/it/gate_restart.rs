//! `kill -9` of `prgate serve` with a delivery accepted but not yet processed: after a restart
//! the delivery is processed from the durable queue and the decision is made.

use std::time::{Duration, Instant};

use crate::common::harness::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_serve(config: &std::path::Path) -> ServeProcess {
    ServeProcess::spawn(
        config,
        &[
            ("PRGATE_TEST_WEBHOOK_SECRET", SECRET),
            ("PRGATE_TEST_TOKEN", "prgate-token"),
            ("PRGATE_LOG", "warn"),
        ],
        std::process::Stdio::null(),
    )
}

async fn wait_for_state(w: &World, sha: &str, want: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if w.approval(sha).await.is_some_and(|s| s.0 == want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_accepted_before_kill_9_is_decided_after_restart() {
    let w = World::start_without_gate(POLICY).await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = w.tmp.path().join("prgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:0"
data_dir = "{data}"
webhook_secrets = ["env:PRGATE_TEST_WEBHOOK_SECRET"]
reconcile_interval = "1h"

[github]
api_url = "{api}"
token = "env:PRGATE_TEST_TOKEN"

[[repos]]
name = "{REPO}"
branches = ["main"]
"#,
            data = w.data_dir.display(),
            api = w.sim.api_url
        ),
    )
    .unwrap();

    let mut serve = spawn_serve(&config);
    wait_ready_at(&w.http, &url).await;
    w.sim.add_hook(&format!("{url}/webhook"), SECRET);

    // The first attempt to read the PR's commits fails (every try the client makes), so the
    // worker backs off with the delivery accepted but not completed.
    w.sim.inject_fault("/compare/", 500, 3);
    let head = w.commit_and_push(
        "killed",
        &[("firewall/rules.toml", "allow = [10]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    w.open_pr("agent-token", "killed", "main", "killed").await;
    assert!(
        wait_for_state(&w, &head, "error").await,
        "the failed attempt is visible as `error`"
    );
    serve.kill(); // SIGKILL

    let mut serve = spawn_serve(&config);
    wait_ready_at(&w.http, &url).await;
    let decided = wait_for_state(&w, &head, "pending").await;
    serve.kill();
    assert!(
        decided,
        "after the restart the queued delivery is processed and the decision made"
    );
}
