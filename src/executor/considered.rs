//! The executor's answer for one merge commit, as `prgate execute` prints it and the JSON
//! contract carries it, and who asked.

use serde::Serialize;

use crate::record::note::Outcome;

/// The label that holds (or, while running, cancels) an execution.
pub const HOLD_LABEL: &str = "prgate:hold";

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
