//! Rate-limit budgets as GitHub counts them: per credential (each installation its own, the
//! App's JWT another, a token its own) and per resource (REST's `core`, `graphql`, `search`),
//! as the last answer's headers said; and how long a secondary limit asks to wait.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct RateState {
    pub(super) remaining: Option<u64>,
    pub(super) limit: Option<u64>,
    pub(super) reset_epoch: Option<u64>,
}

/// One rate-limit budget as GitHub's last answer on it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BudgetView {
    /// `<credential>/<resource>`, e.g. `installation:acme/graphql`.
    pub name: String,
    pub remaining: u64,
    pub limit: Option<u64>,
    /// When it resets (seconds since the epoch).
    pub reset_epoch: Option<u64>,
}

impl BudgetView {
    /// Whether less than `share` of the budget is left, with its reset still to come.
    pub(super) fn below(&self, share: f64, now_epoch: u64) -> bool {
        let Some(limit) = self.limit.filter(|l| *l > 0) else {
            return false;
        };
        (self.remaining as f64) < limit as f64 * share
            && self.reset_epoch.is_some_and(|r| r > now_epoch)
    }
}

/// The rate-limit budget a request spends: GitHub counts per credential (each app
/// installation has its own, the app's JWT another) and per resource, GraphQL apart from REST
/// ("Rate limits for the REST API" and "Rate limits and node limits for the GraphQL API",
/// docs.github.com).
pub(super) fn budget_of(credential: &str, path: &str) -> String {
    let resource = if path == "/graphql" || path.starts_with("/graphql?") {
        "graphql"
    } else if path.starts_with("/search/") {
        "search"
    } else {
        "core"
    };
    format!("{credential}/{resource}")
}

/// How long a secondary rate limit asks to wait: a 429, or a 403 that carries `Retry-After`
/// (GitHub's secondary limits; "Rate limits for the REST API", docs.github.com).
pub(super) fn secondary_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && headers.contains_key("retry-after"));
    if !limited {
        return None;
    }
    let secs = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        // Without Retry-After, GitHub asks to wait at least a minute.
        .unwrap_or(60);
    Some(Duration::from_secs(secs))
}
