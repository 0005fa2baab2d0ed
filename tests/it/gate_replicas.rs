//! Two `prgate serve` replicas (real processes, each with its own data directory) on one
//! simulator, behind a round-robin forwarder as a load balancer would be; one is killed with
//! `kill -9` while PRs are being approved, then started again. Every PR ends with the right
//! status on the code host, none is left stale, and every approved merge runs exactly once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::harness::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

const AGENT: &str = "agent-token";
const DEADLINE: Duration = Duration::from_secs(40);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One replica: its config (own port, own data directory) and, while it runs, its process.
struct Replica {
    name: &'static str,
    url: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn new(w: &World, name: &'static str) -> Replica {
        let port = free_port();
        let dir = w.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let exec = w.exec_dir();
        // Writes the executor's secret files; the same executor as the in-process tests'.
        firewall_executor(&exec, &ExecSettings::default());
        let config = dir.join("prgate.toml");
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

[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh"]
program_paths = ["scripts/apply-firewall.sh"]
timeout = "30s"
env = {{ PROD_DIR = "file:{exec}/prod-dir.secret", FIREWALL_TOKEN = "file:{exec}/firewall-token.secret" }}
repos = ["{REPO}"]
sandbox = {{ write = ["{exec}/production"] }}
"#,
                data = dir.join("data").display(),
                api = w.sim.api_url,
                exec = exec.display(),
            ),
        )
        .unwrap();
        Replica {
            name,
            url: format!("http://127.0.0.1:{port}"),
            config,
            log: dir.join("serve.log"),
            child: None,
        }
    }

    async fn start(&mut self, http: &reqwest::Client) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_prgate"))
            .args(["serve", "--config", self.config.to_str().unwrap()])
            .env("PRGATE_TEST_WEBHOOK_SECRET", SECRET)
            .env("PRGATE_TEST_TOKEN", "prgate-token")
            .env("PRGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("replica {} never became ready", self.name);
    }

    /// `kill -9`: no shutdown, whatever it was doing.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GitHub sends each delivery to one URL; this stands for the load balancer behind it: each
/// delivery goes to the next replica in turn, or to the other one when that one does not answer.
struct Forwarder {
    targets: Vec<String>,
    next: AtomicUsize,
    sent: Vec<AtomicU64>,
    http: reqwest::Client,
}

async fn forward(State(f): State<Arc<Forwarder>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let first = f.next.fetch_add(1, Ordering::SeqCst);
    for i in 0..f.targets.len() {
        let t = (first + i) % f.targets.len();
        let mut req = f.http.post(&f.targets[t]).body(body.clone());
        for (name, value) in &headers {
            if name.as_str().starts_with("x-") || name == "content-type" || name == "user-agent" {
                req = req.header(name, value);
            }
        }
        if let Ok(r) = req.send().await {
            f.sent[t].fetch_add(1, Ordering::SeqCst);
            return StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        }
    }
    StatusCode::BAD_GATEWAY
}

async fn start_forwarder(targets: Vec<String>) -> (String, Arc<Forwarder>) {
    let f = Arc::new(Forwarder {
        sent: targets.iter().map(|_| AtomicU64::new(0)).collect(),
        targets,
        next: AtomicUsize::new(0),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    });
    let app = axum::Router::new().fallback(forward).with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, f)
}

async fn open(w: &World, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
    let head = w.commit_and_push(branch, files, "ops-agent[bot]", "ops-agent[bot]", branch);
    (w.open_pr(AGENT, branch, "main", branch).await, head)
}

/// Waits until `check` holds, or panics with `what` (and the replicas' logs) at the deadline.
async fn wait_until<F, Fut>(replicas: &[&Replica], what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in replicas {
        eprintln!("--- {} ---\n{}", r.name, r.log_tail());
    }
    panic!("timed out waiting until {what}");
}

async fn approval_is(w: &World, head: &str, want: &str) -> bool {
    w.approval(head).await.is_some_and(|s| s.0 == want)
}

