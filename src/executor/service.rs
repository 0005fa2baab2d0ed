//! The executor wired to the code host: for a commit M on a governed branch it re-verifies the
//! approval on its own (never trusting statuses), claims M at most once with a ref on the code
//! host, runs the executor in a fresh checkout, and records the outcome as a note, a
//! `prgate/execution` status and a PR comment.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use ed25519_dalek::SigningKey;
use git2::{Oid, Repository};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::carried::{Carried, check_carried};
use super::plan::{
    PlanRun, PlanSpec, checkout_plan_tree, plan_dir, run_plan, with_programs_from, would_be_merge,
};
use super::run::{RunSpec, run_executor};
use super::run_status::{self, RunStatus};
use crate::EXECUTION_CONTEXT;
use crate::config::{ExecutorConfig, POLICY_PATH, Secret, ServerConfig};
use crate::dashboard::Dashboard;
use crate::git::history::{changed_paths, first_parent_range, policy_blob_at};
use crate::git::mirror::sync_mirror;
use crate::git::notes::{
    adopt_fetched_notes, previous_record, push_notes, read_note, read_note_bytes, write_note_text,
};
use crate::git::worktree::checkout_fresh;
use crate::github::facts::gather_facts_with_policy;
use crate::github::models::ApiPull;
use crate::github::{GitHub, GitHubError};
use crate::metrics::Metrics;
use crate::policy::{self, ApprovalState};
use crate::record::envelope::note_digest;
use crate::record::equivalence::{Equivalence, check_content};
use crate::record::note::{
    ExecutionNote, ExecutionRecord, NOTES_REF, NoteApproval, Outcome, PlanDigest, Pusher,
    RECORD_VERSION, RecordFacts, parse_note,
};
use crate::record::signing::{SignatureCheck, check_signature, encode_note};
use crate::record::trailers::ApprovalTrailers;
use crate::render::Renderer;
use crate::types::{CommitSha, Login, PullNumber, RepoName};

/// The label that holds (or, while running, cancels) an execution.
pub const HOLD_LABEL: &str = "prgate:hold";
/// Output kept in the record; the rest is hashed only.
const OUTPUT_CAP: usize = 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Merges this process has settled, remembered so that a reconciler pass skips them; the
/// least recently settled are forgotten past this many (and merely looked at again).
const SEEN_ENTRIES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(100_000).unwrap();
/// Past its executor's timeout, how long a claim of another replica's may still be finishing
/// (killing the process group, writing the record) before it counts as interrupted.
const CLAIM_GRACE: Duration = Duration::from_secs(120);
/// The executor name a refusal records for a governed merge that runs no executor.
const NO_EXECUTOR: &str = "(none)";
/// How many recent first-parent commits the reconciler looks at per branch.
const RECONCILE_DEPTH: usize = 50;
/// Plan outputs remembered by digest, so that a drift refusal can show the approved plan
/// beside the new one; past this many the oldest are forgotten (the PR's comment keeps it).
const PLAN_OUTPUTS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(1_000).unwrap();
/// The marker at the start of a plan comment: the gate writes it, the executor reads which
/// plans were shown for a head.
pub(crate) const PLAN_MARKER: &str = "<!-- prgate:plan ";

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("git, in the mirror of {repo}: {}", .source.message())]
    Git {
        repo: RepoName,
        #[source]
        source: git2::Error,
    },
    #[error("the mirror of {repo}: {source}")]
    Mirror {
        repo: RepoName,
        #[source]
        source: crate::git::mirror::MirrorError,
    },
    /// A blocking task that ended without an answer (it panicked or the runtime is stopping).
    #[error("{what} did not finish: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("{0}")]
    Other(String),
    /// An earlier merge changed the same governed content and has no record yet: this one
    /// waits for it (it may be running here or in another replica).
    #[error(
        "the earlier merge {0} changed the same governed content and has no record yet; it is verified first"
    )]
    EarlierMergeUnrecorded(String),
}

/// Earlier merges without a record here that prgate's own statuses show it ran.
#[derive(Debug, Default)]
struct SpotChecks {
    approved: std::collections::BTreeSet<Oid>,
}

/// Earlier merges looked up in the statuses for one merge before it waits instead (each costs
/// the code host a call).
const MAX_SPOT_CHECKS: usize = 20;

/// Who asked: the service on its own, or an operator with `prgate execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Automatic,
    Operator,
}

/// What became of one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Considered {
    /// No policy at its first parent, or no executor's paths touched.
    NotGoverned,
    /// A record exists already; nothing is done again automatically.
    AlreadyRecorded {
        outcome: Outcome,
        /// Why it did not run, when the record says (a refusal, a run that did not start).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Another worker holds the claim.
    ClaimedElsewhere,
    /// A governed merge with no executor: its approval record was written.
    Recorded,
    Refused {
        reason: String,
    },
    Held {
        reason: String,
    },
    /// A ref prgate did not create keeps it from claiming or recording; nothing ran.
    Blocked {
        reason: String,
    },
    Ran {
        outcome: Outcome,
        exit_code: Option<i32>,
    },
}

impl Considered {
    /// What became of the commit, in a sentence for people (the JSON carries the same).
    pub fn describe(&self) -> String {
        let with = |r: &Option<String>| r.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        match self {
            Considered::NotGoverned => {
                "not governed: it changed no executor's paths, or its first parent has no policy; nothing to run".into()
            }
            Considered::AlreadyRecorded { outcome, reason } => match outcome {
                Outcome::Succeeded | Outcome::Failed | Outcome::Timeout => format!(
                    "already ran ({outcome}){}; a finished run is never run again",
                    with(reason)
                ),
                _ => format!("already recorded as {outcome}{}", with(reason)),
            },
            Considered::ClaimedElsewhere => {
                "claimed by another prgate run; nothing was done here".into()
            }
            Considered::Recorded => {
                "approval recorded; no executor runs for this change".into()
            }
            Considered::Refused { reason } => format!("refused: {reason}"),
            Considered::Held { reason } => format!("held: {reason}"),
            Considered::Blocked { reason } => format!("blocked: {reason}"),
            Considered::Ran { outcome, exit_code } => match exit_code {
                Some(c) => format!("ran: {outcome} (exit code {c})"),
                None => format!("ran: {outcome}"),
            },
        }
    }

    /// The outcome of a run or record, if there is one.
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            Considered::AlreadyRecorded { outcome, .. } | Considered::Ran { outcome, .. } => {
                Some(*outcome)
            }
            _ => None,
        }
    }
}

/// The merge a claim ref names: `refs/prgate/claims/<M>` or `refs/prgate/claims/<M>-operator-<id>`.
fn merge_of_claim(name: &str) -> Option<CommitSha> {
    let rest = name.strip_prefix("refs/prgate/claims/")?;
    rest.split('-').next()?.parse().ok()
}

/// Marks a merge as running in this process while it lives (however the run ends).
struct RunningHere<'a> {
    running: &'a Mutex<HashMap<CommitSha, CancellationToken>>,
    merge: CommitSha,
}

impl Drop for RunningHere<'_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&self.merge);
        }
    }
}

/// How a claim went.
enum Claim {
    Ours,
    /// Another replica (or an earlier pass) holds it, as its `running` status shows.
    Elsewhere,
    /// A ref prgate did not create is in the way; the reason names it and the fix.
    Blocked(String),
}

/// What the mirror says about a commit, read before any await.
struct LocalFacts {
    parent: CommitSha,
    policy_blob: CommitSha,
    policy_text: String,
    changed: Vec<String>,
    trailer_pull: Option<PullNumber>,
    /// The `Prgate-Plan` digest of the merge's trailers: the plan prgate merged it with.
    trailer_plan: Option<String>,
    existing: Option<ExecutionRecord>,
    /// Whether any prgate note is on the commit (an approval record without execution too).
    has_note: bool,
    /// The symlinks of M^1 and M that stay in the tree, with their targets: a governed link
    /// governs its target (see `policy::links::govern_links`).
    links: Vec<(String, String)>,
    /// The note the code host had on M at the last fetch, whoever wrote it.
    fetched: Option<ExecutionNote>,
}

/// `None` when the commit is not governed: a root commit, or no policy at its first parent.
fn read_local(
    mirror: &Repository,
    m: Oid,
    repo: &RepoName,
) -> Result<Option<LocalFacts>, git2::Error> {
    let commit = mirror.find_commit(m)?;
    let Ok(parent) = commit.parent_id(0) else {
        return Ok(None);
    };
    let Some((blob, policy_text)) = policy_blob_at(mirror, parent)? else {
        return Ok(None);
    };
    let changed = changed_paths(mirror, m)?;
    let mut links = crate::git::resolved_links(mirror, mirror.find_commit(parent)?.tree_id())?;
    links.extend(crate::git::resolved_links(mirror, commit.tree_id())?);
    links.sort();
    links.dedup();
    let trailers = commit
        .message()
        .and_then(ApprovalTrailers::parse)
        .filter(|t| &t.pull.repo == repo);
    let trailer_pull = trailers.as_ref().map(|t| t.pull.number);
    let trailer_plan = trailers.and_then(|t| t.plan);
    let note = read_note(mirror, m).ok().flatten();
    let fetched = crate::git::notes::read_fetched_note(mirror, m)
        .ok()
        .flatten();
    let has_note = note.is_some();
    let existing = note.and_then(|n| n.execution);
    let (Ok(parent), Ok(policy_blob)) = (parent.to_string().parse(), blob.to_string().parse())
    else {
        return Err(git2::Error::from_str("object id is not a SHA-1"));
    };
    Ok(Some(LocalFacts {
        parent,
        policy_blob,
        policy_text,
        changed,
        trailer_pull,
        trailer_plan,
        existing,
        has_note,
        links,
        fetched,
    }))
}

/// Everything verification established about an approved merge.
struct Verified {
    pull: ApiPull,
    note: ExecutionNote,
    changed: Vec<String>,
}

pub struct Executor {
    gh: Arc<GitHub>,
    config: Arc<ServerConfig>,
    /// The key claim commits are authenticated with (see `instance::claim_key`).
    claim_key: Vec<u8>,
    /// Every secret value the config names, redacted from every run's and plan's output.
    held: Arc<Vec<Vec<u8>>>,
    token: Option<Secret>,
    metrics: Metrics,
    dashboard: Dashboard,
    renderer: Renderer,
    clone_urls: Mutex<HashMap<RepoName, String>>,
    /// Cancellation of the runs in progress in this process, by merge commit.
    running: Mutex<HashMap<CommitSha, CancellationToken>>,
    /// Commits this process has already dealt with (saves the reconciler a re-verification).
    seen: Mutex<lru::LruCache<(RepoName, CommitSha), ()>>,
    mirror_lock: tokio::sync::Mutex<()>,
    /// Pushes of one repository are considered one after the other, so that a merge is
    /// verified after the earlier merges this process is running have their records.
    push_order: Mutex<HashMap<RepoName, Arc<tokio::sync::Mutex<()>>>>,
    label_poll: Duration,
    /// Signs every note this executor writes; `None` writes them unsigned.
    signing_key: Option<Arc<SigningKey>>,
    /// The account prgate acts as (its statuses are the runs' record).
    own_login: Mutex<Option<Login>>,
    /// This data_dir's instance id, written into its claims (see [`super::instance`]).
    instance: String,
    /// Outputs of the plans run here, by digest (see [`PLAN_OUTPUTS`]).
    plan_outputs: Mutex<lru::LruCache<String, String>>,
}

