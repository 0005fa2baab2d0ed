//! `POST /repos/{o}/{r}/git/commits` (REST "Create a commit", docs.github.com/rest/git/commits):
//! a commit object from a tree and parents, reachable from no ref until one is made to point
//! at it. Without `author`/`committer`, GitHub uses the authenticated account and the
//! current time. A tree or parent that does not exist is a 422.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use git2::Oid;
use serde::Deserialize;

use super::{find_repo, git, need_write, signature_of};
use crate::http::{Actor, ApiError, ApiResult, created, parse_body};
use crate::{Sim, gitstore, render};

#[derive(Deserialize)]
pub struct NewCommit {
    message: String,
    tree: String,
    #[serde(default)]
    parents: Vec<String>,
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let new: NewCommit = parse_body(&body)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    need_write(&w, idx, actor.0)?;
    let repo = git(&w, idx)?;
    // GitHub's messages for these 422s, as clients report them (octokit/rest.js#1506,
    // octokit/octokit.net#2152).
    let tree = Oid::from_str(&new.tree)
        .ok()
        .and_then(|o| repo.find_tree(o).ok())
        .ok_or_else(|| ApiError::invalid("Tree SHA does not exist"))?;
    let mut parents = Vec::new();
    for p in &new.parents {
        let c = Oid::from_str(p)
            .ok()
            .and_then(|o| repo.find_commit(o).ok())
            .ok_or_else(|| {
                ApiError::invalid("Parent SHA does not exist or is not a commit object")
            })?;
        parents.push(c);
    }
    let who = signature_of(&w, actor.0)?;
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let oid = repo.commit(None, &who, &who, &new.message, &tree, &refs)?;
    let info = gitstore::commit_info(&repo, oid)?;
    created(render::git_commit(&sim.urls, &w.repos[idx], &info))
}
