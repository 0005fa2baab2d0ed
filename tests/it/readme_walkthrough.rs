//! The README's walk-through against the simulator (part B), run as a person would run it:
//! every `sh` block marked `<!-- walkthrough -->`, in order, with bash in an empty folder and
//! this build's `prgate` first on `PATH`. The one rewrite is mechanical: the ports 9000, 8080
//! and 9090 become free ones, so that parallel tests and a person's own services do not clash.
//!
//! The blocks before `<!-- walkthrough: stop -->` run first; at that point the script writes its
//! environment to a file and waits, so that the end state is checked with the simulator and the
//! gate still running (PR merged, executor ran once, note in git, `config check` exit 0 — and
//! exit 2 naming the variable when a secret is unset —, the dashboard answers). Then the stop
//! block runs. bash runs in a process group of its own, and the background processes the README
//! starts (`prgate sim ... &`, `prgate serve ... &`) stay in it: the group is killed whatever
//! happens, a failed assertion included.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The README's fixed addresses: the simulator, the gate's `listen`, its `admin_listen`.
const SIM: &str = "127.0.0.1:9000";
const GATE: &str = "127.0.0.1:8080";
const ADMIN: &str = "127.0.0.1:9090";

/// The marked shell blocks of the README, in order: those before the stop block, and the stop
/// block itself.
fn walkthrough(readme: &str) -> (Vec<String>, Vec<String>) {
    let mut run = Vec::new();
    let mut stop = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line
            .trim()
            .strip_prefix("<!-- walkthrough")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let tag = tag.trim().trim_start_matches(':').trim();
        assert_eq!(
            lines.next().map(str::trim),
            Some("```sh"),
            "a walk-through marker must be followed by a ```sh block"
        );
        let mut block = String::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            block.push_str(l);
            block.push('\n');
        }
        match tag {
            "" => {
                assert!(stop.is_empty(), "walk-through steps after the stop block");
                run.push(block);
            }
            "stop" => stop.push(block),
            other => panic!("unknown walk-through marker {other:?}"),
        }
    }
    (run, stop)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills bash's process group (bash and everything the README started in the background).
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let pgid = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group we created; no memory
        // is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

struct Run {
    root: PathBuf,
    try_dir: PathBuf,
    env: BTreeMap<String, String>,
    api: String,
    gate: String,
    admin: String,
}

