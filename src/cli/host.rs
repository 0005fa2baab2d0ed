//! The code host client of the commands that talk to it (`propose`, `status`, `wait`, `mcp`):
//! `--api-url` checked before any client sees it, the token from the environment.

use std::process::ExitCode;

use prgate::contract::{ErrorKind, ErrorOutput};

use crate::cli::output::fail;
use crate::cli::runtime::runtime;
use crate::{EXIT_USAGE, HostArgs};

/// The token variables, in the order they are read.
pub const TOKEN_VARS: &str = "PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN)";

/// The code host client, or the error that says why there is none.
pub fn client(
    host: &HostArgs,
) -> Result<(prgate::github::GitHub, prgate::config::Secret), ErrorOutput> {
    if let Err(e) = prgate::contract::parse_api_url(&host.api_url) {
        return Err(ErrorOutput::new(
            ErrorKind::Usage,
            format!("--api-url (or PRGATE_API_URL): {e}"),
            EXIT_USAGE,
        )
        .with_hint("give the code host's API URL: https://api.github.com, https://HOST/api/v3 for GHES, or the simulator's URL"));
    }
    let token =
        match std::env::var("PRGATE_GITHUB_TOKEN").or_else(|_| std::env::var("GITHUB_TOKEN")) {
            Ok(t) if !t.is_empty() => prgate::config::Secret::new(t),
            _ => {
                return Err(
                    ErrorOutput::new(ErrorKind::Auth, "no token", EXIT_USAGE).with_hint(format!(
                        "set {TOKEN_VARS} to a token of the account to act as"
                    )),
                );
            }
        };
    match prgate::github::GitHub::new(
        &host.api_url,
        Some(&token),
        Default::default(),
        prgate::metrics::Metrics::new(),
    ) {
        Ok(gh) => Ok((gh, token)),
        Err(e) => Err(ErrorOutput::from_code_host(&e, &host.api_url, EXIT_USAGE)),
    }
}

/// Builds the code host client from `--api-url` and the token in the environment, and runs
/// `f` on a runtime; a failure to build it is reported (as JSON with `--json`).
pub fn with_client<F, Fut>(host: &HostArgs, json: bool, f: F) -> ExitCode
where
    F: FnOnce(prgate::github::GitHub, prgate::config::Secret) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        // octocrab's client wants a runtime around it when built.
        match client(host) {
            Ok((gh, token)) => f(gh, token).await,
            Err(e) => fail(json, e),
        }
    })
}

/// A `status`/`wait` failure as the error object: where the code host was looked for.
pub fn watch_error(e: &prgate::proposal_status::WatchError, api_url: &str) -> ErrorOutput {
    match e {
        prgate::proposal_status::WatchError::NotFound { .. } => {
            ErrorOutput::new(ErrorKind::NotFound, e.to_string(), crate::EXIT_OTHER)
                .with_hint("check OWNER/REPO#N, and that the token can see the repository")
        }
        prgate::proposal_status::WatchError::GitHub(g) => {
            ErrorOutput::from_code_host(g, api_url, crate::EXIT_OTHER)
        }
    }
}
