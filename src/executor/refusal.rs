//! Every reason the executor does not run a merge, in one type. The words are written here
//! once; how each is reported (which status, which record, which comment) is named by its
//! [`Handling`], and the reporting itself is `report.rs`'s.

use crate::record::note::PlanDigest;

/// Why a merge does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    // --- prgate's own configuration: nothing is wrong with the merge ---
    /// The policy at the merge's first parent does not parse.
    PolicyInvalid(String),
    /// The change meets several executors.
    SeveralExecutors(Vec<String>),
    /// The policy names an executor that prgate.toml does not define for the repository.
    UnknownExecutor {
        name: String,
        repo: String,
    },

    // --- verification (steps 1 to 3): no approval is established ---
    /// Step 1: no PR was merged as M (a direct push).
    NoPull,
    /// Step 1: the PR named by the trailer was not merged as M.
    NotMergedAs {
        pull: u64,
    },
    /// Step 2: the facts of the approval cannot be read.
    CannotEstablish(String),
    /// Step 2: the policy's verdict, in its own words.
    NotApproved(String),
    /// Step 3: the merged content is not the approved head's.
    ContentDiffers(String),

    // --- step 4: the merge approved its own change, but it would run with unapproved content ---
    /// The last approved state lies further back than the walk looks.
    TooDeep {
        walked: usize,
    },
    /// Unapproved changes to governed paths since `since` (a short id), and how they came.
    Unapproved {
        since: String,
        paths: String,
        how: String,
    },

    // --- the plan: only the effect a human approved is applied ---
    NoPlanShown {
        pull: u64,
        head: String,
    },
    /// The merge's `Prgate-Plan` is not the latest plan shown for the head.
    PlanNotLatest {
        trailer: String,
        latest: PlanDigest,
        head: String,
        earlier: Vec<String>,
    },
    /// No approval was given after the latest plan shown for the head.
    NoApprovalAfterPlan {
        latest: PlanDigest,
        head: String,
        earlier: Vec<String>,
    },
    /// The plan run again on the merge has another digest than the approved one.
    PlanDrifted {
        approved: PlanDigest,
        now: PlanDigest,
    },
    /// The plan run again on the merge failed.
    PlanFailed {
        approved: PlanDigest,
        failure: String,
    },

    // --- refs prgate did not create: nothing runs until they are gone ---
    /// A ref keeps `refs/notes/prgate` from being pushed.
    NotesBlocked(String),
    /// The claim ref cannot be created, or is in a state prgate cannot call its own.
    ClaimBlocked(String),
}

/// How a refusal is reported and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// An `error` status ("execution blocked"), not durable: the merge is considered again once
    /// the configuration is fixed.
    CannotAct,
    /// A durable refusal with no approvals in its record, a `failure` status and a comment.
    Refuse,
    /// A durable refusal whose record keeps the approvals (the merge approved its own change).
    RefuseApproved,
    /// As `RefuseApproved`, with the approved and the new plan in the record and the comment.
    RefusePlan,
    /// An `error` status naming the ref and the fix, and a comment; no record, so the next pass
    /// retries once the ref is gone.
    Block,
}

impl Refusal {
    pub fn handling(&self) -> Handling {
        use Refusal::*;
        match self {
            PolicyInvalid(_) | SeveralExecutors(_) | UnknownExecutor { .. } => Handling::CannotAct,
            NoPull
            | NotMergedAs { .. }
            | CannotEstablish(_)
            | NotApproved(_)
            | ContentDiffers(_) => Handling::Refuse,
            TooDeep { .. } | Unapproved { .. } => Handling::RefuseApproved,
            NoPlanShown { .. }
            | PlanNotLatest { .. }
            | NoApprovalAfterPlan { .. }
            | PlanDrifted { .. }
            | PlanFailed { .. } => Handling::RefusePlan,
            NotesBlocked(_) | ClaimBlocked(_) => Handling::Block,
        }
    }

    /// The approved plan a plan refusal names, for its record and comment.
    pub fn approved_plan(&self) -> Option<&PlanDigest> {
        match self {
            Refusal::PlanDrifted { approved, .. } | Refusal::PlanFailed { approved, .. } => {
                Some(approved)
            }
            _ => None,
        }
    }
}

/// " (also shown before it: a1b2c3d4, …)" when earlier plans were shown for the head.
fn also_shown(earlier: &[String]) -> String {
    if earlier.is_empty() {
        String::new()
    } else {
        format!(" (also shown before it: {})", earlier.join(", "))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Refusal::*;
        const APPROVE_PLAN: &str = "a human must approve the plan that applies";
        match self {
            PolicyInvalid(e) => write!(f, "the policy at the merge's first parent is invalid: {e}"),
            SeveralExecutors(names) => write!(
                f,
                "the change meets several executors ({}); split it so that each merge runs one",
                names.join(", ")
            ),
            UnknownExecutor { name, repo } => {
                write!(
                    f,
                    "executor {name} is not defined for {repo} in prgate.toml"
                )
            }
            NoPull => f.write_str(
                "no pull request was merged as this commit (a direct push is never executed)",
            ),
            NotMergedAs { pull } => write!(f, "PR #{pull} was not merged as this commit"),
            CannotEstablish(e) => write!(f, "cannot establish the approval: {e}"),
            NotApproved(d) => write!(f, "not approved: {d}"),
            ContentDiffers(reason) => f.write_str(reason),
            TooDeep { walked } => write!(
                f,
                "the last approved state of the governed content lies more than {walked} commits back; prgate cannot tell what was approved"
            ),
            Unapproved { since, paths, how } => write!(
                f,
                "the branch carries unapproved changes to {paths} since {since} ({how}): revert them in an approved PR"
            ),
            NoPlanShown { pull, head } => write!(
                f,
                "no plan was shown on PR #{pull} for the approved head {head}; {APPROVE_PLAN}"
            ),
            PlanNotLatest {
                trailer,
                latest,
                head,
                earlier,
            } => write!(
                f,
                "the merge's Prgate-Plan {trailer} is not the latest plan prgate showed for {head} ({}…){}; {APPROVE_PLAN}",
                latest.short(),
                also_shown(earlier)
            ),
            NoApprovalAfterPlan {
                latest,
                head,
                earlier,
            } => write!(
                f,
                "no approval follows the latest plan shown for {head} ({}…){}; {APPROVE_PLAN}",
                latest.short(),
                also_shown(earlier)
            ),
            PlanDrifted { approved, now } => write!(
                f,
                "plan drifted: approved {}…, now {}… (the world changed or the base moved since the approval); a drifted plan is never applied: a human must approve the new plan",
                approved.short(),
                now.short()
            ),
            PlanFailed { failure, .. } => write!(
                f,
                "the plan failed before the command ({failure}), so nobody can tell its effect; nothing ran"
            ),
            NotesBlocked(r) => write!(
                f,
                "ref {r} blocks {}; delete it",
                crate::record::note::NOTES_REF
            ),
            ClaimBlocked(reason) => f.write_str(reason),
        }
    }
}
