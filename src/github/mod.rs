//! The code host client: typed reads of the facts prgate decides on, and the few writes it
//! makes (statuses, merges, comments, refs). Built on [`client::Transport`], which owns
//! timeouts, retries, rate limits and ETags.

pub(crate) mod app;
mod budget;
pub(crate) mod client;
mod endpoints;
pub(crate) mod facts;
mod gather_error;
pub mod graphql;
mod history;
pub(crate) mod models;
pub mod open_pulls;
pub(crate) mod queue;
mod registered;
mod settings;
mod trees;

use std::collections::BTreeSet;
use std::sync::Mutex;

use base64::Engine;
use http::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

pub(crate) use client::host_of;
pub use client::{ClientOptions, Credentials, GitHubError, Transport};
pub use endpoints::{Endpoints, GraphqlSource, parse_api_url};
use models::*;

use crate::config::Secret;

use crate::metrics::Metrics;
use crate::policy::TeamRef;
use crate::types::{CommitSha, InvalidId, Login, PullNumber, RepoName, UserId};

/// Lists longer than this many pages are refused rather than evaluated partly (fail closed).
const MAX_PAGES: usize = 30;

/// A file's content at one commit, with its blob SHA (recorded as `Prgate-Policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileAtCommit {
    pub blob_sha: CommitSha,
    pub text: String,
}

/// What became of a merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MergeOutcome {
    Merged {
        sha: CommitSha,
    },
    /// 409: the head is no longer the SHA we pinned.
    HeadMoved,
    /// 405 (protection, conflicts) or 422: GitHub's message says why.
    NotMergeable {
        message: String,
    },
}

pub struct GitHub {
    transport: Transport,
    /// File contents at a commit never change, so they are cached for good (bounded).
    file_cache: Mutex<lru::LruCache<(RepoName, String, CommitSha), Option<FileAtCommit>>>,
    /// Answers addressed by commit SHAs only (a compare of two SHAs) never change either.
    immutable: Mutex<lru::LruCache<String, bytes::Bytes>>,
    /// The account this client acts as, once learnt: its credentials never change.
    own_account: Mutex<Option<OwnAccount>>,
    /// Per repository and base branch, the teams the last policy read there names: the next
    /// facts query asks for their members up front. Only saves a call; a team missing here is
    /// read by a follow-up query.
    policy_teams: Mutex<lru::LruCache<(RepoName, String), Vec<TeamRef>>>,
    /// The symlinks of commits' trees (see `trees`), which never change.
    links_cache: Mutex<lru::LruCache<(RepoName, CommitSha), trees::TreeLinks>>,
}

/// Commits whose trees' links are remembered.
const LINK_CACHE_ENTRIES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(1_000).unwrap();

/// Entries kept in each of the for-good caches; the least recently used go first.
const IMMUTABLE_CACHE_ENTRIES: std::num::NonZeroUsize =
    std::num::NonZeroUsize::new(10_000).unwrap();

impl GitHub {
    pub fn new(
        api_url: &str,
        token: Option<&Secret>,
        options: ClientOptions,
        metrics: Metrics,
    ) -> Result<Self, GitHubError> {
        let credentials = match token {
            Some(t) => Credentials::Token(t),
            None => Credentials::None,
        };
        Self::with_credentials(api_url, credentials, options, metrics)
    }

    /// A client with a token or as a GitHub App (see [`Credentials`]), GraphQL where GitHub
    /// serves it for `api_url`.
    pub fn with_credentials(
        api_url: &str,
        credentials: Credentials<'_>,
        options: ClientOptions,
        metrics: Metrics,
    ) -> Result<Self, GitHubError> {
        Ok(Self::around(Transport::with_credentials(
            api_url,
            credentials,
            options,
            metrics,
        )?))
    }

    /// A client for the code host at `endpoints` (an operator's `[github] graphql_url`).
    pub fn with_endpoints(
        endpoints: Endpoints,
        credentials: Credentials<'_>,
        options: ClientOptions,
        metrics: Metrics,
    ) -> Result<Self, GitHubError> {
        Ok(Self::around(Transport::with_endpoints(
            endpoints,
            credentials,
            options,
            metrics,
        )?))
    }

