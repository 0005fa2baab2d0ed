//! Gathering the facts of one PR from the code host: the PR, the policy at its base commit,
//! its commits and changed files, its reviews, and the members of the teams the matched rules
//! name. One gatherer asks one source for each fact as the decision needs it: the GraphQL
//! query the gate made (`gather_from_read`), with REST for what it could not say all of, or
//! REST alone (`gather_facts_with_policy`, which the executor and `prgate status` use).
//! Anything missing or truncated is an error, never a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::models::{ApiActivity, ApiCommit, ApiFile, ApiPull, ApiReview};
use super::{FileAtCommit, GitHub, GitHubError, graphql};
use crate::policy::{
    self, Account, CommitFacts, Dismissal, ProgramPaths, ProposedPolicy, PullFacts, PullState,
    Review, ReviewState,
};
use crate::policy::{POLICY_PATH, RepoPolicy, TeamRef};
use crate::types::{CommitSha, InvalidId, PullNumber, RepoName, UserId};

/// GitHub's compare API lists at most this many files; a PR at the cap may have more.
const COMPARE_FILE_CAP: usize = 300;

pub use super::gather_error::GatherError;

/// The facts of a PR plus the policy they are judged by.
#[derive(Debug, Clone)]
pub(crate) struct Gathered {
    pub facts: PullFacts,
    pub policy: RepoPolicy,
    pub policy_blob: CommitSha,
}

fn sha(path: &str, s: &str) -> Result<CommitSha, GitHubError> {
    s.parse().map_err(|e: InvalidId| GitHubError::Malformed {
        path: path.to_string(),
        source: e.into(),
    })
}

/// Reads the policy in force at `base`.
pub(crate) async fn policy_at(
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

/// Gathers everything the policy engine needs about `pull`, judged by a policy the caller read
/// at `base` (the executor reads it at the merge commit's first parent) and gave its executors'
/// program paths. The changed files are those between the merge base of `base` and the head,
/// and the head. Everything is read over REST.
pub(crate) async fn gather_facts_with_policy(
    gh: &GitHub,
    repo: &RepoName,
    pull: &ApiPull,
    base: &CommitSha,
    policy: RepoPolicy,
    policy_blob: CommitSha,
) -> Result<Gathered, GatherError> {
    let source = PullSource::new(gh, repo, pull, base.clone(), None)?;
    gather(&source, policy, policy_blob).await
}

/// The facts of a PR read with one GraphQL query ([`graphql::read_pull`]), judged by the
/// policy at its base branch's tip as that query saw it. What the query could not give
/// completely is read over REST (commits and files through the compare, cached for good;
/// reviews); pushers always come from the REST activity API, which GraphQL does not serve.
pub(crate) async fn gather_from_read(
    gh: &GitHub,
    repo: &RepoName,
    read: &graphql::PullRead,
    programs: &ProgramPaths,
) -> Result<Gathered, GatherError> {
    let pull = &read.pull;
    let f = read.facts()?;
    let tip = f.tip.clone();
    let file = f.policy.clone().ok_or_else(|| GatherError::NoPolicy {
        repo: repo.clone(),
        base: tip.clone(),
    })?;
    let policy = policy::parse_policy(POLICY_PATH, &file.text).map_err(|error| {
        GatherError::InvalidPolicy {
            base: tip.clone(),
            error,
        }
    })?;
    // The next query on this branch asks for these teams' members up front.
    gh.remember_policy_teams(repo, &pull.base.git_ref, all_teams(&policy));
    // A governed symlink governs its target: the base tip's links, read once per tip.
    let links = gh.tree_links(repo, &tip).await?;
    let policy = policy::links::govern_links(&policy::govern_programs(&policy, programs), &links);
    let source = PullSource::new(gh, repo, pull, tip, Some(f))?;
    gather(&source, policy, file.blob_sha).await
}

/// Where one PR's facts come from, asked for as the decision needs them: what the GraphQL
/// read answered completely is taken from it, anything else is read over REST. policy-bot's
/// pull context in small: one gatherer, whatever the source.
struct PullSource<'a> {
    gh: &'a GitHub,
    repo: &'a RepoName,
    pull: &'a ApiPull,
    /// The PR's REST path, for errors.
    here: String,
    /// The commit the policy was read at and the changes are compared against.
    base: CommitSha,
    head: CommitSha,
    /// What one GraphQL query read, when the caller made one.
    read: Option<graphql::ReadFacts>,
}

