//! Accounts and team membership.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use serde_json::json;

use crate::Sim;
use crate::http::{Actor, ApiError, ApiResult, ok, paginate};
use crate::render;

pub async fn me(State(sim): State<Arc<Sim>>, Extension(actor): Extension<Actor>) -> ApiResult {
    let w = sim.world();
    let a = w.account(actor.0).ok_or_else(ApiError::not_found)?;
    ok(render::private_user(&sim.urls, a))
}

pub async fn by_login(State(sim): State<Arc<Sim>>, Path(login): Path<String>) -> ApiResult {
    let w = sim.world();
    let a = w.account_by_login(&login).ok_or_else(ApiError::not_found)?;
    ok(render::public_user(&sim.urls, a))
}

/// `GET /user/{account_id}`: the public profile of the account with that id, whatever its
/// login is today. https://docs.github.com/en/rest/users/users#get-a-user-using-their-id
pub async fn by_id(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> ApiResult {
    let id = id.parse::<u64>().map_err(|_| ApiError::not_found())?;
    let w = sim.world();
    let a = w
        .account(crate::ids::UserId(id))
        .ok_or_else(ApiError::not_found)?;
    ok(render::public_user(&sim.urls, a))
}

pub async fn team_members(
    State(sim): State<Arc<Sim>>,
    Path((org, slug)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let w = sim.world();
    let t = w.team(&org, &slug).ok_or_else(ApiError::not_found)?;
    let members = t
        .members
        .iter()
        .filter_map(|id| w.account(*id))
        .map(|a| render::user(&sim.urls, a))
        .collect();
    paginate(
        members,
        &q,
        &format!("{}/orgs/{org}/teams/{slug}/members", sim.urls.api),
    )
}

pub async fn team_membership(
    State(sim): State<Arc<Sim>>,
    Path((org, slug, login)): Path<(String, String, String)>,
) -> ApiResult {
    let w = sim.world();
    let t = w.team(&org, &slug).ok_or_else(ApiError::not_found)?;
    let a = w.account_by_login(&login).ok_or_else(ApiError::not_found)?;
    if !t.members.contains(&a.id) {
        return Err(ApiError::not_found());
    }
    ok(json!({
        "url": format!("{}/teams/{}/memberships/{}", sim.urls.api, t.id, a.login),
        "role": "member",
        "state": "active",
    }))
}
