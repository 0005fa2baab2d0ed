//! `prgate policy check [FILE] [--config prgate.toml] [--json]`: validates a repo policy and,
//! with the server config, checks that every executor program is governed by the rules that
//! run it. Exit 0 when the policy holds, 2 when it does not.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use prgate::config::{ServerConfig, load_server_config};
use prgate::policy::{self, uncovered_programs};

/// Exit code for a usage or configuration error.
const EXIT_USAGE: u8 = 2;

/// One finding: an error makes the check fail, a warning does not.
struct Finding {
    error: bool,
    message: String,
}

pub fn run(file: &Path, config: Option<&Path>, as_json: bool) -> ExitCode {
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            return finish(
                &name,
                as_json,
                vec![Finding {
                    error: true,
                    message: format!("cannot read {name}: {e}; pass the policy file's path"),
                }],
            );
        }
    };
    let check = policy::policy_check(&name, &text);
    let mut findings: Vec<Finding> = check
        .errors
        .iter()
        .map(|e| Finding {
            error: true,
            message: e.to_string(),
        })
        .chain(check.warnings.iter().map(|w| Finding {
            error: false,
            message: w.to_string(),
        }))
        .collect();
    if let (Some(config_path), Some(policy)) = (config, check.value.as_ref()) {
        match load_server_config(config_path) {
            Ok(cfg) => findings.extend(executor_findings(&name, config_path, policy, &cfg)),
            Err(e) => findings.push(Finding {
                error: true,
                message: e.to_string(),
            }),
        }
    }
    finish(&name, as_json, findings)
}

/// Rules that name an executor the config does not define, and executor programs that no
/// rule running them covers.
fn executor_findings(
    name: &str,
    config_path: &Path,
    policy: &prgate::config::RepoPolicy,
    cfg: &ServerConfig,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let config_name = config_path.display();
    for rule in &policy.rules {
        if let Some(e) = &rule.executor
            && !cfg.executors.contains_key(e)
        {
            out.push(Finding {
                error: true,
                message: format!(
                    "{name}: rule {:?} runs executor {e:?}, which {config_name} does not define; add [executors.{e}] or fix the name",
                    rule.name
                ),
            });
        }
    }
    let run_files = cfg
        .executors
        .iter()
        .map(|(n, e)| (n.clone(), e.run_files()))
        .collect();
    for u in uncovered_programs(policy, &cfg.program_paths(), &run_files) {
        out.push(Finding {
            error: true,
            message: format!(
                "{name}: rule {:?} runs executor {:?}, whose program {} no rule running it covers: a change to it would need only the defaults' approvers; add {:?} to [executors.{}] program_paths in {config_name}",
                u.rule, u.executor, u.path, u.path, u.executor
            ),
        });
    }
    out
}

fn finish(name: &str, as_json: bool, findings: Vec<Finding>) -> ExitCode {
    let ok = !findings.iter().any(|f| f.error);
    if as_json {
        let list = |error: bool| {
            findings
                .iter()
                .filter(|f| f.error == error)
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
        };
        println!(
            "{}",
            json!({ "file": name, "ok": ok, "errors": list(true), "warnings": list(false) })
        );
    } else {
        for f in &findings {
            eprintln!("{}", f.message);
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
