//! `prgate config check [--config prgate.toml] [--json]`: every check `serve` makes before it
//! starts (the config's shape and rules, every secret resolving) and those it needs the code
//! host for (the credential works, each governed repository readable, a valid policy on each
//! governed branch), without starting anything. Exit 0 when the config can be served, 2 when
//! it cannot.

use std::path::Path;
use std::process::ExitCode;

use prgate::config::load_server_config_with_warnings;
use prgate::preflight::{self, Finding};

/// Exit code for a usage or configuration error.
const EXIT_USAGE: u8 = 2;

pub fn run(config_path: &Path, as_json: bool) -> ExitCode {
    let name = config_path.display().to_string();
    let findings = match load_server_config_with_warnings(config_path) {
        Err(e) => vec![Finding::error(name.clone(), e.to_string())],
        Ok((config, warnings)) => {
            let mut findings: Vec<Finding> = warnings
                .iter()
                .map(|w| Finding::warning(format!("line {}", w.line), w.message.clone()))
                .collect();
            findings.extend(preflight::secrets(&config));
            findings.extend(code_host(&config));
            findings
        }
    };
    finish(&name, as_json, &findings)
}

fn code_host(config: &prgate::config::ServerConfig) -> Vec<Finding> {
    let failed = |message: String| vec![Finding::error("github", message)];
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return failed(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async {
        match prgate::serve::github_client(
            &config.github,
            prgate::github::ClientOptions::default(),
            prgate::metrics::Metrics::new(),
        ) {
            Ok((gh, _)) => preflight::code_host(config, &gh).await,
            Err(e) => failed(format!("{e}; fix [github] in the config")),
        }
    })
}

fn finish(name: &str, as_json: bool, findings: &[Finding]) -> ExitCode {
    let ok = !findings.iter().any(|f| f.error);
    if as_json {
        crate::cli::output::print_json(&prgate::contract::ConfigCheckOutput {
            config: name.to_string(),
            ok,
            problems: findings
                .iter()
                .map(|f| prgate::contract::ConfigProblem {
                    error: f.error,
                    subject: f.subject.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        });
    } else {
        for f in findings {
            eprintln!("{name}: {f}");
        }
        if ok {
            println!("{name}: ok");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_USAGE)
    }
}
