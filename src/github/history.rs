//! Reads of what never changes once addressed by a SHA or an id: a path's history at a commit,
//! the policy at a commit, a commit's first parent, an account's creation. Each is read once.

use serde::de::DeserializeOwned;

use super::client::GitHubError;
use super::models::ApiCommit;
use super::{GitHub, url_escape_path};
use crate::types::{CommitSha, InvalidId, RepoName, UserId};

impl GitHub {
    /// An immutable answer (addressed by commit SHAs or an account id), read once and kept
    /// once it parses. `repo` is whose installation reads it, for a GitHub App.
    pub(super) async fn get_immutable<T: DeserializeOwned>(
        &self,
        repo: &RepoName,
        path: &str,
    ) -> Result<T, GitHubError> {
        let cached = self
            .immutable
            .lock()
            .ok()
            .and_then(|mut c| c.get(path).cloned());
        let fetched = cached.is_none();
        let body = match cached {
            Some(body) => body,
            None => self.transport.get_for(repo, path).await?.body,
        };
        let parsed = serde_json::from_slice(&body).map_err(|e| GitHubError::Malformed {
            path: path.to_string(),
            source: e.into(),
        })?;
        // Only an answer that parsed is kept: a malformed one is read again next time.
        if fetched && let Ok(mut cache) = self.immutable.lock() {
            cache.put(path.to_string(), body);
        }
        Ok(parsed)
    }

    /// The commits of `base`'s history that changed `path`, newest first, with their commit
    /// times: every page (a history addressed by a SHA never changes, so read once).
    pub(crate) async fn path_history(
        &self,
        repo: &RepoName,
        base: &CommitSha,
        path: &str,
    ) -> Result<Vec<(CommitSha, Option<chrono::DateTime<chrono::Utc>>)>, GitHubError> {
        let url = format!(
            "/repos/{repo}/commits?sha={base}&path={}",
            url_escape_path(path)
        );
        let cached = self
            .immutable
            .lock()
            .ok()
            .and_then(|mut c| c.get(&url).cloned());
        let body = match cached {
            Some(body) => body,
            None => {
                let all: Vec<serde_json::Value> = self.get_all(&url).await?;
                let body = bytes::Bytes::from(serde_json::to_vec(&all).unwrap_or_default());
                if let Ok(mut cache) = self.immutable.lock() {
                    cache.put(url.clone(), body.clone());
                }
                body
            }
        };
        let commits: Vec<ApiCommit> =
            serde_json::from_slice(&body).map_err(|e| GitHubError::Malformed {
                path: url.clone(),
                source: e.into(),
            })?;
        commits
            .into_iter()
            .map(|c| {
                let at = c.commit.committer.as_ref().and_then(|p| p.date);
                c.sha
                    .parse()
                    .map(|sha| (sha, at))
                    .map_err(|e: InvalidId| GitHubError::Malformed {
                        path: url.clone(),
                        source: e.into(),
                    })
            })
            .collect()
    }

    /// When the account with this id was created (`GET /user/{account_id}`, read through
    /// `repo`'s installation); an account's id and creation never change, so read once.
    pub(crate) async fn account_created_at(
        &self,
        repo: &RepoName,
        id: UserId,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Created {
            created_at: Option<chrono::DateTime<chrono::Utc>>,
        }
        let c: Created = self.get_immutable(repo, &format!("/user/{}", id.0)).await?;
        Ok(c.created_at)
    }

    /// The policy file at a commit of the base's history (cached for good).
    pub(crate) async fn policy_text_at(
        &self,
        repo: &RepoName,
        commit: &CommitSha,
    ) -> Result<Option<String>, GitHubError> {
        Ok(self
            .file_at(repo, crate::policy::POLICY_PATH, commit)
            .await?
            .map(|f| f.text))
    }

    /// A commit's first parent; `None` for a root commit.
    pub(crate) async fn first_parent(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Option<CommitSha>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Parent {
            sha: String,
        }
        #[derive(serde::Deserialize)]
        struct WithParents {
            parents: Vec<Parent>,
        }
        let path = format!("/repos/{repo}/commits/{sha}");
        let c: WithParents = self.get_immutable(repo, &path).await?;
        match c.parents.first() {
            None => Ok(None),
            Some(p) => p
                .sha
                .parse()
                .map(Some)
                .map_err(|e: InvalidId| GitHubError::Malformed {
                    path,
                    source: e.into(),
                }),
        }
    }
}
