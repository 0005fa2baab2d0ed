//! GitHub Enterprise Server: the simulator in GHES's shape (REST under `/api/v3`, GraphQL at
//! `/api/graphql`, git at the host's root, every other path 404) and prgate given that one API
//! URL. The same stories as on github.com — propose, plan, review request, approval, merge,
//! execution, note, `verify`, `audit`, the MCP loop, the demo, `config check` — and each fails
//! if any request left GHES's bases.

use std::path::Path;
use std::process::Command;

use prgate::config::SecretRef;
use prgate_sim::Shape;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::harness::*;

const AGENT: &str = "agent-token";

/// The firewall's plan, as main holds it: the live rules against the proposed ones.
const PLAN_SCRIPT: &str = r#"#!/bin/sh
set -e
echo "live: $(cat "$PROD_DIR/rules.toml" 2>/dev/null || echo none)"
echo "wanted: $(cat firewall/rules.toml)"
"#;

/// The world on a GHES-shaped simulator, without the gate.
async fn ghes_world_without_gate(extra_files: &[(&str, &str)]) -> World {
    let w =
        World::start_without_gate_shaped(POLICY, SEED, extra_files, Shape::EnterpriseServer).await;
    assert!(w.sim.api_url.ends_with("/api/v3"), "{}", w.sim.api_url);
    assert_eq!(
        w.clone_url,
        format!("{}/{REPO}.git", w.sim.host_url),
        "git lives at the host's root"
    );
    w
}

/// The gate given the GHES API URL, with the firewall executor (and its plan, when `plan`).
async fn ghes_world(plan: bool) -> World {
    let extra: &[(&str, &str)] = if plan {
        &[("scripts/plan-firewall.sh", PLAN_SCRIPT)]
    } else {
        &[]
    };
    let w = ghes_world_without_gate(extra).await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    let exec = w.exec_dir();
    let mut fw = firewall_executor(&exec, &ExecSettings::default());
    if plan {
        fw.plan = Some(vec!["sh".into(), "scripts/plan-firewall.sh".into()]);
        fw.program_paths = Some(vec![
            "scripts/apply-firewall.sh".into(),
            "scripts/plan-firewall.sh".into(),
        ]);
        fw.plan_env = [(
            "PROD_DIR".to_string(),
            SecretRef::File(exec.join("prod-dir.secret")),
        )]
        .into_iter()
        .collect();
    }
    config.executors.insert("firewall".into(), fw);
    w.with_gate(config, test_client_options()).await
}

/// No request reached a path GHES does not serve: the simulator counts them.
async fn assert_no_request_left_ghes_bases(w: &World) {
    let off = w.sim.off_base_requests();
    assert!(
        off.is_empty(),
        "requests outside GitHub Enterprise Server's bases: {off:?}"
    );
    assert_eq!(w.sim_stats().await["off_base_requests"], json!(0));
}

