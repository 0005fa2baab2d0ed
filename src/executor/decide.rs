//! The executor's decision for one merge commit, as a pure function of the facts gathered so
//! far: what prgate's own statuses show (the ledger), the records found, the verification, the
//! content and ride-along checks, the plan evidence and the hold. Facts are gathered lazily:
//! where the decision needs one it does not have, it asks for it ([`Step::Gather`]), so that a
//! merge already dealt with costs no verification. The I/O around it lives in the other files
//! of this folder; this file reads nothing and writes nothing.
//!
//! The order of the questions is "Post-merge verification" of the design: what prgate's own
//! statuses show first (they are append-only and attributed: a writer can delete a note or a
//! ref, never a status), then steps 1 to 4, the hold, the plan, the refs, and the claim (5).

use chrono::{DateTime, Utc};

use super::considered::{Considered, HOLD_LABEL, Mode};
use super::refusal::Refusal;
use crate::record::note::{Outcome, PlanDigest};
use crate::record::run_status::{self, RunStatus};

/// What is known about one merge commit.
#[derive(Debug, Clone)]
pub struct Facts {
    pub repo: String,
    pub mode: Mode,
    pub governance: Governance,
    /// prgate's own statuses and the records found; gathered for a merge that runs an executor.
    pub ledger: Option<Ledger>,
    /// The executor the policy names, as prgate.toml defines it (`None`: not defined).
    pub executor: Option<ExecutorFacts>,
    /// Steps 1 and 2: the PR merged as M is approved by the policy at M^1.
    pub verified: Option<Result<Approved, Refusal>>,
    /// Step 3: `Err` with the reason when M's content is not the approved head's.
    pub content: Option<Result<(), String>>,
    /// Step 4: whether the governed content M runs with was approved.
    pub carried: Option<Carried>,
    /// The plans prgate's own comments showed for the approved head, oldest first.
    pub shown_plans: Option<Vec<(PlanDigest, Option<DateTime<Utc>>)>>,
    /// The merge's `Prgate-Plan` trailer: the plan prgate merged it with.
    pub trailer_plan: Option<String>,
    /// The plan run again on the merge: its digest, or why it failed.
    pub plan_now: Option<Result<PlanDigest, String>>,
    /// A ref that keeps `refs/notes/prgate` from being pushed (`Some(None)`: none).
    pub notes_blocker: Option<Option<String>>,
}

/// Whether the policy at M's first parent governs M (a root commit, or one whose first parent
/// has no policy, is settled as not governed before any fact is gathered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Governance {
    /// The policy at the first parent does not parse.
    PolicyInvalid(String),
    Governed {
        /// The executors of the rules M's changes match.
        executors: Vec<String>,
        /// Whether any rule matched M's changes.
        matched: bool,
        /// Whether a prgate note (an approval record, at least) is on M.
        has_note: bool,
    },
}

/// What prgate's own statuses and the notes show about M.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// prgate's own `prgate/execution` statuses on M, newest first.
    pub history: Vec<RunStatus>,
    /// The execution record in the mirror's note on M, whoever wrote it.
    pub record: Option<RecordSeen>,
    /// The note the code host had on M at the last fetch: its record, and whether prgate
    /// trusts it (signed by its key, not dated ahead).
    pub fetched: Option<Fetched>,
    /// A run of M is in progress in this process.
    pub running_here: bool,
    /// The final status was posted again from the record (see [`Step::RepostFinal`]).
    pub final_reposted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSeen {
    pub executor: String,
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub trusted: bool,
    pub record: Option<RecordSeen>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorFacts {
    pub name: String,
    pub paused: bool,
    pub has_plan: bool,
}

/// What verification established about an approved merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    pub pull: u64,
    /// The approved head's short id, for the words.
    pub head: String,
    /// When each counted approval was submitted.
    pub approvals_at: Vec<Option<DateTime<Utc>>>,
    /// The PR carries the hold label.
    pub hold_label: bool,
}

/// Step 4's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    Approved,
    /// An earlier merge changed the same governed content, has no record, and did not verify
    /// on the spot (yet): M waits for it.
    Pending(String),
    TooDeep {
        walked: usize,
    },
    Unapproved {
        since: String,
        paths: String,
        how: String,
    },
}

