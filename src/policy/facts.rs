//! The facts of one pull request, as gathered from the code host. Plain data: the policy
//! engine decides from these alone, so tests build them by hand.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::TeamRef;
use crate::types::{CommitSha, Login, PullNumber, RepoName, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    User,
    Bot,
    Organization,
    /// Any type the code host may add later; never eligible to approve.
    Other,
}

impl AccountKind {
    /// Maps GitHub's `type` field; anything unknown is `Other`, which never approves.
    pub(crate) fn from_github(t: &str) -> Self {
        match t {
            "User" => AccountKind::User,
            "Bot" => AccountKind::Bot,
            "Organization" => AccountKind::Organization,
            _ => AccountKind::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub login: Login,
    pub id: UserId,
    pub kind: AccountKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    /// A review not yet submitted, or a state the code host may add later: carries no stance.
    Other,
}

impl ReviewState {
    pub(crate) fn from_github(s: &str) -> Self {
        match s {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "COMMENTED" => ReviewState::Commented,
            "DISMISSED" => ReviewState::Dismissed,
            _ => ReviewState::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub reviewer: Account,
    pub state: ReviewState,
    /// The commit the review was made on; `None` when the code host did not say.
    pub commit_id: Option<CommitSha>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// The review's text (the reason given with a change request).
    pub body: String,
}

/// One commit of the PR with the accounts its author and committer map to (by email, as on
/// GitHub). `None` means the code host could not map the identity to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitFacts {
    pub sha: CommitSha,
    pub author: Option<Account>,
    pub committer: Option<Account>,
    /// The raw name/email, for a useful message when the account is unknown.
    pub author_email: String,
    pub committer_email: String,
    /// Who really pushed this commit to the head branch (an authenticated account, from the
    /// code host's activity log), when known: commit emails prove nothing, so a description
    /// that names an email's account also names the pusher.
    #[serde(default)]
    pub pushed_by: Option<Account>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullState {
    Open,
    Closed,
    Merged,
}

/// Whether a policy file changed in the PR is itself valid; shown on the PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProposedPolicy {
    /// The PR does not touch the policy file.
    Unchanged,
    Valid,
    /// The PR deletes the policy file.
    Deleted,
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullFacts {
    pub repo: RepoName,
    pub number: PullNumber,
    pub state: PullState,
    pub draft: bool,
    pub author: Account,
    pub head_sha: CommitSha,
    pub base_sha: CommitSha,
    pub base_ref: String,
    /// In the order the code host lists them (chronological); the engine does not rely on it.
    pub reviews: Vec<Review>,
    pub commits: Vec<CommitFacts>,
    pub changed_files: Vec<String>,
    /// Members (by account id) of each team that a matched rule names. A team missing here
    /// is treated as having no members (fail closed).
    pub team_members: BTreeMap<TeamRef, BTreeSet<UserId>>,
    pub proposed_policy: ProposedPolicy,
    pub labels: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Every account that pushed to the PR's head branch (authenticated pushers, from the
    /// code host's activity log and push webhooks). `None` when they were not read; the
    /// gatherer reads them whenever a review takes a stance, and a stance judged without
    /// them is an `error` (fail closed).
    #[serde(default)]
    pub head_pushers: Option<Vec<Account>>,
    /// When the PR's base branch last changed (a retarget); approvals submitted before it
    /// were given for a merge into another branch and do not count.
    #[serde(default)]
    pub base_changed_at: Option<DateTime<Utc>>,
    /// When the PR was merged; reviews submitted after it never count (GitHub accepts reviews
    /// on merged PRs).
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    /// Who dismissed which review, and what it was before (the code host's review only says
    /// DISMISSED). `None` when they were not read; the gatherer reads them whenever a review
    /// is dismissed, and a dismissed review judged without them is an `error` (fail closed).
    #[serde(default)]
    pub dismissals: Option<Vec<Dismissal>>,
    /// Reviewers matched by a policy entry that names their login without pinning an id, whose
    /// account was created after the policy commit that named the login: a released login
    /// registered again by someone else. `None` when this was not read; the gatherer reads it
    /// whenever such a reviewer took a stance, and a stance judged without it is an `error`.
    #[serde(default)]
    pub registered_after: Option<Vec<RegisteredAfter>>,
}

/// An account younger than the policy's naming of its login (see
/// [`PullFacts::registered_after`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredAfter {
    pub id: UserId,
    pub login: Login,
    /// The account's `created_at`.
    pub created_at: DateTime<Utc>,
    /// When the policy commit that named the login was committed; `None` when the policy's
    /// history as read does not name it at all.
    pub named_at: Option<DateTime<Utc>>,
}

/// A review someone dismissed: a designated human's "no" stands unless someone who could
/// approve in their place cleared it (the agent cannot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissal {
    pub review_id: u64,
    pub by: Account,
    /// The review's state before it was dismissed.
    pub previous: ReviewState,
}
