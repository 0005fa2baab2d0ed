//! Checks of a server config that catch an operator's mistake before it bites: before
//! `serve` starts, and in `prgate config check`. A secret that does not resolve would
//! otherwise surface only when an approved change is about to run; a policy that cannot be
//! read, only as an `error` on every PR.

use crate::config::{SecretRef, ServerConfig};
use crate::github::facts::{GatherError, policy_at};
use crate::github::{GitHub, GraphqlSource};

mod pin;

/// One problem (or, with `error == false`, a warning), in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub error: bool,
    /// The code host did not answer clearly (no answer, a 5xx): worth saying, but not a
    /// reason for `serve` to refuse to start, since it may answer a moment later.
    #[serde(skip)]
    pub transient: bool,
    /// Where: a config key (`executors.firewall.env.FIREWALL_TOKEN`) or a repository.
    pub subject: String,
    pub message: String,
}

impl Finding {
    pub fn error(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            error: true,
            transient: false,
            subject: subject.into(),
            message: message.into(),
        }
    }
    fn transient(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            transient: true,
            ..Finding::error(subject, message)
        }
    }
    pub fn warning(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            error: false,
            transient: false,
            subject: subject.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.error { "error" } else { "warning" };
        write!(f, "{kind}: {}: {}", self.subject, self.message)
    }
}

/// Every secret the config references resolves now: the webhook secrets, the code host's
/// credential, the note signing key, and each executor's `env`.
pub fn secrets(config: &ServerConfig) -> Vec<Finding> {
    let mut refs: Vec<(String, &SecretRef)> = config
        .webhook_secrets
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("webhook_secrets[{i}]"), s))
        .collect();
    refs.extend(
        config
            .github
            .token
            .iter()
            .map(|s| ("github.token".into(), s)),
    );
    refs.extend(
        config
            .github
            .private_key
            .iter()
            .map(|s| ("github.private_key".into(), s)),
    );
    refs.extend(
        config
            .note_signing_key
            .iter()
            .map(|s| ("note_signing_key".into(), s)),
    );
    refs.extend(config.admin_token.iter().map(|s| ("admin_token".into(), s)));
    for (name, e) in &config.executors {
        for (var, s) in &e.env {
            refs.push((format!("executors.{name}.env.{var}"), s));
        }
        for (var, s) in &e.plan_env {
            refs.push((format!("executors.{name}.plan_env.{var}"), s));
        }
    }
    refs.into_iter()
        .filter_map(|(key, s)| {
            s.resolve().err().map(|e| {
                Finding::error(
                    key,
                    format!("{e}; without it nothing that needs it can run"),
                )
            })
        })
        .collect()
}

