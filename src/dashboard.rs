//! The read-only dashboard at `GET /`: pending approvals, recent decisions and executions.
//! It is held in memory, bounded, and rebuilt by the gate as it decides (a restart empties it;
//! the truth stays on the code host). Everything shown is HTML-escaped: descriptions, branch
//! and repository names come from outside.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::types::{CommitSha, PullRef, RepoName};

const RECENT_DECISIONS: usize = 200;
const RECENT_EXECUTIONS: usize = 200;
const TRACKED_PULLS: usize = 5_000;

#[derive(Debug, Clone)]
struct DecisionRow {
    pull: PullRef,
    head: CommitSha,
    state: String,
    description: String,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct ExecutionRow {
    repo: RepoName,
    merge: CommitSha,
    executor: String,
    outcome: String,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct Board {
    recent: VecDeque<DecisionRow>,
    latest: HashMap<PullRef, DecisionRow>,
    executions: VecDeque<ExecutionRow>,
    /// Deliveries whose processing kept failing: (delivery id, event, reason).
    set_aside: VecDeque<(String, String, String)>,
}

/// Shared, bounded dashboard state. Cheap to clone.
#[derive(Clone, Default)]
pub struct Dashboard {
    board: Arc<Mutex<Board>>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dashboard")
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Dashboard {
    pub fn new() -> Dashboard {
        Dashboard::default()
    }

    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the `prgate/approval` status just posted for `pull` at `head`.
    pub fn record_decision(
        &self,
        pull: &PullRef,
        head: &CommitSha,
        state: &str,
        description: &str,
        at: DateTime<Utc>,
    ) {
        let row = DecisionRow {
            pull: pull.clone(),
            head: head.clone(),
            state: state.to_string(),
            description: description.to_string(),
            at,
        };
        let mut b = self.board();
        b.recent.push_front(row.clone());
        b.recent.truncate(RECENT_DECISIONS);
        b.latest.insert(pull.clone(), row);
        if b.latest.len() > TRACKED_PULLS {
            // Forget the PR decided longest ago, preferring one that no longer waits.
            let victim = b
                .latest
                .values()
                .min_by_key(|r| (r.state == "pending", r.at))
                .map(|r| r.pull.clone());
            if let Some(victim) = victim {
                b.latest.remove(&victim);
            }
        }
    }

    /// Records the outcome of running `executor` for merge commit `merge`.
    pub fn record_execution(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        executor: &str,
        outcome: &str,
        at: DateTime<Utc>,
    ) {
        let mut b = self.board();
        b.executions.push_front(ExecutionRow {
            repo: repo.clone(),
            merge: merge.clone(),
            executor: executor.to_string(),
            outcome: outcome.to_string(),
            at,
        });
        b.executions.truncate(RECENT_EXECUTIONS);
    }

    /// Records a delivery set aside after its processing kept failing.
    pub fn record_set_aside(&self, id: &str, event: &str, reason: &str) {
        let mut b = self.board();
        if b.set_aside.iter().any(|(i, _, _)| i == id) {
            return;
        }
        b.set_aside
            .push_front((id.to_string(), event.to_string(), reason.to_string()));
        b.set_aside.truncate(RECENT_EXECUTIONS);
    }

    /// A small self-contained HTML page (no scripts).
    pub fn render_html(&self) -> String {
        let (mut pending, recent, executions) = {
            let b = self.board();
            let pending: Vec<DecisionRow> = b
                .latest
                .values()
                .filter(|r| r.state == "pending")
                .cloned()
                .collect();
            (
                pending,
                b.recent.iter().cloned().collect::<Vec<_>>(),
                b.executions.iter().cloned().collect::<Vec<_>>(),
            )
        };
        pending.sort_by_key(|r| r.at);

        let mut h = String::with_capacity(4096);
        h.push_str(concat!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta http-equiv=\"refresh\" content=\"30\">",
            "<title>prgate</title><style>",
            "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}",
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}",
            ".success{color:#1a7f37}.failure,.error{color:#cf222e}.pending{color:#9a6700}",
            "</style></head><body>\n<h1>prgate</h1>\n"
        ));

        let _ = writeln!(h, "<h2>Pending approvals ({})</h2>", pending.len());
        if pending.is_empty() {
            h.push_str("<p>Nothing is waiting for approval.</p>\n");
        } else {
            h.push_str("<table><tr><th>Pull request</th><th>Head</th><th>Waiting since</th><th>Status</th></tr>\n");
            for r in &pending {
                decision_row(&mut h, r, false);
            }
            h.push_str("</table>\n");
        }

        h.push_str("<h2>Recent decisions</h2>\n");
        if recent.is_empty() {
            h.push_str("<p>No decisions yet.</p>\n");
        } else {
            h.push_str("<table><tr><th>Pull request</th><th>Head</th><th>At</th><th>State</th><th>Status</th></tr>\n");
            for r in &recent {
                decision_row(&mut h, r, true);
            }
            h.push_str("</table>\n");
        }

        let set_aside: Vec<(String, String, String)> =
            self.board().set_aside.iter().cloned().collect();
        if !set_aside.is_empty() {
            let _ = writeln!(h, "<h2>Deliveries set aside ({})</h2>", set_aside.len());
            h.push_str("<p>Their processing kept failing; they are kept on disk and not retried. The reconciler still covers their pull requests.</p>\n");
            h.push_str("<table><tr><th>Delivery</th><th>Event</th><th>Why</th></tr>\n");
            for (id, event, reason) in &set_aside {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td class=\"error\">{}</td></tr>",
                    escape_html(id),
                    escape_html(event),
                    escape_html(reason),
                );
            }
            h.push_str("</table>\n");
        }

        h.push_str("<h2>Executions</h2>\n");
        if executions.is_empty() {
            h.push_str("<p>No executions yet.</p>\n");
        } else {
            h.push_str("<table><tr><th>Repository</th><th>Merge commit</th><th>Executor</th><th>At</th><th>Outcome</th></tr>\n");
            for e in &executions {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td><code title=\"{}\">{}</code></td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                    escape_html(&e.repo.to_string()),
                    escape_html(e.merge.as_str()),
                    escape_html(e.merge.short()),
                    escape_html(&e.executor),
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    css_class(&e.outcome),
                    escape_html(&e.outcome),
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

fn css_class(state: &str) -> &'static str {
    match state {
        "success" | "succeeded" => "success",
        "failure" | "failed" | "refused" => "failure",
        "error" | "interrupted" => "error",
        "pending" => "pending",
        _ => "other",
    }
}

fn decision_row(h: &mut String, r: &DecisionRow, with_state: bool) {
    let _ = write!(
        h,
        "<tr><td>{}</td><td><code title=\"{}\">{}</code></td><td>{}</td>",
        escape_html(&r.pull.to_string()),
        escape_html(r.head.as_str()),
        escape_html(r.head.short()),
        r.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    if with_state {
        let _ = write!(
            h,
            "<td class=\"{}\">{}</td>",
            css_class(&r.state),
            escape_html(&r.state)
        );
    }
    let _ = writeln!(h, "<td>{}</td></tr>", escape_html(&r.description));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> CommitSha {
        c.to_string().repeat(40).parse().unwrap()
    }

    #[test]
    fn pending_means_latest_decision_pending_and_everything_is_escaped() {
        let d = Dashboard::new();
        let a: PullRef = "acme/infra#1".parse().unwrap();
        let b: PullRef = "acme/infra#2".parse().unwrap();
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
        d.record_decision(
            &a,
            &sha('a'),
            "pending",
            "needs 1 approval from <script>alert(1)</script>",
            t(0),
        );
        d.record_decision(&b, &sha('b'), "pending", "waiting", t(1));
        d.record_decision(&b, &sha('b'), "success", "approved by alice & bob", t(2));
        d.record_execution(
            &"acme/infra".parse().unwrap(),
            &sha('c'),
            "fire\"wall",
            "succeeded",
            t(3),
        );
        let html = d.render_html();
        assert!(html.contains("Pending approvals (1)"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("alice &amp; bob"));
        assert!(html.contains("fire&quot;wall"));
    }

    #[test]
    fn stays_bounded() {
        let d = Dashboard::new();
        for n in 1..=(TRACKED_PULLS as u64 + 50) {
            let pull = PullRef {
                repo: "acme/infra".parse().unwrap(),
                number: crate::types::PullNumber(n),
            };
            d.record_decision(&pull, &sha('d'), "pending", "x", Utc::now());
        }
        let b = d.board();
        assert_eq!(b.latest.len(), TRACKED_PULLS);
        assert_eq!(b.recent.len(), RECENT_DECISIONS);
    }
}