impl<'a> PullSource<'a> {
    fn new(
        gh: &'a GitHub,
        repo: &'a RepoName,
        pull: &'a ApiPull,
        base: CommitSha,
        read: Option<graphql::ReadFacts>,
    ) -> Result<PullSource<'a>, GatherError> {
        let here = format!("/repos/{repo}/pulls/{}", pull.number);
        Ok(PullSource {
            gh,
            repo,
            pull,
            head: sha(&here, &pull.head.sha)?,
            here,
            base,
            read,
        })
    }

    /// The PR's commits and changed files (GitHub's compare is against the merge base).
    async fn changes(&self) -> Result<(Vec<CommitFacts>, Vec<String>), GatherError> {
        match self
            .read
            .as_ref()
            .and_then(|f| f.commits_and_files.as_ref())
        {
            Some((commits, files)) => changes_from(&self.here, commits, files),
            None => compare_changes(self.gh, self.repo, &self.base, &self.head).await,
        }
    }

    async fn reviews(&self) -> Result<Vec<Review>, GatherError> {
        let api = match self.read.as_ref().and_then(|f| f.reviews.clone()) {
            Some(r) => r,
            None => {
                self.gh
                    .reviews(self.repo, PullNumber(self.pull.number))
                    .await?
            }
        };
        Ok(reviews_from(api))
    }

    /// The members of `teams`. A team the GraphQL query did not ask for costs a call:
    /// correctness first.
    async fn team_members(
        &self,
        teams: BTreeSet<TeamRef>,
    ) -> Result<BTreeMap<TeamRef, BTreeSet<UserId>>, GatherError> {
        let Some(f) = &self.read else {
            // Usually one or two teams; read in turn beside the other reads.
            let mut out = BTreeMap::new();
            for t in teams {
                let members = self.gh.team_members(&t).await?;
                out.insert(t, members);
            }
            return Ok(out);
        };
        let missing: Vec<TeamRef> = teams
            .iter()
            .filter(|t| !f.team_members.contains_key(*t))
            .cloned()
            .collect();
        let more = graphql::read_team_members(self.gh, self.repo, &missing).await?;
        Ok(teams
            .into_iter()
            .filter_map(|t| {
                let members = f.team_members.get(&t).or_else(|| more.get(&t))?.clone();
                Some((t, members))
            })
            .collect())
    }

    /// When the PR's base branch last changed, if it ever did.
    async fn base_changed_at(&self) -> Result<Option<DateTime<Utc>>, GatherError> {
        if let Some(f) = &self.read {
            return Ok(f.base_changed_at);
        }
        let events = self
            .gh
            .issue_events(self.repo, PullNumber(self.pull.number))
            .await?;
        Ok(events
            .iter()
            .filter(|e| e.event == "base_ref_changed")
            .filter_map(|e| e.created_at)
            .max())
    }

    fn labels(&self) -> Vec<String> {
        match &self.read {
            Some(f) => f.labels.clone(),
            None => self.pull.labels.iter().map(|l| l.name.clone()).collect(),
        }
    }
}

