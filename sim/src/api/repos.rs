//! Repository reads: the repo, file contents, commits (with their statuses and PRs) and
//! compare.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use base64::Engine;
use git2::Oid;
use serde_json::{Value, json};

use super::{find_repo, git};
use crate::gitstore;
use crate::http::{Actor, ApiError, ApiResult, ok, paginate};
use crate::{Sim, render};

pub async fn get_repo(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let mut v = render::repo(&sim.urls, &w, &w.repos[idx]);
    v["permissions"] =
        json!({ "admin": false, "maintain": false, "push": true, "triage": true, "pull": true });
    ok(v)
}

pub async fn contents(
    State(sim): State<Arc<Sim>>,
    Path((o, r, path)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let rp = &w.repos[idx];
    let reference = q
        .get("ref")
        .cloned()
        .unwrap_or_else(|| rp.default_branch.clone());
    let commit = gitstore::resolve_commit(&repo, &reference).ok_or_else(ApiError::not_found)?;
    let path = path.trim_matches('/');
    let (sha, bytes) = gitstore::read_file(&repo, commit, path)?.ok_or_else(ApiError::not_found)?;
    // GitHub wraps base64 at 60 columns with newlines; clients strip them.
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let content: String = b64
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
        .collect();
    let api = format!("{}/repos/{}", sim.urls.api, rp.full_name());
    let html = format!(
        "{}/{}/blob/{reference}/{path}",
        sim.urls.html,
        rp.full_name()
    );
    let git_url = format!("{api}/git/blobs/{sha}");
    let self_url = format!("{api}/contents/{path}?ref={reference}");
    ok(json!({
        "type": "file",
        "encoding": "base64",
        "size": bytes.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": content,
        "sha": sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html,
        "download_url": format!("{}/{}/raw/{reference}/{path}", sim.urls.html, rp.full_name()),
        "_links": { "self": self_url, "git": git_url, "html": html },
    }))
}

/// `commits/{ref}`, `commits/{ref}/statuses`, `commits/{ref}/status`, `commits/{sha}/pulls`,
/// `commits/{ref}/check-runs`:
/// one route because a ref may itself contain slashes.
/// `GET /repos/{owner}/{repo}/commits`: commits reachable from `sha` (a SHA or branch; the
/// default branch when absent), newest first, with `path` only those that changed it.
/// https://docs.github.com/en/rest/commits/commits#list-commits
pub async fn list_commits(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let rp = &w.repos[idx];
    let from = q
        .get("sha")
        .cloned()
        .unwrap_or_else(|| rp.default_branch.clone());
    // GitHub answers 404 for a `sha` that names neither a commit nor a branch. (An empty
    // repository, which GitHub answers 409 "Git Repository is empty", answers 404 here.)
    let head = gitstore::resolve_commit(&repo, &from).ok_or_else(ApiError::not_found)?;
    let oids = gitstore::history(&repo, head, q.get("path").map(String::as_str))?;
    let mut items = Vec::with_capacity(oids.len());
    for oid in oids {
        let info = gitstore::commit_info(&repo, oid)?;
        items.push(render::commit(&sim.urls, &w, rp, &info));
    }
    paginate(
        items,
        &q,
        &format!("{}/repos/{}/commits", sim.urls.api, rp.full_name()),
    )
}

/// `GET /repos/{owner}/{repo}/branches/{branch}/protection`. Only admins may read it: anyone
/// else gets 404, as for a repository they cannot see (community discussion 24582); an App's
/// installation reads it only with the "Administration: read" permission (403 "Resource not
/// accessible by integration" without it). An unprotected branch answers 404 "Branch not
/// protected".
/// https://docs.github.com/en/rest/branches/branch-protection#get-branch-protection
pub async fn branch_protection(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, branch)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let app = w.apps.iter().find(|a| a.bot == actor.0);
    let rp = &w.repos[idx];
    match app {
        // "Administration" repository permission (read), as GitHub's endpoint table lists it
        // for this endpoint; without it an installation gets 403.
        Some(a) if !a.extra_permissions.contains_key("administration") => {
            return Err(ApiError::forbidden(
                "Resource not accessible by integration",
            ));
        }
        Some(_) => {}
        None if !rp.is_admin(actor.0) => return Err(ApiError::not_found()),
        None => {}
    }
    let url = format!(
        "{}/repos/{}/branches/{branch}/protection",
        sim.urls.api,
        rp.full_name()
    );
    if !crate::protection::is_protected(rp, &format!("refs/heads/{branch}")) {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "Branch not protected",
        ));
    }
    // `checks[].app_id` is null when any source satisfies the context.
    let checks: Vec<Value> = rp
        .required_contexts
        .iter()
        .map(|c| json!({ "context": c, "app_id": rp.required_apps.get(c) }))
        .collect();
    ok(json!({
        "url": url,
        "required_status_checks": {
            "url": format!("{url}/required_status_checks"),
            "strict": false,
            "contexts": rp.required_contexts,
            "contexts_url": format!("{url}/required_status_checks/contexts"),
            "checks": checks,
        },
        "enforce_admins": {
            "url": format!("{url}/enforce_admins"),
            "enabled": rp.enforce_admins,
        },
    }))
}

