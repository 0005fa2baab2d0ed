//! `prgate verify`: from git alone, whether a merge commit carries a valid approval record.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::output::{parse_public_keys, report_error};
use crate::{EXIT_REFUSED, EXIT_USAGE};

/// `prgate verify --repo PATH --commit SHA [--public-key K]...`.
pub fn run(repo: &Path, commit: &str, public_keys: &[String], json: bool) -> ExitCode {
    let trusted = match parse_public_keys(public_keys) {
        Ok(k) => k,
        Err(e) => return report_error(json, &e, EXIT_USAGE),
    };
    match prgate::verify::verify_commit_with_keys(repo, commit, &trusted) {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else if report.holds {
                println!(
                    "{}: the approval record holds ({}); {}",
                    report.commit,
                    report.approvals.join(", "),
                    report.signature.describe()
                );
            } else {
                println!(
                    "{}: the approval record does not hold; {}",
                    report.commit,
                    report.signature.describe()
                );
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
            ExitCode::from(if report.holds { 0 } else { EXIT_REFUSED })
        }
        Err(e) => report_error(json, &e.to_string(), EXIT_USAGE),
    }
}