/// The one gatherer: reads what deciding about the PR needs from `src`, and no more.
async fn gather(
    src: &PullSource<'_>,
    policy: RepoPolicy,
    policy_blob: CommitSha,
) -> Result<Gathered, GatherError> {
    let (gh, repo, pull) = (src.gh, src.repo, src.pull);
    let author = pull
        .user
        .as_ref()
        .map(|u| u.account())
        .ok_or_else(|| GatherError::Incomplete("the PR's author account is unknown".into()))?;
    // The reviews do not depend on the changes: both are read at once.
    let ((mut commits, changed_files), reviews) = tokio::try_join!(src.changes(), src.reviews())?;

    // Team membership, pushers and the base's history are only needed when someone took a
    // stance; a PR nobody reviewed costs no such call. They do not depend on each other.
    let mut team_members = BTreeMap::new();
    let mut head_pushers = None;
    let mut base_changed_at = None;
    if stance_taken(&reviews) {
        let teams = policy::teams_needed(&policy, &changed_files);
        let approved = reviews.iter().any(|r| r.state == ReviewState::Approved);
        let (members, pushed, changed_at) = tokio::try_join!(
            src.team_members(teams),
            read_pushers(gh, repo, pull),
            async {
                // The base's history matters for approvals only.
                if approved {
                    src.base_changed_at().await
                } else {
                    Ok(None)
                }
            }
        )?;
        team_members = members;
        let (pushers, activity) = pushed;
        attribute_pushes(&mut commits, &activity);
        head_pushers = Some(pushers);
        base_changed_at = changed_at;
    }

    let dismissals = read_dismissals(gh, repo, pull, &reviews).await?;
    let registered_after =
        super::registered::read_registered_after(gh, repo, &src.base, &policy, &reviews).await?;
    let proposed_policy = proposed_policy(gh, repo, &src.head, &changed_files).await?;
    assemble(
        repo,
        pull,
        Parts {
            head_sha: src.head.clone(),
            base_sha: src.base.clone(),
            author,
            reviews,
            commits,
            changed_files,
            team_members,
            proposed_policy,
            labels: src.labels(),
            head_pushers,
            base_changed_at,
            dismissals,
            registered_after,
        },
        policy,
        policy_blob,
    )
}

/// Every team a policy names, in any rule or the defaults.
fn all_teams(policy: &RepoPolicy) -> Vec<TeamRef> {
    let mut teams: Vec<TeamRef> = policy
        .rules
        .iter()
        .map(|r| &r.approvers)
        .chain(policy.defaults.as_ref().map(|d| &d.approvers))
        .flat_map(|a| a.teams.iter().cloned())
        .collect();
    teams.sort();
    teams.dedup();
    teams
}

fn stance_taken(reviews: &[Review]) -> bool {
    reviews.iter().any(|r| {
        matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested
        )
    })
}

/// Commits and changed files between the merge base of `base` and `head`, and `head`.
pub(crate) async fn compare_changes(
    gh: &GitHub,
    repo: &RepoName,
    base: &CommitSha,
    head: &CommitSha,
) -> Result<(Vec<CommitFacts>, Vec<String>), GatherError> {
    let compare = gh.compare(repo, base, head).await?;
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
    let here = format!("/repos/{repo}/compare/{base}...{head}");
    changes_from(&here, &compare.commits, &files)
}

