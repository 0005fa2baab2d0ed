//! `prgate audit`: walks the first-parent history of a governed branch and reports every
//! change to governed paths that lacks a valid approval record, from git alone. The record
//! checks are `verify`'s; this module decides which commits need one and classifies what is
//! wrong, fast enough to run over a long history in about the time `git log` takes.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use git2::{Commit, Oid, Repository, Tree};
use serde::Serialize;

use crate::git::commit_graph::{CommitFacts, CommitGraph};
use crate::policy::POLICY_PATH;
use crate::policy::{CompiledPolicy, literal_prefix, parse_policy};
use crate::record::equivalence::MergeKind;
use crate::record::note::{ExecutionNote, NOTES_REF, NoteError, Outcome};
use crate::verify::{
    CheckedRecord, Known, ProblemKind, RecordSource, SignatureStatus, check_record_known,
};
use ed25519_dalek::VerifyingKey;

mod chain;
mod checker;
mod governance;
mod limit;
mod progress;
mod replaced;
mod report;
use governance::PolicyCache;
pub use limit::StoppedAt;
use limit::WalkLimit;
use progress::Progress;
pub use replaced::ReplacedNote;
pub use report::{render_html, render_json, render_text};

/// What to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    pub repo_path: PathBuf,
    /// The governed branch; a local branch name, or anything `git rev-parse` takes.
    pub branch: String,
    /// Stop at the first commit (on the first-parent line) whose record says the gate decided
    /// about it before this time; commit dates never stop the walk (see `limit::WalkLimit`).
    pub since: Option<DateTime<Utc>>,
    /// Stop at this commit (anything `git rev-parse` takes), as `git log SHA..BRANCH` does:
    /// it and what is behind it are not audited. It must be on the first-parent history.
    pub since_commit: Option<String>,
    /// Show a progress line on stderr; the caller passes whether stderr is a terminal.
    pub progress: bool,
    /// Re-hash every object read, as libgit2 does by default. Off by default, as in git:
    /// it triples the cost of the walk; run `git fsck` for object integrity instead.
    pub verify_object_hashes: bool,
    /// The gate's public keys (`--public-key`). When any is given, every note must be signed
    /// by one of them; when none is, signatures are reported and not judged.
    pub trusted_keys: Vec<VerifyingKey>,
}

impl AuditOptions {
    /// The defaults of the command line: branch `main`, the whole history, no progress.
    pub fn new(repo_path: impl Into<PathBuf>) -> Self {
        AuditOptions {
            repo_path: repo_path.into(),
            branch: "main".into(),
            since: None,
            since_commit: None,
            progress: false,
            verify_object_hashes: true,
            trusted_keys: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "cannot open a git repository at {path}: {message}; pass --repo with a clone of the governed repository"
    )]
    Open { path: String, message: String },
    #[error(
        "branch {branch:?} is not in {path}: {message}; fetch it or pass --branch with the governed branch"
    )]
    NoBranch {
        branch: String,
        path: String,
        message: String,
    },
    #[error(
        "--since-commit {commit:?} is not a commit in {path}: {message}; fetch it or pass a commit of the branch"
    )]
    NoSinceCommit {
        commit: String,
        path: String,
        message: String,
    },
    #[error(
        "--since-commit {commit} is not on the first-parent history of {branch}; the audit walked the whole history without meeting it: pass a commit of that history (`git log --first-parent {branch}`)"
    )]
    SinceCommitNotOnBranch { commit: String, branch: String },
    #[error(
        "reading {what} in {path}: {source}; the repository may be incomplete (shallow or partial clone) or corrupt"
    )]
    Git {
        what: String,
        path: String,
        source: git2::Error,
    },
    #[error(
        "cannot start the audit's checking thread: {source}; the machine is short of threads or memory, run the audit again when it is not"
    )]
    Thread { source: std::io::Error },
}

