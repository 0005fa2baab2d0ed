//! prgate: approval-gated execution for non-human identities, built on pull requests.
//!
//! An agent proposes a change as a pull request; a designated human approves that exact head
//! commit; prgate merges it with the approved SHA pinned, and an executor re-verifies before it
//! applies the change once. See DESIGN.md (shared) and README.md.

pub mod audit;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod executor;
pub mod gate;
pub mod git;
pub mod github;
pub mod links;
pub mod listener;
pub mod metrics;
pub mod policy;
pub mod preflight;
pub mod propose;
pub mod proposed_tree;
pub mod readiness;
pub mod records;
pub mod render;
pub mod serve;
pub mod server;
pub mod types;
pub mod verify;
pub mod watch;
pub mod webhook;

/// The commit status context prgate owns on every governed PR.
pub const APPROVAL_CONTEXT: &str = "prgate/approval";
/// The commit status context the executor posts on merge commits.
pub const EXECUTION_CONTEXT: &str = "prgate/execution";
