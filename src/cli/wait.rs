//! `prgate wait`: poll a proposal until a human decides, it reaches `--until`, or the timeout.

use std::process::ExitCode;

use crate::cli::host::with_client;
use crate::cli::output::{report_error, usage};
use crate::cli::runtime::init_tracing;
use crate::cli::status::print_status;
use crate::{EXIT_OTHER, HostArgs};

/// `prgate wait OWNER/REPO#N [--timeout DUR] [--until STATE]`.
pub fn run(
    pull: String,
    timeout: Option<String>,
    until: prgate::watch::Until,
    poll: String,
    host: HostArgs,
    json: bool,
) -> ExitCode {
    init_tracing();
    let pull_ref = match pull.parse::<prgate::types::PullRef>() {
        Ok(p) => p,
        Err(e) => return usage(e.to_string()),
    };
    let timeout = match timeout.map(|t| humantime::parse_duration(&t)).transpose() {
        Ok(t) => t,
        Err(e) => return usage(format!("--timeout: {e} (write e.g. 30m or 8h)")),
    };
    let first_interval = match humantime::parse_duration(&poll) {
        Ok(p) => p,
        Err(e) => return usage(format!("--poll: {e}")),
    };
    let opts = prgate::watch::WaitOptions {
        until,
        timeout,
        first_interval,
        ..Default::default()
    };
    let gate_login = host.gate_login.clone();
    with_client(&host, |gh, _| async move {
        match prgate::watch::wait(&gh, &pull_ref, gate_login.as_deref(), &opts).await {
            Ok(s) => print_status(&s, json),
            Err(e) => report_error(json, &e.to_string(), EXIT_OTHER),
        }
    })
}
