//! `prgate sim`: run the GitHub simulator until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::EXIT_USAGE;
use crate::cli::runtime::{init_tracing, runtime};

/// `prgate sim --listen ADDR --state FILE [--data DIR] [--latency DUR] [--ghes]`.
pub fn run(
    listen: SocketAddr,
    state: PathBuf,
    data: Option<PathBuf>,
    latency: std::time::Duration,
    ghes: bool,
) -> ExitCode {
    init_tracing();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let shape = if ghes {
        prgate_sim::Shape::EnterpriseServer
    } else {
        prgate_sim::Shape::GitHubCom
    };
    match rt.block_on(prgate_sim::run_cli(listen, &state, data, latency, shape)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prgate sim: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
