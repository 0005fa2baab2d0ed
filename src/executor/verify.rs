//! Post-merge verification, steps 1 to 4, from the code host and from git, never from
//! statuses: the PR merged as M, its approval by the policy at M's first parent, the content
//! equivalence, and that no unapproved content rides along.

use chrono::Utc;
use git2::{Oid, Repository};

use super::carried::{Carried, check_carried};
use super::engine::Executor;
use super::error::ExecError;
use super::local::{LocalFacts, read_local};
use super::refusal::Refusal;
use crate::git::notes::read_note;
use crate::github::facts::gather_facts_with_policy;
use crate::github::models::ApiPull;
use crate::policy::{self, ApprovalState};
use crate::record::equivalence::{Equivalence, check_content};
use crate::record::note::{ExecutionNote, NoteApproval, Pusher, RECORD_VERSION, RecordFacts};
use crate::record::run_status::RunStatus;
use crate::record::signing::{SignatureCheck, check_signature};
use crate::record::trailers::ApprovalTrailers;
use crate::types::{CommitSha, PullNumber, RepoName};

/// Earlier merges without a record here that prgate's own statuses show it ran.
#[derive(Debug, Default)]
pub(super) struct SpotChecks {
    pub(super) approved: std::collections::BTreeSet<Oid>,
}

/// Earlier merges looked up in the statuses for one merge before it waits instead (each costs
/// the code host a call).
pub(super) const MAX_SPOT_CHECKS: usize = 20;

/// What verification (steps 1 and 2) found.
// One value lives per consideration and moves once; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Verification {
    Approved(Verified),
    /// Not approved; the PR merged as M when one was found.
    Refused {
        pull: Option<ApiPull>,
        refusal: Refusal,
    },
}

/// Everything verification established about an approved merge.
#[derive(Clone)]
pub(super) struct Verified {
    pub(super) pull: ApiPull,
    pub(super) note: ExecutionNote,
    pub(super) changed: Vec<String>,
}

impl Executor {
    /// Step 4: is the governed content of M's first parent the approved one? Governed content
    /// is what the rules M matched cover (their paths, and their executors' programs).
    pub(super) fn carried(
        &self,
        mirror: &Repository,
        repo: &RepoName,
        m: Oid,
        policy: &crate::policy::RepoPolicy,
        rules: &[String],
        spot: &SpotChecks,
    ) -> Result<Carried, git2::Error> {
        let governs = |path: &str| {
            policy::matched_rules(policy, &[path.to_string()])
                .iter()
                .any(|r| r.name != policy::DEFAULTS_RULE && rules.contains(&r.name))
        };
        let own_key = self.signing_key.as_ref().map(|k| k.verifying_key());
        // A record names approvals only when the PR's approval and the merged content verified
        // (a merge refused only because of content it carried still approved its own change).
        let has_valid_record = |c: Oid| {
            c == m
                || spot.approved.contains(&c)
                || match read_note(mirror, c) {
                    Ok(Some(n)) => {
                        let approved = n.merge.as_str() == c.to_string()
                            && n.repo == *repo
                            && !n.approvals.is_empty();
                        // With a signing key, only the gate's own signed notes say what was approved:
                        // anyone who can push can write a note.
                        let signed = match &own_key {
                            Some(k) => matches!(
                                check_signature(&n, std::slice::from_ref(k)),
                                SignatureCheck::Valid { .. }
                            ),
                            None => true,
                        };
                        approved && signed
                    }
                    _ => false,
                }
        };
        let awaiting_record = |c: Oid| {
            let trailers = mirror
                .find_commit(c)
                .ok()
                .and_then(|cm| cm.message().and_then(ApprovalTrailers::parse))
                .is_some();
            trailers && matches!(read_note(mirror, c), Ok(None))
        };
        // The walk starts at M itself: what M changed is what its (verified) approval covers.
        check_carried(mirror, m, &governs, &has_valid_record, &awaiting_record)
    }

    /// Whether an earlier merge `commit` without a record counts as approved content for a
    /// later merge's step 4: prgate's own statuses show a run of it that ended (prgate ran it
    /// only after verifying it), or show it stuck ("execution blocked": a ref or a
    /// configuration problem that waits for an operator) and it verifies now as approved, so
    /// that one stuck merge never holds back the ones after it. One still running, or not yet
    /// considered, is waited for: merges of one rule run in order.
    pub(super) async fn approved_earlier(
        &self,
        repo: &RepoName,
        commit: Oid,
    ) -> Result<bool, ExecError> {
        let sha: CommitSha = commit
            .to_string()
            .parse()
            .map_err(|_| ExecError::Other(format!("{commit} is not a commit id")))?;
        let history = self.own_statuses(repo, &sha).await?;
        if history.iter().any(|s| matches!(s, RunStatus::Ended(_))) {
            return Ok(true);
        }
        if history.first() != Some(&RunStatus::Blocked) {
            return Ok(false);
        }
        let gerr = Self::git_err(repo);
        let local = {
            let mirror = self.local_mirror(repo).await?;
            read_local(&mirror, commit, repo).map_err(&gerr)?
        };
        let Some(local) = local else {
            return Ok(false);
        };
        let Ok(policy) = self.governing_policy(&local) else {
            return Ok(false);
        };
        let verified = match self.verify(repo, &sha, policy, &local).await? {
            Verification::Approved(v) => v,
            Verification::Refused {
                refusal: reason, ..
            } => {
                tracing::info!(%repo, merge = %sha, %reason, "a stuck earlier merge does not verify; later merges wait for it");
                return Ok(false);
            }
        };
        let mirror = self.local_mirror(repo).await?;
        let h = Oid::from_str(verified.note.head.as_str()).map_err(&gerr)?;
        Ok(matches!(
            check_content(&mirror, commit, h),
            Ok(Equivalence::Equivalent { .. })
        ))
    }

