//! Snapshots of the text people read: the PR body an agent's proposal gets and the decision
//! comments. A change to any of them shows up in review as a snapshot diff.

use prgate::render::Renderer;
use serde_json::json;

fn head() -> &'static str {
    "0123456789abcdef0123456789abcdef01234567"
}

#[test]
fn pr_body() {
    let body = Renderer::default()
        .render(
            "pr_body.md.j2",
            &json!({
                "summary": "Open TCP 443 on the edge firewall for the new API.",
                "reason": "ticket NET-1",
                "risk": "exposes the API host to the internet",
                "rollback": "revert this PR; the executor re-applies the old rules",
                "required": [{"rule": "firewall", "files": ["firewall/rules.toml"], "min_approvals": 1, "approvers": "alice or acme/netops", "executor": "firewall"}],
                "expire_after": "72h",
                "agent": "ops-agent[bot]",
                "files": ["firewall/rules.toml"],
                "branch": "prgate/ops-agent/open-443",
            }),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn pr_body_without_rules_or_reasons() {
    let body = Renderer::default()
        .render(
            "pr_body.md.j2",
            &json!({
                "summary": "Fix a typo.", "reason": null, "risk": null, "rollback": null,
                "required": [], "expire_after": "72h", "agent": "ops-agent[bot]",
                "files": ["README.md"], "branch": "prgate/ops-agent/typo",
            }),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn approved_comment() {
    let body = Renderer::default()
        .render(
            "comment_approved.md.j2",
            &json!({
                "head": head(), "head_short": &head()[..7], "approvers": ["alice"],
                "rules": [{"name": "firewall", "min_approvals": 1, "approvals": [{"login": "alice"}], "approvers": "alice or acme/netops"}],
                "denials": [], "description": "approved by alice (firewall)", "merge": "auto", "executors": ["firewall"],
            }),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn denied_comment() {
    let body = Renderer::default()
        .render(
            "comment_denied.md.j2",
            &json!({
                "head": head(), "head_short": &head()[..7], "approvers": [], "rules": [],
                "denials": [{"login": "carol", "review_id": 7, "reason": "port 0 opens everything;\nno"}],
                "description": "changes requested by carol", "merge": "auto", "executors": [],
            }),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn expired_comment() {
    let body = Renderer::default()
        .render(
            "comment_expired.md.j2",
            &json!({"head": head(), "head_short": &head()[..7], "expire_after": "72h", "created_at": "2026-11-18T10:00:00Z"}),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn an_operator_template_overrides_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("comment_expired.md.j2"),
        "gone: {{ head_short }}",
    )
    .unwrap();
    let r = Renderer::new(Some(dir.path().to_path_buf()));
    let body = r
        .render("comment_expired.md.j2", &json!({"head_short": "0123456"}))
        .unwrap();
    assert_eq!(body, "gone: 0123456");
    // Templates it does not override still come from the binary.
    assert!(
        r.render("comment_denied.md.j2", &json!({})).is_err(),
        "strict: missing variables fail"
    );
}
