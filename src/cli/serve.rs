//! `prgate serve`: the webhook service, until it is stopped.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::runtime::{init_tracing, runtime};
use crate::{EXIT_OTHER, EXIT_USAGE};

/// `prgate serve --config FILE`.
pub fn run(config_path: PathBuf) -> ExitCode {
    init_tracing();
    let config = match prgate::config::load_server_config_with_warnings(&config_path) {
        Ok((c, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            c
        }
        Err(e) => {
            eprintln!("prgate: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(prgate::serve::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ prgate::serve::ServeError::Config(_)) => {
            eprintln!("prgate: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        // Each finding names a key or a repository; the file they are in is this one.
        Err(e @ prgate::serve::ServeError::Preflight(_)) => {
            eprintln!("prgate: {}: {e}", config_path.display());
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("prgate: {e}");
            ExitCode::from(EXIT_OTHER)
        }
    }
}
