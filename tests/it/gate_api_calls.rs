//! How many code host calls one decision costs, counted in the simulator for a typical PR (one
//! rule, one team, one approval). Counts are deterministic, so they are asserted; the figures
//! are printed for docs/performance.md.

use std::collections::BTreeMap;

use crate::common::harness::*;

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

#[tokio::test]
async fn calls_per_decision_for_a_typical_pr() {
    let w = World::start_with(
        &POLICY.replace("merge = \"auto\"", "merge = \"manual\""),
        &["main"],
    )
    .await;
    let calls = || w.gate().gate.github().transport().calls_by_endpoint();
    // The reconciler's first pass runs at start-up; let it finish before counting.
    w.gate().gate.reconcile_once().await;

    let before = calls();
    w.commit_and_push(
        "typical",
        &[("firewall/rules.toml", "allow = [443]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    let n = w.open_pr("agent-token", "typical", "main", "typical").await;
    w.settle().await;
    let opened = delta(&before, &calls());

    let before = calls();
    w.review("bob-token", n, "COMMENT", None, "a question")
        .await;
    w.settle().await;
    let commented = delta(&before, &calls());

    // Another CI system's status on a head prgate has not approved costs nothing.
    let head = w.head_of(n).await;
    let before = calls();
    let (s, _) = w
        .api(
            "bob-token",
            reqwest::Method::POST,
            &format!("/repos/{REPO}/statuses/{head}"),
            Some(serde_json::json!({"state": "success", "context": "ci/build"})),
        )
        .await;
    assert_eq!(s, 201);
    w.settle().await;
    let other_status = delta(&before, &calls());
    assert!(other_status.is_empty(), "{other_status:?}");

    let before = calls();
    w.approve("alice-token", n).await;
    w.settle().await;
    let approved = delta(&before, &calls());
    assert_eq!(w.approval_state(n).await, "success");

    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    let comment_calls = |m: &BTreeMap<String, u64>| {
        m.iter()
            .filter(|(k, _)| k.contains("/comments"))
            .map(|(_, v)| v)
            .sum::<u64>()
    };
    println!("first sight of the PR: {} calls {opened:?}", total(&opened));
    println!(
        "re-evaluation after a comment review: {} calls {commented:?}",
        total(&commented)
    );
    println!(
        "decision on approval: {} calls {approved:?}",
        total(&approved)
    );

    // One GraphQL query reads the PR, the base branch's tip and the policy there (GitHub does
    // not refresh `base.sha`), reviews, commits, files, retargets and the policy's teams. The
    // agent's commits are a bot's, which GraphQL's `GitActor.user` cannot name, so the first
    // sight also reads the compare (cached for good: its SHAs never change). Nothing is posted
    // when the decision did not change. The first sight also asks the designated approvers
    // for a review, once per head. The base tip's tree listing (a governed symlink governs its
    // target) is read once per tip, for every PR on that base.
    assert!(total(&opened) <= 5, "{opened:?}");
    assert_eq!(opened.get("GET /repos/{}/git/{}"), Some(&1), "{opened:?}");
    // A re-evaluation that decides the same also reads the head's statuses before it skips
    // the post (another replica may have posted since); unchanged, that read is a 304, which
    // costs no rate limit.
    assert!(total(&commented) <= 2, "{commented:?}");
    // The decision on an approval: the GraphQL query, who pushed to the head branch (the
    // activity API, which GraphQL does not serve), the status. The one-off decision comment
    // (look for an earlier one, then post) comes on top. alice is named by login, unpinned:
    // when her account was created is read once for good, and the policy file's history once
    // per base tip (a released login registered again never counts).
    let once = |k: &str| approved.get(k).copied().unwrap_or(0);
    assert_eq!(once("GET /user/{}"), 1, "{approved:?}");
    assert_eq!(once("GET /repos/{}/commits"), 1, "{approved:?}");
    assert!(
        total(&approved) - comment_calls(&approved) - 2 <= 3,
        "{approved:?}"
    );
    assert!(comment_calls(&approved) <= 2, "{approved:?}");
    w.shutdown().await;
}
