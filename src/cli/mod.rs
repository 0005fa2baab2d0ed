//! One file per command, for the commands that have moved out of `main.rs`; `main.rs` parses
//! and dispatches.

pub mod audit;
pub mod config_check;
pub mod execute;
pub mod key;
pub mod policy_check;
pub mod vsa;
