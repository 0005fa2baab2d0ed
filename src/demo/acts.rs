//! The story, act by act. Each act does what a role would (the agent proposes, a reviewer
//! approves, an admin pushes), waits until the code host shows prgate's answer, tells it, and
//! keeps what it saw in the report; an act whose outcome differs from the story fails.

use std::path::PathBuf;

use crate::config::Secret;
use crate::metrics::Metrics;
use crate::types::{CommitSha, PullNumber};
use crate::{APPROVAL_CONTEXT, EXECUTION_CONTEXT};

use super::observe::{plan_blocks, plan_comment_of, plan_lines, wait_for, wait_status};
use super::stage::{AGENT_TOKEN, GATE_TOKEN, Stage};
use super::{DemoError, DemoReport, Narrator, step_err};

/// A PR the agent opened.
pub(super) struct Proposed {
    pub pull: PullNumber,
    pub head: CommitSha,
}

/// The agent writes `rules` into its clone and proposes them as a PR.
async fn propose(
    s: &Stage,
    rules: &str,
    title: &str,
    reason: &str,
    more: crate::propose::ProposeRequest,
) -> Result<(Proposed, crate::propose::Proposal), DemoError> {
    let work = s.dir.join("agent-work");
    if !work.exists() {
        crate::git::clone(&s.clone_url, &work, Some(&Secret::new(AGENT_TOKEN)))
            .map_err(super::setup_err)?;
    }
    std::fs::write(work.join("firewall/rules.toml"), rules).map_err(super::setup_err)?;
    let proposal = crate::propose::propose(
        &s.client(AGENT_TOKEN)?,
        &Secret::new(AGENT_TOKEN),
        &crate::render::Renderer::default(),
        &crate::propose::ProposeRequest {
            repo_path: work,
            title: title.into(),
            reason: Some(reason.into()),
            paths: vec![PathBuf::from("firewall/rules.toml")],
            ..more
        },
    )
    .await
    .map_err(step_err)?;
    let proposed = Proposed {
        pull: PullNumber(proposal.pull),
        head: proposal.head.parse().map_err(step_err)?,
    };
    s.sim.settle().await;
    Ok((proposed, proposal))
}

/// 1–2. The agent proposes; prgate says who must approve, runs the plan and shows it.
pub(super) async fn agent_proposes(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
) -> Result<Proposed, DemoError> {
    let (p, proposal) = propose(
        s,
        "allow = [22, 443]\n",
        "Open TCP 443 on the edge firewall",
        "the new API needs HTTPS (ticket NET-1)",
        crate::propose::ProposeRequest {
            risk: Some("exposes the API host to the internet".into()),
            rollback: Some("revert the PR; the executor re-applies the old rules".into()),
            ..Default::default()
        },
    )
    .await?;
    n.say(format!(
        "1. The agent ops-agent[bot] proposes a firewall change: PR #{} from {} (head {}).",
        p.pull,
        proposal.branch,
        p.head.short()
    ));
    for r in &proposal.required {
        n.say(format!(
            "   prgate tells it up front: rule `{}` needs {} approval from {}, then runs `{}`.",
            r.rule,
            r.min_approvals,
            r.approvers,
            r.executor.clone().unwrap_or_else(|| "nothing".into())
        ));
    }
    let pending = wait_status(&s.root, &s.repo, &p.head, APPROVAL_CONTEXT, |st, _| {
        st == "pending"
    })
    .await?;
    n.say(format!(
        "2. prgate/approval on {} is `pending`: \"{}\"",
        p.head.short(),
        pending.1
    ));
    let planned = wait_status(&s.root, &s.repo, &p.head, APPROVAL_CONTEXT, |st, d| {
        st == "pending" && d.starts_with("plan ")
    })
    .await?;
    let plan_comment = plan_comment_of(&s.root, &s.repo, p.pull).await?;
    n.say("   Before anyone approves, prgate runs the firewall's plan (the base's scripts/plan-firewall.sh, on the would-be merge) and shows it on the PR:");
    for line in plan_lines(&plan_comment) {
        n.say(format!("     {line}"));
    }
    n.say(format!("   and the status says: \"{}\"", planned.1));
    report.pull = p.pull.0;
    report.head = p.head.to_string();
    report.pending_description = pending.1;
    report.plan_description = planned.1;
    report.plan_comment = plan_comment;
    Ok(p)
}

