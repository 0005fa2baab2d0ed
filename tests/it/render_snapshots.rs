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

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// The content of the first fenced code block in `body` and its fence's length, read as
/// CommonMark does: it opens with a line of three or more backticks and closes at the first
/// line (indented at most three spaces) of at least as many backticks and nothing else.
fn first_fenced_block(body: &str) -> (usize, String, String, String) {
    let lines: Vec<&str> = body.split('\n').collect();
    let is_fence = |l: &str, min: usize| {
        let t = l.trim_start_matches(' ');
        l.len() - t.len() <= 3
            && t.trim_end().len() >= min
            && t.trim_end().chars().all(|c| c == '`')
    };
    let open = lines
        .iter()
        .position(|l| is_fence(l, 3))
        .expect("a fenced block");
    let len = lines[open].trim().len();
    let close = open
        + 1
        + lines[open + 1..]
            .iter()
            .position(|l| is_fence(l, len))
            .expect("a closing fence");
    (
        len,
        lines[..open].join("\n"),
        lines[open + 1..close].join("\n"),
        lines[close + 1..].join("\n"),
    )
}

/// Executor output is the executed program's to write: it may hold a code fence, a fake
/// "**Approved**" banner, a team mention and an image. In prgate's comment it stays inside a
/// fence longer than any backtick run in it, so none of it renders as prgate's own words.
#[test]
fn executor_output_stays_inside_its_fence() {
    let hostile = "applying rules\n```\n\n**Approved** by @acme/netops: ship it\n![ok](https://example.com/x.png)\n````\r\n<!-- prgate:decision state=approved head=x -->\r```` still code\rfinal words";
    let body = Renderer::default()
        .render(
            "comment_executed.md.j2",
            &json!({
                "merge": head(), "merge_short": &head()[..7], "head_short": &head()[..7],
                "executor": "firewall", "outcome": "failed", "exit_code": 1,
                "output_sha256": "ab".repeat(32), "reason": null,
                "output_tail": hostile, "approvers": ["alice"],
            }),
        )
        .unwrap();
    let (len, before, inside, after) = first_fenced_block(&body);
    assert!(len >= 3);
    assert!(
        len > longest_backtick_run(hostile),
        "fence {len} vs run {}",
        longest_backtick_run(hostile)
    );
    for needle in [
        "**Approved**",
        "@acme/netops",
        "![ok]",
        "still code",
        "final words",
    ] {
        assert!(inside.contains(needle), "{needle} inside: {body}");
        assert!(
            !before.contains(needle) && !after.contains(needle),
            "{needle} outside: {body}"
        );
    }
    assert!(!body.contains('\r'), "line endings normalised: {body:?}");
    insta::assert_snapshot!(body);
}

/// A review body with bare carriage returns (GitHub renders `\r` as a line break) stays in
/// its blockquote: every line of it is quoted.
#[test]
fn a_denial_reason_with_bare_carriage_returns_stays_in_its_quote() {
    let body = Renderer::default()
        .render(
            "comment_denied.md.j2",
            &json!({
                "head": head(), "head_short": &head()[..7], "approvers": [], "rules": [],
                "denials": [{"login": "carol", "review_id": 7, "reason": "no\r**Approved** by @acme/netops\r\n# prgate\rok"}],
                "description": "changes requested by carol", "merge": "auto", "executors": [],
            }),
        )
        .unwrap();
    assert!(!body.contains('\r'), "{body:?}");
    for needle in ["**Approved**", "# prgate", "ok"] {
        let line = body
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {body}"));
        assert!(
            line.starts_with("> "),
            "{line:?} is outside the quote: {body}"
        );
    }
    insta::assert_snapshot!(body);
}

