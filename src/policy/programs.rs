//! An executor's own program is governed by the rules that run it: its repository paths
//! count as matched by every rule whose `executor` names it, besides whatever else matches
//! them. Changing the script that applies firewall rules then needs the firewall approvers.

use std::collections::BTreeMap;

use crate::policy::RepoPolicy;

/// Executor name -> path patterns of its program (`ServerConfig::program_paths`).
pub type ProgramPaths = BTreeMap<String, Vec<String>>;

/// `policy` with each executor's program paths added to the rules that run that executor.
/// The policy as written is untouched; this is what decisions are made with.
pub fn govern_programs(policy: &RepoPolicy, programs: &ProgramPaths) -> RepoPolicy {
    let mut out = policy.clone();
    for rule in &mut out.rules {
        let Some(patterns) = rule.executor.as_ref().and_then(|e| programs.get(e)) else {
            continue;
        };
        for p in patterns {
            if !rule.paths.contains(p) {
                rule.paths.push(p.clone());
            }
        }
    }
    out
}

/// A program an executor runs that the rules running it do not cover, for
/// `prgate policy check --config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncoveredProgram {
    pub rule: String,
    pub executor: String,
    pub path: String,
}

/// Repository files that executors run (`program` per executor: their `command[0]` when it
/// is a repository path, and any argument that names one) which neither the executor's
/// program paths nor the rule running it cover. Such a script falls to `[defaults]` (or to
/// nobody), so a change to it would be run by the next approved change under the rule.
pub fn uncovered_programs(
    policy: &RepoPolicy,
    programs: &ProgramPaths,
    run_files: &BTreeMap<String, Vec<String>>,
) -> Vec<UncoveredProgram> {
    let governed = govern_programs(policy, programs);
    let mut out = Vec::new();
    for rule in &governed.rules {
        let Some(executor) = &rule.executor else {
            continue;
        };
        let Some(files) = run_files.get(executor) else {
            continue;
        };
        let rule_names: Vec<String> = files
            .iter()
            .map(|f| {
                let matched = super::matched_rules(&governed, std::slice::from_ref(f));
                (f, matched)
            })
            .filter(|(_, matched)| !matched.iter().any(|m| m.name == rule.name))
            .map(|(f, _)| f.clone())
            .collect();
        for path in rule_names {
            out.push(UncoveredProgram {
                rule: rule.name.clone(),
                executor: executor.clone(),
                path,
            });
        }
    }
    out
}
