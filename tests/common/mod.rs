pub mod harness;
pub mod npm;