/// A fact the decision needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Ledger,
    Verification,
    Content,
    Carried,
    ShownPlans,
    /// Run the plan again on the merge.
    PlanRerun,
    NotesRefs,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Gather(Need),
    /// Nothing to do: the answer is this.
    Settle(Considered),
    /// A governed merge that runs no executor: verify it and write its approval record.
    RecordApproval,
    /// The run ended and its record says how, but the final status never reached the code host:
    /// post it from the record, then decide again.
    RepostFinal {
        state: &'static str,
        description: String,
    },
    Refuse(Refusal),
    /// The kill switch: record `held`, post it, and run nothing.
    Hold(String),
    /// An earlier merge of the same governed content is verified first.
    WaitFor(String),
    /// Claim M and run it (step 5 on).
    ClaimAndRun {
        executor: String,
        approved_plan: Option<PlanDigest>,
        plan_now: Option<PlanDigest>,
        /// The code host's note on M is not prgate's: the final status says it was replaced.
        replaces_foreign_note: bool,
    },
}

/// The decision, from what is known so far.
pub fn decide(f: &Facts) -> Step {
    let (executors, matched, has_note) = match &f.governance {
        Governance::PolicyInvalid(e) => return Step::Refuse(Refusal::PolicyInvalid(e.clone())),
        Governance::Governed {
            executors,
            matched,
            has_note,
        } => (executors, *matched, *has_note),
    };
    if executors.is_empty() {
        // Nothing runs, but a governed merge still gets its approval record as a (signed)
        // note, so that `verify --public-key` can demand one for every governed commit.
        return if !matched || has_note {
            Step::Settle(Considered::NotGoverned)
        } else {
            Step::RecordApproval
        };
    }
    let Some(ledger) = &f.ledger else {
        return Step::Gather(Need::Ledger);
    };
    if let Some(step) = from_ledger(f.mode, ledger) {
        return step;
    }
    if executors.len() > 1 {
        return Step::Refuse(Refusal::SeveralExecutors(executors.clone()));
    }
    let Some(exec) = &f.executor else {
        // The I/O layer fills `executor` whenever prgate.toml defines the one the policy names.
        return Step::Refuse(Refusal::UnknownExecutor {
            name: executors[0].clone(),
            repo: f.repo.clone(),
        });
    };
    // Steps 1 and 2: from the code host and from git, never from statuses.
    let approved = match &f.verified {
        None => return Step::Gather(Need::Verification),
        Some(Err(r)) => return Step::Refuse(r.clone()),
        Some(Ok(a)) => a,
    };
    // Step 3.
    match &f.content {
        None => return Step::Gather(Need::Content),
        Some(Err(reason)) => return Step::Refuse(Refusal::ContentDiffers(reason.clone())),
        Some(Ok(())) => {}
    }
    // Step 4.
    match &f.carried {
        None => return Step::Gather(Need::Carried),
        Some(Carried::Approved) => {}
        Some(Carried::Pending(commit)) => return Step::WaitFor(commit.clone()),
        Some(Carried::TooDeep { walked }) => {
            return Step::Refuse(Refusal::TooDeep { walked: *walked });
        }
        Some(Carried::Unapproved { since, paths, how }) => {
            return Step::Refuse(Refusal::Unapproved {
                since: since.clone(),
                paths: paths.clone(),
                how: how.clone(),
            });
        }
    }
    // The kill switch, before anything starts; an operator's `prgate execute` releases it.
    if f.mode == Mode::Automatic {
        if exec.paused {
            return Step::Hold(format!("executor {} is paused in prgate.toml", exec.name));
        }
        if approved.hold_label {
            return Step::Hold(format!("the PR carries the {HOLD_LABEL} label"));
        }
    }
    // The plan: only the effect a human approved is ever applied.
    let (approved_plan, plan_now) = if exec.has_plan {
        let Some(shown) = &f.shown_plans else {
            return Step::Gather(Need::ShownPlans);
        };
        let counting = match counting_plan(shown, f.trailer_plan.as_deref(), approved) {
            Ok(p) => p,
            Err(r) => return Step::Refuse(r),
        };
        match &f.plan_now {
            None => return Step::Gather(Need::PlanRerun),
            Some(Ok(now)) if now.digest == counting.digest => (Some(counting), Some(now.clone())),
            Some(Ok(now)) => {
                return Step::Refuse(Refusal::PlanDrifted {
                    approved: counting,
                    now: now.clone(),
                });
            }
            Some(Err(failure)) => {
                return Step::Refuse(Refusal::PlanFailed {
                    approved: counting,
                    failure: failure.clone(),
                });
            }
        }
    } else {
        (None, None)
    };
    match &f.notes_blocker {
        None => return Step::Gather(Need::NotesRefs),
        Some(Some(r)) => return Step::Refuse(Refusal::NotesBlocked(r.clone())),
        Some(None) => {}
    }
    Step::ClaimAndRun {
        executor: exec.name.clone(),
        approved_plan,
        plan_now,
        replaces_foreign_note: foreign_note(ledger),
    }
}

