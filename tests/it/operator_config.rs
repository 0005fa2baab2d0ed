//! The operator's config, checked before it bites: relative paths are the config folder's,
//! a secret that does not resolve or a policy that cannot be read stops `serve` before it
//! starts, and `prgate config check` says all of it without starting anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::harness::*;
use prgate::config::{SecretRef, ServerConfig};

const AGENT: &str = "agent-token";

/// Writes `config` as the operator would, into `folder/prgate.toml`.
fn write_config(folder: &Path, config: &ServerConfig) -> PathBuf {
    std::fs::create_dir_all(folder).unwrap();
    let path = folder.join("prgate.toml");
    std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
    path
}

/// An agent's firewall change, approved by a designated human and merged by the gate.
async fn approved_merge(w: &World, branch: &str, rules: &str) -> String {
    w.commit_and_push(
        branch,
        &[("firewall/rules.toml", rules)],
        "ops-agent[bot]",
        "ops-agent[bot]",
        branch,
    );
    let n = w.open_pr(AGENT, branch, "main", branch).await;
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged")
        .to_string()
}

fn config_check(path: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["config", "check", "--json", "--config"])
        .arg(path)
        .env("PRGATE_LOG", "warn")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

/// The README's `data_dir = ".prgate"` (the default too): the data lives beside the config
/// file, whatever directory prgate runs in, and the executor runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_data_dir_is_the_config_folders_and_the_executor_runs() {
    let w = World::start_without_gate(POLICY).await;
    let folder = w.tmp.path().join("etc");
    let mut config = gate_config(&w.sim.api_url, Path::new(".prgate"), &["main"]);
    config.executors.insert(
        "firewall".into(),
        firewall_executor(&w.exec_dir(), &ExecSettings::default()),
    );
    let loaded = prgate::config::load_server_config(&write_config(&folder, &config)).unwrap();
    assert_eq!(loaded.data_dir, folder.join(".prgate"));
    let w = w.with_gate(loaded, test_client_options()).await;
    let merge = approved_merge(&w, "relative", "allow = [7]\n").await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    assert_eq!(w.runs(), vec![merge]);
    assert!(folder.join(".prgate/queue").is_dir());
    // Nothing nested inside a worktree, nothing in the test's working directory.
    let nested = walkdir(&folder.join(".prgate"))
        .into_iter()
        .filter(|p| p.ends_with(".prgate"))
        .collect::<Vec<_>>();
    assert!(nested.is_empty(), "{nested:?}");
    w.shutdown().await;
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(p.clone());
                todo.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn serve_refuses_to_start_when_an_executor_secret_does_not_resolve() {
    let w = World::start_without_gate(POLICY).await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    let mut executor = firewall_executor(&w.exec_dir(), &ExecSettings::default());
    executor.env.insert(
        "FIREWALL_TOKEN".into(),
        SecretRef::Env("PRGATE_TEST_NEVER_SET".into()),
    );
    config.executors.insert("firewall".into(), executor);
    let e = match prgate::serve::start(config, test_client_options()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("serve started with a secret that does not resolve"),
    };
    assert!(
        e.contains("executors.firewall.env.FIREWALL_TOKEN")
            && e.contains("environment variable PRGATE_TEST_NEVER_SET is not set; set it"),
        "{e}"
    );
    w.shutdown().await;
}

#[tokio::test]
async fn serve_refuses_to_start_when_a_governed_branch_has_an_invalid_policy() {
    let w = World::start_without_gate(POLICY).await;
    w.commit_and_push(
        "release",
        &[(".github/prgate.toml", "version = 1\n[[rules]]\nname = \n")],
        "root",
        "root",
        "a broken policy",
    );
    let config = gate_config(&w.sim.api_url, &w.data_dir, &["main", "release"]);
    let e = match prgate::serve::start(config, test_client_options()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("serve started with an invalid policy on a governed branch"),
    };
    assert!(
        e.contains("repos acme/infra branch release") && e.contains("is invalid"),
        "{e}"
    );
    w.shutdown().await;
}

#[tokio::test]
async fn config_check_reports_every_problem_without_starting_anything() {
    let w = World::start_without_gate(POLICY).await;
    let folder = w.tmp.path().join("check");
    // A config that can be served, with a branch that does not exist yet (a warning).
    let good = gate_config(&w.sim.api_url, Path::new(".prgate"), &["main", "next"]);
    let (code, out) = config_check(&write_config(&folder, &good));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["ok"], serde_json::json!(true), "{out}");
    let problems = out["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{out}");
    assert!(
        problems
            .iter()
            .all(|p| p["error"] == serde_json::json!(false)),
        "{out}"
    );
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist yet"),
        "{out}"
    );
    // prgate's token user is not an admin: GitHub shows it no branch protection.
    assert!(
        problems[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the protection of main"),
        "{out}"
    );
    assert!(
        !folder.join(".prgate").exists(),
        "config check created data_dir"
    );
    // Three mistakes: an executor's secret unset, a repository that is not there, a secret file
    // that is missing (relative: the config folder's).
    let mut bad = gate_config(&w.sim.api_url, Path::new(".prgate"), &["main"]);
    bad.repos.push(prgate::config::GovernedRepo {
        name: "acme/nope".parse().unwrap(),
        branches: vec!["main".into()],
    });
    let mut executor = firewall_executor(&w.exec_dir(), &ExecSettings::default());
    executor.env.insert(
        "FIREWALL_TOKEN".into(),
        SecretRef::Env("PRGATE_TEST_NEVER_SET".into()),
    );
    executor
        .env
        .insert("PROD_DIR".into(), SecretRef::File("prod-dir.secret".into()));
    bad.executors.insert("firewall".into(), executor);
    let (code, out) = config_check(&write_config(&folder, &bad));
    assert_eq!(code, 2, "{out}");
    let text = out.to_string();
    for expected in [
        "executors.firewall.env.FIREWALL_TOKEN",
        "PRGATE_TEST_NEVER_SET is not set",
        "executors.firewall.env.PROD_DIR",
        &format!("{}", folder.join("prod-dir.secret").display()),
        "repos acme/nope",
        "acme/nope does not exist",
    ] {
        assert!(text.contains(expected), "{expected} not in {out}");
    }
    w.shutdown().await;
}

