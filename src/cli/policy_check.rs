//! `prgate policy check [FILE] [--config prgate.toml] [--json]`: validates a repo policy and,
//! with the server config, checks that every executor program is governed by the rules that
//! run it. Exit 0 when the policy holds, 2 when it does not.

use std::path::Path;
use std::process::ExitCode;

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
    if let Some(policy) = check.value.as_ref() {
        findings.extend(unapprovable_rules(&name, policy, &|_| false));
        findings.extend(governed_links(&name, file, policy));
    }
    if let (Some(config_path), Some(policy)) = (config, check.value.as_ref()) {
        match load_server_config(config_path) {
            Ok(cfg) => {
                if !as_json {
                    for line in crate::cli::config_check::program_lines(&cfg) {
                        eprintln!("{name}: {line}");
                    }
                }
                findings.extend(executor_findings(&name, config_path, policy, &cfg));
                findings.extend(code_host_findings(&name, policy, &cfg));
            }
            Err(e) => findings.push(Finding {
                error: true,
                message: e.to_string(),
            }),
        }
    }
    finish(&name, as_json, findings)
}

/// When the policy file lies in a git repository: every symlink at its HEAD that a rule
/// governs, with the target that rule now governs too (or the warning that every checkout
/// refuses it, when it leads out of the repository).
fn governed_links(name: &str, file: &Path, policy: &prgate::policy::RepoPolicy) -> Vec<Finding> {
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(repo) = git2::Repository::discover(folder) else {
        return Vec::new();
    };
    let Ok(tree) = repo.head().and_then(|h| h.peel_to_tree()) else {
        return Vec::new();
    };
    let Ok(links) = prgate::git::tree_symlinks(&repo, tree.id()) else {
        return Vec::new();
    };
    let lookup = prgate::git::tree_lookup(&repo, &tree);
    let mut out = Vec::new();
    for (link, _) in links {
        let rules: Vec<String> = policy::matched_rules(policy, std::slice::from_ref(&link))
            .into_iter()
            .map(|m| m.name)
            .filter(|r| r != "defaults")
            .collect();
        if rules.is_empty() {
            continue;
        }
        let message = match policy::links::resolve(&link, &lookup) {
            policy::links::Resolved::Inside(target) => format!(
                "{name}: {link} is a symlink to {target}: rule {} governs {target} too (a change to it needs that rule's approvers)",
                rules.join(", ")
            ),
            policy::links::Resolved::Outside(why) => format!(
                "{name}: {link} is a symlink that leaves the repository ({why}): every plan and execution refuses a checkout holding it"
            ),
        };
        out.push(Finding {
            error: false,
            message,
        });
    }
    out
}

