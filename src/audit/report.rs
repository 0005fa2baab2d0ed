//! The audit report in words: as text for a terminal, as JSON for programs (the schema of
//! `schemas/audit.json`), and as an HTML page.

use super::*;

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn scope(report: &AuditReport) -> String {
    let mut s = format!(
        "{} on the first-parent history of {} at {}",
        crate::render::plural(report.commits_walked, "commit"),
        report.branch,
        report.head
    );
    if let Some(since) = report.since {
        let since = since.to_rfc3339_opts(SecondsFormat::Secs, true);
        match &report.stopped_at {
            Some(StoppedAt {
                commit,
                decided_at: Some(at),
            }) => {
                let _ = write!(
                    s,
                    " since {since}, back to {commit} (its record says it was decided {}; it and its history were not audited)",
                    at.to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
            _ => {
                let _ = write!(
                    s,
                    " since {since}: no record decided before then, so the whole history (commit dates are the pusher's word and never end the walk)"
                );
            }
        }
    }
    if let Some(c) = &report.since_commit {
        let _ = write!(s, " after {c}");
    }
    let _ = write!(
        s,
        "; {} changed governed paths; {} are history before the policy ({POLICY_PATH} absent at their first parent) and are not governed",
        report.governed_commits, report.commits_before_policy
    );
    s
}

fn approvers(r: &CommitRecord) -> String {
    if r.approvers.is_empty() {
        "no approver recorded".into()
    } else {
        format!("approved by {}", r.approvers.join(", "))
    }
}

fn execution(r: &CommitRecord) -> String {
    let mut s = match (&r.executor, r.execution) {
        (Some(e), Some(o)) => format!("executor {e}: {o}"),
        _ => "no execution recorded".into(),
    };
    if r.signature != SignatureStatus::NoNote {
        let _ = write!(s, "; {}", r.signature.describe());
    }
    if let Some(v) = r.record_version {
        let _ = write!(s, "; record version {v}");
    }
    s
}

/// The report for people: the verdict, each violation with commit, author and what is wrong,
/// then every governed commit with its pull request, approvers and execution.
pub fn render_text(report: &AuditReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "prgate audit: {}", scope(report));
    if report.clean {
        let _ = writeln!(
            s,
            "CLEAN: every change to governed paths carries a valid approval record"
        );
    } else {
        let _ = writeln!(
            s,
            "VIOLATIONS: {} found; nothing listed here may be executed, and each needs an explanation",
            report.violations.len()
        );
        for v in &report.violations {
            let _ = writeln!(
                s,
                "\n{}  {}  by {}\n  {}\n  {}",
                v.commit, v.kind, v.author, v.summary, v.detail
            );
        }
    }
    if !report.records.is_empty() {
        let _ = writeln!(s, "\nGoverned commits (newest first):");
        for r in &report.records {
            let _ = writeln!(
                s,
                "{}  {}  {}  {}  {}; {}; {}",
                short(&r.commit),
                if r.holds { "ok       " } else { "VIOLATION" },
                r.committed_at,
                r.pull.as_deref().unwrap_or("no pull request"),
                r.author,
                approvers(r),
                execution(r)
            );
        }
    }
    if !report.replaced_notes.is_empty() {
        let _ = writeln!(
            s,
            "\nNotes prgate did not write, replaced by its record (`git show NOTES_COMMIT` says who pushed each):"
        );
        for n in &report.replaced_notes {
            let _ = writeln!(
                s,
                "{}  note {} ({}), pushed in {}",
                short(&n.commit),
                short(&n.note_blob),
                n.why,
                short(&n.notes_commit)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nApprovals are checked offline for presence only; who approved and whether they were eligible can only be re-checked against the code host."
    );
    s
}

/// The report for scripts: one JSON object.
pub fn render_json(report: &AuditReport) -> String {
    match serde_json::to_string_pretty(report) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Our own plain-data types always serialize; say so rather than print nothing.
        Err(e) => format!("{}\n", serde_json::json!({ "error": e.to_string() })),
    }
}

/// The report as one self-contained HTML page, from the template `audit.html.j2`, which
/// escapes every value from the repository.
pub fn render_html(report: &AuditReport) -> Result<String, crate::render::RenderError> {
    let violations: Vec<_> = report
        .violations
        .iter()
        .map(|v| {
            serde_json::json!({
                "commit": v.commit, "kind": v.kind.as_str(), "author": v.author,
                "summary": v.summary, "detail": v.detail,
            })
        })
        .collect();
    let records: Vec<_> = report
        .records
        .iter()
        .map(|r| {
            serde_json::json!({
                "commit": short(&r.commit), "holds": r.holds, "committed_at": r.committed_at,
                "pull": r.pull.as_deref().unwrap_or(""), "author": r.author,
                "approvers": r.approvers.join(", "), "execution": execution(r),
            })
        })
        .collect();
    let context = serde_json::json!({
        "branch": report.branch,
        "scope": scope(report),
        "clean": report.clean,
        "violations": violations,
        "records": records,
        "replaced_notes": report.replaced_notes,
    });
    crate::render::Renderer::new(None).render("audit.html.j2", &context)
}