fn prgate_in(w: &World, args: &[&str]) -> (i32, Value, String) {
    prgate_cli(w, Some(AGENT), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ghes_shaped_simulator_serves_only_ghes_paths() {
    let w = ghes_world_without_gate(&[]).await;
    let (api, host) = (w.sim.api_url.clone(), w.sim.host_url.clone());
    assert_eq!(api, format!("{host}/api/v3"));
    // REST under /api/v3, with URLs that name GHES's bases.
    let (status, repo) = w
        .api("root-token", Method::GET, &format!("/repos/{REPO}"), None)
        .await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(repo["url"], json!(format!("{api}/repos/{REPO}")));
    assert_eq!(repo["html_url"], json!(format!("{host}/{REPO}")));
    assert_eq!(repo["clone_url"], json!(format!("{host}/{REPO}.git")));
    // Pagination links stay under /api/v3.
    w.commit_and_push("second", &[("README.md", "two\n")], "root", "root", "two");
    let page = w
        .http
        .get(format!("{api}/repos/{REPO}/activity?per_page=1"))
        .bearer_auth("root-token")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let link = page.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("<{api}/repos/{REPO}/activity?"))
            && link.contains("rel=\"next\""),
        "{link}"
    );
    // GraphQL at /api/graphql.
    let gql = w
        .http
        .post(format!("{host}/api/graphql"))
        .bearer_auth("root-token")
        .json(&json!({"query": "{ repository(owner: \"acme\", name: \"infra\") { url } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(gql.status(), 200);
    let gql: Value = gql.json().await.unwrap();
    assert_eq!(
        gql["data"]["repository"]["url"],
        json!(format!("{host}/{REPO}"))
    );
    assert!(w.sim.off_base_requests().is_empty());

    // github.com's paths, and GraphQL or git under the REST base, are not GHES's: 404, counted.
    let asked = [
        (Method::GET, format!("{host}/repos/{REPO}")),
        (Method::POST, format!("{host}/graphql")),
        (Method::POST, format!("{api}/graphql")),
        (
            Method::GET,
            format!("{api}/{REPO}.git/info/refs?service=git-upload-pack"),
        ),
    ];
    for (method, url) in &asked {
        let r = w
            .http
            .request(method.clone(), url)
            .bearer_auth("root-token")
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {url}");
    }
    let off = w.sim.off_base_requests();
    assert_eq!(off.len(), asked.len(), "{off:?}");
    assert!(off[0].ends_with(&format!("/repos/{REPO}")), "{off:?}");
    assert!(off[2].ends_with("/api/v3/graphql"), "{off:?}");
    assert_eq!(w.sim_stats().await["off_base_requests"], json!(4));
}

/// `prgate sim --ghes`: the ready line's `api_url` is the GHES one, its clone URLs at the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prgate_sim_ghes_prints_the_ghes_api_url_in_its_ready_line() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("sim.toml");
    std::fs::write(&state, SEED).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["sim", "--ghes", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .env("PRGATE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let ready: Value = serde_json::from_str(line.trim()).unwrap_or(Value::Null);
    let api = ready["api_url"].as_str().unwrap_or_default().to_string();
    let host = api.strip_suffix("/api/v3").map(str::to_string);
    let user = match &host {
        Some(_) => {
            let r = reqwest::Client::new()
                .get(format!("{api}/user"))
                .bearer_auth("alice-token")
                .send()
                .await;
            r.ok().map(|r| r.status().as_u16())
        }
        None => None,
    };
    let _ = child.kill();
    let _ = child.wait();
    let host = host.unwrap_or_else(|| panic!("not a GHES api_url: {line}"));
    assert!(host.starts_with("http://127.0.0.1:"), "{line}");
    assert_eq!(
        ready["repos"][REPO],
        json!(format!("{host}/{REPO}.git")),
        "{line}"
    );
    assert_eq!(user, Some(200), "{line}");
}

/// The whole story of DESIGN.md's flow on GHES: the agent proposes through the binary, the
/// plan is shown, the designated approvers are asked, alice approves, prgate merges, the
/// executor re-verifies and runs once, the note records it, and `verify` and `audit` hold —
/// with every call on GHES's bases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_story_on_github_enterprise_server_stays_on_its_bases() {
    let w = ghes_world(true).await;

    // Propose, through the binary, with the one GHES API URL.
    let dir = w.agent_clone("agent");
    std::fs::write(dir.join("firewall/rules.toml"), "allow = [22, 443]\n").unwrap();
    let (code, p, err) = prgate_in(
        &w,
        &[
            "propose",
            "--repo",
            dir.to_str().unwrap(),
            "--title",
            "Open port 443",
            "--reason",
            "ticket NET-1",
            "--json",
            "firewall/rules.toml",
        ],
    );
    assert_eq!(code, 0, "{p} {err}");
    let pull = p["pull"].as_u64().unwrap();
    let head = p["head"].as_str().unwrap().to_string();
    assert!(
        p["url"].as_str().unwrap().starts_with(&w.sim.host_url),
        "{p}"
    );
    w.settle().await;

    // Plan: shown before anyone approves; the status names it.
    let (state, description) = crate::informed_review::plan_status(&w, &head).await;
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("needs 1 approval from alice"),
        "{description}"
    );
    let comments = w.comments_text(pull).await;
    assert!(comments.contains("wanted: allow = [22, 443]"), "{comments}");

    // Review request: the designated approvers are asked.
    let (_, asked) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/pulls/{pull}/requested_reviewers"),
            None,
        )
        .await;
    assert_eq!(asked["users"][0]["login"], json!("alice"), "{asked}");
    assert_eq!(asked["teams"][0]["slug"], json!("netops"), "{asked}");

    let target = format!("{REPO}#{pull}");
    let (code, s, err) = prgate_in(&w, &["status", &target, "--json"]);
    assert_eq!(
        (code, s["state"].clone()),
        (10, json!("pending")),
        "{s} {err}"
    );

    // Approval, merge, execution.
    w.approve("alice-token", pull).await;
    w.settle().await;
    let (code, s, err) = prgate_in(
        &w,
        &[
            "wait",
            &target,
            "--until",
            "executed",
            "--timeout",
            "30s",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{s} {err}");
    assert_eq!(s["state"], json!("executed"), "{s}");
    assert_eq!(s["execution"]["state"], json!("success"), "{s}");
    let merge = s["merge_sha"].as_str().unwrap().to_string();
    assert_eq!(w.git_out(&["rev-parse", &format!("{merge}^2")]), head);
    let message = w.git_out(&["log", "-1", "--format=%B", &merge]);
    for trailer in [
        format!("Prgate-Pull: {REPO}#{pull}"),
        format!("Prgate-Head: {head}"),
        "Prgate-Plan: sha256:".to_string(),
        "Approved-by: alice".to_string(),
    ] {
        assert!(message.contains(&trailer), "{trailer} not in {message}");
    }
    assert_eq!(w.runs(), vec![merge.clone()]);
    assert_eq!(
        std::fs::read_to_string(w.production().join("rules.toml")).unwrap(),
        "allow = [22, 443]\n"
    );

    // The note, on the code host's repository.
    w.comments_after_execution(pull).await;
    let note = w.note(&merge).expect("a prgate note on the merge");
    assert_eq!(note["execution"]["outcome"], json!("succeeded"), "{note}");

    // verify and audit, from a clone fetched over the root's git URL.
    let clone = w.agent_clone("auditor");
    git(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/prgate:refs/notes/prgate",
        ],
    );
    let repo_dir = clone.to_str().unwrap();
    let (code, report, err) = prgate_in(
        &w,
        &["verify", "--repo", repo_dir, "--commit", &merge, "--json"],
    );
    assert_eq!(code, 0, "{report} {err}");
    assert_eq!(report["holds"], json!(true), "{report}");
    let audit = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["audit", "--repo", repo_dir, "--format", "json"])
        .output()
        .unwrap();
    let audited: Value = serde_json::from_slice(&audit.stdout).unwrap_or(Value::Null);
    assert_eq!(audit.status.code(), Some(0), "{audited}");
    assert_eq!(audited["violations"], json!([]), "{audited}");

    assert_no_request_left_ghes_bases(&w).await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_completes_the_loop_on_github_enterprise_server() {
    let w = ghes_world(false).await;
    let seen = crate::mcp_server::run_mcp_client(&w).await;
    let pull = seen["proposal"]["pull"].as_u64().unwrap();
    assert_eq!(seen["pending"]["state"], json!("pending"), "{seen}");
    let pr = w.pull(pull).await;
    assert_eq!(pr["merged"], json!(true), "{pr}");
    assert_eq!(
        seen["decided"]["merge_sha"], pr["merge_commit_sha"],
        "{seen}"
    );
    assert_eq!(seen["denied"]["state"], json!("denied"), "{seen}");
    assert_no_request_left_ghes_bases(&w).await;
    w.shutdown().await;
}

/// `prgate demo --ghes`, as a person would run it: the whole demo against the GHES-shaped
/// simulator, which fails it if any call leaves GHES's bases.
#[test]
fn the_demo_runs_against_github_enterprise_server() {
    let out = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["demo", "--ghes"])
        .env("PRGATE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("/api/v3") && stdout.contains("/api/graphql (derived)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Every call stayed on GitHub Enterprise Server's bases"),
        "{stdout}"
    );
}

fn write_config(folder: &Path, config: &prgate::config::ServerConfig) -> std::path::PathBuf {
    std::fs::create_dir_all(folder).unwrap();
    let path = folder.join("prgate.toml");
    std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
    path
}

/// `prgate config check --config F [--json]`: (exit code, stdout, stderr).
fn config_check(path: &Path, json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prgate"));
    cmd.args(["config", "check", "--config"])
        .arg(path)
        .env("PRGATE_LOG", "warn");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_says_which_urls_it_derived_and_that_each_answers() {
    let w = ghes_world_without_gate(&[]).await;
    let (api, host) = (w.sim.api_url.clone(), w.sim.host_url.clone());
    let folder = w.tmp.path().join("etc");

    // The one URL: REST there, GraphQL derived, both answer.
    let config = gate_config(&api, Path::new(".prgate"), &["main"]);
    let path = write_config(&folder, &config);
    let (code, stdout, stderr) = config_check(&path, false);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("REST API: {api} (github.api_url)")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "GraphQL: {host}/api/graphql (derived from github.api_url)"
        )),
        "{stderr}"
    );
    let (code, stdout, _) = config_check(&path, true);
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["endpoints"],
        json!({"rest": api, "graphql": format!("{host}/api/graphql"), "graphql_from": "api_url"})
    );
    crate::json_contract::assert_valid("config-check", &out);
    assert_no_request_left_ghes_bases(&w).await;

    // The host's root as api_url (github.com's shape on a GHES host): REST answers 404, and
    // the error names the URL and what to write.
    let mut root = config.clone();
    root.github.api_url = host.clone();
    let (code, stdout, _) = config_check(&write_config(&folder, &root), true);
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 2, "{out}");
    let problem = &out["problems"][0];
    assert_eq!(problem["subject"], json!("github.api_url"), "{out}");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("the REST API at {host} answered 404"))
            && message.contains("https://HOST/api/v3"),
        "{message}"
    );

    // A graphql_url that GHES does not serve GraphQL at: the error names it.
    let mut wrong = config.clone();
    wrong.github.graphql_url = Some(format!("{api}/graphql"));
    let (code, stdout, _) = config_check(&write_config(&folder, &wrong), true);
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["endpoints"]["graphql_from"], json!("graphql_url"));
    let problem = &out["problems"][0];
    assert_eq!(problem["subject"], json!("github.graphql_url"), "{out}");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("GraphQL at {api}/graphql")) && message.contains("404"),
        "{message}"
    );

    // The override where GHES does serve it: fine.
    let mut right = config.clone();
    right.github.graphql_url = Some(format!("{host}/api/graphql"));
    let (code, stdout, _) = config_check(&write_config(&folder, &right), true);
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["endpoints"]["graphql_from"], json!("graphql_url"));

    // Only the two wrong configs asked outside GHES's bases.
    let off = w.sim.off_base_requests();
    assert_eq!(off.len(), 2, "{off:?}");
    assert!(off[0].starts_with("GET /user"), "{off:?}");
    assert!(off[1].starts_with("POST /api/v3/graphql"), "{off:?}");
    w.shutdown().await;
}
