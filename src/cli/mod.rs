//! One file per command; `main.rs` parses, dispatches and maps errors to exit codes.

pub mod audit;
pub mod config_check;
pub mod demo;
pub mod execute;
pub mod host;
pub mod key;
pub mod mcp;
pub mod output;
pub mod policy_check;
pub mod propose;
pub mod runtime;
pub mod serve;
pub mod sim;
pub mod status;
pub mod verify;
pub mod vsa;
pub mod wait;
