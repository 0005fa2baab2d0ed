//! What keeps the executor from deciding about a merge now: a failed call, git, the mirror.
//! None of these is a decision: the merge is considered again (by the next push or pass).

use crate::github::GitHubError;
use crate::types::RepoName;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("git, in the mirror of {repo}: {}", .source.message())]
    Git {
        repo: RepoName,
        #[source]
        source: git2::Error,
    },
    #[error("the mirror of {repo}: {source}")]
    Mirror {
        repo: RepoName,
        #[source]
        source: crate::git::mirror::MirrorError,
    },
    /// A blocking task that ended without an answer (it panicked or the runtime is stopping).
    #[error("{what} did not finish: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("{0}")]
    Other(String),
    /// An earlier merge changed the same governed content and has no record yet: this one
    /// waits for it (it may be running here or in another replica).
    #[error(
        "the earlier merge {0} changed the same governed content and has no record yet; it is verified first"
    )]
    EarlierMergeUnrecorded(String),
}
