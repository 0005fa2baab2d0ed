//! What the admin pages show: the dashboard at `GET /` (pending approvals, recent decisions,
//! executions) and one decision page per PR at `GET /pulls/<owner>/<repo>/<n>`. The state is
//! held in memory, bounded, and fed by the gate as it evaluates (the reconciler's first pass
//! rebuilds it after a restart; the truth stays on the code host). The pages are a view of the
//! gate's last evaluation, rendered from templates with auto-escaping.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::policy::{ApprovalDecision, ApprovalState};
use crate::render::{RenderError, Renderer};
use crate::types::{CommitSha, PullNumber, PullRef, RepoName};

const RECENT_DECISIONS: usize = 200;
const RECENT_EXECUTIONS: usize = 200;
const TRACKED_PULLS: usize = 5_000;

/// The templates of the two pages (operators may override them in `templates_dir`).
const DASHBOARD_TEMPLATE: &str = "dashboard.html.j2";
const PULL_TEMPLATE: &str = "pull.html.j2";

/// The gate's last evaluation of one PR, with what the decision page shows beside it.
#[derive(Debug, Clone)]
pub(crate) struct PullEvaluation {
    pub title: String,
    /// The PR on the code host.
    pub html_url: String,
    /// Who opened it (the agent, usually).
    pub author: String,
    pub base_ref: String,
    pub draft: bool,
    pub created_at: Option<DateTime<Utc>>,
    /// When an undecided request is closed as expired (`expire_after`).
    pub expires_at: Option<DateTime<Utc>>,
    /// `auto` or `manual`.
    pub merge: &'static str,
    pub decision: ApprovalDecision,
    /// Accounts that pushed to the head branch; `None` when they were not read.
    pub pushers: Option<Vec<String>>,
    pub evaluated_at: DateTime<Utc>,
    /// The executor's plan for this head, when it has one: what the reviewer approves.
    pub plan: Option<PlanView>,
}

/// A plan as the pages show it (the gate fills it from the plan it ran for the head).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlanView {
    pub executor: String,
    /// `running`, `ready` or `failed`.
    pub state: &'static str,
    /// `sha256:<hex>` when the plan succeeded.
    pub digest: Option<String>,
    pub size: Option<u64>,
    /// The base commit the plan ran on (its program's version).
    pub base: String,
    /// The redacted output, clipped for display; the digest covers all of it.
    pub output: String,
    pub truncated: bool,
    pub failure: Option<String>,
}

#[derive(Debug, Clone)]
struct PullEntry {
    head: CommitSha,
    /// The `prgate/approval` status last posted.
    state: String,
    description: String,
    at: DateTime<Utc>,
    evaluation: Option<Arc<PullEvaluation>>,
    /// The merge commit, when prgate merged it.
    merged: Option<CommitSha>,
}

#[derive(Debug, Clone)]
struct ExecutionRow {
    repo: RepoName,
    merge: CommitSha,
    executor: String,
    outcome: String,
    at: DateTime<Utc>,
    /// Why it did not run (a refusal's reason), when the executor said.
    reason: Option<String>,
}

#[derive(Default)]
struct Board {
    pulls: HashMap<PullRef, PullEntry>,
    executions: VecDeque<ExecutionRow>,
    /// Deliveries whose processing kept failing: (delivery id, event, reason).
    set_aside: VecDeque<(String, String, String)>,
    /// Each repository's page on the code host, learnt from its PRs' `html_url`.
    repo_urls: HashMap<RepoName, String>,
    /// The rate-limit budgets as the code host last told them.
    budgets: Vec<BudgetRow>,
    /// Repositories whose reconciler pass waits for a budget, and why.
    waiting: std::collections::BTreeMap<RepoName, String>,
}

/// One rate-limit budget on the dashboard.
#[derive(Clone, Serialize)]
pub(crate) struct BudgetRow {
    pub name: String,
    pub remaining: u64,
    pub limit: Option<u64>,
    pub resets_at: Option<String>,
}

