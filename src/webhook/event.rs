//! Our own small event enum: only the fields prgate uses, decoded tolerantly. The payload is a
//! hint of what to re-evaluate, never the truth; actions stay strings so that a new GitHub
//! action never breaks decoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{CommitSha, Login, PullNumber, RepoName};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Ping,
    PullRequest {
        action: String,
        repo: RepoName,
        number: PullNumber,
        head_sha: Option<CommitSha>,
        base_ref: String,
    },
    PullRequestReview {
        action: String,
        repo: RepoName,
        number: PullNumber,
    },
    Push {
        repo: RepoName,
        /// e.g. `refs/heads/main`
        git_ref: String,
        before: Option<CommitSha>,
        after: Option<CommitSha>,
        forced: bool,
    },
    Status {
        repo: RepoName,
        sha: CommitSha,
        context: String,
        state: String,
        /// Who posted the status (the delivery's `sender`).
        sender: Option<Login>,
    },
    /// An event or action prgate does not act on; answered 2xx and dropped.
    Ignored { event: String },
}

/// One accepted webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `X-GitHub-Delivery`
    pub id: String,
    /// `X-GitHub-Event`
    pub event_name: String,
    pub received_at: DateTime<Utc>,
    pub event: Event,
}