/// Rules whose every approver can never approve: listed agents, `[bot]` accounts, and any
/// login `never(login)` says is no person; such a rule could only ever be pending.
fn unapprovable_rules(
    name: &str,
    policy: &prgate::policy::RepoPolicy,
    never: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    let cannot = |l: &prgate::types::Login| {
        policy.identities.agents.contains(l) || l.as_str().ends_with("[bot]") || never(l.as_str())
    };
    policy
        .rules
        .iter()
        .map(|r| (r.name.as_str(), &r.approvers))
        .chain(policy.defaults.as_ref().map(|d| ("defaults", &d.approvers)))
        .filter(|(_, a)| a.teams.is_empty() && a.users.iter().all(&cannot))
        .map(|(rule, a)| Finding {
            error: true,
            message: format!(
                "{name}: rule {rule:?} can never be approved: its only approvers ({}) are agents or bots, which never count; name a person or a team",
                a.users
                    .iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect()
}

/// With the server config, asks the code host: every team the policy names exists (and its
/// members are visible to prgate), and every listed user is a person. A listed account that
/// is a bot or does not exist can never approve.
fn code_host_findings(
    name: &str,
    policy: &prgate::policy::RepoPolicy,
    cfg: &prgate::config::ServerConfig,
) -> Vec<Finding> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return vec![Finding {
                error: true,
                message: format!("cannot start the async runtime: {e}"),
            }];
        }
    };
    rt.block_on(async {
        let gh = match prgate::serve::github_client(
            &cfg.github,
            prgate::github::ClientOptions::default(),
            prgate::metrics::Metrics::new(),
        ) {
            Ok((gh, _)) => gh,
            Err(e) => {
                return vec![Finding {
                    error: true,
                    message: format!("{e}; fix [github] in the config to let policy check reach the code host"),
                }];
            }
        };
        let mut out = Vec::new();
        let teams: std::collections::BTreeSet<_> = policy
            .rules
            .iter()
            .map(|r| &r.approvers)
            .chain(policy.defaults.as_ref().map(|d| &d.approvers))
            .flat_map(|a| a.teams.iter().cloned())
            .collect();
        for team in teams {
            match gh.team_members(&team).await {
                Ok(_) => {}
                Err(e) if e.status() == Some(404) => out.push(Finding {
                    error: true,
                    message: format!(
                        "{name}: team {team} does not exist on {}, or prgate's account cannot see its members; fix the name or give prgate read access to the org's members",
                        cfg.github.api_url
                    ),
                }),
                Err(e) => out.push(Finding {
                    error: true,
                    message: format!("{name}: cannot read team {team}: {e}"),
                }),
            }
        }
        // A GitHub App may read only repository and organisation paths; users are checked
        // with a token.
        let mut not_people: Vec<String> = Vec::new();
        if cfg.github.token.is_some() {
            let users: std::collections::BTreeSet<_> = policy
                .rules
                .iter()
                .map(|r| &r.approvers)
                .chain(policy.defaults.as_ref().map(|d| &d.approvers))
                .flat_map(|a| a.users.iter().cloned())
                .collect();
            for login in users {
                match gh.user(login.name()).await {
                    Ok(Some(u)) if u.kind == "User" => match login.pinned_id() {
                        // The pinned form: only this account counts, whatever its login becomes
                        // (a login can be renamed, and a released one registered by anyone).
                        None => out.push(Finding {
                            error: false,
                            message: format!(
                                "{name}: {login} is account {}; pin it as \"{}#{}\" so that only that account counts, whatever its login becomes",
                                u.id, u.login, u.id
                            ),
                        }),
                        Some(Ok(id)) if id.0 != u.id => out.push(Finding {
                            error: false,
                            message: format!(
                                "{name}: {login} is pinned to account {}, but the login {} belongs to account {} now (renamed, and registered again?); only account {} counts",
                                id.0,
                                login.name(),
                                u.id,
                                id.0
                            ),
                        }),
                        _ => {}
                    },
                    Ok(Some(u)) => {
                        not_people.push(login.to_string());
                        out.push(Finding {
                            error: false,
                            message: format!(
                                "{name}: {login} is an account of type {}, which can never approve",
                                u.kind
                            ),
                        });
                    }
                    Ok(None) => {
                        not_people.push(login.to_string());
                        out.push(Finding {
                            error: true,
                            message: format!(
                                "{name}: user {login} does not exist on {}; fix the login (whoever registers it later would become an approver)",
                                cfg.github.api_url
                            ),
                        });
                    }
                    Err(e) => out.push(Finding {
                        error: true,
                        message: format!("{name}: cannot read user {login}: {e}"),
                    }),
                }
            }
        }
        if !not_people.is_empty() {
            let never = |l: &str| not_people.iter().any(|n| n.eq_ignore_ascii_case(l));
            // Rules already reported without the code host are not reported twice.
            let offline: Vec<String> = unapprovable_rules(name, policy, &|_| false)
                .into_iter()
                .map(|f| f.message)
                .collect();
            out.extend(
                unapprovable_rules(name, policy, &never)
                    .into_iter()
                    .filter(|f| !offline.contains(&f.message)),
            );
        }
        out
    })
}

/// Rules that name an executor the config does not define, and executor programs that no
/// rule running them covers.
fn executor_findings(
    name: &str,
    config_path: &Path,
    policy: &prgate::policy::RepoPolicy,
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
        crate::cli::output::print_json(&prgate::contract::PolicyCheckOutput {
            file: name.to_string(),
            ok,
            errors: list(true),
            warnings: list(false),
        });
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
