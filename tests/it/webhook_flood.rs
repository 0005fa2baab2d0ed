//! `prgate serve` under hostile load from unauthenticated clients, run as a real process so
//! that its memory and descriptors can be read from /proc: idle connections past the cap, slow
//! 24 MiB bodies with bad signatures, headers and bodies that never finish. Every flood stops by
//! itself within seconds and uses loopback only.
//!
//! `PRGATE_FLOOD_BIN=/path/to/prgate cargo test --test webhook_flood -- --ignored --nocapture`
//! prints the same figures for any build (scripts/flood.sh compares two of them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prgate::webhook::sign;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "flood-test-secret";
/// What GitHub allows a delivery, and what a test or a flood may wait for one answer.
const GITHUB_TIMEOUT: Duration = Duration::from_secs(10);
const MIB: usize = 1024 * 1024;

/// A `prgate serve` process with a code host address where nothing listens: it never becomes
/// ready, but takes deliveries in, which is all these tests need.
struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `binary` with `extra` appended to its config, under the usual default soft limit
    /// of 1024 open files (the server may raise it itself).
    fn start(binary: &Path, extra: &str) -> Server {
        raise_own_open_files_limit();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("prgate.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nwebhook_secrets = [\"env:PRGATE_FLOOD_SECRET\"]\nreconcile_interval = \"1h\"\n[github]\napi_url = \"http://127.0.0.1:9\"\ntoken = \"env:PRGATE_FLOOD_TOKEN\"\n[[repos]]\nname = \"acme/infra\"\n{extra}",
                dir.path().join("data")
            ),
        )
        .unwrap();
        let child = Command::new("sh")
            .args(["-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\""])
            .arg(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .env("PRGATE_FLOOD_SECRET", SECRET)
            .env("PRGATE_FLOOD_TOKEN", "flood-token")
            .env("PRGATE_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let server = Server {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "prgate serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory in bytes (`VmHWM`).
    fn peak_rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib * 1024
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    std::env::var_os("PRGATE_FLOOD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_prgate")))
}

/// Room for 1,100 connections plus the test's own files.
fn raise_own_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    assert!(
        limit.rlim_cur >= 2048,
        "the hard limit of open files ({}) is too low for this test",
        limit.rlim_cur
    );
}

/// Reads until the status line has arrived; its code, or None if the connection ended first.
async fn read_status(read: &mut (impl AsyncReadExt + Unpin)) -> Option<u16> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = seen.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&seen[..end]).into_owned();
            return line.split(' ').nth(1).and_then(|c| c.parse().ok());
        }
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// One request on a new connection; its status (None: no answer) and how long it took, at
/// most [`GITHUB_TIMEOUT`].
async fn request(addr: SocketAddr, head: String, body: &[u8]) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let exchange = async {
        let mut conn = TcpStream::connect(addr).await.ok()?;
        conn.write_all(head.as_bytes()).await.ok()?;
        conn.write_all(body).await.ok()?;
        read_status(&mut conn).await
    };
    let status = tokio::time::timeout(GITHUB_TIMEOUT, exchange)
        .await
        .ok()
        .flatten();
    (status, started.elapsed())
}

async fn healthz(addr: SocketAddr) -> (Option<u16>, Duration) {
    let head = "GET /healthz HTTP/1.1\r\nHost: prgate\r\nConnection: close\r\n\r\n".to_string();
    request(addr, head, b"").await
}

