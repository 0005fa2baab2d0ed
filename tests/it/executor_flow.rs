//! The post-merge executor through the simulator, with real git and real child processes: an
//! approved merge runs once and is recorded; every other way onto the branch is refused and
//! never runs; claims make it at most once; hold, cancel and timeout are recorded.

use std::time::Duration;

use crate::common::harness::*;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";

fn manual(policy: &str) -> String {
    policy.replace("merge = \"auto\"", "merge = \"manual\"")
}

/// The agent proposes a firewall change; returns (PR, head).
async fn propose(w: &World, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
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

async fn admin_merge(w: &World, n: u64) -> String {
    let (s, v) = w
        .api(
            "root-token",
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/merge"),
            Some(json!({"merge_method": "merge"})),
        )
        .await;
    assert_eq!(s, 200, "admin merge: {v}");
    v["sha"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_merge_runs_once_and_is_recorded() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (n, head) = propose(
        &w,
        "open-443",
        &[("firewall/rules.toml", "allow = [22, 443]\n")],
    )
    .await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged by prgate")
        .to_string();
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(
        state,
        "success",
        "{description}: {}",
        w.comments_text(n).await
    );
    assert_eq!(
        std::fs::read_to_string(w.production().join("rules.toml")).unwrap(),
        "allow = [22, 443]\n"
    );
    assert_eq!(w.runs(), vec![merge.clone()]);

    let note = w.note(&merge).expect("a note on the merge commit");
    assert_eq!(note["head"], json!(head));
    assert_eq!(note["merge"], json!(merge));
    assert_eq!(note["pull"], json!(n));
    assert_eq!(note["approvals"][0]["login"], json!("alice"));
    assert_eq!(note["execution"]["outcome"], json!("succeeded"));
    assert_eq!(note["execution"]["exit_code"], json!(0));

    // The secret was printed by the script, and appears in no record.
    let comments = w.comments_after_execution(n).await;
    assert!(comments.contains("Executed"), "{comments}");
    for text in [
        note.to_string(),
        comments,
        format!("{:?}", w.status_in(&merge, "prgate/execution").await),
    ] {
        assert!(!text.contains(FIREWALL_TOKEN), "secret leaked: {text}");
    }

    // A later push, or the reconciler, never runs it again.
    w.gate().gate.reconcile_once().await;
    w.commit_and_push("main", &[("README.md", "more\n")], "root", "root", "docs");
    w.settle().await;
    w.gate().gate.reconcile_once().await;
    assert_eq!(w.runs().len(), 1);

    // `prgate verify` from git alone: the record holds.
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
    assert_eq!(report["holds"], json!(true));
    w.shutdown().await;
}

/// Waits for the executor to act on `sha` and checks it refused and ran nothing.
async fn assert_refused(w: &World, sha: &str, needle: &str) {
    let (state, description) = w.execution_result(sha).await;
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("refused"), "{description}");
    assert!(
        description.contains(needle),
        "{description} should mention {needle:?}"
    );
    assert!(w.runs().is_empty(), "nothing may run: {:?}", w.runs());
    assert!(!w.production().join("rules.toml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_merge_past_protection_without_approval_is_refused() {
    let w = World::start_with_executor(&manual(POLICY), ExecSettings::default()).await;
    let (n, _) = propose(
        &w,
        "admin-merge",
        &[("firewall/rules.toml", "allow = [1]\n")],
    )
    .await;
    let merge = admin_merge(&w, n).await;
    w.settle().await;
    assert_refused(&w, &merge, "not approved").await;
    // Another replica, or this one after a restart, finds the refusal recorded as a note and
    // reconsiders nothing; the refusal was said once.
    let again = fresh_executor(&w, "replica")
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            prgate::executor::Considered::AlreadyRecorded {
                outcome: prgate::record::note::Outcome::Refused,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(
        w.comments_text(n)
            .await
            .matches("Execution refused")
            .count(),
        1
    );
    assert!(w.runs().is_empty());
    w.shutdown().await;
}

/// The refusal comment is found again by its marker, which anyone can write: a writer who
/// posts it on the PR as soon as the admin merge lands must not silence prgate's refusal. Only
/// a comment by prgate's own account that starts with the marker counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_refusal_marker_does_not_silence_the_refusal_comment() {
    let w = World::start_without_gate(&manual(POLICY)).await;
    w.commit_and_push(
        "copied-marker",
        &[("firewall/rules.toml", "allow = [3]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "firewall change",
    );
    let n = w
        .open_pr(AGENT, "copied-marker", "main", "firewall change")
        .await;
    let merge = admin_merge(&w, n).await;
    let marker = format!("<!-- prgate:execution merge={merge} -->");
    let (s, v) = w
        .api(
            "bob-token",
            Method::POST,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            Some(json!({"body": format!("{marker}\nall fine, nothing to see")})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let considered = fresh_executor(&w, "replica")
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        matches!(considered, prgate::executor::Considered::Refused { .. }),
        "{considered:?}"
    );
    let (_, v) = w
        .api(
            "root-token",
            Method::GET,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            None,
        )
        .await;
    let refusals = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["user"]["login"] == "prgate"
                && c["body"].as_str().unwrap_or("").starts_with(&marker)
                && c["body"]
                    .as_str()
                    .unwrap_or("")
                    .contains("**Execution refused**")
        })
        .count();
    assert_eq!(refusals, 1, "{v:#}");
    assert!(w.runs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_approval_status_and_an_admin_merge_is_refused() {
    let w = World::start_with_executor(&manual(POLICY), ExecSettings::default()).await;
    let (n, head) = propose(&w, "forged", &[("firewall/rules.toml", "allow = [2]\n")]).await;
    let (s, _) = w
        .api(
            "bob-token",
            Method::POST,
            &format!("/repos/{REPO}/statuses/{head}"),
            Some(json!({"state": "success", "context": "prgate/approval"})),
        )
        .await;
    assert_eq!(s, 201);
    let merge = admin_merge(&w, n).await;
    w.settle().await;
    assert_refused(&w, &merge, "not approved").await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_push_is_never_executed() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let sha = w.commit_and_push(
        "main",
        &[("firewall/rules.toml", "allow = [0]\n")],
        "root",
        "root",
        "direct",
    );
    w.settle().await;
    assert_refused(&w, &sha, "direct push").await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_whose_content_differs_from_the_approved_head_is_refused() {
    let w = World::start_with_executor(&manual(POLICY), ExecSettings::default()).await;
    let (n, head) = propose(&w, "amended", &[("firewall/rules.toml", "allow = [3]\n")]).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    // An admin merges by hand and amends the merge, then pushes it straight to main.
    let clone = w.agent_clone("admin");
    git(&clone, &["fetch", "-q", "origin", "amended"]);
    git(
        &clone,
        &["merge", "-q", "--no-ff", "--no-edit", "FETCH_HEAD"],
    );
    std::fs::write(clone.join("firewall/rules.toml"), "allow = [3, 0]\n").unwrap();
    git(&clone, &["commit", "-q", "-a", "--amend", "--no-edit"]);
    git_as(&clone, "root-token", &["push", "-q", "origin", "HEAD:main"]);
    let merge = git_out(&clone, &["rev-parse", "HEAD"]);
    w.settle().await;
    assert_eq!(
        w.pull(n).await["merged"],
        json!(true),
        "GitHub marks the PR merged by the push"
    );
    assert_refused(&w, &merge, "differs").await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_dismissed_before_the_merge_is_refused() {
    let w = World::start_with_executor(&manual(POLICY), ExecSettings::default()).await;
    let (n, _) = propose(&w, "dismissed", &[("firewall/rules.toml", "allow = [4]\n")]).await;
    let review = w.approve("alice-token", n).await;
    w.settle().await;
    let (s, _) = w
        .api(
            "root-token",
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/reviews/{review}/dismissals"),
            Some(json!({"message": "no"})),
        )
        .await;
    assert_eq!(s, 200);
    w.settle().await;
    let merge = admin_merge(&w, n).await;
    w.settle().await;
    assert_refused(&w, &merge, "not approved").await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_push_twice_and_two_racing_workers_run_it_once() {
    let w = World::start_with_executor(&manual(POLICY), ExecSettings::default()).await;
    // No gate-driven execution here: the executors below are driven by hand.
    let (n, _) = propose(&w, "race", &[("firewall/rules.toml", "allow = [5]\n")]).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge: prgate::types::CommitSha = {
        // Merge through a second, executor-less gate path: the API, as prgate would.
        let (s, v) = w
            .api(
                "alice-token",
                Method::PUT,
                &format!("/repos/{REPO}/pulls/{n}/merge"),
                Some(json!({"merge_method": "merge"})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["sha"].as_str().unwrap().parse().unwrap()
    };
    let repo: prgate::types::RepoName = REPO.parse().unwrap();
    let workers = [fresh_executor(&w, "worker0"), fresh_executor(&w, "worker1")];
    // The same push handled twice by each of two workers, concurrently.
    let mut tasks = Vec::new();
    for _ in 0..2 {
        for wk in &workers {
            let (wk, repo, merge) = (wk.clone(), repo.clone(), merge.clone());
            tasks.push(tokio::spawn(async move {
                wk.consider(&repo, &merge, prgate::executor::Mode::Automatic)
                    .await
            }));
        }
    }
    let mut ran = 0;
    for t in tasks {
        if let Ok(Ok(prgate::executor::Considered::Ran { .. })) = t.await {
            ran += 1;
        }
    }
    // The gate's own executor saw the push too; in all, exactly one run.
    w.settle().await;
    let _ = w.execution_result(merge.as_str()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ran <= 1, "{ran} runs from the racing workers");
    assert_eq!(w.runs(), vec![merge.to_string()], "exactly one run");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_timeout_is_killed_and_recorded() {
    let w = World::start_with_executor(
        POLICY,
        ExecSettings {
            timeout: Duration::from_secs(1),
            paused: false,
        },
    )
    .await;
    let (n, _) = propose(
        &w,
        "slow",
        &[
            ("firewall/rules.toml", "allow = [6]\n"),
            ("firewall/sleep", "30"),
        ],
    )
    .await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_string();
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "failure");
    assert!(description.contains("timed out"), "{description}");
    assert_eq!(
        w.note(&merge).unwrap()["execution"]["outcome"],
        json!("timeout")
    );
    assert!(
        !w.production().join("rules.toml").exists(),
        "the run was stopped before it applied"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_executor_holds_until_an_operator_releases_it() {
    let w = World::start_with_executor(
        POLICY,
        ExecSettings {
            paused: true,
            ..Default::default()
        },
    )
    .await;
    let (n, _) = propose(&w, "held", &[("firewall/rules.toml", "allow = [7]\n")]).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..500 {
        if w.note(&merge).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        w.note(&merge).unwrap()["execution"]["outcome"],
        json!("held")
    );
    assert!(w.runs().is_empty());

    // The operator releases it (a config without the pause, as after editing prgate.toml).
    let config = w.tmp.path().join("operator.toml");
    std::fs::write(&config, operator_config(&w)).unwrap();
    let (code, out, err) = prgate_cli(
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
    );
    assert_eq!(code, 0, "{out} {err}");
    crate::json_contract::assert_valid("execute", &out);
    assert_eq!(w.runs(), vec![merge.clone()]);
    assert_eq!(
        w.note(&merge).unwrap()["execution"]["outcome"],
        json!("succeeded")
    );
    // Run once: a second explicit command does not run it again.
    let (code, _, _) = prgate_cli(
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
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(w.runs().len(), 1);
    // Nor does one that names the commit by an unambiguous prefix, as verify takes it.
    let (code, out, err) = prgate_cli(
        &w,
        None,
        &[
            "execute",
            "--repo",
            REPO,
            "--commit",
            &merge[..9],
            "--config",
            config.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    crate::json_contract::assert_valid("execute", &out);
    assert_eq!(out["result"], json!("already_recorded"), "{out}");
    assert_eq!(w.runs().len(), 1);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_label_cancels_a_running_execution() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (n, _) = propose(
        &w,
        "cancel",
        &[
            ("firewall/rules.toml", "allow = [8]\n"),
            ("firewall/sleep", "20"),
        ],
    )
    .await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..500 {
        if !w.runs().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(w.runs().len(), 1, "the run started");
    let config = w.tmp.path().join("operator.toml");
    std::fs::write(&config, operator_config(&w)).unwrap();
    let (code, out, err) = prgate_cli(
        &w,
        None,
        &[
            "execute",
            "--repo",
            REPO,
            "--commit",
            &merge,
            "--cancel",
            "--config",
            config.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    crate::json_contract::assert_valid("execute", &out);
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "failure");
    assert!(description.contains("cancelled"), "{description}");
    assert_eq!(
        w.note(&merge).unwrap()["execution"]["outcome"],
        json!("cancelled")
    );
    assert!(!w.production().join("rules.toml").exists());
    w.shutdown().await;
}

/// A `prgate.toml` for the operator's `prgate execute`, with the executor unpaused.
fn operator_config(w: &World) -> String {
    let exec = w.exec_dir();
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
timeout = "30s"
env = {{ PROD_DIR = "file:{prod}", FIREWALL_TOKEN = "file:{fw}" }}
repos = ["{REPO}"]
sandbox = {{ write = ["{production}"] }}
"#,
        production = w.production().display(),
        data = w.tmp.path().join("operator-data").display(),
        api = w.sim.api_url,
        token = write_secret(w, "operator-token.secret", "prgate-token").display(),
        prod = exec.join("prod-dir.secret").display(),
        fw = exec.join("firewall-token.secret").display(),
    )
}

fn write_secret(w: &World, name: &str, value: &str) -> std::path::PathBuf {
    let p = w.tmp.path().join(name);
    std::fs::write(&p, value).unwrap();
    p
}

/// With `note_signing_key`, the executor signs the note it writes, and `prgate verify
/// --public-key` accepts it; a key file that is not a seed stops `prgate execute` before
/// anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_with_a_signing_key_writes_a_signed_note() {
    let w = World::start_with_executor(
        POLICY,
        ExecSettings {
            paused: true,
            ..Default::default()
        },
    )
    .await;
    let (n, _) = propose(&w, "signed", &[("firewall/rules.toml", "allow = [9]\n")]).await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..500 {
        if w.note(&merge).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The gate's own executor has no key: its `held` note is unsigned.
    assert!(w.note(&merge).unwrap().get("signature").is_none());

    let execute = |config: &std::path::Path| {
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
    let with_key = |name: &str, key: &std::path::Path| {
        let config = w.tmp.path().join(name);
        std::fs::write(
            &config,
            format!(
                "note_signing_key = \"file:{}\"\n{}",
                key.display(),
                operator_config(&w)
            ),
        )
        .unwrap();
        config
    };

    // A key file that is not a seed: a usage error naming the file, and nothing runs.
    let bad_key = write_secret(&w, "bad.key", "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    let (code, out, err) = execute(&with_key("bad.toml", &bad_key));
    assert_eq!(code, 2, "{out} {err}");
    assert!(
        err.contains(&bad_key.display().to_string()) && err.contains("64 hexadecimal"),
        "{err}"
    );
    assert!(w.runs().is_empty());

    let key = w.tmp.path().join("note-signing.key");
    let (code, generated, err) = prgate_cli(
        &w,
        None,
        &["key", "generate", "--json", "--out", key.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let public = generated["public_key"].as_str().unwrap().to_string();
    let (code, out, err) = execute(&with_key("operator.toml", &key));
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(w.runs(), vec![merge.clone()]);
    let note = w.note(&merge).unwrap();
    assert_eq!(note["execution"]["outcome"], json!("succeeded"));
    // A version 2 record: a DSSE envelope with one signature, naming the gate's key id.
    let envelope: serde_json::Value = serde_json::from_str(&w.note_text(&merge).unwrap()).unwrap();
    assert_eq!(
        envelope["payloadType"],
        json!("application/vnd.in-toto+json")
    );
    assert_eq!(envelope["signatures"].as_array().map(Vec::len), Some(1));
    assert_eq!(envelope["signatures"][0]["keyid"], generated["key_id"]);
    assert_eq!(generated["key_id"].as_str().map(str::len), Some(64));

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
    let verify = |key: &str| {
        prgate_cli(
            &w,
            None,
            &[
                "verify",
                "--repo",
                clone.to_str().unwrap(),
                "--commit",
                &merge,
                "--public-key",
                key,
                "--json",
            ],
        )
    };
    let (code, report, err) = verify(&public);
    assert_eq!(code, 0, "{report} {err}");
    assert_eq!(report["signature"]["state"], json!("valid"));
    let other = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
    let (code, report, _) = verify(&hex::encode(other.as_bytes()));
    assert_eq!(code, 31, "{report}");
    w.shutdown().await;
}

/// `serve` resolves the signing key at start-up: a key file that is not a seed is a
/// configuration error naming the file, before the gate listens or runs anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_with_a_bad_signing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = gate_config("http://127.0.0.1:9", &tmp.path().join("data"), &["main"]);
    let key = tmp.path().join("note-signing.key");
    std::fs::write(&key, "0123").unwrap();
    config.note_signing_key = Some(prgate::config::SecretRef::File(key.clone()));
    match prgate::serve::start(config, test_client_options()).await {
        Err(e @ prgate::serve::ServeError::Config(_)) => {
            let e = e.to_string();
            assert!(e.contains(&key.display().to_string()), "{e}");
            assert!(e.contains("64 hexadecimal"), "{e}");
        }
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("the gate started with a bad signing key"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_merge_without_an_executor_gets_its_approval_note() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (n, head) = propose(&w, "dns", &[("dns/zone.txt", "a 10.0.0.1\n")]).await;
    w.approve("dave-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged")
        .to_string();
    let mut note = None;
    for _ in 0..500 {
        note = w.note(&merge);
        if note.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let note = note.expect("an approval note on the merge");
    assert_eq!(note["head"], json!(head));
    assert_eq!(note["approvals"][0]["login"], json!("dave"));
    assert!(note.get("execution").is_none_or(|e| e.is_null()), "{note}");
    assert!(w.runs().is_empty(), "nothing runs");
    w.shutdown().await;
}