/// 3. A writer who is no designated approver approves: it does not count.
pub(super) async fn writer_approves(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
    p: &Proposed,
) -> Result<(), DemoError> {
    s.client("demo-bob-token")?
        .submit_review(&s.repo, p.pull, "APPROVE", "LGTM")
        .await
        .map_err(step_err)?;
    s.sim.settle().await;
    let after_bob = wait_status(&s.root, &s.repo, &p.head, APPROVAL_CONTEXT, |st, d| {
        st == "pending" && d.contains("bob")
    })
    .await?;
    n.say(format!(
        "3. bob approves — he may write to the repo, but he is no designated approver, so it does not count: \"{}\"",
        after_bob.1
    ));
    report.non_designated_description = after_bob.1;
    Ok(())
}

/// alice approves `p`; returns the merge prgate made.
async fn alice_approves(s: &Stage, p: &Proposed, body: &str) -> Result<CommitSha, DemoError> {
    s.client("demo-alice-token")?
        .submit_review(&s.repo, p.pull, "APPROVE", body)
        .await
        .map_err(step_err)?;
    s.sim.settle().await;
    let merged = wait_for(|| async {
        let pull = s.root.pull(&s.repo, p.pull).await.ok()?;
        pull.merge_commit_sha.filter(|_| pull.merged)
    })
    .await
    .ok_or_else(|| step_err(format!("prgate did not merge the approved PR #{}", p.pull)))?;
    merged.parse().map_err(step_err)
}

/// 4. The designated human approves; prgate merges with the head pinned.
pub(super) async fn designated_approves(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
    p: &Proposed,
) -> Result<CommitSha, DemoError> {
    let merge = alice_approves(s, p, "443 for the API host is fine").await?;
    let local = s.fetch_mirror()?;
    let c = local
        .find_commit(git2::Oid::from_str(merge.as_str()).map_err(step_err)?)
        .map_err(step_err)?;
    let second_parent = c.parent_id(1).map(|p| p.to_string()).unwrap_or_default();
    let trailers = c
        .message()
        .unwrap_or("")
        .trim_end()
        .rsplit("\n\n")
        .next()
        .unwrap_or("")
        .to_string();
    n.say(format!(
        "4. alice (acme/netops) approves head {}: `success`, and prgate merges it as {} with that head pinned.",
        p.head.short(),
        merge.short()
    ));
    n.say(format!(
        "   The merge's second parent is the approved head ({}); its message records the approval:",
        &second_parent[..7.min(second_parent.len())]
    ));
    for line in trailers.lines() {
        n.say(format!("     {line}"));
    }
    report.merge = merge.to_string();
    report.merge_second_parent = second_parent;
    report.trailers = trailers;
    Ok(merge)
}

