//! Runs one executor command: no shell, a cleared environment plus the executor's own secrets,
//! its own process group (killed as a whole on timeout, cancel, or when the command exits and
//! leaves processes behind), output captured up to a cap with every secret value redacted.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver as OutputPipe;
use tokio_util::sync::CancellationToken;

use super::git_env::git_environment;
use super::redact::{Redactor, SecretForms};
use super::sandbox::{Confinement, Isolation, enter};
use crate::config::Secret;
use crate::record::note::{ExecutionRecord, Outcome};

/// The only variables taken from the gate's own environment. Everything else (the gate's
/// `GITHUB_TOKEN`, webhook secrets, cloud credentials) never reaches the command.
const INHERITED_ENV: [&str; 7] = ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"];
/// `PATH` for the command when the gate itself runs without one.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// How long to wait for the output pipes to close once the process group is dead. Only a
/// process that escaped the group (setsid) and kept the pipe open makes this wait matter.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 64 * 1024;

/// One run of one executor.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The command, no shell. `argv[0]` containing a '/' is relative to `workdir` (or
    /// absolute); a bare name is looked up in `PATH`.
    pub argv: Vec<String>,
    /// The fresh checkout of the merge commit; the command's working directory.
    pub workdir: PathBuf,
    /// The checkout's git directory (outside it), given to the command as `GIT_DIR`; `None`
    /// for a folder that has none. Either way git in the run reads no config, hook or
    /// repository the checkout's files could bring (see `git_env`).
    pub git_dir: Option<PathBuf>,
    /// The executor's secrets, resolved just before the run. Their values are redacted from
    /// the output.
    pub env: Vec<(String, Secret)>,
    /// `PRGATE_REPO`, `PRGATE_PULL`, `PRGATE_MERGE_SHA`, `PRGATE_HEAD_SHA`, `PRGATE_APPROVERS`,
    /// `PRGATE_CHANGED_FILES`. Set last, so that a secret cannot pose as one of them.
    pub context: Vec<(String, String)>,
    pub timeout: Duration,
    /// Bytes of output kept; the rest is read (so the command never blocks) and hashed only.
    pub output_cap: usize,
    /// The sandbox: the checkout and its git directory are added to what it may write, and a
    /// temporary folder of the run's own (its `HOME` and `TMPDIR`).
    pub isolation: Isolation,
    /// Every other secret the gate holds (its tokens, keys, other executors' secrets): redacted
    /// from the output like `env`'s, though the command never gets them.
    pub held: Arc<Vec<Vec<u8>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunResult {
    /// `succeeded`, `failed`, `timeout` or `cancelled`.
    pub outcome: Outcome,
    /// `None` when the command was killed by a signal or could not be started.
    pub exit_code: Option<i32>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// stdout and stderr interleaved as the command wrote them, redacted, at most `output_cap` bytes
    /// (lossily decoded as UTF-8).
    pub output: String,
    /// sha256 (hex) of the whole redacted output, including any part past the cap.
    pub output_sha256: String,
    /// Whether the output went past `output_cap`.
    pub truncated: bool,
    /// Bytes of the whole redacted output, including any part past the cap.
    pub output_size: u64,
}

