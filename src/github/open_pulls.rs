//! The reconciler's listing: a repository's open PRs, 100 to a GraphQL query, each with what
//! tells whether its decision may have changed (its last update, its latest review and
//! dismissal, its head, and the latest `prgate/approval` status there with its creator), and
//! per governed branch the policy file and when it last changed. An idle pass over N open PRs
//! costs N/100 queries instead of one facts query per PR.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::graphql::{GqlActor, describe_errors, gql_error, post};
use super::models::ApiUser;
use super::{GitHub, GitHubError};
use crate::APPROVAL_CONTEXT;
use crate::policy::POLICY_PATH;
use crate::types::RepoName;

const OPERATION: &str = "PrgateOpenPulls";

/// `{BRANCH_VARS}` and `{BRANCHES}` are one variable and one aliased block per governed
/// branch, on the first page only (see [`open_pulls_query`]). Reviews are read ten from the
/// end: GitHub orders them by creation, and a review begun earlier may be submitted later.
const OPEN_PULLS: &str = r#"query PrgateOpenPulls($owner: String!, $name: String!, $after: String, $context: String!, $policyPath: String!{BRANCH_VARS}) {
  repository(owner: $owner, name: $name) {{BRANCHES}
    pullRequests(states: [OPEN], first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        createdAt
        updatedAt
        isInMergeQueue
        headRefOid
        baseRefName
        reviews(last: 10) { nodes { submittedAt } }
        timelineItems(last: 1, itemTypes: [REVIEW_DISMISSED_EVENT]) {
          nodes { __typename ... on ReviewDismissedEvent { createdAt } }
        }
        commits(last: 1) {
          nodes {
            commit {
              oid
              status {
                context(name: $context) {
                  state
                  createdAt
                  creator { __typename login ... on User { databaseId } ... on Bot { databaseId } }
                }
              }
            }
          }
        }
      }
    }
  }
}"#;

const BRANCH_BLOCK: &str = r#"
    branch{i}: ref(qualifiedName: $branch{i}) {
      target {
        __typename
        ... on Commit {
          history(first: 1, path: $policyPath) { nodes { committedDate } }
          file(path: $policyPath) { oid object { __typename ... on Blob { text isTruncated } } }
        }
      }
    }"#;

/// The document of one listing page, with a block for each of `branches` governed branches
/// (the first page asks for them; the others pass 0).
pub fn open_pulls_query(branches: usize) -> String {
    let vars: String = (0..branches)
        .map(|i| format!(", $branch{i}: String!"))
        .collect();
    let blocks: String = (0..branches)
        .map(|i| BRANCH_BLOCK.replace("{i}", &i.to_string()))
        .collect();
    OPEN_PULLS
        .replace("{BRANCH_VARS}", &vars)
        .replace("{BRANCHES}", &blocks)
}

/// The variables of [`open_pulls_query`].
pub fn open_pulls_variables(repo: &RepoName, after: Option<&str>, branches: &[String]) -> Value {
    let mut vars = json!({
        "owner": repo.owner(),
        "name": repo.name(),
        "after": after,
        "context": APPROVAL_CONTEXT,
        "policyPath": POLICY_PATH,
    });
    for (i, b) in branches.iter().enumerate() {
        vars[format!("branch{i}")] = json!(format!("refs/heads/{b}"));
    }
    vars
}

/// One open PR as the listing shows it.
#[derive(Debug, Clone)]
pub(crate) struct ListedPull {
    pub number: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub in_merge_queue: bool,
    pub head: String,
    pub base_ref: String,
    /// The latest `submittedAt` among the last reviews.
    pub last_review_at: Option<DateTime<Utc>>,
    pub last_dismissal_at: Option<DateTime<Utc>>,
    /// The PR's last commit as its commit list shows it (`None` when it cannot be read).
    pub last_commit: Option<String>,
    /// The latest `prgate/approval` status on the last commit, by anyone.
    pub approval: Option<ShownStatus>,
}

/// A status as the code host shows it.
#[derive(Debug, Clone)]
pub(crate) struct ShownStatus {
    /// Lower case, as REST spells it (`pending`, `success`, ...).
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub creator: Option<ApiUser>,
}

/// A governed branch's policy file as the listing read it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BranchPolicy {
    /// The file's text; `None` when there is none, or it is not text, or it was cut.
    pub text: Option<String>,
    /// Whether the file is present but could not be read whole.
    pub unreadable: bool,
    /// The file's blob id (`None`: no file).
    pub blob: Option<String>,
    /// When the commit that last changed the file was committed.
    pub changed_at: Option<DateTime<Utc>>,
}

