//! A PR is hostile input until a human approved it: plans run on an agent's proposal before
//! anyone looked at it, so nothing in it may reach prgate's secrets, files or time. Each test
//! is an attack an agent holding write access would try, through the simulator with real git
//! and real plan processes, and each proves the gate saw it.

use std::time::Duration;

use crate::common::harness::*;
use crate::informed_review::{merged, plan_status, propose};
use prgate::config::SecretRef;

/// The plan main holds for these tests: it reads what the PR asks it to (`firewall/probe`, one
/// path a line) and says whether it could, tries the address in `firewall/connect`, and shows
/// the proposed rules. The program is approved content; the PR only chooses its input.
const PROBE_PLAN: &str = r#"#!/bin/sh
echo "plan program: probe"
if [ -f firewall/probe ]; then
  while IFS= read -r p; do
    if [ -d "$p" ]; then
      if ls "$p" >/dev/null 2>&1; then echo "read $p"; else echo "denied $p"; fi
    elif cat "$p" >/dev/null 2>&1; then echo "read $p"; else echo "denied $p"; fi
  done < firewall/probe
fi
if [ -f firewall/connect ]; then
  if curl -s -o /dev/null --max-time 5 "$(cat firewall/connect)"; then echo "connected"; else echo "no connection"; fi
fi
if [ "$(cat firewall/plan-hangs 2>/dev/null)" = "1" ]; then sleep 60; fi
echo "wanted: $(cat firewall/rules.toml)"
"#;

const PLAN_READ_TOKEN: &str = "plan-read-9e1f00d5";

async fn world(plan_network: bool, timeout: Duration) -> World {
    world_with_slots(plan_network, timeout, 2).await
}

async fn world_with_slots(plan_network: bool, timeout: Duration, plan_slots: usize) -> World {
    let w =
        World::start_without_gate_with(POLICY, SEED, &[("scripts/plan-firewall.sh", PROBE_PLAN)])
            .await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    let exec = w.exec_dir();
    let mut fw = firewall_executor(
        &exec,
        &ExecSettings {
            timeout,
            paused: false,
        },
    );
    std::fs::write(exec.join("plan-read.secret"), PLAN_READ_TOKEN).unwrap();
    // A signing key in a file, as the README puts it under /etc/prgate.
    std::fs::write(exec.join("note.key"), "7".repeat(64)).unwrap();
    config.note_signing_key = Some(SecretRef::File(exec.join("note.key")));
    fw.plan = Some(vec!["sh".into(), "scripts/plan-firewall.sh".into()]);
    fw.program_paths = Some(vec![
        "scripts/apply-firewall.sh".into(),
        "scripts/plan-firewall.sh".into(),
    ]);
    fw.plan_env = [(
        "PLAN_READ_TOKEN".to_string(),
        SecretRef::File(exec.join("plan-read.secret")),
    )]
    .into_iter()
    .collect();
    fw.plan_network = plan_network;
    config.executors.insert("firewall".into(), fw);
    config.runtime.plans = plan_slots;
    w.with_gate(config, test_client_options()).await
}

/// Every secret the gate holds, none of which may reach anything a reader of the PR sees.
fn gate_secrets() -> Vec<String> {
    vec![
        FIREWALL_TOKEN.to_string(),
        PLAN_READ_TOKEN.to_string(),
        SECRET.to_string(),
        "prgate-token".to_string(),
        "7".repeat(64),
    ]
}

