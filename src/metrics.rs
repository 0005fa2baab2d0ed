//! Prometheus metrics for `/metrics`: webhook deliveries, decisions, code host calls and rate
//! limits, merges, executions, reconciler passes, the queue, latencies and the build. Label values that come from outside the process are mapped onto a
//! fixed set, so that no sender can grow the number of series.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`].
pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of [`Metrics::render_openmetrics`].
pub(crate) const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// GitHub's webhook event names (plus `unknown` for a missing header); anything else is
/// counted as `other`.
const KNOWN_EVENTS: &[&str] = &[
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "github_app_authorization",
    "gollum",
    "installation",
    "installation_repositories",
    "installation_target",
    "issue_comment",
    "issues",
    "label",
    "marketplace_purchase",
    "member",
    "membership",
    "merge_group",
    "meta",
    "milestone",
    "org_block",
    "organization",
    "package",
    "page_build",
    "personal_access_token_request",
    "ping",
    "project",
    "project_card",
    "project_column",
    "projects_v2",
    "projects_v2_item",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "security_advisory",
    "security_and_analysis",
    "sponsorship",
    "star",
    "status",
    "sub_issues",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
    "unknown",
];

fn bounded<'a>(value: &'a str, allowed: &[&'static str], fallback: &'static str) -> &'a str {
    if allowed.contains(&value) {
        value
    } else {
        fallback
    }
}