/// What is wrong with a commit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// A single-parent commit to governed paths with no record: pushed past the gate.
    DirectPush,
    /// A merge commit to governed paths with no record: merged past the gate (admin merge).
    MergeWithoutApprovalRecord,
    /// A record is there, but the merged content is not what was approved.
    ContentDiffers,
    /// The note says something ran, and the commit's record does not hold.
    ExecutionWithoutApproval,
    /// The record is malformed, incomplete, or contradicts the repository or itself.
    InvalidRecord,
    /// The chain of records breaks: a record's predecessor was deleted, replaced (by an older
    /// record or another), or is not the record before it on the branch.
    BrokenChain,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::DirectPush => "direct_push",
            ViolationKind::MergeWithoutApprovalRecord => "merge_without_approval_record",
            ViolationKind::ContentDiffers => "content_differs",
            ViolationKind::ExecutionWithoutApproval => "execution_without_approval",
            ViolationKind::InvalidRecord => "invalid_record",
            ViolationKind::BrokenChain => "broken_chain",
        }
    }
}

impl std::fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Violation {
    pub commit: String,
    /// `Name <email>` of the commit's author.
    pub author: String,
    /// The first line of the commit message.
    pub summary: String,
    pub kind: ViolationKind,
    /// What is wrong, in words that say what to look at.
    pub detail: String,
}

/// The approval record of one governed commit, as far as git shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CommitRecord {
    pub commit: String,
    pub author: String,
    pub summary: String,
    /// Commit time, RFC 3339 UTC.
    pub committed_at: String,
    /// Whether the record holds (no violation on this commit).
    pub holds: bool,
    pub record: Option<RecordSource>,
    /// The note's format version (2: DSSE envelope around an in-toto statement; 1: an
    /// earlier prgate's JSON); `None` without a readable note.
    pub record_version: Option<u32>,
    /// `owner/repo#N`.
    pub pull: Option<String>,
    pub head: Option<String>,
    pub merge_kind: Option<MergeKind>,
    /// Logins of the recorded approvers (eligibility is checked only against the code host).
    pub approvers: Vec<String>,
    pub executor: Option<String>,
    pub execution: Option<Outcome>,
    /// The note's signature, as checked against `--public-key` (or only reported without).
    pub signature: SignatureStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AuditReport {
    pub branch: String,
    /// The branch's tip when the audit ran.
    pub head: String,
    pub since: Option<DateTime<Utc>>,
    /// The `--since-commit`, as a full commit id.
    pub since_commit: Option<String>,
    /// Where `--since` or `--since-commit` stopped the walk; `None` when it reached the root.
    pub stopped_at: Option<StoppedAt>,
    /// Commits on the first-parent line that were looked at.
    pub commits_walked: u64,
    /// Of those, the ones that changed a governed path.
    pub governed_commits: u64,
    /// Of those walked, the ones whose first parent has no policy (or that have no parent):
    /// history before the policy, which nothing governed.
    pub commits_before_policy: u64,
    /// True when there is no violation: the exit code is 0, else 40.
    pub clean: bool,
    /// Newest first, as `git log` lists them.
    pub violations: Vec<Violation>,
    /// One per governed commit, newest first.
    pub records: Vec<CommitRecord>,
    /// Notes on governed commits that a trusted key did not sign and that prgate's own record
    /// replaced (a writer's forged "it ran", say): seen, though the record now holds. Only
    /// with `--public-key`.
    pub replaced_notes: Vec<ReplacedNote>,
}