#[test]
fn a_config_that_governs_nothing_is_refused() {
    let text = "webhook_secrets = [\"env:X\"]\n[github]\ntoken = \"env:Y\"\n";
    let e = prgate::config::parse_server_config("prgate.toml", text).unwrap_err();
    assert!(e.to_string().contains("no [[repos]] are listed"), "{e}");
}

/// A secret that stops resolving after the start (a file rotated away): the approved merge is
/// recorded `not_started` with the reason, and once the file is back an operator's
/// `prgate execute` runs it. A run that finished is final, and `--cancel` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_did_not_start_is_recoverable_and_a_finished_one_is_final() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let secret = w.exec_dir().join("firewall-token.secret");
    let kept = std::fs::read(&secret).unwrap();
    std::fs::remove_file(&secret).unwrap();
    let merge = approved_merge(&w, "unstarted", "allow = [9]\n").await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "error", "{description}");
    assert!(
        description
            .starts_with("firewall did not start (fix it, then run prgate execute): secret file:"),
        "{description}"
    );
    assert!(w.runs().is_empty());
    let note = w.note(&merge).expect("a record");
    assert_eq!(
        note["execution"]["outcome"],
        serde_json::json!("not_started")
    );
    assert!(
        note["execution"]["refusal"]
            .as_str()
            .unwrap()
            .contains("firewall-token.secret"),
        "{note}"
    );
    // Automatically, nothing runs it again.
    let executor = fresh_executor(&w, "operator");
    let (repo, sha) = (REPO.parse().unwrap(), merge.parse().unwrap());
    let again = executor
        .consider(&repo, &sha, prgate::executor::Mode::Automatic)
        .await
        .unwrap();
    assert!(
        again
            .describe()
            .starts_with("already recorded as not_started: secret file:"),
        "{}",
        again.describe()
    );
    // The operator fixes the cause and runs it.
    std::fs::write(&secret, kept).unwrap();
    let ran = executor
        .consider(&repo, &sha, prgate::executor::Mode::Operator)
        .await
        .unwrap();
    assert_eq!(ran.describe(), "ran: succeeded (exit code 0)");
    assert_eq!(w.runs(), vec![merge.clone()]);
    // Finished: an operator cannot run it again, and cancelling says it is finished.
    let final_ = executor
        .consider(&repo, &sha, prgate::executor::Mode::Operator)
        .await
        .unwrap();
    assert!(
        final_
            .describe()
            .starts_with("already ran (succeeded); a finished run is never run again"),
        "{}",
        final_.describe()
    );
    assert_eq!(
        executor.finished_outcome(&repo, &sha).await.unwrap(),
        Some(prgate::record::note::Outcome::Succeeded)
    );
    assert_eq!(w.runs(), vec![merge]);
    w.shutdown().await;
}

/// The example pipeline verifies signatures (trailers alone are forgeable) and runs a binary
/// pinned by digest, never one compiled from a moving source on each run.
#[test]
fn the_example_workflow_verifies_signed_records_with_a_pinned_binary() {
    let workflow = include_str!("../../.github/workflows/apply-after-verify.yml");
    assert!(workflow.contains("verify --repo . --commit"), "{workflow}");
    assert!(workflow.contains("--public-key \"${{ vars.PRGATE_NOTE_PUBLIC_KEY }}\""));
    assert!(workflow.contains("sha256sum --check --strict"));
    assert!(workflow.contains("actions/cache@v4"));
    assert!(!workflow.contains("cargo install"));
    // The notes must be fetched, and a failed fetch must fail the job rather than be ignored.
    assert!(workflow.contains("git fetch origin refs/notes/prgate:refs/notes/prgate\n"));
}

/// A code host that answers a governed branch's read with 502s at start-up (a passing fault)
/// does not keep `serve` from starting; a definite answer (an invalid policy) does, above.
#[tokio::test]
async fn a_passing_code_host_fault_at_start_up_does_not_stop_serve() {
    let w = World::start_without_gate(POLICY).await;
    w.sim.inject_fault("/git/ref/heads/main", 502, 4);
    let config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    let gate = prgate::serve::start(config, test_client_options())
        .await
        .expect("a 502 is no reason to refuse to start");
    gate.shutdown().await;
    w.shutdown().await;
}
