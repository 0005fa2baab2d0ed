//! The `prgate/execution` statuses the executor posts on a merge commit, written and read in
//! one place. Statuses are append-only on the code host and attributed to their poster, so
//! the ones prgate's own account posted are the record of its runs that no writer can delete
//! or rewrite: at-most-once rests on them, not only on refs and notes.

use crate::record::note::Outcome;

/// What one of prgate's own `prgate/execution` statuses says about a merge commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunStatus {
    /// Posted right after the claim and before anything runs: the merge was claimed.
    Running,
    /// The run ended with this outcome (succeeded, failed, timeout, cancelled, interrupted).
    Ended(Outcome),
    /// Held by the kill switch before anything ran.
    Held,
    /// Verification refused it; nothing ran.
    Refused,
    /// prgate could not act (a blocked claim or notes ref); nothing ran.
    Blocked,
}

impl RunStatus {
    /// Whether this status shows the merge was claimed for a run (so it must never run again
    /// automatically).
    pub fn claimed(&self) -> bool {
        matches!(self, RunStatus::Running | RunStatus::Ended(_))
    }

    /// The outcome of a run that finished: such a run is never run again, not even by an
    /// operator. Cancelled and interrupted runs may be re-run by an operator.
    pub fn finished(&self) -> Option<Outcome> {
        match self {
            RunStatus::Ended(o @ (Outcome::Succeeded | Outcome::Failed | Outcome::Timeout)) => {
                Some(*o)
            }
            _ => None,
        }
    }
}

/// `(state, description)` of the status posted right after the claim.
pub fn running(executor: &str) -> (&'static str, String) {
    ("pending", format!("running {executor}"))
}

pub fn held(reason: &str) -> (&'static str, String) {
    (
        "pending",
        format!("held: {reason}; release with prgate execute"),
    )
}

pub fn refused(reason: &str) -> (&'static str, String) {
    ("failure", format!("execution refused: {reason}"))
}

pub fn blocked(reason: &str) -> (&'static str, String) {
    ("error", format!("execution blocked: {reason}"))
}

pub(crate) const INTERRUPTED: &str =
    "interrupted: not re-run automatically; an operator may re-run it with prgate execute";

/// The status of a run that ended; `detail` follows "failed" for a failure (" with exit code
/// 3", ": the secret FIREWALL_TOKEN does not resolve").
pub fn ended(executor: &str, outcome: Outcome, detail: &str) -> (&'static str, String) {
    match outcome {
        Outcome::Succeeded => ("success", format!("{executor} ran once and succeeded")),
        Outcome::Timeout => (
            "failure",
            format!("{executor} timed out; its process group was killed"),
        ),
        Outcome::Cancelled => ("failure", format!("{executor} was cancelled while running")),
        Outcome::Interrupted => ("failure", INTERRUPTED.to_string()),
        Outcome::NotStarted => (
            "error",
            // The fix first: a description is cut at 140 characters, the reason may be long.
            format!("{executor} did not start (fix it, then run prgate execute){detail}"),
        ),
        _ => ("failure", format!("{executor} failed{detail}")),
    }
}

/// Reads one of prgate's own statuses back; `None` for a description this module does not
/// write (an older prgate's, or a future one's).
pub(crate) fn classify(state: &str, description: &str) -> Option<RunStatus> {
    let d = description;
    match state {
        "success" if d.contains(" ran once and succeeded") => {
            Some(RunStatus::Ended(Outcome::Succeeded))
        }
        "pending" if d.starts_with("running ") => Some(RunStatus::Running),
        "pending" if d.starts_with("held: ") => Some(RunStatus::Held),
        "failure" if d.starts_with("execution refused: ") => Some(RunStatus::Refused),
        "failure" if d.starts_with("interrupted: ") => Some(RunStatus::Ended(Outcome::Interrupted)),
        "failure" if d.contains(" timed out; ") => Some(RunStatus::Ended(Outcome::Timeout)),
        "failure" if d.contains(" was cancelled while running") => {
            Some(RunStatus::Ended(Outcome::Cancelled))
        }
        "failure" if d.contains(" failed") => Some(RunStatus::Ended(Outcome::Failed)),
        "error" if d.starts_with("execution blocked: ") => Some(RunStatus::Blocked),
        "error" if d.contains(" did not start") => Some(RunStatus::Ended(Outcome::NotStarted)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_written_reads_back_as_itself() {
        let cases = [
            (running("firewall"), RunStatus::Running),
            (held("paused"), RunStatus::Held),
            (refused("not approved"), RunStatus::Refused),
            (blocked("a ref"), RunStatus::Blocked),
            (
                ended("firewall", Outcome::Succeeded, ""),
                RunStatus::Ended(Outcome::Succeeded),
            ),
            (
                ended("firewall", Outcome::Failed, " with exit code 3"),
                RunStatus::Ended(Outcome::Failed),
            ),
            (
                ended("firewall", Outcome::Timeout, ""),
                RunStatus::Ended(Outcome::Timeout),
            ),
            (
                ended("firewall", Outcome::NotStarted, ": secret env:X is not set"),
                RunStatus::Ended(Outcome::NotStarted),
            ),
            (
                ended("firewall", Outcome::Cancelled, ""),
                RunStatus::Ended(Outcome::Cancelled),
            ),
            (
                ended("firewall", Outcome::Interrupted, ""),
                RunStatus::Ended(Outcome::Interrupted),
            ),
        ];
        for ((state, description), want) in cases {
            assert_eq!(classify(state, &description), Some(want), "{description}");
        }
        assert_eq!(classify("success", "something else"), None);
    }

    #[test]
    fn only_finished_runs_are_final_for_an_operator() {
        assert!(RunStatus::Ended(Outcome::Succeeded).finished().is_some());
        assert!(RunStatus::Ended(Outcome::Timeout).finished().is_some());
        assert!(RunStatus::Ended(Outcome::Interrupted).finished().is_none());
        assert!(RunStatus::Ended(Outcome::Cancelled).finished().is_none());
        assert!(RunStatus::Running.claimed());
        assert!(!RunStatus::Held.claimed());
        assert!(!RunStatus::Refused.claimed());
    }
}
