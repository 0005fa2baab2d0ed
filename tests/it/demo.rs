//! The demo's story, end to end, checked step by step on its outcomes (not its wording); and
//! `prgate demo --keep` leaves a repository that `prgate audit` and `prgate verify` read.

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_turns_out_as_told() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("demo");
    let mut out = Vec::new();
    let report = prgate::demo::run_demo(
        prgate::demo::DemoOptions {
            keep: Some(keep.clone()),
            ghes: false,
        },
        &mut out,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));

    assert!(
        report.pending_description.contains("alice")
            && report.pending_description.contains("acme/netops"),
        "{}",
        report.pending_description
    );
    assert!(
        report.non_designated_description.contains("bob"),
        "{}",
        report.non_designated_description
    );
    assert_eq!(
        report.merge_second_parent, report.head,
        "merged with the approved head"
    );
    let trailers =
        prgate::record::trailers::ApprovalTrailers::parse(&report.trailers).expect("trailers");
    assert_eq!(trailers.head.as_str(), report.head);
    assert_eq!(trailers.approvals[0].login, "alice");
    assert_eq!(report.execution_state, "success");
    assert_eq!(report.production_rules, "allow = [22, 443]\n");
    assert!(report.audit_clean_before);
    assert_eq!(report.direct_push_execution, "failure");
    // The plan was shown before approval, and bound into the merge.
    assert!(
        report.plan_description.starts_with("plan "),
        "{}",
        report.plan_description
    );
    assert!(
        report.plan_comment.contains("open  tcp/443"),
        "{}",
        report.plan_comment
    );
    let plan = trailers
        .plan
        .as_deref()
        .expect("Prgate-Plan in the trailers");
    assert!(
        report.plan_comment.contains(plan),
        "{}",
        report.plan_comment
    );
    // The drifted plan was refused, both plans shown, nothing applied; once production was
    // back, the operator's re-run planned again and applied the approved effect.
    assert_eq!(report.drift_execution, "failure");
    assert!(
        report.drift_description.contains("plan drifted"),
        "{}",
        report.drift_description
    );
    for shown in [
        "The plan that was approved",
        "close tcp/22",
        "close tcp/3389",
    ] {
        assert!(
            report.drift_comment.contains(shown),
            "{shown}: {}",
            report.drift_comment
        );
    }
    assert_eq!(report.production_after_drift, "allow = [22, 443, 3389]\n");
    assert!(
        report.drift_rerun.contains("succeeded"),
        "{}",
        report.drift_rerun
    );
    assert_eq!(report.production_after_rerun, "allow = [443, 8443]\n");
    assert_eq!(
        report.production_after_direct_push, "allow = [443, 8443]\n",
        "the direct push never ran"
    );
    assert_eq!(
        report.audit_violations_after,
        vec![report.direct_push.clone()]
    );

    // What --keep leaves, as a person would use it.
    let bin = env!("CARGO_BIN_EXE_prgate");
    let repo = report.repo_dir.to_str().unwrap();
    let audit = Command::new(bin)
        .args(["audit", "--repo", repo, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        audit.status.code(),
        Some(40),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(
        json["violations"][0]["kind"],
        serde_json::json!("direct_push")
    );
    let since_direct = Command::new(bin)
        .args(["audit", "--repo", repo, "--branch", &report.merge])
        .output()
        .unwrap();
    assert_eq!(
        since_direct.status.code(),
        Some(0),
        "history up to the approved merge is clean: {}",
        String::from_utf8_lossy(&since_direct.stdout)
    );
    let verify = Command::new(bin)
        .args(["verify", "--repo", repo, "--commit", &report.merge])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let verify = Command::new(bin)
        .args(["verify", "--repo", repo, "--commit", &report.direct_push])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(31));
    let log = Command::new("git")
        .args(["-C", repo, "log", "--notes=prgate", "-1", &report.merge])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout).to_string();
    assert!(
        log.contains("Notes (prgate)") && log.contains("application/vnd.in-toto+json"),
        "{log}"
    );
    // The demo writes version 2 records: the note's statement says what ran.
    let note = Command::new("git")
        .args(["-C", repo, "notes", "--ref=prgate", "show", &report.merge])
        .output()
        .unwrap();
    let record = crate::common::record_json(&note.stdout);
    assert_eq!(record["version"], 2, "{record}");
    assert_eq!(record["execution"]["outcome"], "succeeded", "{record}");
}
