//! The symlinks of a commit's tree as the code host shows them: one recursive "Get a tree"
//! listing and one "Get a blob" per link for its target, resolved inside the tree
//! (`policy::links::resolve`). A governed link governs its target, so the gate needs them to
//! ask the right approvers. Both answers are addressed by SHAs and never change: cached.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;

use super::{GitHub, GitHubError};
use crate::policy::links::{Resolved, TreeEntry, resolve};
use crate::types::{CommitSha, RepoName};

/// Git's mode for a symlink, as the trees API writes it.
const LINK_MODE: &str = "120000";

#[derive(serde::Deserialize)]
struct ApiTree {
    tree: Vec<ApiTreeEntry>,
    truncated: bool,
}

#[derive(serde::Deserialize)]
struct ApiTreeEntry {
    path: String,
    mode: String,
    sha: String,
}

#[derive(serde::Deserialize)]
struct ApiBlob {
    content: String,
    encoding: String,
}

/// A commit's links that stay inside its tree, with the path each leads to.
pub(crate) type TreeLinks = Arc<Vec<(String, String)>>;

impl GitHub {
    /// The symlinks of `commit`'s tree that resolve inside it, with their targets. A listing
    /// GitHub truncated (over 100,000 entries) is an error: a link it left out could govern
    /// a file, so nothing is decided on part of the tree.
    pub(crate) async fn tree_links(
        &self,
        repo: &RepoName,
        commit: &CommitSha,
    ) -> Result<TreeLinks, GitHubError> {
        let key = (repo.clone(), commit.clone());
        if let Some(hit) = self
            .links_cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(&key).cloned())
        {
            return Ok(hit);
        }
        let path = format!("/repos/{repo}/git/trees/{commit}?recursive=1");
        let listing: ApiTree = self.transport.get(&path).await?.json(&path)?;
        if listing.truncated {
            return Err(GitHubError::Decode {
                path,
                message: "GitHub truncated the tree listing (over 100,000 entries), so its symlinks cannot all be seen; prgate cannot tell what a governed link governs".into(),
            });
        }
        let mut entries: HashMap<String, TreeEntry> = HashMap::new();
        let mut links = Vec::new();
        for e in &listing.tree {
            if e.mode == LINK_MODE {
                let target = self.blob_text(repo, &e.sha).await?;
                entries.insert(e.path.clone(), TreeEntry::Link(target));
                links.push(e.path.clone());
            } else {
                entries.insert(e.path.clone(), TreeEntry::Other);
            }
        }
        let lookup = |p: &str| entries.get(p).cloned().unwrap_or(TreeEntry::Missing);
        let resolved: Vec<(String, String)> = links
            .into_iter()
            .filter_map(|link| match resolve(&link, &lookup) {
                Resolved::Inside(target) => Some((link, target)),
                Resolved::Outside(_) => None,
            })
            .collect();
        let resolved = Arc::new(resolved);
        if let Ok(mut c) = self.links_cache.lock() {
            c.put(key, resolved.clone());
        }
        Ok(resolved)
    }

    /// A blob's bytes as text (a symlink's target), lossily decoded.
    async fn blob_text(&self, repo: &RepoName, sha: &str) -> Result<String, GitHubError> {
        let path = format!("/repos/{repo}/git/blobs/{sha}");
        let blob: ApiBlob = self.transport.get(&path).await?.json(&path)?;
        if blob.encoding != "base64" {
            return Err(GitHubError::Decode {
                path,
                message: format!("blob encoding {:?}, expected base64", blob.encoding),
            });
        }
        let cleaned: String = blob
            .content
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|e| GitHubError::Malformed {
                path,
                source: e.into(),
            })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
