//! Running git's own server programs (`git upload-pack`, `git receive-pack`) for the smart
//! HTTP routes and for receiving a push: a clean environment, stdin fed from another thread.

use std::io::Write;
use std::path::Path as FsPath;
use std::process::{Command, Stdio};

/// The two services git speaks over smart HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }
}

/// Runs `git <service> <args> <dir>` with `input` on stdin and returns its stdout. Blocking:
/// call it off the async runtime.
pub fn run_git(
    service: Service,
    args: &[&str],
    dir: &FsPath,
    protocol: Option<&str>,
    input: &[u8],
) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("git");
    // The simulator never garbage-collects: statuses and reviews may name any pushed commit.
    cmd.args(["-c", "receive.autogc=false", service.name()])
        .args(args)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_PROTOCOL",
    ] {
        cmd.env_remove(var);
    }
    if let Some(p) = protocol {
        cmd.env("GIT_PROTOCOL", p);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git {}: {e}", service.name()))?;
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    // Feed stdin from another thread so that a large answer cannot block a large request.
    let feeder = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            // git may stop reading early (e.g. a push of deletions only); that is no error.
            let _ = s.write_all(&input);
        }
        drop(stdin);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git {}: {e}", service.name()))?;
    let _ = feeder.join();
    if out.status.success() || !out.stdout.is_empty() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "git {} failed ({}): {}",
            service.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
