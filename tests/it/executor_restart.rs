//! The executor across a `kill -9` of `prgate serve`: a run cut off is recorded as
//! `interrupted` after the restart and never re-run automatically. The same story checks that
//! the executor's secret shows up in no log line of the service, even at debug level.

use std::time::{Duration, Instant};

use crate::common::harness::*;
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_serve(config: &std::path::Path, log: &std::path::Path) -> ServeProcess {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    ServeProcess::spawn(
        config,
        &[
            ("PRGATE_TEST_WEBHOOK_SECRET", SECRET),
            ("PRGATE_LOG", "debug"),
        ],
        log.into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_off_by_kill_9_is_interrupted_and_not_re_run() {
    let w = World::start_without_gate(POLICY).await;
    let exec = firewall_executor(&w.exec_dir(), &ExecSettings::default());
    let token_file = w.tmp.path().join("gate-token.secret");
    std::fs::write(&token_file, "prgate-token").unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let env_of = |k: &str| exec.env.get(k).unwrap().to_string();
    let config = w.tmp.path().join("prgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:0"
data_dir = "{data}"
webhook_secrets = ["env:PRGATE_TEST_WEBHOOK_SECRET"]
reconcile_interval = "1s"
[github]
api_url = "{api}"
token = "file:{token}"
[[repos]]
name = "{REPO}"
[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh"]
timeout = "60s"
env = {{ PROD_DIR = "{prod}", FIREWALL_TOKEN = "{fw}" }}
repos = ["{REPO}"]
sandbox = {{ write = ["{production}"] }}
"#,
            production = w.production().display(),
            data = w.data_dir.display(),
            api = w.sim.api_url,
            token = token_file.display(),
            prod = env_of("PROD_DIR"),
            fw = env_of("FIREWALL_TOKEN"),
        ),
    )
    .unwrap();
    let log = w.tmp.path().join("serve.log");
    let mut serve = spawn_serve(&config, &log);
    wait_ready_at(&w.http, &url).await;
    w.sim.add_hook(&format!("{url}/webhook"), SECRET);

    // A quick change runs and succeeds (its output holds the secret, redacted).
    w.commit_and_push(
        "quick",
        &[("firewall/rules.toml", "allow = [1]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "quick",
    );
    let quick = w.open_pr("agent-token", "quick", "main", "quick").await;
    w.sim.settle().await;
    w.approve("alice-token", quick).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let quick_merge = loop {
        if let Some(m) = w.pull(quick).await["merge_commit_sha"].as_str() {
            break m.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the quick change was never merged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(w.execution_result(&quick_merge).await.0, "success");

    // A slow one is cut off by kill -9 while it runs.
    w.commit_and_push(
        "slow",
        &[
            ("firewall/rules.toml", "allow = [2]\n"),
            ("firewall/sleep", "20"),
        ],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "slow",
    );
    let slow = w.open_pr("agent-token", "slow", "main", "slow").await;
    w.sim.settle().await;
    w.approve("alice-token", slow).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.runs().len() < 2 {
        assert!(Instant::now() < deadline, "the slow run never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    serve.kill();
    let slow_merge = w.pull(slow).await["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.note(&slow_merge).unwrap()["execution"]["outcome"],
        json!("interrupted")
    );

    let mut serve = spawn_serve(&config, &log);
    wait_ready_at(&w.http, &url).await;
    let (state, description) = w.execution_result(&slow_merge).await;
    // A few reconciler passes later it still has not run again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    serve.kill();
    assert_eq!(state, "failure");
    assert!(description.contains("interrupted"), "{description}");
    assert_eq!(
        w.runs(),
        vec![quick_merge, slow_merge.clone()],
        "the interrupted run was not started again"
    );
    assert_eq!(
        w.note(&slow_merge).unwrap()["execution"]["outcome"],
        json!("interrupted")
    );

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("execut"), "the service logged its executions");
    assert!(
        !logs.contains(FIREWALL_TOKEN),
        "the executor's secret is in the service's log"
    );
}