/// What prgate's own statuses and the records settle before any verification. Notes and claim
/// refs can be deleted or rolled back by any writer; prgate's statuses cannot: a record counts
/// only where they back it, a merge they show claimed never runs again automatically, and a
/// run they show finished never runs again at all.
fn from_ledger(mode: Mode, ledger: &Ledger) -> Option<Step> {
    let history = &ledger.history;
    if let Some(rec) = ledger.record.as_ref().filter(|_| backed(ledger)) {
        if let Some(step) = repost_final(ledger, rec) {
            return Some(step);
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
            return Some(Step::Settle(Considered::AlreadyRecorded {
                outcome: rec.outcome,
                reason: rec.refusal.clone(),
            }));
        }
    }
    if ledger.running_here {
        return Some(Step::Settle(Considered::ClaimedElsewhere));
    }
    // What the code host's note says of an outcome the statuses show, for the words only.
    let said = |outcome: Outcome| {
        ledger
            .fetched
            .as_ref()
            .and_then(|n| n.record.as_ref())
            .filter(|e| e.outcome == outcome)
            .and_then(|e| e.refusal.clone())
    };
    if let Some(outcome) = history.iter().find_map(RunStatus::finished) {
        return Some(Step::Settle(Considered::AlreadyRecorded {
            outcome,
            reason: said(outcome),
        }));
    }
    if mode == Mode::Operator {
        return None;
    }
    // A refusal prgate posted is durable even where its note is not one prgate trusts (no
    // signing key) or is gone: only an operator's `prgate execute` reconsiders it.
    if history.iter().any(|s| matches!(s, RunStatus::Refused)) {
        return Some(Step::Settle(Considered::AlreadyRecorded {
            outcome: Outcome::Refused,
            reason: None,
        }));
    }
    if history.iter().any(RunStatus::claimed) {
        let outcome = history
            .iter()
            .find_map(|s| match s {
                RunStatus::Ended(o) => Some(*o),
                _ => None,
            })
            .unwrap_or(Outcome::Interrupted);
        return Some(Step::Settle(Considered::AlreadyRecorded {
            outcome,
            reason: said(outcome),
        }));
    }
    None
}

/// What backs a record: prgate claimed M (a run) or refused it, by its own statuses. A note on
/// a merge prgate never posted such a status on is a writer's, and never stops a run.
pub fn backed(ledger: &Ledger) -> bool {
    ledger
        .history
        .iter()
        .any(|s| s.claimed() || matches!(s, RunStatus::Refused))
}

/// A note on M that prgate did not write: unsigned, another key, dated ahead, or with no status
/// of prgate's behind it. It never stops the run, and prgate's record replaces it.
pub fn foreign_note(ledger: &Ledger) -> bool {
    ledger
        .fetched
        .as_ref()
        .is_some_and(|n| !n.trusted || !backed(ledger))
}

/// The final status to post again: the run ended and its record says how, but the newest of
/// prgate's statuses still says `running` (a failed call after the run) and nothing runs here.
fn repost_final(ledger: &Ledger, rec: &RecordSeen) -> Option<Step> {
    let stuck = ledger.history.first() == Some(&RunStatus::Running)
        && rec.outcome != Outcome::Interrupted
        && !ledger.running_here
        && !ledger.final_reposted;
    if !stuck {
        return None;
    }
    let detail = match rec.exit_code {
        Some(c) => format!(" with exit code {c}"),
        None => format!(": {}", rec.refusal.clone().unwrap_or_default()),
    };
    let (state, description) = run_status::ended(&rec.executor, rec.outcome, &detail);
    Some(Step::RepostFinal { state, description })
}

/// The plan that counts is prgate's latest plan comment for the approved head, and only an
/// approval given after it approved it: the rule the gate decides by, on every replica. A
/// merge whose `Prgate-Plan` names another plan was merged on an older decision.
pub fn counting_plan(
    shown: &[(PlanDigest, Option<DateTime<Utc>>)],
    trailer: Option<&str>,
    approved: &Approved,
) -> Result<PlanDigest, Refusal> {
    let Some((latest, at)) = shown.last() else {
        return Err(Refusal::NoPlanShown {
            pull: approved.pull,
            head: approved.head.clone(),
        });
    };
    let earlier: Vec<String> = shown
        .iter()
        .map(|(p, _)| p.short().to_string())
        .filter(|s| s != latest.short())
        .collect();
    let after = approved
        .approvals_at
        .iter()
        .any(|t| at.zip(*t).is_some_and(|(at, t)| t >= at));
    match trailer {
        Some(d) if d != latest.digest => Err(Refusal::PlanNotLatest {
            trailer: d.to_string(),
            latest: latest.clone(),
            head: approved.head.clone(),
            earlier,
        }),
        _ if !after => Err(Refusal::NoApprovalAfterPlan {
            latest: latest.clone(),
            head: approved.head.clone(),
            earlier,
        }),
        _ => Ok(latest.clone()),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
