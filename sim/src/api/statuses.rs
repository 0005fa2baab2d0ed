//! Commit statuses: post one, list them, and the combined status.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find_repo, git, need_write};
use crate::commit_status::{latest_per_context, state_of, statuses_for};
use crate::gitstore;
use crate::http::{Actor, ApiError, ApiResult, created, ok, paginate, parse_body};
use crate::world::{Status, World};
use crate::{Sim, render};

#[derive(Deserialize)]
pub struct NewStatus {
    state: String,
    context: Option<String>,
    description: Option<String>,
    target_url: Option<String>,
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, sha)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let new: NewStatus = parse_body(&body)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    if !matches!(
        new.state.as_str(),
        "error" | "failure" | "pending" | "success"
    ) {
        return Err(ApiError::invalid("Validation Failed").with_errors(json!([{
            "resource": "Status", "field": "state", "code": "custom",
            "message": "state is not included in the list",
        }])));
    }
    if new
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return Err(ApiError::invalid("Validation Failed").with_errors(json!([{
            "resource": "Status", "field": "description", "code": "custom",
            "message": "description is too long (maximum is 140 characters)",
        }])));
    }
    let repo = git(&w, idx)?;
    let oid = gitstore::resolve_commit(&repo, &sha)
        .ok_or_else(|| ApiError::invalid(format!("No commit found for SHA: {sha}")))?;
    let id = w.next_id();
    let status = Status {
        id,
        sha: oid.to_string(),
        state: new.state,
        context: new.context.unwrap_or_else(|| "default".into()),
        description: new.description,
        target_url: new.target_url,
        creator: actor.0,
        created_at: Utc::now(),
    };
    w.repos[idx].statuses.push(status.clone());
    let rp = &w.repos[idx];
    let body = render::status(&sim.urls, &w, rp, &status);
    let commit = render::commit(&sim.urls, &w, rp, &gitstore::commit_info(&repo, oid)?);
    let branches: Vec<Value> = rp
        .known_refs
        .iter()
        .filter(|(_, s)| **s == status.sha)
        .filter_map(|(name, s)| name.strip_prefix("refs/heads/").map(|b| (b, s)))
        .map(|(b, s)| json!({
            "name": b,
            "commit": { "sha": s, "url": format!("{}/repos/{}/commits/{s}", sim.urls.api, rp.full_name()) },
            "protected": b == rp.default_branch && !rp.required_contexts.is_empty(),
        }))
        .collect();
    let event = json!({
        "id": id,
        "sha": status.sha,
        "name": rp.full_name(),
        "target_url": status.target_url,
        "avatar_url": body["avatar_url"],
        "context": status.context,
        "description": status.description,
        "state": status.state,
        "commit": commit,
        "branches": branches,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "repository": render::repo(&sim.urls, &w, rp),
        "sender": render::user_id(&sim.urls, &w, actor.0),
    });
    sim.hooks.emit("status", &event);
    // A status can satisfy (or fail) a merge group's required check.
    crate::queue::tick(&sim, &mut w, idx);
    created(body)
}

/// Statuses for a ref, newest first.
pub fn list(
    sim: &Sim,
    w: &World,
    idx: usize,
    sha: &str,
    q: &HashMap<String, String>,
    reference: &str,
) -> ApiResult {
    let rp = &w.repos[idx];
    let items = statuses_for(w, idx, sha)
        .into_iter()
        .map(|s| render::status(&sim.urls, w, rp, s))
        .collect();
    paginate(
        items,
        q,
        &format!(
            "{}/repos/{}/commits/{reference}/statuses",
            sim.urls.api,
            rp.full_name()
        ),
    )
}

pub fn combined(sim: &Sim, w: &World, idx: usize, sha: &str, reference: &str) -> ApiResult {
    let rp = &w.repos[idx];
    let latest = latest_per_context(w, idx, sha);
    let state = state_of(&latest);
    let statuses: Vec<Value> = latest
        .iter()
        .map(|s| {
            let mut v = render::status(&sim.urls, w, rp, s);
            if let Some(o) = v.as_object_mut() {
                o.remove("creator");
            }
            v
        })
        .collect();
    let api = format!("{}/repos/{}", sim.urls.api, rp.full_name());
    ok(json!({
        "state": state,
        "statuses": statuses,
        "sha": sha,
        "total_count": latest.len(),
        "repository": render::repo(&sim.urls, w, rp),
        "commit_url": format!("{api}/commits/{sha}"),
        "url": format!("{api}/commits/{reference}/status"),
    }))
}
