//! `prgate verify --format vsa`: prints the SLSA verification summary of one commit.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::output::{parse_public_keys, usage};
use crate::{EXIT_REFUSED, EXIT_USAGE};

/// `prgate verify --format vsa`: prints the summary (one JSON object); exit 0 when it says
/// PASSED, 31 when FAILED, 2 without a key or on a usage error.
pub fn run(repo: &Path, commit: &str, public_keys: &[String]) -> ExitCode {
    let trusted = match parse_public_keys(public_keys) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let trusted = trusted.as_slice();
    // The summary asserts a property to whoever reads it; without the gate's key nothing
    // shows the record is the gate's, so it is not issued at all.
    if trusted.is_empty() {
        return usage(
            "--format vsa asserts two-party review, which only the gate's signed record shows: pass the gate's --public-key (repeat it for every key in use)".into(),
        );
    }
    match prgate::verify::verification_summary(repo, commit, trusted, chrono::Utc::now()) {
        Ok((vsa, passed)) => {
            println!("{}", serde_json::to_string_pretty(&vsa).unwrap_or_default());
            ExitCode::from(if passed { 0 } else { EXIT_REFUSED })
        }
        Err(e) => {
            eprintln!("prgate: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
