//! Pull request reviews: submit (with `commit_id`), list, read, dismiss.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find_repo, git, need_write, number};
use crate::gitstore;
use crate::http::{Actor, ApiError, ApiResult, ok, paginate, parse_body};
use crate::ids::UserId;
use crate::world::{Review, World};
use crate::{Sim, render};

type PullPath = Path<(String, String, String)>;
type ReviewPath = Path<(String, String, String, String)>;

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): PullPath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let items = p
        .reviews
        .iter()
        .map(|rv| render::review(&sim.urls, &w, rp, p, rv))
        .collect();
    paginate(
        items,
        &q,
        &format!(
            "{}/repos/{}/pulls/{n}/reviews",
            sim.urls.api,
            rp.full_name()
        ),
    )
}

pub async fn get_one(State(sim): State<Arc<Sim>>, Path((o, r, n, id)): ReviewPath) -> ApiResult {
    let (n, id) = (number(&n)?, number(&id)?);
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let rv = p
        .reviews
        .iter()
        .find(|rv| rv.id == id)
        .ok_or_else(ApiError::not_found)?;
    ok(render::review(&sim.urls, &w, rp, p, rv))
}

#[derive(Deserialize)]
pub struct NewReview {
    event: Option<String>,
    body: Option<String>,
    commit_id: Option<String>,
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): PullPath,
    body: Bytes,
) -> ApiResult {
    let new: NewReview = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let p = w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    let state = match new.event.as_deref() {
        Some("APPROVE") => "APPROVED",
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("COMMENT") => "COMMENTED",
        // GitHub would create a PENDING draft review; the simulator does not keep drafts.
        _ => {
            return Err(ApiError::invalid(
                "Unprocessable Entity: event must be APPROVE, REQUEST_CHANGES or COMMENT",
            ));
        }
    };
    let body = new.body.unwrap_or_default();
    if p.user == actor.0 && state != "COMMENTED" {
        let what = if state == "APPROVED" {
            "approve"
        } else {
            "request changes on"
        };
        return Err(ApiError::invalid(format!(
            "Unprocessable Entity: Can not {what} your own pull request"
        )));
    }
    if state != "APPROVED" && body.trim().is_empty() {
        return Err(ApiError::invalid(format!(
            "Unprocessable Entity: Body is required for {}",
            new.event.unwrap_or_default()
        )));
    }
    // No check on the PR's state: GitHub accepts reviews, approvals included, on closed and
    // merged pull requests ("it's explicitly allowed by the API",
    // https://github.com/cli/cli/issues/5038). prgate must not count them after a merge.
    let commit_id = match new.commit_id {
        Some(c) => gitstore::resolve_commit(&repo, &c)
            .filter(|o| o.to_string().eq_ignore_ascii_case(&c))
            .ok_or_else(|| {
                ApiError::invalid("Unprocessable Entity: commit_id is not part of the pull request")
            })?
            .to_string(),
        None => p.head_sha.clone(),
    };
    let id = w.next_id();
    let review = Review {
        id,
        user: actor.0,
        state: state.into(),
        body,
        commit_id,
        submitted_at: Utc::now(),
    };
    if let Some(p) = w.repos[idx].pull_mut(n) {
        p.reviews.push(review);
        // Reviewing answers a review request: GitHub takes the reviewer off the list.
        p.requested_users.retain(|u| *u != actor.0);
        // `updated_at` is left alone: GitHub's documentation does not say that a review (or
        // its dismissal) moves the PR's `updated_at`, so the simulator takes the stricter
        // reading and prgate's reconciler must see reviews by their own dates.
    }
    emit_review(&sim, &w, idx, n, id, "submitted", actor.0);
    ok(review_json(&sim, &w, idx, n, id).ok_or_else(ApiError::not_found)?)
}

fn review_json(sim: &Sim, w: &World, idx: usize, n: u64, id: u64) -> Option<Value> {
    let rp = &w.repos[idx];
    let p = rp.pull(n)?;
    let rv = p.reviews.iter().find(|rv| rv.id == id)?;
    Some(render::review(&sim.urls, w, rp, p, rv))
}

/// `pull_request_review` with the review's state in lower case, as webhooks carry it.
fn emit_review(sim: &Sim, w: &World, idx: usize, n: u64, id: u64, action: &str, sender: UserId) {
    let Some(mut review) = review_json(sim, w, idx, n, id) else {
        return;
    };
    if let Some(s) = review["state"].as_str() {
        review["state"] = Value::String(s.to_ascii_lowercase());
    }
    let pull = super::pulls::render_pull(sim, w, idx, n).unwrap_or(Value::Null);
    let payload = json!({
        "action": action,
        "review": review,
        "pull_request": pull,
        "repository": render::repo(&sim.urls, w, &w.repos[idx]),
        "sender": render::user_id(&sim.urls, w, sender),
    });
    sim.hooks.emit("pull_request_review", &payload);
}

#[derive(Deserialize)]
pub struct Dismissal {
    message: Option<String>,
}

pub async fn dismiss(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n, id)): ReviewPath,
    body: Bytes,
) -> ApiResult {
    let d: Dismissal = parse_body(&body)?;
    let (n, id) = (number(&n)?, number(&id)?);
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    if d.message.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return Err(ApiError::invalid(
            "Unprocessable Entity: message is required",
        ));
    }
    let p = w.repos[idx].pull_mut(n).ok_or_else(ApiError::not_found)?;
    let rv = p
        .reviews
        .iter_mut()
        .find(|rv| rv.id == id)
        .ok_or_else(ApiError::not_found)?;
    if rv.state != "APPROVED" && rv.state != "CHANGES_REQUESTED" {
        return Err(ApiError::invalid(format!(
            "Unprocessable Entity: Can not dismiss a {} pull request review",
            rv.state.to_ascii_lowercase()
        )));
    }
    // The issue timeline keeps who dismissed it and what it was (REST issue event
    // `review_dismissed`, its `dismissed_review.state` the state before, in lower case; GraphQL
    // `ReviewDismissedEvent.previousReviewState`): the review itself now only says DISMISSED.
    let before = rv.state.to_ascii_lowercase();
    rv.state = "DISMISSED".into();
    let message = d.message.clone().unwrap_or_default();
    let event_id = w.next_id();
    if let Some(p) = w.repos[idx].pull_mut(n) {
        p.events.push(crate::world::IssueEvent {
            id: event_id,
            event: "review_dismissed".into(),
            actor: actor.0,
            created_at: chrono::Utc::now(),
            requested_user: None,
            requested_team: None,
            dismissed_review: Some((id, before, message)),
        });
    }
    emit_review(&sim, &w, idx, n, id, "dismissed", actor.0);
    ok(review_json(&sim, &w, idx, n, id).ok_or_else(ApiError::not_found)?)
}