/// `GET /repos/{owner}/{repo}/rules/branches/{branch}`: the active ruleset rules for a branch,
/// readable by anyone who can read the repository. The simulator models classic branch
/// protection only, so no ruleset applies: an empty list, as GitHub answers then.
/// https://docs.github.com/en/rest/repos/rules#get-rules-for-a-branch
pub async fn branch_rules(
    State(sim): State<Arc<Sim>>,
    Path((o, r, branch)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    // A queued default branch shows its `merge_queue` rule, as a ruleset requiring the queue
    // does (the simulator's queue stands for one).
    let mut rules = Vec::new();
    if rp.merge_queue && branch == rp.default_branch {
        rules.push(json!({
            "type": "merge_queue",
            "ruleset_source_type": "Repository",
            "ruleset_source": rp.full_name(),
            "ruleset_id": 1,
            "parameters": {
                "check_response_timeout_minutes": 60,
                "grouping_strategy": "ALLGREEN",
                "max_entries_to_build": 5,
                "max_entries_to_merge": 5,
                "merge_method": "MERGE",
                "min_entries_to_merge": 1,
                "min_entries_to_merge_wait_minutes": 5,
            },
        }));
    }
    ok(json!(rules))
}

pub async fn commits_dispatch(
    State(sim): State<Arc<Sim>>,
    Path((o, r, rest)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let (reference, what) = ["statuses", "status", "pulls", "check-runs"]
        .iter()
        .find_map(|s| rest.strip_suffix(&format!("/{s}")).map(|r| (r, *s)))
        .unwrap_or((rest.as_str(), "commit"));
    let oid = gitstore::resolve_commit(&repo, reference)
        .ok_or_else(|| ApiError::invalid(format!("No commit found for SHA: {reference}")))?;
    let sha = oid.to_string();
    let rp = &w.repos[idx];
    match what {
        "statuses" => super::statuses::list(&sim, &w, idx, &sha, &q, reference),
        "status" => super::statuses::combined(&sim, &w, idx, &sha, reference),
        "check-runs" => super::checks::list_for_commit(&sim, &w, idx, &sha, &q),
        "pulls" => {
            let items = rp
                .pulls
                .iter()
                .filter(|p| {
                    p.head_sha == sha || p.merge_commit_sha.as_deref() == Some(sha.as_str())
                })
                .filter_map(|p| super::pulls::render_pull(&sim, &w, idx, p.number))
                .collect();
            paginate(
                items,
                &q,
                &format!(
                    "{}/repos/{}/commits/{sha}/pulls",
                    sim.urls.api,
                    rp.full_name()
                ),
            )
        }
        _ => {
            let info = gitstore::commit_info(&repo, oid)?;
            let parent = info.parents.first().and_then(|p| Oid::from_str(p).ok());
            let files = gitstore::diff_files(&repo, parent, oid)?;
            let mut v = render::commit(&sim.urls, &w, rp, &info);
            let (a, d) = totals(&files);
            v["stats"] = json!({ "additions": a, "deletions": d, "total": a + d });
            v["files"] = Value::Array(
                files
                    .iter()
                    .map(|f| render::file(&sim.urls, rp, f, &sha))
                    .collect(),
            );
            ok(v)
        }
    }
}

fn totals(files: &[gitstore::FileChange]) -> (usize, usize) {
    (
        files.iter().map(|f| f.additions).sum(),
        files.iter().map(|f| f.deletions).sum(),
    )
}

/// Accepts `branch`, `sha` and `owner:branch` (same repo only) on either side.
fn side(spec: &str) -> &str {
    spec.split_once(':').map(|(_, b)| b).unwrap_or(spec)
}

pub async fn compare(
    State(sim): State<Arc<Sim>>,
    Path((o, r, basehead)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let rp = &w.repos[idx];
    let (base_s, head_s) = basehead
        .split_once("...")
        .or_else(|| basehead.split_once(".."))
        .ok_or_else(ApiError::not_found)?;
    let base = gitstore::resolve_commit(&repo, side(base_s)).ok_or_else(ApiError::not_found)?;
    let head = gitstore::resolve_commit(&repo, side(head_s)).ok_or_else(ApiError::not_found)?;
    let mb = gitstore::merge_base(&repo, base, head).ok_or_else(ApiError::not_found)?;
    let (ahead, behind) = repo.graph_ahead_behind(head, base)?;
    let status = match (ahead, behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let mut commits = Vec::new();
    for oid in gitstore::range(&repo, Some(mb), head)?
        .into_iter()
        .take(250)
    {
        commits.push(render::commit(
            &sim.urls,
            &w,
            rp,
            &gitstore::commit_info(&repo, oid)?,
        ));
    }
    let files: Vec<Value> = gitstore::diff_files(&repo, Some(mb), head)?
        .iter()
        .map(|f| render::file(&sim.urls, rp, f, &head.to_string()))
        .collect();
    let api = format!("{}/repos/{}", sim.urls.api, rp.full_name());
    let html = format!("{}/{}/compare/{basehead}", sim.urls.html, rp.full_name());
    ok(json!({
        "url": format!("{api}/compare/{basehead}"),
        "html_url": html,
        "permalink_url": format!("{}/{}/compare/{base}...{head}", sim.urls.html, rp.full_name()),
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "base_commit": render::commit(&sim.urls, &w, rp, &gitstore::commit_info(&repo, base)?),
        "merge_base_commit": render::commit(&sim.urls, &w, rp, &gitstore::commit_info(&repo, mb)?),
        "status": status,
        "ahead_by": ahead,
        "behind_by": behind,
        "total_commits": ahead,
        "commits": commits,
        "files": files,
    }))
}
