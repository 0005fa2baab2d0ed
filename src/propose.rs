//! The agent's side: `prgate propose` commits chosen paths from a working tree onto a branch
//! `prgate/<agent>/<slug>` based on the current base tip, pushes it, and opens (or updates)
//! the PR, telling the agent up front which rules, approvers and executor the change meets.
//! The agent's working tree and index are never touched.

use std::path::PathBuf;

use git2::Signature;
use serde::Serialize;
use serde_json::json;

use crate::config::Secret;

use crate::git::{self, GitError};
use crate::github::{GitHub, GitHubError};
use crate::policy::{self, describe_approvers};
use crate::policy::{POLICY_PATH, RepoPolicy};
use crate::proposed_tree;
use crate::render::{RenderError, Renderer};
use crate::types::{PullNumber, RepoName};

/// What the agent asked for.
#[derive(Debug, Clone, Default)]
pub struct ProposeRequest {
    pub repo_path: PathBuf,
    pub title: String,
    pub summary: Option<String>,
    pub reason: Option<String>,
    pub risk: Option<String>,
    pub rollback: Option<String>,
    pub branch: Option<String>,
    pub base: Option<String>,
    pub labels: Vec<String>,
    pub remote_repo: Option<RepoName>,
    pub paths: Vec<PathBuf>,
}

/// One rule the proposed change falls under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RequiredRule {
    pub rule: String,
    pub files: Vec<String>,
    pub min_approvals: u32,
    pub approvers: String,
    pub executor: Option<String>,
}

/// The `--json` answer of `prgate propose`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Proposal {
    pub repo: String,
    pub pull: u64,
    pub url: String,
    pub branch: String,
    pub head: String,
    pub required: Vec<RequiredRule>,
    /// True when an open PR for the branch was updated rather than a new one opened.
    pub updated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("nothing to commit: {paths} already match the tip of {base}")]
    NothingToCommit { paths: String, base: String },
    #[error("repository {repo} not found on the code host (or the token cannot see it)")]
    UnknownRepo { repo: RepoName },
    #[error("the token lacks the rights for this: {0}")]
    Forbidden(String),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    GitHub(GitHubError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    Usage(String),
}

impl From<GitHubError> for ProposeError {
    fn from(e: GitHubError) -> Self {
        match e.status() {
            Some(401) => ProposeError::Forbidden(format!("{e} (check PRGATE_GITHUB_TOKEN)")),
            Some(403) => ProposeError::Forbidden(e.to_string()),
            _ => ProposeError::GitHub(e),
        }
    }
}

/// A branch-name-safe slug of a title: lowercase letters, digits and dashes.
fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "change".to_string()
    } else {
        out
    }
}

/// The agent part of a branch name: its login without a `[bot]` suffix.
fn agent_slug(login: &str) -> String {
    slugify(login.trim_end_matches("[bot]"))
}

/// The rules the changed files fall under, with who must approve and what runs after.
fn required_rules(policy: &RepoPolicy, files: &[String]) -> Vec<RequiredRule> {
    policy::matched_rules(policy, files)
        .into_iter()
        .map(|m| {
            let rule = policy.rules.iter().find(|r| r.name == m.name);
            let (approvers, min, executor) = match (rule, &policy.defaults) {
                (Some(r), _) => (
                    describe_approvers(&r.approvers),
                    r.min_approvals,
                    r.executor.clone(),
                ),
                (None, Some(d)) => (describe_approvers(&d.approvers), d.min_approvals, None),
                (None, None) => (String::new(), 0, None),
            };
            RequiredRule {
                rule: m.name,
                files: m.files,
                min_approvals: min,
                approvers,
                executor,
            }
        })
        .collect()
}

