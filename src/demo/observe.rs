//! How the demo watches the story unfold: polling the code host, as an agent or a reviewer
//! would, until a status or comment shows what the step expects (or 20 s pass).

use std::time::{Duration, Instant};

use crate::github::GitHub;
use crate::types::{CommitSha, PullNumber, RepoName};

use super::{DemoError, step_err};

/// prgate's plan comment on a PR (the latest one).
pub(super) async fn plan_comment_of(
    gh: &GitHub,
    repo: &RepoName,
    pull: PullNumber,
) -> Result<String, DemoError> {
    wait_for(|| async {
        gh.comments(repo, pull)
            .await
            .ok()?
            .into_iter()
            .rev()
            .map(|c| c.body)
            .find(|b| b.starts_with(crate::executor::plan_marker::PLAN_MARKER))
    })
    .await
    .ok_or_else(|| step_err(format!("no plan comment on PR #{pull}")))
}

/// The lines of a plan's output in a comment (the fenced blocks' contents).
pub(super) fn plan_lines(comment: &str) -> Vec<String> {
    plan_blocks(comment).concat()
}

/// Each fenced block of a comment, as lines.
pub(super) fn plan_blocks(comment: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in comment.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.push(line.to_string());
        }
    }
    blocks
}

/// Polls until `f` answers, for at most 20 s.
pub(super) async fn wait_for<F, Fut, T>(mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Waits for the newest status in `context` on `sha` to satisfy `ok`: (state, description).
pub(super) async fn wait_status(
    gh: &GitHub,
    repo: &RepoName,
    sha: &CommitSha,
    context: &str,
    ok: impl Fn(&str, &str) -> bool,
) -> Result<(String, String), DemoError> {
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(statuses) = gh.statuses(repo, sha).await
            && let Some(s) = statuses.into_iter().find(|s| s.context == context)
        {
            let pair = (s.state.clone(), s.description.clone().unwrap_or_default());
            if ok(&pair.0, &pair.1) {
                return Ok(pair);
            }
            last = Some(pair);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(step_err(format!(
        "{context} on {} never reached the expected state (last: {})",
        sha.short(),
        last.map_or("none".to_string(), |(state, d)| format!("{state}: {d}"))
    )))
}
