//! What the policy engine decides about one PR, and why, in words a reviewer reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{CommitSha, Login, UserId};

/// The commit status states, as GitHub names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    Pending,
    Success,
    Failure,
    Error,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Success => "success",
            ApprovalState::Failure => "failure",
            ApprovalState::Error => "error",
        }
    }
}

/// One approval that counted towards a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub login: Login,
    pub user_id: UserId,
    pub review_id: u64,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A change request from an eligible reviewer, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub login: Login,
    pub review_id: u64,
    pub reason: String,
}

/// What one review meant to the decision, in the gate's own words: for the decision page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewVerdict {
    pub review_id: u64,
    pub login: Login,
    /// "approved", "changes requested", "commented", "dismissed" or "other".
    pub stance: String,
    /// The commit the review was made on, when the code host said.
    pub commit: Option<CommitSha>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// An approval that counted for a rule, or a change request that blocks.
    pub counts: bool,
    /// The rules an approval counted for.
    pub counted_for: Vec<String>,
    /// Why it does not count, when it does not.
    pub why_not: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule's name; `"defaults"` for files no rule matched.
    pub name: String,
    pub min_approvals: u32,
    pub approvals: Vec<Approval>,
    pub satisfied: bool,
    /// Who may approve, in words: "alice or acme/netops".
    pub approvers: String,
    pub executor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub state: ApprovalState,
    /// The status description: under 140 characters, says what is missing.
    pub description: String,
    pub head_sha: CommitSha,
    pub rules: Vec<RuleOutcome>,
    /// Distinct approvals that counted for any rule.
    pub approvals: Vec<Approval>,
    pub denials: Vec<Denial>,
    /// Why reviews did not count: "bob is not a designated approver".
    pub notes: Vec<String>,
    /// Every review of the PR, oldest first, and what it meant.
    #[serde(default)]
    pub reviews: Vec<ReviewVerdict>,
}

impl ApprovalDecision {
    pub fn is_approved(&self) -> bool {
        self.state == ApprovalState::Success
    }
}

/// The `prgate/approval` description of a request that expired without approval: the one
/// place that writes it and the one that reads it back (`prgate status`, `wait`), so that the
/// state a reader derives from the code host is the one the gate meant.
pub fn expired_description(after: &str) -> String {
    format!("{EXPIRED_PREFIX} without approval after {after}; nothing was executed")
}

/// What one of prgate's own `prgate/approval` statuses says, read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalReading {
    Pending,
    Approved,
    /// A "no": a change request, an invalid proposed policy, a forged status answered.
    Denied,
    /// The request expired without approval ([`expired_description`]).
    Expired,
    /// prgate could not decide.
    Error,
    /// A state GitHub does not have.
    Unknown,
}

impl ApprovalReading {
    /// Reads a status's state and description; only an expiry needs the description, and
    /// [`expired_description`] is the one place that writes it.
    pub fn read(state: &str, description: &str) -> ApprovalReading {
        match state {
            "pending" => ApprovalReading::Pending,
            "success" => ApprovalReading::Approved,
            "failure" if description.starts_with(EXPIRED_PREFIX) => ApprovalReading::Expired,
            "failure" => ApprovalReading::Denied,
            "error" => ApprovalReading::Error,
            _ => ApprovalReading::Unknown,
        }
    }
}

const EXPIRED_PREFIX: &str = "expired";