/// The refusal comment the executor posts: the reason (which can name paths from the
/// repository) on one line.
#[test]
fn refused_comment() {
    let body = Renderer::default()
        .render(
            "comment_refused.md.j2",
            &json!({
                "merge": head(), "merge_short": &head()[..7], "executor": "firewall",
                "repo": "acme/infra",
                "reason": "the branch carries unapproved changes to firewall/\n# fake heading since 1a2b3c4 (direct push by root): revert them in an approved PR",
            }),
        )
        .unwrap();
    assert!(body.starts_with(&format!("<!-- prgate:execution merge={} -->\n", head())));
    assert!(!body.lines().any(|l| l.starts_with('#')), "{body}");
    insta::assert_snapshot!(body);
}

/// An invalid proposed policy's error quotes the PR's own text; it is fenced like output.
#[test]
fn an_invalid_policy_error_stays_inside_its_fence() {
    let error = "p.toml:3:1: unknown key\n```\n**Approved**";
    let body = Renderer::default()
        .render(
            "comment_policy.md.j2",
            &json!({"kind": "policy_invalid", "head": head(), "head_short": &head()[..7], "rule": "policy", "error": error}),
        )
        .unwrap();
    let (len, before, inside, after) = first_fenced_block(&body);
    assert!(len > longest_backtick_run(error));
    assert!(inside.contains("**Approved**"));
    assert!(!before.contains("**Approved**") && !after.contains("**Approved**"));
}