impl Executor {
    pub fn new(
        config: Arc<ServerConfig>,
        gh: Arc<GitHub>,
        token: Option<Secret>,
        metrics: Metrics,
        dashboard: Dashboard,
    ) -> Self {
        let claim_secret = config
            .note_signing_key
            .iter()
            .chain(config.webhook_secrets.first())
            .find_map(|r| r.resolve().ok());
        Executor {
            claim_key: claim_secret
                .map(|s| super::instance::claim_key(s.expose().as_bytes()))
                .unwrap_or_default(),
            held: Arc::new(config.held_secret_values()),
            instance: super::instance::instance_id(&config.data_dir),
            renderer: Renderer::new(config.templates_dir.clone()),
            gh,
            config,
            token,
            metrics,
            dashboard,
            clone_urls: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            seen: Mutex::new(lru::LruCache::new(SEEN_ENTRIES)),
            push_order: Mutex::new(HashMap::new()),
            mirror_lock: tokio::sync::Mutex::new(()),
            label_poll: Duration::from_secs(2),
            signing_key: None,
            own_login: Mutex::new(None),
            plan_outputs: Mutex::new(lru::LruCache::new(PLAN_OUTPUTS)),
        }
    }

    /// Signs every note written from now on with `key` (the resolved `note_signing_key`;
    /// resolving it is the caller's start-up step, so that a bad key stops the start).
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(Arc::new(key));
        self
    }

    fn git_err(repo: &RepoName) -> impl Fn(git2::Error) -> ExecError + '_ {
        move |e| ExecError::Git {
            repo: repo.clone(),
            source: e,
        }
    }

    fn mirror_dir(&self, repo: &RepoName) -> PathBuf {
        self.config
            .data_dir
            .join("mirrors")
            .join(repo.owner())
            .join(format!("{}.git", repo.name()))
    }

    async fn clone_url(&self, repo: &RepoName) -> Result<String, ExecError> {
        if let Some(u) = self
            .clone_urls
            .lock()
            .ok()
            .and_then(|m| m.get(repo).cloned())
        {
            return Ok(u);
        }
        let info = self.gh.repo(repo).await?;
        let url = info
            .clone_url
            .ok_or_else(|| ExecError::Other(format!("{repo} has no clone_url")))?;
        if let Ok(mut m) = self.clone_urls.lock() {
            m.insert(repo.clone(), url.clone());
        }
        Ok(url)
    }

    /// The token for git over https to `repo`: the configured one, or with a GitHub App the
    /// installation token of the repository's owner.
    async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, ExecError> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        Ok(self.gh.git_token(repo).await?)
    }

    /// The token for pushing a note; without one the push fails and is retried later.
    async fn note_token(&self, repo: &RepoName) -> Option<Secret> {
        self.git_token(repo).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no token for pushing the note yet");
            None
        })
    }

    /// Brings the mirror up to date and opens it.
    async fn mirror(&self, repo: &RepoName) -> Result<(Repository, String), ExecError> {
        let url = self.clone_url(repo).await?;
        let dir = self.mirror_dir(repo);
        let token = self.git_token(repo).await?;
        let push_token = token.clone();
        let _guard = self.mirror_lock.lock().await;
        let u = url.clone();
        let mirror = tokio::task::spawn_blocking(move || sync_mirror(&dir, &u, token.as_ref()))
            .await
            .map_err(|source| ExecError::Task {
                what: "the mirror's sync",
                source,
            })?
            .map_err(|source| ExecError::Mirror {
                repo: repo.clone(),
                source,
            })?;
        self.keep_own_notes(&mirror, repo, &url, push_token.as_ref());
        Ok((mirror, url))
    }

    /// Whether a record read from the code host may be one of prgate's own: signed by its key
    /// (when it has one) and not dated in the future. Whether a merge ran rests on prgate's own
    /// statuses first either way (see `consider_inner`).
    fn trusted_note(&self) -> impl Fn(&ExecutionNote) -> bool + use<> {
        let own_key = self.signing_key.as_ref().map(|k| k.verifying_key());
        move |n: &ExecutionNote| {
            // Without a key, replicas' notes cannot be told from a writer's: they are taken,
            // and `consider` believes one only where prgate's own statuses agree.
            let signed = own_key.as_ref().is_none_or(|k| {
                matches!(
                    check_signature(n, std::slice::from_ref(k)),
                    SignatureCheck::Valid { .. }
                )
            });
            // A clock a little ahead of ours is a replica's; days ahead is a forgery.
            let not_future =
                crate::record::note::recorded_at(n) <= Utc::now() + chrono::Duration::minutes(5);
            signed && not_future
        }
    }

    /// Adopts the notes just fetched and pushes again every record of prgate's the remote
    /// lacks or has otherwise: a writer who deletes or rolls back `refs/notes/prgate` cannot
    /// erase what prgate wrote. A failure is logged; the next sync tries again.
    fn keep_own_notes(
        &self,
        mirror: &Repository,
        repo: &RepoName,
        url: &str,
        token: Option<&Secret>,
    ) {
        let trusted = self.trusted_note();
        let restore = match adopt_fetched_notes(mirror, &trusted, self.signing_key.is_some()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%repo, error = %e, "cannot merge the fetched notes");
                return;
            }
        };
        if restore.is_empty() {
            return;
        }
        tracing::warn!(%repo, records = restore.len(), "the remote's prgate notes lack records prgate wrote (deleted or rolled back?); pushing them again");
        if let Err(e) = push_notes(mirror, url, token, &trusted) {
            tracing::warn!(%repo, error = %e, "cannot push the records again yet");
        }
    }

    /// The mirror as it is on disk, without fetching: for work right after a sync, where a
    /// second fetch would only cost a round trip.
    async fn local_mirror(&self, repo: &RepoName) -> Result<Repository, ExecError> {
        let _guard = self.mirror_lock.lock().await;
        Repository::open_bare(self.mirror_dir(repo)).map_err(Self::git_err(repo))
    }

    /// A push moved `branch` from `before` to `after`: consider each new first-parent commit.
    pub(crate) async fn on_push(
        self: &Arc<Self>,
        repo: &RepoName,
        before: Option<&CommitSha>,
        after: &CommitSha,
    ) -> Result<Vec<(CommitSha, Considered)>, ExecError> {
        let order = self
            .push_order
            .lock()
            .map(|mut m| m.entry(repo.clone()).or_default().clone())
            .unwrap_or_default();
        let _in_order = order.lock().await;
        let (mirror, _) = self.mirror(repo).await?;
        let tip = Oid::from_str(after.as_str()).map_err(Self::git_err(repo))?;
        let stop = before.and_then(|b| Oid::from_str(b.as_str()).ok());
        let commits =
            first_parent_range(&mirror, tip, stop, RECONCILE_DEPTH).map_err(Self::git_err(repo))?;
        drop(mirror);
        let mut out = Vec::new();
        for oid in commits {
            let sha: CommitSha = match oid.to_string().parse() {
                Ok(s) => s,
                Err(_) => continue,
            };
            // One commit that cannot be dealt with now must not keep the later ones from
            // being considered; the reconciler comes back to it.
            let mut result = self.consider(repo, &sha, Mode::Automatic).await;
            // The earlier merge may be running in another replica: wait a little for its
            // record rather than leave this one to the next reconciler pass (minutes away).
            for wait in [1, 2, 4, 8] {
                if !matches!(result, Err(ExecError::EarlierMergeUnrecorded(_))) {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
                result = self.consider(repo, &sha, Mode::Automatic).await;
            }
            match result {
                Ok(result) => out.push((sha, result)),
                Err(e) => {
                    tracing::warn!(%repo, merge = %sha, error = %e, "cannot consider the commit now; the reconciler retries")
                }
            }
        }
        Ok(out)
    }

    /// The reconciler's pass: recent commits of each governed branch that have no record yet.
    pub async fn reconcile(self: &Arc<Self>) {
        for governed in &self.config.repos {
            let repo = &governed.name;
            let result: Result<(), ExecError> = async {
                let (mirror, _) = self.mirror(repo).await?;
                let programs = self.config.program_paths();
                let mut todo = Vec::new();
                for branch in &governed.branches {
                    let Ok(tip) = mirror.refname_to_id(&format!("refs/heads/{branch}")) else {
                        continue;
                    };
                    for oid in first_parent_range(&mirror, tip, None, RECONCILE_DEPTH)
                        .map_err(Self::git_err(repo))?
                    {
                        // Only commits that would run an executor and have no record yet; the
                        // rest is decided from the mirror alone, without a code host call.
                        let needs_look = match read_local(&mirror, oid, repo) {
                            Ok(Some(local)) => {
                                // The dashboard lists what the notes record (after a restart
                                // too); a run in progress here is not yet what its note says.
                                if let Some(rec) = &local.existing
                                    && let Ok(sha) = oid.to_string().parse::<CommitSha>()
                                    && !self
                                        .running
                                        .lock()
                                        .map(|r| r.contains_key(&sha))
                                        .unwrap_or(true)
                                {
                                    self.dashboard.record_execution(
                                        repo,
                                        &sha,
                                        &rec.executor,
                                        rec.outcome.as_str(),
                                        rec.finished_at,
                                    );
                                }
                                local.existing.is_none()
                                    && policy::parse_policy(POLICY_PATH, &local.policy_text)
                                        .map(|p| policy::govern_programs(&p, &programs))
                                        .map(|p| policy::links::govern_links(&p, &local.links))
                                        .map(|p| {
                                            // An executor to run, or a governed merge still
                                            // without its approval record.
                                            !policy::executors_for(&p, &local.changed).is_empty()
                                                || (!local.has_note
                                                    && !policy::matched_rules(&p, &local.changed)
                                                        .is_empty())
                                        })
                                        // An unreadable policy is refused (and reported) by consider.
                                        .unwrap_or(true)
                            }
                            Ok(None) => false,
                            Err(_) => true,
                        };
                        if needs_look {
                            todo.push(oid.to_string());
                        }
                    }
                }
                drop(mirror);
                for sha in todo {
                    let Ok(sha) = sha.parse::<CommitSha>() else {
                        continue;
                    };
                    if self
                        .seen
                        .lock()
                        .map(|s| s.contains(&(repo.clone(), sha.clone())))
                        .unwrap_or(false)
                    {
                        continue;
                    }
                    if let Err(e) = self.consider(repo, &sha, Mode::Automatic).await {
                        tracing::warn!(%repo, merge = %sha, error = %e, "reconcile: cannot consider the commit now; next pass retries");
                    }
                }
                self.report_interrupted(repo).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(%repo, error = %e, "executor reconcile failed; next pass retries");
            }
        }
    }

    /// Claims whose run ended without a result (the process died) are reported as
    /// `interrupted`, and never re-run automatically.
    async fn report_interrupted(&self, repo: &RepoName) -> Result<(), ExecError> {
        let claims = self.gh.matching_refs(repo, "prgate/claims/").await?;
        // The reconciler synced the mirror just before.
        let mirror = self.local_mirror(repo).await?;
        for (name, target) in claims {
            // The claim names M (`refs/prgate/claims/<M>` or `<M>-operator-<id>`); its target
            // is a claim commit on M.
            let Some(m) = merge_of_claim(&name) else {
                continue;
            };
            if self
                .running
                .lock()
                .map(|r| r.contains_key(&m))
                .unwrap_or(false)
            {
                continue;
            }
            let Ok(oid) = Oid::from_str(m.as_str()) else {
                continue;
            };
            // The local note is a cheap first look; prgate's own statuses decide, since a
            // writer can delete a note or roll back a finished one to its provisional
            // `interrupted` version.
            let maybe = match read_note(&mirror, oid) {
                Ok(Some(n)) => n
                    .execution
                    .as_ref()
                    .is_some_and(|e| e.outcome == Outcome::Interrupted),
                Ok(None) => true,
                Err(_) => false,
            };
            if !maybe {
                continue;
            }
            // Interrupted: claimed (`running`) and nothing after. A claim with no status of
            // prgate's at all is not prgate's: considering the merge reports it as blocked.
            let newest = self.own_statuses_dated(repo, &m).await?.into_iter().next();
            let interrupted = match newest {
                Some((RunStatus::Running, since)) => {
                    self.claim_is_over(repo, &target, &m, since).await?
                }
                _ => false,
            };
            // Once said, prgate's newest status is `interrupted` itself, so it is said once,
            // across restarts and replicas, whatever else considered the merge meanwhile.
            if interrupted {
                tracing::warn!(%repo, merge = %m, "execution was interrupted; not re-running it");
                self.gh
                    .post_status(
                        repo,
                        &m,
                        "failure",
                        EXECUTION_CONTEXT,
                        run_status::INTERRUPTED,
                        self.page_url(repo, &m).as_deref(),
                    )
                    .await?;
                self.metrics.execution(Outcome::Interrupted.as_str());
                let executor = read_note(&mirror, oid)
                    .ok()
                    .flatten()
                    .and_then(|n| n.execution)
                    .map(|e| e.executor)
                    .unwrap_or_default();
                self.dashboard.record_execution(
                    repo,
                    &m,
                    &executor,
                    Outcome::Interrupted.as_str(),
                    Utc::now(),
                );
            }
        }
        Ok(())
    }

    /// Cancels a run in progress in this process; `false` when none is.
    pub fn cancel(&self, merge: &CommitSha) -> bool {
        match self.running.lock().ok().and_then(|r| r.get(merge).cloned()) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Verifies, claims, runs and records one commit.
    pub async fn consider(
        self: &Arc<Self>,
        repo: &RepoName,
        merge: &CommitSha,
        mode: Mode,
    ) -> Result<Considered, ExecError> {
        let span = tracing::info_span!("execute", %repo, merge = %merge);
        let result = self
            .consider_inner(repo, merge, mode)
            .instrument(span)
            .await;
        if let Ok(outcome) = &result {
            tracing::info!(%repo, merge = %merge, result = %outcome.describe(), "executor decision");
            // A blocked merge is looked at again on every pass, until the ref is gone.
            let settled = !matches!(outcome, Considered::Blocked { .. });
            if settled && let Ok(mut s) = self.seen.lock() {
                s.put((repo.clone(), merge.clone()), ());
            }
        }
        result
    }

    async fn consider_inner(
        self: &Arc<Self>,
        repo: &RepoName,
        merge: &CommitSha,
        mode: Mode,
    ) -> Result<Considered, ExecError> {
        let (mirror, clone_url) = self.mirror(repo).await?;
        let gerr = Self::git_err(repo);
        let m = Oid::from_str(merge.as_str()).map_err(&gerr)?;
        // Everything read from git first, so that no git2 borrow lives across an await.
        let Some(local) = read_local(&mirror, m, repo).map_err(&gerr)? else {
            return Ok(Considered::NotGoverned);
        };
        let policy = match self.governing_policy(&local) {
            Ok(p) => p,
            Err(e) => {
                let reason = format!("the policy at the merge's first parent is invalid: {e}");
                return self.cannot_act(repo, merge, None, &reason).await;
            }
        };
        let executors = policy::executors_for(&policy, &local.changed);
        if executors.is_empty() {
            // Nothing runs, but a governed merge still gets its approval record as a (signed)
            // note, so that `verify --public-key` can demand one for every governed commit.
            let governed = !policy::matched_rules(&policy, &local.changed).is_empty();
            if !governed || local.has_note {
                return Ok(Considered::NotGoverned);
            }
            return self
                .record_approval(repo, merge, policy, &local, &clone_url, m)
                .await;
        }
        // Notes and claim refs can be deleted or rolled back by any writer; prgate's own
        // statuses cannot: they are read first. A record already there means this commit was
        // dealt with only when prgate's statuses say it dealt with it: a note on a merge prgate
        // never posted a status on is a writer's, and never stops a run.
        let history = self.own_statuses(repo, merge).await?;
        // A note on M that prgate did not write (unsigned, another key, dated ahead, or with no
        // status of prgate's behind it): it never stops the run, prgate's record replaces it,
        // and the final status says so.
        let trusted = self.trusted_note();
        // What backs a record: prgate claimed M (a run) or refused it, by its own statuses.
        let backed = history
            .iter()
            .any(|s| s.claimed() || matches!(s, RunStatus::Refused));
        let foreign_note = local
            .fetched
            .as_ref()
            .is_some_and(|n| !trusted(n) || !backed);
        if local.existing.is_some() && !backed {
            tracing::warn!(%repo, %merge, "a note prgate's statuses do not back is on this merge; it is not prgate's record and does not stop the run");
        }
        if let Some(rec) = local.existing.as_ref().filter(|_| backed) {
            // The run ended and its record says how, but the final status never reached the
            // code host (a failed call after the run): post it now from the record, so that the
            // merge does not show `running` for ever.
            if history.first() == Some(&RunStatus::Running)
                && !matches!(rec.outcome, Outcome::Interrupted)
                && !self
                    .running
                    .lock()
                    .map(|r| r.contains_key(merge))
                    .unwrap_or(true)
            {
                let detail = match rec.exit_code {
                    Some(c) => format!(" with exit code {c}"),
                    None => format!(": {}", rec.refusal.clone().unwrap_or_default()),
                };
                let (state, description) = run_status::ended(&rec.executor, rec.outcome, &detail);
                self.status(repo, merge, state, &description).await?;
            }
            let rerunnable = matches!(
                rec.outcome,
                Outcome::Interrupted
                    | Outcome::Held
                    | Outcome::Cancelled
                    | Outcome::Refused
                    | Outcome::NotStarted
            );
            if mode == Mode::Automatic || !rerunnable {
                return Ok(Considered::AlreadyRecorded {
                    outcome: rec.outcome,
                    reason: rec.refusal.clone(),
                });
            }
        }
        // Notes and claim refs can be deleted or rolled back by any writer; prgate's own
        // statuses cannot. A merge they show as claimed never runs again automatically, and a
        // run they show as finished never runs again at all.
        let running_here = self
            .running
            .lock()
            .map(|r| r.contains_key(merge))
            .unwrap_or(false);
        if running_here {
            return Ok(Considered::ClaimedElsewhere);
        }
        // What the code host's note says of an outcome the statuses show, for the words only.
        let said = |outcome: Outcome| {
            local
                .fetched
                .as_ref()
                .and_then(|n| n.execution.as_ref())
                .filter(|e| e.outcome == outcome)
                .and_then(|e| e.refusal.clone())
        };
        if let Some(outcome) = history.iter().find_map(RunStatus::finished) {
            return Ok(Considered::AlreadyRecorded {
                outcome,
                reason: said(outcome),
            });
        }
        // A refusal prgate posted is durable even where its note is not one prgate trusts (no
        // signing key) or is gone: only an operator's `prgate execute` reconsiders it.
        if mode == Mode::Automatic && history.iter().any(|s| matches!(s, RunStatus::Refused)) {
            return Ok(Considered::AlreadyRecorded {
                outcome: Outcome::Refused,
                reason: None,
            });
        }
        if mode == Mode::Automatic && history.iter().any(RunStatus::claimed) {
            let outcome = history
                .iter()
                .find_map(|s| match s {
                    RunStatus::Ended(o) => Some(*o),
                    _ => None,
                })
                .unwrap_or(Outcome::Interrupted);
            tracing::warn!(%repo, %merge, %outcome, "prgate's statuses show this merge claimed before; its note is missing or rolled back, so it is not run again");
            return Ok(Considered::AlreadyRecorded {
                outcome,
                reason: said(outcome),
            });
        }
        if executors.len() > 1 {
            let reason = format!(
                "the change meets several executors ({}); split it so that each merge runs one",
                executors.join(", ")
            );
            return self.cannot_act(repo, merge, None, &reason).await;
        }
        let name = executors[0].clone();
        let Some(exec) = self.executor_config(&name, repo) else {
            let reason = format!("executor {name} is not defined for {repo} in prgate.toml");
            return self.cannot_act(repo, merge, Some(&name), &reason).await;
        };

        // --- verification: from the code host and from git, never from statuses ---
        let verified = match self.verify(repo, merge, policy.clone(), &local).await? {
            Ok(v) => v,
            Err((pull, reason)) => {
                return self
                    .refuse(repo, merge, pull.as_ref(), Some(&name), &reason)
                    .await;
            }
        };
        let h = Oid::from_str(verified.note.head.as_str()).map_err(&gerr)?;
        let content = match check_content(&mirror, m, h) {
            Ok(Equivalence::Equivalent { .. }) => None,
            Ok(Equivalence::Differs { reason }) => Some(reason),
            Err(e) => Some(format!(
                "cannot compare the merge with the approved head: {}",
                e.message()
            )),
        };
        if let Some(reason) = content {
            return self
                .refuse(repo, merge, Some(&verified.pull), Some(&name), &reason)
                .await;
        }
        // 4. No unapproved content rides along: what M runs with must itself be approved. An
        // earlier merge without a record here counts as approved when prgate's statuses show it
        // ran, or show it stuck and it verifies now (see `approved_earlier`); one still running,
        // or not yet considered, is waited for, so that merges run in order.
        drop(mirror);
        let mut spot = SpotChecks::default();
        let carried = loop {
            let mirror = self.local_mirror(repo).await?;
            let found = self
                .carried(&mirror, repo, m, &policy, &verified.note.rules, &spot)
                .map_err(&gerr)?;
            drop(mirror);
            match found {
                Carried::Pending { commit } if spot.approved.len() < MAX_SPOT_CHECKS => {
                    if self.approved_earlier(repo, commit).await? {
                        spot.approved.insert(commit);
                    } else {
                        break Carried::Pending { commit };
                    }
                }
                other => break other,
            }
        };
        match carried {
            Carried::Approved => {}
            Carried::Pending { commit } => {
                return Err(ExecError::EarlierMergeUnrecorded(commit.to_string()));
            }
            Carried::TooDeep => {
                let reason = format!(
                    "the last approved state of the governed content lies more than {} commits back; prgate cannot tell what was approved",
                    super::carried::MAX_WALK
                );
                return self
                    .refuse_approved(repo, merge, &verified, &name, &reason)
                    .await;
            }
            Carried::Unapproved { since, paths } => {
                let how = self
                    .how_it_arrived(repo, &governed_base(&verified.pull), since)
                    .await;
                let short = &since.to_string()[..7];
                let reason = format!(
                    "the branch carries unapproved changes to {} since {short} ({how}): revert them in an approved PR",
                    summarize_paths(&paths)
                );
                return self
                    .refuse_approved(repo, merge, &verified, &name, &reason)
                    .await;
            }
        }
        let mirror = self.local_mirror(repo).await?;
        let pull_number = PullNumber(verified.pull.number);

        // --- hold: the kill switch, before anything starts ---
        if mode == Mode::Automatic {
            let hold = if exec.paused {
                Some(format!("executor {name} is paused in prgate.toml"))
            } else if verified.pull.labels.iter().any(|l| l.name == HOLD_LABEL) {
                Some(format!("the PR carries the {HOLD_LABEL} label"))
            } else {
                None
            };
            if let Some(reason) = hold {
                let mut note = verified.note.clone();
                note.execution = Some(ExecutionRecord::not_run(
                    &name,
                    Outcome::Held,
                    Utc::now(),
                    Some(reason.clone()),
                ));
                let git_token = self.note_token(repo).await;
                self.record(&mirror, &clone_url, m, &note, git_token.as_ref())?;
                let (state, description) = run_status::held(&reason);
                self.status(repo, merge, state, &description).await?;
                self.comment(repo, pull_number, &note, None).await;
                self.metrics.execution("held");
                return Ok(Considered::Held { reason });
            }
        }

        drop(mirror);

        // --- plan: only the effect a human approved is ever applied ---
        let mut verified = verified;
        let mut ran_plan = None;
        if exec.plan.is_some() {
            match self
                .check_plan(repo, merge, m, &verified, &name, &exec, &local)
                .await?
            {
                Ok((approved, now)) => {
                    verified.note.plan = Some(approved);
                    ran_plan = Some(now);
                }
                Err(refused) => return Ok(refused),
            }
        }
        let mirror = self.local_mirror(repo).await?;

        // --- claim: at most once, atomically on the code host, and confirmed as prgate's ---
        if let Some(blocker) = self.notes_blocker(repo).await? {
            return self
                .block(repo, merge, Some(&verified.pull), &blocker)
                .await;
        }
        let tree = mirror
            .find_commit(m)
            .map_err(Self::git_err(repo))?
            .tree_id()
            .to_string();
        match self.claim(repo, merge, &tree, mode).await? {
            Claim::Ours => {}
            Claim::Elsewhere => return Ok(Considered::ClaimedElsewhere),
            Claim::Blocked(reason) => {
                return self.block(repo, merge, Some(&verified.pull), &reason).await;
            }
        }
        // Running here from the claim on, until the record and the final status are written:
        // this process's reconciler must not take its own claim, with no result yet, for an
        // interrupted run.
        let cancel = CancellationToken::new();
        if let Ok(mut r) = self.running.lock() {
            r.insert(merge.clone(), cancel.clone());
        }
        let _running = RunningHere {
            running: &self.running,
            merge: merge.clone(),
        };
        // The claim shows on the merge commit at once, in a status only prgate can post and
        // nobody can delete: from now on no pass, replica or restart runs M again.
        // Statuses are append-only: a post whose answer was lost is sent again freely.
        let (state, description) = run_status::running(&name);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.status(repo, merge, state, &description).await {
                Ok(()) => break,
                Err(ExecError::GitHub(e)) if e.is_ambiguous() && tries < 4 => {
                    tracing::warn!(%repo, %merge, error = %e, "the running status got no clear answer; posting it again");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
        // An operator's re-run is their decision, and the record says so.
        let operator = match (mode, &local.existing) {
            (Mode::Operator, Some(rec)) => {
                let who = self
                    .gh
                    .own_login()
                    .await
                    .unwrap_or_else(|_| "an operator".to_string());
                Some(format!(
                    "re-run by {who} with prgate execute after the record said {}",
                    rec.outcome
                ))
            }
            _ => None,
        };
        // A provisional record: if this process dies now, the note already says `interrupted`.
        let mut note = verified.note.clone();
        let started = Utc::now();
        let mut provisional = ExecutionRecord::not_run(&name, Outcome::Interrupted, started, None);
        provisional.operator = operator.clone();
        note.execution = Some(provisional);
        let git_token = self.note_token(repo).await;
        self.record(&mirror, &clone_url, m, &note, git_token.as_ref())?;

        // --- run ---
        let workdir = self.config.data_dir.join("worktrees").join(merge.as_str());
        // Whatever keeps the command from starting (a checkout that fails, a secret that does
        // not resolve) is recorded as `not_started` with the reason: nothing ran, and an
        // operator may run it again once the cause is fixed.
        let prepared = checkout_fresh(&mirror, m, &workdir)
            .map_err(|e| format!("cannot check out the merge: {e}"))
            .and_then(|checkout| {
                let env = crate::config::resolve_env(&exec.env);
                match env {
                    Ok(env) => Ok((checkout, env)),
                    Err(reason) => {
                        checkout.remove();
                        Err(reason)
                    }
                }
            });
        drop(mirror);
        let run = match prepared {
            Err(reason) => {
                tracing::warn!(%repo, %merge, %reason, "the execution did not start");
                note.execution = Some(ExecutionRecord::not_run(
                    &name,
                    Outcome::NotStarted,
                    started,
                    Some(reason),
                ));
                None
            }
            Ok((checkout, env)) => {
                let approvers: Vec<String> = verified
                    .note
                    .approvals
                    .iter()
                    .map(|a| a.login.to_string())
                    .collect();
                let spec = RunSpec {
                    argv: exec.command.clone(),
                    workdir: checkout.work_tree.clone(),
                    git_dir: Some(checkout.git_dir.clone()),
                    env,
                    context: vec![
                        ("PRGATE_REPO".into(), repo.to_string()),
                        ("PRGATE_PULL".into(), pull_number.to_string()),
                        ("PRGATE_MERGE_SHA".into(), merge.to_string()),
                        ("PRGATE_HEAD_SHA".into(), verified.note.head.to_string()),
                        ("PRGATE_APPROVERS".into(), approvers.join(",")),
                        ("PRGATE_CHANGED_FILES".into(), verified.changed.join("\n")),
                    ],
                    timeout: exec.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT),
                    output_cap: OUTPUT_CAP,
                    isolation: super::sandbox::Isolation::for_command(&exec, &checkout.objects),
                    held: self.held.clone(),
                };
                let watcher = self.watch_hold_label(repo.clone(), pull_number, cancel.clone());
                let result = run_executor(&spec, cancel.clone()).await;
                watcher.abort();
                note.execution = Some(ExecutionRecord::from_run(&name, &result));
                checkout.remove();
                Some(result)
            }
        };
        if let Some(rec) = note.execution.as_mut() {
            rec.operator = operator;
            rec.plan = ran_plan;
        }

        // --- record --- (the mirror was synced before the run; notes merge on push)
        let mirror = self.local_mirror(repo).await?;
        let git_token = self.note_token(repo).await;
        self.record(&mirror, &clone_url, m, &note, git_token.as_ref())?;
        drop(mirror);
        let outcome = note
            .execution
            .as_ref()
            .map(|e| e.outcome)
            .unwrap_or(Outcome::Failed);
        let exit_code = note.execution.as_ref().and_then(|e| e.exit_code);
        let detail = match exit_code {
            Some(c) => format!(" with exit code {c}"),
            None => format!(
                ": {}",
                note.execution
                    .as_ref()
                    .and_then(|e| e.refusal.clone())
                    .unwrap_or_else(|| "it did not run".into())
            ),
        };
        let (state, mut description) = run_status::ended(&name, outcome, &detail);
        if foreign_note {
            description.push_str("; it replaced a note prgate did not write");
        }
        self.status(repo, merge, state, &description).await?;
        self.comment(
            repo,
            pull_number,
            &note,
            run.as_ref().map(|r| r.output.as_str()),
        )
        .await;
        self.metrics.execution(outcome.as_str());
        self.dashboard
            .record_execution(repo, merge, &name, outcome.as_str(), Utc::now());
        Ok(Considered::Ran { outcome, exit_code })
    }

    /// Runs `executor`'s plan for a PR's `head` on `base`, the base branch's tip: in a fresh
    /// checkout of their would-be merge, with the executor's program paths as `base` holds
    /// them. `Err` when the plan could not be attempted for a reason outside the change (the
    /// mirror cannot be synced, a commit is not fetched yet): the caller tries again later. A
    /// plan's own failure (no clean merge, a non-zero exit, a timeout) is `Ok` with `failure`.
    pub(crate) async fn plan_pull(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        base: &CommitSha,
        head: &CommitSha,
        executor: &str,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<PlanRun, ExecError> {
        let (mirror, _) = self.mirror(repo).await?;
        let gerr = Self::git_err(repo);
        let b = Oid::from_str(base.as_str()).map_err(&gerr)?;
        let h = Oid::from_str(head.as_str()).map_err(&gerr)?;
        let Some(exec) = self
            .executor_config(executor, repo)
            .filter(|e| e.plan.is_some())
        else {
            return Ok(PlanRun::failed(
                executor,
                b,
                h,
                format!("executor {executor} has no plan for {repo} in prgate.toml"),
            ));
        };
        let dir = plan_dir(&self.config.data_dir, executor, head.as_str());
        let checkout = match would_be_merge(&mirror, b, h).map_err(&gerr)? {
            Err(reason) => Err(reason),
            Ok(tree) => {
                let programs = mirror.find_commit(b).map_err(&gerr)?.tree_id();
                with_programs_from(&mirror, tree, programs, &exec.program_patterns())
                    .and_then(|t| checkout_plan_tree(&mirror, t, &[b, h], &dir))
                    .map_err(|e| format!("cannot check out the would-be merge: {e}"))
            }
        };
        drop(mirror);
        let run = match checkout {
            Ok(checkout) => {
                let spec = self.plan_spec(repo, pull, executor, &exec, b, h);
                run_plan(&spec, checkout, cancel).await
            }
            Err(reason) => PlanRun::failed(executor, b, h, reason),
        };
        self.remember_plan(&run);
        Ok(run)
    }

    fn plan_spec<'a>(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        executor: &'a str,
        exec: &'a ExecutorConfig,
        programs_from: Oid,
        head: Oid,
    ) -> PlanSpec<'a> {
        PlanSpec {
            executor,
            config: exec,
            timeout: exec.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT),
            programs_from,
            head,
            held: self.held.clone(),
            context: vec![
                ("PRGATE_REPO".into(), repo.to_string()),
                ("PRGATE_PULL".into(), pull.to_string()),
                ("PRGATE_HEAD_SHA".into(), head.to_string()),
            ],
        }
    }

    fn remember_plan(&self, run: &PlanRun) {
        if let (Some(plan), Ok(mut outputs)) = (&run.plan, self.plan_outputs.lock()) {
            outputs.put(plan.digest.clone(), run.output.clone());
        }
    }

    /// The output of a plan run here with this digest, while it is remembered.
    fn plan_output(&self, digest: &str) -> Option<String> {
        self.plan_outputs
            .lock()
            .ok()
            .and_then(|mut o| o.get(digest).cloned())
    }

    /// The plans prgate showed on a PR for `head` (its own comments' markers) with when each
    /// was shown, oldest first.
    async fn shown_plans(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        head: &CommitSha,
        executor: &str,
    ) -> Result<Vec<(PlanDigest, Option<chrono::DateTime<Utc>>)>, ExecError> {
        let me = self.own_login().await?;
        let comments = self.gh.comments(repo, pull).await?;
        Ok(comments
            .iter()
            .filter(|c| {
                c.user
                    .as_ref()
                    .is_some_and(|u| Login::new(u.login.clone()) == me)
            })
            .filter_map(|c| parse_plan_marker(&c.body).map(|m| (m, c.created_at)))
            .filter(|(m, _)| m.head == head.as_str() && m.executor == executor)
            .map(|(m, at)| (m.plan, at))
            .collect::<Vec<_>>())
        .map(|mut v| {
            v.sort_by_key(|(_, at)| *at);
            v
        })
    }

    /// The text of `plan` as one of prgate's own plan comments on the PR shows it, when that
    /// text hashes to the plan's digest: a comment can be edited by the repository's admins,
    /// and a text that is not the approved plan is never quoted as it. `None` on any doubt
    /// (no such comment, clipped output, a read that fails); the refusal then points to the
    /// comment instead.
    async fn shown_plan_text(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        executor: &str,
        plan: &PlanDigest,
    ) -> Option<String> {
        let me = self.own_login().await.ok()?;
        let comments = self.gh.comments(repo, pull).await.ok()?;
        comments
            .iter()
            .filter(|c| {
                c.user
                    .as_ref()
                    .is_some_and(|u| Login::new(u.login.clone()) == me)
            })
            .filter(|c| {
                parse_plan_marker(&c.body)
                    .is_some_and(|m| m.executor == executor && m.plan == *plan)
            })
            .find_map(|c| plan_text_in_comment(&c.body, plan))
    }

    /// Before the command: the approved plan (the merge's `Prgate-Plan`, which must be one
    /// prgate showed on the PR; without trailers, the last one it showed for the head) and
    /// the plan run again on the merge, with the program paths of its first parent. `Ok`
    /// with both when their digests are equal; otherwise the refusal, already recorded.
    #[allow(clippy::too_many_arguments)]
    async fn check_plan(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        m: Oid,
        verified: &Verified,
        name: &str,
        exec: &ExecutorConfig,
        local: &LocalFacts,
    ) -> Result<Result<(PlanDigest, PlanDigest), Considered>, ExecError> {
        let pull = PullNumber(verified.pull.number);
        let head = &verified.note.head;
        let shown = self.shown_plans(repo, pull, head, name).await?;
        // The plan that counts is prgate's latest plan comment for the head, and only an
        // approval given after it approved it: the rule the gate decides by, on every replica.
        let approved = match shown.last() {
            None => Err(format!(
                "no plan was shown on PR #{pull} for the approved head {}; a human must approve the plan that applies",
                head.short()
            )),
            Some((latest, at)) => {
                let earlier: Vec<String> = shown
                    .iter()
                    .map(|(p, _)| p.short().to_string())
                    .filter(|s| s != latest.short())
                    .collect();
                let others = if earlier.is_empty() {
                    String::new()
                } else {
                    format!(" (also shown before it: {})", earlier.join(", "))
                };
                let after = verified
                    .note
                    .approvals
                    .iter()
                    .any(|a| at.zip(a.submitted_at).is_some_and(|(at, t)| t >= at));
                match &local.trailer_plan {
                    Some(d) if d != &latest.digest => Err(format!(
                        "the merge's Prgate-Plan {d} is not the latest plan prgate showed for {} ({}…){others}; a human must approve the plan that applies",
                        head.short(),
                        latest.short()
                    )),
                    _ if !after => Err(format!(
                        "no approval follows the latest plan shown for {} ({}…){others}; a human must approve the plan that applies",
                        head.short(),
                        latest.short()
                    )),
                    _ => Ok(latest.clone()),
                }
            }
        };
        let approved = match approved {
            Ok(a) => a,
            Err(reason) => {
                return self
                    .refuse_plan(repo, merge, verified, name, &reason, None, None)
                    .await
                    .map(Err);
            }
        };
        let gerr = Self::git_err(repo);
        let h = Oid::from_str(head.as_str()).map_err(&gerr)?;
        let p = Oid::from_str(local.parent.as_str()).map_err(&gerr)?;
        let dir = plan_dir(&self.config.data_dir, name, head.as_str());
        let mirror = self.local_mirror(repo).await?;
        let checkout = {
            let content = mirror.find_commit(m).map_err(&gerr)?.tree_id();
            let programs = mirror.find_commit(p).map_err(&gerr)?.tree_id();
            with_programs_from(&mirror, content, programs, &exec.program_patterns())
                .and_then(|t| checkout_plan_tree(&mirror, t, &[p, h], &dir))
        };
        drop(mirror);
        let run = match checkout {
            Ok(checkout) => {
                let spec = self.plan_spec(repo, pull, name, exec, p, h);
                run_plan(&spec, checkout, tokio_util::sync::CancellationToken::new()).await
            }
            Err(e) => PlanRun::failed(name, p, h, format!("cannot check out the merge: {e}")),
        };
        self.remember_plan(&run);
        let reason = match (&run.plan, &run.failure) {
            (Some(now), None) if now.digest == approved.digest => {
                return Ok(Ok((approved, now.clone())));
            }
            (Some(now), None) => format!(
                "plan drifted: approved {}…, now {}… (the world changed or the base moved since the approval); a drifted plan is never applied: a human must approve the new plan",
                approved.short(),
                now.short()
            ),
            (_, failure) => format!(
                "the plan failed before the command ({}), so nobody can tell its effect; nothing ran",
                failure.as_deref().unwrap_or("no digest")
            ),
        };
        self.refuse_plan(
            repo,
            merge,
            verified,
            name,
            &reason,
            Some(approved),
            Some(&run),
        )
        .await
        .map(Err)
    }

    /// A refusal because of the plan: recorded durably with the approved plan (the note's
    /// `plan`) and the new one (the execution's), posted on the PR with both plans' text.
    #[allow(clippy::too_many_arguments)]
    async fn refuse_plan(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        verified: &Verified,
        executor: &str,
        reason: &str,
        approved: Option<PlanDigest>,
        now: Option<&PlanRun>,
    ) -> Result<Considered, ExecError> {
        let mut note = verified.note.clone();
        note.plan = approved.clone();
        let mut rec = ExecutionRecord::not_run(
            executor,
            Outcome::Refused,
            Utc::now(),
            Some(reason.to_string()),
        );
        rec.plan = now.and_then(|r| r.plan.clone());
        note.execution = Some(rec);
        self.write_refusal(repo, merge, note).await?;
        self.refuse(repo, merge, None, Some(executor), reason)
            .await?;
        // The approved plan's text: remembered by this process, or else as prgate's own plan
        // comment on the PR shows it (after a restart), if that text hashes to the digest.
        let approved_output = match &approved {
            None => None,
            Some(a) => match self.plan_output(&a.digest) {
                Some(text) => Some(text),
                None => {
                    let pull = PullNumber(verified.pull.number);
                    self.shown_plan_text(repo, pull, executor, a).await
                }
            },
        };
        let plans = serde_json::json!({
            "approved": approved.as_ref().map(|a| serde_json::json!({
                "digest": a.digest,
                "size": a.size,
                "output": approved_output,
            })),
            "now": now.map(|r| serde_json::json!({
                "digest": r.plan.as_ref().map(|p| p.digest.clone()),
                "size": r.plan.as_ref().map(|p| p.size),
                "output": r.output,
                "truncated": r.truncated,
                "failure": r.failure,
            })),
        });
        self.comment_refusal_with(
            repo,
            merge,
            &verified.pull,
            Some(executor),
            reason,
            Some(plans),
        )
        .await;
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    /// Step 4: is the governed content of M's first parent the approved one? Governed content
    /// is what the rules M matched cover (their paths, and their executors' programs).
    fn carried(
        &self,
        mirror: &Repository,
        repo: &RepoName,
        m: Oid,
        policy: &crate::config::RepoPolicy,
        rules: &[String],
        spot: &SpotChecks,
    ) -> Result<Carried, git2::Error> {
        let governs = |path: &str| {
            policy::matched_rules(policy, &[path.to_string()])
                .iter()
                .any(|r| r.name != policy::DEFAULTS_RULE && rules.contains(&r.name))
        };
        let own_key = self.signing_key.as_ref().map(|k| k.verifying_key());
        // A record names approvals only when the PR's approval and the merged content verified
        // (a merge refused only because of content it carried still approved its own change).
        let has_valid_record = |c: Oid| {
            c == m
                || spot.approved.contains(&c)
                || match read_note(mirror, c) {
                    Ok(Some(n)) => {
                        let approved = n.merge.as_str() == c.to_string()
                            && n.repo == *repo
                            && !n.approvals.is_empty();
                        // With a signing key, only the gate's own signed notes say what was approved:
                        // anyone who can push can write a note.
                        let signed = match &own_key {
                            Some(k) => matches!(
                                check_signature(&n, std::slice::from_ref(k)),
                                SignatureCheck::Valid { .. }
                            ),
                            None => true,
                        };
                        approved && signed
                    }
                    _ => false,
                }
        };
        let awaiting_record = |c: Oid| {
            let trailers = mirror
                .find_commit(c)
                .ok()
                .and_then(|cm| cm.message().and_then(ApprovalTrailers::parse))
                .is_some();
            trailers && matches!(read_note(mirror, c), Ok(None))
        };
        // The walk starts at M itself: what M changed is what its (verified) approval covers.
        check_carried(mirror, m, &governs, &has_valid_record, &awaiting_record)
    }

    /// Whether an earlier merge `commit` without a record counts as approved content for a
    /// later merge's step 4: prgate's own statuses show a run of it that ended (prgate ran it
    /// only after verifying it), or show it stuck ("execution blocked": a ref or a
    /// configuration problem that waits for an operator) and it verifies now as approved, so
    /// that one stuck merge never holds back the ones after it. One still running, or not yet
    /// considered, is waited for: merges of one rule run in order.
    async fn approved_earlier(&self, repo: &RepoName, commit: Oid) -> Result<bool, ExecError> {
        let sha: CommitSha = commit
            .to_string()
            .parse()
            .map_err(|_| ExecError::Other(format!("{commit} is not a commit id")))?;
        let history = self.own_statuses(repo, &sha).await?;
        if history.iter().any(|s| matches!(s, RunStatus::Ended(_))) {
            return Ok(true);
        }
        if history.first() != Some(&RunStatus::Blocked) {
            return Ok(false);
        }
        let gerr = Self::git_err(repo);
        let local = {
            let mirror = self.local_mirror(repo).await?;
            read_local(&mirror, commit, repo).map_err(&gerr)?
        };
        let Some(local) = local else {
            return Ok(false);
        };
        let Ok(policy) = self.governing_policy(&local) else {
            return Ok(false);
        };
        let verified = match self.verify(repo, &sha, policy, &local).await? {
            Ok(v) => v,
            Err((_, reason)) => {
                tracing::info!(%repo, merge = %sha, %reason, "a stuck earlier merge does not verify; later merges wait for it");
                return Ok(false);
            }
        };
        let mirror = self.local_mirror(repo).await?;
        let h = Oid::from_str(verified.note.head.as_str()).map_err(&gerr)?;
        Ok(matches!(
            check_content(&mirror, commit, h),
            Ok(Equivalence::Equivalent { .. })
        ))
    }

    /// "direct push by root", "force push by root", "merged by alice": who brought `commit`
    /// onto `branch`, from the code host's activity log.
    async fn how_it_arrived(&self, repo: &RepoName, branch: &str, commit: Oid) -> String {
        let sha = commit.to_string();
        match self.gh.branch_activity(repo, branch).await {
            Ok(list) => match list.iter().find(|a| a.after == sha) {
                Some(a) => {
                    let who = a
                        .actor
                        .as_ref()
                        .map_or("an unknown account".to_string(), |u| u.login.clone());
                    match a.activity_type.as_str() {
                        "push" => format!("direct push by {who}"),
                        "force_push" => format!("force push by {who}"),
                        "pr_merge" | "merge_queue_merge" => format!("merged by {who}"),
                        other => format!("{other} by {who}"),
                    }
                }
                None => "not merged through prgate".to_string(),
            },
            Err(_) => "not merged through prgate".to_string(),
        }
    }

    fn executor_config(&self, name: &str, repo: &RepoName) -> Option<ExecutorConfig> {
        let e = self.config.executors.get(name)?;
        (e.repos.is_empty() || e.repos.contains(repo)).then(|| e.clone())
    }

    /// Writes the approval record of a governed merge that runs no executor. A merge that does
    /// not verify gets no record (and no status: nothing was going to run); the audit reports it.
    async fn record_approval(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        policy: crate::config::RepoPolicy,
        local: &LocalFacts,
        clone_url: &str,
        m: Oid,
    ) -> Result<Considered, ExecError> {
        let verified = match self.verify(repo, merge, policy, local).await? {
            Ok(v) => v,
            Err((pull, reason)) => {
                tracing::info!(%repo, %merge, %reason, "governed commit without a valid approval; its refusal is recorded");
                // Durable, so that a review given after the merge never launders it later.
                if let Some(pull) = &pull {
                    self.record_refusal(repo, merge, pull, None, &reason)
                        .await?;
                }
                return Ok(Considered::NotGoverned);
            }
        };
        let token = self.note_token(repo).await;
        // No git2 borrow across an await: the mirror is opened only for the local work below.
        let mirror = self.local_mirror(repo).await?;
        let h = Oid::from_str(verified.note.head.as_str()).map_err(Self::git_err(repo))?;
        if !matches!(
            check_content(&mirror, m, h),
            Ok(Equivalence::Equivalent { .. })
        ) {
            tracing::info!(%repo, %merge, "merged content differs from the approved head; no record written");
            return Ok(Considered::NotGoverned);
        }
        self.record(&mirror, clone_url, m, &verified.note, token.as_ref())?;
        Ok(Considered::Recorded)
    }

    /// Finds the PR merged as `merge` and re-evaluates its approval from live facts, judged
    /// by the policy at the merge's first parent. `Ok(Err(..))` is a refusal with its reason.
    async fn verify(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        policy: crate::config::RepoPolicy,
        local: &LocalFacts,
    ) -> Result<Result<Verified, (Option<ApiPull>, String)>, ExecError> {
        // 1. Find the PR: the trailer names it, the code host must confirm it merged as M.
        let pull = match local.trailer_pull {
            Some(n) => match self.gh.pull(repo, n).await {
                Ok(p) => Some(p),
                Err(e) if e.status() == Some(404) => None,
                Err(e) => return Err(e.into()),
            },
            None => self
                .gh
                .pulls_for_commit(repo, merge)
                .await?
                .into_iter()
                .find(|p| p.merged && p.merge_commit_sha.as_deref() == Some(merge.as_str())),
        };
        let Some(pull) = pull else {
            return Ok(Err((
                None,
                "no pull request was merged as this commit (a direct push is never executed)"
                    .into(),
            )));
        };
        if !pull.merged || pull.merge_commit_sha.as_deref() != Some(merge.as_str()) {
            let reason = format!("PR #{} was not merged as this commit", pull.number);
            return Ok(Err((Some(pull), reason)));
        }
        // 2. Approval, by the policy at M^1, against the PR's final head, from live facts.
        let gathered = match gather_facts_with_policy(
            &self.gh,
            repo,
            &pull,
            &local.parent,
            policy.clone(),
            local.policy_blob.clone(),
        )
        .await
        {
            Ok(g) => g,
            Err(crate::github::facts::GatherError::GitHub(e)) => return Err(e.into()),
            Err(e) => {
                return Ok(Err((
                    Some(pull),
                    format!("cannot establish the approval: {e}"),
                )));
            }
        };
        let decision = policy::evaluate_final_head(&policy, &gathered.facts);
        if decision.state != ApprovalState::Success {
            return Ok(Err((
                Some(pull),
                format!("not approved: {}", decision.description),
            )));
        }
        let note = ExecutionNote {
            version: RECORD_VERSION,
            repo: repo.clone(),
            pull: PullNumber(pull.number),
            base: local.parent.clone(),
            head: gathered.facts.head_sha.clone(),
            merge: merge.clone(),
            policy_blob: local.policy_blob.clone(),
            rules: decision.rules.iter().map(|r| r.name.clone()).collect(),
            approvals: decision.approvals.iter().map(NoteApproval::from).collect(),
            decided_at: Utc::now(),
            plan: None,
            execution: None,
            signature: None,
            v2: Some(Box::new(RecordFacts {
                base_branch: pull.base.git_ref.clone(),
                head_pushers: gathered
                    .facts
                    .head_pushers
                    .iter()
                    .flatten()
                    .map(|a| Pusher {
                        login: a.login.clone(),
                        user_id: a.id,
                    })
                    .collect(),
                ..RecordFacts::default()
            })),
        };
        Ok(Ok(Verified {
            pull,
            note,
            changed: local.changed.clone(),
        }))
    }

    /// Claims M: creates `refs/prgate/claims/<M>` (an operator's re-run, a name of its own
    /// nobody can predict) pointing at a claim commit of this attempt's own: M's tree on M,
    /// with a random id in its message. The SHA is unique to the attempt, so reading the ref
    /// back tells our create from anyone else's: a create that got no answer (and so was not
    /// sent again) may have happened, and when the retry meets it, the claim is ours.
    ///
    /// A 422 is read back too, because GitHub answers 422 both when the ref exists and when
    /// another ref's name blocks it ("Reference update failed"): a claim of M (a claim commit
    /// on M, or M itself as earlier versions made it) that shows in prgate's own statuses is
    /// another replica's; anything else is not prgate's, and executions must not stop
    /// silently on it.
    async fn claim(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        tree: &str,
        mode: Mode,
    ) -> Result<Claim, ExecError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = match mode {
            Mode::Automatic => format!("refs/prgate/claims/{merge}"),
            Mode::Operator => format!("refs/prgate/claims/{merge}-operator-{}", &id[..12]),
        };
        let auth = super::instance::claim_auth(
            &self.claim_key,
            &repo.to_string(),
            merge.as_str(),
            &self.instance,
            &id,
        );
        let message = format!(
            "prgate claim of {merge}\n\nclaim-id: {id}\n{}\nclaim-auth: {auth}\n",
            super::instance::claim_line(&self.instance)
        );
        let ours = self
            .gh
            .create_commit(repo, &message, tree, &[merge])
            .await?;
        // Each attempt is read back before the next, so a create is never sent twice blind.
        let mut attempts = 0;
        let existing = loop {
            attempts += 1;
            match self.gh.create_ref(repo, &name, &ours).await {
                Ok(true) => return Ok(Claim::Ours),
                Ok(false) => break self.gh.ref_target(repo, &name).await?,
                Err(e) if e.is_ambiguous() => {
                    tracing::warn!(%repo, %merge, error = %e, "claim create got no clear answer; reading it back");
                    match self.gh.ref_target(repo, &name).await? {
                        None if attempts < 3 => continue,
                        None => return Err(e.into()),
                        found => break found,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        match existing {
            Some(target) if target == ours.as_str() => Ok(Claim::Ours),
            Some(target) if self.claims_merge(repo, &target, merge).await? => {
                // prgate's own claim, by its authentication code: this instance's from an
                // earlier attempt that ended before its `running` status (nothing ran: `consider`
                // found no claim in the statuses) is resumed; another instance's is its.
                if let Some(instance) = self.prgates_claim(repo, &target, merge).await? {
                    let running_here = self
                        .running
                        .lock()
                        .map(|r| r.contains_key(merge))
                        .unwrap_or(true);
                    if instance == self.instance && !running_here {
                        tracing::info!(%repo, %merge, "resuming this instance's own claim of an attempt that ended before anything ran");
                        return Ok(Claim::Ours);
                    }
                    return Ok(Claim::Elsewhere);
                }
                // Another replica claimed it moments ago, or a writer made it: the claimer
                // posts its `running` status right after the claim.
                for wait in [0u64, 1, 2] {
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    if self
                        .own_statuses(repo, merge)
                        .await?
                        .iter()
                        .any(|s| s.claimed())
                    {
                        return Ok(Claim::Elsewhere);
                    }
                }
                Ok(Claim::Blocked(format!(
                    "{name} exists but no prgate run claimed it; if nothing runs, delete it and run prgate execute"
                )))
            }
            Some(target) => Ok(Claim::Blocked(format!(
                "{name} points to {}, not a claim of the merge; it is not prgate's, delete it",
                target.get(..7).unwrap_or(&target)
            ))),
            None => {
                let blocker = self
                    .gh
                    .matching_refs(repo, "prgate/claims")
                    .await?
                    .into_iter()
                    .map(|(r, _)| r)
                    .find(|r| name.starts_with(&format!("{r}/")));
                Ok(Claim::Blocked(match blocker {
                    Some(r) => format!("ref {r} blocks the claim refs under it; delete it"),
                    None => format!("cannot create {name}; check the refs under refs/prgate"),
                }))
            }
        }
    }

    /// The instance that made the claim commit `target`, when its authentication code shows it
    /// is prgate's own; `None` for anything else (a writer's claim, an old unauthenticated one).
    async fn prgates_claim(
        &self,
        repo: &RepoName,
        target: &str,
        merge: &CommitSha,
    ) -> Result<Option<String>, ExecError> {
        if self.claim_key.is_empty() || target == merge.as_str() {
            return Ok(None);
        }
        let message = match self.gh.commit_message(repo, target).await {
            Ok(m) => m,
            Err(e) if matches!(e.status(), Some(404 | 422)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some((id, instance, auth)) = super::instance::parse_claim(&message) else {
            return Ok(None);
        };
        let want = super::instance::claim_auth(
            &self.claim_key,
            &repo.to_string(),
            merge.as_str(),
            &instance,
            &id,
        );
        let genuine: bool = subtle::ConstantTimeEq::ct_eq(want.as_bytes(), auth.as_bytes()).into();
        Ok(genuine.then_some(instance))
    }

    /// Whether `target`, the object a claim ref points to, claims `merge`: a claim commit whose
    /// only parent is the merge, or the merge itself (claims made before claim commits).
    async fn claims_merge(
        &self,
        repo: &RepoName,
        target: &str,
        merge: &CommitSha,
    ) -> Result<bool, ExecError> {
        if target == merge.as_str() {
            return Ok(true);
        }
        match self.gh.commit_parents(repo, target).await {
            Ok(parents) => Ok(parents.len() == 1 && parents[0] == merge.as_str()),
            // Not a commit (a tree, a blob, gone): not a claim.
            Err(e) if matches!(e.status(), Some(404 | 422)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A ref whose name keeps `refs/notes/prgate` from being pushed (`refs/notes/prgate/x`, or
    /// `refs/notes` itself): the record could not be stored, so nothing may run.
    async fn notes_blocker(&self, repo: &RepoName) -> Result<Option<String>, ExecError> {
        let refs = self.gh.matching_refs(repo, "notes").await?;
        Ok(refs
            .into_iter()
            .map(|(r, _)| r)
            .find(|r| r == "refs/notes" || r.starts_with(&format!("{NOTES_REF}/")))
            .map(|r| format!("ref {r} blocks {NOTES_REF}; delete it")))
    }

    /// Nothing runs: an `error` status on M says which ref and what to do, and the PR hears it
    /// once. No claim or record is left, so the next pass retries once the ref is gone.
    async fn block(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: Option<&ApiPull>,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        tracing::error!(%repo, %merge, %reason, "execution blocked by a ref prgate did not create");
        let (state, description) = run_status::blocked(reason);
        let latest = self.own_statuses_raw(repo, merge).await?;
        if latest
            .first()
            .map(|s| (s.state.as_str(), s.description.as_deref().unwrap_or("")))
            != Some((state, policy::clip_description(&description).as_str()))
        {
            self.status(repo, merge, state, &description).await?;
        }
        if let Some(pull) = pull {
            let body = format!(
                "<!-- prgate:blocked merge={merge} -->\n**Execution blocked** for merge `{}`: {reason}.\n\nNothing was run. Delete the ref (`git push origin :REF`, or `DELETE /repos/{repo}/git/refs/...`); the next pass (or `prgate execute --repo {repo} --commit {merge}`) runs it after the same verification.\n",
                merge.short()
            );
            if let Err(e) = self.gh.comment(repo, PullNumber(pull.number), &body).await {
                tracing::warn!(error = %e, "cannot comment the blocked execution");
            }
        }
        self.metrics.execution("blocked");
        Ok(Considered::Blocked {
            reason: reason.to_string(),
        })
    }

    /// The account prgate acts as, learnt once.
    async fn own_login(&self) -> Result<Login, ExecError> {
        if let Some(l) = self.own_login.lock().ok().and_then(|g| g.clone()) {
            return Ok(l);
        }
        let login = Login::new(self.gh.own_login().await?);
        if let Ok(mut g) = self.own_login.lock() {
            *g = Some(login.clone());
        }
        Ok(login)
    }

    /// Whether a claim whose `running` status was posted at `since` can no longer be running:
    /// it is this instance's (which runs nothing of it now: it was interrupted by a restart),
    /// or it has been running longer than any executor may run plus a margin. Another
    /// replica's claim within that time may be running there, and is left alone.
    async fn claim_is_over(
        &self,
        repo: &RepoName,
        target: &str,
        merge: &CommitSha,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<bool, ExecError> {
        // Claims made before claim commits pointed at M itself: nothing tells whose they are.
        if target != merge.as_str() {
            match self.gh.commit_message(repo, target).await {
                Ok(message)
                    if message
                        .lines()
                        .any(|l| l == super::instance::claim_line(&self.instance)) =>
                {
                    return Ok(true);
                }
                Ok(_) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let longest = self
            .config
            .executors
            .values()
            .map(|e| e.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT))
            .max()
            .unwrap_or(DEFAULT_TIMEOUT);
        let limit =
            chrono::Duration::from_std(longest + CLAIM_GRACE).unwrap_or(chrono::Duration::MAX);
        Ok(since.is_none_or(|t| Utc::now() - t > limit))
    }

    /// prgate's own `prgate/execution` statuses on M, newest first, with when they were posted.
    async fn own_statuses_dated(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Vec<(RunStatus, Option<chrono::DateTime<Utc>>)>, ExecError> {
        Ok(self
            .own_statuses_raw(repo, merge)
            .await?
            .into_iter()
            .filter_map(|s| {
                run_status::classify(&s.state, s.description.as_deref().unwrap_or(""))
                    .map(|r| (r, s.created_at))
            })
            .collect())
    }

    /// prgate's own `prgate/execution` statuses on M, newest first.
    async fn own_statuses_raw(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Vec<crate::github::models::ApiStatus>, ExecError> {
        let me = self.own_login().await?;
        Ok(self
            .gh
            .statuses(repo, merge)
            .await?
            .into_iter()
            .filter(|s| s.context == EXECUTION_CONTEXT)
            .filter(|s| {
                s.creator
                    .as_ref()
                    .is_some_and(|c| Login::new(c.login.clone()) == me)
            })
            .collect())
    }

    /// What prgate's own statuses say about M's runs, newest first.
    /// The outcome of a run of `merge` that finished (succeeded, failed, timed out), from
    /// prgate's own statuses; `None` while nothing finished.
    pub async fn finished_outcome(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Option<Outcome>, ExecError> {
        Ok(self
            .own_statuses(repo, merge)
            .await?
            .iter()
            .find_map(RunStatus::finished))
    }

    async fn own_statuses(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
    ) -> Result<Vec<RunStatus>, ExecError> {
        Ok(self
            .own_statuses_dated(repo, merge)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    fn record(
        &self,
        mirror: &Repository,
        url: &str,
        m: Oid,
        note: &ExecutionNote,
        token: Option<&Secret>,
    ) -> Result<(), ExecError> {
        // Each write is signed anew: the note grows from the claim to the result, and a
        // signature covers the whole record as written.
        let mut note = note.clone();
        complete_record_facts(mirror, m, &mut note).map_err(|e| ExecError::Other(e.to_string()))?;
        let text = encode_note(&note, self.signing_key.as_deref())
            .map_err(|e| ExecError::Other(e.to_string()))?;
        write_note_text(mirror, m, &text).map_err(|e| ExecError::Other(e.to_string()))?;
        if let Err(e) = push_notes(mirror, url, token, &self.trusted_note()) {
            // The note stays in the mirror and goes out with the next push.
            tracing::warn!(error = %e, "cannot push the note yet");
        }
        Ok(())
    }

    async fn status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        state: &str,
        description: &str,
    ) -> Result<(), ExecError> {
        let d = policy::clip_description(description);
        let target = self.page_url(repo, sha);
        self.gh
            .post_status(repo, sha, state, EXECUTION_CONTEXT, &d, target.as_deref())
            .await?;
        Ok(())
    }

    /// Where `prgate/execution` links to: the decision page of the PR prgate merged as
    /// `merge`, else the dashboard (which lists executions); nothing without `public_url`.
    fn page_url(&self, repo: &RepoName, merge: &CommitSha) -> Option<String> {
        let pull = self.dashboard.pull_of_merge(repo, merge).map(|p| p.number);
        crate::dashboard::page_url(self.config.public_url.as_deref(), repo, pull)
    }

    /// Records a refusal durably, as a (signed) note with outcome `refused` and no approvals,
    /// so that no restart, replica or later review reconsiders it; only an operator's
    /// `prgate execute` can. Without a PR there is no approval to record a refusal of (a
    /// direct push): the status says it.
    async fn record_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: &ApiPull,
        executor: Option<&str>,
        reason: &str,
    ) -> Result<(), ExecError> {
        let mirror = self.local_mirror(repo).await?;
        let m = Oid::from_str(merge.as_str()).map_err(Self::git_err(repo))?;
        let local = read_local(&mirror, m, repo).map_err(Self::git_err(repo))?;
        drop(mirror);
        let Some(local) = local else {
            return Ok(());
        };
        let head = pull
            .head
            .sha
            .parse()
            .map_err(|e: crate::types::InvalidId| ExecError::Other(e.to_string()))?;
        let now = Utc::now();
        let note = ExecutionNote {
            version: RECORD_VERSION,
            repo: repo.clone(),
            pull: PullNumber(pull.number),
            base: local.parent,
            head,
            merge: merge.clone(),
            policy_blob: local.policy_blob,
            rules: vec![],
            approvals: vec![],
            decided_at: now,
            plan: None,
            execution: Some(ExecutionRecord::not_run(
                executor.unwrap_or(NO_EXECUTOR),
                Outcome::Refused,
                now,
                Some(reason.to_string()),
            )),
            signature: None,
            // No approval was established, so no pushers were judged; the branch is the PR's.
            v2: Some(Box::new(RecordFacts {
                base_branch: pull.base.git_ref.clone(),
                ..RecordFacts::default()
            })),
        };
        self.write_refusal(repo, merge, note).await
    }

    /// A refusal of a merge whose approval and content verified (step 4 refused it): the note
    /// keeps the approvals, because the merge did approve its own change.
    async fn refuse_approved(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        verified: &Verified,
        executor: &str,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        let mut note = verified.note.clone();
        note.execution = Some(ExecutionRecord::not_run(
            executor,
            Outcome::Refused,
            Utc::now(),
            Some(reason.to_string()),
        ));
        self.write_refusal(repo, merge, note).await?;
        self.refuse(repo, merge, None, Some(executor), reason)
            .await?;
        self.comment_refusal(repo, merge, &verified.pull, Some(executor), reason)
            .await;
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    async fn write_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        note: ExecutionNote,
    ) -> Result<(), ExecError> {
        let clone_url = self.clone_url(repo).await?;
        let token = self.note_token(repo).await;
        let mirror = self.local_mirror(repo).await?;
        let m = Oid::from_str(merge.as_str()).map_err(Self::git_err(repo))?;
        let existing = read_note(&mirror, m)
            .ok()
            .flatten()
            .and_then(|n| n.execution);
        let same = existing.as_ref().is_some_and(|e| {
            e.outcome == Outcome::Refused
                && e.refusal == note.execution.as_ref().and_then(|x| x.refusal.clone())
        });
        if same {
            return Ok(());
        }
        self.record(&mirror, &clone_url, m, &note, token.as_ref())
    }

    /// The policy at M's first parent as decisions use it: each executor's program paths and
    /// each governed symlink's target governed by the rules that reach them.
    fn governing_policy(
        &self,
        local: &LocalFacts,
    ) -> Result<crate::config::RepoPolicy, crate::config::ConfigError> {
        let p = policy::parse_policy(POLICY_PATH, &local.policy_text)?;
        Ok(policy::links::govern_links(
            &policy::govern_programs(&p, &self.config.program_paths()),
            &local.links,
        ))
    }

    /// The dashboard's line for a merge that did not run, and why.
    fn show_refused(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        executor: Option<&str>,
        reason: &str,
    ) {
        self.dashboard.record_execution(
            repo,
            merge,
            executor.unwrap_or(""),
            Outcome::Refused.as_str(),
            Utc::now(),
        );
        self.dashboard.record_execution_reason(repo, merge, reason);
    }

    /// prgate cannot act on the merge for a reason of its own configuration (no such executor,
    /// several executors, a policy it cannot read): an `error`, not a refusal, and not durable —
    /// the merge is considered again once the configuration is fixed.
    async fn cannot_act(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        executor: Option<&str>,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        tracing::warn!(%repo, %merge, %reason, "execution blocked");
        self.show_refused(repo, merge, executor, reason);
        let (state, description) = run_status::blocked(reason);
        self.status(repo, merge, state, &description).await?;
        self.metrics.execution("blocked");
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    async fn refuse(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: Option<&ApiPull>,
        executor: Option<&str>,
        reason: &str,
    ) -> Result<Considered, ExecError> {
        tracing::warn!(%repo, %merge, %reason, "execution refused");
        self.show_refused(repo, merge, executor, reason);
        if let Some(pull) = pull {
            self.record_refusal(repo, merge, pull, executor, reason)
                .await?;
        }
        let (state, description) = run_status::refused(reason);
        self.status(repo, merge, state, &description).await?;
        if let Some(pull) = pull {
            self.comment_refusal(repo, merge, pull, executor, reason)
                .await;
        }
        self.metrics.execution("refused");
        Ok(Considered::Refused {
            reason: reason.to_string(),
        })
    }

    /// One refusal comment per merge commit, also across restarts: found again by its marker
    /// at the start of a comment by prgate's own account (anyone may write the marker, so a
    /// writer's comment must not silence the refusal). The reason goes through the template's
    /// `oneline` filter: it can name paths from the repository.
    async fn comment_refusal(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: &ApiPull,
        executor: Option<&str>,
        reason: &str,
    ) {
        self.comment_refusal_with(repo, merge, pull, executor, reason, None)
            .await
    }

    /// As [`Self::comment_refusal`], with the approved and the new plan when the plan refused.
    async fn comment_refusal_with(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        pull: &ApiPull,
        executor: Option<&str>,
        reason: &str,
        plans: Option<serde_json::Value>,
    ) {
        let marker = format!("<!-- prgate:execution merge={merge} -->");
        // Without our own login no comment can be told to be ours: comment (a repeat is better
        // than a refusal silenced).
        let me = self.own_login().await.ok();
        let already = match (&me, self.gh.comments(repo, PullNumber(pull.number)).await) {
            (Some(me), Ok(cs)) => cs.iter().any(|c| {
                c.body.trim_start().starts_with(&marker)
                    && c.user
                        .as_ref()
                        .is_some_and(|u| &crate::types::Login::new(u.login.clone()) == me)
            }),
            _ => false,
        };
        if already {
            return;
        }
        let context = serde_json::json!({
            "merge": merge.as_str(),
            "merge_short": merge.short(),
            "executor": executor,
            "repo": repo.to_string(),
            "reason": reason,
            "plans": plans,
            "pull": pull.number,
        });
        let body = match self.renderer.render("comment_refused.md.j2", &context) {
            Ok(body) if body.trim_start().starts_with(&marker) => body,
            Ok(body) => format!("{marker}\n{body}"),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the refusal comment");
                return;
            }
        };
        if let Err(e) = self.gh.comment(repo, PullNumber(pull.number), &body).await {
            tracing::warn!(error = %e, "cannot comment the refusal");
        }
    }

    async fn comment(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        note: &ExecutionNote,
        output: Option<&str>,
    ) {
        let Some(exec) = &note.execution else { return };
        // Lines as Markdown will show them: a bare `\r` (a progress bar) ends a line too.
        let tail: String = output
            .map(|o| {
                let o = crate::render::normalize_newlines(o);
                let lines: Vec<&str> = o.lines().collect();
                let start = lines.len().saturating_sub(20);
                lines[start..].join("\n")
            })
            .unwrap_or_default();
        let context = serde_json::json!({
            "merge": note.merge.as_str(),
            "merge_short": note.merge.short(),
            "head_short": note.head.short(),
            "executor": exec.executor,
            "outcome": exec.outcome.as_str(),
            "exit_code": exec.exit_code,
            "output_sha256": exec.output_sha256,
            "reason": exec.refusal,
            "output_tail": tail,
            "approvers": note.approvals.iter().map(|a| a.login.to_string()).collect::<Vec<_>>(),
        });
        match self.renderer.render("comment_executed.md.j2", &context) {
            Ok(body) => {
                if let Err(e) = self.gh.comment(repo, pull, &body).await {
                    tracing::warn!(error = %e, "cannot comment the execution outcome");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot render the execution comment"),
        }
    }

    /// Cancels the run when the hold label appears on the PR while it runs.
    fn watch_hold_label(
        &self,
        repo: RepoName,
        pull: PullNumber,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let gh = self.gh.clone();
        let every = self.label_poll;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Ok(p) = gh.pull(&repo, pull).await
                    && p.labels.iter().any(|l| l.name == HOLD_LABEL)
                {
                    tracing::warn!(%repo, %pull, "hold label added while running; cancelling");
                    cancel.cancel();
                    return;
                }
            }
        })
    }
}

/// The branch a merged PR was merged into.
/// Fills in what a version 2 record learns from the mirror at the moment it is written: the
/// merge's and the approved head's trees, the record it is chained to (`previous`), and the
/// digests of this commit's earlier records it replaces.
fn complete_record_facts(
    mirror: &Repository,
    m: Oid,
    note: &mut ExecutionNote,
) -> Result<(), crate::record::note::NoteError> {
    let git = |source| crate::record::note::NoteError::Git {
        commit: m.to_string(),
        source,
    };
    let Some(facts) = note.v2.as_mut() else {
        return Ok(());
    };
    let commit = mirror.find_commit(m).map_err(git)?;
    facts.merge_tree = commit.tree_id().to_string().parse().ok();
    facts.head_tree = Oid::from_str(note.head.as_str())
        .ok()
        .and_then(|h| mirror.find_commit(h).ok())
        .and_then(|h| h.tree_id().to_string().parse().ok());
    facts.previous = match commit.parent_ids().next() {
        Some(parent) => previous_record(mirror, parent)?,
        None => None,
    };
    // The record this write replaces: its digest, and those it replaced in turn, so that a
    // later record chained to any version of this one still finds it.
    if let Some(existing) = read_note_bytes(mirror, m)? {
        let digest = note_digest(&existing);
        let mut replaces = parse_note(&m.to_string(), &existing)
            .ok()
            .and_then(|n| n.v2)
            .map(|f| f.replaces)
            .unwrap_or_default();
        if !replaces.contains(&digest) {
            replaces.push(digest);
        }
        facts.replaces = replaces;
    }
    Ok(())
}

fn governed_base(pull: &ApiPull) -> String {
    pull.base.git_ref.clone()
}

/// "firewall/rules.toml", "firewall/a, firewall/b and 3 more".
fn summarize_paths(paths: &[String]) -> String {
    match paths {
        [] => "governed paths".to_string(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more", rest.len()),
    }
}

/// What a plan comment's marker says: `<!-- prgate:plan executor=E head=H digest=D size=N -->`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanMarker {
    pub executor: String,
    pub head: String,
    pub plan: PlanDigest,
}

/// The plan marker at the start of a comment, when it has one that parses.
pub(crate) fn parse_plan_marker(body: &str) -> Option<PlanMarker> {
    let rest = body.trim_start().strip_prefix(PLAN_MARKER)?;
    let (fields, _) = rest.split_once("-->")?;
    let mut executor = None;
    let mut head = None;
    let mut digest = None;
    let mut size = None;
    for field in fields.split_whitespace() {
        match field.split_once('=')? {
            ("executor", v) => executor = Some(v.to_string()),
            ("head", v) => head = Some(v.to_string()),
            ("digest", v) if crate::record::note::is_plan_digest(v) => digest = Some(v.to_string()),
            ("size", v) => size = v.parse().ok(),
            _ => {}
        }
    }
    Some(PlanMarker {
        executor: executor?,
        head: head?,
        plan: PlanDigest {
            digest: digest?,
            size: size?,
        },
    })
}

/// The plan output fenced in a plan comment's `body`, when it is `plan`'s whole text: it
/// hashes to the digest and has its size. The comment's fence dropped the output's last line
/// break, so the text is tried with one and without.
fn plan_text_in_comment(body: &str, plan: &PlanDigest) -> Option<String> {
    let mut lines = body.lines();
    let fence = lines
        .by_ref()
        .find(|l| l.len() >= 3 && l.bytes().all(|b| b == b'`'))?;
    let mut shown: Vec<&str> = Vec::new();
    for line in lines.by_ref() {
        if line == fence {
            let text = shown.join("\n");
            return [format!("{text}\n"), text].into_iter().find(|t| {
                PlanDigest::of_output(&hex::encode(Sha256::digest(t.as_bytes())), t.len() as u64)
                    == *plan
            });
        }
        shown.push(line);
    }
    None
}

/// The marker that starts a plan comment (see [`parse_plan_marker`]).
pub(crate) fn plan_marker(executor: &str, head: &CommitSha, plan: Option<&PlanDigest>) -> String {
    match plan {
        Some(p) => format!(
            "{PLAN_MARKER}executor={executor} head={head} digest={} size={} -->",
            p.digest, p.size
        ),
        None => format!("{PLAN_MARKER}executor={executor} head={head} failed -->"),
    }
}

#[cfg(test)]
mod plan_marker_tests {
    use super::*;

    #[test]
    fn a_plan_marker_round_trips_and_a_failed_plan_names_no_digest() {
        let head: CommitSha = "a".repeat(40).parse().unwrap();
        let plan = PlanDigest::of_output(&"3f".repeat(32), 120);
        let body = format!(
            "{}\n**Plan** …",
            plan_marker("firewall", &head, Some(&plan))
        );
        assert_eq!(
            parse_plan_marker(&body),
            Some(PlanMarker {
                executor: "firewall".into(),
                head: head.to_string(),
                plan
            })
        );
        assert_eq!(
            parse_plan_marker(&plan_marker("firewall", &head, None)),
            None
        );
        // A marker quoted later in a comment is not the comment's.
        assert_eq!(parse_plan_marker(&format!("see {body}")), None);
    }

    /// The plan comment as the gate renders it, for `output`.
    fn plan_comment(output: &str, folded: bool) -> (String, PlanDigest) {
        let head: CommitSha = "a".repeat(40).parse().unwrap();
        let sha = hex::encode(Sha256::digest(output.as_bytes()));
        let plan = PlanDigest::of_output(&sha, output.len() as u64);
        let context = serde_json::json!({
            "marker": plan_marker("firewall", &head, Some(&plan)),
            "executor": "firewall", "head": head.as_str(), "head_short": head.short(),
            "base": "b".repeat(40), "base_short": "bbbbbbb", "digest": plan.digest,
            "size": plan.size, "output": output, "truncated": false, "folded": folded,
            "lines": output.lines().count(), "failure": null,
        });
        let body = crate::render::Renderer::new(None)
            .render("comment_plan.md.j2", &context)
            .unwrap();
        (body, plan)
    }

    #[test]
    fn the_approved_plan_is_read_back_from_its_comment_only_when_it_hashes_to_the_digest() {
        for (output, folded) in [
            ("allow 22\nallow 443\n", false),
            ("no trailing line break", false),
            ("a fence inside:\n```\nnot the end\n```\n", false),
            (&"line\n".repeat(80), true),
        ] {
            let (body, plan) = plan_comment(output, folded);
            assert_eq!(
                plan_text_in_comment(&body, &plan).as_deref(),
                Some(output),
                "{body}"
            );
        }
        // An edited comment, or another plan's digest: not quoted as the approved plan.
        let (body, plan) = plan_comment("allow 22\n", false);
        let edited = body.replace("allow 22", "allow all");
        assert_eq!(plan_text_in_comment(&edited, &plan), None);
        let other = PlanDigest::of_output(&"3f".repeat(32), plan.size);
        assert_eq!(plan_text_in_comment(&body, &other), None);
    }
}
