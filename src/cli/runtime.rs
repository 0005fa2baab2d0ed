//! What every command that does async work or logs needs first: the runtime and the logger.

use std::process::ExitCode;

use crate::EXIT_OTHER;

/// Logs go to stderr, as text or, with `PRGATE_LOG_FORMAT=json`, one JSON object per line
/// carrying the fields of the event and of the spans it happened in (the delivery's id and
/// event, the PR and head of an evaluation), for log pipelines.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let format = std::env::var("PRGATE_LOG_FORMAT").unwrap_or_default();
    match format.trim() {
        "json" => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        other => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            if !other.is_empty() && other != "text" {
                tracing::warn!(
                    value = other,
                    "PRGATE_LOG_FORMAT is neither \"text\" nor \"json\"; logging text"
                );
            }
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("prgate: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_OTHER)
        })
}
