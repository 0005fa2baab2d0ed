//! The executor's decision, case by case, without a code host: every step of "Post-merge
//! verification" and every story of the issue on verification trust, as rows of tables.

use super::*;
use crate::executor::refusal::Handling;
use chrono::TimeZone;

fn at(minute: u32) -> Option<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2026, 12, 7, 10, minute, 0).single()
}

fn plan(n: char) -> PlanDigest {
    PlanDigest {
        digest: format!("sha256:{}", n.to_string().repeat(64)),
        size: 10,
    }
}

fn record(outcome: Outcome) -> RecordSeen {
    RecordSeen {
        executor: "firewall".into(),
        outcome,
        exit_code: matches!(outcome, Outcome::Succeeded).then_some(0),
        refusal: None,
    }
}

/// An approved merge of one executor with nothing in the way: it is claimed and run.
fn clear() -> Facts {
    Facts {
        repo: "acme/infra".into(),
        mode: Mode::Automatic,
        governance: Governance::Governed {
            executors: vec!["firewall".into()],
            matched: true,
            has_note: false,
        },
        ledger: Some(Ledger::default()),
        executor: Some(ExecutorFacts {
            name: "firewall".into(),
            paused: false,
            has_plan: false,
        }),
        verified: Some(Ok(Approved {
            pull: 7,
            head: "abc1234".into(),
            approvals_at: vec![at(30)],
            hold_label: false,
        })),
        content: Some(Ok(())),
        carried: Some(Carried::Approved),
        shown_plans: None,
        trailer_plan: None,
        plan_now: None,
        notes_blocker: Some(None),
    }
}

fn run() -> Step {
    Step::ClaimAndRun {
        executor: "firewall".into(),
        approved_plan: None,
        plan_now: None,
        replaces_foreign_note: false,
    }
}

fn settled(outcome: Outcome) -> Step {
    Step::Settle(Considered::AlreadyRecorded {
        outcome,
        reason: None,
    })
}

fn ledger(f: &mut Facts) -> &mut Ledger {
    f.ledger.get_or_insert_with(Ledger::default)
}

fn governed(executors: &[&str], matched: bool, has_note: bool) -> Governance {
    Governance::Governed {
        executors: executors.iter().map(|s| s.to_string()).collect(),
        matched,
        has_note,
    }
}

