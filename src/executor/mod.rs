//! The post-merge executor: for a commit M on a governed branch it re-verifies the approval on
//! its own (never trusting statuses or notes a writer can forge), claims M at most once, runs
//! the configured action once in a fresh, sandboxed checkout, and records the outcome as a
//! signed note, a `prgate/execution` status and a PR comment.
//!
//! The decision is one pure function, [`decide::decide`], over the facts gathered so far; the
//! files around it do the I/O, one job each: `consider` (gathers what the decision asks for and
//! carries out its step), `verify` (steps 1 to 4), `plan_check`, `claim`, `apply` (the run),
//! `report` (records, statuses, comments, refusals), `ledger` (prgate's own statuses),
//! `mirror`, `local` (what the mirror says) and `reconcile` (what brings merges here).
//! The record's format and checks are `crate::record`'s; the git plumbing is `crate::git`'s.

mod apply;
mod approval_record;
pub mod blocking;
mod carried;
mod claim;
mod consider;
mod considered;
pub(crate) mod decide;
mod engine;
mod error;
pub mod git_env;
mod group;
mod instance;
mod ledger;
mod local;
mod mirror;
mod plan_check;
pub(crate) mod plan_marker;
pub(crate) mod plan_run;
mod reconcile;
pub mod redact;
pub(crate) mod refusal;
mod report;
pub(crate) mod run;
pub mod sandbox;
mod verify;

pub use considered::{Considered, HOLD_LABEL, Mode};
pub use engine::Executor;
pub use error::ExecError;
pub use group::{GroupContent, GroupStep};
pub use run::{RunResult, RunSpec, run_executor};
