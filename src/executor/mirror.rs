//! The executor's mirror of each repository: synced from the code host, with prgate's own
//! records kept there whatever a writer does to `refs/notes/prgate`.

use std::path::PathBuf;

use chrono::Utc;
use git2::Repository;

use super::engine::Executor;
use super::error::ExecError;
use crate::config::Secret;
use crate::git::mirror::sync_mirror;
use crate::git::notes::{adopt_fetched_notes, push_notes};
use crate::record::note::ExecutionNote;
use crate::record::signing::{SignatureCheck, check_signature};
use crate::types::RepoName;

impl Executor {
    pub(super) fn git_err(repo: &RepoName) -> impl Fn(git2::Error) -> ExecError + '_ {
        move |e| ExecError::Git {
            repo: repo.clone(),
            source: e,
        }
    }

    pub(super) fn mirror_dir(&self, repo: &RepoName) -> PathBuf {
        self.config
            .data_dir
            .join("mirrors")
            .join(repo.owner())
            .join(format!("{}.git", repo.name()))
    }

    pub(super) async fn clone_url(&self, repo: &RepoName) -> Result<String, ExecError> {
        if let Some(u) = self
            .clone_urls
            .lock()
            .ok()
            .and_then(|m| m.get(repo).cloned())
        {
            return Ok(u);
        }
        let info = self.gh.repo(repo).await?;
        let url = info
            .clone_url
            .ok_or_else(|| ExecError::Other(format!("{repo} has no clone_url")))?;
        if let Ok(mut m) = self.clone_urls.lock() {
            m.insert(repo.clone(), url.clone());
        }
        Ok(url)
    }

    /// The token for git over https to `repo`: the configured one, or with a GitHub App the
    /// installation token of the repository's owner.
    pub(super) async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, ExecError> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        Ok(self.gh.git_token(repo).await?)
    }

    /// The token for pushing a note; without one the push fails and is retried later.
    pub(super) async fn note_token(&self, repo: &RepoName) -> Option<Secret> {
        self.git_token(repo).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no token for pushing the note yet");
            None
        })
    }

    /// Brings the mirror up to date and opens it.
    pub(super) async fn mirror(&self, repo: &RepoName) -> Result<(Repository, String), ExecError> {
        let url = self.clone_url(repo).await?;
        let dir = self.mirror_dir(repo);
        let token = self.git_token(repo).await?;
        let push_token = token.clone();
        let _guard = self.mirror_lock.lock().await;
        let u = url.clone();
        let mirror = tokio::task::spawn_blocking(move || sync_mirror(&dir, &u, token.as_ref()))
            .await
            .map_err(|source| ExecError::Task {
                what: "the mirror's sync",
                source,
            })?
            .map_err(|source| ExecError::Mirror {
                repo: repo.clone(),
                source,
            })?;
        self.keep_own_notes(&mirror, repo, &url, push_token.as_ref());
        Ok((mirror, url))
    }

    /// Whether a record read from the code host may be one of prgate's own: signed by its key
    /// (when it has one) and not dated in the future. Whether a merge ran rests on prgate's own
    /// statuses first either way (see `consider_inner`).
    pub(super) fn trusted_note(&self) -> impl Fn(&ExecutionNote) -> bool + use<> {
        let own_key = self.signing_key.as_ref().map(|k| k.verifying_key());
        move |n: &ExecutionNote| {
            // Without a key, replicas' notes cannot be told from a writer's: they are taken,
            // and `consider` believes one only where prgate's own statuses agree.
            let signed = own_key.as_ref().is_none_or(|k| {
                matches!(
                    check_signature(n, std::slice::from_ref(k)),
                    SignatureCheck::Valid { .. }
                )
            });
            // A clock a little ahead of ours is a replica's; days ahead is a forgery.
            let not_future =
                crate::record::note::recorded_at(n) <= Utc::now() + chrono::Duration::minutes(5);
            signed && not_future
        }
    }

    /// Adopts the notes just fetched and pushes again every record of prgate's the remote
    /// lacks or has otherwise: a writer who deletes or rolls back `refs/notes/prgate` cannot
    /// erase what prgate wrote. A failure is logged; the next sync tries again.
    pub(super) fn keep_own_notes(
        &self,
        mirror: &Repository,
        repo: &RepoName,
        url: &str,
        token: Option<&Secret>,
    ) {
        let trusted = self.trusted_note();
        let restore = match adopt_fetched_notes(mirror, &trusted, self.signing_key.is_some()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%repo, error = %e, "cannot merge the fetched notes");
                return;
            }
        };
        if restore.is_empty() {
            return;
        }
        tracing::warn!(%repo, records = restore.len(), "the remote's prgate notes lack records prgate wrote (deleted or rolled back?); pushing them again");
        if let Err(e) = push_notes(mirror, url, token, &trusted) {
            tracing::warn!(%repo, error = %e, "cannot push the records again yet");
        }
    }

    /// The mirror as it is on disk, without fetching: for work right after a sync, where a
    /// second fetch would only cost a round trip.
    pub(super) async fn local_mirror(&self, repo: &RepoName) -> Result<Repository, ExecError> {
        let _guard = self.mirror_lock.lock().await;
        Repository::open_bare(self.mirror_dir(repo)).map_err(Self::git_err(repo))
    }
}
