//! `prgate status`: where a proposal stands, as an exit code and a line (or JSON).

use std::process::ExitCode;

use crate::HostArgs;
use crate::cli::host::{watch_error, with_client};
use crate::cli::output::{fail, print_json, usage_error};
use crate::cli::runtime::init_tracing;

/// A PR reference from the command line, or the usage error naming what to write.
pub fn parse_pull(pull: &str, json: bool) -> Result<prgate::types::PullRef, ExitCode> {
    pull.parse::<prgate::types::PullRef>().map_err(|e| {
        usage_error(
            json,
            e.to_string(),
            Some("write OWNER/REPO#N, or the PR's URL as propose printed it"),
        )
    })
}

/// `prgate status OWNER/REPO#N|PR-URL`.
pub fn run(pull: String, host: HostArgs, json: bool) -> ExitCode {
    init_tracing();
    let pull_ref = match parse_pull(&pull, json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let gate_login = host.gate_login.clone();
    let api_url = host.api_url.clone();
    with_client(&host, json, |gh, _| async move {
        match prgate::proposal_status::read_status(&gh, &pull_ref, gate_login.as_deref()).await {
            Ok(s) => print_status(&s, json),
            Err(e) => fail(json, watch_error(&e, &api_url)),
        }
    })
}

/// Prints a proposal's status (for `status` and `wait`) and returns its exit code.
pub fn print_status(s: &prgate::proposal_status::ProposalStatus, json: bool) -> ExitCode {
    if json {
        print_json(s);
    } else {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let timed_out = if s.timed_out { " (timed out)" } else { "" };
        println!("{}#{}: {state}{timed_out}", s.repo, s.pull);
        if let Some(a) = &s.approval {
            println!("  prgate/approval: {} — {}", a.state, a.description);
        }
        for a in &s.approvals {
            match &a.why_not {
                Some(why) if !a.counts => {
                    println!("  approval by {}: does not count: {why}", a.login)
                }
                _ => println!("  approval by {}: counts", a.login),
            }
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
