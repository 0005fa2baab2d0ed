//! prgate: approval-gated execution for non-human identities, built on pull requests.
//!
//! An agent proposes a change as a pull request; a designated human approves that exact head
//! commit; prgate merges it with the approved SHA pinned, and an executor re-verifies before it
//! applies the change once. See DESIGN.md (shared) and README.md.

// Module dependency order: each module may use only those named on its line (and what they
// use); none uses one that uses it back (`scripts/module-graph.py` checks it). Leaves: `types`,
// `clock`, `error_chain`, `links`, `render`, `retry`, `metrics`, `readiness`,
// `connections`.
//   config        types
//   policy        config, types (pure: no I/O)
//   record        config, policy, types (the approval record's format and checks)
//   git           config, types, record (notes I/O writes record::note)
//   github        config, metrics, policy, types
//   verify        config, git, record, types
//   audit         verify, git, record, policy, config, render
//   proposed_tree git, links;   propose  proposed_tree, git, github, policy, config, render, types
//   dashboard     policy, render, types;   preflight  config, github
//   proposal_status  github, policy, record, types (`prgate status` and `wait`)
//   executor      git, record, github, policy, config, dashboard, metrics, render, types
//   webhook       config, metrics, readiness, types
//   gate          executor, record, github, policy, webhook, dashboard, metrics, render, clock
//   routes        webhook, config, dashboard, metrics, render (the HTTP routes)
//   contract      github, proposal_status, propose, verify, audit, executor, record (the JSON
//                 shapes)
//   agent_tools   contract, github, propose, proposal_status, render, git, config, types (what
//                 an agent may do; nothing approves, merges or executes)
//   mcp           agent_tools, contract, propose, proposal_status (the only module that knows rmcp)
//   serve         everything above it: gate, executor, routes, webhook, preflight, connections
//   demo          serve, audit, propose, git, record, github, and the simulator's crate

pub mod agent_tools;
pub mod audit;
pub mod clock;
pub mod config;
pub mod connections;
pub mod contract;
pub mod dashboard;
pub mod demo;
pub(crate) mod error_chain;
pub mod executor;
pub mod gate;
pub mod git;
pub mod github;
pub(crate) mod links;
pub mod mcp;
pub mod metrics;
pub mod policy;
pub mod preflight;
pub mod proposal_status;
pub mod propose;
pub(crate) mod proposed_tree;
pub mod readiness;
pub mod record;
pub mod render;
pub(crate) mod retry;
pub mod routes;
pub mod serve;
pub mod types;
pub mod verify;
pub mod webhook;

/// The commit status context prgate owns on every governed PR.
pub const APPROVAL_CONTEXT: &str = "prgate/approval";
/// The commit status context the executor posts on merge commits.
pub const EXECUTION_CONTEXT: &str = "prgate/execution";