    fn around(transport: Transport) -> Self {
        GitHub {
            transport,
            file_cache: Mutex::new(lru::LruCache::new(IMMUTABLE_CACHE_ENTRIES)),
            immutable: Mutex::new(lru::LruCache::new(IMMUTABLE_CACHE_ENTRIES)),
            own_account: Mutex::new(None),
            policy_teams: Mutex::new(lru::LruCache::new(IMMUTABLE_CACHE_ENTRIES)),
            links_cache: Mutex::new(lru::LruCache::new(LINK_CACHE_ENTRIES)),
        }
    }

    /// The teams the last policies read on `repo`'s branches named, each once.
    fn policy_teams(&self, repo: &RepoName) -> Vec<TeamRef> {
        let mut teams: Vec<TeamRef> = self
            .policy_teams
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((r, _), _)| r == repo)
                    .flat_map(|(_, t)| t.iter().cloned())
                    .collect()
            })
            .unwrap_or_default();
        teams.sort();
        teams.dedup();
        teams
    }

    /// Remembers the teams the policy on `base` of `repo` names, for the next facts query.
    fn remember_policy_teams(&self, repo: &RepoName, base: &str, teams: Vec<TeamRef>) {
        if let Ok(mut m) = self.policy_teams.lock() {
            m.put((repo.clone(), base.to_string()), teams);
        }
    }

    /// Reads a PR's facts in one GraphQL query, asking for the members of the teams the last
    /// policies seen on the repository named. The PR's base is not known before the answer,
    /// so this is a guess: a wrong one costs a follow-up query, never a wrong answer.
    pub(crate) async fn read_pull(
        &self,
        repo: &RepoName,
        number: PullNumber,
    ) -> Result<graphql::PullRead, GitHubError> {
        let teams = self.policy_teams(repo);
        graphql::read_pull(self, repo, number, &teams).await
    }

    /// The account this client acts as: the token's user, or for a GitHub App its bot account
    /// `<slug>[bot]` (what GitHub shows as the creator of the statuses it posts). Learnt once per
    /// client.
    pub(crate) async fn own_account(&self) -> Result<OwnAccount, GitHubError> {
        if let Some(a) = self.own_account.lock().ok().and_then(|g| g.clone()) {
            return Ok(a);
        }
        let account = if self.transport.is_app() {
            let app: app::ApiApp = self.get_json("/app").await?;
            OwnAccount::AppBot(Login::new(format!("{}[bot]", app.slug)))
        } else {
            OwnAccount::User(self.current_user().await?.account())
        };
        if let Ok(mut g) = self.own_account.lock() {
            *g = Some(account.clone());
        }
        Ok(account)
    }

    /// The login of [`Self::own_account`], for messages.
    pub(crate) async fn own_login(&self) -> Result<String, GitHubError> {
        Ok(self.own_account().await?.login().as_str().to_string())
    }

    /// With a GitHub App, the installation token for git over https to `repo`; `None` when the
    /// client uses a plain token (the caller has it).
    pub(crate) async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, GitHubError> {
        self.transport.git_token(repo).await
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Number of HTTP requests made so far (for measuring calls per decision).
    pub fn calls(&self) -> u64 {
        self.transport.calls()
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        self.transport.get(path).await?.json(path)
    }

    /// Reads every page of a list (`per_page=100`), refusing lists past [`MAX_PAGES`].
    async fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GitHubError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}per_page=100"));
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(p) = next {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(GitHubError::Decode {
                    path: path.to_string(),
                    message: format!(
                        "more than {MAX_PAGES} pages; refusing to decide on a partial list"
                    ),
                });
            }
            let r = self.transport.get(&p).await?;
            let mut items: Vec<T> = r.json(&p)?;
            out.append(&mut items);
            next = r.next_page(self.transport.api_url());
        }
        Ok(out)
    }

    /// A user's public profile (`type` tells a person from a bot); `None` when there is no
    /// such account.
    pub async fn user(&self, login: &str) -> Result<Option<ApiUser>, GitHubError> {
        let path = format!("/users/{}", url_escape(login));
        match self.transport.get_optional(&path).await? {
            None => Ok(None),
            Some(r) => r.json(&path).map(Some),
        }
    }

    pub(crate) async fn current_user(&self) -> Result<ApiUser, GitHubError> {
        self.get_json("/user").await
    }

    pub async fn pull(&self, repo: &RepoName, number: PullNumber) -> Result<ApiPull, GitHubError> {
        self.get_json(&format!("/repos/{repo}/pulls/{number}"))
            .await
    }

    /// Open PRs of a repository, optionally only those against `base`.
    pub(crate) async fn open_pulls(
        &self,
        repo: &RepoName,
        base: Option<&str>,
    ) -> Result<Vec<ApiPull>, GitHubError> {
        let mut path = format!("/repos/{repo}/pulls?state=open");
        if let Some(base) = base {
            path.push_str(&format!("&base={}", url_escape(base)));
        }
        self.get_all(&path).await
    }

    pub async fn reviews(
        &self,
        repo: &RepoName,
        number: PullNumber,
    ) -> Result<Vec<ApiReview>, GitHubError> {
        self.get_all(&format!("/repos/{repo}/pulls/{number}/reviews"))
            .await
    }

    /// Commits and changed files between two commits, in one call.
    pub async fn compare(
        &self,
        repo: &RepoName,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<ApiCompare, GitHubError> {
        self.get_immutable(repo, &format!("/repos/{repo}/compare/{base}...{head}"))
            .await
    }

    /// A file at a commit; `None` when it does not exist there. Cached for good.
    async fn file_at(
        &self,
        repo: &RepoName,
        path: &str,
        commit: &CommitSha,
    ) -> Result<Option<FileAtCommit>, GitHubError> {
        let key = (repo.clone(), path.to_string(), commit.clone());
        if let Some(hit) = self
            .file_cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(&key).cloned())
        {
            return Ok(hit);
        }
        let url = format!(
            "/repos/{repo}/contents/{}?ref={commit}",
            url_escape_path(path)
        );
        let file = match self.transport.get_optional(&url).await? {
            None => None,
            Some(r) => {
                let c: ApiContent = r.json(&url)?;
                Some(decode_content(&url, c)?)
            }
        };
        if let Ok(mut cache) = self.file_cache.lock() {
            cache.put(key, file.clone());
        }
        Ok(file)
    }

    pub async fn team_members(&self, team: &TeamRef) -> Result<BTreeSet<UserId>, GitHubError> {
        let members: Vec<ApiUser> = self
            .get_all(&format!("/orgs/{}/teams/{}/members", team.org, team.slug))
            .await?;
        Ok(members.into_iter().map(|u| UserId(u.id)).collect())
    }

    pub async fn pulls_for_commit(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Vec<ApiPull>, GitHubError> {
        self.get_json(&format!("/repos/{repo}/commits/{sha}/pulls"))
            .await
    }

    /// The 100 newest statuses of a commit, newest first: enough to see the latest of a
    /// context, in one (conditional) read.
    pub(crate) async fn recent_statuses(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Vec<ApiStatus>, GitHubError> {
        self.get_json(&format!(
            "/repos/{repo}/commits/{sha}/statuses?per_page=100"
        ))
        .await
    }

    pub async fn statuses(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Vec<ApiStatus>, GitHubError> {
        self.get_all(&format!("/repos/{repo}/commits/{sha}/statuses"))
            .await
    }

    pub(crate) async fn post_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: &str,
        context: &str,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut body = json!({ "state": state, "context": context, "description": description });
        if let Some(url) = target_url {
            body["target_url"] = json!(url);
        }
        self.transport
            .send(
                Method::POST,
                &format!("/repos/{repo}/statuses/{sha}"),
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// Whether this client acts as a GitHub App (only apps may write check runs).
    pub(crate) fn is_app(&self) -> bool {
        self.transport.is_app()
    }

    /// This app's latest check run named `name` on `sha`, if any (`filter=latest` keeps the
    /// newest of each name per app). A conditional read: unchanged, it costs no rate limit.
    pub(crate) async fn own_check_run(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        name: &str,
    ) -> Result<Option<ApiCheckRun>, GitHubError> {
        let mut path = format!(
            "/repos/{repo}/commits/{sha}/check-runs?check_name={}&filter=latest",
            url_escape(name)
        );
        if let Some(app) = self.transport.app_id() {
            path.push_str(&format!("&app_id={app}"));
        }
        let list: ApiCheckRunList = self.get_json(&path).await?;
        let app = self.transport.app_id();
        Ok(list
            .check_runs
            .into_iter()
            .filter(|c| c.name == name)
            .find(|c| app.is_none() || c.app.as_ref().map(|a| a.id) == app))
    }

    /// The apps other than prgate's own that have a check run named `name` on `sha` now (their
    /// slugs): what a `check_run` delivery claims, read back from the code host.
    pub(crate) async fn foreign_check_runs(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        name: &str,
    ) -> Result<Vec<String>, GitHubError> {
        let path = format!(
            "/repos/{repo}/commits/{sha}/check-runs?check_name={}&filter=latest",
            url_escape(name)
        );
        let list: ApiCheckRunList = self.get_json(&path).await?;
        let ours = self.transport.app_id();
        Ok(list
            .check_runs
            .into_iter()
            .filter(|c| c.name == name)
            .filter_map(|c| c.app)
            .filter(|a| Some(a.id) != ours)
            .map(|a| a.slug.unwrap_or_else(|| format!("app {}", a.id)))
            .collect())
    }

    /// Creates a check run (`POST /repos/{o}/{r}/check-runs`).
    pub(crate) async fn create_check_run(
        &self,
        repo: &RepoName,
        body: &serde_json::Value,
    ) -> Result<ApiCheckRun, GitHubError> {
        let path = format!("/repos/{repo}/check-runs");
        self.transport
            .send(Method::POST, &path, Some(body))
            .await?
            .json(&path)
    }

    /// Updates one of this app's check runs (`PATCH /repos/{o}/{r}/check-runs/{id}`).
    pub(crate) async fn update_check_run(
        &self,
        repo: &RepoName,
        id: u64,
        body: &serde_json::Value,
    ) -> Result<ApiCheckRun, GitHubError> {
        let path = format!("/repos/{repo}/check-runs/{id}");
        self.transport
            .send(Method::PATCH, &path, Some(body))
            .await?
            .json(&path)
    }

    /// Merges with the head SHA pinned: GitHub refuses (409) if the head moved since.
    pub(crate) async fn merge_pinned(
        &self,
        repo: &RepoName,
        number: PullNumber,
        head: &CommitSha,
        title: &str,
        message: &str,
    ) -> Result<MergeOutcome, GitHubError> {
        let path = format!("/repos/{repo}/pulls/{number}/merge");
        let body = json!({
            "sha": head.as_str(),
            "merge_method": "merge",
            "commit_title": title,
            "commit_message": message,
        });
        match self.transport.send(Method::PUT, &path, Some(&body)).await {
            Ok(r) => {
                let m: ApiMergeResult = r.json(&path)?;
                let sha =
                    m.sha
                        .parse()
                        .map_err(|e: crate::types::InvalidId| GitHubError::Malformed {
                            path: path.clone(),
                            source: e.into(),
                        })?;
                Ok(MergeOutcome::Merged { sha })
            }
            Err(GitHubError::Status { status: 409, .. }) => Ok(MergeOutcome::HeadMoved),
            Err(GitHubError::Status {
                status: 405 | 422,
                message,
                ..
            }) => Ok(MergeOutcome::NotMergeable { message }),
            Err(e) => Err(e),
        }
    }

    pub async fn repo(&self, repo: &RepoName) -> Result<ApiRepo, GitHubError> {
        self.get_json(&format!("/repos/{repo}")).await
    }

    /// The open PR from `owner:branch`, if there is one.
    pub(crate) async fn open_pull_for_branch(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<ApiPull>, GitHubError> {
        let head = url_escape(&format!("{}:{branch}", repo.owner()));
        let pulls: Vec<ApiPull> = self
            .get_json(&format!("/repos/{repo}/pulls?state=open&head={head}"))
            .await?;
        Ok(pulls.into_iter().next())
    }

    pub(crate) async fn create_pull(
        &self,
        repo: &RepoName,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<ApiPull, GitHubError> {
        let path = format!("/repos/{repo}/pulls");
        let body = json!({ "title": title, "head": head, "base": base, "body": body });
        self.transport
            .send(Method::POST, &path, Some(&body))
            .await?
            .json(&path)
    }

    pub(crate) async fn update_pull(
        &self,
        repo: &RepoName,
        number: PullNumber,
        fields: &serde_json::Value,
    ) -> Result<ApiPull, GitHubError> {
        let path = format!("/repos/{repo}/pulls/{number}");
        self.transport
            .send(Method::PATCH, &path, Some(fields))
            .await?
            .json(&path)
    }

    pub async fn add_labels(
        &self,
        repo: &RepoName,
        number: PullNumber,
        labels: &[String],
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{repo}/issues/{number}/labels");
        self.transport
            .send(Method::POST, &path, Some(&json!({ "labels": labels })))
            .await?;
        Ok(())
    }

    /// Creates `refs/...` at `sha`; `Ok(false)` when it exists already (422). GitHub creates a
    /// ref atomically, which makes this the executor's at-most-once claim.
    pub async fn create_ref(
        &self,
        repo: &RepoName,
        git_ref: &str,
        sha: &CommitSha,
    ) -> Result<bool, GitHubError> {
        let path = format!("/repos/{repo}/git/refs");
        let body = json!({ "ref": git_ref, "sha": sha.as_str() });
        match self.transport.send(Method::POST, &path, Some(&body)).await {
            Ok(_) => Ok(true),
            Err(GitHubError::Status { status: 422, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a commit object of `tree` on `parents` (no ref moves); returns its SHA.
    pub(crate) async fn create_commit(
        &self,
        repo: &RepoName,
        message: &str,
        tree: &str,
        parents: &[&CommitSha],
    ) -> Result<CommitSha, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Created {
            sha: String,
        }
        let path = format!("/repos/{repo}/git/commits");
        let parents: Vec<&str> = parents.iter().map(|p| p.as_str()).collect();
        let body = json!({ "message": message, "tree": tree, "parents": parents });
        let created: Created = self
            .transport
            .send(Method::POST, &path, Some(&body))
            .await?
            .json(&path)?;
        created
            .sha
            .parse()
            .map_err(|e: InvalidId| GitHubError::Malformed {
                path,
                source: e.into(),
            })
    }

    /// The message of commit `sha`.
    pub async fn commit_message(&self, repo: &RepoName, sha: &str) -> Result<String, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Git {
            message: String,
        }
        #[derive(serde::Deserialize)]
        struct Commit {
            commit: Git,
        }
        let path = format!("/repos/{repo}/commits/{}", url_escape_path(sha));
        let commit: Commit = self.transport.get(&path).await?.json(&path)?;
        Ok(commit.commit.message)
    }

    /// The parents of commit `sha`, in order.
    pub(crate) async fn commit_parents(
        &self,
        repo: &RepoName,
        sha: &str,
    ) -> Result<Vec<String>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Parent {
            sha: String,
        }
        #[derive(serde::Deserialize)]
        struct Commit {
            parents: Vec<Parent>,
        }
        let path = format!("/repos/{repo}/commits/{}", url_escape_path(sha));
        let commit: Commit = self.transport.get(&path).await?.json(&path)?;
        Ok(commit.parents.into_iter().map(|p| p.sha).collect())
    }

    /// The full id of the commit `prefix` (a hex prefix of at least 7 digits) names; GitHub
    /// resolves a short SHA in `GET /repos/{owner}/{repo}/commits/{ref}`
    /// (https://docs.github.com/en/rest/commits/commits#get-a-commit) and answers 422 when
    /// none or several match. Only hex is sent, so a branch name is never taken for a commit.
    pub async fn commit_by_prefix(
        &self,
        repo: &RepoName,
        prefix: &str,
    ) -> Result<Option<CommitSha>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Commit {
            sha: String,
        }
        if prefix.len() < 7 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let path = format!("/repos/{repo}/commits/{}", prefix.to_ascii_lowercase());
        let commit: Commit = match self.transport.get(&path).await {
            Ok(r) => r.json(&path)?,
            Err(e) if matches!(e.status(), Some(404 | 422)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The answer must be the commit asked for, not something else a ref resolved to.
        Ok(commit
            .sha
            .parse::<CommitSha>()
            .ok()
            .filter(|c| c.as_str().starts_with(&prefix.to_ascii_lowercase())))
    }

    /// The object a ref (`refs/...`) points to; `None` when there is no such ref.
    pub(crate) async fn ref_target(
        &self,
        repo: &RepoName,
        full_ref: &str,
    ) -> Result<Option<String>, GitHubError> {
        let short = full_ref.strip_prefix("refs/").unwrap_or(full_ref);
        let path = format!("/repos/{repo}/git/ref/{}", url_escape_path(short));
        match self.transport.get_optional(&path).await? {
            None => Ok(None),
            Some(r) => {
                let r: ApiRef = r.json(&path)?;
                // GitHub answers a prefix of several refs with a list; only an exact name is
                // the ref asked for.
                Ok((r.git_ref == full_ref).then_some(r.object.sha))
            }
        }
    }

    /// Refs under `prefix` (e.g. `prgate/claims/`), as (full ref name, object SHA).
    pub(crate) async fn matching_refs(
        &self,
        repo: &RepoName,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, GitHubError> {
        let refs: Vec<ApiRef> = self
            .get_all(&format!("/repos/{repo}/git/matching-refs/{prefix}"))
            .await?;
        Ok(refs
            .into_iter()
            .map(|r| (r.git_ref, r.object.sha))
            .collect())
    }

    /// Submits a review as the client's account (`APPROVE`, `REQUEST_CHANGES`, `COMMENT`).
    pub(crate) async fn submit_review(
        &self,
        repo: &RepoName,
        number: PullNumber,
        event: &str,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let path = format!("/repos/{repo}/pulls/{number}/reviews");
        let r = self
            .transport
            .send(
                Method::POST,
                &path,
                Some(&json!({ "event": event, "body": body })),
            )
            .await?;
        Ok(r.json::<ApiReview>(&path)?.id)
    }

    /// The commit a branch points to now, through the refs API (never `pull.base.sha`,
    /// which GitHub does not refresh when the base branch moves).
    pub async fn branch_tip(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<CommitSha, GitHubError> {
        let path = format!("/repos/{repo}/git/ref/heads/{}", url_escape_path(branch));
        let r: ApiRef = self.get_json(&path).await?;
        r.object
            .sha
            .parse()
            .map_err(|e: crate::types::InvalidId| GitHubError::Malformed {
                path,
                source: e.into(),
            })
    }

    /// Everything done to `refs/heads/<branch>` (pushes, force pushes, creation, deletion,
    /// merges), oldest first, from the repository activity API: who really moved the ref.
    pub(crate) async fn branch_activity(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Vec<ApiActivity>, GitHubError> {
        let mut list: Vec<ApiActivity> = self
            .get_all(&format!(
                "/repos/{repo}/activity?ref={}&direction=asc",
                url_escape(&format!("refs/heads/{branch}"))
            ))
            .await?;
        // The order of the answer is not trusted; the engine needs chronological order.
        list.sort_by_key(|a| (a.timestamp, a.id));
        Ok(list)
    }

    /// Whether the repository activity API answers for `repo` (one entry asked for):
    /// GitHub Enterprise Server has it from 3.11 on, and without it prgate cannot tell who
    /// pushed to a PR.
    pub(crate) async fn activity_api_answers(&self, repo: &RepoName) -> Result<(), GitHubError> {
        self.transport
            .get(&format!("/repos/{repo}/activity?per_page=1"))
            .await
            .map(|_| ())
    }

    /// The issue events of a PR (`base_ref_changed` among them).
    async fn issue_events(
        &self,
        repo: &RepoName,
        number: PullNumber,
    ) -> Result<Vec<ApiIssueEvent>, GitHubError> {
        self.get_all(&format!("/repos/{repo}/issues/{number}/events"))
            .await
    }

    /// Asks users (logins) and teams (slugs of the repository owner's organisation) to review
    /// a PR; GitHub notifies them.
    pub(crate) async fn request_reviewers(
        &self,
        repo: &RepoName,
        number: PullNumber,
        users: &[String],
        team_slugs: &[String],
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{repo}/pulls/{number}/requested_reviewers");
        let body = json!({ "reviewers": users, "team_reviewers": team_slugs });
        self.transport
            .send(Method::POST, &path, Some(&body))
            .await?;
        Ok(())
    }

    pub async fn comments(
        &self,
        repo: &RepoName,
        number: PullNumber,
    ) -> Result<Vec<ApiComment>, GitHubError> {
        self.get_all(&format!("/repos/{repo}/issues/{number}/comments"))
            .await
    }

    pub async fn comment(
        &self,
        repo: &RepoName,
        number: PullNumber,
        body: &str,
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{repo}/issues/{number}/comments");
        self.transport
            .send(Method::POST, &path, Some(&json!({ "body": body })))
            .await?;
        Ok(())
    }
}

fn decode_content(path: &str, c: ApiContent) -> Result<FileAtCommit, GitHubError> {
    let err = |message: String| GitHubError::Decode {
        path: path.to_string(),
        message,
    };
    if c.encoding != "base64" {
        return Err(err(format!(
            "content encoding {:?}, expected base64",
            c.encoding
        )));
    }
    let cleaned: String = c.content.chars().filter(|ch| !ch.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|e| GitHubError::Malformed {
            path: path.to_string(),
            source: e.into(),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| err("file is not UTF-8".into()))?;
    let blob_sha = c
        .sha
        .parse()
        .map_err(|e: crate::types::InvalidId| GitHubError::Malformed {
            path: path.to_string(),
            source: e.into(),
        })?;
    Ok(FileAtCommit { blob_sha, text })
}

/// What RFC 3986 leaves unreserved (letters, digits, `-._~`) stays; everything else is
/// percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Escapes a query value or one path segment (branch names may hold `/`, `#`, `&`).
fn url_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Escapes a repository path, keeping its `/` separators.
fn url_escape_path(s: &str) -> String {
    s.split('/').map(url_escape).collect::<Vec<_>>().join("/")
}

/// Who prgate is on the code host, to tell what it wrote (its statuses, its comments) from what
/// anyone else did.
#[derive(Debug, Clone)]
pub(crate) enum OwnAccount {
    /// A token's user: judged by id, never by login, since a user's login can be renamed and
    /// registered again by someone else.
    User(crate::policy::Account),
    /// A GitHub App's bot, `<slug>[bot]`. Its login cannot be taken by a user or an
    /// organisation (their logins hold only letters, digits and hyphens), and its user id is
    /// only answered at `/users/<slug>[bot]`, outside any installation the App's token is for.
    AppBot(Login),
}

impl OwnAccount {
    /// Whether `user` is this account.
    pub(crate) fn wrote(&self, user: &ApiUser) -> bool {
        match self {
            OwnAccount::User(me) => user.is(me),
            OwnAccount::AppBot(login) => Login::new(user.login.clone()) == *login,
        }
    }

    pub(crate) fn login(&self) -> &Login {
        match self {
            OwnAccount::User(me) => &me.login,
            OwnAccount::AppBot(login) => login,
        }
    }
}