impl Run {
    fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.root.join(name)).unwrap_or_default();
        let serve_log = std::fs::read_to_string(self.try_dir.join("serve.log")).unwrap_or_default();
        let tail: Vec<&str> = serve_log.lines().rev().take(30).collect();
        format!(
            "--- stdout\n{}\n--- stderr\n{}\n--- serve.log (last lines)\n{}",
            read("stdout"),
            read("stderr"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// `prgate ARGS` in the walk-through's folder, with the environment the README set up.
    fn prgate(&self, args: &[&str], without: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prgate"));
        cmd.args(args)
            .current_dir(&self.try_dir)
            .env_clear()
            .envs(&self.env);
        for var in without {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("prgate {args:?} did not finish within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }
}

fn wait_for(child: &mut Child, ready: &Path, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if ready.exists() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("the walk-through stopped early: {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("the walk-through took longer than {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let (steps, stop) = walkthrough(&readme);
    assert!(steps.len() >= 8, "the walk-through's steps: {steps:#?}");
    assert_eq!(stop.len(), 1, "one stop block");

    let ports = [free_port(), free_port(), free_port()];
    let [api, gate, admin] = ports.map(|p| format!("127.0.0.1:{p}"));
    let rewrite = |s: &str| {
        s.replace(SIM, &api)
            .replace(GATE, &gate)
            .replace(ADMIN, &admin)
    };
    let all = steps.concat();
    for addr in [SIM, GATE, ADMIN] {
        assert!(all.contains(addr), "the walk-through no longer uses {addr}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    let ready = root.join("walkthrough.env");
    let go_on = root.join("walkthrough.go-on");
    let script = format!(
        "set -eo pipefail\n{}\nenv -0 > \"$WALKTHROUGH_READY.part\" && mv \"$WALKTHROUGH_READY.part\" \"$WALKTHROUGH_READY\"\nwhile [ ! -e \"$WALKTHROUGH_GO_ON\" ]; do sleep 0.1; done\n{}",
        rewrite(&all),
        rewrite(&stop.concat()),
    );
    std::fs::write(root.join("walkthrough.sh"), &script).unwrap();

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_prgate")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = Command::new("bash");
    bash.arg(root.join("walkthrough.sh"))
        .current_dir(&work)
        .env("PATH", path)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("WALKTHROUGH_READY", &ready)
        .env("WALKTHROUGH_GO_ON", &go_on)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(root.join("stdout")).unwrap())
        .stderr(std::fs::File::create(root.join("stderr")).unwrap())
        .process_group(0);
    // Whatever the machine's environment says about the code host is not the README's.
    for (key, _) in std::env::vars() {
        if key.starts_with("PRGATE_") || key.starts_with("GITHUB_") {
            bash.env_remove(key);
        }
    }
    let mut group = ProcessGroup(bash.spawn().expect("bash"));

    let mut run = Run {
        try_dir: work.join("prgate-try"),
        root: root.clone(),
        env: BTreeMap::new(),
        api: format!("http://{api}"),
        gate: format!("http://{gate}"),
        admin: format!("http://{admin}"),
    };
    if let Err(e) = wait_for(&mut group.0, &ready, Duration::from_secs(240)) {
        panic!("{e}\n{}", run.output());
    }
    let env = std::fs::read(&ready).unwrap();
    run.env = env
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .filter(|(k, _)| !k.starts_with("WALKTHROUGH_"))
        .collect();
    let out = run.output();

    // The PR is merged, on the simulator, with alice's approval.
    let http = reqwest::blocking::Client::new();
    let pull: serde_json::Value = http
        .get(format!("{}/repos/acme/infra/pulls/1", run.api))
        .bearer_auth("alice-token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(pull["merged"], true, "{pull}\n{out}");
    let merge = pull["merge_commit_sha"].as_str().unwrap().to_string();

    // The executor ran once, on that merge, and its note is in git.
    let applied =
        std::fs::read_to_string(run.try_dir.join("production/applied.log")).unwrap_or_default();
    // Then the same through the merge queue, on acme/queued: its group commit, once.
    let queued: serde_json::Value = http
        .get(format!("{}/repos/acme/queued/pulls/1", run.api))
        .bearer_auth("alice-token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(queued["merged"], true, "{queued}\n{out}");
    let landed = queued["merge_commit_sha"].as_str().unwrap().to_string();
    assert_eq!(
        applied.lines().collect::<Vec<_>>(),
        vec![
            format!("{merge} approved by alice"),
            format!("{landed} approved by alice")
        ],
        "{out}"
    );
    let note = Command::new("git")
        .args(["-C", "agent", "notes", "--ref=prgate", "show", &merge])
        .current_dir(&run.try_dir)
        .output()
        .unwrap();
    // A version 2 record: a DSSE envelope; the record is its decoded statement.
    let record = crate::common::record_json(&note.stdout);
    assert!(
        record["execution"]["outcome"] == "succeeded"
            && record["execution"]["executor"] == "firewall"
            && record["version"] == 2,
        "{record}\n{out}"
    );
    assert!(out.contains("Notes (prgate):"), "{out}");

    // The gate's own log of the whole story holds none of the secrets it was given.
    let serve_log = std::fs::read_to_string(run.try_dir.join("serve.log")).unwrap_or_default();
    assert!(!serve_log.is_empty(), "serve.log is empty");
    let key = std::fs::read_to_string(run.try_dir.join("note.key")).unwrap_or_default();
    for secret in ["prgate-token", "fw-secret", key.trim()] {
        assert!(
            !secret.is_empty() && !serve_log.contains(secret),
            "a secret reached serve.log: {secret:?}"
        );
    }

    // The checks of the config, as written and with a secret unset.
    let check = run.prgate(&["config", "check"], &[]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("prgate.toml: ok"));
    // The likeliest mistakes: a variable not exported in the shell that runs `serve`. Each
    // ends in exit 2 and a message naming the file, the key, the variable and the fix.
    for (var, key) in [
        ("FIREWALL_TOKEN", "executors.firewall.env.FIREWALL_TOKEN"),
        ("PRGATE_WEBHOOK_SECRET", "webhook_secrets[0]"),
    ] {
        for args in [
            &["config", "check"][..],
            &["serve", "--config", "prgate.toml"],
        ] {
            let bad = run.prgate(args, &[var]);
            let said = String::from_utf8_lossy(&bad.stderr);
            assert_eq!(bad.status.code(), Some(2), "prgate {args:?}: {said}");
            assert!(
                said.contains("prgate.toml: ")
                    && said.contains(key)
                    && said.contains(&format!("environment variable {var} is not set; set it")),
                "prgate {args:?} without {var}: {said}"
            );
        }
    }

    // The dashboard answers on the admin port, with the decision and the execution; the
    // webhook's port serves no pages.
    let page = http.get(format!("{}/", run.admin)).send().unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().unwrap();
    assert!(
        page.contains("Open 443") && page.contains("succeeded"),
        "{page}"
    );
    let decision = http
        .get(format!("{}/pulls/acme/infra/1", run.admin))
        .send()
        .unwrap();
    assert_eq!(decision.status(), 200);
    assert_eq!(
        http.get(format!("{}/", run.gate)).send().unwrap().status(),
        404
    );

    // The stop block ends both processes.
    std::fs::write(&go_on, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the stop block did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}\n{}", run.output());
    for addr in [&api, &gate, &admin] {
        assert!(
            std::net::TcpStream::connect(addr.as_str()).is_err(),
            "{addr} still answers after the stop block"
        );
    }
}
