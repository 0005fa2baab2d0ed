//! Plans in the gate: for each new head of a PR whose rules name an executor with a `plan`,
//! the plan runs on the execution pool (never in the evaluation's way) and the PR is evaluated
//! again once it is done. An evaluation shows what is known of it — running, its output and
//! digest in a comment per head, its failure — and the policy's `apply_plan` decides what that
//! means for the approval. Plans are kept per head in memory: after a restart, or on another
//! replica, a head is planned again (and a changed output is a new comment).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Gate;
use crate::config::ServerConfig;
use crate::dashboard::PlanView;
use crate::executor::blocking::off_runtime;
use crate::executor::plan_marker::{parse_plan_marker, plan_marker};
use crate::executor::plan_run::PlanRun;
use crate::policy::{ApprovalDecision, PlanFact};
use crate::record::note::PlanDigest;
use crate::render::truncate_chars;
use crate::types::{CommitSha, PullNumber, PullRef, RepoName};

/// Heads whose plans are remembered; the least recently used are planned again if needed.
const REMEMBERED: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();
/// Characters of a plan's output shown in a comment, the check run and the page: GitHub
/// takes at most 65536 characters in a comment and a check run summary.
const SHOWN_CHARS: usize = 30_000;
/// Output longer than this many lines is folded in the comment.
const FOLD_LINES: usize = 20;

type PlanKey = (RepoName, PullNumber, CommitSha, String);

#[derive(Debug, Clone)]
enum PlanEntry {
    Running,
    Done(Arc<PlanRun>),
    /// The plan could not be attempted (the mirror could not be synced): shown once as an
    /// error, then planned again by the next evaluation.
    Unavailable(String),
}

/// The gate's plans: which executors have one, and the runs per head.
pub(super) struct Plans {
    /// Executors with a `plan`, and the repositories that may name them.
    planned: BTreeMap<String, Vec<RepoName>>,
    runs: Mutex<lru::LruCache<PlanKey, PlanEntry>>,
    /// The one plan running (or waiting for a slot) per PR: its head, and how to stop it when
    /// a newer head supersedes it.
    current: Mutex<BTreeMap<(RepoName, PullNumber), (CommitSha, CancellationToken)>>,
}

impl Plans {
    pub(super) fn new(config: &ServerConfig) -> Self {
        Plans {
            planned: config
                .executors
                .iter()
                .filter(|(_, e)| e.plan.is_some())
                .map(|(n, e)| (n.clone(), e.repos.clone()))
                .collect(),
            runs: Mutex::new(lru::LruCache::new(REMEMBERED)),
            current: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records a plan's end, and that its PR no longer has this plan running.
    fn finish(&self, key: &PlanKey, entry: PlanEntry) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.put(key.clone(), entry);
        }
        if let Ok(mut current) = self.current.lock() {
            let pr = (key.0.clone(), key.1);
            if current.get(&pr).is_some_and(|(head, _)| head == &key.2) {
                current.remove(&pr);
            }
        }
    }

