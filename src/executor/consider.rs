//! One merge commit considered: the facts gathered as the pure decision (`decide.rs`) asks
//! for them, and its step carried out.

use std::sync::Arc;

use git2::Oid;
use tracing::Instrument;

use super::considered::{Considered, Mode};
use super::decide::{
    Approved, Carried, ExecutorFacts, Facts, Fetched, Governance, Ledger, Need, RecordSeen, Step,
    decide,
};
use super::engine::Executor;
use super::error::ExecError;
use super::local::{LocalFacts, read_local};
use super::plan_run::PlanRun;
use super::verify::{MAX_SPOT_CHECKS, SpotChecks, Verification, Verified, summarize_paths};
use crate::config::ExecutorConfig;
use crate::github::models::ApiPull;
use crate::policy;
use crate::policy::RepoPolicy;
use crate::record::equivalence::{Equivalence, check_content};
use crate::record::note::ExecutionRecord;
use crate::types::{CommitSha, PullNumber, RepoName};

/// More rounds than the decision has questions: a decision that asks for ever is a bug, and
/// ends in an error rather than a loop.
const MAX_ROUNDS: usize = 16;

/// What the I/O around the decision holds for its steps: the facts in full, where the
/// decision sees only what it decides by.
pub(super) struct Gathered {
    pub(super) local: LocalFacts,
    pub(super) clone_url: String,
    pub(super) m: Oid,
    pub(super) policy: Option<RepoPolicy>,
    pub(super) exec: Option<ExecutorConfig>,
    pub(super) exec_name: Option<String>,
    pub(super) verified: Option<Verified>,
    /// The PR verification found before it refused, when it found one.
    pub(super) refused_pull: Option<ApiPull>,
    /// The plan run again on the merge.
    pub(super) plan_run: Option<PlanRun>,
}

impl Gathered {
    /// The executor the policy names for M, when prgate.toml defines it.
    pub(super) fn executor_name(&self) -> Option<&str> {
        self.exec_name.as_deref()
    }

    /// The PR merged as M, as far as verification got.
    pub(super) fn pull(&self) -> Option<&ApiPull> {
        self.verified
            .as_ref()
            .map(|v| &v.pull)
            .or(self.refused_pull.as_ref())
    }
}

impl From<&ExecutionRecord> for RecordSeen {
    fn from(e: &ExecutionRecord) -> Self {
        RecordSeen {
            executor: e.executor.clone(),
            outcome: e.outcome,
            exit_code: e.exit_code,
            refusal: e.refusal.clone(),
        }
    }
}

