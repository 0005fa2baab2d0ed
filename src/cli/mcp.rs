//! `prgate mcp`: the agent tools as an MCP server on stdio, with the CLI's credentials.

use std::process::ExitCode;

use crate::cli::host::client;
use crate::cli::output::fail;
use crate::cli::runtime::{init_tracing, runtime};
use crate::{EXIT_OTHER, HostArgs};

/// `prgate mcp [--api-url URL]`: serves until the client closes stdin. Logs go to stderr;
/// stdout is the protocol's.
pub fn run(host: HostArgs) -> ExitCode {
    init_tracing();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let (gh, token) = match client(&host) {
            Ok(c) => c,
            // Never JSON on stdout here: it belongs to the MCP session.
            Err(e) => return fail(false, e),
        };
        let tools = prgate::agent_tools::AgentTools {
            gh,
            token,
            gate_login: host.gate_login.clone(),
            api_url: host.api_url.clone(),
        };
        match prgate::mcp::PrgateMcp::new(tools).serve_stdio().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("prgate mcp: {e}");
                ExitCode::from(EXIT_OTHER)
            }
        }
    })
}
