//! The facts of one PR in one GraphQL round trip (`POST /graphql`): the PR, its base branch's
//! tip and the policy blob there, reviews, commits, changed files, the latest retarget and the
//! members of the teams the policy names. What the query cannot say for sure (a connection with
//! more pages, a commit whose author is no `User`, a rename) is read again over REST, never
//! guessed. The query text is public so that a test validates exactly what prgate sends
//! against GitHub's published schema.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::models::{
    ApiBranchRef, ApiCommit, ApiFile, ApiGitCommit, ApiGitIdentity, ApiLabel, ApiPull, ApiRepoRef,
    ApiReview, ApiTeam, ApiUser,
};
use super::{FileAtCommit, GitHub, GitHubError};
use crate::policy::{POLICY_PATH, TeamRef};
use crate::types::{CommitSha, PullNumber, RepoName, UserId};

/// The PR's facts. `{TEAMS}` is replaced by one aliased `organization { team { members } }`
/// block per team (see [`pull_facts_query`]).
const PULL_FACTS: &str = r#"query PrgatePullFacts($owner: String!, $name: String!, $number: Int!, $policyPath: String!{TEAM_VARS}) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      number
      title
      url
      state
      isDraft
      merged
      mergedAt
      createdAt
      author { __typename login ... on User { databaseId } ... on Bot { databaseId } }
      headRefName
      headRefOid
      headRepository { nameWithOwner }
      baseRefName
      baseRef {
        target {
          __typename
          oid
          ... on Commit {
            file(path: $policyPath) {
              oid
              object { __typename ... on Blob { oid text isTruncated isBinary } }
            }
          }
        }
      }
      labels(first: 100) { nodes { name } pageInfo { hasNextPage } }
      reviewRequests(first: 100) {
        nodes {
          requestedReviewer {
            __typename
            ... on User { login databaseId }
            ... on Bot { login databaseId }
            ... on Team { slug }
          }
        }
        pageInfo { hasNextPage }
      }
      reviews(first: 100) {
        nodes {
          fullDatabaseId
          state
          body
          submittedAt
          commit { oid }
          author { __typename login ... on User { databaseId } ... on Bot { databaseId } }
        }
        pageInfo { hasNextPage }
      }
      commits(first: 100) {
        totalCount
        nodes {
          commit {
            oid
            author { email user { login databaseId } }
            committer { email user { login databaseId } }
          }
        }
        pageInfo { hasNextPage }
      }
      files(first: 100) { totalCount nodes { path changeType } pageInfo { hasNextPage } }
      timelineItems(itemTypes: [BASE_REF_CHANGED_EVENT], last: 1) {
        nodes { __typename ... on BaseRefChangedEvent { createdAt } }
      }
    }
  }{TEAMS}
}
"#;

/// Members of teams only: the follow-up when the policy read names a team the first query did
/// not ask for.
const TEAM_MEMBERS: &str = r#"query PrgateTeamMembers({TEAM_VARS_ONLY}) {{TEAMS}
}
"#;

const TEAM_BLOCK: &str = r#"
  team{i}: organization(login: $org{i}) {
    team(slug: $slug{i}) {
      members(first: 100) { nodes { databaseId } pageInfo { hasNextPage } }
    }
  }"#;

fn team_parts(teams: usize) -> (Vec<String>, String) {
    let vars = (0..teams)
        .map(|i| format!("$org{i}: String!, $slug{i}: String!"))
        .collect();
    let blocks = (0..teams)
        .map(|i| TEAM_BLOCK.replace("{i}", &i.to_string()))
        .collect();
    (vars, blocks)
}

/// The document prgate sends to read a PR's facts, asking for the members of `teams` teams.
pub fn pull_facts_query(teams: usize) -> String {
    let (vars, blocks) = team_parts(teams);
    let vars: String = vars.iter().map(|v| format!(", {v}")).collect();
    PULL_FACTS
        .replace("{TEAM_VARS}", &vars)
        .replace("{TEAMS}", &blocks)
}

