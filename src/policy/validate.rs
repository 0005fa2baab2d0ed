//! Parsing and validation of the repo policy `.github/prgate.toml`: strict TOML first, then
//! the rules that make a policy mean what its author thinks (nothing approvable by nobody,
//! nothing unsatisfiable), each error at the line and column of the value it is about.

use crate::config::{ConfigCheck, ConfigError, Problem, Seg, check_toml, toml_path};

use crate::policy::{Approvers, POLICY_PATH, RepoPolicy};
use crate::types::Login;

use super::compiled::{CompiledPolicy, DEFAULTS_RULE};
use super::pattern::{compile_pattern, meaning_changes};

/// Larger than any sensible policy; refusing early keeps a hostile base branch from making
/// every evaluation slow.
const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The policy versions this prgate understands.
const POLICY_VERSION: u32 = 1;

/// Checks a policy file: every error and warning, each with line and column. This is what
/// `prgate policy check FILE` prints, one per line.
pub fn policy_check(file: &str, text: &str) -> ConfigCheck<RepoPolicy> {
    if text.len() > MAX_POLICY_BYTES {
        return ConfigCheck {
            value: None,
            errors: vec![ConfigError::Other {
                file: file.to_string(),
                message: format!(
                    "the policy is {} bytes; the limit is {MAX_POLICY_BYTES}",
                    text.len()
                ),
            }],
            warnings: vec![],
        };
    }
    let mut check = check_toml(file, text, policy_problems);
    for e in &mut check.errors {
        if let ConfigError::Invalid { message, .. } | ConfigError::Other { message, .. } = e
            && message.contains("missing field `version`")
        {
            message.push_str("; a policy starts with `version = 1`");
        }
    }
    check
}

/// Parses and validates a policy file. `file` names it in error messages; the error is the
/// first problem in the file.
pub fn parse_policy(file: &str, text: &str) -> Result<RepoPolicy, ConfigError> {
    policy_check(file, text).into_result()
}

/// Validates a policy that is already a value (built in code, or parsed elsewhere); the
/// error is the first problem's message. The engine refuses to decide under an invalid policy.
pub(crate) fn validate_policy(policy: &RepoPolicy) -> Result<(), String> {
    match policy_problems(policy).0.into_iter().next() {
        None => Ok(()),
        Some(p) => Err(p.message),
    }
}

fn with(base: &[Seg], rest: Vec<Seg>) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend(rest);
    p
}

/// Checks one rule's (or the defaults') approvers and minimum. `label` names it in messages.
fn approver_problems(
    label: &str,
    base: &[Seg],
    approvers: &Approvers,
    min_approvals: u32,
    agents: &[Login],
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let users = &approvers.users;
    let teams = &approvers.teams;
    if users.is_empty() && teams.is_empty() {
        errors.push(Problem::new(
            with(base, toml_path!["approvers"]),
            format!("{label}: approvers must name at least one user or team, e.g. approvers = {{ teams = [\"acme/maintainers\"] }}"),
        ));
    }
    if min_approvals == 0 {
        errors.push(Problem::new(
            with(base, toml_path!["min_approvals"]),
            format!("{label}: min_approvals must be at least 1; 0 would approve changes nobody looked at"),
        ));
    }
    let mut distinct: Vec<&Login> = Vec::new();
    for (k, u) in users.iter().enumerate() {
        if u.as_str().trim().is_empty() {
            errors.push(Problem::new(
                with(base, toml_path!["approvers", "users", k]),
                format!("{label}: an approver's login must not be empty"),
            ));
            continue;
        }
        if let Some(Err(why)) = u.pinned_id() {
            errors.push(Problem::new(
                with(base, toml_path!["approvers", "users", k]),
                format!("{label}: {why}; write a pinned approver as \"alice#583231\" (prgate policy check --config prints each one's)"),
            ));
            continue;
        }
        if agents.contains(&Login::new(u.name())) {
            warnings.push(Problem::new(
                with(base, toml_path!["approvers", "users", k]),
                format!("{label}: {u} is listed in identities.agents and will never count as an approver"),
            ));
            continue;
        }
        if !distinct.contains(&u) {
            distinct.push(u);
        }
    }
    // With teams listed the number of possible approvers is unknown here; without, it is the
    // non-agent users, and a minimum above that could never be met.
    if teams.is_empty() && !users.is_empty() && min_approvals > 0 {
        if distinct.is_empty() {
            errors.push(Problem::new(
                with(base, toml_path!["approvers", "users"]),
                format!("{label}: every listed approver is an agent, and agents never approve; name a human or a team"),
            ));
        } else if min_approvals as usize > distinct.len() {
            errors.push(Problem::new(
                with(base, toml_path!["min_approvals"]),
                format!(
                    "{label}: min_approvals = {min_approvals} but only {} user(s) may approve and no team is listed, so it could never be met",
                    distinct.len()
                ),
            ));
        }
    }
}

