//! Pull requests: list, open, read, edit, their commits and files, and the merge with `sha`
//! pinning and branch protection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use git2::Oid;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find_repo, git, need_write, number, signature_of};
pub(crate) use crate::changes::{base_oid, pull_changes, render_pull};
use crate::gitstore::{self, MergeError, MergeMethod};
use crate::http::{Actor, ApiError, ApiResult, created, ok, paginate, parse_body};
use crate::ids::UserId;
use crate::world::{Pull, World};
use crate::{Sim, protection, render, scan};

type RepoPath = Path<(String, String)>;
type PullPath = Path<(String, String, String)>;

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let owner = w.repos[idx].name.owner().to_string();
    let head_filter = q.get("head").map(|h| {
        h.split_once(':')
            .map(|(_, b)| b.to_string())
            .unwrap_or(h.clone())
    });
    let mut pulls: Vec<&Pull> = w.repos[idx]
        .pulls
        .iter()
        .filter(|p| match state {
            "closed" => !p.open,
            "all" => true,
            _ => p.open,
        })
        .filter(|p| q.get("base").is_none_or(|b| &p.base_ref == b))
        .filter(|p| head_filter.as_ref().is_none_or(|h| &p.head_ref == h))
        .collect();
    if q.get("direction").map(String::as_str) != Some("asc") {
        pulls.reverse();
    }
    let items = pulls
        .iter()
        .filter_map(|p| render_pull(&sim, &w, idx, p.number))
        .collect();
    let _ = owner;
    paginate(
        items,
        &q,
        &format!("{}/repos/{}/pulls", sim.urls.api, w.repos[idx].full_name()),
    )
}

#[derive(Deserialize)]
pub struct NewPull {
    title: Option<String>,
    head: String,
    base: String,
    body: Option<String>,
    #[serde(default)]
    draft: bool,
}

fn validation(resource: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid("Validation Failed").with_errors(json!([
        { "resource": resource, "field": field, "code": "invalid", "message": message }
    ]))
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r)): RepoPath,
    body: Bytes,
) -> ApiResult {
    let new: NewPull = parse_body(&body)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let head_ref = match new.head.split_once(':') {
        Some((owner, b)) if owner.eq_ignore_ascii_case(w.repos[idx].name.owner()) => b.to_string(),
        Some(_) => return Err(validation("PullRequest", "head", "forks are not simulated")),
        None => new.head.clone(),
    };
    let title = new
        .title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| validation("PullRequest", "title", "title is missing"))?;
    let head = gitstore::branch_tip(&repo, &head_ref)
        .ok_or_else(|| validation("PullRequest", "head", "head branch does not exist"))?;
    let base = gitstore::branch_tip(&repo, &new.base)
        .ok_or_else(|| validation("PullRequest", "base", "base branch does not exist"))?;
    if w.repos[idx]
        .pulls
        .iter()
        .any(|p| p.open && p.head_ref == head_ref && p.base_ref == new.base)
    {
        return Err(ApiError::invalid("Validation Failed").with_errors(json!([{
            "resource": "PullRequest", "code": "custom",
            "message": format!("A pull request already exists for {}:{head_ref}.", w.repos[idx].name.owner()),
        }])));
    }
    if gitstore::range(&repo, Some(base), head)?.is_empty() {
        return Err(ApiError::invalid("Validation Failed").with_errors(json!([{
            "resource": "PullRequest", "code": "custom",
            "message": format!("No commits between {} and {head_ref}", new.base),
        }])));
    }
    let now = Utc::now();
    let id = w.next_id();
    let number = next_number(&w, idx);
    w.repos[idx].pulls.push(Pull {
        id,
        number,
        title,
        body: new.body,
        open: true,
        draft: new.draft,
        user: actor.0,
        head_ref,
        head_sha: head.to_string(),
        base_ref: new.base,
        base_sha: base.to_string(),
        closed_base_sha: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
        merged_at: None,
        merged_by: None,
        merge_commit_sha: None,
        labels: vec![],
        reviews: vec![],
        comments: vec![],
        requested_users: vec![],
        requested_teams: vec![],
        events: vec![],
    });
    let payload = scan::pull_event(&sim, &w, idx, number, "opened", Some(actor.0));
    sim.hooks.emit("pull_request", &payload);
    created(render_pull(&sim, &w, idx, number).unwrap_or(Value::Null))
}

fn next_number(w: &World, idx: usize) -> u64 {
    w.repos[idx]
        .pulls
        .iter()
        .map(|p| p.number)
        .max()
        .unwrap_or(0)
        + 1
}

pub async fn get(State(sim): State<Arc<Sim>>, Path((o, r, n)): PullPath) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    ok(render_pull(&sim, &w, idx, n).ok_or_else(ApiError::not_found)?)
}

#[derive(Deserialize)]
pub struct PullEdit {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    base: Option<String>,
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): PullPath,
    body: Bytes,
) -> ApiResult {
    let edit: PullEdit = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let p = w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    if p.user != actor.0 {
        need_write(&w, idx, actor.0)?;
    }
    apply_pull_edit(
        &sim, &mut w, idx, n, actor.0, edit.title, edit.body, edit.state, edit.base,
    )?;
    ok(render_pull(&sim, &w, idx, n).ok_or_else(ApiError::not_found)?)
}

