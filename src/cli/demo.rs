//! `prgate demo`: the whole loop in one command, against the simulator on loopback.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::EXIT_OTHER;
use crate::cli::runtime::runtime;

/// `prgate demo [--keep DIR] [--ghes]`.
pub fn run(keep: Option<PathBuf>, ghes: bool) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut stdout = std::io::stdout();
    match rt.block_on(prgate::demo::run_demo(
        prgate::demo::DemoOptions { keep, ghes },
        &mut stdout,
    )) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prgate demo: {e}");
            ExitCode::from(EXIT_OTHER)
        }
    }
}
