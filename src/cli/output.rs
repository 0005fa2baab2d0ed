//! How a command reports a usage error or a failure.

use std::process::ExitCode;

use crate::EXIT_USAGE;

pub fn usage(message: String) -> ExitCode {
    eprintln!("prgate: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Prints an error: as one JSON object with `--json` (for scripts), else as a line on stderr.
pub fn report_error(json: bool, message: &str, code: u8) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({ "error": message, "exit_code": code })
        );
    }
    eprintln!("prgate: {message}");
    ExitCode::from(code)
}

/// The `--public-key` arguments, each hex or `file:PATH`.
pub fn parse_public_keys(args: &[String]) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    args.iter()
        .map(|a| prgate::record::signing::parse_public_key_arg(a).map_err(|e| e.to_string()))
        .collect()
}