async fn assert_nothing_leaked(w: &World, n: u64, head: &str) {
    let comments = w.comments_text(n).await;
    let status = w.approval(head).await.map(|s| s.1).unwrap_or_default();
    let page = w.admin_page(&format!("/pulls/acme/infra/{n}")).await;
    for secret in gate_secrets() {
        for (what, text) in [
            ("comments", &comments),
            ("status", &status),
            ("page", &page),
        ] {
            assert!(
                !text.contains(&secret),
                "{secret} leaked into the {what}: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_out_of_the_checkout_refuses_the_plan_and_names_the_path() {
    let w = world(false, Duration::from_secs(30)).await;
    let key = w.exec_dir().join("note.key");
    let environ = format!("/proc/{}/environ", std::process::id());
    for (branch, target) in [
        ("leak-environ", environ.as_str()),
        ("leak-key", key.to_str().unwrap()),
        ("block-on-ptmx", "/dev/ptmx"),
        ("climb-out", "../../../../../../etc/hostname"),
    ] {
        let link = format!("{LINK_TO}{target}");
        let (n, head) = propose(&w, branch, &[("firewall/rules.toml", &link)]).await;
        let (state, description) = plan_status(&w, &head).await;
        assert_eq!(state, "error", "{branch}: {description}");
        assert!(
            description.contains("firewall/rules.toml") && description.contains("symlink"),
            "{branch}: the status names the refused link: {description}"
        );
        assert_nothing_leaked(&w, n, &head).await;
    }
    assert!(w.runs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reads_only_its_checkout_and_the_system() {
    if prgate::executor::sandbox::kernel_abi().is_none() {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    let w = world(false, Duration::from_secs(30)).await;
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let probes = [
        home.clone(),
        w.exec_dir().display().to_string(),
        w.exec_dir().join("note.key").display().to_string(),
        w.exec_dir()
            .join("firewall-token.secret")
            .display()
            .to_string(),
        w.data_dir.display().to_string(),
        w.data_dir.join("queue").display().to_string(),
        format!("/proc/{}/environ", std::process::id()),
        "/etc/hostname".to_string(),
    ];
    let probe_list = probes.join("\n") + "\n/usr/bin/env\nfirewall/rules.toml\n";
    let (n, head) = propose(
        &w,
        "probe",
        &[
            ("firewall/rules.toml", "allow = [22, 8443]\n"),
            ("firewall/probe", &probe_list),
        ],
    )
    .await;
    let (state, description) = plan_status(&w, &head).await;
    assert_eq!(state, "pending", "{description}");
    let comments = w.comments_text(n).await;
    for p in &probes {
        assert!(
            comments.contains(&format!("denied {p}")),
            "the sandbox let the plan read {p}: {comments}"
        );
    }
    // What it needs still works: programs, and its own checkout.
    assert!(comments.contains("read /usr/bin/env"), "{comments}");
    assert!(comments.contains("read firewall/rules.toml"), "{comments}");
    assert!(
        comments.contains("wanted: allow = [22, 8443]"),
        "{comments}"
    );
    assert_nothing_leaked(&w, n, &head).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_has_no_tcp_unless_plan_network_is_set() {
    if prgate::executor::sandbox::kernel_abi().is_none_or(|abi| abi < 4) {
        eprintln!("skipped: this kernel's Landlock cannot restrict TCP");
        return;
    }
    for (plan_network, expected) in [(false, "no connection"), (true, "connected")] {
        let w = world(plan_network, Duration::from_secs(30)).await;
        let (n, head) = propose(
            &w,
            "phone-home",
            &[
                ("firewall/rules.toml", "allow = [22, 9443]\n"),
                ("firewall/connect", &format!("{}/user", w.sim.api_url)),
            ],
        )
        .await;
        plan_status(&w, &head).await;
        let comments = w.comments_text(n).await;
        assert!(
            comments.lines().any(|l| l.trim() == expected),
            "plan_network = {plan_network}: {comments}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitattributes_do_not_change_the_bytes_the_executor_applies() {
    let w = world(false, Duration::from_secs(30)).await;
    let rules = "allow = [22, 25]\n# $Id$\n";
    let (n, head) = propose(
        &w,
        "attributes",
        &[
            (".gitattributes", "firewall/* eol=crlf ident\n"),
            ("firewall/rules.toml", rules),
        ],
    )
    .await;
    plan_status(&w, &head).await;
    // The plan saw the tree's bytes too.
    let comments = w.comments_text(n).await;
    assert!(comments.contains("# $Id$"), "{comments}");
    // alice is a maintainer (the defaults, for .gitattributes) and in netops (the firewall).
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = merged(&w, n).await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    let applied = std::fs::read(w.production().join("rules.toml")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&applied),
        rules,
        "the executor applied converted bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_writes_its_sandbox_write_folder_and_nowhere_else() {
    if prgate::executor::sandbox::kernel_abi().is_none() {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let work = dir.path().join("checkout");
    std::fs::create_dir_all(&work).unwrap();
    let script = format!(
        "echo a > {a}/ok && echo ok-allowed; echo b > {o}/no && echo wrote-other; echo c > ./here && echo ok-checkout; echo d > \"$TMPDIR/t\" && echo ok-tmp; cat {o}/../allowed/ok >/dev/null && echo read-allowed",
        a = allowed.display(),
        o = other.display()
    );
    let spec = prgate::executor::RunSpec {
        argv: vec!["sh".into(), "-c".into(), script],
        workdir: work.clone(),
        git_dir: None,
        env: vec![],
        context: vec![],
        timeout: Duration::from_secs(30),
        output_cap: 1 << 16,
        isolation: prgate::executor::sandbox::Isolation::Sandboxed(
            prgate::executor::sandbox::SandboxRules {
                read_write: vec![allowed.clone()],
                read_only: vec![],
                network: true,
            },
        ),
        held: Default::default(),
    };
    let r = prgate::executor::run_executor(&spec, tokio_util::sync::CancellationToken::new()).await;
    for line in ["ok-allowed", "ok-checkout", "ok-tmp", "read-allowed"] {
        assert!(r.output.contains(line), "{line}: {}", r.output);
    }
    assert!(!r.output.contains("wrote-other"), "{}", r.output);
    assert!(allowed.join("ok").exists());
    assert!(!other.join("no").exists());
    // The run's temporary folder is gone with it.
    assert!(!dir.path().join("checkout.tmp").exists());

    // The same spec without Landlock would not start: say so, never run unconfined. (Only
    // checkable where a missing folder stands in for a kernel that cannot confine.)
    let mut broken = spec.clone();
    broken.isolation =
        prgate::executor::sandbox::Isolation::Sandboxed(prgate::executor::sandbox::SandboxRules {
            read_write: vec![dir.path().join("missing")],
            read_only: vec![],
            network: true,
        });
    let r =
        prgate::executor::run_executor(&broken, tokio_util::sync::CancellationToken::new()).await;
    assert_eq!(r.outcome, prgate::record::note::Outcome::NotStarted);
    assert!(r.output.contains("sandbox"), "{}", r.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_plans_never_delay_an_approved_execution() {
    let w = world(false, Duration::from_secs(120)).await;
    let (n, head) = propose(
        &w,
        "approved",
        &[("firewall/rules.toml", "allow = [22, 587]\n")],
    )
    .await;
    let (state, _) = plan_status(&w, &head).await;
    assert_eq!(state, "pending");
    // Four agent PRs whose plans hang: more than the plan pool's two slots.
    let mut hanging = Vec::new();
    for i in 0..4 {
        let (_, h) = propose(
            &w,
            &format!("hang-{i}"),
            &[
                ("firewall/rules.toml", &format!("allow = [{i}]\n")),
                ("firewall/plan-hangs", "1\n"),
            ],
        )
        .await;
        hanging.push(h);
    }
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = merged(&w, n).await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    // It ran while every hanging plan was still running or waiting for a slot.
    for h in &hanging {
        let (_, d, _) = w.approval(h).await.expect("a status");
        assert!(d.contains("running"), "{h}: {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_head_cancels_the_plan_of_the_old_one() {
    // One plan slot: the new head's plan can only run once the old one is gone.
    let w = world_with_slots(false, Duration::from_secs(120), 1).await;
    let (_, old) = propose(
        &w,
        "superseded",
        &[
            ("firewall/rules.toml", "allow = [1]\n"),
            ("firewall/plan-hangs", "1\n"),
        ],
    )
    .await;
    let (_, d, _) = w.approval(&old).await.expect("a status on the old head");
    assert!(d.contains("running"), "{d}");
    let new = w.commit_and_push(
        "superseded",
        &[("firewall/plan-hangs", "0\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "no hang",
    );
    w.settle().await;
    let (state, description) = plan_status(&w, &new).await;
    assert_eq!(state, "pending", "{description}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_warns_about_an_executor_without_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prgate.toml");
    std::fs::write(dir.path().join("webhook.secret"), "a-webhook-secret-value").unwrap();
    std::fs::write(dir.path().join("token.secret"), "a-token-value-12345").unwrap();
    let text = format!(
        r#"webhook_secrets = ["file:{d}/webhook.secret"]
[github]
api_url = "http://127.0.0.1:9"
token = "file:{d}/token.secret"
[[repos]]
name = "acme/infra"
[executors.firewall]
command = ["sh", "scripts/apply.sh"]
repos = ["acme/infra"]
sandbox = "off"
"#,
        d = dir.path().display()
    );
    std::fs::write(&config, text).unwrap();
    let (_, _, err) = config_check(&config);
    assert!(
        err.contains("warning") && err.contains("without a sandbox"),
        "{err}"
    );
    // A non-loopback admin listener without a token does not start at all.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "webhook_secrets",
        "admin_listen = \"0.0.0.0:9090\"\nwebhook_secrets",
    );
    std::fs::write(&config, text).unwrap();
    let (code, _, err) = config_check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("admin_token"), "{err}");
    // And a sandbox setting that is neither form says what it takes.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("sandbox = \"off\"", "sandbox = \"none\"");
    std::fs::write(&config, text).unwrap();
    let (code, _, err) = config_check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"off\" or a table"), "{err}");
}

pub(crate) fn config_check(config: &std::path::Path) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["config", "check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_symlinks_target_needs_the_rules_approvers() {
    // main holds the firewall rules in a shared folder, linked from the governed path.
    let w = World::start_without_gate_with(
        POLICY,
        SEED,
        &[
            ("shared/rules.toml", "allow = [22]\n"),
            (
                "firewall/rules.toml",
                &format!("{LINK_TO}../shared/rules.toml"),
            ),
        ],
    )
    .await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config.executors.insert(
        "firewall".into(),
        firewall_executor(&w.exec_dir(), &ExecSettings::default()),
    );
    let w = w.with_gate(config, test_client_options()).await;
    // The agent changes only the link's target; dave, a maintainer but no firewall approver,
    // approves it. The gate read the link on main: the firewall rule governs the target.
    let (n, head) = propose(&w, "via-link", &[("shared/rules.toml", "allow = [0]\n")]).await;
    w.approve("dave-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.expect("a status");
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("alice") || description.contains("acme/netops"),
        "the gate asks the firewall approvers: {description}"
    );
    assert!(
        w.pull(n).await["merge_commit_sha"].is_null(),
        "merged on dave's approval"
    );
    // An admin merges past the gate: the executor sees the link too, and runs nothing.
    let (code, body) = w
        .api(
            "root-token",
            reqwest::Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/merge"),
            Some(serde_json::json!({"merge_method": "merge"})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let merge = merged(&w, n).await;
    let (state, description) = w.execution_result(&merge).await;
    assert_ne!(state, "success", "{description}");
    assert!(
        w.runs().is_empty(),
        "the firewall executor applied a target nobody approved"
    );
    assert!(
        description.contains("dave is not a designated approver of firewall"),
        "{description}"
    );
}

#[test]
fn policy_check_lists_governed_symlinks_and_their_targets() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init", "-q"]);
    std::fs::create_dir_all(repo.join(".github")).unwrap();
    std::fs::create_dir_all(repo.join("firewall")).unwrap();
    std::fs::create_dir_all(repo.join("shared")).unwrap();
    std::fs::write(repo.join(".github/prgate.toml"), POLICY).unwrap();
    std::fs::write(repo.join("shared/rules.toml"), "allow = [22]\n").unwrap();
    std::os::unix::fs::symlink("../shared/rules.toml", repo.join("firewall/rules.toml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.join("firewall/passwd")).unwrap();
    std::os::unix::fs::symlink("shared/rules.toml", repo.join("ungoverned-link")).unwrap();
    run(&["add", "-A"]);
    run(&["commit", "-q", "-m", "links"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(["policy", "check"])
        .arg(repo.join(".github/prgate.toml"))
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains(
            "firewall/rules.toml is a symlink to shared/rules.toml: rule firewall governs shared/rules.toml too"
        ),
        "{v}"
    );
    assert!(
        warnings.contains("firewall/passwd is a symlink that leaves the repository"),
        "{v}"
    );
    assert!(!warnings.contains("ungoverned-link"), "{v}");
}

/// Seconds from an approval to the approved change's execution ending, in a fresh world
/// where `hanging` agent PRs' plans hang (more than the plan pool holds) when it is approved.
async fn approval_to_execution(hanging: usize) -> f64 {
    let w = world(false, Duration::from_secs(300)).await;
    let (n, head) = propose(
        &w,
        "approved",
        &[("firewall/rules.toml", "allow = [22, 587]\n")],
    )
    .await;
    plan_status(&w, &head).await;
    for i in 0..hanging {
        propose(
            &w,
            &format!("hang-{i}"),
            &[
                ("firewall/rules.toml", &format!("allow = [{i}]\n")),
                ("firewall/plan-hangs", "1\n"),
            ],
        )
        .await;
    }
    let started = std::time::Instant::now();
    w.approve("alice-token", n).await;
    let merge = merged(&w, n).await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    started.elapsed().as_secs_f64()
}

/// The delay blocked plans add to an approved execution, against a baseline measured in the
/// same run (scripts/bench-plans.sh runs it and prints the figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by scripts/bench-plans.sh"]
async fn bench_plan_delay() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let hanging: usize = std::env::var("HANGING")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut quiet, mut blocked) = (Vec::new(), Vec::new());
    // Alternating, so that a noisy moment hits both.
    for _ in 0..rounds {
        quiet.push(approval_to_execution(0).await);
        blocked.push(approval_to_execution(hanging).await);
    }
    let (q, b) = (median(quiet.clone()), median(blocked.clone()));
    println!("approval -> execution ended, median of {rounds} rounds");
    println!("  no other plans:           {q:.2} s  {quiet:.2?}");
    println!("  {hanging} plans hanging (2 slots): {b:.2} s  {blocked:.2?}");
    println!("  ratio: {:.2}", b / q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_whole_plan_the_comment_clips() {
    let w = world(false, Duration::from_secs(30)).await;
    // A plan output past the comment's 30,000 characters.
    let long: String = (0..2_000)
        .map(|i| format!("# line {i:05} of the rules\n"))
        .collect();
    let rules = format!("allow = [22]\n{long}# the last line\n");
    let (n, head) = propose(&w, "long-plan", &[("firewall/rules.toml", &rules)]).await;
    let (state, description) = plan_status(&w, &head).await;
    assert_eq!(state, "pending", "{description}");
    let comments = w.comments_text(n).await;
    assert!(comments.contains("# line 00010 of the rules"), "{comments}");
    assert!(
        !comments.contains("# the last line"),
        "the comment was not clipped"
    );
    let page = w.admin_page(&format!("/pulls/acme/infra/{n}")).await;
    assert!(
        page.contains("# line 01999 of the rules"),
        "the page clipped the plan"
    );
    assert!(
        page.contains("# the last line"),
        "the page clipped the plan"
    );
}