    /// The executors with a plan that the decision's rules name for `repo`.
    pub(super) fn named(&self, repo: &RepoName, decision: &ApprovalDecision) -> Vec<String> {
        let mut names: Vec<String> = decision
            .rules
            .iter()
            .filter_map(|r| r.executor.clone())
            .filter(|e| {
                self.planned
                    .get(e)
                    .is_some_and(|repos| repos.is_empty() || repos.contains(repo))
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// What an evaluation knows of a PR's plan: the fact the policy weighs, the run when there is
/// one, and the view the pages show.
pub(super) struct PlanKnown {
    pub fact: PlanFact,
    pub run: Option<Arc<PlanRun>>,
    pub view: PlanView,
}

impl PlanKnown {
    /// The digest the approval binds, when the plan succeeded.
    pub fn digest(&self) -> Option<&PlanDigest> {
        self.run.as_ref().and_then(|r| r.plan.as_ref())
    }
}

impl Gate {
    /// The plan of the executor this PR's rules name, when it has one; starts it on the
    /// execution pool when this head has none yet. `base` is the base branch's tip the
    /// evaluation read the policy at.
    pub(super) fn plan_of(
        &self,
        pull: &PullRef,
        head: &CommitSha,
        base: &CommitSha,
        decision: &ApprovalDecision,
    ) -> Option<PlanKnown> {
        let names = self.plans.named(&pull.repo, decision);
        let executor = match names.as_slice() {
            [] => return None,
            [one] => one.clone(),
            several => {
                return Some(failed_now(
                    &several.join(", "),
                    base,
                    format!(
                        "the change meets several executors with plans ({}); split it so that each PR shows one effect",
                        several.join(", ")
                    ),
                ));
            }
        };
        if self.executor.is_none() {
            return Some(failed_now(
                &executor,
                base,
                "this prgate runs no executor, so it cannot run the plan".into(),
            ));
        }
        let key = (
            pull.repo.clone(),
            pull.number,
            head.clone(),
            executor.clone(),
        );
        let entry = self.plans.runs.lock().ok()?.get(&key).cloned();
        match entry {
            Some(PlanEntry::Done(run)) => Some(known(run)),
            Some(PlanEntry::Running) => Some(running(&executor, base)),
            Some(PlanEntry::Unavailable(reason)) => {
                if let Ok(mut runs) = self.plans.runs.lock() {
                    runs.pop(&key);
                }
                Some(failed_now(&executor, base, reason))
            }
            None => {
                self.start_plan(key, base.clone());
                Some(running(&executor, base))
            }
        }
    }

    /// Runs the plan on the plans' own pool, then evaluates the PR again. A plan still running
    /// for an older head of the same PR is cancelled first: one plan per PR at a time.
    fn start_plan(&self, key: PlanKey, base: CommitSha) {
        let Some(executor) = self.executor.clone() else {
            return;
        };
        if let Ok(mut runs) = self.plans.runs.lock() {
            runs.put(key.clone(), PlanEntry::Running);
        }
        let cancel = CancellationToken::new();
        let superseded = self.plans.current.lock().ok().and_then(|mut current| {
            current.insert((key.0.clone(), key.1), (key.2.clone(), cancel.clone()))
        });
        if let Some((old_head, old)) = superseded
            && old_head != key.2
        {
            tracing::info!(repo = %key.0, pull = %key.1, head = %old_head, "a newer head supersedes this plan; cancelling it");
            old.cancel();
        }
        let permits = self.plan_slots.clone();
        let plans = self.plans.clone();
        let me = self.me.get().cloned();
        tokio::spawn(async move {
            let permit = tokio::select! {
                p = permits.acquire_owned() => p,
                _ = cancel.cancelled() => {
                    plans.finish(&key, PlanEntry::Unavailable("superseded by a newer head".into()));
                    return;
                }
            };
            let Ok(_permit) = permit else {
                return;
            };
            let (repo, pull, head, name) = key.clone();
            let stop = cancel.clone();
            let planned = off_runtime(async move {
                executor
                    .plan_pull(&repo, pull, &base, &head, &name, stop)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
            let entry = match planned {
                Some(Ok(run)) => PlanEntry::Done(Arc::new(run)),
                Some(Err(e)) => PlanEntry::Unavailable(format!("cannot run the plan yet: {e}")),
                None => PlanEntry::Unavailable("the plan's task failed; it runs again".into()),
            };
            if cancel.is_cancelled() {
                // Superseded: its result speaks of a head the PR no longer has.
                plans.finish(
                    &key,
                    PlanEntry::Unavailable("superseded by a newer head".into()),
                );
                return;
            }
            plans.finish(&key, entry);
            // The decision waits for the plan: evaluate the PR again now, not at its next event.
            if let Some(gate) = me.and_then(|w| w.upgrade()) {
                let (repo, pull, _, _) = key;
                gate.evaluate_again(&repo, pull);
            }
        });
    }

    /// Evaluates a PR again through the pool (in its lane, coalesced with its deliveries), or
    /// directly when no worker runs.
    fn evaluate_again(self: &Arc<Self>, repo: &RepoName, pull: PullNumber) {
        let queue = self.queue.lock().ok().and_then(|q| q.clone());
        match queue {
            Some(queue) => self.pool.submit(
                self,
                &queue,
                super::JobKey::Pull(repo.clone(), pull),
                super::Job::Evaluate(repo.clone(), pull),
                None,
            ),
            None => {
                let gate = self.clone();
                let repo = repo.clone();
                tokio::spawn(async move { gate.evaluate_with_retries(&repo, pull).await });
            }
        }
    }

    /// Posts the plan's comment on the PR once per head and digest, then reads which plan
    /// counts: the latest plan comment prgate's own account posted for this head, whatever
    /// process posted it. Every replica and every restart decides from the comments, so two
    /// processes can never approve different plans. `None` when no plan of prgate's is on the
    /// PR for the head (the approval then waits).
    pub(super) async fn show_plan(
        &self,
        pull: &PullRef,
        head: &CommitSha,
        plan: &PlanKnown,
    ) -> Option<ShownPlan> {
        let run = plan.run.as_ref()?;
        let marker = plan_marker(&run.executor, head, run.plan.as_ref());
        let shown = async {
            let me = self.self_account().await?;
            let ours = |c: &crate::github::models::ApiComment| {
                c.user.as_ref().is_some_and(|u| me.wrote(u))
            };
            let mut comments = self.gh.comments(&pull.repo, pull.number).await?;
            let posted = comments
                .iter()
                .any(|c| c.body.trim_start().starts_with(&marker) && ours(c));
            if !posted {
                let body = match self
                    .renderer
                    .render("comment_plan.md.j2", &comment_context(&marker, head, run))
                {
                    Ok(body) if body.trim_start().starts_with(&marker) => body,
                    Ok(body) => format!("{marker}\n{body}"),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot render the plan comment");
                        return Ok(None);
                    }
                };
                self.gh.comment(&pull.repo, pull.number, &body).await?;
                // Read back for the code host's own time of the comment: approvals are compared
                // with it, never with this machine's clock.
                comments = self.gh.comments(&pull.repo, pull.number).await?;
            }
            Ok::<_, crate::github::GitHubError>(latest_shown(&comments, &ours, &run.executor, head))
        }
        .await;
        match shown {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read or post the plan comment; the approval waits for it");
                None
            }
        }
    }
}

impl PlanKnown {
    /// The fact the policy weighs once the PR's comments were read: a plan that succeeded counts
    /// as the latest plan prgate showed for the head (its digest and the time it was shown),
    /// which may be another replica's or an earlier process's, never only this one's memory.
    pub(super) fn counting(&self, shown: Option<&ShownPlan>) -> PlanFact {
        match (&self.fact, shown) {
            (PlanFact::Ready { executor, .. }, Some(s)) => PlanFact::Ready {
                executor: executor.clone(),
                short: s.plan.short().to_string(),
                shown_at: Some(s.at),
            },
            (fact, _) => fact.clone(),
        }
    }
}

/// The plan that counts for a head: prgate's latest plan comment for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ShownPlan {
    pub at: DateTime<Utc>,
    pub plan: PlanDigest,
}

/// prgate's latest plan comment for `executor` and `head` among `comments`.
fn latest_shown(
    comments: &[crate::github::models::ApiComment],
    ours: &dyn Fn(&crate::github::models::ApiComment) -> bool,
    executor: &str,
    head: &CommitSha,
) -> Option<ShownPlan> {
    comments
        .iter()
        .filter(|c| ours(c))
        .filter_map(|c| {
            let m = parse_plan_marker(&c.body)?;
            (m.executor == executor && m.head == head.as_str()).then_some(ShownPlan {
                at: c.created_at?,
                plan: m.plan,
            })
        })
        .max_by_key(|s| s.at)
}

fn running(executor: &str, base: &CommitSha) -> PlanKnown {
    PlanKnown {
        fact: PlanFact::Running {
            executor: executor.to_string(),
        },
        run: None,
        view: PlanView {
            executor: executor.to_string(),
            state: "running",
            digest: None,
            size: None,
            base: base.short().to_string(),
            output: String::new(),
            truncated: false,
            failure: None,
        },
    }
}

fn failed_now(executor: &str, base: &CommitSha, reason: String) -> PlanKnown {
    PlanKnown {
        fact: PlanFact::Failed {
            executor: executor.to_string(),
            reason: reason.clone(),
        },
        run: None,
        view: PlanView {
            executor: executor.to_string(),
            state: "failed",
            digest: None,
            size: None,
            base: base.short().to_string(),
            output: String::new(),
            truncated: false,
            failure: Some(reason),
        },
    }
}

fn known(run: Arc<PlanRun>) -> PlanKnown {
    // The page shows all the output kept (the comment clips it); the digest covers all of it.
    let output = crate::render::normalize_newlines(&run.output);
    let base_short = run
        .programs_from
        .get(..7)
        .unwrap_or(&run.programs_from)
        .to_string();
    let fact = match (&run.plan, &run.failure) {
        (Some(p), None) => PlanFact::Ready {
            executor: run.executor.clone(),
            short: p.short().to_string(),
            // Filled in once the comment is on the PR.
            shown_at: None,
        },
        (_, failure) => PlanFact::Failed {
            executor: run.executor.clone(),
            reason: failure
                .clone()
                .unwrap_or_else(|| "it gave no digest".into()),
        },
    };
    let view = PlanView {
        executor: run.executor.clone(),
        state: if run.failure.is_none() {
            "ready"
        } else {
            "failed"
        },
        digest: run.plan.as_ref().map(|p| p.digest.clone()),
        size: run.plan.as_ref().map(|p| p.size),
        base: base_short,
        output,
        truncated: run.truncated,
        failure: run.failure.clone(),
    };
    PlanKnown {
        fact,
        run: Some(run),
        view,
    }
}

/// The output as comments and pages show it: at most [`SHOWN_CHARS`] characters.
fn shown_output(output: &str) -> (String, bool) {
    let normalized = crate::render::normalize_newlines(output);
    let was_clipped = normalized.chars().count() > SHOWN_CHARS;
    (truncate_chars(&normalized, SHOWN_CHARS), was_clipped)
}

fn comment_context(marker: &str, head: &CommitSha, run: &PlanRun) -> serde_json::Value {
    let (output, clipped) = shown_output(&run.output);
    let lines = output.lines().count();
    serde_json::json!({
        "marker": marker,
        "executor": run.executor,
        "head": head.as_str(),
        "head_short": head.short(),
        "base": run.programs_from,
        "base_short": run.programs_from.get(..7).unwrap_or(&run.programs_from),
        "digest": run.plan.as_ref().map(|p| p.digest.clone()),
        "size": run.plan.as_ref().map(|p| p.size),
        "output": output,
        "truncated": run.truncated || clipped,
        "folded": lines > FOLD_LINES,
        "lines": lines,
        "failure": run.failure,
    })
}
