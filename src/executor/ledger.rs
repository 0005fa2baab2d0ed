//! prgate's own `prgate/execution` statuses on a merge: append-only on the code host and
//! attributed to their poster, the record of its runs no writer can delete or rewrite.

use chrono::Utc;

use super::engine::Executor;
use super::error::ExecError;
use crate::EXECUTION_CONTEXT;
use crate::record::note::Outcome;
use crate::record::run_status::{self, RunStatus};
use crate::types::{CommitSha, RepoName};

impl Executor {
    /// The account prgate acts as (learnt once by the client): what it wrote is told by its id.
    pub(super) async fn own_account(&self) -> Result<crate::github::OwnAccount, ExecError> {
        Ok(self.gh.own_account().await?)
    }

    /// prgate's own `prgate/execution` statuses on M, newest first, with when they were posted.
    pub(super) async fn own_statuses_dated(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Vec<(RunStatus, Option<chrono::DateTime<Utc>>)>, ExecError> {
        Ok(self
            .own_statuses_raw(repo, merge)
            .await?
            .into_iter()
            .filter_map(|s| {
                run_status::classify(&s.state, s.description.as_deref().unwrap_or(""))
                    .map(|r| (r, s.created_at))
            })
            .collect())
    }

    /// prgate's own `prgate/execution` statuses on M, newest first.
    pub(super) async fn own_statuses_raw(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Vec<crate::github::models::ApiStatus>, ExecError> {
        let me = self.own_account().await?;
        Ok(self
            .gh
            .statuses(repo, merge)
            .await?
            .into_iter()
            .filter(|s| s.context == EXECUTION_CONTEXT)
            .filter(|s| s.creator.as_ref().is_some_and(|c| me.wrote(c)))
            .collect())
    }

    /// What prgate's own statuses say about M's runs, newest first.
    /// The outcome of a run of `merge` that finished (succeeded, failed, timed out), from
    /// prgate's own statuses; `None` while nothing finished.
    pub async fn finished_outcome(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Option<Outcome>, ExecError> {
        Ok(self
            .own_statuses(repo, merge)
            .await?
            .iter()
            .find_map(RunStatus::finished))
    }

    pub(super) async fn own_statuses(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Vec<RunStatus>, ExecError> {
        Ok(self
            .own_statuses_dated(repo, merge)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }
}