/// Audits the branch. Errors only when the repository, the branch or an object of its history
/// cannot be read; everything wrong with the history itself is a violation in the report.
pub fn audit(opts: &AuditOptions) -> Result<AuditReport, AuditError> {
    let path = opts.repo_path.display().to_string();
    // libgit2 re-hashes every object it reads (SHA-1 with collision detection), which is most
    // of the cost of a long walk; git itself does not, and leaves integrity to `git fsck`.
    // The switches are process-wide, so only `prgate audit`, a process of its own, turns them
    // off (`verify_object_hashes: false`); callers inside a longer-lived process (the demo, a
    // service) keep libgit2's defaults.
    if !opts.verify_object_hashes {
        git2::opts::strict_hash_verification(false);
        // The walk reads each commit and root tree once and keeps what it needs, so libgit2's
        // object cache would only grow to the size of the history and be freed at the end.
        git2::opts::enable_caching(false);
    }
    let repo = Repository::open(&opts.repo_path).map_err(|e| AuditError::Open {
        path: path.clone(),
        message: e.message().to_string(),
    })?;
    let git = |what: String| {
        let path = path.clone();
        move |source| AuditError::Git { what, path, source }
    };
    let tip = find_branch(&repo, &opts.branch).map_err(|e| AuditError::NoBranch {
        branch: opts.branch.clone(),
        path: path.clone(),
        message: e.message().to_string(),
    })?;
    let notes = load_notes(&repo).map_err(git(format!("the notes under {NOTES_REF}")))?;
    let since_commit = match &opts.since_commit {
        None => None,
        Some(c) => Some(
            repo.revparse_single(c)
                .and_then(|o| o.peel_to_commit())
                .map(|c| c.id())
                .map_err(|e| AuditError::NoSinceCommit {
                    commit: c.clone(),
                    path: path.clone(),
                    message: e.message().to_string(),
                })?,
        ),
    };
    let limit = WalkLimit {
        since: opts.since,
        since_commit,
        trusted: &opts.trusted_keys,
    };

    let mut report = AuditReport {
        branch: opts.branch.clone(),
        head: tip.to_string(),
        since: opts.since,
        since_commit: since_commit.map(|c| c.to_string()),
        stopped_at: None,
        commits_walked: 0,
        governed_commits: 0,
        commits_before_policy: 0,
        clean: true,
        violations: Vec::new(),
        records: Vec::new(),
        replaced_notes: Vec::new(),
    };
    let mut progress = Progress::new(opts.progress);
    let mut findings: Vec<(u64, Findings)>;
    let mut graph = CommitGraph::open(&repo);
    progress.without_graph = graph.is_none();

    loop {
        let walk = Walk {
            repo: &repo,
            graph: graph.as_ref(),
            tip,
            limit: &limit,
            notes: &notes,
        };
        let walked = walk_and_check(opts, walk, &mut report, &mut progress);
        match walked {
            Ok(checked) => {
                findings = checked;
                break;
            }
            Err(WalkError::Audit(e)) => return Err(e),
            Err(WalkError::CheckerStopped) => {
                unreachable!("the checker stops early only with an error, which is returned")
            }
            Err(WalkError::GraphDisagrees) => {
                // A commit-graph that does not describe the commits is not used at all.
                graph = None;
                progress.without_graph = true;
                report.commits_walked = 0;
                report.governed_commits = 0;
                report.commits_before_policy = 0;
                report.stopped_at = None;
            }
        }
    }
    if let Some(c) = since_commit
        && report.stopped_at.is_none()
    {
        return Err(AuditError::SinceCommitNotOnBranch {
            commit: c.to_string(),
            branch: opts.branch.clone(),
        });
    }
    findings.sort_by_key(|(index, _)| *index);
    for (_, f) in findings {
        report.violations.extend(f.violations);
        report.records.extend(f.records);
    }
    let governed: std::collections::HashSet<Oid> = report
        .records
        .iter()
        .filter_map(|r| Oid::from_str(&r.commit).ok())
        .collect();
    report.replaced_notes = replaced::replaced_notes(&repo, &notes, &governed, &opts.trusted_keys)
        .map_err(git(format!("the history of {NOTES_REF}")))?;
    progress.finish();
    report.clean = report.violations.is_empty();
    Ok(report)
}

