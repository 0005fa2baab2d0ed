//! Running executor commands as real child processes: outcomes, timeouts that kill the whole
//! process group, cancel, the output cap with draining, and redaction of secrets.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prgate::config::Secret;
use prgate::executor::sandbox::Isolation;
use prgate::executor::{RunSpec, run_executor};
use prgate::record::note::Outcome;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

fn spec(dir: &Path, script: &str) -> RunSpec {
    RunSpec {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        workdir: dir.to_path_buf(),
        git_dir: None,
        env: vec![],
        context: vec![
            ("PRGATE_REPO".into(), "acme/infra".into()),
            ("PRGATE_PULL".into(), "42".into()),
        ],
        timeout: Duration::from_secs(30),
        output_cap: 64 * 1024,
        isolation: Isolation::Off,
        held: Default::default(),
    }
}

/// A process is gone when /proc has no entry for it or it is a zombie waiting for a reaper
/// (a container's pid 1 may never reap it, but a zombie runs nothing).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

fn wait_gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn read_pid(path: &PathBuf) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn success_runs_in_the_workdir_with_context() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker"), "here").unwrap();
    let r = run_executor(
        &spec(
            dir.path(),
            "cat marker; echo \" $PRGATE_REPO#$PRGATE_PULL\"; echo err >&2; echo out",
        ),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(r.exit_code, Some(0));
    // One pipe for both streams: the order is exactly the order of the writes.
    assert_eq!(r.output, "here acme/infra#42\nerr\nout\n");
    assert!(!r.truncated);
    assert_eq!(
        r.output_sha256,
        hex::encode(Sha256::digest(r.output.as_bytes()))
    );
    assert!(r.finished_at >= r.started_at);
}

#[tokio::test]
async fn a_relative_program_runs_from_the_workdir_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("scripts/apply.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(&script, "#!/bin/sh\necho \"applied $1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut s = spec(dir.path(), "");
    // Shell metacharacters in arguments stay literal: no shell is involved.
    s.argv = vec!["./scripts/apply.sh".into(), "$(touch pwned);x".into()];
    let r = run_executor(&s, CancellationToken::new()).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{}", r.output);
    assert_eq!(r.output, "applied $(touch pwned);x\n");
    assert!(!dir.path().join("pwned").exists());
}

#[tokio::test]
async fn non_zero_exit_is_failed() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_executor(
        &spec(dir.path(), "echo nope; exit 3"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.output, "nope\n");
}

#[tokio::test]
async fn a_missing_program_did_not_start_and_says_why() {
    // Nothing ran: `not_started`, which an operator may run again once the cause is fixed.
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "");
    s.argv = vec!["./no-such-script".into()];
    let r = run_executor(&s, CancellationToken::new()).await;
    assert_eq!(r.outcome, Outcome::NotStarted);
    assert_eq!(r.exit_code, None);
    assert!(r.output.contains("cannot start"), "{}", r.output);
    s.argv = vec![];
    let r = run_executor(&s, CancellationToken::new()).await;
    assert_eq!(r.outcome, Outcome::NotStarted);
    assert!(r.output.contains("empty"));
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let mut s = spec(
        dir.path(),
        "sleep 100 & echo $! > bg.pid; echo started; sleep 100",
    );
    s.timeout = Duration::from_millis(700);
    let t0 = Instant::now();
    let r = run_executor(&s, CancellationToken::new()).await;
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(r.outcome, Outcome::Timeout);
    assert_eq!(r.exit_code, None);
    assert_eq!(r.output, "started\n");
    let bg = read_pid(&pidfile);
    assert!(
        wait_gone(bg),
        "background process {bg} survived the timeout"
    );
}

#[tokio::test]
async fn background_processes_do_not_outlive_a_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    // The leftover holds stdout open; without the group kill the run would wait for it.
    let t0 = Instant::now();
    let r = run_executor(
        &spec(dir.path(), "sleep 100 & echo $! > bg.pid; echo done"),
        CancellationToken::new(),
    )
    .await;
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(r.output, "done\n");
    assert!(wait_gone(read_pid(&pidfile)));
}

#[tokio::test]
async fn cancel_kills_the_group_and_says_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let r = run_executor(
        &spec(dir.path(), "sleep 100 & echo $! > bg.pid; sleep 100"),
        cancel,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Cancelled);
    assert_eq!(r.exit_code, None);
    assert!(wait_gone(read_pid(&pidfile)));
}

#[tokio::test]
async fn output_past_the_cap_is_drained_and_hashed_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(
        dir.path(),
        "head -c 10000000 /dev/zero | tr '\\0' 'a'; echo tail >&2",
    );
    s.output_cap = 1000;
    let r = run_executor(&s, CancellationToken::new()).await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert!(r.truncated);
    assert_eq!(r.output.len(), 1000);
    // stdout and stderr share one pipe, so "tail" comes after the 10 MB, exactly.
    let mut all = vec![b'a'; 10_000_000];
    all.extend_from_slice(b"tail\n");
    assert_eq!(r.output_sha256, hex::encode(Sha256::digest(&all)));
}

#[tokio::test]
async fn secret_values_appear_nowhere_in_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let value = "s3cr3t-Value-9f8e7d";
    let mut s = spec(
        dir.path(),
        "echo \"token is $FIREWALL_TOKEN\"; printf '%s' \"$FIREWALL_TOKEN\" >&2; echo; echo \"$FIREWALL_TOKEN\" | rev | rev",
    );
    s.env = vec![("FIREWALL_TOKEN".into(), Secret::new(value))];
    let r = run_executor(&s, CancellationToken::new()).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{}", r.output);
    assert!(r.output.contains("token is [REDACTED]"), "{}", r.output);
    let serialized = serde_json::to_string(&r).unwrap();
    assert!(!serialized.contains(value));
    assert!(!format!("{r:?}").contains(value));
    assert!(
        !format!("{s:?}").contains(value),
        "RunSpec's Debug shows the secret"
    );
    assert_eq!(r.output.matches("[REDACTED]").count(), 3, "{}", r.output);

    // Written in two pieces, one to each stream: still one value in the output, still redacted.
    s.argv[2] = "printf 's3cr3t-Val'; printf 'ue-9f8e7d\\n' >&2".into();
    let r = run_executor(&s, CancellationToken::new()).await;
    assert_eq!(r.output, "[REDACTED]\n");
}

#[tokio::test]
async fn redaction_keeps_up_with_megabytes_of_encoded_output() {
    // base64 and hex are what the redactor looks hardest at (it also reads them encoded).
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(
        dir.path(),
        "head -c 3000000 /dev/urandom | base64; head -c 1000000 /dev/urandom | od -An -tx1; \
         printf '%s' \"$FIREWALL_TOKEN\" | base64",
    );
    s.env = vec![
        ("FIREWALL_TOKEN".into(), Secret::new("s3cr3t-Value-9f8e7d")),
        ("OTHER".into(), Secret::new("another/secret+value%20here")),
    ];
    s.output_cap = 1 << 30;
    let t0 = Instant::now();
    let r = run_executor(&s, CancellationToken::new()).await;
    let took = t0.elapsed();
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert!(
        r.output.ends_with("[REDACTED]\n"),
        "{}",
        &r.output[r.output.len() - 100..]
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("7 MB of output redacted in {took:?}");
}
