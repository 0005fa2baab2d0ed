//! The code host client of the commands that talk to it (`propose`, `status`, `wait`).

use std::process::ExitCode;

use crate::HostArgs;
use crate::cli::output::usage;
use crate::cli::runtime::runtime;

/// Builds the code host client from `--api-url` and the token in the environment, and runs
/// `f` on a runtime.
pub fn with_client<F, Fut>(host: &HostArgs, f: F) -> ExitCode
where
    F: FnOnce(prgate::github::GitHub, prgate::config::Secret) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let token = match std::env::var("PRGATE_GITHUB_TOKEN").or_else(|_| std::env::var("GITHUB_TOKEN")) {
        Ok(t) if !t.is_empty() => prgate::config::Secret::new(t),
        _ => return usage("no token: set PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN) to a token of the account to act as".into()),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        // octocrab's client wants a runtime around it when built.
        match prgate::github::GitHub::new(
            &host.api_url,
            Some(&token),
            Default::default(),
            prgate::metrics::Metrics::new(),
        ) {
            Ok(gh) => f(gh, token).await,
            Err(e) => usage(e.to_string()),
        }
    })
}
