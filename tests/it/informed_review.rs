//! Informed review: the executor's plan is shown on the PR before anyone approves, bound into
//! the merge (`Prgate-Plan`) and the record, and run again before the command — only the
//! effect a human approved is ever applied. Real git, real plan processes, the simulator.

use std::time::Duration;

use crate::common::harness::*;
use prgate::config::SecretRef;
use serde_json::json;

const AGENT: &str = "agent-token";

/// The firewall's plan, as main holds it: the live rules (production) against the proposed
/// ones. A `firewall/plan-fails` file in the change makes it fail, `firewall/plan-hangs` makes
/// it outlast its timeout; `firewall/print-env` makes it print its environment.
const PLAN_SCRIPT: &str = r#"#!/bin/sh
set -e
if [ -f firewall/plan-fails ]; then echo "cannot read the live firewall" >&2; exit 3; fi
if [ -f firewall/plan-hangs ]; then sleep 30; fi
echo "plan program: approved"
echo "live: $(cat "$PROD_DIR/rules.toml" 2>/dev/null || echo none)"
echo "wanted: $(cat firewall/rules.toml)"
if [ -f firewall/print-env ]; then env | LC_ALL=C sort; fi
"#;

/// The plan's only secret besides the production folder: a read-only credential.
const PLAN_READ_TOKEN: &str = "plan-read-51c0ffee";

/// The world with the firewall executor and its plan; the plan script is in main's first
/// commit (so it is approved content, not a direct push after the policy).
async fn world() -> World {
    world_with(ExecSettings::default()).await
}

async fn world_with(settings: ExecSettings) -> World {
    let w =
        World::start_without_gate_with(POLICY, SEED, &[("scripts/plan-firewall.sh", PLAN_SCRIPT)])
            .await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config
        .executors
        .insert("firewall".into(), planned_executor(&w, &settings));
    w.with_gate(config, test_client_options()).await
}

fn planned_executor(w: &World, settings: &ExecSettings) -> prgate::config::ExecutorConfig {
    let exec = w.exec_dir();
    let mut fw = firewall_executor(&exec, settings);
    std::fs::write(exec.join("plan-read.secret"), PLAN_READ_TOKEN).unwrap();
    fw.plan = Some(vec!["sh".into(), "scripts/plan-firewall.sh".into()]);
    fw.program_paths = Some(vec![
        "scripts/apply-firewall.sh".into(),
        "scripts/plan-firewall.sh".into(),
    ]);
    fw.plan_env = [
        (
            "PROD_DIR".to_string(),
            SecretRef::File(exec.join("prod-dir.secret")),
        ),
        (
            "PLAN_READ_TOKEN".to_string(),
            SecretRef::File(exec.join("plan-read.secret")),
        ),
    ]
    .into_iter()
    .collect();
    fw
}

pub(crate) async fn propose(w: &World, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
    let head = w.commit_and_push(
        branch,
        files,
        "ops-agent[bot]",
        "ops-agent[bot]",
        "firewall change",
    );
    let n = w.open_pr(AGENT, branch, "main", "firewall change").await;
    w.settle().await;
    (n, head)
}

