//! Runs `audit` as the library's callers do (libgit2's defaults left alone, unlike
//! `prgate audit --repo PATH --branch B --format json`): the report as JSON on stdout, a
//! one-line summary on stderr. For profiling the walk on its own; scripts/bench-audit.sh
//! times the command line.
//!
//! usage: audit_bench REPO [BRANCH]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use prgate::audit::{AuditOptions, audit, render_json};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(repo) = args.next() else {
        eprintln!("usage: audit_bench REPO [BRANCH]");
        return ExitCode::from(2);
    };
    let opts = AuditOptions {
        branch: args.next().unwrap_or_else(|| "main".into()),
        progress: std::io::stderr().is_terminal(),
        ..AuditOptions::new(repo)
    };
    match audit(&opts) {
        Ok(report) => {
            let _ = std::io::stdout()
                .lock()
                .write_all(render_json(&report).as_bytes());
            eprintln!(
                "walked {} commits, {} governed, {} violations",
                report.commits_walked,
                report.governed_commits,
                report.violations.len()
            );
            if report.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(40)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