#[derive(Serialize)]
struct WaitingView {
    repo: String,
    why: String,
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

/// Where a status of prgate's links to: the PR's decision page under `public_url`, or the
/// dashboard when no PR is known; nothing without `public_url`.
pub fn page_url(
    public_url: Option<&str>,
    repo: &RepoName,
    pull: Option<PullNumber>,
) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    Some(match pull {
        Some(n) => format!("{base}/pulls/{repo}/{n}"),
        None => format!("{base}/"),
    })
}

/// The path of a PR's decision page, from the root of the admin listener.
fn pull_page_path(pull: &PullRef) -> String {
    format!("pulls/{}/{}", pull.repo, pull.number)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Only web addresses become links: a `javascript:` URL must never be one, whoever sent it.
fn web_url(url: &str) -> Option<String> {
    (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_string())
}

/// The repository's page from a PR's `html_url` (`…/owner/repo/pull/7`).
fn repo_url_of(pull_html_url: &str) -> Option<String> {
    let url = web_url(pull_html_url)?;
    let (repo, number) = url.trim_end_matches('/').rsplit_once("/pull/")?;
    (!repo.is_empty() && number.chars().all(|c| c.is_ascii_digit())).then(|| repo.to_string())
}

fn css_class(state: &str) -> &'static str {
    match state {
        "success" | "succeeded" => "success",
        "failure" | "failed" | "refused" | "expired" => "failure",
        "error" | "interrupted" | "blocked" => "error",
        "pending" | "running" | "held" => "pending",
        _ => "other",
    }
}

#[derive(Serialize)]
struct Link {
    text: String,
    url: Option<String>,
}