#[test]
fn check_run_summary_while_pending() {
    let body = Renderer::default()
        .render(
            "check_run.md.j2",
            &json!({
                "state": "pending", "title": "Waiting for approval",
                "description": "needs 1 approval from alice or acme/netops (firewall)",
                "head": head(), "head_short": &head()[..7],
                "rules": [
                    {"name": "firewall", "min_approvals": 1, "approvals": [], "satisfied": false, "approvers": "alice or acme/netops", "executor": "firewall"},
                    {"name": "defaults", "min_approvals": 1, "approvals": [{"login": "dave", "user_id": 4, "review_id": 10, "submitted_at": "2026-11-21T10:00:00Z"}], "satisfied": true, "approvers": "acme/maintainers", "executor": null},
                ],
                "approvals": [{"login": "dave", "user_id": 4, "review_id": 10, "submitted_at": "2026-11-21T10:00:00Z"}],
                "denials": [{"login": "carol", "review_id": 11, "reason": "not on a Friday\n> - quoted"}],
                "notes": ["bob is not a designated approver of firewall, defaults", "approval by erin (review 9) does not count: it was given for an earlier head"],
                "page_url": "https://prgate.example.com/pulls/acme/infra/3",
            }),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn check_run_summary_with_no_rule_and_no_review() {
    let body = Renderer::default()
        .render(
            "check_run.md.j2",
            &json!({
                "state": "success", "title": "Approved", "description": "no approval needed",
                "head": head(), "head_short": &head()[..7],
                "rules": [], "approvals": [], "denials": [], "notes": [], "page_url": null,
            }),
        )
        .unwrap();
    insta::assert_snapshot!(body);
}

/// The plan comment per head: marker first, digest and size, output fenced (a plan that
/// prints fences or headings cannot break out of it), long output folded.
#[test]
fn plan_comment() {
    let digest = format!("sha256:{}", "3f2a9c".repeat(10) + "0123");
    let marker = format!(
        "<!-- prgate:plan executor=firewall head={} digest={digest} size=42 -->",
        head()
    );
    let output = "open  tcp/443\nclose tcp/22\n```\n# not a heading\n";
    let context = |folded: bool| {
        json!({
            "marker": marker, "executor": "firewall", "head": head(), "head_short": &head()[..7],
            "base": "1".repeat(40), "base_short": "1111111", "digest": digest, "size": 42,
            "output": output, "truncated": false, "folded": folded, "lines": 4, "failure": null,
        })
    };
    let body = Renderer::default()
        .render("comment_plan.md.j2", &context(false))
        .unwrap();
    assert!(body.starts_with(&format!("{marker}\n")), "{body}");
    assert!(body.contains(&format!("Prgate-Plan: {digest}")), "{body}");
    let (len, _, inside, after) = first_fenced_block(&body);
    assert!(len > longest_backtick_run(output));
    assert!(inside.contains("# not a heading"));
    assert!(!after.contains("# not a heading"));
    insta::assert_snapshot!(body);
    let folded = Renderer::default()
        .render("comment_plan.md.j2", &context(true))
        .unwrap();
    assert!(
        folded.contains("<details><summary>plan output, 4 lines"),
        "{folded}"
    );

    let failed = Renderer::default()
        .render(
            "comment_plan.md.j2",
            &json!({
                "marker": "<!-- prgate:plan executor=firewall head=x failed -->",
                "executor": "firewall", "head": head(), "head_short": &head()[..7],
                "base": "1".repeat(40), "base_short": "1111111", "digest": null, "size": null,
                "output": "cannot read the live firewall\n", "truncated": false, "folded": false,
                "lines": 1, "failure": "the plan failed with exit code 3\n# injected",
            }),
        )
        .unwrap();
    assert!(
        failed.contains("**The plan failed**: the plan failed with exit code 3 # injected."),
        "{failed}"
    );
    assert!(!failed.contains("Prgate-Plan"), "{failed}");
}

/// A drift refusal shows the approved plan and the new one.
#[test]
fn refused_comment_with_both_plans() {
    let body = Renderer::default()
        .render(
            "comment_refused.md.j2",
            &json!({
                "merge": head(), "merge_short": &head()[..7], "executor": "firewall",
                "repo": "acme/infra", "pull": 3,
                "reason": "plan drifted: approved 3f2a9c…, now 9b1e77… (the world changed or the base moved since the approval); a drifted plan is never applied: a human must approve the new plan",
                "plans": {
                    "approved": {"digest": "sha256:3f2a9c", "size": 14, "output": "open  tcp/443\n"},
                    "now": {"digest": "sha256:9b1e77", "size": 34, "output": "open  tcp/443\nclose tcp/3389\n", "truncated": false, "failure": null},
                },
            }),
        )
        .unwrap();
    assert!(body.starts_with(&format!("<!-- prgate:execution merge={} -->\n", head())));
    assert!(body.contains("The plan that was approved") && body.contains("The plan now"));
    insta::assert_snapshot!(body);
    // Without the approved plan's text (another process planned it), the PR is pointed to it.
    let without = Renderer::default()
        .render(
            "comment_refused.md.j2",
            &json!({
                "merge": head(), "merge_short": &head()[..7], "executor": "firewall",
                "repo": "acme/infra", "pull": 3, "reason": "plan drifted",
                "plans": {
                    "approved": {"digest": "sha256:3f2a9c", "size": 14, "output": null},
                    "now": null,
                },
            }),
        )
        .unwrap();
    assert!(
        without.contains("its text is in prgate's plan comment"),
        "{without}"
    );
}

/// The check run's summary carries the plan, its digest and output.
#[test]
fn check_run_summary_with_a_plan() {
    let body = Renderer::default()
        .render(
            "check_run.md.j2",
            &json!({
                "state": "pending", "title": "Waiting for approval",
                "description": "plan 3f2a9c…; needs 1 approval from alice or acme/netops (firewall)",
                "head": head(), "head_short": &head()[..7],
                "rules": [{"name": "firewall", "min_approvals": 1, "approvals": [], "satisfied": false, "approvers": "alice or acme/netops", "executor": "firewall"}],
                "approvals": [], "denials": [], "notes": [], "page_url": null,
                "plan": {"executor": "firewall", "state": "ready", "digest": "sha256:3f2a9c", "size": 14,
                         "base": "1111111", "output": "open  tcp/443\n", "truncated": false, "failure": null},
            }),
        )
        .unwrap();
    assert!(body.contains("### Plan of `firewall`"), "{body}");
    assert!(body.contains("Digest `sha256:3f2a9c` (14 bytes)"), "{body}");
    insta::assert_snapshot!(body);
}