/// The document prgate sends to read the members of `teams` teams (at least one).
pub fn team_members_query(teams: usize) -> String {
    let (vars, blocks) = team_parts(teams.max(1));
    TEAM_MEMBERS
        .replace("{TEAM_VARS_ONLY}", &vars.join(", "))
        .replace("{TEAMS}", &blocks)
}

/// The variables of [`pull_facts_query`] for one PR.
pub fn pull_facts_variables(repo: &RepoName, number: PullNumber, teams: &[TeamRef]) -> Value {
    let mut vars = json!({
        "owner": repo.owner(),
        "name": repo.name(),
        "number": number.0,
        "policyPath": POLICY_PATH,
    });
    add_team_variables(&mut vars, teams);
    vars
}

/// The variables of [`team_members_query`].
pub fn team_members_variables(teams: &[TeamRef]) -> Value {
    let mut vars = json!({});
    add_team_variables(&mut vars, teams);
    vars
}

fn add_team_variables(vars: &mut Value, teams: &[TeamRef]) {
    for (i, t) in teams.iter().enumerate() {
        vars[format!("org{i}")] = json!(t.org);
        vars[format!("slug{i}")] = json!(t.slug);
    }
}

/// What one facts query told about a PR. `pull` is shaped like the REST answer so that the
/// rest of prgate reads it as before; the other fields are still to be checked (see
/// [`PullRead::facts`]).
#[derive(Debug, Clone)]
pub(crate) struct PullRead {
    pub pull: ApiPull,
    rest: GqlPullRest,
    teams: BTreeMap<TeamRef, Option<Value>>,
    /// A GraphQL error that came with a usable PR: the facts are then an error.
    failure: Option<String>,
}

/// The parts of the facts that need checking before use, each `None` where GraphQL cannot
/// give it completely (read over REST instead).
#[derive(Debug, Clone)]
pub(crate) struct ReadFacts {
    pub tip: CommitSha,
    /// `None`: there is no policy file (or no blob) at the tip.
    pub policy: Option<FileAtCommit>,
    pub labels: Vec<String>,
    pub reviews: Option<Vec<ApiReview>>,
    /// `None`: read commits and files over REST (more than a page, a rename, or a commit whose
    /// author or committer is not a `User` GitHub's GraphQL can name, such as a bot).
    pub commits_and_files: Option<(Vec<ApiCommit>, Vec<ApiFile>)>,
    pub base_changed_at: Option<DateTime<Utc>>,
    pub team_members: BTreeMap<TeamRef, BTreeSet<UserId>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlPull {
    number: u64,
    title: String,
    url: String,
    state: String,
    is_draft: bool,
    merged: bool,
    merged_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    author: Option<GqlActor>,
    head_ref_name: String,
    head_ref_oid: String,
    head_repository: Option<GqlRepo>,
    base_ref_name: String,
    #[serde(flatten)]
    rest: GqlPullRest,
}

/// Checked only when the facts are used, so that a partial answer still names the head.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlPullRest {
    #[serde(default)]
    base_ref: Option<Value>,
    #[serde(default)]
    labels: Option<Value>,
    #[serde(default)]
    review_requests: Option<Value>,
    #[serde(default)]
    reviews: Option<Value>,
    #[serde(default)]
    commits: Option<Value>,
    #[serde(default)]
    files: Option<Value>,
    #[serde(default)]
    timeline_items: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GqlActor {
    #[serde(rename = "__typename")]
    typename: String,
    login: String,
    #[serde(default)]
    database_id: Option<u64>,
}

impl GqlActor {
    /// The login as REST spells it: GraphQL names a Bot without the `[bot]` suffix that REST,
    /// webhooks and prgate's own account carry, and only the type tells it from a user who
    /// holds the bare login.
    fn rest_login(&self) -> String {
        if self.typename == "Bot" && !self.login.ends_with("[bot]") {
            format!("{}[bot]", self.login)
        } else {
            self.login.clone()
        }
    }

