//! Our own small event types: only the fields prgate uses. A delivery is a hint of what to
//! re-evaluate, never the truth; actions stay strings so that a new GitHub action never
//! breaks decoding. Each event prgate acts on has its own type, so that each goes to one
//! handler (`gate::on_*`, or an evaluation of its PR).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{CommitSha, Login, PullNumber, RepoName};

/// A decoded delivery. Stored in the durable queue: the tag and field names are its format
/// (a newtype variant of a struct reads and writes the same JSON as a struct variant did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Ping,
    PullRequest(PullRequestEvent),
    PullRequestReview(ReviewEvent),
    Push(PushEvent),
    Status(StatusEvent),
    /// GitHub's merge queue built a group commit and asks for its required checks
    /// (`checks_requested`), or took a group down (`destroyed`).
    MergeGroup(MergeGroupEvent),
    /// A check run was created or completed. Only apps create check runs (GitHub Actions is
    /// one); a `prgate/approval` one from any app but prgate's satisfies an unpinned required
    /// check, so prgate answers it.
    CheckRun(CheckRunEvent),
    /// An event or action prgate does not act on; answered 2xx and dropped.
    Ignored {
        event: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub repo: RepoName,
    pub number: PullNumber,
    pub head_sha: Option<CommitSha>,
    pub base_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEvent {
    pub action: String,
    pub repo: RepoName,
    pub number: PullNumber,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEvent {
    pub repo: RepoName,
    /// e.g. `refs/heads/main`
    pub git_ref: String,
    pub before: Option<CommitSha>,
    pub after: Option<CommitSha>,
    pub forced: bool,
    /// Who pushed (the delivery's `sender`, an authenticated account); a hint that makes
    /// them ineligible to approve a PR from that branch, never a reason to approve.
    #[serde(default)]
    pub sender: Option<EventAccount>,
    /// Whether the push changed the policy file, from the delivery's own list of changed
    /// files; `None` when that list may be incomplete (GitHub lists at most 20 commits) or
    /// the push was forced.
    #[serde(default)]
    pub policy_touched: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub repo: RepoName,
    pub sha: CommitSha,
    pub context: String,
    pub state: String,
    /// Who posted the status (the delivery's `sender`).
    pub sender: Option<Login>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeGroupEvent {
    pub action: String,
    pub repo: RepoName,
    /// The group commit, on `head_ref` (`refs/heads/gh-readonly-queue/<base>/pr-<n>-<sha>`).
    pub head_sha: CommitSha,
    pub head_ref: String,
    /// The base branch's commit the group was built on.
    pub base_sha: CommitSha,
    /// `refs/heads/<base>`.
    pub base_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunEvent {
    pub repo: RepoName,
    pub name: String,
    pub head_sha: CommitSha,
    /// The app that created it: its id and slug.
    pub app_id: Option<u64>,
    pub app_slug: Option<String>,
}

/// What an event is about, for log lines: its repository, PR and commit where it names them.
pub(crate) struct Subject<'a> {
    pub repo: &'a RepoName,
    pub pull: Option<PullNumber>,
    pub head: Option<&'a CommitSha>,
}

impl Event {
    /// The repository, PR and commit the event names; `None` for a ping or an ignored event.
    pub(crate) fn subject(&self) -> Option<Subject<'_>> {
        let (repo, pull, head) = match self {
            Event::Ping | Event::Ignored { .. } => return None,
            Event::PullRequest(e) => (&e.repo, Some(e.number), e.head_sha.as_ref()),
            Event::PullRequestReview(e) => (&e.repo, Some(e.number), None),
            Event::Push(e) => (&e.repo, None, e.after.as_ref()),
            Event::Status(e) => (&e.repo, None, Some(&e.sha)),
            Event::MergeGroup(e) => (&e.repo, None, Some(&e.head_sha)),
            Event::CheckRun(e) => (&e.repo, None, Some(&e.head_sha)),
        };
        Some(Subject { repo, pull, head })
    }
}

/// An account named in a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAccount {
    pub login: Login,
    pub id: u64,
    /// GitHub's `type` (`User`, `Bot`, ...).
    pub kind: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The durable queue holds deliveries accepted before an upgrade: the stored JSON of each
    /// event reads back, and is written, as it was when the events were struct variants.
    #[test]
    fn stored_deliveries_keep_their_format() {
        let stored = [
            r#"{"kind":"push","repo":"acme/infra","git_ref":"refs/heads/main","before":null,"after":"ec26c3e57ca3a959ca5aad62de7213c562f8c821","forced":false,"sender":{"login":"bob","id":2,"kind":"User"},"policy_touched":true}"#,
            r#"{"kind":"status","repo":"acme/infra","sha":"ec26c3e57ca3a959ca5aad62de7213c562f8c821","context":"prgate/approval","state":"success","sender":"mallory"}"#,
            r#"{"kind":"pull_request_review","action":"submitted","repo":"acme/infra","number":7}"#,
            r#"{"kind":"ignored","event":"issues"}"#,
            r#"{"kind":"ping"}"#,
        ];
        for json in stored {
            let event: Event = serde_json::from_str(json).unwrap();
            let again = serde_json::to_value(&event).unwrap();
            assert_eq!(
                again,
                serde_json::from_str::<serde_json::Value>(json).unwrap()
            );
        }
        // An old push without the later fields still reads.
        let old = r#"{"kind":"push","repo":"acme/infra","git_ref":"refs/heads/x","before":null,"after":null,"forced":true}"#;
        assert!(matches!(
            serde_json::from_str::<Event>(old).unwrap(),
            Event::Push(PushEvent {
                forced: true,
                sender: None,
                policy_touched: None,
                ..
            })
        ));
    }
}