/// Shared by `PATCH /pulls/{n}` and `PATCH /issues/{n}`: applies the edit and emits the
/// `pull_request` events GitHub would (`edited` with `changes`, `closed`, `reopened`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_pull_edit(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    n: u64,
    actor: UserId,
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    base: Option<String>,
) -> Result<(), ApiError> {
    let repo = git(w, idx)?;
    if let Some(b) = &base
        && gitstore::branch_tip(&repo, b).is_none()
    {
        return Err(validation(
            "PullRequest",
            "base",
            "base branch does not exist",
        ));
    }
    if let Some(s) = &state
        && s != "open"
        && s != "closed"
    {
        return Err(validation(
            "PullRequest",
            "state",
            "state must be open or closed",
        ));
    }
    let old_base_sha = w.repos[idx]
        .pull(n)
        .and_then(|p| base_oid(&repo, p))
        .map(|o| o.to_string());
    let mut changes = serde_json::Map::new();
    let mut state_action = None;
    let mut base_changed = false;
    {
        let p = w.repos[idx].pull_mut(n).ok_or_else(ApiError::not_found)?;
        if let Some(t) = title.filter(|t| *t != p.title) {
            changes.insert(
                "title".into(),
                json!({ "from": std::mem::replace(&mut p.title, t) }),
            );
        }
        if let Some(b) = body.filter(|b| Some(b) != p.body.as_ref()) {
            changes.insert("body".into(), json!({ "from": p.body.replace(b) }));
        }
        if let Some(b) = base.filter(|b| *b != p.base_ref) {
            if !p.open {
                return Err(validation(
                    "PullRequest",
                    "base",
                    "Cannot change the base branch of a closed pull request.",
                ));
            }
            let new_tip = gitstore::branch_tip(&repo, &b).map(|o| o.to_string());
            let from = std::mem::replace(&mut p.base_ref, b);
            let sha_from = std::mem::replace(&mut p.base_sha, new_tip.unwrap_or_default());
            changes.insert(
                "base".into(),
                json!({ "ref": { "from": from }, "sha": { "from": sha_from } }),
            );
            // A retarget is an issue event (https://docs.github.com/en/rest/using-the-rest-api/issue-event-types#base_ref_changed).
            base_changed = true;
        }
        match state.as_deref() {
            Some("closed") if p.open => {
                p.open = false;
                p.closed_at = Some(Utc::now());
                p.closed_base_sha = old_base_sha.clone();
                state_action = Some("closed");
            }
            Some("open") if !p.open => {
                if p.merged_at.is_some() {
                    return Err(validation(
                        "PullRequest",
                        "state",
                        "merged pull requests cannot be reopened",
                    ));
                }
                p.open = true;
                p.closed_at = None;
                p.closed_base_sha = None;
                state_action = Some("reopened");
            }
            _ => {}
        }
        if !changes.is_empty() || state_action.is_some() {
            p.updated_at = Utc::now();
        }
    }
    if base_changed {
        let id = w.next_id();
        if let Some(p) = w.repos[idx].pull_mut(n) {
            p.events.push(crate::world::IssueEvent {
                id,
                event: "base_ref_changed".into(),
                actor,
                created_at: Utc::now(),
                requested_user: None,
                requested_team: None,
                dismissed_review: None,
            });
        }
    }
    if !changes.is_empty() {
        let mut payload = scan::pull_event(sim, w, idx, n, "edited", Some(actor));
        payload["changes"] = Value::Object(changes);
        sim.hooks.emit("pull_request", &payload);
    }
    if let Some(action) = state_action {
        let payload = scan::pull_event(sim, w, idx, n, action, Some(actor));
        sim.hooks.emit("pull_request", &payload);
    }
    Ok(())
}

pub async fn commits(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): PullPath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let (oids, _) = pull_changes(&repo, p)?;
    let mut items = Vec::new();
    for oid in oids {
        items.push(render::commit(
            &sim.urls,
            &w,
            rp,
            &gitstore::commit_info(&repo, oid)?,
        ));
    }
    paginate(
        items,
        &q,
        &format!(
            "{}/repos/{}/pulls/{n}/commits",
            sim.urls.api,
            rp.full_name()
        ),
    )
}

pub async fn files(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): PullPath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let rp = &w.repos[idx];
    let p = rp.pull(n).ok_or_else(ApiError::not_found)?;
    let (_, files) = pull_changes(&repo, p)?;
    let items = files
        .iter()
        .map(|f| render::file(&sim.urls, rp, f, &p.head_sha))
        .collect();
    paginate(
        items,
        &q,
        &format!("{}/repos/{}/pulls/{n}/files", sim.urls.api, rp.full_name()),
    )
}

pub async fn is_merged(State(sim): State<Arc<Sim>>, Path((o, r, n)): PullPath) -> ApiResult {
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let p = w.repos[idx].pull(n).ok_or_else(ApiError::not_found)?;
    if p.merged_at.is_some() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

#[derive(Deserialize)]
pub struct MergeRequest {
    sha: Option<String>,
    commit_title: Option<String>,
    commit_message: Option<String>,
    merge_method: Option<String>,
}

fn not_allowed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, message)
}

