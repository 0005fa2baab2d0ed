//! GitHub's merge queue, prgate's side of it: putting an approved PR into the queue.

use serde_json::json;

use super::GitHub;
use super::client::GitHubError;
use super::graphql::{describe_errors, gql_error, post};
use crate::types::{PullNumber, RepoName};

/// Puts PR `number` into the base branch's merge queue, pinned to `head`: GitHub refuses when
/// the head moved (`expectedHeadOid`). https://docs.github.com/en/graphql/reference/mutations#enqueuepullrequest
/// A PR already in the queue is not an error: the mutation may be sent again after a lost answer.
pub(crate) async fn enqueue_pull(
    gh: &GitHub,
    repo: &RepoName,
    number: PullNumber,
    head: &crate::types::CommitSha,
) -> Result<(), GitHubError> {
    const FIND: &str = "PrgatePullId";
    let variables = json!({ "owner": repo.owner(), "name": repo.name(), "number": number.0 });
    let answer = post(gh, repo, FIND, PULL_ID.to_string(), variables).await?;
    let id = answer
        .data
        .as_ref()
        .and_then(|d| d.pointer("/repository/pullRequest/id"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let Some(id) = id else {
        let why = answer
            .errors
            .as_deref()
            .map_or_else(|| format!("no PR #{number} in {repo}"), describe_errors);
        return Err(gql_error(FIND, why));
    };
    const OP: &str = "PrgateEnqueue";
    let variables = json!({ "id": id, "head": head.as_str() });
    let answer = post(gh, repo, OP, ENQUEUE.to_string(), variables).await?;
    match answer.errors.as_deref() {
        Some(errors) if !errors.is_empty() => {
            let text = describe_errors(errors);
            if text.to_ascii_lowercase().contains("already") {
                Ok(())
            } else {
                Err(gql_error(OP, text))
            }
        }
        _ => Ok(()),
    }
}

const PULL_ID: &str = "query PrgatePullId($owner: String!, $name: String!, $number: Int!) {\n  repository(owner: $owner, name: $name) { pullRequest(number: $number) { id } }\n}";

const ENQUEUE: &str = "mutation PrgateEnqueue($id: ID!, $head: GitObjectID!) {\n  enqueuePullRequest(input: {pullRequestId: $id, expectedHeadOid: $head}) { mergeQueueEntry { id position } }\n}";