    /// "direct push by root", "force push by root", "merged by alice": who brought `commit`
    /// onto `branch`, from the code host's activity log.
    pub(super) async fn how_it_arrived(
        &self,
        repo: &RepoName,
        branch: &str,
        commit: Oid,
    ) -> String {
        let sha = commit.to_string();
        match self.gh.branch_activity(repo, branch).await {
            Ok(list) => match list.iter().find(|a| a.after == sha) {
                Some(a) => {
                    let who = a
                        .actor
                        .as_ref()
                        .map_or("an unknown account".to_string(), |u| u.login.clone());
                    match a.activity_type.as_str() {
                        "push" => format!("direct push by {who}"),
                        "force_push" => format!("force push by {who}"),
                        "pr_merge" | "merge_queue_merge" => format!("merged by {who}"),
                        other => format!("{other} by {who}"),
                    }
                }
                None => "not merged through prgate".to_string(),
            },
            Err(_) => "not merged through prgate".to_string(),
        }
    }

    /// Finds the PR merged as `merge` and re-evaluates its approval from live facts, judged
    /// by the policy at the merge's first parent.
    pub(super) async fn verify(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        policy: crate::policy::RepoPolicy,
        local: &LocalFacts,
    ) -> Result<Verification, ExecError> {
        // 1. Find the PR: the trailer names it, the code host must confirm it merged as M.
        let pull = match local.trailer_pull {
            Some(n) => match self.gh.pull(repo, n).await {
                Ok(p) => Some(p),
                Err(e) if e.status() == Some(404) => None,
                Err(e) => return Err(e.into()),
            },
            None => self
                .gh
                .pulls_for_commit(repo, merge)
                .await?
                .into_iter()
                .find(|p| p.merged && p.merge_commit_sha.as_deref() == Some(merge.as_str())),
        };
        let Some(pull) = pull else {
            return Ok(Verification::Refused {
                pull: None,
                refusal: Refusal::NoPull,
            });
        };
        if !pull.merged || pull.merge_commit_sha.as_deref() != Some(merge.as_str()) {
            return Ok(Verification::Refused {
                refusal: Refusal::NotMergedAs { pull: pull.number },
                pull: Some(pull),
            });
        }
        // 2. Approval, by the policy at M^1, against the PR's final head, from live facts.
        let gathered = match gather_facts_with_policy(
            &self.gh,
            repo,
            &pull,
            &local.parent,
            policy.clone(),
            local.policy_blob.clone(),
        )
        .await
        {
            Ok(g) => g,
            Err(crate::github::facts::GatherError::GitHub(e)) => return Err(e.into()),
            Err(e) => {
                return Ok(Verification::Refused {
                    pull: Some(pull),
                    refusal: Refusal::CannotEstablish(e.to_string()),
                });
            }
        };
        let decision = policy::evaluate_final_head(&policy, &gathered.facts);
        if decision.state != ApprovalState::Success {
            return Ok(Verification::Refused {
                pull: Some(pull),
                refusal: Refusal::NotApproved(decision.description),
            });
        }
        let note = ExecutionNote {
            version: RECORD_VERSION,
            repo: repo.clone(),
            pull: PullNumber(pull.number),
            base: local.parent.clone(),
            head: gathered.facts.head_sha.clone(),
            merge: merge.clone(),
            policy_blob: local.policy_blob.clone(),
            rules: decision.rules.iter().map(|r| r.name.clone()).collect(),
            approvals: decision.approvals.iter().map(NoteApproval::from).collect(),
            decided_at: Utc::now(),
            plan: None,
            execution: None,
            signature: None,
            v2: Some(Box::new(RecordFacts {
                base_branch: pull.base.git_ref.clone(),
                head_pushers: gathered
                    .facts
                    .head_pushers
                    .iter()
                    .flatten()
                    .map(|a| Pusher {
                        login: a.login.clone(),
                        user_id: a.id,
                    })
                    .collect(),
                ..RecordFacts::default()
            })),
        };
        Ok(Verification::Approved(Verified {
            pull,
            note,
            changed: local.changed.clone(),
        }))
    }
}

/// "firewall/rules.toml", "firewall/a, firewall/b and 3 more".
pub(super) fn summarize_paths(paths: &[String]) -> String {
    match paths {
        [] => "governed paths".to_string(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more", rest.len()),
    }
}