// The record's format lives in `crate::record::note`, which knows nothing of runs; turning a
// run into a record is the executor's, so this constructor is declared here.
impl ExecutionRecord {
    /// The record of a run that took place.
    pub(crate) fn from_run(executor: impl Into<String>, run: &RunResult) -> Self {
        ExecutionRecord {
            executor: executor.into(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            exit_code: run.exit_code,
            output_sha256: Some(run.output_sha256.clone()),
            outcome: run.outcome,
            // A command that could not be started: the output is prgate's own line saying why.
            refusal: (run.outcome == Outcome::NotStarted).then(|| run.output.trim().to_string()),
            operator: None,
            plan: None,
        }
    }
}

/// Runs the command and waits for it, its timeout or `cancel`, whichever comes first. Never
/// fails: a command that cannot be started is a `failed` result whose output says why.
pub async fn run_executor(spec: &RunSpec, cancel: CancellationToken) -> RunResult {
    let started_at = Utc::now();
    let secrets = Arc::new(SecretForms::new(&secret_values(spec)));
    let mut sink = Sink::new(spec.output_cap);

    // Only a sandboxed run gets (and later loses) a folder of its own: never remove a folder
    // beside an unsandboxed command's workdir that prgate did not make.
    let private = match spec.isolation {
        Isolation::Sandboxed(_) => private_dir(&spec.workdir),
        Isolation::Off => None,
    };
    let result = run_prepared(spec, &private, secrets, &mut sink, cancel).await;
    if let Some(dir) = &private {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(done) => done,
        Err(()) => sink.finish(Outcome::NotStarted, None, started_at),
    }
}

/// The run's own temporary folder, beside the checkout: a sandboxed child may write nowhere
/// else but there and the checkout. `None` when the checkout's path has no final name.
fn private_dir(workdir: &Path) -> Option<PathBuf> {
    let mut name = workdir.file_name()?.to_os_string();
    name.push(".tmp");
    Some(workdir.with_file_name(name))
}

/// Starts the command and waits for it; `Err(())` when it did not start (the reason is in
/// `sink`).
async fn run_prepared(
    spec: &RunSpec,
    private: &Option<PathBuf>,
    secrets: Arc<SecretForms>,
    sink: &mut Sink,
    cancel: CancellationToken,
) -> Result<RunResult, ()> {
    let started_at = Utc::now();
    let (mut command, output, confinement) = match build_command(spec, private.as_deref()) {
        Ok(c) => c,
        Err(message) => {
            redact_all(secrets, message.as_bytes(), sink);
            return Err(());
        }
    };
    let spawned = command.spawn();
    // The command holds our copies of the pipe's write end; they must be closed now, or the
    // pipe never reaches its end once the child is gone. The ruleset's descriptor is closed
    // too: the child has applied it (or failed to start).
    drop(command);
    drop(confinement);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let message = format!(
                "prgate: cannot start {:?} in {}: {e}\n",
                spec.argv.first().map(String::as_str).unwrap_or_default(),
                spec.workdir.display()
            );
            redact_all(secrets, message.as_bytes(), sink);
            return Err(());
        }
    };
    let sink = std::mem::replace(sink, Sink::new(spec.output_cap));
    let pid = child.id();
    let stop_capture = CancellationToken::new();
    let mut capture = tokio::spawn(capture_output(
        output,
        sink,
        secrets.clone(),
        stop_capture.clone(),
    ));

    enum Ending {
        Exited(std::io::Result<std::process::ExitStatus>),
        TimedOut,
        Cancelled,
    }
    let ending = tokio::select! {
        status = child.wait() => Ending::Exited(status),
        _ = tokio::time::sleep(spec.timeout) => Ending::TimedOut,
        _ = cancel.cancelled() => Ending::Cancelled,
    };
    // Kill the whole group in every case: on timeout or cancel the command itself, and after a
    // normal exit whatever it left running in the background, which would otherwise hold the
    // output pipes open and keep acting after the record says the run is over.
    if let Some(pid) = pid {
        kill_group(pid);
    }
    let (outcome, exit_code) = match ending {
        Ending::Exited(Ok(status)) if status.success() => (Outcome::Succeeded, status.code()),
        Ending::Exited(Ok(status)) => (Outcome::Failed, status.code()),
        Ending::Exited(Err(_)) => (Outcome::Failed, None),
        Ending::TimedOut => {
            let _ = child.wait().await;
            (Outcome::Timeout, None)
        }
        Ending::Cancelled => {
            let _ = child.wait().await;
            (Outcome::Cancelled, None)
        }
    };

    let sink = match tokio::time::timeout(DRAIN_GRACE, &mut capture).await {
        Ok(joined) => joined,
        Err(_) => {
            stop_capture.cancel();
            capture.await
        }
    };
    Ok(match sink {
        Ok(sink) => sink.finish(outcome, exit_code, started_at),
        Err(e) => {
            // The capture task panicked: report the outcome without output rather than guess.
            let mut sink = Sink::new(spec.output_cap);
            sink.write(format!("prgate: output capture failed: {e}\n").as_bytes());
            sink.finish(outcome, exit_code, started_at)
        }
    })
}

/// The run's own secrets and every other secret this process holds (webhook secrets, tokens,
/// keys, other executors' secrets): none may reach the output.
fn secret_values(spec: &RunSpec) -> Vec<Vec<u8>> {
    let mut values: Vec<Vec<u8>> = spec
        .env
        .iter()
        .map(|(_, s)| s.expose().as_bytes().to_vec())
        .filter(|v| !v.is_empty())
        .collect();
    values.extend(spec.held.iter().cloned());
    values.sort();
    values.dedup();
    values
}