fn changes_from(
    here: &str,
    commits: &[ApiCommit],
    files: &[ApiFile],
) -> Result<(Vec<CommitFacts>, Vec<String>), GatherError> {
    // A rename is a change to both paths: moving a file out of a governed folder is governed.
    let mut changed_files = Vec::new();
    for f in files {
        changed_files.push(f.filename.clone());
        if let Some(prev) = &f.previous_filename {
            changed_files.push(prev.clone());
        }
    }
    changed_files.sort();
    changed_files.dedup();
    let commits = commits
        .iter()
        .map(|c| commit_facts(here, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((commits, changed_files))
}

fn reviews_from(api_reviews: Vec<ApiReview>) -> Vec<Review> {
    api_reviews
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
        .collect()
}

/// Whether the PR changes the policy file, and if so whether the proposed one parses.
async fn proposed_policy(
    gh: &GitHub,
    repo: &RepoName,
    head_sha: &CommitSha,
    changed_files: &[String],
) -> Result<ProposedPolicy, GatherError> {
    if !changed_files.iter().any(|f| f == POLICY_PATH) {
        return Ok(ProposedPolicy::Unchanged);
    }
    Ok(match gh.file_at(repo, POLICY_PATH, head_sha).await? {
        None => ProposedPolicy::Deleted,
        Some(f) => match policy::parse_policy(POLICY_PATH, &f.text) {
            Ok(_) => ProposedPolicy::Valid,
            Err(e) => ProposedPolicy::Invalid(e.to_string()),
        },
    })
}

/// Who dismissed the PR's dismissed reviews and what each was before, from the issue events
/// (`review_dismissed`: its `actor`, and `dismissed_review.state` in lower case). Costs a
/// call only when a review is dismissed.
async fn read_dismissals(
    gh: &GitHub,
    repo: &RepoName,
    pull: &ApiPull,
    reviews: &[Review],
) -> Result<Option<Vec<Dismissal>>, GatherError> {
    if !reviews.iter().any(|r| r.state == ReviewState::Dismissed) {
        return Ok(Some(Vec::new()));
    }
    let events = gh.issue_events(repo, PullNumber(pull.number)).await?;
    Ok(Some(
        events
            .iter()
            .filter(|e| e.event == "review_dismissed")
            .filter_map(|e| {
                let d = e.dismissed_review.as_ref()?;
                Some(Dismissal {
                    review_id: d.review_id,
                    by: e.actor.as_ref()?.account(),
                    previous: ReviewState::from_github(&d.state.to_ascii_uppercase()),
                })
            })
            .collect(),
    ))
}

/// What [`assemble`] puts together, read one way or another.
struct Parts {
    head_sha: CommitSha,
    base_sha: CommitSha,
    author: Account,
    reviews: Vec<Review>,
    commits: Vec<CommitFacts>,
    changed_files: Vec<String>,
    team_members: BTreeMap<TeamRef, BTreeSet<UserId>>,
    proposed_policy: ProposedPolicy,
    labels: Vec<String>,
    head_pushers: Option<Vec<Account>>,
    base_changed_at: Option<DateTime<Utc>>,
    dismissals: Option<Vec<Dismissal>>,
    registered_after: Option<Vec<crate::policy::RegisteredAfter>>,
}

fn assemble(
    repo: &RepoName,
    pull: &ApiPull,
    parts: Parts,
    policy: RepoPolicy,
    policy_blob: CommitSha,
) -> Result<Gathered, GatherError> {
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
            author: parts.author,
            head_sha: parts.head_sha,
            base_sha: parts.base_sha,
            base_ref: pull.base.git_ref.clone(),
            reviews: parts.reviews,
            commits: parts.commits,
            changed_files: parts.changed_files,
            team_members: parts.team_members,
            proposed_policy: parts.proposed_policy,
            labels: parts.labels,
            created_at: pull.created_at,
            head_pushers: parts.head_pushers,
            base_changed_at: parts.base_changed_at,
            merged_at,
            dismissals: parts.dismissals,
            registered_after: parts.registered_after,
        },
        policy,
        policy_blob,
    })
}

/// The status description when the code host has no repository activity API (under 140
/// characters, as a status description must be).
pub(crate) const ACTIVITY_API_MISSING: &str = "the repository activity API answered 404 (GHES before 3.11 lacks it); prgate cannot tell who pushed to the PR";

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
    let activity = match gh.branch_activity(repo, branch).await {
        Ok(a) => a,
        // The PR was just read with the same credential, so a 404 here is the API itself
        // missing: GitHub Enterprise Server before 3.11 has no activity API.
        Err(e) if e.status() == Some(404) => {
            return Err(GatherError::Incomplete(ACTIVITY_API_MISSING.into()));
        }
        Err(e) => return Err(e.into()),
    };
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
