//! Why the facts of a PR could not be gathered (any gatherer's one error type): the decision
//! is then `error`, with a status description that says what to do.

use super::GitHubError;
use crate::config::ConfigError;
use crate::policy::POLICY_PATH;
use crate::types::{CommitSha, RepoName};

/// Why the facts of a PR could not be gathered; the decision is then `error`.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("no {POLICY_PATH} at base commit {base} of {repo}; add one to govern this branch")]
    NoPolicy { repo: RepoName, base: CommitSha },
    #[error("the policy at base commit {base} is invalid: {error}")]
    InvalidPolicy { base: CommitSha, error: ConfigError },
    #[error("{0}")]
    Incomplete(String),
}

impl GatherError {
    /// A status description (under 140 characters) for the PR.
    pub(crate) fn status_description(&self) -> String {
        let text = match self {
            // GitHub's own words say which field or type was refused, e.g. one that an older
            // GitHub Enterprise Server lacks.
            GatherError::GitHub(GitHubError::GraphQl { message, .. }) => {
                format!("GitHub's GraphQL API could not give the PR's facts; will retry: {message}")
            }
            GatherError::GitHub(e) => match e.status() {
                Some(s) => format!("could not read the PR's facts from GitHub ({s}); will retry"),
                None => "could not reach GitHub to read the PR's facts; will retry".to_string(),
            },
            GatherError::NoPolicy { .. } => format!("no {POLICY_PATH} at the base commit"),
            GatherError::InvalidPolicy { .. } => {
                format!("{POLICY_PATH} at the base commit is invalid; fix it on the base branch")
            }
            GatherError::Incomplete(m) => m.clone(),
        };
        crate::policy::clip_description(&text)
    }
}