/// One walk of the first-parent history, with a second thread checking the commits it finds,
/// each with its own `Repository`: checking a record reads several objects per commit, and
/// on two cores the audit then takes about as long as the walk alone (measured in
/// docs/audit.md). The checker's findings, by the commit's place in the walk.
fn walk_and_check(
    opts: &AuditOptions,
    walk: Walk<'_>,
    report: &mut AuditReport,
    progress: &mut Progress,
) -> Result<Vec<(u64, Findings)>, WalkError> {
    let path = opts.repo_path.display().to_string();
    std::thread::scope(|scope| {
        let (to_checker, checks) = std::sync::mpsc::sync_channel(checker::IN_FLIGHT);
        let checker = std::thread::Builder::new()
            .name("prgate-audit-check".into())
            .spawn_scoped(scope, || {
                checker::check_commits(
                    &opts.repo_path,
                    walk.graph,
                    &opts.trusted_keys,
                    &path,
                    checks,
                )
            })
            .map_err(|source| WalkError::Audit(AuditError::Thread { source }))?;
        let walked = walk_first_parent(
            walk,
            &mut PolicyCache::default(),
            report,
            progress,
            &path,
            &to_checker,
        );
        drop(to_checker);
        let checked = checker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match (walked, checked) {
            // The walk's own error first; a walk cut short by the checker has the checker's.
            (Err(WalkError::Audit(e)), _) => Err(WalkError::Audit(e)),
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(checked)) => Ok(checked),
        }
    })
}

/// What one walk of the first-parent history reads: the repository and its commit-graph,
/// where it starts and stops, and the notes by commit.
#[derive(Clone, Copy)]
struct Walk<'a> {
    repo: &'a Repository,
    graph: Option<&'a CommitGraph>,
    tip: Oid,
    limit: &'a WalkLimit<'a>,
    notes: &'a HashMap<Oid, Oid>,
}

/// Why a walk stopped short.
enum WalkError {
    Audit(AuditError),
    /// The commit-graph disagrees with a commit read in full: start over without it.
    GraphDisagrees,
    /// The checker stopped taking commits (it failed; its error says why).
    CheckerStopped,
}

impl From<AuditError> for WalkError {
    fn from(e: AuditError) -> Self {
        WalkError::Audit(e)
    }
}

/// The error for a failed git read, its words built only if it fails: the walk asks for one
/// on every commit it passes, and formatting them all up front cost a tenth of the audit.
fn git_err<'a>(
    path: &'a str,
    what: impl FnOnce() -> String + 'a,
) -> impl FnOnce(git2::Error) -> AuditError + 'a {
    move |source| AuditError::Git {
        what: what(),
        path: path.to_string(),
        source,
    }
}

/// The facts of commit `id`: from the commit-graph when it covers the commit, else read.
fn commit_facts(
    repo: &Repository,
    graph: Option<&CommitGraph>,
    id: Oid,
) -> Result<CommitFacts, git2::Error> {
    if let Some(f) = graph.and_then(|g| g.facts(id)) {
        return Ok(f);
    }
    let c = repo.find_commit(id)?;
    Ok(CommitFacts {
        tree: c.tree_id(),
        first_parent: if c.parent_count() == 0 {
            None
        } else {
            Some(c.parent_id(0)?)
        },
        time: c.time().seconds(),
    })
}

