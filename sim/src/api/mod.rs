//! The simulator's HTTP routes, split by GitHub's REST sections, plus `/_sim` test control.

mod activity;
mod apps;
mod checks;
mod control;
mod git_commits;
mod git_trees;
mod issues;
pub mod pulls;
mod refs;
mod repos;
mod review_requests;
mod reviews;
mod statuses;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

pub(crate) use checks::create_actions_check_run;

use super::Sim;
use super::http::{ApiError, api_layer};
use super::world::World;
use crate::ids::UserId;

pub fn router(sim: Arc<Sim>) -> Router {
    let repo = "/repos/{owner}/{repo}";
    Router::new()
        .route("/app", get(apps::me))
        .route(
            "/app/installations/{id}/access_tokens",
            post(apps::access_token),
        )
        .route(
            &format!("{repo}/installation"),
            get(apps::repo_installation),
        )
        .route("/orgs/{org}/installation", get(apps::org_installation))
        .route("/graphql", post(super::graphql::query))
        .route("/user", get(users::me))
        .route("/users/{login}", get(users::by_login))
        .route("/user/{account_id}", get(users::by_id))
        .route("/orgs/{org}/teams/{slug}/members", get(users::team_members))
        .route(
            "/orgs/{org}/teams/{slug}/memberships/{login}",
            get(users::team_membership),
        )
        .route(repo, get(repos::get_repo))
        .route(&format!("{repo}/activity"), get(activity::list))
        .route(&format!("{repo}/contents/{{*path}}"), get(repos::contents))
        .route(&format!("{repo}/commits"), get(repos::list_commits))
        .route(
            &format!("{repo}/branches/{{branch}}/protection"),
            get(repos::branch_protection),
        )
        .route(
            &format!("{repo}/rules/branches/{{branch}}"),
            get(repos::branch_rules),
        )
        .route(
            &format!("{repo}/commits/{{*rest}}"),
            get(repos::commits_dispatch),
        )
        .route(
            &format!("{repo}/compare/{{*basehead}}"),
            get(repos::compare),
        )
        .route(
            &format!("{repo}/pulls"),
            get(pulls::list).post(pulls::create),
        )
        .route(
            &format!("{repo}/pulls/{{number}}"),
            get(pulls::get).patch(pulls::update),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/commits"),
            get(pulls::commits),
        )
        .route(&format!("{repo}/pulls/{{number}}/files"), get(pulls::files))
        .route(
            &format!("{repo}/pulls/{{number}}/merge"),
            put(pulls::merge).get(pulls::is_merged),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/reviews"),
            get(reviews::list).post(reviews::create),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/reviews/{{id}}"),
            get(reviews::get_one),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/reviews/{{id}}/dismissals"),
            put(reviews::dismiss),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/requested_reviewers"),
            get(review_requests::list)
                .post(review_requests::request)
                .delete(review_requests::remove),
        )
        .route(
            &format!("{repo}/issues/{{number}}/events"),
            get(issues::list_events),
        )
        .route(&format!("{repo}/statuses/{{sha}}"), post(statuses::create))
        .route(&format!("{repo}/check-runs"), post(checks::create))
        .route(
            &format!("{repo}/check-runs/{{id}}"),
            get(checks::get_one).patch(checks::update),
        )
        .route(&format!("{repo}/git/ref/{{*name}}"), get(refs::get_ref))
        .route(
            &format!("{repo}/git/matching-refs/{{*prefix}}"),
            get(refs::matching),
        )
        .route(&format!("{repo}/git/refs"), post(refs::create))
        .route(&format!("{repo}/git/commits"), post(git_commits::create))
        .route(&format!("{repo}/git/trees/{{sha}}"), get(git_trees::tree))
        .route(&format!("{repo}/git/blobs/{{sha}}"), get(git_trees::blob))
        .route(
            &format!("{repo}/git/refs/{{*name}}"),
            get(refs::get_ref).patch(refs::update).delete(refs::delete),
        )
        .route(
            &format!("{repo}/issues/{{number}}"),
            get(issues::get).patch(issues::update),
        )
        .route(
            &format!("{repo}/issues/{{number}}/comments"),
            get(issues::list_comments).post(issues::create_comment),
        )
        .route(
            &format!("{repo}/issues/comments/{{id}}"),
            axum::routing::delete(issues::delete_comment),
        )
        .route(
            &format!("{repo}/issues/{{number}}/labels"),
            get(issues::list_labels).post(issues::add_labels),
        )
        .route(
            &format!("{repo}/issues/{{number}}/labels/{{name}}"),
            axum::routing::delete(issues::remove_label),
        )
        .route("/_sim/faults", post(control::faults))
        .route("/_sim/stats", get(control::stats))
        .route("/_sim/hooks", post(control::hooks))
        .route("/_sim/refresh", post(control::refresh))
        .route("/_sim/clock", post(control::clock))
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(sim.clone(), api_layer))
        .with_state(sim)
}

/// Finds a repo by `owner/name` (case-insensitively) and first announces any push made to
/// it since the last scan, so that what the caller reads next is current.
pub(crate) fn find_repo(
    sim: &Sim,
    w: &mut World,
    owner: &str,
    name: &str,
) -> Result<usize, ApiError> {
    let idx = w.repo_index(owner, name).ok_or_else(ApiError::not_found)?;
    super::scan::scan_repo(sim, w, idx, super::scan::Cause::Unseen);
    Ok(idx)
}

pub(crate) fn need_write(w: &World, idx: usize, actor: UserId) -> Result<(), ApiError> {
    if w.repos[idx].can_write(actor) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Must have push access to this repository.",
        ))
    }
}

pub(crate) fn number(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| ApiError::not_found())
}

pub(crate) fn git(w: &World, idx: usize) -> Result<git2::Repository, ApiError> {
    Ok(super::gitstore::open(&w.repos[idx].git_dir)?)
}

/// The git signature of an account, for commits the simulator makes on its behalf.
pub(crate) fn signature_of(w: &World, user: UserId) -> Result<git2::Signature<'static>, ApiError> {
    w.signature_of(user)
        .ok_or_else(ApiError::not_found)?
        .map_err(ApiError::from)
}
