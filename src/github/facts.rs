//! Gathering the facts of one PR from the code host: the PR, the policy at its base commit,
//! its commits and changed files (one compare call), its reviews, and the members of the teams
//! the matched rules name. Anything missing or truncated is an error, never a guess.

use std::collections::BTreeMap;

use super::models::{ApiActivity, ApiCommit, ApiPull};
use super::{FileAtCommit, GitHub, GitHubError};
use crate::config::{ConfigError, POLICY_PATH, RepoPolicy};
use crate::policy::{
    self, Account, CommitFacts, ProgramPaths, ProposedPolicy, PullFacts, PullState, Review,
    ReviewState,
};
use crate::types::{CommitSha, InvalidId, PullNumber, RepoName};

/// GitHub's compare API lists at most this many files; a PR at the cap may have more.
const COMPARE_FILE_CAP: usize = 300;

/// Why the facts of a PR could not be gathered; the decision is then `error`.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("no {POLICY_PATH} at base commit {base} of {repo}; add one to govern this branch")]
    NoPolicy { repo: RepoName, base: CommitSha },
    #[error("the policy at base commit {base} is invalid: {error}")]
    InvalidPolicy { base: CommitSha, error: ConfigError },
    #[error("{0}")]
    Incomplete(String),
}

impl GatherError {
    /// A status description (under 140 characters) for the PR.
    pub fn status_description(&self) -> String {
        let text = match self {
            GatherError::GitHub(e) => match e.status() {
                Some(s) => format!("could not read the PR's facts from GitHub ({s}); will retry"),
                None => "could not reach GitHub to read the PR's facts; will retry".to_string(),
            },
            GatherError::NoPolicy { .. } => format!("no {POLICY_PATH} at the base commit"),
            GatherError::InvalidPolicy { .. } => {
                format!("{POLICY_PATH} at the base commit is invalid; fix it on the base branch")
            }
            GatherError::Incomplete(m) => m.clone(),
        };
        crate::policy::clip_description(&text)
    }
}

/// The facts of a PR plus the policy they are judged by.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub facts: PullFacts,
    pub policy: RepoPolicy,
    pub policy_blob: CommitSha,
}