/// A repository's open PRs and its governed branches' policies.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenPulls {
    pub pulls: Vec<ListedPull>,
    pub policies: BTreeMap<String, BranchPolicy>,
    /// Queries spent.
    pub pages: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlPage {
    page_info: GqlPageInfo,
    nodes: Vec<Option<GqlListed>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlPageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlListed {
    number: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    is_in_merge_queue: bool,
    head_ref_oid: String,
    base_ref_name: String,
    reviews: Option<GqlNodes<GqlSubmitted>>,
    timeline_items: Option<GqlNodes<GqlDated>>,
    commits: GqlNodes<GqlCommitNode>,
}

#[derive(Deserialize)]
struct GqlNodes<T> {
    #[serde(default = "Vec::new")]
    nodes: Vec<Option<T>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlSubmitted {
    submitted_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlDated {
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct GqlCommitNode {
    commit: GqlListedCommit,
}

#[derive(Deserialize)]
struct GqlListedCommit {
    oid: String,
    status: Option<GqlStatus>,
}

#[derive(Deserialize)]
struct GqlStatus {
    context: Option<GqlContext>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlContext {
    state: String,
    created_at: DateTime<Utc>,
    creator: Option<GqlActor>,
}

#[derive(Deserialize)]
struct GqlBranch {
    target: Option<GqlBranchTarget>,
}

#[derive(Deserialize)]
struct GqlBranchTarget {
    history: Option<GqlNodes<GqlCommitted>>,
    file: Option<GqlFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlCommitted {
    committed_date: DateTime<Utc>,
}

#[derive(Deserialize)]
struct GqlFile {
    #[serde(default)]
    oid: Option<String>,
    object: Option<GqlBlob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlBlob {
    #[serde(rename = "__typename")]
    typename: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_truncated: bool,
}

impl GqlListed {
    fn listed(self) -> ListedPull {
        let latest = |dates: Vec<Option<DateTime<Utc>>>| dates.into_iter().flatten().max();
        let last_commit = self.commits.nodes.into_iter().flatten().last();
        let approval = last_commit
            .as_ref()
            .and_then(|c| c.commit.status.as_ref())
            .and_then(|s| s.context.as_ref())
            .map(|c| ShownStatus {
                state: c.state.to_ascii_lowercase(),
                created_at: c.created_at,
                creator: c.creator.as_ref().and_then(GqlActor::user),
            });
        ListedPull {
            number: self.number,
            created_at: self.created_at,
            updated_at: self.updated_at,
            in_merge_queue: self.is_in_merge_queue,
            head: self.head_ref_oid,
            base_ref: self.base_ref_name,
            last_review_at: latest(
                self.reviews
                    .map(|r| r.nodes)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.and_then(|r| r.submitted_at))
                    .collect(),
            ),
            last_dismissal_at: latest(
                self.timeline_items
                    .map(|t| t.nodes)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| t.and_then(|t| t.created_at))
                    .collect(),
            ),
            last_commit: last_commit.map(|c| c.commit.oid),
            approval,
        }
    }
}

fn branch_policy(v: Value) -> Result<BranchPolicy, serde_json::Error> {
    let b: Option<GqlBranch> = serde_json::from_value(v)?;
    let Some(target) = b.and_then(|b| b.target) else {
        return Ok(BranchPolicy::default());
    };
    let changed_at = target
        .history
        .and_then(|h| h.nodes.into_iter().flatten().next())
        .map(|c| c.committed_date);
    let blob = target.file.as_ref().and_then(|f| f.oid.clone());
    let (text, unreadable) = match target.file.and_then(|f| f.object) {
        None => (None, false),
        Some(b) if b.typename == "Blob" && !b.is_truncated && b.text.is_some() => (b.text, false),
        Some(_) => (None, true),
    };
    Ok(BranchPolicy {
        text,
        unreadable,
        blob,
        changed_at,
    })
}

/// Lists `repo`'s open PRs, and the policy of each of `branches`. Any error in an answer is
/// an error of the whole listing: a pass never decides from half a list.
pub(crate) async fn list_open_pulls(
    gh: &GitHub,
    repo: &RepoName,
    branches: &[String],
) -> Result<OpenPulls, GitHubError> {
    let mut out = OpenPulls::default();
    let mut after: Option<String> = None;
    loop {
        let asked = if after.is_none() { branches } else { &[] };
        let answer = post(
            gh,
            repo,
            OPERATION,
            open_pulls_query(asked.len()),
            open_pulls_variables(repo, after.as_deref(), asked),
        )
        .await?;
        out.pages += 1;
        if let Some(errors) = answer.errors.as_deref().filter(|e| !e.is_empty()) {
            return Err(gql_error(OPERATION, describe_errors(errors)));
        }
        let Some(mut repository) = answer
            .data
            .and_then(|mut d| d.get_mut("repository").map(Value::take))
            .filter(|r| !r.is_null())
        else {
            return Err(gql_error(
                OPERATION,
                format!("no repository {repo} in the answer"),
            ));
        };
        for (i, b) in asked.iter().enumerate() {
            let block = repository
                .get_mut(format!("branch{i}"))
                .map(Value::take)
                .unwrap_or(Value::Null);
            let policy = branch_policy(block)
                .map_err(|e| gql_error(OPERATION, format!("branch {b}: {e}")))?;
            out.policies.insert(b.clone(), policy);
        }
        let page: GqlPage = repository
            .get_mut("pullRequests")
            .map(Value::take)
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| gql_error(OPERATION, format!("pullRequests: {e}")))?
            .ok_or_else(|| gql_error(OPERATION, "no pullRequests in the answer"))?;
        for node in page.nodes {
            let node = node.ok_or_else(|| gql_error(OPERATION, "a null pull request"))?;
            out.pulls.push(node.listed());
        }
        match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(cursor)) => after = Some(cursor),
            (true, None) => {
                return Err(gql_error(OPERATION, "a next page without a cursor"));
            }
            (false, _) => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_blocks_are_aliased_declared_and_only_on_request() {
        let q = open_pulls_query(2);
        assert!(q.contains("branch1: ref(qualifiedName: $branch1)"));
        assert!(q.contains("$branch1: String!"));
        assert!(!open_pulls_query(0).contains("branch0"));
        let repo: RepoName = "acme/app".parse().unwrap();
        let v = open_pulls_variables(&repo, Some("c"), &["main".into()]);
        assert_eq!(v["branch0"], "refs/heads/main");
        assert_eq!(v["after"], "c");
    }
}
