//! The parts of GitHub's REST responses that prgate reads. Only the fields we use, decoded
//! tolerantly (unknown fields ignored, optional ones optional), so that GitHub adding a field
//! never breaks us and a missing one is reported rather than guessed.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::policy::{Account, AccountKind};
use crate::types::{Login, UserId};

#[derive(Debug, Clone, Deserialize)]
pub struct ApiUser {
    pub login: String,
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub email: Option<String>,
}

impl ApiUser {
    /// Whether this is `account`: by id, never by login (logins are renamed and re-registered).
    pub fn is(&self, account: &Account) -> bool {
        UserId(self.id) == account.id
    }
    pub fn account(&self) -> Account {
        Account {
            login: Login::new(self.login.clone()),
            id: UserId(self.id),
            kind: AccountKind::from_github(&self.kind),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiBranchRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
    /// The repository the branch lives in (another one for a PR from a fork); `null` when
    /// that repository was deleted.
    #[serde(default)]
    pub repo: Option<ApiRepoRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiRepoRef {
    pub full_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiLabel {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiPull {
    pub number: u64,
    pub state: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub user: Option<ApiUser>,
    pub head: ApiBranchRef,
    pub base: ApiBranchRef,
    #[serde(default)]
    pub labels: Vec<ApiLabel>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: String,
    /// Who merged it; `null` while open (and for a deleted account).
    #[serde(default)]
    pub merged_by: Option<ApiUser>,
    /// Users and teams whose review is requested now (they drop off once they review).
    #[serde(default)]
    pub requested_reviewers: Vec<ApiUser>,
    #[serde(default)]
    pub requested_teams: Vec<ApiTeam>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiReview {
    pub id: u64,
    /// `null` for a deleted account ("ghost").
    pub user: Option<ApiUser>,
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiGitIdentity {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiGitCommit {
    pub author: Option<ApiGitIdentity>,
    pub committer: Option<ApiGitIdentity>,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiCommit {
    pub sha: String,
    pub commit: ApiGitCommit,
    /// The account the author's email maps to; `null` when none does.
    pub author: Option<ApiUser>,
    pub committer: Option<ApiUser>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiFile {
    pub filename: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiCompare {
    #[serde(default)]
    pub total_commits: u64,
    #[serde(default)]
    pub commits: Vec<ApiCommit>,
    #[serde(default)]
    pub files: Option<Vec<ApiFile>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiContent {
    pub sha: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub encoding: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiStatus {
    pub state: String,
    pub context: String,
    #[serde(default)]
    pub description: Option<String>,
    pub creator: Option<ApiUser>,
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiMergeResult {
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiErrorBody {
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiRepo {
    pub full_name: String,
    #[serde(default)]
    pub default_branch: String,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub html_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiComment {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    pub user: Option<ApiUser>,
    /// When the comment was posted: a plan counts as shown from then on.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiRefObject {
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub object: ApiRefObject,
}

/// One entry of the repository activity API: who moved which ref, from what to what.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiActivity {
    pub id: u64,
    #[serde(default)]
    pub after: String,
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub activity_type: String,
    /// `null` when the code host cannot say who did it.
    pub actor: Option<ApiUser>,
}

/// One issue event (only the fields prgate reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiIssueEvent {
    #[serde(default)]
    pub event: String,
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub actor: Option<ApiUser>,
    /// For `review_dismissed`: which review, and its state before, in lower case.
    #[serde(default)]
    pub dismissed_review: Option<ApiDismissedReview>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiDismissedReview {
    pub state: String,
    pub review_id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiTeam {
    pub slug: String,
}

/// A check run, as far as prgate reads one back.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiCheckRun {
    pub id: u64,
    pub name: String,
    #[expect(
        dead_code,
        reason = "never read, but required: a check run without it is refused as before"
    )]
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub output: ApiCheckOutput,
    #[serde(default)]
    pub app: Option<ApiCheckApp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ApiCheckOutput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiCheckApp {
    pub id: u64,
    #[serde(default)]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiCheckRunList {
    #[expect(
        dead_code,
        reason = "never read, but required: a list without it is refused as before"
    )]
    pub total_count: u64,
    pub check_runs: Vec<ApiCheckRun>,
}

/// `GET /repos/{owner}/{repo}/branches/{branch}/protection`, the part prgate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiProtection {
    #[serde(default)]
    pub required_status_checks: Option<ApiRequiredChecks>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiRequiredChecks {
    #[serde(default)]
    pub contexts: Vec<String>,
    #[serde(default)]
    pub checks: Vec<ApiRequiredCheck>,
}

/// A required check and its source: `app_id` null (or -1) means any source satisfies it.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiRequiredCheck {
    pub context: String,
    #[serde(default)]
    pub app_id: Option<i64>,
}

/// One active rule of `GET /repos/{owner}/{repo}/rules/branches/{branch}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiBranchRule {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
}
