//! The gate's own environment never reaches an executor. In its own test binary, because it
//! changes the process environment.

use std::time::Duration;

use prgate::executor::{RunSpec, run_executor};
use prgate::record::note::Outcome;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_gates_environment_is_not_inherited() {
    // SAFETY: the only test in this binary, set before any other thread reads the environment.
    unsafe {
        std::env::set_var("GITHUB_TOKEN", "ghp_gate_token_must_not_leak");
        std::env::set_var("PRGATE_WEBHOOK_SECRET", "webhook-secret-must-not-leak");
        std::env::set_var("LANG", "C.UTF-8");
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = RunSpec {
        argv: vec!["sh".into(), "-c".into(), "env".into()],
        workdir: dir.path().to_path_buf(),
        git_dir: None,
        env: vec![],
        context: vec![("PRGATE_MERGE_SHA".into(), "a".repeat(40))],
        timeout: Duration::from_secs(30),
        output_cap: 1 << 20,
        isolation: prgate::executor::sandbox::Isolation::Off,
        held: Default::default(),
    };
    let r = run_executor(&spec, CancellationToken::new()).await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert!(!r.output.contains("GITHUB_TOKEN"), "{}", r.output);
    assert!(!r.output.contains("must_not_leak"));
    assert!(!r.output.contains("PRGATE_WEBHOOK_SECRET"));
    assert!(r.output.contains("LANG=C.UTF-8"), "{}", r.output);
    assert!(
        r.output
            .contains(&format!("PRGATE_MERGE_SHA={}", "a".repeat(40)))
    );
    let names: Vec<&str> = r
        .output
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "TMPDIR",
        "PRGATE_MERGE_SHA",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
        // git pinned to the run's repository and prgate's settings (executor_hardening.rs).
        "GIT_CEILING_DIRECTORIES",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_COUNT",
    ];
    for n in names {
        assert!(
            allowed.contains(&n)
                || n.starts_with("GIT_CONFIG_KEY_")
                || n.starts_with("GIT_CONFIG_VALUE_"),
            "unexpected variable {n} reached the executor"
        );
    }
}