/// Asks each endpoint prgate derived from `[github]` whether it answers as GitHub's does:
/// REST (prgate's own account), the repository activity API (the newest API prgate needs) and
/// GraphQL (the first governed repository's name). A wrong base answers 404 or not at all,
/// and the finding names the URL and the key to fix; nothing more is asked once REST fails.
pub async fn endpoints(config: &ServerConfig, gh: &GitHub) -> Vec<Finding> {
    let ep = gh.transport().endpoints();
    let rest = &ep.rest;
    if let Err(e) = gh.own_login().await {
        let message = match e.status() {
            Some(401) => format!(
                "{rest} refuses prgate's credential ({e}); check github.token or the app's key"
            ),
            Some(404) => format!(
                "the REST API at {rest} answered 404 ({e}): it is not the base of a GitHub API; set github.api_url to https://api.github.com, or to https://HOST/api/v3 on GitHub Enterprise Server"
            ),
            Some(_) => format!("the REST API at {rest} did not answer as GitHub's: {e}"),
            None => format!(
                "cannot reach the REST API at {rest}: {e}; check github.api_url and that its host is reachable from here"
            ),
        };
        return vec![Finding::error("github.api_url", message)];
    }
    let Some(first) = config.repos.first() else {
        return vec![Finding::warning(
            "github",
            format!(
                "GraphQL at {} not checked: no [[repos]] to ask about",
                ep.graphql
            ),
        )];
    };
    let mut out = Vec::new();
    if let Err(e) = gh.activity_api_answers(&first.name).await {
        let message = match e.status() {
            Some(404) => format!(
                "the repository activity API (GET {rest}/repos/{}/activity) answered 404: the code host lacks it (GitHub Enterprise Server has it from 3.11) or prgate cannot read it; without it prgate cannot tell who pushed to a PR and every decision is `error`; upgrade GHES to 3.11 or later",
                first.name
            ),
            _ => format!("the repository activity API at {rest} did not answer: {e}"),
        };
        out.push(Finding::error(format!("repos {}", first.name), message));
    }
    let Err(e) = crate::github::graphql::probe(gh, &first.name).await else {
        return out;
    };
    let (subject, whence) = match ep.graphql_source {
        GraphqlSource::Derived => ("github.api_url", format!("derived from api_url {rest}")),
        GraphqlSource::Configured => ("github.graphql_url", "github.graphql_url".to_string()),
    };
    let fix = "GitHub Enterprise Server serves GraphQL at https://HOST/api/graphql, which prgate derives from an api_url ending in /api/v3; check api_url, or set github.graphql_url if the host serves GraphQL elsewhere";
    let message = match e.status() {
        Some(401) => format!(
            "GraphQL at {} ({whence}) refuses prgate's credential ({e}); check github.token or the app's key",
            ep.graphql
        ),
        Some(404) => format!(
            "GraphQL at {} ({whence}) answered 404 ({e}); {fix}",
            ep.graphql
        ),
        Some(_) => format!(
            "GraphQL at {} ({whence}) did not answer as GitHub's: {e}; {fix}",
            ep.graphql
        ),
        None => format!(
            "GraphQL at {} ({whence}) did not answer as GitHub's GraphQL API: {e}; {fix}",
            ep.graphql
        ),
    };
    out.push(Finding::error(subject, message));
    out
}

/// Asks the code host: the credential works, and each governed repository is readable and
/// has a valid policy on each governed branch. A branch that does not exist yet is a warning
/// (nothing can target it); a code host that cannot be reached is an error here, and `serve`
/// decides what that means for it.
pub async fn code_host(config: &ServerConfig, gh: &GitHub) -> Vec<Finding> {
    let host = &config.github.api_url;
    if let Err(e) = gh.own_login().await {
        let message = match e.status() {
            Some(401) => format!(
                "{host} refuses prgate's credential ({e}); check github.token or the app's key"
            ),
            _ => format!("cannot read prgate's own account at {host}: {e}"),
        };
        return vec![Finding::error("github", message)];
    }
    let mut out = Vec::new();
    for governed in &config.repos {
        let repo = &governed.name;
        if let Err(e) = gh.repo(repo).await {
            let subject = format!("repos {repo}");
            out.push(match e.status() {
                Some(404) => Finding::error(subject, format!("{repo} does not exist at {host}, or prgate's account cannot read it; fix the name or give it access")),
                _ if e.is_ambiguous() => Finding::transient(subject, format!("cannot read {repo}: {e}")),
                _ => Finding::error(subject, format!("cannot read {repo}: {e}")),
            });
            continue;
        }
        for branch in &governed.branches {
            let subject = format!("repos {repo} branch {branch}");
            let tip = match gh.branch_tip(repo, branch).await {
                Ok(tip) => tip,
                // GitHub answers 409 "Git Repository is empty" for a repository with no commit.
                Err(e) if matches!(e.status(), Some(404 | 409)) => {
                    out.push(Finding::warning(
                        subject,
                        "the branch does not exist yet; push one holding .github/prgate.toml",
                    ));
                    continue;
                }
                Err(e) => {
                    let read = if e.is_ambiguous() {
                        Finding::transient
                    } else {
                        Finding::error
                    };
                    out.push(read(subject, format!("cannot read the branch: {e}")));
                    continue;
                }
            };
            match policy_at(gh, repo, &tip).await {
                Ok(_) => {}
                Err(e @ (GatherError::NoPolicy { .. } | GatherError::InvalidPolicy { .. })) => {
                    out.push(Finding::error(subject, e.to_string()))
                }
                Err(GatherError::GitHub(e)) if e.is_ambiguous() => out.push(Finding::transient(
                    subject,
                    format!("cannot read the policy: {e}"),
                )),
                Err(e) => out.push(Finding::error(
                    subject,
                    format!("cannot read the policy: {e}"),
                )),
            }
        }
    }
    out
}

