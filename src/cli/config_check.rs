//! `prgate config check [--config prgate.toml] [--json]`: every check `serve` makes before it
//! starts (the config's shape and rules, every secret resolving) and those it needs the code
//! host for (the credential works, each governed repository readable, a valid policy on each
//! governed branch), without starting anything. It says where it sends its calls (the REST
//! and GraphQL URLs derived from `[github]`) and checks that each answers. Exit 0 when the
//! config can be served, 2 when it cannot.

use std::path::Path;
use std::process::ExitCode;

use prgate::config::load_server_config_with_warnings;
use prgate::preflight::{self, Finding};

/// Exit code for a usage or configuration error.
const EXIT_USAGE: u8 = 2;

pub fn run(config_path: &Path, as_json: bool) -> ExitCode {
    let name = config_path.display().to_string();
    // What prgate derived from the config, said before any finding.
    let mut lines = Vec::new();
    let mut endpoints = None;
    let findings = match load_server_config_with_warnings(config_path) {
        Err(e) => vec![Finding::error(name.clone(), e.to_string())],
        Ok((config, warnings)) => {
            endpoints = derived_endpoints(&config.github);
            if let Some(e) = &endpoints {
                lines.push(format!("REST API: {} (github.api_url)", e.rest));
                lines.push(format!("GraphQL: {} ({})", e.graphql, graphql_whence(e)));
            }
            lines.extend(program_lines(&config));
            let mut findings: Vec<Finding> = warnings
                .iter()
                .map(|w| Finding::warning(format!("line {}", w.line), w.message.clone()))
                .collect();
            findings.extend(preflight::secrets(&config));
            findings.extend(code_host(&config));
            findings
        }
    };
    if !as_json {
        for line in &lines {
            eprintln!("{name}: {line}");
        }
    }
    finish(&name, as_json, endpoints, &findings)
}

/// The endpoints prgate derives from `[github]`, as `config check` reports them.
fn derived_endpoints(
    github: &prgate::config::GithubConfig,
) -> Option<prgate::contract::ConfigEndpoints> {
    let e =
        prgate::github::Endpoints::derive(&github.api_url, github.graphql_url.as_deref()).ok()?;
    Some(prgate::contract::ConfigEndpoints {
        graphql_from: match e.graphql_source {
            prgate::github::GraphqlSource::Derived => "api_url",
            prgate::github::GraphqlSource::Configured => "graphql_url",
        }
        .to_string(),
        rest: e.rest,
        graphql: e.graphql,
    })
}

fn graphql_whence(e: &prgate::contract::ConfigEndpoints) -> &'static str {
    if e.graphql_from == "graphql_url" {
        "github.graphql_url"
    } else {
        "derived from github.api_url"
    }
}

/// What each executor's program is, as the rules that run it govern it: `program_paths`, or
/// every argument of `command` and `plan` that names a repository file.
pub(crate) fn program_lines(config: &prgate::config::ServerConfig) -> Vec<String> {
    config
        .program_paths()
        .into_iter()
        .map(|(name, paths)| {
            let how = if config
                .executors
                .get(&name)
                .is_some_and(|e| e.program_paths.is_some())
            {
                "program_paths"
            } else {
                "the arguments of command and plan that name repository files"
            };
            format!(
                "executor {name}: its program is {} ({how}), governed by every rule that runs it",
                paths.join(", ")
            )
        })
        .collect()
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
            Ok((gh, _)) => {
                let mut findings = preflight::endpoints(config, &gh).await;
                if !findings.iter().any(|f| f.error) {
                    findings.extend(preflight::code_host(config, &gh).await);
                    findings.extend(preflight::required_check_pinned(config, &gh).await);
                }
                findings
            }
            Err(e) => failed(format!("{e}; fix [github] in the config")),
        }
    })
}

fn finish(
    name: &str,
    as_json: bool,
    endpoints: Option<prgate::contract::ConfigEndpoints>,
    findings: &[Finding],
) -> ExitCode {
    let ok = !findings.iter().any(|f| f.error);
    if as_json {
        crate::cli::output::print_json(&prgate::contract::ConfigCheckOutput {
            config: name.to_string(),
            ok,
            endpoints,
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
