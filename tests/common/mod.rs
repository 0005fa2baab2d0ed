pub mod harness;
#[allow(dead_code)]
pub mod npm;