/// Redacts a whole message (prgate's own, which may quote the command line) into the sink.
fn redact_all(secrets: Arc<SecretForms>, bytes: &[u8], sink: &mut Sink) {
    let mut redactor = Redactor::new(secrets);
    sink.write(&redactor.push(bytes));
    sink.write(&redactor.finish());
}

/// The program to execute: relative to the workdir when it names a path, else a `PATH` name.
fn program(argv0: &str, workdir: &Path) -> PathBuf {
    let p = Path::new(argv0);
    if argv0.contains('/') && !p.is_absolute() {
        workdir.join(p)
    } else {
        p.to_path_buf()
    }
}

/// The command, the read end of the one pipe its stdout and stderr both write to, and the
/// sandbox's ruleset (kept open until the child has started).
fn build_command(
    spec: &RunSpec,
    private: Option<&Path>,
) -> Result<(tokio::process::Command, OutputPipe, Option<Confinement>), String> {
    let argv0 = spec
        .argv
        .first()
        .ok_or("prgate: the executor's command is empty; give it an argv in prgate.toml\n")?;
    // Absolute, because the child changes into the workdir before the program is resolved.
    let workdir = std::path::absolute(&spec.workdir).map_err(|e| {
        format!(
            "prgate: cannot resolve the workdir {}: {e}\n",
            spec.workdir.display()
        )
    })?;
    let mut cmd = tokio::process::Command::new(program(argv0, &workdir));
    cmd.args(&spec.argv[1..]).current_dir(&workdir).env_clear();
    for name in INHERITED_ENV {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", DEFAULT_PATH);
    }
    for (name, secret) in &spec.env {
        cmd.env(name, secret.expose());
    }
    // After the secrets, so that none can undo the pins; the command's own code still can.
    let git_dir = spec
        .git_dir
        .as_deref()
        .map(std::path::absolute)
        .transpose()
        .map_err(|e| {
            format!(
                "prgate: cannot resolve the git directory of {}: {e}\n",
                workdir.display()
            )
        })?;
    for (name, value) in git_environment(&workdir, git_dir.as_deref()) {
        cmd.env(name, value);
    }
    for (name, value) in &spec.context {
        cmd.env(name, value);
    }
    let confinement = match &spec.isolation {
        Isolation::Off => None,
        Isolation::Sandboxed(rules) => {
            let private = private.ok_or("prgate: the checkout's path has no final name\n")?;
            // Fresh for each run: nothing an earlier run of the same checkout left is seen.
            let _ = std::fs::remove_dir_all(private);
            std::fs::create_dir_all(private).map_err(|e| {
                format!(
                    "prgate: cannot create the run's temporary folder {}: {e}\n",
                    private.display()
                )
            })?;
            // The gate's own home and temporary folder are out of reach: the run gets its own.
            cmd.env("HOME", private).env("TMPDIR", private);
            let mut rules = rules.clone();
            rules.read_write.push(workdir.clone());
            rules.read_write.extend(git_dir.clone());
            rules.read_write.push(private.to_path_buf());
            let confinement = Confinement::prepare(&rules).map_err(|e| {
                format!("prgate: the sandbox cannot be set up, so nothing started: {e}\n")
            })?;
            let fd = confinement.raw_fd();
            // SAFETY: `enter` makes two system calls and nothing else (no allocation, no lock),
            // which is what may run between fork and exec.
            unsafe {
                cmd.pre_exec(move || enter(fd));
            }
            Some(confinement)
        }
    };
    // One pipe for both streams, as with `2>&1`: the output is interleaved exactly as the
    // command wrote it, which two pipes read side by side cannot promise.
    let pipe_err = |e: std::io::Error| format!("prgate: cannot create the output pipe: {e}\n");
    let (reader, writer) = std::io::pipe().map_err(pipe_err)?;
    let writer_for_stderr = writer.try_clone().map_err(pipe_err)?;
    let reader = OutputPipe::from_owned_fd(reader.into()).map_err(pipe_err)?;
    cmd.stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_for_stderr)
        // Its own group, so that everything it starts can be killed together.
        .process_group(0)
        // A last resort should this future be dropped mid-run; it reaches only the leader.
        .kill_on_drop(true);
    Ok((cmd, reader, confinement))
}