fn claims(bare: &Path) -> Vec<String> {
    git_out(
        bare,
        &["for-each-ref", "--format=%(refname)", "refs/prgate/claims/"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_mid_way_leave_nothing_stale_and_run_each_merge_once() {
    let w = World::start_without_gate(POLICY).await;
    // A real round trip, so that the kill lands while evaluations and merges are under way.
    w.sim.set_latency(Duration::from_millis(50));
    let mut a = Replica::new(&w, "replica-a");
    let mut b = Replica::new(&w, "replica-b");
    a.start(&w.http).await;
    b.start(&w.http).await;
    let (hook, forwarder) = start_forwarder(vec![
        format!("{}/webhook", a.url),
        format!("{}/webhook", b.url),
    ])
    .await;
    w.sim.add_hook(&hook, SECRET);

    // Six firewall changes, and one that also touches dns/ (it needs acme/security too, so an
    // approval from carol alone leaves it pending: its status can flip back and forth).
    let mut prs = Vec::new();
    for i in 1..=6 {
        let file = format!("firewall/p{i}.toml");
        prs.push(open(&w, &format!("change-{i}"), &[(&file, "allow = [1]\n")]).await);
    }
    let flip = open(
        &w,
        "flip",
        &[("firewall/flip.toml", "allow = [2]\n"), ("dns/zone", "a\n")],
    )
    .await;
    for (n, head) in prs.iter().chain([&flip]) {
        wait_until(&[&a, &b], &format!("#{n} is pending"), || {
            approval_is(&w, head, "pending")
        })
        .await;
    }

    // Both replicas take turns on these deliveries: whichever posted a state before must post
    // it again when the code host shows the other replica's since (nothing remembered skips a
    // post). Each step waits for the code host to show its decision.
    for round in 0..3 {
        let (s, v) = w
            .review("carol-token", flip.0, "REQUEST_CHANGES", None, "no")
            .await;
        assert_eq!(s, 200, "{v}");
        wait_until(
            &[&a, &b],
            &format!("round {round}: changes requested show"),
            || approval_is(&w, &flip.1, "failure"),
        )
        .await;
        w.approve("carol-token", flip.0).await;
        wait_until(
            &[&a, &b],
            &format!("round {round}: the approval shows"),
            || approval_is(&w, &flip.1, "pending"),
        )
        .await;
    }
    let (s, v) = w
        .review(
            "carol-token",
            flip.0,
            "REQUEST_CHANGES",
            None,
            "no after all",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_until(&[&a, &b], "the last request for changes shows", || {
        approval_is(&w, &flip.1, "failure")
    })
    .await;

    // Approvals of #1..#3 at once; as soon as the first merge lands, replica A dies mid-way.
    for (n, _) in &prs[..3] {
        w.approve("alice-token", *n).await;
    }
    wait_until(&[&a, &b], "a first approved PR is merged", || async {
        for (n, _) in &prs[..3] {
            if w.pull(*n).await["merged"] == true {
                return true;
            }
        }
        false
    })
    .await;
    a.kill();
    // Approvals while A is down: the forwarder sends everything to B.
    for (n, _) in &prs[3..5] {
        w.approve("alice-token", *n).await;
    }
    wait_until(
        &[&b],
        "#4 and #5 are merged by the surviving replica",
        || async {
            for (n, _) in &prs[3..5] {
                if w.pull(*n).await["merged"] != true {
                    return false;
                }
            }
            true
        },
    )
    .await;
    // A comes back with its data directory: its queue, its first reconciler pass.
    a.start(&w.http).await;

    // Every approved PR is merged and its merge's execution has ended.
    let mut merges = Vec::new();
    for (n, head) in &prs[..5] {
        wait_until(&[&a, &b], &format!("#{n} is merged"), || async {
            w.pull(*n).await["merged"] == true
        })
        .await;
        let merge = w.pull(*n).await["merge_commit_sha"]
            .as_str()
            .unwrap()
            .to_string();
        wait_until(
            &[&a, &b],
            &format!("the execution of #{n} ends"),
            || async {
                w.status_in(&merge, "prgate/execution")
                    .await
                    .is_some_and(|(state, _)| state != "pending")
            },
        )
        .await;
        merges.push((*n, head.clone(), merge));
    }
    // Let anything still queued in either replica run (a late duplicate would show below).
    w.sim.settle().await;
    wait_until(&[&a, &b], "both replicas are idle", || async {
        w.sim.settle().await;
        w.sim.stats()["deliveries_pending"] == 0
    })
    .await;

    let runs = w.runs();
    let mut interrupted = 0;
    for (n, head, merge) in &merges {
        let (state, description, _) = w.approval(head).await.unwrap();
        assert_eq!(state, "success", "#{n}'s head: {description}");
        let (state, description) = w.status_in(merge, "prgate/execution").await.unwrap();
        let times = runs.iter().filter(|r| *r == merge).count();
        if description.starts_with("interrupted: ") {
            // The claim was taken by the killed replica and its run cut short: reported, never
            // run again (at most once); nothing else may end that way.
            interrupted += 1;
            assert!(times <= 1, "#{n} ran {times} times");
        } else {
            assert_eq!(
                (state.as_str(), times),
                ("success", 1),
                "#{n}'s merge {merge}: {description}"
            );
            wait_until(
                &[&a, &b],
                &format!("#{n}'s note records the run"),
                || async {
                    w.note(merge)
                        .is_some_and(|note| note["execution"]["outcome"] == "succeeded")
                },
            )
            .await;
        }
        // One decision comment per head and decision, whichever replica made it.
        let comments = w.comments_text(*n).await;
        let marker = format!("<!-- prgate:decision state=approved head={head} -->");
        assert_eq!(
            comments.matches(&marker).count(),
            1,
            "#{n}'s comments: {comments}"
        );
    }
    let mut distinct = runs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), runs.len(), "no merge ran twice: {runs:?}");
    let flip_comments = w.comments_text(flip.0).await;
    let marker = format!("<!-- prgate:decision state=denied head={} -->", flip.1);
    assert_eq!(
        flip_comments.matches(&marker).count(),
        1,
        "one denial comment for the head, whichever replica decided: {flip_comments}"
    );
    assert_eq!(claims(&w.bare_dir()).len(), merges.len());
    // The PR nobody approved is still pending; the one with changes requested, failure.
    assert!(approval_is(&w, &prs[5].1, "pending").await);
    assert!(approval_is(&w, &flip.1, "failure").await);
    assert_eq!(w.pull(prs[5].0).await["state"], "open");
    assert_eq!(w.pull(flip.0).await["state"], "open");
    let sent: Vec<u64> = forwarder
        .sent
        .iter()
        .map(|s| s.load(Ordering::SeqCst))
        .collect();
    assert!(
        sent.iter().all(|s| *s > 0),
        "both replicas took deliveries: {sent:?}"
    );
    eprintln!("deliveries per replica {sent:?}; interrupted runs {interrupted}");
}
