//! `prgate audit`: every change to governed paths on a branch, with or without a valid record.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::output::report_error;
use crate::{AuditFormat, EXIT_OTHER, EXIT_USAGE};
/// Exit code of `audit` when it finds at least one violation.
const EXIT_VIOLATIONS: u8 = 40;

pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "--since {s:?}: write a date like 2026-01-31 or a time like 2026-01-31T12:00:00Z"
            )
        })
}

pub fn run(
    repo: PathBuf,
    branch: String,
    (since, since_commit): (Option<String>, Option<String>),
    format: AuditFormat,
    output: Option<PathBuf>,
    trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
) -> ExitCode {
    use std::io::IsTerminal;
    // With `--format json`, a failure is the one JSON object on stdout too.
    let json = matches!(format, AuditFormat::Json);
    let since = match since.map(|s| parse_since(&s)).transpose() {
        Ok(s) => s,
        Err(e) => return report_error(json, &e, EXIT_USAGE),
    };
    let opts = prgate::audit::AuditOptions {
        repo_path: repo,
        branch,
        since,
        since_commit,
        progress: std::io::stderr().is_terminal(),
        // A process of its own: skip libgit2's re-hashing of every object, as git does.
        verify_object_hashes: false,
        trusted_keys,
    };
    let report = match prgate::audit::audit(&opts) {
        Ok(r) => r,
        Err(e) => return report_error(json, &format!("audit: {e}"), EXIT_USAGE),
    };
    let text = match format {
        AuditFormat::Text => prgate::audit::render_text(&report),
        AuditFormat::Json => prgate::audit::render_json(&report),
        AuditFormat::Html => match prgate::audit::render_html(&report) {
            Ok(html) => html,
            Err(e) => {
                eprintln!("prgate audit: {e}");
                return ExitCode::from(EXIT_OTHER);
            }
        },
    };
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, text) {
                return report_error(
                    json,
                    &format!("audit: cannot write {}: {e}", path.display()),
                    EXIT_OTHER,
                );
            }
        }
        None => print!("{text}"),
    }
    ExitCode::from(if report.clean { 0 } else { EXIT_VIOLATIONS })
}
