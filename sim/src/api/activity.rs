//! `GET /repos/{owner}/{repo}/activity`: who moved which branch, when and how, with GitHub's
//! filters and its cursor pagination (`before`/`after` cursors in the `Link` header).
//! https://docs.github.com/en/rest/repos/repos#list-repository-activities

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::Value;

use super::find_repo;
use crate::http::{ApiError, ApiResult};
use crate::world::Activity;
use crate::{Sim, render};

const TYPES: [&str; 6] = [
    "push",
    "force_push",
    "branch_creation",
    "branch_deletion",
    "pr_merge",
    "merge_queue_merge",
];

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let filter = Filter::from_query(&q)?;
    // An unknown login matches nothing, as a filter on a name nobody has.
    let actor_id = filter
        .actor
        .as_ref()
        .map(|login| w.account_by_login(login).map(|a| a.id));
    let now = Utc::now();
    let mut items: Vec<&Activity> = w.repos[idx]
        .activity
        .iter()
        .filter(|a| filter.refname.as_ref().is_none_or(|r| &a.refname == r))
        .filter(|a| actor_id.is_none_or(|id| id.is_some() && a.actor == id))
        .filter(|a| filter.kind.as_ref().is_none_or(|k| a.kind == k))
        .filter(|a| filter.since.is_none_or(|d| a.timestamp >= now - d))
        .collect();
    if !filter.ascending {
        items.reverse();
    }
    // Cursors name an entry; `after` lists what follows it, `before` what precedes it, in
    // the order asked for.
    let (start, end) = match (&filter.after, &filter.before) {
        (Some(c), _) => {
            let from = position(&items, c)? + 1;
            (from, (from + filter.per_page).min(items.len()))
        }
        (None, Some(c)) => {
            let to = position(&items, c)?;
            (to.saturating_sub(filter.per_page), to)
        }
        (None, None) => (0, filter.per_page.min(items.len())),
    };
    let page: Vec<Value> = items[start..end]
        .iter()
        .map(|a| render::activity(&sim.urls, &w, a))
        .collect();
    let base = format!(
        "{}/repos/{}/activity",
        sim.urls.api,
        w.repos[idx].full_name()
    );
    let mut links = Vec::new();
    if end < items.len()
        && let Some(last) = items.get(end.wrapping_sub(1))
    {
        links.push(link(&base, &q, "after", last.id, "next"));
    }
    if start > 0
        && let Some(first) = items.get(start)
    {
        links.push(link(&base, &q, "before", first.id, "prev"));
    }
    let mut resp = axum::Json(Value::Array(page)).into_response();
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

/// The query, checked as GitHub does (422 for a value outside an enum).
struct Filter {
    refname: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    since: Option<Duration>,
    ascending: bool,
    per_page: usize,
    before: Option<String>,
    after: Option<String>,
}

impl Filter {
    fn from_query(q: &HashMap<String, String>) -> Result<Filter, ApiError> {
        let invalid = |name: &str, v: &str| {
            ApiError::invalid(format!("{v:?} is not a valid value for {name}"))
        };
        let ascending = match q.get("direction").map(String::as_str) {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(other) => return Err(invalid("direction", other)),
        };
        let kind = q.get("activity_type").cloned();
        if let Some(k) = &kind
            && !TYPES.contains(&k.as_str())
        {
            return Err(invalid("activity_type", k));
        }
        let since = match q.get("time_period").map(String::as_str) {
            None => None,
            Some("day") => Some(Duration::days(1)),
            Some("week") => Some(Duration::days(7)),
            Some("month") => Some(Duration::days(30)),
            Some("quarter") => Some(Duration::days(90)),
            Some("year") => Some(Duration::days(365)),
            Some(other) => return Err(invalid("time_period", other)),
        };
        // A branch may be named either way: `refs/heads/main` or `main`.
        let refname = q.get("ref").map(|r| {
            if r.starts_with("refs/") {
                r.clone()
            } else {
                format!("refs/heads/{r}")
            }
        });
        let per_page = q
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        Ok(Filter {
            refname,
            actor: q.get("actor").cloned(),
            kind,
            since,
            ascending,
            per_page,
            before: q.get("before").cloned(),
            after: q.get("after").cloned(),
        })
    }
}

fn cursor(id: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("activity:{id}"))
}

/// Where the entry a cursor names stands in `items`; 422 for a cursor that names none.
fn position(items: &[&Activity], c: &str) -> Result<usize, ApiError> {
    let bad = || ApiError::invalid(format!("{c:?} is not a valid cursor"));
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let id: u64 = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.strip_prefix("activity:"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    items.iter().position(|a| a.id == id).ok_or_else(bad)
}

/// One `Link` entry: the same query with the cursor replaced.
fn link(base: &str, q: &HashMap<String, String>, key: &str, id: u64, rel: &str) -> String {
    let mut pairs: Vec<(&str, String)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != "before" && k.as_str() != "after")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    pairs.sort();
    pairs.push((key, cursor(id)));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("<{base}?{}>; rel=\"{rel}\"", query.join("&"))
}

/// Percent-encodes a query component (unreserved characters and `/` stay as they are).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