/// Branch protection on the default branch: each required context's latest status on the
/// head must be `success`. Admins bypass unless `enforce_admins`.
fn protection_blocks(w: &World, idx: usize, p: &Pull, actor: UserId) -> Option<String> {
    let r = &w.repos[idx];
    if !protection::is_protected(r, &format!("refs/heads/{}", p.base_ref))
        || protection::bypasses(r, actor)
    {
        return None;
    }
    protection::unmet_checks(r, &p.head_sha)
        .first()
        .map(|(ctx, state)| match state {
            None => format!("Required status check \"{ctx}\" is expected."),
            Some(state) => format!("Required status check \"{ctx}\" is {state}."),
        })
}

pub async fn merge(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, n)): PullPath,
    body: Bytes,
) -> ApiResult {
    let req: MergeRequest = parse_body(&body)?;
    let n = number(&n)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let repo = git(&w, idx)?;
    let p = w.repos[idx]
        .pull(n)
        .ok_or_else(ApiError::not_found)?
        .clone();
    let method = match req.merge_method.as_deref().unwrap_or("merge") {
        "merge" => MergeMethod::Merge,
        "squash" => MergeMethod::Squash,
        "rebase" => MergeMethod::Rebase,
        other => {
            return Err(validation(
                "PullRequest",
                "merge_method",
                &format!("unknown merge method {other:?}"),
            ));
        }
    };
    if !p.open {
        return Err(not_allowed("Pull Request is not mergeable"));
    }
    if let Some(sha) = &req.sha
        && !sha.eq_ignore_ascii_case(&p.head_sha)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    if p.draft {
        return Err(not_allowed("Pull Request is still a draft"));
    }
    // A branch that requires a merge queue takes merges only from the queue: the merge API
    // answers 405 "Changes must be made through the merge queue" (as clients meet it,
    // pascalgn/automerge-action#235, cncf/prow-github-actions#166). The API honours bypass as
    // it does for the rest of protection: an admin (without `enforce_admins`) still merges
    // straight past the queue, as classic branch protection's bypass does
    // (codenote-net/merge-queue-bypass-demo, scenario 2; community discussions 203926 and
    // 208718). Enqueuing honours no bypass (see `queue`).
    {
        let r = &w.repos[idx];
        if protection::requires_queue(r, &format!("refs/heads/{}", p.base_ref))
            && !protection::bypasses(r, actor.0)
        {
            return Err(not_allowed(protection::THROUGH_THE_QUEUE));
        }
    }
    if let Some(why) = protection_blocks(&w, idx, &p, actor.0) {
        return Err(not_allowed(why));
    }
    let base = gitstore::branch_tip(&repo, &p.base_ref)
        .ok_or_else(|| not_allowed("Base branch does not exist"))?;
    let head = Oid::from_str(&p.head_sha).map_err(ApiError::internal)?;
    let owner = w.repos[idx].name.owner().to_string();
    let (default_title, default_message) = match method {
        MergeMethod::Squash => (format!("{} (#{n})", p.title), String::new()),
        _ => (
            format!("Merge pull request #{n} from {owner}/{}", p.head_ref),
            p.title.clone(),
        ),
    };
    let title = req.commit_title.unwrap_or(default_title);
    let message = req.commit_message.unwrap_or(default_message);
    let full = if message.is_empty() {
        format!("{title}\n")
    } else {
        format!("{title}\n\n{message}\n")
    };
    let who = signature_of(&w, actor.0)?;
    let new_tip = match gitstore::merge_commit(&repo, base, head, method, &full, &who) {
        Ok(t) => t,
        Err(MergeError::Conflict) => return Err(not_allowed("Pull Request is not mergeable")),
        Err(MergeError::Git(e)) => return Err(e.into()),
    };
    // Compare-and-swap, so that a push racing this merge is not overwritten.
    repo.reference_matching(
        &format!("refs/heads/{}", p.base_ref),
        new_tip,
        true,
        base,
        "merge pull request",
    )
    .map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "Base branch was modified. Review and try the merge again.",
        )
    })?;
    let now = Utc::now();
    if let Some(pm) = w.repos[idx].pull_mut(n) {
        pm.open = false;
        pm.closed_at = Some(now);
        pm.merged_at = Some(now);
        pm.merged_by = Some(actor.0);
        pm.merge_commit_sha = Some(new_tip.to_string());
        pm.closed_base_sha = Some(base.to_string());
        pm.updated_at = now;
    }
    let payload = scan::pull_event(&sim, &w, idx, n, "closed", Some(actor.0));
    sim.hooks.emit("pull_request", &payload);
    scan::scan_repo(&sim, &mut w, idx, scan::Cause::Merge(actor.0));
    // A merge past the queue (an admin's) takes the PR out of it and moves the base under
    // every group.
    crate::queue::tick(&sim, &mut w, idx);
    ok(
        json!({ "sha": new_tip.to_string(), "merged": true, "message": "Pull Request successfully merged" }),
    )
}