/// Commits, pushes and opens or updates the PR.
pub async fn propose(
    gh: &GitHub,
    token: &Secret,
    renderer: &Renderer,
    req: &ProposeRequest,
) -> Result<Proposal, ProposeError> {
    if req.paths.is_empty() {
        return Err(ProposeError::Usage(
            "name at least one PATH to propose".into(),
        ));
    }
    if req.title.trim().is_empty() {
        return Err(ProposeError::Usage("--title must not be empty".into()));
    }
    let repo = git::open(&req.repo_path)?;
    let origin = git::origin_url(&repo)?;
    let remote_repo = match &req.remote_repo {
        Some(r) => r.clone(),
        None => git::repo_name_from_url(&origin)?,
    };
    let rel_paths = proposed_tree::repo_relative_paths(&repo, &req.repo_path, &req.paths)?;

    let me = gh.current_user().await?;
    let info = match gh.repo(&remote_repo).await {
        Ok(i) => i,
        Err(e) if e.status() == Some(404) => {
            return Err(ProposeError::UnknownRepo { repo: remote_repo });
        }
        Err(e) => return Err(e.into()),
    };
    let base_branch = req.base.clone().unwrap_or(info.default_branch.clone());
    let branch = req
        .branch
        .clone()
        .unwrap_or_else(|| format!("prgate/{}/{}", agent_slug(&me.login), slugify(&req.title)));

    let base_tip = git::fetch_branch(&repo, &origin, &base_branch, Some(token))?;
    let (tree, changed) = proposed_tree::tree_with_paths(&repo, base_tip, &rel_paths)?;
    if changed.is_empty() {
        return Err(ProposeError::NothingToCommit {
            paths: rel_paths.join(", "),
            base: base_branch,
        });
    }

    // Who must approve, from the policy at the base tip (read from git: no API call).
    let base_commit = repo.find_commit(base_tip).map_err(GitError::from)?;
    let policy = base_commit
        .tree()
        .ok()
        .and_then(|t| t.get_path(std::path::Path::new(POLICY_PATH)).ok())
        .and_then(|e| repo.find_blob(e.id()).ok())
        .and_then(|b| std::str::from_utf8(b.content()).ok().map(str::to_string))
        .and_then(|text| policy::parse_policy(POLICY_PATH, &text).ok());
    let required = policy
        .as_ref()
        .map(|p| required_rules(p, &changed))
        .unwrap_or_default();
    let expire_after = policy
        .as_ref()
        .and_then(|p| p.expire_after)
        .map(|d| crate::render::short_duration(d.0))
        .unwrap_or_else(|| "the policy's expiry".into());

    let email = me
        .email
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| format!("{}+{}@users.noreply.github.com", me.id, me.login));
    let author = Signature::now(&me.login, &email).map_err(GitError::from)?;
    let summary = req.summary.clone().unwrap_or_else(|| req.title.clone());
    let message = format!(
        "{}\n\n{}\n\nProposed-by: {}\n",
        req.title.trim(),
        summary.trim(),
        me.login
    );
    let commit = git::commit_tree(&repo, tree, base_tip, &author, &message)?;
    git::push(&repo, &origin, commit, &branch, Some(token))?;

    let body = renderer.render(
        "pr_body.md.j2",
        &json!({
            "summary": summary,
            "reason": req.reason,
            "risk": req.risk,
            "rollback": req.rollback,
            "required": required,
            "expire_after": expire_after,
            "agent": me.login,
            "files": changed,
            "branch": branch,
        }),
    )?;

    let (pull, updated) = match gh.open_pull_for_branch(&remote_repo, &branch).await? {
        Some(existing) => {
            let p = gh
                .update_pull(
                    &remote_repo,
                    PullNumber(existing.number),
                    &json!({ "title": req.title, "body": body }),
                )
                .await?;
            (p, true)
        }
        None => (
            gh.create_pull(&remote_repo, &branch, &base_branch, &req.title, &body)
                .await?,
            false,
        ),
    };
    if !req.labels.is_empty() {
        gh.add_labels(&remote_repo, PullNumber(pull.number), &req.labels)
            .await?;
    }
    Ok(Proposal {
        repo: remote_repo.to_string(),
        pull: pull.number,
        url: pull.html_url,
        branch,
        head: commit.to_string(),
        required,
        updated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_branch_safe() {
        assert_eq!(
            slugify("Open port 443 on the edge!"),
            "open-port-443-on-the-edge"
        );
        assert_eq!(slugify("///"), "change");
        assert_eq!(agent_slug("ops-agent[bot]"), "ops-agent");
        assert!(slugify(&"x".repeat(200)).len() <= 48);
    }
}
