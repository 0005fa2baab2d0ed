//! prgate's own state against the writers it governs: anyone with write access can delete or
//! rewrite refs and notes, pre-create a claim, or replay an old delivery. None of that may run
//! a merge twice, stop executions silently, or make the gate believe a forged status.

use std::time::Duration;

use crate::common::harness::*;
use reqwest::Method;
use serde_json::json;

const AGENT: &str = "agent-token";

/// An approved firewall change, merged by prgate; returns (PR, merge commit).
async fn approved_merge(w: &World, branch: &str, rules: &str) -> (u64, String) {
    w.commit_and_push(
        branch,
        &[("firewall/rules.toml", rules)],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "firewall change",
    );
    let n = w.open_pr(AGENT, branch, "main", branch).await;
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged")
        .to_string();
    (n, merge)
}

/// A writer (bob) force-pushes an empty `refs/notes/prgate`.
fn wipe_notes(w: &World) {
    static CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CLONES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let clone = w.agent_clone(&format!("writer-{n}"));
    let empty_tree = git_out(&clone, &["hash-object", "-t", "tree", "-w", "/dev/null"]);
    let wipe = git_out(
        &clone,
        &["commit-tree", &empty_tree, "-m", "nothing to see"],
    );
    git_as(
        &clone,
        "bob-token",
        &[
            "push",
            "-q",
            "-f",
            "origin",
            &format!("{wipe}:refs/notes/prgate"),
        ],
    );
}

async fn delete_ref(w: &World, token: &str, name: &str) -> u16 {
    let short = name.trim_start_matches("refs/");
    w.api(
        token,
        Method::DELETE,
        &format!("/repos/{REPO}/git/refs/{short}"),
        None,
    )
    .await
    .0
}