/// Our own label values (routes, states) are low-cardinality by construction, but are still
/// kept short and printable in case a caller passes something from outside.
fn tidy(value: &str) -> String {
    value
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    method: String,
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabels {
    repo: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLabels {
    /// `token`, `app`, or `installation:<owner>`.
    credential: String,
    /// GitHub's rate limit resource: `core`, `graphql`, `search`.
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// What an execution can come to (the `outcome` words of the execution record), plus
/// `blocked` (a ref in the way kept it from being claimed).
const EXECUTION_OUTCOMES: &[&str] = &[
    "succeeded",
    "failed",
    "timeout",
    "refused",
    "held",
    "cancelled",
    "interrupted",
    "not_started",
    "blocked",
];

/// The version of this build, and the commit it was built from when known at build time
/// (`PRGATE_GIT_COMMIT`, set by build.rs from git or by whoever builds), else `unknown`.
fn build_commit() -> &'static str {
    match option_env!("PRGATE_GIT_COMMIT") {
        Some(c) if !c.is_empty() => c,
        _ => "unknown",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiTimingLabels {
    method: String,
    endpoint: String,
}

struct Inner {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    decisions: Family<StateLabels, Counter>,
    api_calls: Family<ApiLabels, Counter>,
    api_seconds: Family<ApiTimingLabels, Histogram>,
    merges: Family<OutcomeLabels, Counter>,
    executions: Family<OutcomeLabels, Counter>,
    rate_remaining: Family<RateLabels, Gauge>,
    reconcile_passes: Family<OutcomeLabels, Counter>,
    reconcile_seconds: Histogram,
    reconcile_listed: Counter,
    reconcile_due: Family<ReasonLabels, Counter>,
    reconcile_waiting: Family<RepoLabels, Gauge>,
    set_aside: Gauge,
    queue_depth: Gauge,
    processing_seconds: Histogram,
    webhook_seconds: Histogram,
}

/// All of prgate's metrics. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("prgate");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries received, by event and outcome",
            deliveries.clone(),
        );
        let decisions = Family::<StateLabels, Counter>::default();
        registry.register(
            "decisions",
            "prgate/approval statuses decided, by state",
            decisions.clone(),
        );
        let api_calls = Family::<ApiLabels, Counter>::default();
        registry.register(
            "github_api_calls",
            "Code host API calls, by method, route template and HTTP status",
            api_calls.clone(),
        );
        let api_seconds = Family::<ApiTimingLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.005, 2.0, 14))) as fn() -> Histogram,
        );
        registry.register(
            "github_api_seconds",
            "Code host API call duration",
            api_seconds.clone(),
        );
        let merges = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "merges",
            "Pull request merges attempted, by outcome",
            merges.clone(),
        );
        let executions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "executions",
            "Post-merge executions considered, by outcome (succeeded, failed, timeout, refused, held, cancelled, interrupted, not_started, blocked)",
            executions.clone(),
        );
        let rate_remaining = Family::<RateLabels, Gauge>::default();
        registry.register(
            "github_rate_limit_remaining",
            "Requests left in the code host's rate limit window, per credential (each app installation has its own) and resource, as its last answer said",
            rate_remaining.clone(),
        );
        let reconcile_passes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reconcile_passes",
            "Reconciler passes over the governed repositories, by outcome (ok, or failed when a repository could not be listed)",
            reconcile_passes.clone(),
        );
        let reconcile_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "reconcile_seconds",
            "Duration of a reconciler pass",
            reconcile_seconds.clone(),
        );
        let reconcile_listed = Counter::default();
        registry.register(
            "reconcile_listed_pulls",
            "Open pull requests reconciler passes listed",
            reconcile_listed.clone(),
        );
        let reconcile_due = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reconcile_reevaluations",
            "Open pull requests a reconciler pass re-evaluated, by why (undecided, updated, reviewed, dismissed, policy_changed, expiring, error, unmerged, aged, not_prgates, head_moved)",
            reconcile_due.clone(),
        );
        let reconcile_waiting = Family::<RepoLabels, Gauge>::default();
        registry.register(
            "reconcile_waiting",
            "1 while a repository's reconciler pass waits because a budget of its credential is low (webhook-driven decisions go on)",
            reconcile_waiting.clone(),
        );
        let set_aside = Gauge::default();
        registry.register(
            "deliveries_set_aside",
            "Deliveries set aside after their processing kept failing, kept on disk for an operator",
            set_aside.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "This prgate's version and the commit it was built from (always 1)",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                commit: build_commit().to_string(),
            })
            .set(1);
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Deliveries accepted and not yet processed",
            queue_depth.clone(),
        );
        let processing_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "processing_seconds",
            "Time from accepting a delivery to having processed it",
            processing_seconds.clone(),
        );
        let webhook_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "webhook_seconds",
            "Time spent answering a webhook delivery",
            webhook_seconds.clone(),
        );

        // The families were registered under the sub-registry; keep the root for encoding.
        let inner = Inner {
            registry: root,
            deliveries,
            decisions,
            api_calls,
            api_seconds,
            merges,
            executions,
            rate_remaining,
            reconcile_passes,
            reconcile_seconds,
            reconcile_listed,
            reconcile_due,
            reconcile_waiting,
            set_aside,
            queue_depth,
            processing_seconds,
            webhook_seconds,
        };
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// `outcome`: accepted, duplicate, ignored, unauthorized, too_large, bad_request,
    /// unavailable (the queue could not store it), busy (the body budget stayed full),
    /// timeout (the body did not arrive in time) or set_aside (its processing kept failing).
    pub fn delivery(&self, event: &str, outcome: &str) {
        let labels = DeliveryLabels {
            event: bounded(event, KNOWN_EVENTS, "other").to_string(),
            outcome: bounded(
                outcome,
                &[
                    "accepted",
                    "duplicate",
                    "ignored",
                    "unauthorized",
                    "too_large",
                    "bad_request",
                    "unavailable",
                    "busy",
                    "timeout",
                    "set_aside",
                ],
                "other",
            )
            .to_string(),
        };
        self.inner.deliveries.get_or_create(&labels).inc();
    }

    /// `state`: pending, success, failure or error.
    pub fn decision(&self, state: &str) {
        let state =
            bounded(state, &["pending", "success", "failure", "error"], "other").to_string();
        self.inner
            .decisions
            .get_or_create(&StateLabels { state })
            .inc();
    }

    /// `endpoint` is a route template such as `/repos/{owner}/{repo}/pulls/{number}`.
    pub(crate) fn api_call(&self, method: &str, endpoint: &str, status: u16, seconds: f64) {
        let method = tidy(&method.to_ascii_uppercase());
        let endpoint = tidy(endpoint);
        self.inner
            .api_calls
            .get_or_create(&ApiLabels {
                method: method.clone(),
                endpoint: endpoint.clone(),
                status: status.to_string(),
            })
            .inc();
        self.inner
            .api_seconds
            .get_or_create(&ApiTimingLabels { method, endpoint })
            .observe(seconds);
    }

    pub fn merge(&self, outcome: &str) {
        self.inner
            .merges
            .get_or_create(&OutcomeLabels {
                outcome: tidy(outcome),
            })
            .inc();
    }

    /// `outcome`: one of the execution record's outcomes, or `blocked`; anything else is
    /// counted as `other`.
    pub fn execution(&self, outcome: &str) {
        self.inner
            .executions
            .get_or_create(&OutcomeLabels {
                outcome: bounded(outcome, EXECUTION_OUTCOMES, "other").to_string(),
            })
            .inc();
    }

    /// The rate limit left in `budget` (`installation:acme/core`, `token/graphql`, ...).
    pub(crate) fn rate_limit_remaining(&self, budget: &str, remaining: u64) {
        let (credential, resource) = budget.rsplit_once('/').unwrap_or((budget, "core"));
        self.inner
            .rate_remaining
            .get_or_create(&RateLabels {
                credential: tidy(credential),
                resource: tidy(resource),
            })
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    }

    /// One reconciler pass ended; `ok` is false when some repository could not be listed.
    pub(crate) fn reconcile_pass(&self, ok: bool, seconds: f64) {
        let outcome = if ok { "ok" } else { "failed" };
        self.inner
            .reconcile_passes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
        self.inner.reconcile_seconds.observe(seconds);
    }

    /// A pass listed `listed` open PRs of a repository.
    pub(crate) fn reconcile_listed(&self, listed: usize) {
        self.inner.reconcile_listed.inc_by(listed as u64);
    }

    /// A pass re-evaluates a PR, for `reason`.
    pub(crate) fn reconcile_due(&self, reason: &str) {
        self.inner
            .reconcile_due
            .get_or_create(&ReasonLabels {
                reason: tidy(reason),
            })
            .inc();
    }

    /// Whether `repo`'s pass waits for a budget.
    pub(crate) fn reconcile_waiting(&self, repo: &str, waiting: bool) {
        self.inner
            .reconcile_waiting
            .get_or_create(&RepoLabels { repo: tidy(repo) })
            .set(i64::from(waiting));
    }

    /// How many deliveries are set aside now.
    pub(crate) fn set_aside_count(&self, n: usize) {
        self.inner
            .set_aside
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn queue_depth(&self, n: usize) {
        self.inner
            .queue_depth
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Accepted to processed, in seconds.
    pub fn processing_latency(&self, seconds: f64) {
        self.inner.processing_seconds.observe(seconds);
    }

    /// Time the webhook handler took, in seconds.
    pub(crate) fn webhook_latency(&self, seconds: f64) {
        self.inner.webhook_seconds.observe(seconds);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let open = self.render_openmetrics();
        // OpenMetrics names a counter family without `_total` and ends with `# EOF`; the
        // classic text format wants the sample name in `# TYPE`/`# HELP` and no EOF marker.
        let mut counters = std::collections::HashSet::new();
        for line in open.lines() {
            if let Some(name) = line
                .strip_prefix("# TYPE ")
                .and_then(|r| r.strip_suffix(" counter"))
            {
                counters.insert(name.to_string());
            }
        }
        let mut out = String::with_capacity(open.len());
        for line in open.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let fixed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
                let rest = line.strip_prefix(prefix)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .contains(name)
                    .then(|| format!("{prefix}{name}_total {tail}"))
            });
            match fixed {
                Some(l) => out.push_str(&l),
                None => out.push_str(line),
            }
            out.push('\n');
        }
        out
    }

    /// The OpenMetrics text format, for scrapers that ask for it.
    pub(crate) fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_its_prefix() {
        let m = Metrics::new();
        m.delivery("pull_request", "accepted");
        m.delivery("x-evil-\"event", "unauthorized");
        m.decision("success");
        m.api_call("get", "/repos/{owner}/{repo}/pulls/{number}", 200, 0.12);
        m.merge("merged");
        m.queue_depth(3);
        m.processing_latency(0.5);
        m.webhook_latency(0.002);
        m.execution("succeeded");
        m.execution("Ran { outcome: Failed }");
        m.rate_limit_remaining("installation:acme/core", 4990);
        m.reconcile_pass(true, 0.3);
        m.set_aside_count(2);
        let text = m.render();
        let build_info = format!(
            r#"prgate_build_info{{version="{}",commit="{}"}} 1"#,
            env!("CARGO_PKG_VERSION"),
            build_commit()
        );
        for needle in [
            "# TYPE prgate_webhook_deliveries_total counter",
            r#"prgate_webhook_deliveries_total{event="pull_request",outcome="accepted"} 1"#,
            r#"prgate_webhook_deliveries_total{event="other",outcome="unauthorized"} 1"#,
            r#"prgate_decisions_total{state="success"} 1"#,
            r#"prgate_github_api_calls_total{method="GET",endpoint="/repos/{owner}/{repo}/pulls/{number}",status="200"} 1"#,
            r#"prgate_merges_total{outcome="merged"} 1"#,
            "prgate_queue_depth 3",
            "prgate_processing_seconds_count 1",
            "prgate_webhook_seconds_bucket",
            "prgate_github_api_seconds_sum",
            r#"prgate_executions_total{outcome="succeeded"} 1"#,
            r#"prgate_executions_total{outcome="other"} 1"#,
            r#"prgate_github_rate_limit_remaining{credential="installation:acme",resource="core"} 4990"#,
            r#"prgate_reconcile_passes_total{outcome="ok"} 1"#,
            "prgate_reconcile_seconds_count 1",
            "prgate_deliveries_set_aside 2",
            build_info.as_str(),
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(!text.contains("# EOF"));
        assert!(m.render_openmetrics().ends_with("# EOF\n"));
    }
}