/// 5–6. The executor verifies on its own, runs once, and records a signed note.
pub(super) async fn executor_applies(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
    merge: &CommitSha,
) -> Result<(), DemoError> {
    let execution = wait_status(&s.root, &s.repo, merge, EXECUTION_CONTEXT, |st, _| {
        st != "pending"
    })
    .await?;
    let rules_now = s.production_rules()?;
    let local = s.fetch_mirror()?;
    let note = crate::git::notes::read_note(
        &local,
        git2::Oid::from_str(merge.as_str()).map_err(step_err)?,
    )
    .map_err(step_err)?
    .and_then(|n| n.execution);
    n.say(format!(
        "5. On the push to main the executor re-verifies from GitHub and from git (not the status), claims {} once, runs `firewall`: {} — \"{}\"",
        merge.short(),
        execution.0,
        execution.1
    ));
    if let Some(note) = &note {
        n.say(format!(
            "   Record under refs/notes/prgate (a DSSE envelope around an in-toto statement): outcome {}, exit code {}, output sha256 {}…",
            note.outcome,
            note.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
            note.output_sha256
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(12)
                .collect::<String>()
        ));
    }
    n.say(format!(
        "6. Production now holds the approved rules: {}",
        rules_now.trim()
    ));
    n.say(format!(
        "   The record is signed by the gate's key {}… (key id {}…); `prgate verify --public-key` checks it offline, and so does any DSSE verifier (the README's auditor section).",
        &s.public_key[..16.min(s.public_key.len())],
        &crate::record::envelope::key_id(&s.signing_key.verifying_key())[..16]
    ));
    report.execution_state = execution.0;
    report.production_rules = rules_now;
    Ok(())
}

/// The audit of main's history, as an auditor runs it on a fresh fetch.
pub(super) fn audit(s: &Stage, label: &str) -> Result<crate::audit::AuditReport, DemoError> {
    s.fetch_mirror()?;
    crate::audit::audit(&crate::audit::AuditOptions::new(s.mirror.clone()))
        .map_err(|e| step_err(format!("{label}: {e}")))
}

/// 7. The audit of the history is clean.
pub(super) fn audit_is_clean(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
) -> Result<(), DemoError> {
    let before = audit(s, "audit")?;
    n.say(format!(
        "7. `prgate audit` walks main's first-parent history: {}, {} touching governed paths, {}.",
        crate::render::plural(before.commits_walked, "commit"),
        before.governed_commits,
        if before.clean {
            "no violation".to_string()
        } else {
            crate::render::plural(before.violations.len() as u64, "violation")
        }
    ));
    report.audit_clean_before = before.clean;
    Ok(())
}

/// 8–9. Production changes by hand after the plan was shown and approved: the executor plans
/// again on the merge, refuses, and shows both plans.
pub(super) async fn plan_drifts(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
) -> Result<CommitSha, DemoError> {
    let (p, _) = propose(
        s,
        "allow = [443, 8443]\n",
        "Move SSH off the edge firewall; open 8443 for the admin API",
        "SSH goes through the bastion now (ticket NET-2)",
        Default::default(),
    )
    .await?;
    let planned = wait_status(&s.root, &s.repo, &p.head, APPROVAL_CONTEXT, |st, d| {
        st == "pending" && d.starts_with("plan ")
    })
    .await?;
    let plan = plan_comment_of(&s.root, &s.repo, p.pull).await?;
    n.say(format!(
        "8. The agent proposes PR #{}: close SSH, open 8443. Its plan, shown on the PR ({}):",
        p.pull,
        planned.1.split(';').next().unwrap_or_default()
    ));
    for line in plan_lines(&plan) {
        n.say(format!("     {line}"));
    }
    std::fs::write(
        s.production.join("firewall.toml"),
        "allow = [22, 443, 3389]\n",
    )
    .map_err(step_err)?;
    n.say("   Meanwhile someone opens RDP (3389) on production by hand. alice approves the plan she was shown.");
    let merge = alice_approves(s, &p, "closing 22 and opening 8443 is fine").await?;
    let drift = wait_status(&s.root, &s.repo, &merge, EXECUTION_CONTEXT, |st, _| {
        st != "pending"
    })
    .await?;
    let comment = wait_for(|| async {
        s.root
            .comments(&s.repo, p.pull)
            .await
            .ok()?
            .into_iter()
            .map(|c| c.body)
            .find(|b| b.contains("Execution refused"))
    })
    .await
    .ok_or_else(|| step_err("no refusal comment on the drifted PR"))?;
    let production_after = s.production_rules()?;
    n.say(format!(
        "9. prgate merges {} (Prgate-Plan binds the approved plan); before applying, the executor runs the plan again on the merge: {} — \"{}\"",
        merge.short(),
        drift.0,
        drift.1
    ));
    let blocks = plan_blocks(&comment);
    for (label, block) in ["the approved plan:", "the plan now:"].iter().zip(&blocks) {
        n.say(format!("   The PR's comment shows {label}"));
        for line in block {
            n.say(format!("     {line}"));
        }
    }
    n.say(format!(
        "   Nothing was applied; production still holds: {}",
        production_after.trim()
    ));
    report.drift_merge = merge.to_string();
    report.drift_execution = drift.0;
    report.drift_description = drift.1;
    report.drift_comment = comment;
    report.production_after_drift = production_after;
    Ok(merge)
}

