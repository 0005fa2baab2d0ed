//! What an operator watches: the metrics a story leaves behind (executions by outcome,
//! reconciler passes, the code host's rate limit, set-aside deliveries, the build), and
//! `PRGATE_LOG_FORMAT=json` logs, one JSON object per line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_leaves_its_metrics() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    w.commit_and_push(
        "metrics-story",
        &[("firewall/rules.toml", "allow = [80]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open 80",
    );
    let n = w
        .open_pr("agent-token", "metrics-story", "main", "open 80")
        .await;
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged by prgate")
        .to_string();
    assert_eq!(w.execution_result(&merge).await.0, "success");
    w.gate().gate.reconcile_once().await;

    // Read from the service's own registry, not over HTTP: where /metrics is served is the
    // listener's business.
    let text = w.gate().metrics.render();
    for needle in [
        r#"prgate_executions_total{outcome="succeeded"} 1"#,
        r#"prgate_reconcile_passes_total{outcome="ok"}"#,
        "prgate_reconcile_seconds_count",
        r#"prgate_github_rate_limit_remaining{credential="token",resource="core"}"#,
        r#"prgate_github_rate_limit_remaining{credential="token",resource="graphql"}"#,
        "prgate_deliveries_set_aside 0",
        "# TYPE prgate_build_info gauge",
        r#"prgate_build_info{version=""#,
        r#"prgate_decisions_total{state="success"}"#,
        r#"prgate_merges_total{outcome="merged"} 1"#,
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // Executions are no longer counted as decisions (they were, as `other`).
    assert!(
        !text.contains(r#"prgate_decisions_total{state="other"}"#),
        "{text}"
    );
    w.shutdown().await;
}

/// `prgate serve` with `PRGATE_LOG_FORMAT=json`, its code host unreachable (a closed port):
/// every line it writes to stderr is one JSON object with a level and a message, and a
/// delivery's failure carries the delivery span's fields (its id and event).
#[test]
fn json_logs_are_one_object_per_line_with_the_delivery_span() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago and is closed now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = gate_config(
        &format!("http://{closed}"),
        &dir.path().join("data"),
        &["main"],
    );
    let path = dir.path().join("prgate.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("PRGATE_LOG_FORMAT", "json")
        .env("PRGATE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines: Vec<String> = Vec::new();
    let mut sent = false;
    let mut span_seen = false;
    while !span_seen {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            break;
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(v["message"].is_string(), "{line}");
        assert!(
            !line.contains(" { ") && !line.contains("Some("),
            "debug text: {line}"
        );
        // Once it listens, a signed push to the governed branch: its handling needs the code
        // host, fails, and says so inside the delivery's span.
        if !sent && let Some(addr) = v["addr"].as_str() {
            send_push(addr);
            sent = true;
        }
        if v["span"]["name"] == "delivery" {
            assert_eq!(v["span"]["id"], "observability-1", "{line}");
            assert_eq!(v["span"]["event"], "push", "{line}");
            assert!(v["spans"].is_array(), "{line}");
            span_seen = true;
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(sent, "never saw the listening line: {lines:#?}");
    assert!(span_seen, "no line in the delivery's span: {lines:#?}");
}

/// A push delivery to `acme/infra`'s main, signed as GitHub signs it.
fn send_push(addr: &str) {
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "before": "a".repeat(40),
        "after": "b".repeat(40),
        "repository": { "full_name": REPO },
        "sender": { "login": "root", "id": 1, "type": "User" },
    })
    .to_string();
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://{addr}/webhook"))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "observability-1")
        .header(
            "X-Hub-Signature-256",
            prgate::webhook::sign(SECRET, body.as_bytes()),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
}
