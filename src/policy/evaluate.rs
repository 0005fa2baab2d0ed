//! Evaluation of a policy against the facts of a PR.

use crate::config::{ConfigError, RepoPolicy};
use crate::types::CommitSha;

use super::decision::{ApprovalDecision, ApprovalState};
use super::facts::PullFacts;

/// A rule (or the defaults) that changed files of a PR fall under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRule {
    pub name: String,
    pub files: Vec<String>,
}

/// Parses and validates a policy file. `file` names it in error messages.
pub fn parse_policy(file: &str, text: &str) -> Result<RepoPolicy, ConfigError> {
    let _ = (file, text);
    todo!("policy helper")
}

/// Which rules the changed files fall under.
pub fn matched_rules(policy: &RepoPolicy, changed_files: &[String]) -> Vec<MatchedRule> {
    let _ = (policy, changed_files);
    todo!("policy helper")
}

/// Decides whether the PR's current head is approved under `policy`.
pub fn evaluate_approval(policy: &RepoPolicy, facts: &PullFacts) -> ApprovalDecision {
    let _ = (policy, facts);
    todo!("policy helper")
}

/// A decision of `error` for when the facts could not be gathered.
pub fn error_decision(head_sha: CommitSha, description: &str) -> ApprovalDecision {
    ApprovalDecision {
        state: ApprovalState::Error,
        description: description.chars().take(139).collect(),
        head_sha,
        rules: vec![],
        approvals: vec![],
        denials: vec![],
        notes: vec![],
    }
}
