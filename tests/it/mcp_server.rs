//! `prgate mcp` driven by a real MCP client that no one here wrote: the official Python SDK
//! (`mcp` from PyPI) runs the agent's whole loop against the simulator and the real gate
//! (tests/it/mcp_client.py): propose, pending, a designated human approves, decision reached;
//! and a denial that carries the reviewer's reason.

use serde_json::json;

use crate::common::harness::*;
use crate::common::python::py_dir;

/// Runs tests/it/mcp_client.py against the world (its simulator's API URL, whatever its
/// shape) and returns what the client saw; panics when the client fails.
pub(crate) async fn run_mcp_client(w: &World) -> serde_json::Value {
    let dir = w.agent_clone("agent");
    std::fs::write(dir.join("firewall/rules.toml"), "allow = [22, 8443]\n").unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .env("PYTHONPATH", py_dir())
        .env("PRGATE_BIN", env!("CARGO_BIN_EXE_prgate"))
        .env("PRGATE_TEST_API_URL", &w.sim.api_url)
        .env("PRGATE_TEST_REPO", REPO)
        .env("PRGATE_TEST_AGENT_TOKEN", "agent-token")
        .env("PRGATE_TEST_APPROVER_TOKEN", "alice-token")
        .env("PRGATE_TEST_DENIER_TOKEN", "carol-token")
        .env("PRGATE_TEST_WORKTREE", &dir)
        .env_remove("GITHUB_TOKEN")
        .env_remove("PRGATE_GITHUB_TOKEN");
    // The client blocks; the simulator and the gate go on serving on the runtime meanwhile.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed:\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_completes_the_approval_loop_and_hears_a_denial() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let seen = run_mcp_client(&w).await;

    // Only what an agent may do is on offer.
    assert_eq!(
        seen["tools"],
        json!([
            "explain_decision",
            "get_status",
            "propose_change",
            "wait_for_decision"
        ])
    );
    assert_eq!(seen["bad_input"]["exit_code"], json!(2), "{seen}");
    assert_eq!(seen["bad_input"]["error"]["kind"], json!("usage"), "{seen}");

    // The approval loop, and the code host agrees: merged with the approved head.
    let pull = seen["proposal"]["pull"].as_u64().unwrap();
    assert_eq!(seen["pending"]["state"], json!("pending"));
    let pr = w.pull(pull).await;
    assert_eq!(pr["merged"], json!(true), "{pr}");
    assert_eq!(seen["decided"]["merge_sha"], pr["merge_commit_sha"]);
    assert!(
        !seen["progress"].as_array().unwrap().is_empty(),
        "no progress notification while waiting: {seen}"
    );
    // The explanation says alice's approval counted, in the gate's terms.
    let approvals = seen["explained"]["approvals"].as_array().unwrap();
    assert!(
        approvals
            .iter()
            .any(|a| a["login"] == json!("alice") && a["counts"] == json!(true)),
        "{seen}"
    );
    assert_eq!(seen["explained"]["rules"][0]["name"], json!("firewall"));

    // The denial, with the reviewer's reason.
    assert_eq!(seen["denied"]["state"], json!("denied"), "{seen}");
    assert_eq!(
        seen["denied"]["reason"],
        json!("port 0 opens everything; no")
    );
    assert_eq!(seen["denied"]["exit_code"], json!(20));
    w.shutdown().await;
}