fn delivery_head(delivery: &str, signature: &str, length: usize) -> String {
    format!(
        "POST /webhook HTTP/1.1\r\nHost: prgate\r\nContent-Type: application/json\r\nX-GitHub-Event: pull_request_review\r\nX-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// A correctly signed review delivery, as GitHub would send it.
async fn real_delivery(addr: SocketAddr, delivery: &str) -> (Option<u16>, Duration) {
    let body = serde_json::to_vec(&serde_json::json!({
        "action": "submitted",
        "review": {"state": "approved", "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
        "pull_request": {"number": 42},
        "repository": {"full_name": "acme/infra"},
        "sender": {"login": "alice"}
    }))
    .unwrap();
    let head = delivery_head(delivery, &sign(SECRET, &body), body.len());
    request(addr, head, &body).await
}

/// What the idle-connection flood did to the server.
struct IdleFlood {
    opened: usize,
    healthz: (Option<u16>, Duration),
    delivery: (Option<u16>, Duration),
    open_files: usize,
}

/// Opens `n` connections that never send a byte, holds them, and meanwhile asks for
/// `/healthz` and sends a real delivery.
async fn idle_flood(server: &Server, n: usize) -> IdleFlood {
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(server.addr)).await {
            Ok(Ok(conn)) => idle.push(conn),
            _ => break,
        }
    }
    let healthz = healthz(server.addr).await;
    let delivery = real_delivery(server.addr, "idle-flood-1").await;
    let open_files = server.open_files();
    let opened = idle.len();
    drop(idle);
    IdleFlood {
        opened,
        healthz,
        delivery,
        open_files,
    }
}

/// What the slow-body flood did to the server.
struct BodyFlood {
    delivery: (Option<u16>, Duration),
    peak_rss: usize,
    answers: Vec<(u16, usize)>,
}

/// `clients` connections each declare a 24 MiB body with a well-formed but wrong signature
/// and send it at `rate` bytes/s, reconnecting when answered, until `length` has passed;
/// a second in, a real delivery is sent.
async fn slow_body_flood(
    server: &Server,
    clients: usize,
    rate: usize,
    length: Duration,
) -> BodyFlood {
    let until = Instant::now() + length;
    let answers: Arc<Vec<AtomicUsize>> = Arc::new((0..600).map(|_| AtomicUsize::new(0)).collect());
    let chunk = Arc::new(vec![b'x'; 64 * 1024]);
    let pause = Duration::from_secs_f64(chunk.len() as f64 / rate as f64);
    let mut attackers = Vec::new();
    for i in 0..clients {
        let (addr, answers, chunk) = (server.addr, answers.clone(), chunk.clone());
        attackers.push(tokio::spawn(async move {
            let mut attempt = 0;
            while Instant::now() < until {
                attempt += 1;
                let Ok(Ok(conn)) =
                    tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await
                else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (mut read, mut write) = conn.into_split();
                let head = delivery_head(
                    &format!("flood-{i}-{attempt}"),
                    &format!("sha256={}", "0".repeat(64)),
                    24 * MIB,
                );
                let send = async {
                    write.write_all(head.as_bytes()).await?;
                    for _ in 0..(24 * MIB / chunk.len()) {
                        write.write_all(&chunk).await?;
                        tokio::time::sleep(pause).await;
                    }
                    Ok::<_, std::io::Error>(())
                };
                let answer = async {
                    tokio::select! {
                        status = read_status(&mut read) => status,
                        // Sent whole (or refused mid-way): the answer may still be on its way.
                        _ = send => tokio::time::timeout(Duration::from_secs(2), read_status(&mut read)).await.ok().flatten(),
                    }
                };
                match tokio::time::timeout_at(until.into(), answer).await {
                    Ok(Some(code)) => {
                        answers[usize::from(code).min(599)].fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivery = real_delivery(server.addr, "body-flood-1").await;
    for a in attackers {
        let _ = a.await;
    }
    let answers = answers
        .iter()
        .enumerate()
        .filter_map(|(code, n)| {
            let n = n.load(Ordering::Relaxed);
            (n > 0).then_some((code as u16, n))
        })
        .collect();
    BodyFlood {
        delivery,
        peak_rss: server.peak_rss(),
        answers,
    }
}

/// 24 MiB in 6 s: slow enough to hold a connection, fast enough that 40 unbounded bodies
/// would be buffered whole (~1 GB) within the flood.
const SLOW_RATE: usize = 4 * MIB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_keep_nobody_out() {
    let server = Server::start(&binary(), "");
    let flood = idle_flood(&server, 1100).await;
    assert_eq!(flood.opened, 1100);
    let (status, took) = flood.healthz;
    assert_eq!(status, Some(200), "/healthz after {took:?}");
    let (status, took) = flood.delivery;
    assert_eq!(status, Some(202), "delivery after {took:?}");
    assert!(took < GITHUB_TIMEOUT);
    // The default cap of 512 connections, not the flood, decides how many sockets are open.
    assert!(
        flood.open_files <= 512 + 64,
        "{} files open",
        flood.open_files
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_huge_bodies_with_bad_signatures_stay_within_the_byte_budget() {
    let server = Server::start(&binary(), "");
    let flood = slow_body_flood(&server, 40, SLOW_RATE, Duration::from_secs(8)).await;
    let (status, took) = flood.delivery;
    assert_eq!(status, Some(202), "delivery after {took:?}");
    assert!(took < GITHUB_TIMEOUT);
    assert!(
        flood.peak_rss < 200_000_000,
        "peak RSS {} MB",
        flood.peak_rss / 1_000_000
    );
    // Past the budget the flood was told to come back later, not buffered.
    assert!(
        flood.answers.iter().any(|&(code, _)| code == 503),
        "{:?}",
        flood.answers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_bodies_that_never_finish_are_cut_off() {
    let server = Server::start(
        &binary(),
        "[http]\nheader_timeout = \"2s\"\nbody_timeout = \"2s\"\n",
    );
    // Headers trickling in, a line every half second, never ending.
    let started = Instant::now();
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"POST /webhook HTTP/1.1\r\nHost: prgate\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if conn
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(8), trickle)
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut rest)).await;
    let took = started.elapsed();
    assert!(
        closed.is_ok(),
        "the connection is still open after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "cut off after {took:?}"
    );

    // A body that stops halfway: 408 at the body deadline, nothing queued.
    let body = br#"{"action":"submitted"}"#;
    let head = delivery_head("slow-body", &sign(SECRET, body), body.len());
    let started = Instant::now();
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body[..5]).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), read_status(&mut conn))
        .await
        .unwrap();
    assert_eq!(status, Some(408));
    assert!(started.elapsed() < Duration::from_secs(4));

    // And the server still serves.
    assert_eq!(healthz(server.addr).await.0, Some(200));
}

/// Prints the figures of docs/performance.md for the build in `PRGATE_FLOOD_BIN` (default:
/// this one), with its default limits; asserts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by scripts/flood.sh"]
async fn report_flood_figures() {
    let binary = binary();
    let show = |(status, took): (Option<u16>, Duration)| match status {
        Some(code) => format!("{code} in {:.3} s", took.as_secs_f64()),
        None => format!("no answer within {} s", took.as_secs()),
    };
    {
        let server = Server::start(&binary, "");
        let baseline = server.peak_rss();
        let flood = idle_flood(&server, 1100).await;
        println!("binary: {}", binary.display());
        println!("idle flood: {} idle connections held", flood.opened);
        println!("idle flood: /healthz {}", show(flood.healthz));
        println!("idle flood: signed delivery {}", show(flood.delivery));
        println!("idle flood: server open files {}", flood.open_files);
        println!("idle flood: server VmHWM {} MiB", server.peak_rss() / MIB);
        println!("baseline VmHWM {} MiB", baseline / MIB);
    }
    {
        let server = Server::start(&binary, "");
        let flood = slow_body_flood(&server, 40, SLOW_RATE, Duration::from_secs(8)).await;
        println!("body flood: signed delivery {}", show(flood.delivery));
        println!("body flood: server VmHWM {} MiB", flood.peak_rss / MIB);
        println!("body flood: answers to the flood {:?}", flood.answers);
    }
}
