//! Reads of how a repository and prgate's App are set up, for `config check`: branch
//! protection, the rulesets in force, the App's events and permissions.

use super::client::GitHubError;
use super::models::{ApiBranchRule, ApiProtection};
use super::{GitHub, app, url_escape_path};
use crate::types::RepoName;

impl GitHub {
    /// A branch's classic protection: `Ok(None)` when the branch is not protected. GitHub
    /// answers 404 both for that ("Branch not protected") and to a caller that may not read it
    /// (not an admin); the latter is the error.
    pub(crate) async fn branch_protection(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<ApiProtection>, GitHubError> {
        let path = format!(
            "/repos/{repo}/branches/{}/protection",
            url_escape_path(branch)
        );
        match self.get_json(&path).await {
            Ok(p) => Ok(Some(p)),
            Err(GitHubError::Status {
                status: 404,
                ref message,
                ..
            }) if message.contains("Branch not protected") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The ruleset rules in force on a branch (readable with read access).
    pub(crate) async fn branch_rules(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Vec<ApiBranchRule>, GitHubError> {
        self.get_all(&format!(
            "/repos/{repo}/rules/branches/{}",
            url_escape_path(branch)
        ))
        .await
    }

    /// As a GitHub App: the events it subscribes to and its permissions (`GET /app`);
    /// `None` with a token.
    pub(crate) async fn app_settings(
        &self,
    ) -> Result<Option<(Vec<String>, std::collections::BTreeMap<String, String>)>, GitHubError>
    {
        if !self.transport.is_app() {
            return Ok(None);
        }
        let app: app::ApiApp = self.get_json("/app").await?;
        Ok(Some((app.events, app.permissions)))
    }
}