/// The first-parent walk by hand: the same commits as a revwalk with `simplify_first_parent`,
/// but each root tree is read once and serves as "M" and then as the next one's "M^1", and a
/// commit itself is read only when it needs checking (its parent, tree and time come from the
/// commit-graph when there is one). What it finds goes to `findings`, with the walk position.
fn walk_first_parent(
    walk: Walk<'_>,
    policies: &mut PolicyCache,
    report: &mut AuditReport,
    progress: &mut Progress,
    path: &str,
    checker: &std::sync::mpsc::SyncSender<checker::Message>,
) -> Result<(), WalkError> {
    let Walk {
        repo,
        graph,
        tip,
        limit,
        notes,
    } = walk;
    let mut current = tip;
    // Commits without a note walked since the last one handed to the checker (for the chain).
    let mut passed = Vec::new();
    let send = |m: checker::Message| checker.send(m).map_err(|_| WalkError::CheckerStopped);
    let mut facts =
        commit_facts(repo, graph, tip).map_err(git_err(path, || format!("commit {tip}")))?;
    let mut current_tree = repo
        .find_tree(facts.tree)
        .map_err(git_err(path, || format!("the tree of {tip}")))?;
    loop {
        let note_blob = notes.get(&current).copied();
        // With --since a note may be where the walk stops, so the walk reads it; else the
        // checker does.
        let note = match (note_blob, limit.since) {
            (Some(blob), Some(_)) => Some(read_note_blob(repo, current, blob)),
            _ => None,
        };
        let index = report.commits_walked;
        if let Some(stop) = limit.stop_at(current, note.as_ref()) {
            report.stopped_at = Some(stop);
            // The chain is checked up to the commit where the walk stops, with its note.
            if let Some(blob) = note_blob {
                send(checker::Message::Commit(Box::new(checker::Check {
                    index,
                    commit: current,
                    passed: std::mem::take(&mut passed),
                    note: Some(checker::NoteToRead { blob, read: note }),
                    audit: None,
                })))?;
            }
            return send(checker::Message::End {
                passed,
                at_root: false,
            });
        }
        report.commits_walked += 1;
        progress.tick(report);
        let parent = match facts.first_parent {
            None => None,
            Some(p) => {
                let pf = commit_facts(repo, graph, p)
                    .map_err(git_err(path, || format!("commit {p}")))?;
                let t = repo
                    .find_tree(pf.tree)
                    .map_err(git_err(path, || format!("the tree of {p}")))?;
                Some((p, pf, t))
            }
        };
        let (governance, base_policy) = match &parent {
            None => (None, None),
            Some((p, _, t)) => policies
                .governance_at(repo, t)
                .map_err(git_err(path, || format!("{POLICY_PATH} at {p}")))?,
        };
        let governed = match (governance, &parent) {
            (Some(g), Some((_, _, parent_tree))) => g
                .changes_governed(repo, parent_tree, &current_tree)
                .map_err(git_err(path, || format!("the change of {current}")))?,
            _ => {
                report.commits_before_policy += 1;
                false
            }
        };
        if governed {
            report.governed_commits += 1;
        }
        if governed || note_blob.is_some() {
            send(checker::Message::Commit(Box::new(checker::Check {
                index,
                commit: current,
                passed: std::mem::take(&mut passed),
                note: note_blob.map(|blob| checker::NoteToRead { blob, read: note }),
                audit: Some(checker::Audit {
                    governed,
                    graph_facts: graph.is_some().then_some(facts),
                    base_policy: parent.as_ref().map(|_| base_policy),
                }),
            })))?;
        } else {
            passed.push(current);
        }
        match parent {
            Some((p, pf, t)) => {
                current = p;
                facts = pf;
                current_tree = t;
            }
            None => {
                return send(checker::Message::End {
                    passed,
                    at_root: true,
                });
            }
        }
    }
}

/// A break in the chain of records, as a violation of the later record's commit.
fn chain_findings(repo: &Repository, b: &chain::Break) -> Result<Findings, git2::Error> {
    let c = repo.find_commit(b.later)?;
    Ok(Findings {
        violations: vec![violation(&c, ViolationKind::BrokenChain, b.detail.clone())],
        records: Vec::new(),
    })
}

fn find_branch(repo: &Repository, branch: &str) -> Result<Oid, git2::Error> {
    // A local branch first, so that a tag or file of the same name cannot stand in for it.
    if let Ok(id) = repo.refname_to_id(&format!("refs/heads/{branch}")) {
        return Ok(id);
    }
    repo.revparse_single(branch)
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
}

