//! A bad day at the code host, seeded so that a failure can be replayed: calls that fail
//! before they reach it, writes whose answers are lost, deliveries lost while the gate
//! restarts. Every approved change must end merged and run exactly once (or be reported
//! `interrupted`, never run twice), and nothing may wait for an operator.

use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::common::harness::*;

/// What the gate and the executor call, any of which may fail on a bad day.
const PATHS: [&str; 10] = [
    "/graphql",
    "/statuses/",
    "/git/refs",
    "/git/commits",
    "/pulls/",
    "/merge",
    "/issues/",
    "git-receive-pack",
    "/activity",
    "/reviews",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_approved_change_runs_exactly_once_on_a_bad_day() {
    for seed in [1u64, 2, 3] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut w = World::start_with_executor(POLICY, ExecSettings::default()).await;
        let mut pulls = Vec::new();
        for i in 0..3 {
            let branch = format!("chaos-{seed}-{i}");
            w.commit_and_push(
                &branch,
                // Separate files, so that the PRs merge one after another without conflicts.
                &[(
                    &format!("firewall/zone-{i}.toml"),
                    &format!("allow = [{seed}, {i}]\n"),
                )],
                "ops-agent[bot]",
                "ops-agent[bot]",
                "firewall change",
            );
            pulls.push(w.open_pr("agent-token", &branch, "main", &branch).await);
        }
        w.settle().await;
        // The approvals arrive, and while the gate works on them the code host has a bad day.
        for n in &pulls {
            w.approve("alice-token", *n).await;
        }
        let mut faults = Vec::new();
        for _ in 0..8 {
            let path = PATHS[rng.random_range(0..PATHS.len())];
            let after = rng.random_bool(0.5);
            if after {
                w.sim.inject_fault_after(path, 502, 1);
            } else {
                w.sim.inject_fault(path, 502, 1);
            }
            faults.push((path, after));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The gate is replaced mid-way (its queue, mirror and instance gone with it, as when a
        // replica takes over): deliveries to it meanwhile are lost, and what the old process
        // still had running finishes beside the new one.
        let mut config = gate_config(&w.sim.api_url, &w.tmp.path().join("replacement"), &["main"]);
        config.executors.insert(
            "firewall".into(),
            firewall_executor(&w.exec_dir(), &ExecSettings::default()),
        );
        w.gate.take().expect("a gate").shutdown().await;
        w.sim.settle().await;
        let gate = prgate::serve::start(config, test_client_options())
            .await
            .unwrap();
        w.sim.add_hook(&format!("{}/webhook", gate.url()), SECRET);
        w.gate = Some(gate);
        // The reconciler's passes converge on their own.
        let mut merges = Vec::new();
        for _ in 0..40 {
            w.gate().gate.reconcile_once().await;
            w.sim.settle().await;
            merges.clear();
            for n in &pulls {
                if let Some(m) = w.pull(*n).await["merge_commit_sha"].as_str() {
                    merges.push(m.to_string());
                }
            }
            let done = merges.len() == pulls.len() && {
                let mut all = true;
                for m in &merges {
                    let ended = w
                        .status_in(m, "prgate/execution")
                        .await
                        .is_some_and(|(s, d)| s == "success" || d.starts_with("interrupted: "));
                    all &= ended;
                }
                all
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            merges.len(),
            pulls.len(),
            "seed {seed} {faults:?}: not every approved PR merged"
        );
        let runs = w.runs();
        for m in &merges {
            let times = runs.iter().filter(|r| *r == m).count();
            let (state, description) = w.status_in(m, "prgate/execution").await.unwrap_or_default();
            if description.starts_with("interrupted: ") {
                assert!(times <= 1, "seed {seed} {faults:?}: {m} ran {times} times");
            } else {
                assert_eq!(
                    (state.as_str(), times),
                    ("success", 1),
                    "seed {seed} {faults:?}: {m}: {description}"
                );
            }
        }
        w.shutdown().await;
    }
}
