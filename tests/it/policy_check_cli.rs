//! `prgate policy check FILE --config prgate.toml`, with the code host reachable (the
//! simulator): executor programs no rule running it covers, teams that do not exist, and rules
//! whose only approvers can never approve are reported before a PR meets them.

use crate::common::harness::*;

fn write_config(w: &World, program_paths: &str) -> std::path::PathBuf {
    let token = w.tmp.path().join("check-token.secret");
    std::fs::write(&token, "prgate-token").unwrap();
    let p = w.tmp.path().join("prgate.toml");
    std::fs::write(
        &p,
        format!(
            r#"webhook_secrets = ["env:X"]
[github]
api_url = "{api}"
token = "file:{token}"
[[repos]]
name = "{REPO}"
[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh"]
repos = ["{REPO}"]
{program_paths}
"#,
            api = w.sim.api_url,
            token = token.display(),
        ),
    )
    .unwrap();
    p
}

fn check(w: &World, policy: &str, config: &std::path::Path) -> (i32, serde_json::Value) {
    let file = w.tmp.path().join("policy.toml");
    std::fs::write(&file, policy).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["policy", "check"])
        .arg(&file)
        .arg("--config")
        .arg(config)
        .arg("--json")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_program_no_rule_running_it_covers_is_an_error() {
    let w = World::start_without_gate(POLICY).await;
    // Without program_paths, every argument naming a repository file is the program: covered.
    let (code, v) = check(&w, POLICY, &write_config(&w, ""));
    assert_eq!(code, 0, "{v}");
    // program_paths that name something else leave the script the command runs uncovered.
    let (code, v) = check(
        &w,
        POLICY,
        &write_config(&w, r#"program_paths = ["scripts/lib/**"]"#),
    );
    assert_eq!(code, 2, "{v}");
    let errors = v["errors"].to_string();
    assert!(
        errors.contains("rule \\\"firewall\\\" runs executor \\\"firewall\\\", whose program scripts/apply-firewall.sh no rule running it covers"),
        "{v}"
    );
    assert!(errors.contains("program_paths"), "{v}");
    let (code, v) = check(
        &w,
        POLICY,
        &write_config(&w, r#"program_paths = ["scripts/apply-firewall.sh"]"#),
    );
    assert_eq!(code, 0, "{v}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_teams_and_rules_nobody_can_approve_are_errors() {
    let w = World::start_without_gate(POLICY).await;
    let config = write_config(&w, r#"program_paths = ["scripts/apply-firewall.sh"]"#);
    let policy = POLICY
        .replace(
            "teams = [\"acme/security\"] }\nmin_approvals = 1",
            "teams = [\"acme/nope\"] }\nmin_approvals = 1",
        )
        .replace(
            "approvers = { teams = [\"acme/security\"] }\nmin_approvals = 2",
            "approvers = { users = [\"release-bot\", \"helper[bot]\"] }\nmin_approvals = 1",
        );
    assert_ne!(policy, POLICY);
    let (code, v) = check(&w, &policy, &config);
    assert_eq!(code, 2, "{v}");
    let errors = v["errors"].to_string();
    assert!(errors.contains("team acme/nope does not exist"), "{v}");
    assert!(
        errors.contains("rule \\\"policy\\\" can never be approved"),
        "{v}"
    );
    // A listed login that is no account at all: whoever registers it would become an approver.
    let ghost = POLICY.replace(
        "users = [\"alice\",",
        "users = [\"no-such-person\", \"alice\",",
    );
    assert_ne!(ghost, POLICY);
    let (code, v) = check(&w, &ghost, &config);
    assert_eq!(code, 2, "{v}");
    assert!(
        v["errors"]
            .to_string()
            .contains("user no-such-person does not exist"),
        "{v}"
    );
    // helper[bot] in the harness policy is a bot: a warning, since people approve that rule.
    assert!(
        v["warnings"]
            .to_string()
            .contains("helper[bot] is an account of type Bot"),
        "{v}"
    );
    w.shutdown().await;
}

#[test]
fn config_check_lists_each_executors_program_and_warns_about_an_inline_script() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prgate.toml");
    std::fs::write(dir.path().join("webhook.secret"), "a-webhook-secret-value").unwrap();
    std::fs::write(dir.path().join("token.secret"), "a-token-value-12345").unwrap();
    std::fs::write(
        &config,
        format!(
            r#"webhook_secrets = ["file:{d}/webhook.secret"]
[github]
api_url = "http://127.0.0.1:9"
token = "file:{d}/token.secret"
[[repos]]
name = "acme/infra"
[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh", "--dry-run=no"]
plan = ["python3", "plan.py"]
repos = ["acme/infra"]
[executors.dns]
command = ["sh", "-c", "./scripts/apply-dns.sh $ZONE"]
repos = ["acme/infra"]
"#,
            d = dir.path().display()
        ),
    )
    .unwrap();
    let (_, _, err) = crate::isolation::config_check(&config);
    assert!(
        err.contains("executor firewall: its program is plan.py, scripts/apply-firewall.sh"),
        "{err}"
    );
    assert!(
        err.contains("executor dns runs an inline script (sh -c ./scripts/apply-dns.sh $ZONE)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_check_prints_each_approvers_pinned_form() {
    let w = World::start_without_gate(POLICY).await;
    let config = write_config(&w, r#"program_paths = ["scripts/apply-firewall.sh"]"#);
    let (_, alice) = w
        .api("alice-token", reqwest::Method::GET, "/users/alice", None)
        .await;
    let id = alice["id"].as_u64().unwrap();
    let (code, v) = check(&w, POLICY, &config);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["warnings"]
            .to_string()
            .contains(&format!("pin it as \\\"alice#{id}\\\"")),
        "{v}"
    );
    // A pinned approver whose login now names another account is reported.
    w.sim.rename_user("alice", "alice-old").unwrap();
    w.sim.register_user("alice", "squatter-token").unwrap();
    let pinned = POLICY.replace("users = [\"alice\",", &format!("users = [\"alice#{id}\","));
    let (code, v) = check(&w, &pinned, &config);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["warnings"].to_string().contains(&format!(
            "is pinned to account {id}, but the login alice belongs to account"
        )),
        "{v}"
    );
    w.shutdown().await;
}
