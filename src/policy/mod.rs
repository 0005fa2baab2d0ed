//! The policy engine: pure functions from (policy, facts) to a decision. No I/O, no async,
//! no clock; this is where the approval semantics of DESIGN.md live and are tested.

mod compiled;
mod conclude;
pub(crate) mod decision;
mod eligibility;
mod evaluate;
pub(crate) mod facts;
pub mod file;
#[doc(hidden)]
pub mod fixtures;
mod judge;
pub mod links;
mod pattern;
mod plan_effect;
mod programs;
mod requests;
mod validate;

pub use compiled::CompiledPolicy;
pub(crate) use compiled::DEFAULTS_RULE;
pub(crate) use decision::ApprovalReading;
pub use decision::{
    Approval, ApprovalDecision, ApprovalState, Denial, ReviewVerdict, RuleOutcome,
    expired_description,
};
pub use evaluate::{
    MAX_DESCRIPTION_CHARS, MatchedRule, evaluate_approval, evaluate_final_head, executors_for,
    matched_rules, parse_policy, teams_needed,
};
pub(crate) use evaluate::{clip_description, describe_approvers, error_decision};
pub use facts::*;
pub use file::{
    Approvers, DefaultRule, Identities, MergeMode, POLICY_PATH, RepoPolicy, Rule, TeamRef,
};
pub(crate) use pattern::literal_prefix;
pub use pattern::{GlobError, compile_pattern};
pub(crate) use plan_effect::{PlanFact, apply_plan};
pub use programs::{ProgramPaths, UncoveredProgram, govern_programs, uncovered_programs};
pub use requests::{ReviewRequest, reviewers_to_request};
pub use validate::policy_check;
pub(crate) use validate::validate_policy;
