//! A policy with its path globs compiled once, so that deciding many deliveries against the
//! same policy costs a glob-set lookup per changed file, not a regex build.

use std::collections::BTreeSet;

use globset::{GlobSet, GlobSetBuilder};

use super::pattern::{GlobError, compile_pattern};
use crate::policy::{Approvers, POLICY_PATH, RepoPolicy, TeamRef};

/// The name of the outcome for files that no rule matches.
pub(crate) const DEFAULTS_RULE: &str = "defaults";

/// A [`RepoPolicy`] ready to match paths: one glob set for all rules' patterns.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    policy: RepoPolicy,
    set: GlobSet,
    /// For each glob in `set`, the index of the rule it belongs to.
    glob_rule: Vec<usize>,
    /// Why the policy must not be used for decisions, if it must not.
    invalid: Option<String>,
}

/// The rules one changed file falls under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileRules {
    Rules(Vec<usize>),
    Defaults,
}

impl CompiledPolicy {
    /// Compiles the policy's globs and validates it. A policy whose globs compile but which is
    /// otherwise invalid still matches paths (so the gate can look up teams and explain), but
    /// every decision under it is `error`.
    pub fn compile(policy: &RepoPolicy) -> Result<Self, GlobError> {
        let mut compiled = Self::globs_only(policy)?;
        compiled.invalid = super::validate_policy(policy).err();
        Ok(compiled)
    }

    /// Why this policy must not be used for decisions, or `None` when it is valid.
    pub(crate) fn invalid_reason(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// Compiles the globs without validating the rest (validation itself uses this).
    pub(crate) fn globs_only(policy: &RepoPolicy) -> Result<Self, GlobError> {
        let mut builder = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();
        for (i, rule) in policy.rules.iter().enumerate() {
            for pattern in &rule.paths {
                for glob in compile_pattern(pattern)? {
                    builder.add(glob);
                    glob_rule.push(i);
                }
            }
        }
        let set = builder.build().map_err(|e| GlobError {
            pattern: String::new(),
            reason: e.to_string(),
        })?;
        Ok(CompiledPolicy {
            policy: policy.clone(),
            set,
            glob_rule,
            invalid: None,
        })
    }

    pub fn policy(&self) -> &RepoPolicy {
        &self.policy
    }

    /// The indices of the rules that `path` falls under, in rule order, or defaults.
    pub(crate) fn rules_for_file(&self, path: &str) -> FileRules {
        let path = path.trim_start_matches('/');
        let mut rules: Vec<usize> = self
            .set
            .matches(path)
            .into_iter()
            .map(|g| self.glob_rule[g])
            .collect();
        rules.sort_unstable();
        rules.dedup();
        if rules.is_empty() {
            FileRules::Defaults
        } else {
            FileRules::Rules(rules)
        }
    }

    /// The rules the changed files fall under, in policy order, with the defaults (`None`)
    /// last. A PR with no changed files is treated as touching files outside every rule, so
    /// the defaults still apply to it.
    fn matched(&self, changed_files: &[String]) -> Vec<(Option<usize>, Vec<String>)> {
        let mut per_rule: Vec<Vec<String>> = vec![Vec::new(); self.policy.rules.len()];
        let mut defaults: Vec<String> = Vec::new();
        for f in changed_files {
            match self.rules_for_file(f) {
                FileRules::Rules(rs) => {
                    for r in rs {
                        per_rule[r].push(f.clone());
                    }
                }
                FileRules::Defaults => defaults.push(f.clone()),
            }
        }
        let mut out: Vec<(Option<usize>, Vec<String>)> = per_rule
            .into_iter()
            .enumerate()
            .filter(|(_, files)| !files.is_empty())
            .map(|(i, files)| (Some(i), files))
            .collect();
        let needs_defaults = !defaults.is_empty() || changed_files.is_empty();
        if needs_defaults && self.policy.defaults.is_some() {
            out.push((None, defaults));
        }
        out
    }

    /// The rules the changed files fall under, in policy order, with the defaults last.
    pub fn matched_rules(&self, changed_files: &[String]) -> Vec<super::MatchedRule> {
        self.matched(changed_files)
            .into_iter()
            .map(|(i, files)| super::MatchedRule {
                name: i.map_or(DEFAULTS_RULE.to_string(), |i| {
                    self.policy.rules[i].name.clone()
                }),
                files,
            })
            .collect()
    }

    /// What each matched rule asks for, defaults last.
    pub(crate) fn matched_requirements(&self, changed_files: &[String]) -> Vec<Requirement<'_>> {
        self.matched(changed_files)
            .into_iter()
            .filter_map(|(i, _files)| match i {
                Some(i) => {
                    let rule = &self.policy.rules[i];
                    Some(Requirement {
                        name: rule.name.clone(),
                        approvers: &rule.approvers,
                        min_approvals: rule.min_approvals,
                        executor: rule.executor.clone(),
                    })
                }
                None => self.policy.defaults.as_ref().map(|d| Requirement {
                    name: DEFAULTS_RULE.to_string(),
                    approvers: &d.approvers,
                    min_approvals: d.min_approvals,
                    executor: None,
                }),
            })
            .collect()
    }

    /// The teams whose members the gate must look up to decide about these files.
    pub fn teams_needed(&self, changed_files: &[String]) -> BTreeSet<TeamRef> {
        self.matched_requirements(changed_files)
            .iter()
            .flat_map(|r| r.approvers.teams.iter().cloned())
            .collect()
    }

    /// The executors of the rules these files fall under, each once, in policy order.
    pub fn executors_for(&self, changed_files: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.matched_requirements(changed_files) {
            if let Some(e) = r.executor
                && !out.contains(&e)
            {
                out.push(e);
            }
        }
        out
    }

    /// Whether some rule (not the defaults) covers the policy file itself.
    pub(crate) fn policy_file_rule(&self) -> Option<&str> {
        match self.rules_for_file(POLICY_PATH) {
            FileRules::Rules(rs) => rs.first().map(|&i| self.policy.rules[i].name.as_str()),
            FileRules::Defaults => None,
        }
    }
}

/// What one matched rule (or the defaults) asks for.
#[derive(Debug, Clone)]
pub(crate) struct Requirement<'p> {
    pub name: String,
    pub approvers: &'p Approvers,
    pub min_approvals: u32,
    pub executor: Option<String>,
}
