pub mod harness;
#[allow(dead_code)]
pub mod leaks;
#[allow(dead_code)]
pub mod npm;
pub mod python;
