//! The issue side of pull requests: comments, labels, and closing through `PATCH /issues`.
//! Only PRs exist here, so an issue number that is not a PR is 404.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::IntoResponse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find_repo, need_write, number};
use crate::http::{Actor, ApiError, ApiResult, created, ok, paginate, parse_body};
use crate::world::{Comment, Label, World};
use crate::{Sim, render, scan};

type IssuePath = Path<(String, String, String)>;

pub async fn get(State(sim): State<Arc<Sim>>, Path((o, r, n)): IssuePath) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    ok(render::issue(&sim.urls, &w, rp, p))
}

#[derive(Deserialize)]
pub struct IssueEdit {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let edit: IssueEdit = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let p = w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    if p.user != actor.0 {
        need_write(&w, idx, actor.0)?;
    }
    super::pulls::apply_pull_edit(
        &sim, &mut w, idx, n, actor.0, edit.title, edit.body, edit.state, None,
    )?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    ok(render::issue(&sim.urls, &w, rp, p))
}

/// `GET /repos/{o}/{r}/issues/{n}/events`: the PR's issue events, oldest first.
pub async fn list_events(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let items = p
        .events
        .iter()
        .map(|e| render::issue_event(&sim.urls, &w, rp, e))
        .collect();
    paginate(
        items,
        &q,
        &format!(
            "{}/repos/{}/issues/{n}/events",
            sim.urls.api,
            rp.full_name()
        ),
    )
}

pub async fn list_comments(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let items = p
        .comments
        .iter()
        .map(|c| render::comment(&sim.urls, &w, rp, p, c))
        .collect();
    paginate(
        items,
        &q,
        &format!(
            "{}/repos/{}/issues/{n}/comments",
            sim.urls.api,
            rp.full_name()
        ),
    )
}

#[derive(Deserialize)]
pub struct NewComment {
    body: String,
}

pub async fn create_comment(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let new: NewComment = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    if w.repos[idx].pull(n).is_none() {
        return Err(ApiError::not_found());
    }
    if new.body.trim().is_empty() {
        return Err(ApiError::invalid("Validation Failed"));
    }
    let id = w.next_id();
    let now = Utc::now();
    let c = Comment {
        id,
        user: actor.0,
        body: new.body,
        created_at: now,
        updated_at: now,
    };
    if let Some(p) = w.repos[idx].pull_mut(n) {
        p.comments.push(c.clone());
        // A comment updates the issue ("updated_at" moves with new comments: the `since`
        // filter of "List repository issues", docs.github.com, finds issues by it).
        p.updated_at = now;
    }
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let v = render::comment(&sim.urls, &w, rp, p, &c);
    sim.hooks.emit(
        "issue_comment",
        &json!({
            "action": "created",
            "issue": render::issue(&sim.urls, &w, rp, p),
            "comment": v,
            "repository": render::repo(&sim.urls, &w, rp),
            "sender": render::user_id(&sim.urls, &w, actor.0),
        }),
    );
    created(v)
}

fn labels_of(sim: &Sim, w: &World, idx: usize, n: u64) -> Vec<Value> {
    let rp = &w.repos[idx];
    let Some(p) = rp.pull(n) else { return vec![] };
    rp.labels
        .iter()
        .filter(|l| p.labels.contains(&l.name))
        .map(|l| render::label(&sim.urls, rp, l))
        .collect()
}

pub async fn list_labels(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    let items = labels_of(&sim, &w, idx, n);
    paginate(
        items,
        &q,
        &format!(
            "{}/repos/{}/issues/{n}/labels",
            sim.urls.api,
            w.repos[idx].full_name()
        ),
    )
}

/// GitHub takes `{"labels": [...]}` or a bare array.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum NewLabels {
    Wrapped { labels: Vec<String> },
    Bare(Vec<String>),
}

pub async fn add_labels(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let names = match parse_body::<NewLabels>(&body)? {
        NewLabels::Wrapped { labels } | NewLabels::Bare(labels) => labels,
    };
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    for name in names.into_iter().filter(|n| !n.trim().is_empty()) {
        if !w.repos[idx].labels.iter().any(|l| l.name == name) {
            let id = w.next_id();
            w.repos[idx].labels.push(Label {
                id,
                name: name.clone(),
                color: "ededed".into(),
            });
        }
        let Some(p) = w.repos[idx].pull_mut(n) else {
            break;
        };
        if p.labels.contains(&name) {
            continue;
        }
        p.labels.push(name.clone());
        p.updated_at = Utc::now();
        let mut payload = scan::pull_event(&sim, &w, idx, n, "labeled", Some(actor.0));
        if let Some(l) = w.repos[idx].labels.iter().find(|l| l.name == name) {
            payload["label"] = render::label(&sim.urls, &w.repos[idx], l);
        }
        sim.hooks.emit("pull_request", &payload);
    }
    ok(Value::Array(labels_of(&sim, &w, idx, n)))
}

pub async fn remove_label(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n, name)): Path<(String, String, String, String)>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let p = w.repos[idx].pull_mut(n).ok_or_else(ApiError::not_found)?;
    let Some(at) = p.labels.iter().position(|l| *l == name) else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "Label does not exist",
        ));
    };
    p.labels.remove(at);
    p.updated_at = Utc::now();
    let mut payload = scan::pull_event(&sim, &w, idx, n, "unlabeled", Some(actor.0));
    if let Some(l) = w.repos[idx].labels.iter().find(|l| l.name == name) {
        payload["label"] = render::label(&sim.urls, &w.repos[idx], l);
    }
    sim.hooks.emit("pull_request", &payload);
    ok(Value::Array(labels_of(&sim, &w, idx, n)))
}

/// `DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}`: 204, and an `issue_comment`
/// delivery with action `deleted`. GitHub lets the comment's author delete it, and anyone with
/// write access delete any comment ("Anyone with write access to a repository can delete
/// comments on issues, pull requests, and commits": docs.github.com, Managing disruptive
/// comments); others get 403, an unknown id 404 (REST "Delete an issue comment",
/// `issues/delete-comment` in @octokit/openapi, whose only response is 204).
pub async fn delete_comment(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, id)): IssuePath,
) -> ApiResult {
    let id = number(&id)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let found = w.repos[idx].pulls.iter().find_map(|p| {
        p.comments
            .iter()
            .position(|c| c.id == id)
            .map(|at| (p.number, at, p.comments[at].user))
    });
    let Some((n, at, author)) = found else {
        return Err(ApiError::not_found());
    };
    if author != actor.0 {
        need_write(&w, idx, actor.0)?;
    }
    let c = match w.repos[idx].pull_mut(n) {
        Some(p) => p.comments.remove(at),
        None => return Err(ApiError::not_found()),
    };
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    sim.hooks.emit(
        "issue_comment",
        &json!({
            "action": "deleted",
            "issue": render::issue(&sim.urls, &w, rp, p),
            "comment": render::comment(&sim.urls, &w, rp, p, &c),
            "repository": render::repo(&sim.urls, &w, rp),
            "sender": render::user_id(&sim.urls, &w, actor.0),
        }),
    );
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