/// Reads each governed branch's protection and rulesets and says whether only prgate can
/// satisfy the required `prgate/approval` (for `config check`; `serve` does not refuse to start
/// on it, since a set-up it cannot read may still be right).
pub async fn required_check_pinned(config: &ServerConfig, gh: &GitHub) -> Vec<Finding> {
    let app_id = gh.transport().app_id();
    let mut out = Vec::new();
    for governed in &config.repos {
        let repo = &governed.name;
        for branch in &governed.branches {
            let subject = format!("repos {repo} branch {branch}");
            // A branch that does not exist yet is said once, by the code host's check.
            if gh
                .branch_tip(repo, branch)
                .await
                .is_err_and(|e| matches!(e.status(), Some(404 | 409)))
            {
                continue;
            }
            let protection = match gh.branch_protection(repo, branch).await {
                Ok(Some(p)) => pin::ProtectionRead::Protected(p),
                Ok(None) => pin::ProtectionRead::NotProtected,
                Err(e) => match e.status() {
                    Some(404) => pin::ProtectionRead::Unreadable(
                        "GitHub answers 404 to an account that is not an admin of the repository"
                            .into(),
                    ),
                    Some(403) => pin::ProtectionRead::Unreadable(
                        "the App needs the \"Administration: read\" permission".into(),
                    ),
                    _ => pin::ProtectionRead::Unreadable(e.to_string()),
                },
            };
            let rules = match gh.branch_rules(repo, branch).await {
                Ok(r) => r,
                Err(e) => {
                    out.push(Finding::warning(
                        subject.clone(),
                        format!("cannot read the rulesets of {branch}: {e}"),
                    ));
                    Vec::new()
                }
            };
            out.extend(pin::judge(&subject, branch, app_id, &protection, &rules));
            if rules.iter().any(|r| r.kind == "merge_queue") {
                out.extend(queue_findings(gh, &subject, repo, branch).await);
            }
        }
    }
    out
}

/// A branch that requires GitHub's merge queue: prgate must hear its `merge_group` deliveries
/// and may read the queue ("Merge queues: read"), and the policy there should enqueue rather
/// than merge (GitHub refuses a merge past the queue).
async fn queue_findings(
    gh: &GitHub,
    subject: &str,
    repo: &crate::types::RepoName,
    branch: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match gh.app_settings().await {
        Ok(Some((events, permissions))) => {
            if !events.iter().any(|e| e == "merge_group") {
                out.push(Finding::error(
                    subject,
                    format!("{branch} requires the merge queue, but the App does not subscribe to the merge_group event: prgate never hears the queue's checks and every group fails at its timeout; tick \"Merge group\" in the App's settings"),
                ));
            }
            if !permissions.contains_key("merge_queues") {
                out.push(Finding::error(
                    subject,
                    format!("{branch} requires the merge queue, but the App lacks the \"Merge queues: read\" permission; grant it in the App's settings"),
                ));
            }
        }
        Ok(None) => out.push(Finding::warning(
            subject,
            format!("{branch} requires the merge queue: the repository's webhook must send merge_group events, or prgate never answers the queue's checks"),
        )),
        Err(e) => out.push(Finding::warning(
            subject,
            format!("cannot read the App's settings to check its merge_group event: {e}"),
        )),
    }
    if let Ok(tip) = gh.branch_tip(repo, branch).await
        && let Ok((policy, _)) = policy_at(gh, repo, &tip).await
        && policy.merge == crate::policy::MergeMode::Auto
    {
        out.push(Finding::error(
            subject,
            format!("{branch} requires the merge queue, but its policy says merge = \"auto\": GitHub refuses merges past the queue; set merge = \"queue\" in {}", crate::policy::POLICY_PATH),
        ));
    }
    out
}