impl Executor {
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
        drop(mirror);
        let (governance, policy) = match self.governing_policy(&local) {
            Err(e) => (Governance::PolicyInvalid(e.to_string()), None),
            Ok(p) => (
                Governance::Governed {
                    executors: policy::executors_for(&p, &local.changed),
                    matched: !policy::matched_rules(&p, &local.changed).is_empty(),
                    has_note: local.has_note,
                },
                Some(p),
            ),
        };
        let exec = match &governance {
            Governance::Governed { executors, .. } if executors.len() == 1 => self
                .executor_config(&executors[0], repo)
                .map(|e| (executors[0].clone(), e)),
            _ => None,
        };
        let mut facts = Facts {
            repo: repo.to_string(),
            mode,
            governance,
            ledger: None,
            executor: exec.as_ref().map(|(name, e)| ExecutorFacts {
                name: name.clone(),
                paused: e.paused,
                has_plan: e.plan.is_some(),
            }),
            verified: None,
            content: None,
            carried: None,
            shown_plans: None,
            trailer_plan: local.trailer_plan.clone(),
            plan_now: None,
            notes_blocker: None,
        };
        let mut g = Gathered {
            local,
            clone_url,
            m,
            policy,
            exec_name: exec.as_ref().map(|(n, _)| n.clone()),
            exec: exec.map(|(_, e)| e),
            verified: None,
            refused_pull: None,
            plan_run: None,
        };
        for _ in 0..MAX_ROUNDS {
            match decide(&facts) {
                Step::Gather(need) => self.gather(repo, merge, need, &mut facts, &mut g).await?,
                Step::Settle(considered) => return Ok(considered),
                Step::RecordApproval => return self.record_approval(repo, merge, &g).await,
                Step::RepostFinal { state, description } => {
                    self.status_retried(repo, merge, state, &description)
                        .await?;
                    if let Ok(mut f) = self.final_unposted.lock() {
                        f.remove(&(repo.clone(), merge.clone()));
                    }
                    if let Some(l) = facts.ledger.as_mut() {
                        l.final_reposted = true;
                    }
                }
                Step::Refuse(refusal) => {
                    return self.report_refusal(repo, merge, &refusal, &g).await;
                }
                Step::Hold(reason) => return self.hold(repo, merge, &g, reason).await,
                Step::WaitFor(commit) => return Err(ExecError::EarlierMergeUnrecorded(commit)),
                Step::ClaimAndRun {
                    executor,
                    approved_plan,
                    plan_now,
                    replaces_foreign_note,
                } => {
                    return self
                        .claim_and_run(
                            repo,
                            merge,
                            mode,
                            g,
                            &executor,
                            (approved_plan, plan_now),
                            replaces_foreign_note,
                        )
                        .await;
                }
            }
        }
        Err(ExecError::Other(format!(
            "the executor's decision on {merge} did not settle in {MAX_ROUNDS} rounds"
        )))
    }

    /// Gathers the fact the decision asked for.
    async fn gather(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        need: Need,
        facts: &mut Facts,
        g: &mut Gathered,
    ) -> Result<(), ExecError> {
        let gerr = Self::git_err(repo);
        match need {
            Need::Ledger => {
                let trusted = self.trusted_note();
                let ledger = Ledger {
                    history: self.own_statuses(repo, merge).await?,
                    record: g.local.existing.as_ref().map(RecordSeen::from),
                    fetched: g.local.fetched.as_ref().map(|n| Fetched {
                        trusted: trusted(n),
                        record: n.execution.as_ref().map(RecordSeen::from),
                    }),
                    running_here: self
                        .running
                        .lock()
                        .map(|r| r.contains_key(merge))
                        .unwrap_or(false),
                    final_reposted: false,
                };
                if ledger.record.is_some() && !super::decide::backed(&ledger) {
                    tracing::warn!(%repo, %merge, "a note prgate's statuses do not back is on this merge; it is not prgate's record and does not stop the run");
                }
                facts.ledger = Some(ledger);
            }
            Need::Verification => {
                let policy = g
                    .policy
                    .clone()
                    .ok_or_else(|| ExecError::Other("verification without a policy".into()))?;
                facts.verified = Some(match self.verify(repo, merge, policy, &g.local).await? {
                    Verification::Approved(v) => {
                        let approved = Approved {
                            pull: v.pull.number,
                            head: v.note.head.short().to_string(),
                            approvals_at: v.note.approvals.iter().map(|a| a.submitted_at).collect(),
                            hold_label: v.pull.labels.iter().any(|l| l.name == super::HOLD_LABEL),
                        };
                        g.verified = Some(v);
                        Ok(approved)
                    }
                    Verification::Refused { pull, refusal } => {
                        g.refused_pull = pull;
                        Err(refusal)
                    }
                });
            }
            Need::Content => {
                let v = verified(g)?;
                let h = Oid::from_str(v.note.head.as_str()).map_err(&gerr)?;
                let mirror = self.local_mirror(repo).await?;
                facts.content = Some(match check_content(&mirror, g.m, h) {
                    Ok(Equivalence::Equivalent { .. }) => Ok(()),
                    Ok(Equivalence::Differs { reason }) => Err(reason),
                    Err(e) => Err(format!(
                        "cannot compare the merge with the approved head: {}",
                        e.message()
                    )),
                });
            }
            Need::Carried => facts.carried = Some(self.gather_carried(repo, g).await?),
            Need::ShownPlans => {
                let v = verified(g)?;
                let name = facts
                    .executor
                    .as_ref()
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                let pull = PullNumber(v.pull.number);
                facts.shown_plans = Some(self.shown_plans(repo, pull, &v.note.head, &name).await?);
            }
            Need::PlanRerun => {
                let v = verified(g)?;
                let exec = g
                    .exec
                    .clone()
                    .ok_or_else(|| ExecError::Other("a plan without its executor".into()))?;
                let name = facts
                    .executor
                    .as_ref()
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                let run = self
                    .rerun_plan(repo, v, &name, &exec, &g.local, g.m)
                    .await?;
                facts.plan_now = Some(match (&run.plan, &run.failure) {
                    (Some(now), None) => Ok(now.clone()),
                    (_, failure) => Err(failure.clone().unwrap_or_else(|| "no digest".into())),
                });
                g.plan_run = Some(run);
            }
            Need::NotesRefs => facts.notes_blocker = Some(self.notes_blocker(repo).await?),
        }
        Ok(())
    }

    /// Step 4: no unapproved content rides along. An earlier merge without a record here counts
    /// as approved when prgate's statuses show it ran, or show it stuck and it verifies now (see
    /// `approved_earlier`); one still running, or not yet considered, is waited for, so that
    /// merges run in order.
    async fn gather_carried(&self, repo: &RepoName, g: &Gathered) -> Result<Carried, ExecError> {
        let v = verified(g)?;
        let policy = g
            .policy
            .as_ref()
            .ok_or_else(|| ExecError::Other("step 4 without a policy".into()))?;
        let gerr = Self::git_err(repo);
        let mut spot = SpotChecks::default();
        let found = loop {
            let mirror = self.local_mirror(repo).await?;
            let found = self
                .carried(&mirror, repo, g.m, policy, &v.note.rules, &spot)
                .map_err(&gerr)?;
            drop(mirror);
            match found {
                super::carried::Carried::Pending { commit }
                    if spot.approved.len() < MAX_SPOT_CHECKS =>
                {
                    if self.approved_earlier(repo, commit).await? {
                        spot.approved.insert(commit);
                    } else {
                        break super::carried::Carried::Pending { commit };
                    }
                }
                other => break other,
            }
        };
        Ok(match found {
            super::carried::Carried::Approved => Carried::Approved,
            super::carried::Carried::Pending { commit } => Carried::Pending(commit.to_string()),
            super::carried::Carried::TooDeep => Carried::TooDeep {
                walked: super::carried::MAX_WALK,
            },
            super::carried::Carried::Unapproved { since, paths } => Carried::Unapproved {
                since: since.to_string()[..7].to_string(),
                paths: summarize_paths(&paths),
                how: self.how_it_arrived(repo, &v.pull.base.git_ref, since).await,
            },
        })
    }
}

/// The verification a later question rests on; the decision asks for those only after it.
fn verified(g: &Gathered) -> Result<&Verified, ExecError> {
    g.verified
        .as_ref()
        .ok_or_else(|| ExecError::Other("a step after verification without one".into()))
}
