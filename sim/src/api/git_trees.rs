//! `GET /repos/{o}/{r}/git/trees/{tree_sha}` and `GET /repos/{o}/{r}/git/blobs/{file_sha}`
//! (REST "Git trees" and "Git blobs", docs.github.com/rest/git/trees and /rest/git/blobs).
//!
//! GitHub's surprises, kept: `tree_sha` may also be a commit SHA or a branch or tag name (the
//! commit's tree is listed, and `sha` names that tree); `recursive` set to **any** value,
//! `0` and `false` included, lists the whole tree ("Setting this parameter to any value returns
//! the objects or subtrees referenced by the tree … 0, 1, "true", and "false""); a recursive
//! listing stops at 100,000 entries with `truncated: true`; modes are six-digit strings
//! (`040000` for a folder, `120000` for a symlink, `160000` for a submodule, whose entry has
//! no `url`); a blob's content is base64 wrapped at 60 columns.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use base64::Engine;
use git2::{Oid, Repository, TreeWalkMode, TreeWalkResult};
use serde_json::{Value, json};

use super::{find_repo, git};
use crate::Sim;
use crate::gitstore;
use crate::http::{ApiError, ApiResult, ok};

/// GitHub's limit on a recursive listing ("The limit for the tree array is 100,000 entries").
const MAX_ENTRIES: usize = 100_000;

pub async fn tree(
    State(sim): State<Arc<Sim>>,
    Path((o, r, spec)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let api = format!("{}/repos/{}", sim.urls.api, w.repos[idx].full_name());
    let tree = find_tree(&repo, &spec).ok_or_else(ApiError::not_found)?;
    let recursive = q.contains_key("recursive");
    let mut entries: Vec<Value> = Vec::new();
    let mut truncated = false;
    let root = repo.find_tree(tree)?;
    root.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entries.len() >= MAX_ENTRIES {
            truncated = true;
            return TreeWalkResult::Abort;
        }
        let path = format!("{dir}{}", String::from_utf8_lossy(entry.name_bytes()));
        entries.push(entry_json(&repo, &api, &path, entry));
        if recursive {
            TreeWalkResult::Ok
        } else {
            TreeWalkResult::Skip
        }
    })
    .or_else(|e| if truncated { Ok(()) } else { Err(e) })?;
    ok(json!({
        "sha": tree.to_string(),
        "url": format!("{api}/git/trees/{tree}"),
        "tree": entries,
        "truncated": truncated,
    }))
}

pub async fn blob(
    State(sim): State<Arc<Sim>>,
    Path((o, r, sha)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let repo = git(&w, idx)?;
    let api = format!("{}/repos/{}", sim.urls.api, w.repos[idx].full_name());
    let blob = Oid::from_str(&sha)
        .ok()
        .and_then(|oid| repo.find_blob(oid).ok())
        .ok_or_else(ApiError::not_found)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob.content());
    let content: String = b64
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
        .collect();
    ok(json!({
        "sha": blob.id().to_string(),
        // GitHub's node ids are opaque; this one is stable per blob.
        "node_id": base64::engine::general_purpose::STANDARD.encode(format!("Blob:{}", blob.id())),
        "size": blob.size(),
        "url": format!("{api}/git/blobs/{}", blob.id()),
        "content": content,
        "encoding": "base64",
    }))
}

/// A tree SHA, or a commit SHA or ref name whose tree is meant.
fn find_tree(repo: &Repository, spec: &str) -> Option<Oid> {
    if let Ok(oid) = Oid::from_str(spec)
        && spec.len() == 40
        && let Ok(tree) = repo.find_tree(oid)
    {
        return Some(tree.id());
    }
    let commit = gitstore::resolve_commit(repo, spec)?;
    repo.find_commit(commit).ok().map(|c| c.tree_id())
}

fn entry_json(repo: &Repository, api: &str, path: &str, entry: &git2::TreeEntry<'_>) -> Value {
    let sha = entry.id().to_string();
    let mode = format!("{:06o}", entry.filemode());
    match entry.kind() {
        Some(git2::ObjectType::Tree) => json!({
            "path": path, "mode": mode, "type": "tree", "sha": sha,
            "url": format!("{api}/git/trees/{sha}"),
        }),
        Some(git2::ObjectType::Blob) => {
            let size = repo.find_blob(entry.id()).map(|b| b.size()).unwrap_or(0);
            json!({
                "path": path, "mode": mode, "type": "blob", "sha": sha, "size": size,
                "url": format!("{api}/git/blobs/{sha}"),
            })
        }
        _ => json!({ "path": path, "mode": mode, "type": "commit", "sha": sha }),
    }
}