fn kill_group(pid: u32) {
    let Ok(pgid) = i32::try_from(pid) else { return };
    // kill(-1) would signal every process we may signal; a child is never pid 0 or 1.
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions. The child was spawned with
    // process_group(0), so its pid is its group's id and -pid addresses that whole group.
    // ESRCH (the group is already gone) is the expected result after a clean exit.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Reads the output pipe to its end (or until `stop`).
async fn capture_output(
    mut output: OutputPipe,
    mut sink: Sink,
    secrets: Arc<SecretForms>,
    stop: CancellationToken,
) -> Sink {
    let mut redactor = Redactor::new(secrets);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            r = output.read(&mut buf) => match r {
                Ok(n) if n > 0 => sink.write(&redactor.push(&buf[..n])),
                // End of output, or a read error, after which nothing more can be read.
                _ => break,
            },
            _ = stop.cancelled() => break,
        }
    }
    sink.write(&redactor.finish());
    sink
}

/// Keeps the first `cap` bytes of the (already redacted) output and hashes all of it.
struct Sink {
    cap: usize,
    kept: Vec<u8>,
    hasher: Sha256,
    truncated: bool,
    size: u64,
}

impl Sink {
    fn new(cap: usize) -> Self {
        Sink {
            cap,
            kept: Vec::new(),
            hasher: Sha256::new(),
            truncated: false,
            size: 0,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        let room = self.cap.saturating_sub(self.kept.len());
        let take = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            self.truncated = true;
        }
    }

    fn finish(
        self,
        outcome: Outcome,
        exit_code: Option<i32>,
        started_at: DateTime<Utc>,
    ) -> RunResult {
        RunResult {
            outcome,
            exit_code,
            started_at,
            finished_at: Utc::now(),
            output: String::from_utf8_lossy(&self.kept).into_owned(),
            output_sha256: hex::encode(self.hasher.finalize()),
            truncated: self.truncated,
            output_size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(v: &[&str]) -> Arc<SecretForms> {
        let spec = RunSpec {
            argv: vec![],
            workdir: PathBuf::new(),
            git_dir: None,
            env: v
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("S{i}"), Secret::new(*s)))
                .collect(),
            context: vec![],
            timeout: Duration::ZERO,
            output_cap: 0,
            isolation: crate::executor::sandbox::Isolation::Off,
            held: Arc::default(),
        };
        Arc::new(SecretForms::new(&secret_values(&spec)))
    }

    fn run_chunks(chunks: &[&str], secret_list: &[&str], cap: usize) -> (String, bool) {
        let mut sink = Sink::new(cap);
        let mut r = Redactor::new(secrets(secret_list));
        for c in chunks {
            sink.write(&r.push(c.as_bytes()));
        }
        sink.write(&r.finish());
        let res = sink.finish(Outcome::Succeeded, Some(0), Utc::now());
        (res.output, res.truncated)
    }

    #[test]
    fn secrets_are_redacted_even_when_split_across_reads() {
        let (out, _) = run_chunks(
            &["token=hunt", "er2", " and again hunter2\n"],
            &["hunter2"],
            1000,
        );
        assert_eq!(out, "token=[REDACTED] and again [REDACTED]\n");
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let (out, _) = run_chunks(&["abc-long-abc"], &["abc", "abc-long-abc"], 1000);
        assert_eq!(out, "[REDACTED]");
    }

    #[test]
    fn no_prefix_of_a_secret_survives_the_cap() {
        // Redaction happens before the cap, so the cut cannot fall inside a secret's value.
        let (out, truncated) = run_chunks(&["xxxxsupersecret"], &["supersecret"], 8);
        assert!(truncated);
        assert_eq!(out, "xxxx[RED");
    }

    #[test]
    fn empty_secrets_redact_nothing() {
        let (out, _) = run_chunks(&["plain"], &[""], 100);
        assert_eq!(out, "plain");
    }

    #[test]
    fn programs_with_a_slash_are_relative_to_the_workdir() {
        let w = Path::new("/w");
        assert_eq!(program("./scripts/a.sh", w), Path::new("/w/./scripts/a.sh"));
        assert_eq!(program("/usr/bin/env", w), Path::new("/usr/bin/env"));
        assert_eq!(program("terraform", w), Path::new("terraform"));
    }
}