/// Waits until the status on `head` speaks of the plan (shown, or failed): (state, description).
pub(crate) async fn plan_status(w: &World, head: &str) -> (String, String) {
    let mut last = None;
    for _ in 0..1000 {
        if let Some((state, description, _)) = w.approval(head).await {
            if description.starts_with("plan ") && !description.contains("running") {
                return (state, description);
            }
            last = Some((state, description));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the plan never showed on {head}: {last:?}");
}

/// The digest in prgate's plan comment for `head`.
fn plan_digest(comments: &str, head: &str) -> String {
    let marker = format!("<!-- prgate:plan executor=firewall head={head} digest=");
    let start = comments
        .find(&marker)
        .unwrap_or_else(|| panic!("no plan comment for {head}: {comments}"))
        + marker.len();
    comments[start..start + 71].to_string()
}

fn merge_message(w: &World, merge: &str) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(w.bare_dir())
        .args(["log", "-1", "--format=%B", merge])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub(crate) async fn merged(w: &World, n: u64) -> String {
    for _ in 0..500 {
        if let Some(m) = w.pull(n).await["merge_commit_sha"].as_str() {
            return m.to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("#{n} was not merged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_shown_before_approval_bound_into_the_record_and_applied_once() {
    let w = world().await;
    let (n, head) = propose(
        &w,
        "open-443",
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
    )
    .await;
    let (state, description) = plan_status(&w, &head).await;
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("needs 1 approval from alice"),
        "{description}"
    );
    let comments = w.comments_text(n).await;
    let digest = plan_digest(&comments, &head);
    assert!(
        description.starts_with(&format!("plan {}…", &digest[7..13])),
        "{description}"
    );
    for line in [
        "plan program: approved",
        "live: none",
        "wanted: allow = [22, 443]",
    ] {
        assert!(comments.contains(line), "{line} in {comments}");
    }

    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = merged(&w, n).await;
    let message = merge_message(&w, &merge);
    assert!(
        message.contains(&format!("\nPrgate-Plan: {digest}\n")),
        "{message}"
    );
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(
        state,
        "success",
        "{description}: {}",
        w.comments_text(n).await
    );
    assert_eq!(w.runs(), vec![merge.clone()]);
    let note = w.note(&merge).expect("a note");
    assert_eq!(note["plan"]["digest"], json!(digest));
    let size = note["plan"]["size"].as_u64().unwrap();
    assert_eq!(
        size as usize,
        "plan program: approved\nlive: none\nwanted: allow = [22, 443]\n".len()
    );
    assert_eq!(note["execution"]["plan"]["digest"], json!(digest));

    // An unchanged world applies exactly once: another pass or push never runs it again.
    w.gate().gate.reconcile_once().await;
    w.commit_and_push("main", &[("README.md", "more\n")], "root", "root", "docs");
    w.settle().await;
    w.gate().gate.reconcile_once().await;
    assert_eq!(w.runs(), vec![merge.clone()]);

    // The record with its plan holds for `prgate verify`, from git alone.
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
    let (code, report, err) = prgate_cli(
        &w,
        None,
        &[
            "verify",
            "--repo",
            clone.to_str().unwrap(),
            "--commit",
            &merge,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{report} {err}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_program_changed_in_the_pr_is_not_the_one_that_runs() {
    let w = world().await;
    // The change touches only the plan script: its own code must not run, and changing it
    // needs the firewall rule's approvers (not the defaults').
    let (n, head) = propose(
        &w,
        "rewrite-plan",
        &[(
            "scripts/plan-firewall.sh",
            "#!/bin/sh\necho \"plan program: from the PR\"\necho \"$FIREWALL_TOKEN\"\n",
        )],
    )
    .await;
    let (state, description) = plan_status(&w, &head).await;
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains("acme/netops (firewall)"),
        "the firewall rule's approvers: {description}"
    );
    let comments = w.comments_text(n).await;
    assert!(comments.contains("plan program: approved"), "{comments}");
    assert!(!comments.contains("from the PR"), "{comments}");
    assert!(!comments.contains(FIREWALL_TOKEN), "{comments}");

    // dave maintains the repository but is no firewall approver: his approval does not count.
    w.approve("dave-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    // The gate saw the review and set it aside, naming dave and why.
    assert!(
        description.contains("dave is not a designated approver of firewall"),
        "{description}"
    );
    assert_eq!(w.pull(n).await["merged"], json!(false));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_but_plan_env_is_visible_to_a_plan() {
    let w = world().await;
    let (n, head) = propose(
        &w,
        "print-env",
        &[
            ("firewall/rules.toml", "allow = [22, 8080]\n"),
            ("firewall/print-env", "yes\n"),
        ],
    )
    .await;
    plan_status(&w, &head).await;
    let comments = w.comments_text(n).await;
    // The plan printed its whole environment: what a program needs, its plan_env (redacted).
    assert!(comments.contains("\nPATH="), "{comments}");
    assert!(
        comments.contains("PLAN_READ_TOKEN=[REDACTED]"),
        "{comments}"
    );
    assert!(comments.contains("PROD_DIR=[REDACTED]"), "{comments}");
    for absent in [
        PLAN_READ_TOKEN,
        "FIREWALL_TOKEN",
        FIREWALL_TOKEN,
        "PRGATE_TEST_TOKEN",
        "prgate-token",
        "PRGATE_TEST_WEBHOOK_SECRET",
        SECRET,
        "GITHUB_TOKEN",
    ] {
        assert!(
            !comments.contains(absent),
            "{absent} visible to the plan: {comments}"
        );
    }
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plan_is_an_error_and_no_approval_counts() {
    let w = world().await;
    let (n, head) = propose(
        &w,
        "plan-fails",
        &[
            ("firewall/rules.toml", "allow = [22, 25]\n"),
            ("firewall/plan-fails", "yes\n"),
        ],
    )
    .await;
    let (state, description) = plan_status(&w, &head).await;
    assert_eq!(state, "error", "{description}");
    assert!(
        description.contains("failed with exit code 3"),
        "{description}"
    );
    assert!(
        w.comments_text(n).await.contains("The plan failed"),
        "the PR is told"
    );
    w.approve("alice-token", n).await;
    w.settle().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "error", "{description}");
    assert_eq!(w.pull(n).await["merged"], json!(false));
    assert!(w.runs().is_empty());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_past_its_timeout_is_an_error() {
    let w = world_with(ExecSettings {
        timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let (n, head) = propose(
        &w,
        "plan-hangs",
        &[
            ("firewall/rules.toml", "allow = [22, 26]\n"),
            ("firewall/plan-hangs", "yes\n"),
        ],
    )
    .await;
    let (state, description) = plan_status(&w, &head).await;
    assert_eq!(state, "error", "{description}");
    assert!(description.contains("timed out after 2s"), "{description}");
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "error");
    assert_eq!(w.pull(n).await["merged"], json!(false));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_drifted_after_approval_is_refused_recorded_and_replanned_by_execute() {
    let w = world().await;
    let (n, head) = propose(
        &w,
        "drift",
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
    )
    .await;
    plan_status(&w, &head).await;
    let digest = plan_digest(&w.comments_text(n).await, &head);
    // Production is changed by hand after the plan was shown; alice approves what she saw.
    std::fs::create_dir_all(w.production()).unwrap();
    std::fs::write(w.production().join("rules.toml"), "allow = [3389]\n").unwrap();
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = merged(&w, n).await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("plan drifted"), "{description}");
    assert!(w.runs().is_empty(), "nothing applied");
    assert_eq!(
        std::fs::read_to_string(w.production().join("rules.toml")).unwrap(),
        "allow = [3389]\n"
    );

    // Recorded: the approved plan, and the new one the executor refused.
    let note = w.note(&merge).expect("a refusal note");
    assert_eq!(note["plan"]["digest"], json!(digest));
    assert_eq!(note["execution"]["outcome"], json!("refused"));
    let now = note["execution"]["plan"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(now, digest);
    assert!(
        note["execution"]["refusal"]
            .as_str()
            .unwrap()
            .contains("a human must approve the new plan"),
        "{note}"
    );
    // On the PR, both plans.
    let comments = w.comments_after_execution(n).await;
    assert!(
        comments.contains("The plan that was approved"),
        "{comments}"
    );
    assert!(
        comments.contains(&digest) && comments.contains(&now),
        "{comments}"
    );
    assert!(comments.contains("live: allow = [3389]"), "{comments}");
    // The approved plan's text too (this executor ran it for the PR and remembers it).
    let refusal = &comments[comments.find("<!-- prgate:execution").unwrap()..];
    assert!(
        refusal.contains("live: none\nwanted: allow = [22, 443]"),
        "{refusal}"
    );
    assert!(!refusal.contains("no longer holds it"), "{refusal}");

    // Durable: another pass does not run it.
    w.gate().gate.reconcile_once().await;
    assert!(w.runs().is_empty());

    // An operator's `prgate execute` plans again; while the drift stands it refuses.
    let config = w.tmp.path().join("operator.toml");
    std::fs::write(&config, operator_config(&w)).unwrap();
    let execute = || {
        prgate_cli(
            &w,
            None,
            &[
                "execute",
                "--repo",
                REPO,
                "--commit",
                &merge,
                "--config",
                config.to_str().unwrap(),
                "--json",
            ],
        )
    };
    // An admin deletes the refusal comment (helper[bot], no writer, may not), so the operator's run below,
    // a process that never ran the approved plan, comments again.
    let (_, listed) = w
        .api(
            "root-token",
            reqwest::Method::GET,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            None,
        )
        .await;
    let id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("<!-- prgate:execution"))
        })
        .map(|c| c["id"].as_u64().unwrap())
        .unwrap();
    let path = format!("/repos/{REPO}/issues/comments/{id}");
    let delete = |token: &'static str| w.api(token, reqwest::Method::DELETE, &path, None);
    assert_eq!(delete("helper-token").await.0, 403);
    assert_eq!(delete("root-token").await.0, 204);
    assert_eq!(delete("root-token").await.0, 404);
    assert!(!w.comments_text(n).await.contains("<!-- prgate:execution"));
    let (code, out, err) = execute();
    assert_eq!(code, 31, "{out} {err}");
    assert!(w.runs().is_empty());
    // Its refusal quotes the approved plan as prgate's own plan comment shows it, since that
    // text hashes to the approved digest.
    let comments = w.comments_after_execution(n).await;
    let refusal = &comments[comments.find("<!-- prgate:execution").unwrap()..];
    assert!(
        refusal.contains("live: none\nwanted: allow = [22, 443]"),
        "{refusal}"
    );
    assert!(!refusal.contains("no longer holds it"), "{refusal}");
    // Production restored to the approved state: the plan equals the approved one, and it runs.
    std::fs::remove_file(w.production().join("rules.toml")).unwrap();
    let (code, out, err) = execute();
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(w.runs(), vec![merge.clone()]);
    let note = w.note(&merge).unwrap();
    assert_eq!(note["execution"]["outcome"], json!("succeeded"));
    assert_eq!(note["execution"]["plan"]["digest"], json!(digest));
    w.shutdown().await;
}

/// The operator's config for `prgate execute`: the same executor and plan as the gate's.
fn operator_config(w: &World) -> String {
    let exec = w.exec_dir();
    let token = w.tmp.path().join("operator-token.secret");
    std::fs::write(&token, "prgate-token").unwrap();
    format!(
        r#"data_dir = "{data}"
webhook_secrets = ["env:PRGATE_TEST_WEBHOOK_SECRET"]
[github]
api_url = "{api}"
token = "file:{token}"
[[repos]]
name = "{REPO}"
[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh"]
plan = ["sh", "scripts/plan-firewall.sh"]
program_paths = ["scripts/apply-firewall.sh", "scripts/plan-firewall.sh"]
timeout = "30s"
env = {{ PROD_DIR = "file:{prod}", FIREWALL_TOKEN = "file:{fw}" }}
plan_env = {{ PROD_DIR = "file:{prod}", PLAN_READ_TOKEN = "file:{read}" }}
repos = ["{REPO}"]
sandbox = {{ write = ["{production}"] }}
"#,
        production = w.production().display(),
        data = w.tmp.path().join("operator-data").display(),
        api = w.sim.api_url,
        token = token.display(),
        prod = exec.join("prod-dir.secret").display(),
        fw = exec.join("firewall-token.secret").display(),
        read = exec.join("plan-read.secret").display(),
    )
}

/// Two processes saw two plans for one head: alice approved D1, then the world changed and
/// another process (a restart, a second replica) showed D2. The plan that counts is prgate's
/// latest plan comment: the process that remembers D1 does not approve on it, and an admin's
/// merge past the gate runs nothing, the refusal naming both plans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_plan_nobody_approved_is_never_applied() {
    let manual = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let w =
        World::start_without_gate_with(&manual, SEED, &[("scripts/plan-firewall.sh", PLAN_SCRIPT)])
            .await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config.executors.insert(
        "firewall".into(),
        planned_executor(&w, &ExecSettings::default()),
    );
    let w = w.with_gate(config.clone(), test_client_options()).await;
    let (n, head) = propose(
        &w,
        "two-plans",
        &[("firewall/rules.toml", "allow = [22, 8080]\n")],
    )
    .await;
    plan_status(&w, &head).await;
    let first = plan_digest(&w.comments_text(n).await, &head);
    // A second of the code host's time between the plan and the approval.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");

    // The live firewall changes: the same head now plans differently. Another process (no
    // memory of D1) plans it again and shows D2.
    std::fs::write(w.production().join("rules.toml"), "allow = [22, 25]\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    config.data_dir = w.tmp.path().join("replica");
    let replica = prgate::serve::start(config, test_client_options())
        .await
        .unwrap();
    replica.gate.reconcile_once().await;
    let mut second = first.clone();
    for _ in 0..500 {
        let comments = w.comments_text(n).await;
        let markers: Vec<&str> = comments
            .match_indices(&format!(
                "<!-- prgate:plan executor=firewall head={head} digest="
            ))
            .map(|(i, _)| &comments[i..])
            .collect();
        if markers.len() >= 2 {
            second = plan_digest(markers[1], &head);
            break;
        }
        replica.gate.reconcile_once().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(first, second, "the replica showed a second plan");
    // The process that remembers D1 decides from the comments too: alice approved D1, not D2.
    w.gate().gate.reconcile_once().await;
    let (state, description, _) = w.approval(&head).await.unwrap();
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.contains(&format!("plan {}…", &second[7..13])),
        "{description}"
    );
    // An admin merges past the gate: nothing applies a plan nobody approved.
    let (s, v) = w
        .api(
            "root-token",
            reqwest::Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/merge"),
            Some(json!({"merge_method": "merge"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let merge = merged(&w, n).await;
    let (state, description) = w.execution_result(&merge).await;
    assert_ne!(state, "success", "{description}");
    assert!(w.runs().is_empty(), "a plan nobody approved was applied");
    assert!(
        description.contains("no approval follows the latest plan"),
        "{description}"
    );
    let comments = w.comments_after_execution(n).await;
    assert!(
        comments.contains(&second[7..13]) && comments.contains(&first[7..13]),
        "the refusal names both plans: {comments}"
    );
    replica.shutdown().await;
}

/// On a branch behind GitHub's merge queue: alice approves the plan she saw; production changes
/// before the PR's group is checked. The plan re-run on the group is not the approved one, so
/// the group fails, naming both digests' starts; GitHub takes the PR out, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_drifts_between_approval_and_the_queue_group_fails_the_group() {
    let seed = SEED.replace(
        "enforce_admins = false\n",
        "enforce_admins = false\nmerge_queue = true\nmerge_queue_check_timeout = \"60s\"\n",
    );
    let manual = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let w = World::start_without_gate_with(
        &manual,
        &seed,
        &[("scripts/plan-firewall.sh", PLAN_SCRIPT)],
    )
    .await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config.executors.insert(
        "firewall".into(),
        planned_executor(&w, &ExecSettings::default()),
    );
    let w = w.with_gate(config, test_client_options()).await;
    let (n, head) = propose(
        &w,
        "queued-drift",
        &[("firewall/rules.toml", "allow = [22, 8443]\n")],
    )
    .await;
    plan_status(&w, &head).await;
    let digest = plan_digest(&w.comments_text(n).await, &head);
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    // Production changes by hand; then the PR is queued (it meets the branch's rules).
    std::fs::create_dir_all(w.production()).unwrap();
    std::fs::write(w.production().join("rules.toml"), "allow = [3389]\n").unwrap();
    w.sim.enqueue(REPO, n, "alice", Some(&head), false).unwrap();
    w.sim.tick_queues();
    let group = w
        .sim
        .queue_entries(REPO)
        .into_iter()
        .find(|e| e.number == n)
        .and_then(|e| e.group)
        .expect("the queue built the PR's group")
        .head_sha;
    w.settle().await;
    let mut answer = None;
    for _ in 0..1000 {
        if let Some((state, description, _)) = w.approval(&group).await {
            answer = Some((state, description));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (state, description) = answer.expect("prgate never answered the group");
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains("is not the one approved") && description.contains(&digest[..19]),
        "{description}"
    );
    assert_eq!(w.pull(n).await["merged"], json!(false));
    assert!(w.runs().is_empty());
}
