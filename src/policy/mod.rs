//! The policy engine: pure functions from (policy, facts) to a decision. No I/O, no async,
//! no clock; this is where the approval semantics of DESIGN.md live and are tested.

pub mod decision;
pub mod facts;
mod evaluate;

pub use decision::{ApprovalDecision, ApprovalState, Approval, Denial, RuleOutcome};
pub use evaluate::{evaluate_approval, error_decision, parse_policy, matched_rules, MatchedRule};
pub use facts::*;