async fn create_ref(w: &World, token: &str, name: &str, sha: &str) -> (u16, serde_json::Value) {
    w.api(
        token,
        Method::POST,
        &format!("/repos/{REPO}/git/refs"),
        Some(json!({"ref": name, "sha": sha})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_deleting_claims_and_notes_never_makes_a_merge_run_twice() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (_, merge) = approved_merge(&w, "once", "allow = [22, 443]\n").await;
    assert_eq!(w.execution_result(&merge).await.0, "success");
    assert_eq!(w.runs(), vec![merge.clone()]);
    // The writer deletes the claim and empties the notes.
    assert_eq!(
        delete_ref(&w, "bob-token", &format!("refs/prgate/claims/{merge}")).await,
        204
    );
    wipe_notes(&w);
    assert!(
        w.note(&merge).is_none(),
        "the writer's rewrite took the note away"
    );
    // A new replica, its reconciler, and the same push considered again: nothing runs.
    let replica = fresh_executor(&w, "replica");
    replica.reconcile().await;
    let again = replica
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
                outcome: prgate::record::note::Outcome::Succeeded,
                ..
            }
        ),
        "{again:?}"
    );
    // Between passes of two replicas the writer deletes them again; still one run.
    wipe_notes(&w);
    let other = fresh_executor(&w, "replica2");
    other.reconcile().await;
    replica.reconcile().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        w.runs(),
        vec![merge.clone()],
        "one run, whatever the writer did"
    );
    // The gate's own executor still has its record, and puts it back on its next sync.
    w.gate().reconcile.send(()).await.unwrap();
    let mut restored = None;
    for _ in 0..200 {
        restored = w.note(&merge);
        if restored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let note = restored.expect("prgate pushes its record again");
    assert_eq!(note["execution"]["outcome"], json!("succeeded"), "{note}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_provisional_note_never_leads_to_a_second_run() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (_, merge) = approved_merge(&w, "rollback", "allow = [2]\n").await;
    assert_eq!(w.execution_result(&merge).await.0, "success");
    // The writer restores the notes ref as it was right after the claim: the provisional
    // record that says `interrupted`.
    let clone = w.agent_clone("writer");
    git(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/prgate:refs/notes/prgate",
        ],
    );
    let history = git_out(&clone, &["rev-list", "refs/notes/prgate"]);
    let provisional = history
        .lines()
        .find(|c| {
            crate::common::record_json(
                git_out(&clone, &["show", &format!("{c}:{merge}")]).as_bytes(),
            )["execution"]["outcome"]
                == "interrupted"
        })
        .expect("the provisional note is in the notes' history")
        .to_string();
    git_as(
        &clone,
        "bob-token",
        &[
            "push",
            "-q",
            "-f",
            "origin",
            &format!("{provisional}:refs/notes/prgate"),
        ],
    );
    assert_eq!(
        w.note(&merge).unwrap()["execution"]["outcome"],
        json!("interrupted")
    );
    // An operator's re-run, from a process that never saw the run: prgate's statuses say it
    // finished, so it is never run again.
    let operator = fresh_executor(&w, "operator");
    let result = operator
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Operator,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            result,
            prgate::executor::Considered::AlreadyRecorded {
                outcome: prgate::record::note::Outcome::Succeeded,
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(w.runs(), vec![merge]);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_blocking_every_claim_is_an_error_that_names_it_and_recovers() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let tip = w.git_out(&["rev-parse", "origin/main"]);
    let (s, v) = create_ref(&w, "bob-token", "refs/prgate/claims", &tip).await;
    assert_eq!(s, 201, "{v}");
    let (n, merge) = approved_merge(&w, "blocked", "allow = [3]\n").await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "error", "{description}");
    assert!(
        description.contains("ref refs/prgate/claims blocks the claim refs under it; delete it"),
        "{description}"
    );
    assert!(w.runs().is_empty());
    // The PR hears it too (the comment follows the status).
    let mut told = false;
    for _ in 0..200 {
        if w.comments_text(n).await.contains("Execution blocked") {
            told = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(told, "{}", w.comments_text(n).await);
    // The documented recovery: delete the ref; the next pass runs it, once.
    assert_eq!(
        delete_ref(&w, "root-token", "refs/prgate/claims").await,
        204
    );
    w.gate().reconcile.send(()).await.unwrap();
    let mut ran = Vec::new();
    for _ in 0..400 {
        ran = w.runs();
        if !ran.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(ran, vec![merge.clone()]);
    assert_eq!(w.execution_result(&merge).await.0, "success");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_blocking_the_notes_is_an_error_that_names_it() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let tip = w.git_out(&["rev-parse", "origin/main"]);
    let (s, v) = create_ref(&w, "bob-token", "refs/notes/prgate/x", &tip).await;
    assert_eq!(s, 201, "{v}");
    let (_, merge) = approved_merge(&w, "notes-blocked", "allow = [4]\n").await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "error", "{description}");
    assert!(
        description.contains("ref refs/notes/prgate/x blocks refs/notes/prgate; delete it"),
        "{description}"
    );
    assert!(w.runs().is_empty());
    w.shutdown().await;
}

/// A world whose gate merges nothing and runs no executor, and a firewall change approved and
/// merged there by hand: the merge is for the test to consider.
async fn merged_by_hand(branch: &str, files: &[(&str, &str)]) -> (World, String) {
    let manual = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let w = World::start_with(&manual, &["main"]).await;
    w.commit_and_push(branch, files, "ops-agent[bot]", "ops-agent[bot]", "x");
    let n = w.open_pr(AGENT, branch, "main", branch).await;
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let (s, v) = w
        .api(
            "alice-token",
            Method::PUT,
            &format!("/repos/{REPO}/pulls/{n}/merge"),
            Some(json!({"merge_method": "merge"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let merge = v["sha"].as_str().unwrap().to_string();
    (w, merge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_answer_was_lost_is_read_back_as_ours_and_runs_once() {
    let (w, merge) =
        merged_by_hand("lost-answer", &[("firewall/rules.toml", "allow = [6]\n")]).await;
    // The claim's create happens, but its answer is lost (a 502 at the edge): prgate does not
    // send it again blind; it reads the ref back and finds its own claim commit.
    w.sim.inject_fault_after("/git/refs", 502, 1);
    let executor = fresh_executor(&w, "executor");
    let result = executor
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        matches!(result, prgate::executor::Considered::Ran { .. }),
        "{result:?}"
    );
    assert_eq!(w.runs(), vec![merge.clone()]);
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    // The claim points at a claim commit on the merge, not at the merge itself.
    let (s, claim) = w
        .api(
            "bob-token",
            Method::GET,
            &format!("/repos/{REPO}/git/ref/prgate/claims/{merge}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{claim}");
    let target = claim["object"]["sha"].as_str().unwrap();
    assert_ne!(target, merge);
    let (_, commit) = w
        .api(
            "bob-token",
            Method::GET,
            &format!("/repos/{REPO}/commits/{target}"),
            None,
        )
        .await;
    assert_eq!(commit["parents"][0]["sha"], json!(merge), "{commit}");
    // Considered again (a replica, a later pass): claimed before, nothing runs twice.
    let again = executor
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        !matches!(again, prgate::executor::Considered::Ran { .. }),
        "{again:?}"
    );
    assert_eq!(w.runs(), vec![merge]);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_a_writer_made_first_is_reported_and_an_operator_recovers() {
    // No executor in the gate: the merge is considered by hand, after the writer's claim.
    let (w, merge) = merged_by_hand("predicted", &[("firewall/rules.toml", "allow = [5]\n")]).await;
    let claim = format!("refs/prgate/claims/{merge}");
    assert_eq!(create_ref(&w, "bob-token", &claim, &merge).await.0, 201);
    let executor = fresh_executor(&w, "executor");
    let result = executor
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    match result {
        prgate::executor::Considered::Blocked { reason } => {
            assert!(reason.contains(&claim), "{reason}")
        }
        other => panic!("a claim prgate did not make must be reported: {other:?}"),
    }
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "error", "{description}");
    assert!(w.runs().is_empty());
    // The operator's one command: `prgate execute` takes a claim of its own and runs it once.
    let result = executor
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Operator,
        )
        .await
        .unwrap();
    assert!(
        matches!(result, prgate::executor::Considered::Ran { .. }),
        "{result:?}"
    );
    assert_eq!(w.runs(), vec![merge]);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_forged_status_delivery_is_not_believed() {
    let manual = POLICY.replace("merge = \"auto\"", "merge = \"manual\"");
    let w = World::start_with(&manual, &["main"]).await;
    w.commit_and_push(
        "replayed",
        &[("firewall/rules.toml", "allow = [6]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let manual_n = w.open_pr(AGENT, "replayed", "main", "replayed").await;
    w.settle().await;
    let head = w.head_of(manual_n).await;
    w.approve("alice-token", manual_n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "success");
    // An old, validly signed delivery of a forged status by bob, replayed later.
    let body = json!({
        "sha": head,
        "context": "prgate/approval",
        "state": "success",
        "sender": {"login": "bob", "id": 1003, "type": "User"},
        "repository": {"full_name": REPO},
    })
    .to_string();
    let replay = || {
        w.http
            .post(format!("{}/webhook", w.gate().url()))
            .header("X-GitHub-Event", "status")
            .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
            .header(
                "X-Hub-Signature-256",
                prgate::webhook::sign(SECRET, body.as_bytes()),
            )
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
    };
    assert_eq!(replay().await.unwrap().status().as_u16(), 202);
    w.settle().await;
    let (state, description, creator) = w.approval(&head).await.unwrap();
    assert_eq!(
        (state.as_str(), creator.as_str()),
        ("success", "prgate"),
        "prgate's own status is the latest: nothing to overwrite ({description})"
    );
    w.shutdown().await;
}

/// Two replicas: one runs a long execution; the other's reconciler sees the claim `running`
/// and leaves it alone (it may be running there), rather than calling it interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replicas_running_claim_is_not_called_interrupted() {
    let (w, merge) = merged_by_hand(
        "long-run",
        &[
            ("firewall/rules.toml", "allow = [10]\n"),
            ("firewall/sleep", "3\n"),
        ],
    )
    .await;
    let (a, b) = (
        fresh_executor(&w, "replica-a"),
        fresh_executor(&w, "replica-b"),
    );
    let (repo, sha): (prgate::types::RepoName, prgate::types::CommitSha) =
        (REPO.parse().unwrap(), merge.parse().unwrap());
    let running = {
        let (a, repo, sha) = (a.clone(), repo.clone(), sha.clone());
        tokio::spawn(async move {
            a.consider(&repo, &sha, prgate::executor::Mode::Automatic)
                .await
        })
    };
    let mut seen_running = false;
    for _ in 0..200 {
        if let Some((state, _)) = w.status_in(&merge, "prgate/execution").await
            && state == "pending"
        {
            seen_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_running, "replica A never claimed the merge");
    b.reconcile().await;
    let (state, description) = w.status_in(&merge, "prgate/execution").await.unwrap();
    assert_eq!(state, "pending", "{description}");
    let result = running.await.unwrap().unwrap();
    assert!(
        matches!(result, prgate::executor::Considered::Ran { .. }),
        "{result:?}"
    );
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    w.shutdown().await;
}

/// A writer's note: an unsigned version 1 record saying the merge ran and succeeded, dated as
/// given, pushed to `refs/notes/prgate` with the writer's own token.
fn push_forged_note(w: &World, merge: &str, decided_at: &str) {
    let clone = w.agent_clone("forger");
    let text = serde_json::json!({
        "version": 1,
        "repo": REPO,
        "pull": 1,
        "base": merge,
        "head": merge,
        "merge": merge,
        "policy_blob": "4".repeat(40),
        "rules": ["firewall"],
        "approvals": [{"login": "alice", "user_id": 3, "review_id": 1, "submitted_at": null}],
        "decided_at": decided_at,
        "execution": {
            "executor": "firewall",
            "started_at": decided_at,
            "finished_at": decided_at,
            "exit_code": 0,
            "output_sha256": null,
            "outcome": "succeeded"
        }
    })
    .to_string();
    git(
        &clone,
        &["notes", "--ref=prgate", "add", "-f", "-m", &text, merge],
    );
    git_as(
        &clone,
        "bob-token",
        &[
            "push",
            "-q",
            "origin",
            "refs/notes/prgate:refs/notes/prgate",
        ],
    );
}

/// A writer pushes a note saying an approved merge already ran (for one that landed while the
/// gate was down, or pre-pushed on a predicted merge commit; here, dated 2099 too). prgate's
/// own statuses show no run, so the note is not its record: the merge runs exactly once, the
/// status names the note it replaced, and prgate's record replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_forged_note_never_stops_an_approved_run() {
    for decided_at in ["2026-11-21T10:00:05Z", "2099-01-01T00:00:00Z"] {
        let (w, merge) =
            merged_by_hand("forged", &[("firewall/rules.toml", "allow = [9]\n")]).await;
        push_forged_note(&w, &merge, decided_at);
        // The reconciler's pass, as after the gate was down: it must not skip the merge.
        let executor = fresh_executor(&w, "executor");
        executor.reconcile().await;
        assert_eq!(
            w.runs(),
            vec![merge.clone()],
            "{decided_at}: the forged note stopped the run"
        );
        let (state, description) = w.execution_result(&merge).await;
        assert_eq!(state, "success", "{description}");
        assert!(
            description.contains("replaced a note prgate did not write"),
            "{description}"
        );
        let note = w.note(&merge).expect("prgate's record");
        assert_eq!(note["execution"]["outcome"], "succeeded");
        assert_ne!(note["decided_at"], serde_json::json!(decided_at), "{note}");
        // Considered again (a restart, a replica): it ran once, never twice.
        executor.reconcile().await;
        fresh_executor(&w, "replica").reconcile().await;
        assert_eq!(w.runs(), vec![merge.clone()]);
        w.shutdown().await;
    }
}

/// A bad day at the code host, step by step: the `running` status after the claim fails (so
/// the attempt gives up before anything runs), and the next attempt's claim create gets a 502
/// too and reads back the claim ref it made itself. The claim's authentication code shows it
/// is prgate's own: the merge runs exactly once, and nothing is left blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_running_status_never_turns_prgates_own_claim_into_a_foreign_one() {
    let (w, merge) =
        merged_by_hand("running-502", &[("firewall/rules.toml", "allow = [11]\n")]).await;
    w.settle().await;
    gate_done_with(&w, &merge).await;
    let executor = fresh_executor(&w, "executor");
    let (repo, sha) = (REPO.parse().unwrap(), merge.parse().unwrap());
    // Every try of the running status fails before it reaches the code host (the status
    // posts on the merge, not the reads of its statuses).
    w.sim.inject_fault(&format!("/statuses/{merge}"), 502, 4);
    let first = executor
        .consider(&repo, &sha, prgate::executor::Mode::Automatic)
        .await;
    assert!(first.is_err(), "the attempt gives up: {first:?}");
    assert!(w.runs().is_empty());
    // The next attempt: its claim create is lost too; the ref it reads back is the claim the
    // first attempt made.
    w.sim.inject_fault("/git/refs", 502, 1);
    let second = executor
        .consider(&repo, &sha, prgate::executor::Mode::Automatic)
        .await
        .unwrap();
    assert!(
        matches!(second, prgate::executor::Considered::Ran { .. }),
        "{second:?}"
    );
    assert_eq!(w.runs(), vec![merge.clone()]);
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    // Another instance sees the claim as prgate's (not "a ref prgate did not create"), and
    // runs nothing.
    fresh_executor(&w, "replica").reconcile().await;
    assert_eq!(w.runs(), vec![merge.clone()]);
    assert_eq!(w.execution_result(&merge).await.0, "success");
    w.shutdown().await;
}

/// The `running` status reaches the code host but its answer is lost: statuses are
/// append-only, so it is posted again, and the merge runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_the_running_status_is_posted_again() {
    let (w, merge) =
        merged_by_hand("running-lost", &[("firewall/rules.toml", "allow = [12]\n")]).await;
    w.settle().await;
    gate_done_with(&w, &merge).await;
    w.sim
        .inject_fault_after(&format!("/statuses/{merge}"), 502, 1);
    let result = fresh_executor(&w, "executor")
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        matches!(result, prgate::executor::Considered::Ran { .. }),
        "{result:?}"
    );
    assert_eq!(w.runs(), vec![merge.clone()]);
    assert_eq!(w.execution_result(&merge).await.0, "success");
    w.shutdown().await;
}

/// Waits until the world's own gate (which has no executor defined) has said so on `merge`,
/// so that its status post cannot take a fault meant for the executor under test.
async fn gate_done_with(w: &World, merge: &str) {
    for _ in 0..500 {
        if w.status_in(merge, "prgate/execution").await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every step of an execution, failed once before it reaches the code host and with its answer
/// lost once after: the merge runs exactly once (or is reported `interrupted`, with its
/// recovery), nothing is left blocked, and the final status is the run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_survives_a_failed_call_and_a_lost_answer() {
    // (what, the method when it matters, the path the step calls, earlier calls to that path
    // to let through); the merge's SHA stands for `{m}`, the PR's number for `{n}`.
    let steps = [
        ("the checkout: fetching M", None, "git-upload-pack", 0),
        ("verification: the PR", None, "/pulls/{n}", 0),
        ("verification: its reviews", None, "/pulls/{n}/reviews", 0),
        (
            "the ledger: prgate's statuses on M",
            Some("GET"),
            "/statuses/{m}",
            0,
        ),
        ("the claim commit", None, "/git/commits", 0),
        ("the claim ref", None, "/git/refs", 0),
        ("the running status", Some("POST"), "/statuses/{m}", 0),
        ("the note push", None, "git-receive-pack", 0),
        ("the final status", Some("POST"), "/statuses/{m}", 1),
        ("the comment", None, "/issues/{n}/comments", 0),
    ];
    for (what, method, path, skip) in steps {
        for after in [false, true] {
            let (w, merge) =
                merged_by_hand("faulty", &[("firewall/rules.toml", "allow = [13]\n")]).await;
            w.settle().await;
            gate_done_with(&w, &merge).await;
            let n = w.pull(1).await["number"].as_u64().unwrap_or(1);
            let path = path.replace("{m}", &merge).replace("{n}", &n.to_string());
            match method {
                Some(method) => w.sim.inject_fault_on(method, &path, 502, (skip, 1), after),
                None if after => w.sim.inject_fault_after(&path, 502, 1),
                None => w.sim.inject_fault(&path, 502, 1),
            }
            let executor = fresh_executor(&w, "executor");
            let first = executor
                .consider(
                    &REPO.parse().unwrap(),
                    &merge.parse().unwrap(),
                    prgate::executor::Mode::Automatic,
                )
                .await;
            // Whatever the first attempt made of it, the next passes finish the job.
            executor.reconcile().await;
            executor.reconcile().await;
            let runs = w.runs().iter().filter(|r| **r == merge).count();
            eprintln!("step: {what} (answer lost: {after}), first attempt: {first:?}");
            let (state, description) = w.execution_result(&merge).await;
            let case = format!(
                "{what} ({}): first {first:?}",
                if after { "answer lost" } else { "failed" }
            );
            assert!(
                !description.starts_with("execution blocked"),
                "{case}: {description}"
            );
            if description.starts_with("interrupted: ") {
                assert!(runs <= 1, "{case}: ran {runs} times");
            } else {
                assert_eq!(
                    (state.as_str(), runs),
                    ("success", 1),
                    "{case}: {description}"
                );
            }
            w.shutdown().await;
        }
    }
}

/// One approved merge is stuck (here: the process that took it has no `firewall` executor,
/// so it waits for an operator, named in its status). The next approved merge of the same rule
/// is not held back by it: the stuck one verifies as approved on the spot, so its content
/// counts as approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stuck_merge_does_not_hold_back_the_next() {
    let w = World::start_with(POLICY, &["main"]).await;
    let merged = |branch: &'static str, file: &'static str| {
        let w = &w;
        async move {
            w.commit_and_push(
                branch,
                &[(file, "allow = [14]\n")],
                "ops-agent[bot]",
                "ops-agent[bot]",
                "x",
            );
            let n = w.open_pr(AGENT, branch, "main", branch).await;
            w.settle().await;
            w.approve("alice-token", n).await;
            w.settle().await;
            let merge = w.pull(n).await["merge_commit_sha"]
                .as_str()
                .expect("merged by prgate")
                .to_string();
            gate_done_with(w, &merge).await;
            merge
        }
    };
    let first = merged("stuck-1", "firewall/a.toml").await;
    let (state, description) = w.status_in(&first, "prgate/execution").await.unwrap();
    assert_eq!(state, "error", "{description}");
    assert!(
        description.starts_with("execution blocked: executor firewall is not defined"),
        "{description}"
    );
    let second = merged("stuck-2", "firewall/b.toml").await;
    let executor = fresh_executor(&w, "executor");
    let next = executor
        .consider(
            &REPO.parse().unwrap(),
            &second.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await
        .unwrap();
    assert!(
        matches!(next, prgate::executor::Considered::Ran { .. }),
        "the stuck merge held back the next: {next:?}"
    );
    assert_eq!(w.runs(), vec![second.clone()]);
    w.shutdown().await;
}

/// prgate's own account is renamed while prgate runs, and a writer renames their account to
/// the released login `prgate` and posts `prgate/execution` "firewall ran once and succeeded" on an approved
/// merge that never ran. What prgate wrote is told by its account's id, not by the login it
/// learnt at start: the forged status is not prgate's record, and the merge runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_status_from_prgates_released_login_is_not_prgates_record() {
    let (w, merge) = merged_by_hand("released", &[("firewall/rules.toml", "allow = [8]\n")]).await;
    let executor = fresh_executor(&w, "executor");
    let repo: prgate::types::RepoName = REPO.parse().unwrap();
    let m: prgate::types::CommitSha = merge.parse().unwrap();
    // The executor learns who it is (and finds no run of M yet).
    assert_eq!(executor.finished_outcome(&repo, &m).await.unwrap(), None);
    w.sim.rename_user("prgate", "prgate-renamed").unwrap();
    w.sim.rename_user("bob", "prgate").unwrap();
    let (s, v) = w
        .api(
            "bob-token",
            Method::POST,
            &format!("/repos/{REPO}/statuses/{merge}"),
            Some(json!({
                "state": "success",
                "context": "prgate/execution",
                "description": "firewall ran once and succeeded",
            })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["creator"]["login"], json!("prgate"), "{v}");
    let (_, bob) = w.api("bob-token", Method::GET, "/user", None).await;
    assert_eq!(v["creator"]["id"], bob["id"], "{v}");
    assert_eq!(executor.finished_outcome(&repo, &m).await.unwrap(), None);
    let result = executor
        .consider(&repo, &m, prgate::executor::Mode::Automatic)
        .await
        .unwrap();
    assert!(
        matches!(result, prgate::executor::Considered::Ran { .. }),
        "{result:?}"
    );
    assert_eq!(w.runs(), vec![merge.clone()]);
    w.shutdown().await;
}

/// The run ended and its record was pushed, but the final status cannot be posted, not even
/// after the retries (the code host answers 502 to every try): the attempt reports the error,
/// and the reconciler's next pass looks at M again, though its record exists, and posts the
/// final status from the record. The merge ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_status_that_cannot_be_posted_is_posted_by_the_next_pass() {
    let (w, merge) =
        merged_by_hand("final-status", &[("firewall/rules.toml", "allow = [14]\n")]).await;
    w.settle().await;
    gate_done_with(&w, &merge).await;
    // The running status goes through; the final one and its three retries fail.
    w.sim
        .inject_fault_on("POST", &format!("/statuses/{merge}"), 502, (1, 4), false);
    let executor = fresh_executor(&w, "executor");
    let first = executor
        .consider(
            &REPO.parse().unwrap(),
            &merge.parse().unwrap(),
            prgate::executor::Mode::Automatic,
        )
        .await;
    assert!(first.is_err(), "{first:?}");
    assert_eq!(w.runs(), vec![merge.clone()]);
    let note = w
        .note(&merge)
        .expect("the record was pushed before the status");
    assert_eq!(note["execution"]["outcome"], "succeeded");
    executor.reconcile().await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(state, "success", "{description}");
    assert_eq!(w.runs(), vec![merge]);
    w.shutdown().await;
}
