//! `prgate status`: where a proposal stands, as an exit code and a line (or JSON).

use std::process::ExitCode;

use crate::cli::host::with_client;
use crate::cli::output::{report_error, usage};
use crate::cli::runtime::init_tracing;
use crate::{EXIT_OTHER, HostArgs};

/// `prgate status OWNER/REPO#N`.
pub fn run(pull: String, host: HostArgs, json: bool) -> ExitCode {
    init_tracing();
    let pull_ref = match pull.parse::<prgate::types::PullRef>() {
        Ok(p) => p,
        Err(e) => return usage(e.to_string()),
    };
    let gate_login = host.gate_login.clone();
    with_client(&host, |gh, _| async move {
        match prgate::watch::read_status(&gh, &pull_ref, gate_login.as_deref()).await {
            Ok(s) => print_status(&s, json),
            Err(e) => report_error(json, &e.to_string(), EXIT_OTHER),
        }
    })
}

/// Prints a proposal's status (for `status` and `wait`) and returns its exit code.
pub fn print_status(s: &prgate::watch::ProposalStatus, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
    } else {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!("{}#{}: {state}", s.repo, s.pull);
        if let Some(a) = &s.approval {
            println!("  prgate/approval: {} — {}", a.state, a.description);
        }
        if let Some(r) = &s.reason {
            println!("  reason: {r}");
        }
        if let Some(m) = &s.merge_sha {
            println!("  merged as {m}");
        }
    }
    ExitCode::from(s.exit_code)
}