fn sha(path: &str, s: &str) -> Result<CommitSha, GitHubError> {
    s.parse().map_err(|e: InvalidId| GitHubError::Decode {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Reads the policy in force at `base`.
pub async fn policy_at(
    gh: &GitHub,
    repo: &RepoName,
    base: &CommitSha,
) -> Result<(RepoPolicy, FileAtCommit), GatherError> {
    let file = gh
        .file_at(repo, POLICY_PATH, base)
        .await?
        .ok_or_else(|| GatherError::NoPolicy {
            repo: repo.clone(),
            base: base.clone(),
        })?;
    let policy = policy::parse_policy(POLICY_PATH, &file.text).map_err(|error| {
        GatherError::InvalidPolicy {
            base: base.clone(),
            error,
        }
    })?;
    Ok((policy, file))
}

/// Gathers everything the policy engine needs about `pull`, judged by the policy at the
/// current tip of its base branch. The tip is read through the refs API: GitHub does not
/// refresh `pull.base.sha` when the base branch moves (https://github.com/github/docs/issues/431,
/// https://github.com/rust-lang/bors/pull/40), so a policy tightened on `main` would not reach
/// PRs opened before it.
pub async fn gather_facts(
    gh: &GitHub,
    repo: &RepoName,
    pull: &ApiPull,
    programs: &ProgramPaths,
) -> Result<Gathered, GatherError> {
    let tip = gh.branch_tip(repo, &pull.base.git_ref).await?;
    let (policy, policy_file) = policy_at(gh, repo, &tip).await?;
    let policy = policy::govern_programs(&policy, programs);
    gather_facts_with_policy(gh, repo, pull, &tip, policy, policy_file.blob_sha).await
}

/// As [`gather_facts`], judged by a policy the caller read at `base` (the executor reads it at
/// the merge commit's first parent) and gave its executors' program paths. The changed files are those between the merge base of
/// `base` and the head, and the head.
pub async fn gather_facts_with_policy(
    gh: &GitHub,
    repo: &RepoName,
    pull: &ApiPull,
    base: &CommitSha,
    policy: RepoPolicy,
    policy_blob: CommitSha,
) -> Result<Gathered, GatherError> {
    let here = format!("/repos/{repo}/pulls/{}", pull.number);
    let head_sha = sha(&here, &pull.head.sha)?;
    let base_sha = base.clone();
    let author = pull
        .user
        .as_ref()
        .map(|u| u.account())
        .ok_or_else(|| GatherError::Incomplete("the PR's author account is unknown".into()))?;

    // GitHub's compare of `base...head` is against their merge base. The reviews do not
    // depend on it: both are read at once.
    let (compare, api_reviews) = tokio::try_join!(
        gh.compare(repo, &base_sha, &head_sha),
        gh.reviews(repo, PullNumber(pull.number))
    )?;
    if compare.total_commits as usize != compare.commits.len() {
        return Err(GatherError::Incomplete(format!(
            "the PR has {} commits, more than GitHub lists at once; split it",
            compare.total_commits
        )));
    }
    let files = compare.files.ok_or_else(|| {
        GatherError::Incomplete("GitHub did not list the PR's changed files".into())
    })?;
    if files.len() >= COMPARE_FILE_CAP {
        return Err(GatherError::Incomplete(format!(
            "the PR changes {COMPARE_FILE_CAP} files or more; prgate cannot see them all, split it"
        )));
    }
    // A rename is a change to both paths: moving a file out of a governed folder is governed.
    let mut changed_files = Vec::new();
    for f in &files {
        changed_files.push(f.filename.clone());
        if let Some(prev) = &f.previous_filename {
            changed_files.push(prev.clone());
        }
    }
    changed_files.sort();
    changed_files.dedup();

    let mut commits = compare
        .commits
        .iter()
        .map(|c| commit_facts(&here, c))
        .collect::<Result<Vec<_>, _>>()?;

    let reviews = api_reviews
        .into_iter()
        .filter_map(|r| {
            // A review by a deleted account carries no stance anyone can be held to.
            let reviewer = r.user.as_ref()?.account();
            Some(Review {
                id: r.id,
                reviewer,
                state: ReviewState::from_github(&r.state),
                commit_id: r.commit_id.as_deref().and_then(|s| s.parse().ok()),
                submitted_at: r.submitted_at,
                body: r.body.unwrap_or_default(),
            })
        })
        .collect::<Vec<_>>();

    // Team membership, pushers and the base's history are only needed when someone took a
    // stance; a PR nobody reviewed costs no such call.
    let mut team_members: BTreeMap<_, _> = BTreeMap::new();
    let mut head_pushers = None;
    let mut base_changed_at = None;
    let stance_taken = reviews.iter().any(|r| {
        matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested
        )
    });
    if stance_taken {
        // Teams, pushers and the base's history do not depend on each other: read at once.
        let teams: Vec<_> = policy::teams_needed(&policy, &changed_files)
            .into_iter()
            .collect();
        let approved = reviews.iter().any(|r| r.state == ReviewState::Approved);
        let (members, pushed, events) = tokio::try_join!(
            async {
                // Usually one or two teams; read in turn beside the other reads.
                let mut out = Vec::with_capacity(teams.len());
                for t in &teams {
                    out.push(gh.team_members(t).await?);
                }
                Ok::<_, GatherError>(out)
            },
            read_pushers(gh, repo, pull),
            async {
                if approved {
                    gh.issue_events(repo, PullNumber(pull.number))
                        .await
                        .map(Some)
                        .map_err(GatherError::from)
                } else {
                    Ok(None)
                }
            }
        )?;
        team_members = teams.into_iter().zip(members).collect();
        let (pushers, activity) = pushed;
        attribute_pushes(&mut commits, &activity);
        head_pushers = Some(pushers);
        base_changed_at = events.and_then(|events| {
            events
                .iter()
                .filter(|e| e.event == "base_ref_changed")
                .filter_map(|e| e.created_at)
                .max()
        });
    }

    let proposed_policy = if changed_files.iter().any(|f| f == POLICY_PATH) {
        match gh.file_at(repo, POLICY_PATH, &head_sha).await? {
            None => ProposedPolicy::Deleted,
            Some(f) => match policy::parse_policy(POLICY_PATH, &f.text) {
                Ok(_) => ProposedPolicy::Valid,
                Err(e) => ProposedPolicy::Invalid(e.to_string()),
            },
        }
    } else {
        ProposedPolicy::Unchanged
    };

    let state = if pull.merged {
        PullState::Merged
    } else if pull.state == "open" {
        PullState::Open
    } else {
        PullState::Closed
    };
    let merged_at = if pull.merged {
        // A merged PR without its merge time cannot tell late reviews from timely ones.
        Some(pull.merged_at.ok_or_else(|| {
            GatherError::Incomplete("GitHub did not say when the PR was merged".into())
        })?)
    } else {
        None
    };

    Ok(Gathered {
        facts: PullFacts {
            repo: repo.clone(),
            number: PullNumber(pull.number),
            state,
            draft: pull.draft,
            author,
            head_sha,
            base_sha,
            base_ref: pull.base.git_ref.clone(),
            reviews,
            commits,
            changed_files,
            team_members,
            proposed_policy,
            labels: pull.labels.iter().map(|l| l.name.clone()).collect(),
            created_at: pull.created_at,
            head_pushers,
            base_changed_at,
            merged_at,
        },
        policy,
        policy_blob,
    })
}

/// Everyone who pushed to the PR's head branch, from the repository activity API, and for
/// each commit who pushed it. A head branch in another repository (a fork) or a push whose
/// actor the code host cannot name makes the PR fail closed: prgate cannot tell who wrote it.
async fn read_pushers(
    gh: &GitHub,
    repo: &RepoName,
    pull: &ApiPull,
) -> Result<(Vec<Account>, Vec<ApiActivity>), GatherError> {
    let head_repo = pull.head.repo.as_ref().map(|r| r.full_name.as_str());
    let same_repo = head_repo
        .and_then(|n| n.parse::<RepoName>().ok())
        .is_some_and(|n| &n == repo);
    if !same_repo {
        return Err(GatherError::Incomplete(format!(
            "the head branch lives in {}, not {repo}; prgate cannot read who pushed to it",
            head_repo.unwrap_or("a deleted repository")
        )));
    }
    let branch = pull.head.git_ref.as_str();
    let activity = gh.branch_activity(repo, branch).await?;
    // The list must reach the push that brought the current head; one that does not (kept
    // for a limited time, or cut short) may be missing a pusher, so it decides nothing.
    if !activity.iter().any(|a| a.after == pull.head.sha) {
        return Err(GatherError::Incomplete(format!(
            "GitHub lists no push of the head {} to {branch}; prgate cannot tell who pushed to the PR",
            pull.head.sha.get(..7).unwrap_or(&pull.head.sha)
        )));
    }
    let mut pushers: Vec<Account> = Vec::new();
    for a in &activity {
        let Some(actor) = &a.actor else {
            return Err(GatherError::Incomplete(format!(
                "GitHub does not say who moved the head branch {branch} to {}; prgate cannot tell who wrote the PR",
                a.after.get(..7).unwrap_or(&a.after)
            )));
        };
        let account = actor.account();
        if !pushers.iter().any(|p| p.id == account.id) {
            pushers.push(account);
        }
    }
    Ok((pushers, activity))
}

/// Names the pusher of each commit: a push whose new tip is the commit at position i of the
/// PR's (oldest-first) commit list brought the commits after the previous push's tip up to i.
fn attribute_pushes(commits: &mut [CommitFacts], activity: &[ApiActivity]) {
    let mut covered = 0usize;
    for a in activity {
        let Some(actor) = &a.actor else { continue };
        let Some(pos) = commits.iter().position(|c| c.sha.as_str() == a.after) else {
            continue;
        };
        if pos < covered {
            continue;
        }
        for c in &mut commits[covered..=pos] {
            c.pushed_by = Some(actor.account());
        }
        covered = pos + 1;
    }
}

fn commit_facts(here: &str, c: &ApiCommit) -> Result<CommitFacts, GitHubError> {
    Ok(CommitFacts {
        sha: sha(here, &c.sha)?,
        author: c.author.as_ref().map(|u| u.account()),
        committer: c.committer.as_ref().map(|u| u.account()),
        author_email: c
            .commit
            .author
            .as_ref()
            .map(|a| a.email.clone())
            .unwrap_or_default(),
        committer_email: c
            .commit
            .committer
            .as_ref()
            .map(|a| a.email.clone())
            .unwrap_or_default(),
        pushed_by: None,
    })
}

/// Cuts `s` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
