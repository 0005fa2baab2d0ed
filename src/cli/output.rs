//! How a command reports its answer or its failure: with `--json`, exactly one JSON object on
//! stdout (the answer, or `{"error": {kind, message, hint}, "exit_code"}`; see
//! `prgate::contract`); always a line on stderr for a failure.

use std::process::ExitCode;

use prgate::contract::{ErrorKind, ErrorOutput};

use crate::EXIT_USAGE;

/// A usage error: exit 2, as JSON with `--json`.
pub fn usage_error(json: bool, message: impl Into<String>, hint: Option<&str>) -> ExitCode {
    let mut out = ErrorOutput::new(ErrorKind::Usage, message, EXIT_USAGE);
    if let Some(h) = hint {
        out = out.with_hint(h);
    }
    fail(json, out)
}

/// Prints an error: as one JSON object with `--json` (for scripts), and as a line on stderr.
/// The kind follows from the exit code: 2 is a usage or configuration error.
pub fn report_error(json: bool, message: &str, code: u8) -> ExitCode {
    let kind = if code == EXIT_USAGE {
        ErrorKind::Usage
    } else {
        ErrorKind::Internal
    };
    fail(json, ErrorOutput::new(kind, message, code))
}

/// Prints `out` (as JSON with `--json`; its message and hint on stderr always) and returns
/// its exit code.
pub fn fail(json: bool, out: ErrorOutput) -> ExitCode {
    if json {
        print_json(&out);
    }
    match &out.error.hint {
        Some(h) => eprintln!("prgate: {}\n  hint: {h}", out.error.message),
        None => eprintln!("prgate: {}", out.error.message),
    }
    ExitCode::from(out.exit_code)
}

/// Prints one JSON object on a line of stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => println!("{s}"),
        // Our own plain-data types always serialize; say so rather than print nothing.
        Err(e) => println!(
            "{}",
            serde_json::json!({"error": {"kind": "internal", "message": format!("cannot write the answer as JSON: {e}"), "hint": null}, "exit_code": 1})
        ),
    }
}

/// The `--public-key` arguments, each hex or `file:PATH`.
pub fn parse_public_keys(args: &[String]) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    args.iter()
        .map(|a| prgate::record::signing::parse_public_key_arg(a).map_err(|e| e.to_string()))
        .collect()
}

/// Whether the raw command line asks for JSON (`--json`, or `--format json` where a command
/// takes it): clap's own errors then go out as the error object too.
pub fn wants_json(args: &[std::ffi::OsString]) -> bool {
    // After `--`, a `--json` is an argument, not the flag.
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.to_str().unwrap_or(""))
        .take_while(|a| *a != "--")
        .collect();
    args.iter().enumerate().any(|(i, a)| {
        *a == "--json"
            || *a == "--format=json"
            || (*a == "--format" && args.get(i + 1) == Some(&"json"))
    })
}