#[derive(Serialize)]
struct PullRow {
    pull: String,
    page: String,
    html_url: Option<String>,
    title: Option<String>,
    author: Option<String>,
    head: String,
    head_short: String,
    head_url: Option<String>,
    state: String,
    class: &'static str,
    description: String,
    at: String,
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct ExecutionView {
    repo: String,
    merge: String,
    merge_short: String,
    merge_url: Option<String>,
    executor: String,
    outcome: String,
    class: &'static str,
    at: String,
    pull: Option<Link>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct SetAsideView {
    id: String,
    event: String,
    reason: String,
}

#[derive(Serialize)]
struct DashboardContext {
    pending: Vec<PullRow>,
    decided: Vec<PullRow>,
    executions: Vec<ExecutionView>,
    set_aside: Vec<SetAsideView>,
    budgets: Vec<BudgetRow>,
    waiting: Vec<WaitingView>,
    now: String,
}

#[derive(Serialize)]
struct PullContext {
    /// How to reach the dashboard from the page (relative, so a path prefix in front of the
    /// admin listener keeps working).
    root: String,
    row: PullRow,
    base_ref: Option<String>,
    draft: bool,
    created_at: Option<String>,
    merge_mode: Option<&'static str>,
    evaluated_at: Option<String>,
    /// The evaluation's own decision (the status may be newer: a forged one overwritten).
    decision_state: Option<String>,
    decision_class: &'static str,
    decision_description: Option<String>,
    /// Whether the evaluation was of the head whose status is shown.
    evaluation_is_current: bool,
    rules: Vec<serde_json::Value>,
    reviews: Vec<serde_json::Value>,
    notes: Vec<String>,
    pushers: Option<Vec<String>>,
    executors: Vec<String>,
    merged: Option<Link>,
    executions: Vec<ExecutionView>,
    plan: Option<PlanView>,
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
        let mut b = self.board();
        let entry = b.pulls.entry(pull.clone()).or_insert_with(|| PullEntry {
            head: head.clone(),
            state: String::new(),
            description: String::new(),
            at,
            evaluation: None,
            merged: None,
        });
        entry.head = head.clone();
        entry.state = state.to_string();
        entry.description = description.to_string();
        entry.at = at;
        forget_beyond_bound(&mut b);
    }

    /// Records the gate's evaluation of `pull` (after its status was posted): the details
    /// the decision page shows.
    pub(crate) fn record_evaluation(&self, pull: &PullRef, evaluation: PullEvaluation) {
        let mut b = self.board();
        if let Some(url) = repo_url_of(&evaluation.html_url) {
            b.repo_urls.insert(pull.repo.clone(), url);
        }
        let d = &evaluation.decision;
        let entry = b.pulls.entry(pull.clone()).or_insert_with(|| PullEntry {
            head: d.head_sha.clone(),
            state: d.state.as_str().to_string(),
            description: d.description.clone(),
            at: evaluation.evaluated_at,
            evaluation: None,
            merged: None,
        });
        entry.evaluation = Some(Arc::new(evaluation));
        forget_beyond_bound(&mut b);
    }

    /// Records that prgate merged `pull` as `merge`: the page then shows its execution.
    pub(crate) fn record_merge(&self, pull: &PullRef, merge: &CommitSha) {
        if let Some(e) = self.board().pulls.get_mut(pull) {
            e.merged = Some(merge.clone());
        }
    }

    /// The PR prgate merged as `merge`, when this process did.
    pub(crate) fn pull_of_merge(&self, repo: &RepoName, merge: &CommitSha) -> Option<PullRef> {
        self.board()
            .pulls
            .iter()
            .find(|(p, e)| &p.repo == repo && e.merged.as_ref() == Some(merge))
            .map(|(p, _)| p.clone())
    }

    /// Records the outcome of running `executor` for merge commit `merge`. The same outcome
    /// of the same merge is listed once (the executor's reconciler reports records it finds).
    pub(crate) fn record_execution(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        executor: &str,
        outcome: &str,
        at: DateTime<Utc>,
    ) {
        let mut b = self.board();
        b.executions
            .retain(|e| !(&e.repo == repo && &e.merge == merge && e.executor == executor));
        b.executions.push_front(ExecutionRow {
            repo: repo.clone(),
            merge: merge.clone(),
            executor: executor.to_string(),
            outcome: outcome.to_string(),
            at,
            reason: None,
        });
        // Newest first (a record found after a restart may be older than those listed).
        b.executions
            .make_contiguous()
            .sort_by_key(|e| std::cmp::Reverse(e.at));
        b.executions.truncate(RECENT_EXECUTIONS);
    }

    /// Adds the reason to the listed execution of `merge` (a refusal says why, e.g. that the
    /// plan drifted and a human must approve the new one).
    pub(crate) fn record_execution_reason(&self, repo: &RepoName, merge: &CommitSha, reason: &str) {
        let mut b = self.board();
        if let Some(row) = b
            .executions
            .iter_mut()
            .find(|e| &e.repo == repo && &e.merge == merge)
        {
            row.reason = Some(reason.to_string());
        }
    }

    /// The rate-limit budgets now.
    pub(crate) fn record_budgets(&self, budgets: Vec<BudgetRow>) {
        self.board().budgets = budgets;
    }

    /// `repo`'s reconciler pass waits (`Some(why)`) or runs again (`None`).
    pub(crate) fn record_pass_waiting(&self, repo: &RepoName, why: Option<String>) {
        let mut b = self.board();
        match why {
            Some(why) => {
                b.waiting.insert(repo.clone(), why);
            }
            None => {
                b.waiting.remove(repo);
            }
        }
    }

    /// Records a delivery set aside after its processing kept failing.
    pub(crate) fn record_set_aside(&self, id: &str, event: &str, reason: &str) {
        let mut b = self.board();
        if b.set_aside.iter().any(|(i, _, _)| i == id) {
            return;
        }
        b.set_aside
            .push_front((id.to_string(), event.to_string(), reason.to_string()));
        b.set_aside.truncate(RECENT_EXECUTIONS);
    }

    /// The dashboard with the built-in templates (tests).
    pub fn render_html(&self) -> String {
        self.render_dashboard(&Renderer::default())
            .unwrap_or_else(|e| e.to_string())
    }

    /// The dashboard: one row per PR, pending ones first.
    pub(crate) fn render_dashboard(&self, renderer: &Renderer) -> Result<String, RenderError> {
        let context = {
            let b = self.board();
            let mut rows: Vec<(&PullRef, &PullEntry)> = b.pulls.iter().collect();
            rows.sort_by(|x, y| y.1.at.cmp(&x.1.at).then(x.0.cmp(y.0)));
            let (mut pending, mut decided) = (Vec::new(), Vec::new());
            for (pull, entry) in rows {
                let row = pull_row(&b, pull, entry);
                if entry.state == "pending" {
                    pending.push(row);
                } else if decided.len() < RECENT_DECISIONS {
                    decided.push(row);
                }
            }
            // The longest waiting first.
            pending.reverse();
            DashboardContext {
                pending,
                decided,
                executions: b
                    .executions
                    .iter()
                    .map(|e| execution_view(&b, e, ""))
                    .collect(),
                set_aside: b
                    .set_aside
                    .iter()
                    .map(|(id, event, reason)| SetAsideView {
                        id: id.clone(),
                        event: event.clone(),
                        reason: reason.clone(),
                    })
                    .collect(),
                budgets: b.budgets.clone(),
                waiting: b
                    .waiting
                    .iter()
                    .map(|(repo, why)| WaitingView {
                        repo: repo.to_string(),
                        why: why.clone(),
                    })
                    .collect(),
                now: time(Utc::now()),
            }
        };
        renderer.render(DASHBOARD_TEMPLATE, &context)
    }

    /// The decision page of one PR; `Ok(None)` when the gate has not evaluated it since it
    /// started.
    pub(crate) fn render_pull(
        &self,
        renderer: &Renderer,
        pull: &PullRef,
    ) -> Result<Option<String>, RenderError> {
        let context = {
            let b = self.board();
            let Some(entry) = b.pulls.get(pull) else {
                return Ok(None);
            };
            // From /pulls/<owner>/<repo>/<n> back to /.
            let root = "../../../".to_string();
            let ev = entry.evaluation.as_deref();
            let d = ev.map(|e| &e.decision);
            let merged = entry.merged.as_ref().map(|m| Link {
                text: m.to_string(),
                url: b
                    .repo_urls
                    .get(&pull.repo)
                    .map(|u| format!("{u}/commit/{m}")),
            });
            let executions = entry
                .merged
                .as_ref()
                .map(|m| {
                    b.executions
                        .iter()
                        .filter(|e| e.repo == pull.repo && &e.merge == m)
                        .map(|e| execution_view(&b, e, &root))
                        .collect()
                })
                .unwrap_or_default();
            PullContext {
                row: pull_row(&b, pull, entry),
                root,
                base_ref: ev.map(|e| e.base_ref.clone()),
                draft: ev.is_some_and(|e| e.draft),
                created_at: ev.and_then(|e| e.created_at).map(time),
                merge_mode: ev.map(|e| e.merge),
                evaluated_at: ev.map(|e| time(e.evaluated_at)),
                decision_state: d.map(|d| d.state.as_str().to_string()),
                decision_class: d.map_or("other", |d| css_class(d.state.as_str())),
                decision_description: d.map(|d| d.description.clone()),
                evaluation_is_current: d.is_some_and(|d| d.head_sha == entry.head),
                rules: d
                    .map(|d| {
                        d.rules
                            .iter()
                            .map(|r| {
                                serde_json::json!({
                                    "name": r.name,
                                    "approvers": r.approvers,
                                    "min_approvals": r.min_approvals.max(1),
                                    "approvals": r.approvals.iter().map(|a| a.login.to_string()).collect::<Vec<_>>(),
                                    "satisfied": r.satisfied,
                                    "executor": r.executor,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                reviews: d
                    .map(|d| {
                        d.reviews
                            .iter()
                            .map(|r| {
                                let blocks = r.counts && r.counted_for.is_empty();
                                serde_json::json!({
                                    "id": r.review_id,
                                    "login": r.login.to_string(),
                                    "stance": r.stance,
                                    "commit": r.commit.as_ref().map(|c| c.short().to_string()),
                                    "on_head": r.commit.as_ref() == Some(&d.head_sha),
                                    "at": r.submitted_at.map(time),
                                    "counts": r.counts,
                                    "blocks": blocks,
                                    "counted_for": r.counted_for,
                                    "why_not": r.why_not,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                notes: d.map(|d| d.notes.clone()).unwrap_or_default(),
                pushers: ev.and_then(|e| e.pushers.clone()),
                executors: d
                    .map(|d| {
                        let mut names: Vec<String> =
                            d.rules.iter().filter_map(|r| r.executor.clone()).collect();
                        names.dedup();
                        names
                    })
                    .unwrap_or_default(),
                merged,
                executions,
                plan: ev.and_then(|e| e.plan.clone()),
            }
        };
        renderer.render(PULL_TEMPLATE, &context).map(Some)
    }
}

/// Keeps the number of PRs bounded: forgets the one decided longest ago, preferring one that
/// no longer waits.
fn forget_beyond_bound(b: &mut Board) {
    while b.pulls.len() > TRACKED_PULLS {
        let victim = b
            .pulls
            .iter()
            .min_by_key(|(_, e)| (e.state == "pending", e.at))
            .map(|(p, _)| p.clone());
        match victim {
            Some(v) => {
                b.pulls.remove(&v);
            }
            None => return,
        }
    }
}

fn pull_row(b: &Board, pull: &PullRef, e: &PullEntry) -> PullRow {
    let ev = e.evaluation.as_deref();
    let undecided = e.state == ApprovalState::Pending.as_str();
    PullRow {
        pull: pull.to_string(),
        page: pull_page_path(pull),
        html_url: ev.and_then(|e| web_url(&e.html_url)),
        title: ev.map(|e| e.title.clone()),
        author: ev.map(|e| e.author.clone()),
        head: e.head.to_string(),
        head_short: e.head.short().to_string(),
        head_url: b
            .repo_urls
            .get(&pull.repo)
            .map(|u| format!("{u}/commit/{}", e.head)),
        state: e.state.clone(),
        class: css_class(&e.state),
        description: e.description.clone(),
        at: time(e.at),
        expires_at: ev
            .and_then(|e| e.expires_at)
            .filter(|_| undecided)
            .map(time),
    }
}

fn execution_view(b: &Board, e: &ExecutionRow, root: &str) -> ExecutionView {
    let pull = b
        .pulls
        .iter()
        .find(|(p, entry)| p.repo == e.repo && entry.merged.as_ref() == Some(&e.merge))
        .map(|(p, _)| Link {
            text: p.to_string(),
            url: Some(format!("{root}{}", pull_page_path(p))),
        });
    ExecutionView {
        repo: e.repo.to_string(),
        merge: e.merge.to_string(),
        merge_short: e.merge.short().to_string(),
        merge_url: b
            .repo_urls
            .get(&e.repo)
            .map(|u| format!("{u}/commit/{}", e.merge)),
        executor: e.executor.clone(),
        outcome: e.outcome.clone(),
        class: css_class(&e.outcome),
        at: time(e.at),
        pull,
        reason: e.reason.clone(),
    }
}

/// Parses the `<owner>/<repo>/<n>` of a decision page's path.
pub(crate) fn parse_pull_path(owner: &str, repo: &str, number: &str) -> Option<PullRef> {
    Some(PullRef {
        repo: format!("{owner}/{repo}").parse().ok()?,
        number: PullNumber(number.parse().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ApprovalState, ReviewVerdict, RuleOutcome};

    fn sha(c: char) -> CommitSha {
        c.to_string().repeat(40).parse().unwrap()
    }

    fn evaluation(head: CommitSha, title: &str) -> PullEvaluation {
        PullEvaluation {
            title: title.into(),
            html_url: "https://github.example/acme/infra/pull/1".into(),
            author: "ops-agent[bot]".into(),
            base_ref: "main".into(),
            draft: false,
            created_at: None,
            expires_at: None,
            merge: "auto",
            plan: None,
            decision: ApprovalDecision {
                state: ApprovalState::Pending,
                description: "needs 1 approval".into(),
                head_sha: head.clone(),
                rules: vec![RuleOutcome {
                    name: "fire<wall>".into(),
                    min_approvals: 1,
                    approvals: vec![],
                    satisfied: false,
                    approvers: "alice or acme/netops".into(),
                    executor: Some("firewall".into()),
                }],
                approvals: vec![],
                denials: vec![],
                notes: vec![],
                reviews: vec![ReviewVerdict {
                    review_id: 3,
                    login: crate::types::Login::new("mallory".to_string()),
                    stance: "approved".into(),
                    commit: Some(head),
                    submitted_at: None,
                    counts: false,
                    counted_for: vec![],
                    why_not: Some("mallory is not a designated approver of <b>x</b>".into()),
                }],
            },
            pushers: Some(vec!["ops-agent[bot]".into()]),
            evaluated_at: Utc::now(),
        }
    }

    #[test]
    fn one_row_per_pull_and_everything_is_escaped() {
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
        d.record_evaluation(&a, evaluation(sha('a'), "Open <443>"));
        d.record_decision(&b, &sha('b'), "pending", "waiting", t(1));
        d.record_decision(&b, &sha('b'), "success", "approved by alice & bob", t(2));
        d.record_execution(
            &"acme/infra".parse().unwrap(),
            &sha('c'),
            "fire\"wall",
            "interrupted",
            t(3),
        );
        let html = d.render_html();
        assert!(html.contains("Pending approvals (1)"), "{html}");
        assert_eq!(html.matches("acme&#x2f;infra#2</a>").count(), 1, "{html}");
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(html.contains("alice &amp; bob"));
        assert!(html.contains("fire&quot;wall"));
        assert!(html.contains("Open &lt;443&gt;"));
        // minijinja escapes `/` too; a browser reads the links as written (tests/it/pages.rs).
        assert!(html.contains(
            "href=\"https:&#x2f;&#x2f;github.example&#x2f;acme&#x2f;infra&#x2f;commit&#x2f;aaaa"
        ));
        assert!(
            html.contains("href=\"pulls&#x2f;acme&#x2f;infra&#x2f;1\""),
            "{html}"
        );
        assert!(html.contains("interrupted"));

        let page = d.render_pull(&Renderer::default(), &a).unwrap().unwrap();
        assert!(page.contains("fire&lt;wall&gt;"), "{page}");
        assert!(page.contains("not a designated approver of &lt;b&gt;x&lt;&#x2f;b&gt;"));
        assert!(page.contains("ops-agent[bot]"));
        assert!(
            d.render_pull(&Renderer::default(), &"acme/infra#9".parse().unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_decision_page_shows_the_plan_escaped_and_a_refusals_reason() {
        let d = Dashboard::new();
        let pull: PullRef = "acme/infra#4".parse().unwrap();
        let mut ev = evaluation(sha('a'), "Open 443");
        ev.plan = Some(PlanView {
            executor: "firewall".into(),
            state: "ready",
            digest: Some(format!("sha256:{}", "3f".repeat(32))),
            size: Some(14),
            base: "1111111".into(),
            output: "open  tcp/443\n<script>x</script>\n".into(),
            truncated: false,
            failure: None,
        });
        d.record_decision(
            &pull,
            &sha('a'),
            "pending",
            "plan 3f3f3f…; needs 1",
            Utc::now(),
        );
        d.record_evaluation(&pull, ev);
        d.record_merge(&pull, &sha('e'));
        let repo: RepoName = "acme/infra".parse().unwrap();
        d.record_execution(&repo, &sha('e'), "firewall", "refused", Utc::now());
        d.record_execution_reason(
            &repo,
            &sha('e'),
            "plan drifted: a human must approve the new plan",
        );
        let page = d.render_pull(&Renderer::default(), &pull).unwrap().unwrap();
        assert!(page.contains("<h2>Plan</h2>"), "{page}");
        assert!(
            page.contains(&format!("sha256:{}", "3f".repeat(32))),
            "{page}"
        );
        // minijinja escapes `/` as well.
        assert!(page.contains("open  tcp&#x2f;443"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("refused: plan drifted: a human must approve the new plan"),
            "{page}"
        );
    }

    #[test]
    fn repo_urls_come_from_pull_urls() {
        assert_eq!(
            repo_url_of("https://github.com/acme/infra/pull/12").as_deref(),
            Some("https://github.com/acme/infra")
        );
        assert_eq!(repo_url_of("https://github.com/acme/infra"), None);
        assert_eq!(repo_url_of("javascript:alert(1)//x/pull/1"), None);
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
        assert_eq!(b.pulls.len(), TRACKED_PULLS);
    }
}