/// Every (error, warning) of a parsed policy, located by path.
fn policy_problems(policy: &RepoPolicy) -> (Vec<Problem>, Vec<Problem>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let agents = &policy.identities.agents;

    if policy.version != POLICY_VERSION {
        errors.push(Problem::new(
            toml_path!["version"],
            format!("version must be {POLICY_VERSION} (the policy format this prgate understands), not {}", policy.version),
        ));
    }
    if let Some(d) = policy.expire_after
        && d.0.is_zero()
    {
        errors.push(Problem::new(
            toml_path!["expire_after"],
            "expire_after must be longer than zero, e.g. \"72h\"",
        ));
    }
    for (k, a) in agents.iter().enumerate() {
        if a.as_str().trim().is_empty() {
            errors.push(Problem::new(
                toml_path!["identities", "agents", k],
                "identities.agents: a login must not be empty",
            ));
        }
    }

    match &policy.defaults {
        Some(d) => approver_problems(
            "[defaults]",
            &[Seg::from("defaults")],
            &d.approvers,
            d.min_approvals,
            agents,
            &mut errors,
            &mut warnings,
        ),
        None => warnings.push(Problem::new(
            toml_path![],
            "there is no [defaults]: files outside every rule need no approval",
        )),
    }

    let mut names: Vec<String> = Vec::new();
    for (i, rule) in policy.rules.iter().enumerate() {
        let name = rule.name.trim();
        let label = if name.is_empty() {
            format!("rule #{}", i + 1)
        } else {
            format!("rule {name:?}")
        };
        let base = toml_path!["rules", i];
        if name.is_empty() {
            errors.push(Problem::new(
                with(&base, toml_path!["name"]),
                format!("{label}: name must not be empty"),
            ));
        } else if name.eq_ignore_ascii_case(DEFAULTS_RULE) {
            errors.push(Problem::new(
                with(&base, toml_path!["name"]),
                format!("{label}: the name \"{DEFAULTS_RULE}\" is reserved for [defaults]; choose another"),
            ));
        } else if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            errors.push(Problem::new(
                with(&base, toml_path!["name"]),
                format!("{label}: another rule already has this name; rule names must be unique"),
            ));
        }
        names.push(name.to_string());

        if rule.paths.is_empty() {
            errors.push(Problem::new(
                with(&base, toml_path!["paths"]),
                format!(
                    "{label}: paths must list at least one path pattern, e.g. [\"firewall/**\"]"
                ),
            ));
        }
        for (j, pattern) in rule.paths.iter().enumerate() {
            if let Err(e) = compile_pattern(pattern) {
                errors.push(Problem::new(
                    with(&base, toml_path!["paths", j]),
                    format!("{label}: {e}"),
                ));
            }
            // Policies written before CODEOWNERS semantics may now mean something else.
            for change in meaning_changes(pattern) {
                warnings.push(Problem::new(
                    with(&base, toml_path!["paths", j]),
                    format!("{label}: {change}"),
                ));
            }
        }
        if let Some(ex) = &rule.executor
            && ex.trim().is_empty()
        {
            errors.push(Problem::new(
                with(&base, toml_path!["executor"]),
                format!(
                    "{label}: executor must name an executor of the server config, or be left out"
                ),
            ));
        }
        approver_problems(
            &label,
            &base,
            &rule.approvers,
            rule.min_approvals,
            agents,
            &mut errors,
            &mut warnings,
        );
    }

    // Only worth saying when the globs compile; otherwise the errors above say it all.
    if errors.is_empty()
        && let Ok(compiled) = CompiledPolicy::globs_only(policy)
        && compiled.policy_file_rule().is_none()
    {
        let message = if policy.defaults.is_some() {
            format!(
                "no rule covers {POLICY_PATH}, so a change to the policy itself needs only [defaults] approval; add a rule for it with elevated approvers"
            )
        } else {
            format!(
                "no rule covers {POLICY_PATH} and there is no [defaults]: a change to the policy itself needs no approval"
            )
        };
        warnings.push(Problem::new(toml_path!["rules"], message));
    }
    (errors, warnings)
}