/// Every note under our ref, annotated commit to note blob, in one pass over the notes tree.
fn load_notes(repo: &Repository) -> Result<HashMap<Oid, Oid>, git2::Error> {
    let iter = match repo.notes(Some(NOTES_REF)) {
        Ok(it) => it,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let mut map = HashMap::new();
    for item in iter {
        let (blob, annotated) = item?;
        map.insert(annotated, blob);
    }
    Ok(map)
}

fn read_note_blob(
    repo: &Repository,
    commit: Oid,
    blob: Oid,
) -> Result<Option<ExecutionNote>, NoteError> {
    let blob = repo.find_blob(blob).map_err(|source| NoteError::Git {
        commit: commit.to_string(),
        source,
    })?;
    parse_note_blob(commit, &blob)
}

fn parse_note_blob(commit: Oid, blob: &git2::Blob<'_>) -> Result<Option<ExecutionNote>, NoteError> {
    let text = std::str::from_utf8(blob.content()).map_err(|_| NoteError::NotOurs {
        commit: commit.to_string(),
        message: "the note is not UTF-8 text".into(),
    })?;
    ExecutionNote::from_json(&commit.to_string(), text).map(Some)
}

fn author_of(c: &Commit<'_>) -> String {
    let a = c.author();
    format!(
        "{} <{}>",
        String::from_utf8_lossy(a.name_bytes()),
        String::from_utf8_lossy(a.email_bytes())
    )
}

fn summary_of(c: &Commit<'_>) -> String {
    String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned()
}

fn time_of(c: &Commit<'_>) -> String {
    Utc.timestamp_opt(c.time().seconds(), 0)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Whether the note says that something ran (as opposed to a refusal or a hold).
fn ran(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Succeeded | Outcome::Failed | Outcome::Timeout
    )
}

fn violation(c: &Commit<'_>, kind: ViolationKind, detail: String) -> Violation {
    Violation {
        commit: c.id().to_string(),
        author: author_of(c),
        summary: summary_of(c),
        kind,
        detail,
    }
}

/// The record of a commit whose id prgate's types cannot hold (not SHA-1): reported as
/// invalid rather than skipped, since skipping would read as clean.
fn unreadable_record(c: &Commit<'_>) -> Violation {
    violation(
        c,
        ViolationKind::InvalidRecord,
        format!(
            "{} is not a SHA-1 commit id; prgate records only name SHA-1 commits",
            c.id()
        ),
    )
}

/// The violations a checked record amounts to, one per kind, each with every problem of that
/// kind in its detail.
fn classify(c: &Commit<'_>, checked: &CheckedRecord) -> Vec<Violation> {
    let report = &checked.report;
    let malformed = checked.kinds.contains(&ProblemKind::Malformed);
    let mut by_kind: Vec<(ViolationKind, Vec<&str>)> = Vec::new();
    for (kind, message) in checked.kinds.iter().zip(&report.problems) {
        let v = match kind {
            // Malformed trailers are no record at all to `verify`; here the tampering is the
            // more telling finding.
            ProblemKind::NoRecord if malformed => continue,
            ProblemKind::NoRecord if c.parent_count() > 1 => {
                ViolationKind::MergeWithoutApprovalRecord
            }
            ProblemKind::NoRecord => ViolationKind::DirectPush,
            ProblemKind::ContentDiffers => ViolationKind::ContentDiffers,
            ProblemKind::Malformed
            | ProblemKind::HeadMissing
            | ProblemKind::PolicyMismatch
            | ProblemKind::NoApprover
            | ProblemKind::NoteDisagrees
            | ProblemKind::Refused
            | ProblemKind::Signature => ViolationKind::InvalidRecord,
        };
        match by_kind.iter_mut().find(|(k, _)| *k == v) {
            Some((_, messages)) => messages.push(message),
            None => by_kind.push((v, vec![message])),
        }
    }
    // A bad signature alone says the note is not the gate's, not that the approval is
    // missing: that is the invalid record above, and the note's claim to a run is not evidence.
    let approval_fails = checked.kinds.iter().any(|k| *k != ProblemKind::Signature);
    if approval_fails
        && let Some(e) = &report.execution
        && ran(e.outcome)
    {
        by_kind.push((
            ViolationKind::ExecutionWithoutApproval,
            vec![
                "the note under refs/notes/prgate records that something ran on this commit although its approval record does not hold",
            ],
        ));
    }
    by_kind.sort_by_key(|(k, _)| *k);
    by_kind
        .into_iter()
        .map(|(kind, messages)| {
            let mut detail = messages.join("; ");
            if kind == ViolationKind::ExecutionWithoutApproval
                && let Some(e) = &report.execution
            {
                let _ = write!(
                    detail,
                    " (executor {:?}, outcome {}, exit code {}, finished {})",
                    e.executor,
                    e.outcome,
                    e.exit_code.map_or("none".to_string(), |c| c.to_string()),
                    e.finished_at.to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
            violation(c, kind, detail)
        })
        .collect()
}

/// What the audit found about one commit.
#[derive(Default)]
struct Findings {
    violations: Vec<Violation>,
    records: Vec<CommitRecord>,
}

fn audit_governed(
    repo: &Repository,
    c: &Commit<'_>,
    note: Option<Result<Option<ExecutionNote>, NoteError>>,
    known: Known<'_>,
    trusted: &[VerifyingKey],
    report: &mut Findings,
) {
    let Some(checked) = check_record_known(repo, c, note.unwrap_or(Ok(None)), known, trusted)
    else {
        report.violations.push(unreadable_record(c));
        return;
    };
    report.violations.extend(classify(c, &checked));
    let r = checked.report;
    report.records.push(CommitRecord {
        commit: c.id().to_string(),
        author: author_of(c),
        summary: summary_of(c),
        committed_at: time_of(c),
        holds: r.holds,
        record: r.record,
        record_version: r.record_version,
        pull: r.pull,
        head: r.head.map(|h| h.to_string()),
        merge_kind: r.merge_kind,
        approvers: r.approvals,
        executor: r.execution.as_ref().map(|e| e.executor.clone()),
        execution: r.execution.map(|e| e.outcome),
        signature: r.signature,
    });
}

/// A note on a commit that changed no governed path. Executors only act on governed merges,
/// so a note that says something ran must still rest on a record that holds; a note under our
/// ref that is not a prgate record is reported, since that ref is prgate's alone.
fn audit_ungoverned_note(
    repo: &Repository,
    c: &Commit<'_>,
    note: Result<Option<ExecutionNote>, NoteError>,
    known: Known<'_>,
    trusted: &[VerifyingKey],
    report: &mut Findings,
) {
    match note {
        Err(e) => report
            .violations
            .push(violation(c, ViolationKind::InvalidRecord, e.to_string())),
        Ok(Some(n)) => {
            let ran_here = n.execution.as_ref().is_some_and(|e| ran(e.outcome));
            let Some(checked) = check_record_known(repo, c, Ok(Some(n)), known, trusted) else {
                report.violations.push(unreadable_record(c));
                return;
            };
            // With trusted keys, every note under our ref must be the gate's, whatever it
            // records: an unsigned or forged one is reported even where nothing ran.
            let signature: Vec<&str> = checked
                .kinds
                .iter()
                .zip(&checked.report.problems)
                .filter(|(k, _)| **k == ProblemKind::Signature)
                .map(|(_, m)| m.as_str())
                .collect();
            if !signature.is_empty() {
                report.violations.push(violation(
                    c,
                    ViolationKind::InvalidRecord,
                    signature.join("; "),
                ));
            }
            if ran_here && !checked.report.holds {
                report.violations.extend(
                    classify(c, &checked)
                        .into_iter()
                        .filter(|v| v.kind == ViolationKind::ExecutionWithoutApproval),
                );
            }
        }
        Ok(None) => {}
    }
}

/// Convenience for callers that hold a path: audits `branch` of the repository at `path`.
pub fn audit_branch(path: &Path, branch: &str) -> Result<AuditReport, AuditError> {
    audit(&AuditOptions {
        branch: branch.to_string(),
        ..AuditOptions::new(path)
    })
}

#[cfg(test)]
mod tests {
    use super::governance::*;
    use super::*;

    const POLICY: &str = r#"version = 1
[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"] }
"#;

    fn entry(name: &str, dir: bool) -> SortedEntry<'_> {
        let mode = if dir { TREE_MODE } else { 0o100644 };
        SortedEntry {
            name: name.as_bytes(),
            entry: (Oid::zero(), mode),
        }
    }

    #[test]
    fn tree_entries_sort_as_git_sorts_them() {
        // git writes a file `a`, then `a.txt`, then a directory `a` (compared as `a/`).
        let order = [
            entry("a", false),
            entry("a.txt", false),
            entry("a", true),
            entry("a0", false),
            entry("b", true),
        ];
        for w in order.windows(2) {
            assert_eq!(
                w[0].git_order(&w[1]),
                Ordering::Less,
                "{:?}",
                String::from_utf8_lossy(w[0].name)
            );
            assert_eq!(w[1].git_order(&w[0]), Ordering::Greater);
        }
        assert_eq!(
            entry("a", true).git_order(&entry("a", true)),
            Ordering::Equal
        );
    }

    /// A root tree from (path, content) pairs, where a path has at most one folder.
    fn tree(repo: &Repository, files: &[(&str, &str)]) -> Oid {
        let mut folders: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
        let mut root = repo.treebuilder(None).unwrap();
        for (path, content) in files {
            let blob = repo.blob(content.as_bytes()).unwrap();
            match path.split_once('/') {
                Some((dir, name)) => folders.entry(dir).or_default().push((name, content)),
                None => {
                    root.insert(*path, blob, 0o100644).unwrap();
                }
            }
        }
        for (dir, files) in folders {
            let mut b = repo.treebuilder(None).unwrap();
            for (name, content) in files {
                b.insert(name, repo.blob(content.as_bytes()).unwrap(), 0o100644)
                    .unwrap();
            }
            root.insert(dir, b.write().unwrap(), TREE_MODE).unwrap();
        }
        root.write().unwrap()
    }

    #[test]
    fn the_sorted_comparison_finds_what_the_lookup_by_name_finds() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let g = Governance::from_policy_text(POLICY);
        let base = [
            ("README", "r"),
            ("docs/a", "1"),
            ("firewall/rules", "allow 22"),
        ];
        let cases: [(&[(&str, &str)], bool); 5] = [
            (
                &[
                    ("README", "r"),
                    ("docs/a", "2"),
                    ("firewall/rules", "allow 22"),
                ],
                false,
            ),
            (
                &[
                    ("README", "r"),
                    ("docs/a", "1"),
                    ("firewall/rules", "allow 23"),
                ],
                true,
            ),
            // The governed folder replaced by a file of the same name, which sorts elsewhere.
            (
                &[("README", "r"), ("docs/a", "1"), ("firewall", "allow all")],
                true,
            ),
            (&[("README", "r"), ("docs/a", "1")], true),
            (
                &[
                    ("README", "r"),
                    ("docs/a", "1"),
                    ("firewall/rules", "allow 22"),
                    ("firewall.txt", "x"),
                ],
                false,
            ),
        ];
        let old = repo.find_tree(tree(&repo, &base)).unwrap();
        for (files, governed) in cases {
            let new = repo.find_tree(tree(&repo, files)).unwrap();
            let sorted = g
                .sorted_trees_governed(&repo, &old, &new, "")
                .unwrap()
                .unwrap();
            let by_name = g
                .trees_governed_by_name(&repo, Some(&old), Some(&new), "")
                .unwrap();
            assert_eq!((sorted, by_name), (governed, governed), "{files:?}");
        }
    }
}
