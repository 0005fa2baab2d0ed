//! A commit's statuses as GitHub derives its views of them: newest first, the latest of each
//! context, and the combined state ("Get the combined status for a specific reference",
//! docs.github.com).

use crate::world::{Status, World};

/// The statuses on `sha`, newest first.
pub(crate) fn statuses_for<'a>(w: &'a World, idx: usize, sha: &str) -> Vec<&'a Status> {
    let mut v: Vec<&Status> = w.repos[idx]
        .statuses
        .iter()
        .filter(|s| s.sha == sha)
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.id));
    v
}

/// The latest status of each context on `sha`, newest first.
pub(crate) fn latest_per_context<'w>(w: &'w World, idx: usize, sha: &str) -> Vec<&'w Status> {
    let mut latest: Vec<&Status> = Vec::new();
    for s in statuses_for(w, idx, sha) {
        if !latest.iter().any(|l| l.context == s.context) {
            latest.push(s);
        }
    }
    latest
}

/// The combined state: `failure` if any context's latest is `error` or `failure`, else
/// `pending` if any is pending (or there is none), else `success`.
pub fn combined_state(w: &World, idx: usize, sha: &str) -> &'static str {
    state_of(&latest_per_context(w, idx, sha))
}

pub(crate) fn state_of(latest: &[&Status]) -> &'static str {
    if latest
        .iter()
        .any(|s| s.state == "error" || s.state == "failure")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    }
}
