//! Requested reviewers (`GET/POST/DELETE /repos/{o}/{r}/pulls/{n}/requested_reviewers`), as
//! GitHub answers them: only collaborators (users) and teams of the repository owner's
//! organisation may be asked, never the PR's author; each request is a `pull_request`
//! `review_requested` event and an issue event. Reviewing takes a user off the list.
//! https://docs.github.com/en/rest/pulls/review-requests

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find_repo, need_write, number};
use crate::http::{Actor, ApiError, ApiResult, created, ok, parse_body};
use crate::ids::UserId;
use crate::world::{IssueEvent, World};
use crate::{Sim, render, scan};

type PullPath = Path<(String, String, String)>;

#[derive(Deserialize, Default)]
pub struct ReviewersBody {
    #[serde(default)]
    reviewers: Vec<String>,
    #[serde(default)]
    team_reviewers: Vec<String>,
}

fn listing(sim: &Sim, w: &World, idx: usize, n: u64) -> Result<Value, ApiError> {
    let p = w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    Ok(json!({
        "users": p.requested_users.iter().map(|id| render::user_id(&sim.urls, w, *id)).collect::<Vec<_>>(),
        "teams": p.requested_teams.iter().filter_map(|id| w.teams.iter().find(|t| t.id == *id)).map(|t| render::team(&sim.urls, t)).collect::<Vec<_>>(),
    }))
}

pub async fn list(State(sim): State<Arc<Sim>>, Path((o, r, n)): PullPath) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    ok(listing(&sim, &w, idx, n)?)
}

/// Resolves the body to (user ids, team ids), with GitHub's 422 for anyone who cannot be asked.
fn resolve(
    w: &World,
    idx: usize,
    n: u64,
    body: &ReviewersBody,
) -> Result<(Vec<UserId>, Vec<u64>), ApiError> {
    let r = &w.repos[idx];
    let p = r.pull(n).ok_or_else(ApiError::not_found)?;
    let not_collaborator = || {
        ApiError::invalid(format!(
            "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {} repository.",
            r.full_name()
        ))
    };
    let mut users = Vec::new();
    for login in &body.reviewers {
        let a = w.account_by_login(login).ok_or_else(not_collaborator)?;
        if a.id == p.user {
            return Err(ApiError::invalid(
                "Review cannot be requested from pull request author.",
            ));
        }
        if !r.can_write(a.id) {
            return Err(not_collaborator());
        }
        users.push(a.id);
    }
    let mut teams = Vec::new();
    for slug in &body.team_reviewers {
        let t = w.team(r.name.owner(), slug).ok_or_else(not_collaborator)?;
        teams.push(t.id);
    }
    Ok((users, teams))
}

pub async fn request(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): PullPath,
    body: Bytes,
) -> ApiResult {
    let req: ReviewersBody = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let (users, teams) = resolve(&w, idx, n, &req)?;
    let mut new_users = Vec::new();
    let mut new_teams = Vec::new();
    {
        let p = w.repos[idx].pull_mut(n).ok_or_else(ApiError::not_found)?;
        for u in users {
            if !p.requested_users.contains(&u) {
                p.requested_users.push(u);
                new_users.push(u);
            }
        }
        for t in teams {
            if !p.requested_teams.contains(&t) {
                p.requested_teams.push(t);
                new_teams.push(t);
            }
        }
    }
    let now = Utc::now();
    for u in &new_users {
        record_event(&mut w, idx, n, actor.0, now, Some(*u), None);
        let mut payload = scan::pull_event(&sim, &w, idx, n, "review_requested", Some(actor.0));
        payload["requested_reviewer"] = render::user_id(&sim.urls, &w, *u);
        sim.hooks.emit("pull_request", &payload);
    }
    for t in &new_teams {
        record_event(&mut w, idx, n, actor.0, now, None, Some(*t));
        let mut payload = scan::pull_event(&sim, &w, idx, n, "review_requested", Some(actor.0));
        if let Some(team) = w.teams.iter().find(|x| x.id == *t) {
            payload["requested_team"] = render::team(&sim.urls, team);
        }
        sim.hooks.emit("pull_request", &payload);
    }
    created(super::pulls::render_pull(&sim, &w, idx, n).unwrap_or(Value::Null))
}

pub async fn remove(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): PullPath,
    body: Bytes,
) -> ApiResult {
    let req: ReviewersBody = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let (users, teams) = resolve(&w, idx, n, &req)?;
    if let Some(p) = w.repos[idx].pull_mut(n) {
        p.requested_users.retain(|u| !users.contains(u));
        p.requested_teams.retain(|t| !teams.contains(t));
    }
    ok(super::pulls::render_pull(&sim, &w, idx, n).unwrap_or(Value::Null))
}

fn record_event(
    w: &mut World,
    idx: usize,
    n: u64,
    actor: UserId,
    at: chrono::DateTime<Utc>,
    user: Option<UserId>,
    team: Option<u64>,
) {
    let id = w.next_id();
    if let Some(p) = w.repos[idx].pull_mut(n) {
        p.events.push(IssueEvent {
            id,
            event: "review_requested".into(),
            actor,
            created_at: at,
            requested_user: user,
            requested_team: team,
            dismissed_review: None,
        });
    }
}
