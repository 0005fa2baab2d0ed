//! `prgate wait`: poll a proposal until a human decides, it reaches `--until`, or the timeout.

use std::process::ExitCode;

use crate::HostArgs;
use crate::cli::host::{watch_error, with_client};
use crate::cli::output::{fail, usage_error};
use crate::cli::runtime::init_tracing;
use crate::cli::status::{parse_pull, print_status};

/// `prgate wait OWNER/REPO#N|PR-URL [--timeout DUR] [--until STATE]`.
pub fn run(
    pull: String,
    timeout: Option<String>,
    until: prgate::proposal_status::Until,
    poll: String,
    host: HostArgs,
    json: bool,
) -> ExitCode {
    init_tracing();
    let pull_ref = match parse_pull(&pull, json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let timeout = match timeout.map(|t| humantime::parse_duration(&t)).transpose() {
        Ok(t) => t,
        Err(e) => {
            return usage_error(
                json,
                format!("--timeout: {e}"),
                Some("write e.g. 30s, 30m or 8h"),
            );
        }
    };
    let first_interval = match humantime::parse_duration(&poll) {
        Ok(p) => p,
        Err(e) => return usage_error(json, format!("--poll: {e}"), Some("write e.g. 2s")),
    };
    let opts = prgate::proposal_status::WaitOptions {
        until,
        timeout,
        first_interval,
        ..Default::default()
    };
    let gate_login = host.gate_login.clone();
    let api_url = host.api_url.clone();
    with_client(&host, json, |gh, _| async move {
        match prgate::proposal_status::wait(&gh, &pull_ref, gate_login.as_deref(), &opts).await {
            Ok(s) => print_status(&s, json),
            Err(e) => fail(json, watch_error(&e, &api_url)),
        }
    })
}
