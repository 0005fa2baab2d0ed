//! `prgate verify --format vsa`: prints the SLSA verification summary of one commit.

use std::path::Path;
use std::process::ExitCode;

use crate::EXIT_REFUSED;
use crate::cli::output::{parse_public_keys, report_error, usage_error};

/// `prgate verify --format vsa`: prints the summary (one JSON object); exit 0 when it says
/// PASSED, 31 when FAILED, 2 without a key or on a usage error.
pub fn run(repo: &Path, commit: &str, public_keys: &[String]) -> ExitCode {
    let trusted = match parse_public_keys(public_keys) {
        Ok(k) => k,
        // The summary is JSON, so its failures are too (the command line's JSON contract).
        Err(e) => return usage_error(true, e, None),
    };
    let trusted = trusted.as_slice();
    // The summary asserts a property to whoever reads it; without the gate's key nothing
    // shows the record is the gate's, so it is not issued at all.
    if trusted.is_empty() {
        return usage_error(
            true,
            "--format vsa asserts two-party review, which only the gate's signed record shows",
            Some("pass the gate's --public-key (repeat it for every key in use)"),
        );
    }
    match prgate::verify::verification_summary(repo, commit, trusted, chrono::Utc::now()) {
        Ok((vsa, passed)) => {
            crate::cli::output::print_json(&vsa);
            ExitCode::from(if passed { 0 } else { EXIT_REFUSED })
        }
        Err(e) => report_error(true, &e.to_string(), crate::EXIT_USAGE),
    }
}
