//! What an executor's plan does to a decision: nobody may approve what nobody can see. While
//! the plan runs, or until its output is on the PR, an approval waits; a failed plan makes the
//! decision `error`; approvals given before the plan was shown do not count for the rule that
//! runs the executor. Pure: the gate gathers the plan's state, this decides.

use chrono::{DateTime, Utc};

use super::decision::{ApprovalDecision, ApprovalState};

/// The state of the plan of the executor a PR's rules name, as far as the decision goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanFact {
    /// The plan runs (or waits for the execution pool).
    Running { executor: String },
    /// The plan succeeded; `shown_at` is when its comment reached the PR (`None`: not yet).
    Ready {
        executor: String,
        /// The digest's first hex digits, as the status shows them.
        short: String,
        shown_at: Option<DateTime<Utc>>,
    },
    /// The plan failed, timed out, or cannot run; the reason says which.
    Failed { executor: String, reason: String },
}

/// `decision` with the plan taken into account (see the module's comment).
pub(crate) fn apply_plan(mut decision: ApprovalDecision, plan: &PlanFact) -> ApprovalDecision {
    if decision.state == ApprovalState::Error {
        return decision;
    }
    match plan {
        PlanFact::Running { executor } => {
            if decision.state == ApprovalState::Success {
                decision.state = ApprovalState::Pending;
                decision.description = format!(
                    "running the plan of {executor}; the approval counts once its effect is shown"
                );
            } else {
                decision.description =
                    format!("running the plan of {executor}; {}", decision.description);
            }
        }
        PlanFact::Failed { executor, reason } => {
            if decision.state == ApprovalState::Failure {
                decision.description = format!(
                    "{}; the plan of {executor} failed too",
                    decision.description
                );
            } else {
                decision.state = ApprovalState::Error;
                decision.description = format!(
                    "plan of {executor} failed: {reason}; nobody may approve what nobody can see"
                );
            }
        }
        PlanFact::Ready {
            executor,
            short,
            shown_at,
        } => {
            let prefix = format!("plan {short}…");
            let Some(shown_at) = shown_at else {
                if decision.state == ApprovalState::Success {
                    decision.state = ApprovalState::Pending;
                    decision.description =
                        format!("{prefix} not on the PR yet; the approval counts once it is");
                } else {
                    decision.description = format!("{prefix}; {}", decision.description);
                }
                return decision;
            };
            if decision.state == ApprovalState::Success
                && let Some(waiting) = approved_before_plan(&decision, executor, *shown_at)
            {
                decision.state = ApprovalState::Pending;
                decision.description = format!(
                    "{prefix}; approvals given before the plan was shown do not count: {waiting}"
                );
                return decision;
            }
            decision.description = format!("{prefix}; {}", decision.description);
        }
    }
    decision
}

/// What a rule running `executor` still needs when only approvals submitted once the plan was
/// shown count; `None` when every such rule is still satisfied. An approval without a time
/// cannot be shown to follow the plan, so it does not count here (fail closed).
fn approved_before_plan(
    decision: &ApprovalDecision,
    executor: &str,
    shown_at: DateTime<Utc>,
) -> Option<String> {
    decision
        .rules
        .iter()
        .filter(|r| r.executor.as_deref() == Some(executor))
        .find_map(|r| {
            let after = r
                .approvals
                .iter()
                .filter(|a| a.submitted_at.is_some_and(|t| t >= shown_at))
                .count() as u32;
            let needed = r.min_approvals.max(1);
            (after < needed).then(|| {
                let missing = needed - after;
                format!(
                    "needs {missing} approval{} from {} after it",
                    if missing == 1 { "" } else { "s" },
                    r.approvers
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::decision::{Approval, RuleOutcome};
    use crate::types::{Login, UserId};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn decision(state: ApprovalState, approved_at: Option<&str>) -> ApprovalDecision {
        let approvals: Vec<Approval> = approved_at
            .map(|t| Approval {
                login: Login::new("alice"),
                user_id: UserId(1),
                review_id: 7,
                submitted_at: Some(at(t)),
            })
            .into_iter()
            .collect();
        ApprovalDecision {
            state,
            description: match state {
                ApprovalState::Success => "approved by alice".into(),
                _ => "needs 1 approval from alice or acme/netops".into(),
            },
            head_sha: "a".repeat(40).parse().unwrap(),
            rules: vec![RuleOutcome {
                name: "firewall".into(),
                min_approvals: 1,
                approvals: approvals.clone(),
                satisfied: !approvals.is_empty(),
                approvers: "alice or acme/netops".into(),
                executor: Some("firewall".into()),
            }],
            approvals,
            denials: vec![],
            notes: vec![],
            reviews: vec![],
        }
    }

    fn ready(shown_at: Option<&str>) -> PlanFact {
        PlanFact::Ready {
            executor: "firewall".into(),
            short: "3f2a9c".into(),
            shown_at: shown_at.map(at),
        }
    }

    #[test]
    fn the_status_carries_the_short_digest_and_what_is_missing() {
        let d = apply_plan(
            decision(ApprovalState::Pending, None),
            &ready(Some("2026-11-21T10:00:00Z")),
        );
        assert_eq!(d.state, ApprovalState::Pending);
        assert_eq!(
            d.description,
            "plan 3f2a9c…; needs 1 approval from alice or acme/netops"
        );
        let d = apply_plan(
            decision(ApprovalState::Success, Some("2026-11-21T10:05:00Z")),
            &ready(Some("2026-11-21T10:00:00Z")),
        );
        assert_eq!(d.state, ApprovalState::Success);
        assert_eq!(d.description, "plan 3f2a9c…; approved by alice");
    }

    #[test]
    fn no_approval_counts_before_the_effect_is_shown() {
        let approved = || decision(ApprovalState::Success, Some("2026-11-21T10:00:00Z"));
        let running = PlanFact::Running {
            executor: "firewall".into(),
        };
        for plan in [running, ready(None), ready(Some("2026-11-21T10:00:01Z"))] {
            let d = apply_plan(approved(), &plan);
            assert_eq!(
                d.state,
                ApprovalState::Pending,
                "{plan:?}: {}",
                d.description
            );
        }
        let d = apply_plan(approved(), &ready(Some("2026-11-21T10:00:01Z")));
        assert!(
            d.description
                .contains("needs 1 approval from alice or acme/netops after it"),
            "{}",
            d.description
        );
        // The same second counts: GitHub's times have whole seconds.
        let d = apply_plan(approved(), &ready(Some("2026-11-21T10:00:00Z")));
        assert_eq!(d.state, ApprovalState::Success);
    }

    #[test]
    fn a_failed_plan_is_an_error_whatever_the_approvals() {
        let failed = PlanFact::Failed {
            executor: "firewall".into(),
            reason: "the plan timed out after 10m".into(),
        };
        for state in [ApprovalState::Pending, ApprovalState::Success] {
            let d = apply_plan(decision(state, Some("2026-11-21T10:00:00Z")), &failed);
            assert_eq!(d.state, ApprovalState::Error);
            assert!(d.description.contains("timed out"), "{}", d.description);
        }
        // A denial stays a denial, and says the plan failed too.
        let d = apply_plan(decision(ApprovalState::Failure, None), &failed);
        assert_eq!(d.state, ApprovalState::Failure);
        // An error of the facts is kept as it is.
        let mut e = decision(ApprovalState::Error, None);
        e.description = "cannot read the pushers".into();
        assert_eq!(apply_plan(e.clone(), &failed), e);
    }
}
