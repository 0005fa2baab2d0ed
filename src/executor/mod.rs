//! The post-merge executor: re-verifies that a merge commit carries exactly the approved
//! content, runs the configured action once in a fresh checkout with its secrets released only
//! then, and records the result as a note in git. The pieces here are local (git and processes);
//! the code host side (finding the PR, claiming the merge) is wired in by the gate.

//!
//! The record's format and checks are `crate::record`'s; the git plumbing (mirror, checkout,
//! history walk, notes I/O) is `crate::git`'s.

pub mod blocking;
mod carried;
pub mod git_env;
mod instance;
pub(crate) mod plan;
pub mod redact;
pub(crate) mod run;
mod run_status;
pub mod sandbox;
pub mod service;
pub use run::{RunResult, RunSpec, run_executor};