type Row = (&'static str, fn(&mut Facts), Step);

fn check(rows: &[Row]) {
    for (name, change, want) in rows {
        let mut f = clear();
        change(&mut f);
        assert_eq!(&decide(&f), want, "{name}");
    }
}

#[test]
fn governance_and_the_approval_record_of_a_merge_that_runs_nothing() {
    check(&[
        (
            "an approved merge with nothing in the way runs",
            |_| {},
            run(),
        ),
        (
            "a governed merge that meets no executor gets its approval record",
            |f| f.governance = governed(&[], true, false),
            Step::RecordApproval,
        ),
        (
            "... once: a note is there already",
            |f| f.governance = governed(&[], true, true),
            Step::Settle(Considered::NotGoverned),
        ),
        (
            "a merge no rule matches is not governed",
            |f| f.governance = governed(&[], false, false),
            Step::Settle(Considered::NotGoverned),
        ),
        (
            "an invalid policy at the first parent: prgate cannot act (not a refusal)",
            |f| f.governance = Governance::PolicyInvalid("line 3: unknown key".into()),
            Step::Refuse(Refusal::PolicyInvalid("line 3: unknown key".into())),
        ),
        (
            "several executors",
            |f| f.governance = governed(&["dns", "firewall"], true, false),
            Step::Refuse(Refusal::SeveralExecutors(vec![
                "dns".into(),
                "firewall".into(),
            ])),
        ),
        (
            "an executor prgate.toml does not define",
            |f| f.executor = None,
            Step::Refuse(Refusal::UnknownExecutor {
                name: "firewall".into(),
                repo: "acme/infra".into(),
            }),
        ),
    ]);
}

#[test]
fn prgates_own_statuses_are_read_before_anything_else() {
    check(&[
        (
            "nothing known yet: the ledger first",
            |f| f.ledger = None,
            Step::Gather(Need::Ledger),
        ),
        (
            "a run prgate's statuses show finished is never run again",
            |f| ledger(f).history = vec![RunStatus::Ended(Outcome::Succeeded), RunStatus::Running],
            settled(Outcome::Succeeded),
        ),
        (
            "... not even by an operator",
            |f| {
                f.mode = Mode::Operator;
                ledger(f).history = vec![RunStatus::Ended(Outcome::Failed), RunStatus::Running];
            },
            settled(Outcome::Failed),
        ),
        (
            "a claim with no result (the note rolled back or deleted) is interrupted, not re-run",
            |f| ledger(f).history = vec![RunStatus::Running],
            settled(Outcome::Interrupted),
        ),
        (
            "... but an operator may re-run an interrupted run",
            |f| {
                f.mode = Mode::Operator;
                ledger(f).history = vec![RunStatus::Running];
            },
            run(),
        ),
        (
            "a refusal prgate posted is durable without its note",
            |f| ledger(f).history = vec![RunStatus::Refused],
            settled(Outcome::Refused),
        ),
        (
            "a blocked merge (a ref in the way) is looked at again",
            |f| ledger(f).history = vec![RunStatus::Blocked],
            run(),
        ),
        (
            "a run in progress in this process",
            |f| ledger(f).running_here = true,
            Step::Settle(Considered::ClaimedElsewhere),
        ),
    ]);
}

#[test]
fn a_record_counts_only_where_prgates_statuses_back_it() {
    check(&[
        (
            "a backed record settles the merge",
            |f| {
                let l = ledger(f);
                l.history = vec![RunStatus::Ended(Outcome::Succeeded), RunStatus::Running];
                l.record = Some(record(Outcome::Succeeded));
            },
            settled(Outcome::Succeeded),
        ),
        (
            "a writer's note 'succeeded' on a merge prgate never claimed does not stop the run, and is named",
            |f| {
                let l = ledger(f);
                l.record = Some(record(Outcome::Succeeded));
                l.fetched = Some(Fetched {
                    trusted: false,
                    record: Some(record(Outcome::Succeeded)),
                });
            },
            Step::ClaimAndRun {
                executor: "firewall".into(),
                approved_plan: None,
                plan_now: None,
                replaces_foreign_note: true,
            },
        ),
        (
            "a note pre-pushed for a predicted merge, even one that verifies as signed, is not backed",
            |f| {
                let l = ledger(f);
                l.record = Some(record(Outcome::Succeeded));
                l.fetched = Some(Fetched {
                    trusted: true,
                    record: Some(record(Outcome::Succeeded)),
                });
            },
            Step::ClaimAndRun {
                executor: "firewall".into(),
                approved_plan: None,
                plan_now: None,
                replaces_foreign_note: true,
            },
        ),
        (
            "a run that ended but whose final status was lost: the status is posted from the record",
            |f| {
                let l = ledger(f);
                l.history = vec![RunStatus::Running];
                l.record = Some(record(Outcome::Succeeded));
            },
            Step::RepostFinal {
                state: "success",
                description: "firewall ran once and succeeded".into(),
            },
        ),
        (
            "... once",
            |f| {
                let l = ledger(f);
                l.history = vec![RunStatus::Running];
                l.record = Some(record(Outcome::Succeeded));
                l.final_reposted = true;
            },
            settled(Outcome::Succeeded),
        ),
        (
            "a refusal settles the merge for the service; an operator's prgate execute reconsiders it",
            |f| {
                f.mode = Mode::Operator;
                let l = ledger(f);
                l.history = vec![RunStatus::Refused];
                l.record = Some(record(Outcome::Refused));
            },
            run(),
        ),
    ]);
}

#[test]
fn steps_one_to_four_are_asked_in_order_and_each_refuses_with_its_reason() {
    check(&[
        (
            "step 1 and 2 first",
            |f| f.verified = None,
            Step::Gather(Need::Verification),
        ),
        (
            "a direct push is never executed",
            |f| f.verified = Some(Err(Refusal::NoPull)),
            Step::Refuse(Refusal::NoPull),
        ),
        (
            "a designated human's 'no' dismissed by the agent keeps blocking (the policy says why)",
            |f| {
                f.verified = Some(Err(Refusal::NotApproved(
                    "changes requested by alice (dismissed by agent-bot, not an approver of firewall)".into(),
                )))
            },
            Step::Refuse(Refusal::NotApproved(
                "changes requested by alice (dismissed by agent-bot, not an approver of firewall)"
                    .into(),
            )),
        ),
        (
            "step 3 next",
            |f| f.content = None,
            Step::Gather(Need::Content),
        ),
        (
            "merged content differs from what was approved",
            |f| f.content = Some(Err("merged content differs from what was approved".into())),
            Step::Refuse(Refusal::ContentDiffers(
                "merged content differs from what was approved".into(),
            )),
        ),
        (
            "step 4 next",
            |f| f.carried = None,
            Step::Gather(Need::Carried),
        ),
        (
            "an earlier merge of the same content without a record is waited for",
            |f| f.carried = Some(Carried::Pending("1a2b3c4d".into())),
            Step::WaitFor("1a2b3c4d".into()),
        ),
        (
            "unapproved content rides along",
            |f| {
                f.carried = Some(Carried::Unapproved {
                    since: "1a2b3c4".into(),
                    paths: "firewall/rules.toml".into(),
                    how: "direct push by root".into(),
                })
            },
            Step::Refuse(Refusal::Unapproved {
                since: "1a2b3c4".into(),
                paths: "firewall/rules.toml".into(),
                how: "direct push by root".into(),
            }),
        ),
        (
            "the approved state lies too far back",
            |f| f.carried = Some(Carried::TooDeep { walked: 20_000 }),
            Step::Refuse(Refusal::TooDeep { walked: 20_000 }),
        ),
        (
            "verification is never skipped for an operator",
            |f| {
                f.mode = Mode::Operator;
                f.verified = Some(Err(Refusal::NotApproved("needs 1 approval".into())));
            },
            Step::Refuse(Refusal::NotApproved("needs 1 approval".into())),
        ),
    ]);
}

#[test]
fn the_kill_switch_holds_the_service_and_not_an_operator() {
    check(&[
        (
            "a paused executor",
            |f| f.executor.as_mut().unwrap().paused = true,
            Step::Hold("executor firewall is paused in prgate.toml".into()),
        ),
        (
            "the hold label",
            |f| {
                if let Some(Ok(a)) = f.verified.as_mut() {
                    a.hold_label = true;
                }
            },
            Step::Hold(format!("the PR carries the {HOLD_LABEL} label")),
        ),
        (
            "an operator's prgate execute releases a hold",
            |f| {
                f.mode = Mode::Operator;
                f.executor.as_mut().unwrap().paused = true;
            },
            run(),
        ),
        (
            "a hold comes after verification: an unapproved merge is refused, not held",
            |f| {
                f.executor.as_mut().unwrap().paused = true;
                f.verified = Some(Err(Refusal::NoPull));
            },
            Step::Refuse(Refusal::NoPull),
        ),
    ]);
}

/// A merge whose executor has a plan, approved at minute 30.
fn planned(f: &mut Facts) {
    f.executor.as_mut().unwrap().has_plan = true;
}

/// One table row: what it shows, how it changes the facts, the step expected.
type ClosureRow = (&'static str, Box<dyn Fn(&mut Facts)>, Step);

#[test]
fn the_plan_that_counts_is_prgates_latest_for_the_head_approved_after_it() {
    let d1 = plan('1');
    let d2 = plan('2');
    let rows: Vec<ClosureRow> = vec![
        (
            "the plans shown are read",
            Box::new(planned),
            Step::Gather(Need::ShownPlans),
        ),
        (
            "no plan shown for the head",
            Box::new(|f| {
                planned(f);
                f.shown_plans = Some(vec![]);
            }),
            Step::Refuse(Refusal::NoPlanShown {
                pull: 7,
                head: "abc1234".into(),
            }),
        ),
        (
            "after a restart D2 was shown after the approval of D1: D2 never runs",
            Box::new({
                let (d1, d2) = (d1.clone(), d2.clone());
                move |f| {
                    planned(f);
                    f.shown_plans = Some(vec![(d1.clone(), at(20)), (d2.clone(), at(40))]);
                }
            }),
            Step::Refuse(Refusal::NoApprovalAfterPlan {
                latest: d2.clone(),
                head: "abc1234".into(),
                earlier: vec![d1.short().to_string()],
            }),
        ),
        (
            "a replica that remembered D1 merged with Prgate-Plan D1 while D2 is the latest",
            Box::new({
                let (d1, d2) = (d1.clone(), d2.clone());
                move |f| {
                    planned(f);
                    f.shown_plans = Some(vec![(d1.clone(), at(20)), (d2.clone(), at(25))]);
                    f.trailer_plan = Some(d1.digest.clone());
                }
            }),
            Step::Refuse(Refusal::PlanNotLatest {
                trailer: d1.digest.clone(),
                latest: d2.clone(),
                head: "abc1234".into(),
                earlier: vec![d1.short().to_string()],
            }),
        ),
        (
            "the latest plan approved after it is run again on the merge",
            Box::new({
                let d1 = d1.clone();
                move |f| {
                    planned(f);
                    f.shown_plans = Some(vec![(d1.clone(), at(20))]);
                }
            }),
            Step::Gather(Need::PlanRerun),
        ),
        (
            "the same effect runs, with the approved plan in the record",
            Box::new({
                let d1 = d1.clone();
                move |f| {
                    planned(f);
                    f.shown_plans = Some(vec![(d1.clone(), at(20))]);
                    f.plan_now = Some(Ok(d1.clone()));
                }
            }),
            Step::ClaimAndRun {
                executor: "firewall".into(),
                approved_plan: Some(d1.clone()),
                plan_now: Some(d1.clone()),
                replaces_foreign_note: false,
            },
        ),
        (
            "a drifted plan is never applied",
            Box::new({
                let (d1, d2) = (d1.clone(), d2.clone());
                move |f| {
                    planned(f);
                    f.shown_plans = Some(vec![(d1.clone(), at(20))]);
                    f.plan_now = Some(Ok(d2.clone()));
                }
            }),
            Step::Refuse(Refusal::PlanDrifted {
                approved: d1.clone(),
                now: d2.clone(),
            }),
        ),
        (
            "a plan that fails on the merge",
            Box::new({
                let d1 = d1.clone();
                move |f| {
                    planned(f);
                    f.shown_plans = Some(vec![(d1.clone(), at(20))]);
                    f.plan_now = Some(Err("exit code 2".into()));
                }
            }),
            Step::Refuse(Refusal::PlanFailed {
                approved: d1.clone(),
                failure: "exit code 2".into(),
            }),
        ),
    ];
    for (name, change, want) in rows {
        let mut f = clear();
        change(&mut f);
        assert_eq!(decide(&f), want, "{name}");
    }
}

#[test]
fn a_ref_in_the_way_blocks_before_the_claim() {
    check(&[
        (
            "the notes refs are looked at last",
            |f| f.notes_blocker = None,
            Step::Gather(Need::NotesRefs),
        ),
        (
            "a ref that keeps refs/notes/prgate from being pushed",
            |f| f.notes_blocker = Some(Some("refs/notes/prgate/x".into())),
            Step::Refuse(Refusal::NotesBlocked("refs/notes/prgate/x".into())),
        ),
    ]);
}

#[test]
fn every_refusal_is_reported_the_way_its_kind_needs_and_says_what_to_do() {
    let d = plan('1');
    let rows = [
        (
            Refusal::PolicyInvalid("x".into()),
            Handling::CannotAct,
            "invalid",
        ),
        (
            Refusal::NoPull,
            Handling::Refuse,
            "a direct push is never executed",
        ),
        (
            Refusal::NotMergedAs { pull: 7 },
            Handling::Refuse,
            "PR #7 was not merged",
        ),
        (
            Refusal::ContentDiffers("merged content differs".into()),
            Handling::Refuse,
            "differs",
        ),
        (
            Refusal::Unapproved {
                since: "1a2b3c4".into(),
                paths: "firewall/".into(),
                how: "direct push by root".into(),
            },
            Handling::RefuseApproved,
            "the branch carries unapproved changes to firewall/ since 1a2b3c4 (direct push by root): revert them in an approved PR",
        ),
        (
            Refusal::TooDeep { walked: 5 },
            Handling::RefuseApproved,
            "more than 5 commits back",
        ),
        (
            Refusal::PlanDrifted {
                approved: d.clone(),
                now: plan('2'),
            },
            Handling::RefusePlan,
            "a human must approve the new plan",
        ),
        (
            Refusal::NoApprovalAfterPlan {
                latest: plan('2'),
                head: "abc1234".into(),
                earlier: vec![d.short().to_string()],
            },
            Handling::RefusePlan,
            "also shown before it",
        ),
        (
            Refusal::NotesBlocked("refs/notes/prgate/x".into()),
            Handling::Block,
            "delete it",
        ),
        (
            Refusal::ClaimBlocked("ref r blocks".into()),
            Handling::Block,
            "ref r blocks",
        ),
    ];
    for (refusal, handling, words) in rows {
        assert_eq!(refusal.handling(), handling, "{refusal}");
        assert!(refusal.to_string().contains(words), "{refusal}");
    }
    assert_eq!(
        Refusal::PlanFailed {
            approved: d.clone(),
            failure: "f".into()
        }
        .approved_plan(),
        Some(&d)
    );
}
