//! Git refs through the API. Creating a ref is atomic (git2 refuses to overwrite while the
//! world lock is held), which is what makes `refs/prgate/claims/<sha>` a safe claim.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use git2::Oid;
use serde::Deserialize;

use super::{find_repo, git, need_write};
use crate::http::{Actor, ApiError, ApiResult, created, ok, paginate, parse_body};
use crate::ids::UserId;
use crate::world::World;
use crate::{Sim, gitstore, protection, render, scan};

fn kind(repo: &git2::Repository, sha: &str) -> &'static str {
    let obj = Oid::from_str(sha)
        .ok()
        .and_then(|o| repo.find_object(o, None).ok());
    match obj.and_then(|o| o.kind()) {
        Some(git2::ObjectType::Tag) => "tag",
        Some(git2::ObjectType::Tree) => "tree",
        Some(git2::ObjectType::Blob) => "blob",
        _ => "commit",
    }
}

fn full_name(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/{name}")
    }
}

pub async fn get_ref(
    State(sim): State<Arc<Sim>>,
    Path((o, r, name)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let full = full_name(&name);
    let sha = w.repos[idx]
        .known_refs
        .get(&full)
        .ok_or_else(ApiError::not_found)?;
    ok(render::git_ref(
        &sim.urls,
        &w.repos[idx],
        &full,
        sha,
        kind(&repo, sha),
    ))
}

pub async fn matching(
    State(sim): State<Arc<Sim>>,
    Path((o, r, prefix)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let prefix = full_name(&prefix);
    let rp = &w.repos[idx];
    let items = rp
        .known_refs
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(n, s)| render::git_ref(&sim.urls, rp, n, s, kind(&repo, s)))
        .collect();
    paginate(
        items,
        &q,
        &format!(
            "{}/repos/{}/git/matching-refs/{prefix}",
            sim.urls.api,
            rp.full_name()
        ),
    )
}

#[derive(Deserialize)]
pub struct NewRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

/// Protected default branch: through the API as over git, a deletion, a forced move, or a
/// move to a commit whose required contexts have not all passed is refused unless the actor
/// may bypass protection. `new` is `None` for a deletion.
fn protected(
    w: &World,
    idx: usize,
    full: &str,
    actor: UserId,
    new: Option<&str>,
    forced: bool,
) -> Result<(), ApiError> {
    let r = &w.repos[idx];
    // The merge queue's branches are GitHub's alone to write (see `receive`).
    if protection::is_queue_branch(full) {
        return Err(ApiError::invalid(format!(
            "Protected branch update failed for {full}"
        )));
    }
    if !protection::is_protected(r, full) || protection::bypasses(r, actor) {
        return Ok(());
    }
    let allowed = match new {
        None => false,
        Some(_) if forced => false,
        // "Require merge queue": only the queue moves the branch.
        Some(_) if protection::requires_queue(r, full) => false,
        Some(sha) => protection::unmet_checks(r, sha).is_empty(),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "Protected branch update failed for refs/heads/".to_string() + &r.default_branch,
        ))
    }
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let new: NewRef = parse_body(&body)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    if !new.name.starts_with("refs/")
        || new.name.matches('/').count() < 2
        || !git2::Reference::is_valid_name(&new.name)
    {
        return Err(ApiError::invalid(
            "Reference name must start with 'refs/' and have at least two slashes.",
        ));
    }
    let repo = git(&w, idx)?;
    let oid = Oid::from_str(&new.sha)
        .ok()
        .filter(|o| repo.find_object(*o, None).is_ok())
        .ok_or_else(|| ApiError::invalid("Object does not exist"))?;
    protected(&w, idx, &new.name, actor.0, Some(&oid.to_string()), false)?;
    // GitHub answers 422 both for a ref that exists ("Reference already exists") and for one
    // whose name conflicts with another ref's, such as `refs/a/b` beside `refs/a` or
    // `refs/a/b/c` ("Reference update failed", with no more detail:
    // https://github.com/microsoft/vscode-remote-repositories-github/issues/122,
    // https://github.com/github/rest-api-description/issues/4887).
    let conflicts = gitstore::list_refs(&repo)?.keys().any(|existing| {
        existing != &new.name
            && (new.name.starts_with(&format!("{existing}/"))
                || existing.starts_with(&format!("{}/", new.name)))
    });
    if conflicts {
        return Err(ApiError::invalid("Reference update failed"));
    }
    if let Err(e) = repo.reference(&new.name, oid, false, "create ref (API)") {
        return Err(if e.code() == git2::ErrorCode::Exists {
            ApiError::invalid("Reference already exists")
        } else {
            e.into()
        });
    }
    scan::scan_repo(&sim, &mut w, idx, scan::Cause::Push(actor.0));
    let sha = oid.to_string();
    created(render::git_ref(
        &sim.urls,
        &w.repos[idx],
        &new.name,
        &sha,
        kind(&repo, &sha),
    ))
}

#[derive(Deserialize)]
pub struct RefUpdate {
    sha: String,
    #[serde(default)]
    force: bool,
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, name)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let upd: RefUpdate = parse_body(&body)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let full = full_name(&name);
    let repo = git(&w, idx)?;
    let current = repo
        .find_reference(&full)
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(|| ApiError::invalid("Reference does not exist"))?;
    let oid = Oid::from_str(&upd.sha)
        .ok()
        .filter(|o| repo.find_object(*o, None).is_ok())
        .ok_or_else(|| ApiError::invalid("Object does not exist"))?;
    let fast_forward = oid == current || repo.graph_descendant_of(oid, current).unwrap_or(false);
    protected(
        &w,
        idx,
        &full,
        actor.0,
        Some(&oid.to_string()),
        !fast_forward,
    )?;
    if !upd.force && !fast_forward {
        return Err(ApiError::invalid("Update is not a fast forward"));
    }
    repo.reference_matching(&full, oid, true, current, "update ref (API)")
        .map_err(|_| ApiError::invalid("Reference cannot be updated"))?;
    scan::scan_repo(&sim, &mut w, idx, scan::Cause::Push(actor.0));
    let sha = oid.to_string();
    ok(render::git_ref(
        &sim.urls,
        &w.repos[idx],
        &full,
        &sha,
        kind(&repo, &sha),
    ))
}

pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, name)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let full = full_name(&name);
    protected(&w, idx, &full, actor.0, None, false)?;
    let repo = git(&w, idx)?;
    let mut reference = repo
        .find_reference(&full)
        .map_err(|_| ApiError::invalid("Reference does not exist"))?;
    reference.delete()?;
    scan::scan_repo(&sim, &mut w, idx, scan::Cause::Push(actor.0));
    Ok(StatusCode::NO_CONTENT.into_response())
}