/// 10. The operator reverts the hand change; `prgate execute` plans again and applies.
pub(super) async fn operator_reruns(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
    merge: &CommitSha,
) -> Result<(), DemoError> {
    std::fs::write(s.production.join("firewall.toml"), "allow = [22, 443]\n").map_err(step_err)?;
    let operator = crate::executor::Executor::new(
        std::sync::Arc::new(s.operator_config.clone()),
        std::sync::Arc::new(s.client(GATE_TOKEN)?),
        Some(Secret::new(GATE_TOKEN)),
        Metrics::new(),
        crate::dashboard::Dashboard::new(),
    )
    .with_signing_key(s.signing_key.clone());
    let rerun = std::sync::Arc::new(operator)
        .consider(&s.repo, merge, crate::executor::Mode::Operator)
        .await
        .map_err(step_err)?;
    let production = s.production_rules()?;
    n.say(format!(
        "10. The operator reverts the hand change and runs `prgate execute` for {}: it plans again, gets the approved plan, and applies: {}. Production: {}",
        merge.short(),
        rerun.describe(),
        production.trim()
    ));
    report.drift_rerun = rerun.describe();
    report.production_after_rerun = production;
    Ok(())
}

/// 11–12. An admin pushes to firewall/ directly: the executor refuses, the audit flags it.
pub(super) async fn admin_pushes(
    s: &Stage,
    n: &mut Narrator<'_>,
    report: &mut DemoReport,
) -> Result<(), DemoError> {
    let direct = super::repo::direct_push(&s.dir.join("admin-work"), &s.clone_url, &s.root_token)?;
    s.sim.settle().await;
    let refused = wait_status(&s.root, &s.repo, &direct, EXECUTION_CONTEXT, |st, _| {
        st != "pending"
    })
    .await?;
    let production = s.production_rules()?;
    n.say(format!(
        "11. An admin pushes straight to main, opening every port in firewall/ ({}). The executor refuses it: {} — \"{}\"",
        direct.short(),
        refused.0,
        refused.1
    ));
    n.say(format!("   Production is untouched: {}", production.trim()));
    let after = audit(s, "audit after the direct push")?;
    for v in &after.violations {
        n.say(format!(
            "12. The audit flags it: {} by {}: {} — {}",
            &v.commit[..7.min(v.commit.len())],
            v.author,
            v.kind,
            v.detail
        ));
    }
    report.direct_push = direct.to_string();
    report.direct_push_execution = refused.0;
    report.production_after_direct_push = production;
    report.audit_violations_after = after.violations.iter().map(|v| v.commit.clone()).collect();
    Ok(())
}

/// 13. In GitHub Enterprise Server's shape, no call left its bases.
pub(super) fn stayed_on_bases(
    s: &Stage,
    n: &mut Narrator<'_>,
    ghes: bool,
) -> Result<(), DemoError> {
    let off_base = s.sim.off_base_requests();
    if !off_base.is_empty() {
        return Err(step_err(format!(
            "{} request(s) left GitHub Enterprise Server's bases (REST under /api/v3, GraphQL at /api/graphql, git at the root): {}",
            off_base.len(),
            off_base.join(", ")
        )));
    }
    if ghes {
        n.say("13. Every call stayed on GitHub Enterprise Server's bases: REST under /api/v3, GraphQL at /api/graphql, git at the host's root.");
    }
    Ok(())
}