    /// The REST shape of the account; `None` without a numeric id (prgate checks ids).
    pub(super) fn user(&self) -> Option<ApiUser> {
        Some(ApiUser {
            login: self.rest_login(),
            id: self.database_id?,
            kind: self.typename.clone(),
            email: None,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlRepo {
    name_with_owner: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection<T> {
    nodes: Vec<Option<T>>,
    #[serde(default)]
    page_info: Option<PageInfo>,
    #[serde(default)]
    total_count: Option<u64>,
}

impl<T> Connection<T> {
    /// The nodes when the connection is complete: one page, no null node, and as many as
    /// the total says.
    fn complete(self) -> Option<Vec<T>> {
        if self.page_info.as_ref().is_none_or(|p| p.has_next_page) {
            return None;
        }
        let n = self.nodes.len() as u64;
        let nodes: Option<Vec<T>> = self.nodes.into_iter().collect();
        let nodes = nodes?;
        if self.total_count.is_some_and(|t| t != n) {
            return None;
        }
        Some(nodes)
    }
}

#[derive(Debug, Deserialize)]
struct GqlBaseRef {
    target: Option<GqlTarget>,
}

#[derive(Debug, Deserialize)]
struct GqlTarget {
    #[serde(rename = "__typename")]
    typename: String,
    oid: String,
    #[serde(default)]
    file: Option<GqlTreeEntry>,
}

#[derive(Debug, Deserialize)]
struct GqlTreeEntry {
    object: Option<GqlBlob>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlBlob {
    #[serde(rename = "__typename")]
    typename: String,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_truncated: Option<bool>,
    #[serde(default)]
    is_binary: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct GqlLabel {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlReviewRequest {
    requested_reviewer: Option<GqlReviewer>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlReviewer {
    #[serde(rename = "__typename")]
    typename: String,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    database_id: Option<u64>,
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlReview {
    full_database_id: Option<String>,
    state: String,
    body: String,
    submitted_at: Option<DateTime<Utc>>,
    commit: Option<GqlOid>,
    author: Option<GqlActor>,
}

#[derive(Debug, Deserialize)]
struct GqlOid {
    oid: String,
}

#[derive(Debug, Deserialize)]
struct GqlPullCommit {
    commit: GqlCommit,
}

#[derive(Debug, Deserialize)]
struct GqlCommit {
    oid: String,
    author: Option<GqlGitActor>,
    committer: Option<GqlGitActor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlGitActor {
    email: Option<String>,
    user: Option<GqlUser>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlUser {
    login: String,
    database_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlFile {
    path: String,
    change_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlTimelineItem {
    #[serde(rename = "__typename")]
    typename: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct GqlOrg {
    team: Option<GqlTeam>,
}

#[derive(Debug, Deserialize)]
struct GqlTeam {
    members: Connection<GqlMember>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlMember {
    database_id: Option<u64>,
}

/// One GraphQL answer: `data` and any `errors` (GitHub answers 200 with both when a part of
/// the query failed).
#[derive(Debug, Deserialize)]
pub(super) struct Answer {
    #[serde(default)]
    pub(super) data: Option<Value>,
    #[serde(default)]
    pub(super) errors: Option<Vec<AnswerError>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AnswerError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    path: Option<Vec<Value>>,
}

pub(super) fn gql_error(operation: &str, message: impl Into<String>) -> GitHubError {
    GitHubError::GraphQl {
        operation: operation.to_string(),
        message: message.into(),
    }
}

pub(super) fn describe_errors(errors: &[AnswerError]) -> String {
    let text = errors
        .iter()
        .map(|e| {
            let at = e
                .path
                .as_ref()
                .map(|p| {
                    let p: Vec<String> = p
                        .iter()
                        .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                        .collect();
                    format!(" (at {})", p.join("."))
                })
                .unwrap_or_default();
            match &e.kind {
                Some(k) => format!("{k}: {}{at}", e.message),
                None => format!("{}{at}", e.message),
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    crate::render::truncate_chars(&text, 300)
}

fn decode<T: DeserializeOwned>(operation: &str, what: &str, v: Value) -> Result<T, GitHubError> {
    serde_json::from_value(v).map_err(|e| gql_error(operation, format!("{what}: {e}")))
}

pub(super) async fn post(
    gh: &GitHub,
    repo: &RepoName,
    operation: &str,
    query: String,
    variables: Value,
) -> Result<Answer, GitHubError> {
    let body = json!({ "query": query, "variables": variables, "operationName": operation });
    let r = gh.transport().graphql(repo, &body).await?;
    serde_json::from_slice(&r.body).map_err(|e| gql_error(operation, e.to_string()))
}

/// The smallest question about a repository: whether GraphQL answers at all.
const PROBE: &str = "query PrgateConfigCheck($owner: String!, $name: String!) {\n  repository(owner: $owner, name: $name) { nameWithOwner }\n}";

/// Asks GraphQL for `repo`'s name, with prgate's credentials: `config check`'s proof that the
/// GraphQL endpoint answers as GitHub's does. An answer with errors only is an error.
pub(crate) async fn probe(gh: &GitHub, repo: &RepoName) -> Result<(), GitHubError> {
    const OP: &str = "PrgateConfigCheck";
    let variables = json!({ "owner": repo.owner(), "name": repo.name() });
    let answer = post(gh, repo, OP, PROBE.to_string(), variables).await?;
    let found = answer
        .data
        .as_ref()
        .and_then(|d| d.get("repository"))
        .is_some_and(|r| !r.is_null());
    match answer.errors {
        _ if found => Ok(()),
        Some(errors) if !errors.is_empty() => Err(gql_error(OP, describe_errors(&errors))),
        _ => Err(gql_error(OP, format!("no repository {repo} in the answer"))),
    }
}

/// Reads a PR's facts in one call, asking for the members of `teams` (those the last policy
/// seen on its base branch named). An answer without the PR is an error; an answer with the
/// PR and errors elsewhere is a [`PullRead`] whose facts are an error, so that the PR's head
/// still gets an `error` status.
pub(crate) async fn read_pull(
    gh: &GitHub,
    repo: &RepoName,
    number: PullNumber,
    teams: &[TeamRef],
) -> Result<PullRead, GitHubError> {
    const OP: &str = FACTS_OP;
    let answer = post(
        gh,
        repo,
        OP,
        pull_facts_query(teams.len()),
        pull_facts_variables(repo, number, teams),
    )
    .await?;
    let errors = answer.errors.unwrap_or_default();
    let mut data = answer.data.unwrap_or(Value::Null);
    let pull_value = data
        .get_mut("repository")
        .and_then(|r| r.get_mut("pullRequest"))
        .map(Value::take)
        .unwrap_or(Value::Null);
    if pull_value.is_null() {
        // GitHub says NOT_FOUND for a missing PR; the caller treats it as REST's 404.
        let not_found = errors
            .iter()
            .any(|e| e.kind.as_deref() == Some("NOT_FOUND"));
        if not_found {
            return Err(GitHubError::Status {
                method: "POST".into(),
                path: format!("/graphql (repository {repo}, pullRequest {number})"),
                status: 404,
                message: describe_errors(&errors),
            });
        }
        return Err(gql_error(
            OP,
            if errors.is_empty() {
                format!("no pull request {number} in the answer")
            } else {
                describe_errors(&errors)
            },
        ));
    }
    let p: GqlPull = decode(OP, "pullRequest", pull_value)?;
    let pull = rest_shape(repo, &p);
    let team_values = teams
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v = data.get_mut(format!("team{i}")).map(Value::take);
            (t.clone(), v)
        })
        .collect();
    Ok(PullRead {
        pull,
        rest: p.rest,
        teams: team_values,
        failure: (!errors.is_empty()).then(|| describe_errors(&errors)),
    })
}

/// The PR as its REST answer would show it, for the code that reads `ApiPull`.
fn rest_shape(repo: &RepoName, p: &GqlPull) -> ApiPull {
    let mut requested_reviewers = Vec::new();
    let mut requested_teams = Vec::new();
    let requests: Option<Connection<GqlReviewRequest>> = p
        .rest
        .review_requests
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    // Who is requested only saves asking twice; a list that cannot be read is empty.
    for r in requests
        .map(|c| c.nodes)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .filter_map(|r| r.requested_reviewer)
    {
        match (r.typename.as_str(), r.login, r.database_id, r.slug) {
            ("Team", _, _, Some(slug)) => requested_teams.push(ApiTeam { slug }),
            (kind, Some(login), Some(id), _) => requested_reviewers.push(ApiUser {
                // GraphQL drops a Bot's `[bot]`; REST's spelling is prgate's.
                login: if kind == "Bot" && !login.ends_with("[bot]") {
                    format!("{login}[bot]")
                } else {
                    login
                },
                id,
                kind: kind.to_string(),
                email: None,
            }),
            _ => {}
        }
    }
    let labels: Vec<ApiLabel> = p
        .rest
        .labels
        .clone()
        .and_then(|v| serde_json::from_value::<Connection<GqlLabel>>(v).ok())
        .map(|c| c.nodes)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|l| ApiLabel { name: l.name })
        .collect();
    ApiPull {
        number: p.number,
        // GraphQL's MERGED is REST's `closed` with `merged: true`.
        state: if p.state == "OPEN" { "open" } else { "closed" }.to_string(),
        draft: p.is_draft,
        merged: p.merged,
        merged_at: p.merged_at,
        merge_commit_sha: None,
        user: p.author.as_ref().and_then(GqlActor::user),
        head: ApiBranchRef {
            git_ref: p.head_ref_name.clone(),
            sha: p.head_ref_oid.clone(),
            repo: p.head_repository.as_ref().map(|r| ApiRepoRef {
                full_name: r.name_with_owner.clone(),
            }),
        },
        base: ApiBranchRef {
            git_ref: p.base_ref_name.clone(),
            sha: String::new(),
            repo: Some(ApiRepoRef {
                full_name: repo.to_string(),
            }),
        },
        labels,
        created_at: Some(p.created_at),
        title: p.title.clone(),
        body: None,
        html_url: p.url.clone(),
        merged_by: None,
        requested_reviewers,
        requested_teams,
    }
}

impl PullRead {
    /// Checks and decodes the facts. Anything missing, null where it must not be, or an
    /// error in the answer is an error: prgate never decides on a guess.
    pub fn facts(&self) -> Result<ReadFacts, GitHubError> {
        const OP: &str = FACTS_OP;
        if let Some(f) = &self.failure {
            return Err(gql_error(OP, f.clone()));
        }
        let missing = facts_missing;
        let r = &self.rest;

        let base_ref = r.base_ref.clone().unwrap_or(Value::Null);
        if base_ref.is_null() {
            return Err(gql_error(
                OP,
                format!(
                    "the base branch {} no longer exists",
                    self.pull.base.git_ref
                ),
            ));
        }
        let base: GqlBaseRef = decode(OP, "baseRef", base_ref)?;
        let target = base.target.ok_or_else(|| missing("baseRef.target"))?;
        if target.typename != "Commit" {
            return Err(gql_error(
                OP,
                format!("the base branch points to a {}", target.typename),
            ));
        }
        let tip: CommitSha = target
            .oid
            .parse()
            .map_err(|e: crate::types::InvalidId| gql_error(OP, format!("baseRef oid: {e}")))?;
        let policy = match target.file.and_then(|f| f.object) {
            // No such path at the tip, or a folder there: no policy.
            None => None,
            Some(o) if o.typename != "Blob" => None,
            Some(o) => {
                if o.is_truncated != Some(false) || o.is_binary == Some(true) {
                    return Err(gql_error(
                        OP,
                        format!("GitHub did not give the whole text of {POLICY_PATH}"),
                    ));
                }
                let text = o.text.ok_or_else(|| missing("policy text"))?;
                let blob_sha = o
                    .oid
                    .ok_or_else(|| missing("policy blob oid"))?
                    .parse()
                    .map_err(|e: crate::types::InvalidId| {
                        gql_error(OP, format!("policy blob oid: {e}"))
                    })?;
                Some(FileAtCommit { blob_sha, text })
            }
        };

        let labels: Connection<GqlLabel> = decode(
            OP,
            "labels",
            r.labels.clone().ok_or_else(|| missing("labels"))?,
        )?;
        let labels = labels
            .complete()
            .ok_or_else(|| gql_error(OP, "the PR has more labels than one page lists"))?
            .into_iter()
            .map(|l| l.name)
            .collect();

        let reviews = reviews_of(r.reviews.clone().ok_or_else(|| missing("reviews"))?)?;

        let commits: Connection<GqlPullCommit> = decode(
            OP,
            "commits",
            r.commits.clone().ok_or_else(|| missing("commits"))?,
        )?;
        let files: Connection<GqlFile> = decode(
            OP,
            "files",
            r.files.clone().ok_or_else(|| missing("files"))?,
        )?;
        let commits_and_files = match (commits.complete(), files.complete()) {
            (Some(c), Some(f)) => rest_commits_and_files(c, f),
            _ => None,
        };

        let base_changed_at = last_retarget(
            r.timeline_items
                .clone()
                .ok_or_else(|| missing("timelineItems"))?,
        )?;

        let team_members = self
            .teams
            .iter()
            .map(|(t, v)| Ok((t.clone(), members_of(OP, t, v.clone())?)))
            .collect::<Result<BTreeMap<_, _>, GitHubError>>()?;

        Ok(ReadFacts {
            tip,
            policy,
            labels,
            reviews,
            commits_and_files,
            base_changed_at,
            team_members,
        })
    }
}

/// The name of the query that reads a PR's facts, for its errors.
const FACTS_OP: &str = "PrgatePullFacts";

/// An answer to the facts query that lacks `what`.
fn facts_missing(what: &str) -> GitHubError {
    gql_error(FACTS_OP, format!("the answer has no {what}"))
}

/// The PR's reviews in REST's shape, or `None` when one page does not list them all.
fn reviews_of(value: Value) -> Result<Option<Vec<ApiReview>>, GitHubError> {
    let missing = facts_missing;
    let reviews: Connection<GqlReview> = decode(FACTS_OP, "reviews", value)?;
    Ok(match reviews.complete() {
        None => None,
        Some(list) => Some(
            list.into_iter()
                .map(|rv| {
                    let id = rv
                        .full_database_id
                        .as_deref()
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| missing("review id"))?;
                    Ok(ApiReview {
                        id,
                        // A deleted account ("ghost") is `null`, as in REST.
                        user: match &rv.author {
                            None => None,
                            Some(a) => Some(
                                a.user()
                                    .ok_or_else(|| missing("numeric id of a review's author"))?,
                            ),
                        },
                        state: rv.state,
                        commit_id: rv.commit.map(|c| c.oid),
                        submitted_at: rv.submitted_at,
                        body: Some(rv.body),
                    })
                })
                .collect::<Result<Vec<_>, GitHubError>>()?,
        ),
    })
}

/// When the PR's base branch last changed (its `BaseRefChangedEvent`s), if it ever did.
fn last_retarget(value: Value) -> Result<Option<DateTime<Utc>>, GitHubError> {
    let missing = facts_missing;
    let timeline: Connection<GqlTimelineItem> = decode(FACTS_OP, "timelineItems", value)?;
    let mut base_changed_at = None;
    for item in timeline.nodes {
        let item = item.ok_or_else(|| missing("a timeline item"))?;
        if item.typename != "BaseRefChangedEvent" {
            return Err(gql_error(
                FACTS_OP,
                format!("unexpected timeline item {}", item.typename),
            ));
        }
        let at = item.created_at.ok_or_else(|| missing("retarget time"))?;
        base_changed_at = base_changed_at.max(Some(at));
    }
    Ok(base_changed_at)
}

/// Commits and files in REST's shape, or `None` when GraphQL cannot say all REST would: a
/// rename (no previous path in GraphQL) or a commit identity GraphQL cannot name (`user` is a
/// `User`, so a bot's commits show `null` where REST names the bot).
fn rest_commits_and_files(
    commits: Vec<GqlPullCommit>,
    files: Vec<GqlFile>,
) -> Option<(Vec<ApiCommit>, Vec<ApiFile>)> {
    let mut out_files = Vec::with_capacity(files.len());
    for f in files {
        if matches!(f.change_type.as_str(), "RENAMED" | "COPIED") {
            return None;
        }
        out_files.push(ApiFile {
            filename: f.path,
            status: f.change_type.to_ascii_lowercase(),
            previous_filename: None,
        });
    }
    let person = |a: &Option<GqlGitActor>| -> Option<(ApiGitIdentity, ApiUser)> {
        let a = a.as_ref()?;
        let u = a.user.as_ref()?;
        Some((
            ApiGitIdentity {
                name: String::new(),
                email: a.email.clone()?,
                date: None,
            },
            ApiUser {
                login: u.login.clone(),
                id: u.database_id?,
                kind: "User".into(),
                email: None,
            },
        ))
    };
    let mut out_commits = Vec::with_capacity(commits.len());
    for c in commits {
        let (author_id, author) = person(&c.commit.author)?;
        let (committer_id, committer) = person(&c.commit.committer)?;
        out_commits.push(ApiCommit {
            sha: c.commit.oid,
            commit: ApiGitCommit {
                author: Some(author_id),
                committer: Some(committer_id),
                message: String::new(),
            },
            author: Some(author),
            committer: Some(committer),
        });
    }
    Some((out_commits, out_files))
}

fn members_of(
    operation: &str,
    team: &TeamRef,
    v: Option<Value>,
) -> Result<BTreeSet<UserId>, GitHubError> {
    let not_found = || {
        gql_error(
            operation,
            format!(
                "team {}/{} not found (or not visible to prgate)",
                team.org, team.slug
            ),
        )
    };
    let org: Option<GqlOrg> = decode(operation, "organization", v.unwrap_or(Value::Null))?;
    let team_v = org.and_then(|o| o.team).ok_or_else(not_found)?;
    let members = team_v.members.complete().ok_or_else(|| {
        gql_error(
            operation,
            format!(
                "team {}/{} has more members than one page lists",
                team.org, team.slug
            ),
        )
    })?;
    members
        .into_iter()
        .map(|m| {
            m.database_id
                .map(UserId)
                .ok_or_else(|| gql_error(operation, "a team member without a numeric id"))
        })
        .collect()
}

/// The members of `teams`, in one call (the follow-up when the policy names teams the facts
/// query did not ask for).
pub(crate) async fn read_team_members(
    gh: &GitHub,
    repo: &RepoName,
    teams: &[TeamRef],
) -> Result<BTreeMap<TeamRef, BTreeSet<UserId>>, GitHubError> {
    const OP: &str = "PrgateTeamMembers";
    if teams.is_empty() {
        return Ok(BTreeMap::new());
    }
    let answer = post(
        gh,
        repo,
        OP,
        team_members_query(teams.len()),
        team_members_variables(teams),
    )
    .await?;
    if let Some(errors) = answer.errors.filter(|e| !e.is_empty()) {
        return Err(gql_error(OP, describe_errors(&errors)));
    }
    let mut data = answer.data.unwrap_or(Value::Null);
    teams
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v = data.get_mut(format!("team{i}")).map(Value::take);
            Ok((t.clone(), members_of(OP, t, v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_blocks_are_aliased_and_declared() {
        let q = pull_facts_query(2);
        assert!(q.contains("$org1: String!, $slug1: String!"));
        assert!(q.contains("team1: organization(login: $org1)"));
        assert!(!q.contains("{TEAM"));
        let q = team_members_query(1);
        assert!(q.starts_with("query PrgateTeamMembers($org0: String!, $slug0: String!)"));
    }

    #[test]
    fn a_connection_with_more_pages_is_not_complete() {
        let c: Connection<GqlLabel> = serde_json::from_value(json!({
            "nodes": [{"name": "a"}], "pageInfo": {"hasNextPage": true}
        }))
        .unwrap();
        assert!(c.complete().is_none());
        let c: Connection<GqlLabel> = serde_json::from_value(json!({
            "nodes": [{"name": "a"}], "pageInfo": {"hasNextPage": false}, "totalCount": 2
        }))
        .unwrap();
        assert!(c.complete().is_none());
    }
}
