//! Evaluation of a policy against the facts of a PR: the approval semantics of DESIGN.md.
//! Every path that is not a clean, current, eligible approval ends in something other than
//! `success`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::policy::{Approvers, POLICY_PATH, RepoPolicy, TeamRef};
use crate::types::{CommitSha, Login, UserId};

use super::compiled::{CompiledPolicy, DEFAULTS_RULE, Requirement};
use super::decision::{
    Approval, ApprovalDecision, ApprovalState, Denial, ReviewVerdict, RuleOutcome,
};
use super::facts::{
    Account, AccountKind, ProposedPolicy, PullFacts, PullState, RegisteredAfter, Review,
    ReviewState,
};
use super::pattern::GlobError;

pub use super::validate::parse_policy;

/// GitHub refuses status descriptions of 140 characters or more; we stay below.
pub const MAX_DESCRIPTION_CHARS: usize = 139;

/// A rule (or the defaults) that changed files of a PR fall under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRule {
    pub name: String,
    pub files: Vec<String>,
}

thread_local! {
    /// The last policy compiled on this thread. The gate evaluates many deliveries against
    /// the same few policies, and building glob sets costs far more than comparing policies.
    static LAST_COMPILED: RefCell<Option<Rc<Result<CompiledPolicy, GlobError>>>> = const { RefCell::new(None) };
}

fn compiled(policy: &RepoPolicy) -> Rc<Result<CompiledPolicy, GlobError>> {
    LAST_COMPILED.with(|cell| {
        let mut last = cell.borrow_mut();
        if let Some(c) = last.as_ref()
            && let Ok(cp) = c.as_ref()
            && cp.policy() == policy
        {
            return Rc::clone(c);
        }
        let fresh = Rc::new(CompiledPolicy::compile(policy));
        // Only successes are cached: a broken policy is rare and its error is cheap to rebuild.
        if fresh.is_ok() {
            *last = Some(Rc::clone(&fresh));
        }
        fresh
    })
}

/// Which rules the changed files fall under, defaults last. If the policy's globs cannot be
/// compiled, every rule and the defaults are returned with all files, so that the gate looks
/// up every team it might need (the decision itself will be `error`).
pub fn matched_rules(policy: &RepoPolicy, changed_files: &[String]) -> Vec<MatchedRule> {
    match compiled(policy).as_ref() {
        Ok(c) => c.matched_rules(changed_files),
        Err(_) => policy
            .rules
            .iter()
            .map(|r| r.name.clone())
            .chain(policy.defaults.as_ref().map(|_| DEFAULTS_RULE.to_string()))
            .map(|name| MatchedRule {
                name,
                files: changed_files.to_vec(),
            })
            .collect(),
    }
}

/// The teams whose members must be in [`PullFacts::team_members`] to decide about these files.
/// Falls back to every team of the policy if the globs cannot be compiled.
pub fn teams_needed(policy: &RepoPolicy, changed_files: &[String]) -> BTreeSet<TeamRef> {
    match compiled(policy).as_ref() {
        Ok(c) => c.teams_needed(changed_files),
        Err(_) => policy
            .rules
            .iter()
            .map(|r| &r.approvers)
            .chain(policy.defaults.as_ref().map(|d| &d.approvers))
            .flat_map(|a| a.teams.iter().cloned())
            .collect(),
    }
}

/// The executors named by the rules these files fall under, each once, in policy order.
pub fn executors_for(policy: &RepoPolicy, changed_files: &[String]) -> Vec<String> {
    match compiled(policy).as_ref() {
        Ok(c) => c.executors_for(changed_files),
        Err(_) => vec![],
    }
}

/// Decides whether the PR's current head is approved under `policy`. A PR that is not open
/// is never `success` (see [`evaluate_final_head`] for merged PRs).
pub fn evaluate_approval(policy: &RepoPolicy, facts: &PullFacts) -> ApprovalDecision {
    match compiled(policy).as_ref() {
        Ok(c) => c.evaluate(facts),
        Err(e) => invalid_policy_decision(facts, &e.to_string()),
    }
}

/// Like [`evaluate_approval`], but a merged PR is judged as it stood when it was merged: for
/// post-merge verification, where the question is whether the final head was approved.
pub fn evaluate_final_head(policy: &RepoPolicy, facts: &PullFacts) -> ApprovalDecision {
    match compiled(policy).as_ref() {
        Ok(c) => c.evaluate_final_head(facts),
        Err(e) => invalid_policy_decision(facts, &e.to_string()),
    }
}

fn invalid_policy_decision(facts: &PullFacts, why: &str) -> ApprovalDecision {
    let mut d = error_decision(
        facts.head_sha.clone(),
        &format!("the policy {POLICY_PATH} at the base commit is invalid: {why}"),
    );
    d.notes.push(format!(
        "the policy at base {} is invalid: {why}",
        facts.base_sha.short()
    ));
    d
}

/// A decision of `error` for when the facts could not be gathered.
pub(crate) fn error_decision(head_sha: CommitSha, description: &str) -> ApprovalDecision {
    ApprovalDecision {
        state: ApprovalState::Error,
        description: clip_description(description),
        head_sha,
        rules: vec![],
        approvals: vec![],
        denials: vec![],
        notes: vec![],
        reviews: vec![],
    }
}

/// Makes `text` a valid status description: one line, under 140 characters, cut on a
/// character boundary with "…" when it had to be shortened.
pub(crate) fn clip_description(text: &str) -> String {
    // Review bodies and error messages may hold newlines, tabs or control characters; a
    // status description is one line.
    let one_line: String = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if one_line.chars().count() <= MAX_DESCRIPTION_CHARS {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX_DESCRIPTION_CHARS - 1).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// "alice", "alice or acme/netops", "alice, bob or acme/netops".
pub(crate) fn describe_approvers(approvers: &Approvers) -> String {
    let names: Vec<String> = approvers
        .users
        .iter()
        .map(|u| u.name().to_string())
        .chain(approvers.teams.iter().map(|t| t.to_string()))
        .collect();
    match names.as_slice() {
        [] => "nobody".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Why an account's review cannot count for any rule, before looking at which rule.
fn ineligibility(policy: &RepoPolicy, facts: &PullFacts, who: &Account) -> Option<String> {
    let login = &who.login;
    match who.kind {
        AccountKind::User => {}
        AccountKind::Bot => return Some(format!("{login} is a bot account")),
        AccountKind::Organization => return Some(format!("{login} is an organization account")),
        AccountKind::Other => return Some(format!("{login} is not a user account")),
    }
    if policy.identities.agents.contains(login) {
        return Some(format!("{login} is an agent (identities.agents)"));
    }
    if who.id == facts.author.id {
        return Some(format!("{login} opened the pull request"));
    }
    // Pushes are authenticated; commit emails are not. Whoever pushed to the head branch
    // helped write the change, whatever names its commits carry.
    if facts
        .head_pushers
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| p.id == who.id))
    {
        return Some(format!("{login} pushed to the head branch"));
    }
    for c in &facts.commits {
        // An email still disqualifies its account (fail closed), but the description names
        // who really pushed the commit, so that a forged identity is visible as such.
        let pushed = match &c.pushed_by {
            Some(p) if p.id != who.id => format!(", pushed by {}", p.login),
            Some(_) => String::new(),
            None => ", pushed by an unknown account".to_string(),
        };
        if c.author.as_ref().is_some_and(|a| a.id == who.id) {
            return Some(format!("{login} authored commit {}{pushed}", c.sha.short()));
        }
        if c.committer.as_ref().is_some_and(|a| a.id == who.id) {
            return Some(format!("{login} committed {}{pushed}", c.sha.short()));
        }
    }
    None
}

/// Whether a review submitted at `t` came before a merge at `merged`. GitHub's times have
/// whole seconds, so a review of the merge's own second is not "after" it: it counts.
fn before_merge(t: chrono::DateTime<chrono::Utc>, merged: chrono::DateTime<chrono::Utc>) -> bool {
    t <= merged
}

/// Why a review cannot count by when it was submitted: after the merge (GitHub accepts
/// reviews on merged PRs), or before the PR's base branch last changed.
fn untimely(facts: &PullFacts, review: &Review) -> Option<String> {
    if let Some(merged) = facts.merged_at {
        match review.submitted_at {
            Some(t) if before_merge(t, merged) => {}
            Some(_) => return Some("it was submitted after the merge".to_string()),
            None => return Some("its submission time is unknown".to_string()),
        }
    }
    if let Some(changed) = facts.base_changed_at {
        match review.submitted_at {
            Some(t) if t > changed => {}
            Some(_) => {
                return Some(format!(
                    "it was given before the base branch changed to {}",
                    facts.base_ref
                ));
            }
            None => return Some("its submission time is unknown".to_string()),
        }
    }
    None
}

fn team_has(facts: &PullFacts, team: &TeamRef, id: UserId) -> bool {
    let members = facts.team_members.get(team).or_else(|| {
        // The gate may spell a team with other case than the policy does; GitHub does not
        // distinguish them.
        facts
            .team_members
            .iter()
            .find(|(t, _)| {
                t.org.eq_ignore_ascii_case(&team.org) && t.slug.eq_ignore_ascii_case(&team.slug)
            })
            .map(|(_, m)| m)
    });
    members.is_some_and(|m| m.contains(&id))
}

fn designated(approvers: &Approvers, facts: &PullFacts, who: &Account) -> bool {
    approvers.users.iter().any(|u| {
        u.names_account(&who.login, who.id)
            // An unpinned login whose account is younger than the policy's naming of it was
            // released and registered again: that account is not the one the policy meant.
            && (u.pinned_id().is_some() || registered_after(facts, who).is_none())
    }) || approvers.teams.iter().any(|t| team_has(facts, t, who.id))
}

/// `who`, when their account was created after the policy named their login.
fn registered_after<'a>(facts: &'a PullFacts, who: &Account) -> Option<&'a RegisteredAfter> {
    facts
        .registered_after
        .as_ref()?
        .iter()
        .find(|r| r.id == who.id)
}

/// Each reviewer's latest review that carries a stance, by account id. Order in the list is
/// not trusted: the latest is the greatest (submitted_at, id).
fn latest_stances(reviews: &[Review]) -> BTreeMap<UserId, &Review> {
    let mut latest: BTreeMap<UserId, &Review> = BTreeMap::new();
    for r in reviews {
        if !matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        ) {
            continue;
        }
        let newer = latest
            .get(&r.reviewer.id)
            .is_none_or(|cur| (r.submitted_at, r.id) > (cur.submitted_at, cur.id));
        if newer {
            latest.insert(r.reviewer.id, r);
        }
    }
    latest
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

impl CompiledPolicy {
    /// Decides whether the PR's current head is approved. Pure: the same facts always give the
    /// same decision.
    pub fn evaluate(&self, facts: &PullFacts) -> ApprovalDecision {
        self.decide(facts, false)
    }

    /// As [`CompiledPolicy::evaluate`], but a merged PR is judged as if still open.
    pub fn evaluate_final_head(&self, facts: &PullFacts) -> ApprovalDecision {
        self.decide(facts, true)
    }

    fn decide(&self, facts: &PullFacts, merged_counts_as_open: bool) -> ApprovalDecision {
        if let Some(why) = self.invalid_reason() {
            return invalid_policy_decision(facts, why);
        }
        let policy = self.policy();
        let head = &facts.head_sha;
        let mut notes: Vec<String> = Vec::new();

        // A PR that touches the policy file is governed as one that changes it, even if the
        // file list the gate gathered somehow missed it.
        let mut files = facts.changed_files.clone();
        if facts.proposed_policy != ProposedPolicy::Unchanged
            && !files.iter().any(|f| f == POLICY_PATH)
        {
            files.push(POLICY_PATH.to_string());
        }
        let reqs: Vec<Requirement<'_>> = self.matched_requirements(&files);

        // Who wrote the change must be known, or self-approval cannot be ruled out.
        let mut errors: Vec<String> = Vec::new();
        for c in &facts.commits {
            if c.author.is_none() {
                errors.push(format!(
                    "commit {} has an author ({}) that maps to no account; prgate cannot tell who wrote it",
                    c.sha.short(),
                    c.author_email
                ));
            }
            if c.committer.is_none() {
                errors.push(format!(
                    "commit {} has a committer ({}) that maps to no account; prgate cannot tell who committed it",
                    c.sha.short(),
                    c.committer_email
                ));
            }
        }
        // The code host lists at most 250 commits of a PR; without the head among them the
        // list is incomplete and some author could be missing.
        if !facts.commits.iter().any(|c| &c.sha == head) {
            errors.push(format!(
                "the commit list does not include the head {}; prgate cannot tell who wrote every commit",
                head.short()
            ));
        }
        notes.extend(errors.iter().cloned());

        // Reviews after the merge never existed as far as the decision goes: they cannot
        // approve a merge that already happened, nor take back an approval it rested on.
        let reviews: Vec<Review> = facts
            .reviews
            .iter()
            .filter(|r| match (facts.merged_at, r.submitted_at) {
                (Some(merged), Some(t)) => before_merge(t, merged),
                (Some(_), None) => r.state != ReviewState::Approved,
                (None, _) => true,
            })
            .cloned()
            .collect();
        let late: Vec<&Review> = facts
            .reviews
            .iter()
            .filter(|r| r.state == ReviewState::Approved && !reviews.contains(r))
            .collect();
        let mut late_hints: Vec<String> = Vec::new();
        // Per review id: (counts, rules counted for, why not), for the decision page.
        let mut verdicts: BTreeMap<u64, (bool, Vec<String>, Option<String>)> = BTreeMap::new();
        for r in late {
            let why = untimely(facts, r).unwrap_or_else(|| "it came after the merge".into());
            verdicts.insert(r.id, (false, vec![], Some(why.clone())));
            notes.push(format!(
                "approval by {} (review {}) does not count: {why}",
                r.reviewer.login, r.id
            ));
            late_hints.push(format!(
                "{}'s approval does not count: {why}",
                r.reviewer.login
            ));
        }
        // Eligibility rests on who pushed to the head branch; judging a stance without
        // knowing that could count a co-author's approval.
        let stance_taken = reviews.iter().any(|r| {
            matches!(
                r.state,
                ReviewState::Approved | ReviewState::ChangesRequested
            )
        });
        if stance_taken && facts.head_pushers.is_none() {
            errors.push(
                "prgate could not read who pushed to the head branch; it cannot tell who may approve"
                    .to_string(),
            );
            notes.push(errors[errors.len() - 1].clone());
        }
        if stance_taken && facts.registered_after.is_none() {
            errors.push(
                "prgate could not read when the reviewers' accounts were created; it cannot tell a released login registered again from its owner"
                    .to_string(),
            );
            notes.push(errors[errors.len() - 1].clone());
        }

        // Per rule: approvals that count. Per reviewer: the reason a stance did not count.
        let mut counted: Vec<Vec<Approval>> = vec![Vec::new(); reqs.len()];
        let mut denials: Vec<Denial> = Vec::new();
        let mut stale_hints: Vec<String> = Vec::new();
        let mut other_hints: Vec<String> = late_hints;
        for review in latest_stances(&reviews).values() {
            let who = &review.reviewer;
            let login = &who.login;
            let general = ineligibility(policy, facts, who);
            let rules_for: Vec<usize> = (0..reqs.len())
                .filter(|&i| designated(reqs[i].approvers, facts, who))
                .collect();
            let not_designated = || {
                // A released login registered again: say so, not only "not designated".
                let pinned_other = reqs
                    .iter()
                    .flat_map(|r| r.approvers.users.iter())
                    .find(|u| u.pinned_id().is_some() && Login::new(u.name()) == *login);
                if let Some(pinned) = pinned_other {
                    return format!("{login} is account {}, not the pinned {pinned}", who.id.0);
                }
                if let Some(r) = registered_after(facts, who) {
                    let named = r.named_at.map_or_else(
                        || "named the login".to_string(),
                        |at| format!("named the login on {}", at.format("%Y-%m-%d")),
                    );
                    return format!(
                        "{login} is account {}, created {} after the policy {named}: a released login registered again",
                        who.id.0,
                        r.created_at.format("%Y-%m-%d"),
                    );
                }
                let names: Vec<&str> = reqs.iter().map(|r| r.name.as_str()).collect();
                if names.is_empty() {
                    format!("{login} is not a designated approver (no rule applies)")
                } else {
                    format!(
                        "{login} is not a designated approver of {}",
                        names.join(", ")
                    )
                }
            };
            match review.state {
                ReviewState::Approved => {
                    let reason = if let Some(why) = general {
                        Some(why)
                    } else if rules_for.is_empty() {
                        Some(not_designated())
                    } else {
                        None
                    };
                    if let Some(why) = reason {
                        notes.push(format!(
                            "approval by {login} (review {}) does not count: {why}",
                            review.id
                        ));
                        verdicts.insert(review.id, (false, vec![], Some(why.clone())));
                        other_hints.push(format!("{login}'s approval does not count: {why}"));
                        continue;
                    }
                    if let Some(why) = untimely(facts, review) {
                        notes.push(format!(
                            "approval by {login} (review {}) does not count: {why}",
                            review.id
                        ));
                        verdicts.insert(review.id, (false, vec![], Some(why.clone())));
                        other_hints.push(format!("{login}'s approval does not count: {why}"));
                        continue;
                    }
                    if review.commit_id.as_ref() != Some(head) {
                        let on = review
                            .commit_id
                            .as_ref()
                            .map_or("an unknown commit".to_string(), |c| c.short().to_string());
                        notes.push(format!(
                            "approval by {login} (review {}) does not count: it is for {on}, not the head {}",
                            review.id,
                            head.short()
                        ));
                        verdicts.insert(
                            review.id,
                            (
                                false,
                                vec![],
                                Some(format!("it is for {on}, not the head {}", head.short())),
                            ),
                        );
                        stale_hints.push(format!("{login}'s approval is for an older commit"));
                        continue;
                    }
                    let approval = Approval {
                        login: login.clone(),
                        user_id: who.id,
                        review_id: review.id,
                        submitted_at: review.submitted_at,
                    };
                    let names = rules_for.iter().map(|&i| reqs[i].name.clone()).collect();
                    verdicts.insert(review.id, (true, names, None));
                    for i in rules_for {
                        counted[i].push(approval.clone());
                    }
                }
                ReviewState::ChangesRequested => {
                    // A change request stands whatever commit it was made on: pushing more
                    // commits does not answer it, only the reviewer's approval does.
                    match general.or_else(|| rules_for.is_empty().then(not_designated)) {
                        None => {
                            verdicts.insert(review.id, (true, vec![], None));
                            denials.push(Denial {
                                login: login.clone(),
                                review_id: review.id,
                                reason: review.body.trim().to_string(),
                            })
                        }
                        Some(why) => {
                            notes.push(format!(
                                "change request by {login} (review {}) does not block: {why}",
                                review.id
                            ));
                            verdicts.insert(review.id, (false, vec![], Some(why)));
                        }
                    }
                }
                ReviewState::Dismissed => {
                    let Some(dismissals) = &facts.dismissals else {
                        errors.push(format!(
                            "prgate could not read who dismissed review {} by {login}; it cannot tell whether a designated approver's \"no\" still stands",
                            review.id
                        ));
                        notes.push(errors[errors.len() - 1].clone());
                        continue;
                    };
                    let dismissal = dismissals.iter().find(|d| d.review_id == review.id);
                    // Unknown before (no event found): taken as a "no", fail closed.
                    let was_no = dismissal.is_none_or(|d| {
                        !matches!(d.previous, ReviewState::Approved | ReviewState::Commented)
                    });
                    let by = dismissal.map(|d| &d.by);
                    let cleared = by.is_some_and(|by| {
                        ineligibility(policy, facts, by).is_none()
                            && rules_for
                                .iter()
                                .any(|&i| designated(reqs[i].approvers, facts, by))
                    });
                    let who = by.map_or("someone prgate cannot name".to_string(), |b| {
                        b.login.to_string()
                    });
                    if was_no && general.is_none() && !rules_for.is_empty() && !cleared {
                        let rules: Vec<&str> =
                            rules_for.iter().map(|&i| reqs[i].name.as_str()).collect();
                        let why = format!(
                            "dismissed by {who}, who is not an eligible approver of {}; it stands until {login} approves",
                            rules.join(", ")
                        );
                        notes.push(format!(
                            "change request by {login} (review {}) still blocks: {why}",
                            review.id
                        ));
                        verdicts.insert(review.id, (true, vec![], None));
                        let body = review.body.trim();
                        denials.push(Denial {
                            login: login.clone(),
                            review_id: review.id,
                            reason: if body.is_empty() {
                                why
                            } else {
                                format!("{body} ({why})")
                            },
                        });
                    } else {
                        notes.push(format!(
                            "review {} by {login} was dismissed by {who} and counts for nothing",
                            review.id
                        ));
                        verdicts.insert(
                            review.id,
                            (false, vec![], Some(format!("it was dismissed by {who}"))),
                        );
                    }
                }
                ReviewState::Commented | ReviewState::Other => {}
            }
        }

        let rules: Vec<RuleOutcome> = reqs
            .iter()
            .zip(counted)
            .map(|(req, mut approvals)| {
                approvals.sort_by(|a, b| a.login.cmp(&b.login).then(a.user_id.cmp(&b.user_id)));
                // A hand-built policy with min_approvals = 0 never passes validation; still,
                // never let "zero" mean "nobody needs to look".
                let needed = req.min_approvals.max(1) as usize;
                RuleOutcome {
                    name: req.name.clone(),
                    min_approvals: req.min_approvals,
                    satisfied: approvals.len() >= needed,
                    approvals,
                    approvers: describe_approvers(req.approvers),
                    executor: req.executor.clone(),
                }
            })
            .collect();

        let mut approvals: Vec<Approval> = Vec::new();
        for a in rules.iter().flat_map(|r| r.approvals.iter()) {
            if !approvals.iter().any(|x| x.user_id == a.user_id) {
                approvals.push(a.clone());
            }
        }
        approvals.sort_by(|a, b| a.login.cmp(&b.login).then(a.user_id.cmp(&b.user_id)));
        denials.sort_by(|a, b| a.login.cmp(&b.login).then(a.review_id.cmp(&b.review_id)));

        let missing: Vec<String> = rules
            .iter()
            .filter(|r| !r.satisfied)
            .map(|r| {
                let need = r.min_approvals.max(1) - r.approvals.len() as u32;
                let more = if r.approvals.is_empty() { "" } else { "more " };
                format!(
                    "needs {} from {} ({})",
                    plural(
                        need,
                        &format!("{more}approval"),
                        &format!("{more}approvals")
                    ),
                    r.approvers,
                    r.name
                )
            })
            .collect();
        // Why a review that was given does not count comes first: it is what the reviewer
        // looking at the status needs to read, and the approver list can be long.
        let mut pending_text = other_hints;
        pending_text.extend(missing.iter().cloned());
        pending_text.extend(stale_hints);

        let is_open = facts.state == PullState::Open
            || (merged_counts_as_open && facts.state == PullState::Merged);
        let (state, description) = if !errors.is_empty() {
            let more = if errors.len() > 1 {
                format!(" (and {} more problems)", errors.len() - 1)
            } else {
                String::new()
            };
            (ApprovalState::Error, format!("{}{more}", errors[0]))
        } else if !denials.is_empty() || matches!(facts.proposed_policy, ProposedPolicy::Invalid(_))
        {
            let mut parts: Vec<String> = Vec::new();
            for d in &denials {
                if d.reason.is_empty() {
                    parts.push(format!("changes requested by {}", d.login));
                } else {
                    parts.push(format!("changes requested by {}: {}", d.login, d.reason));
                }
            }
            if let ProposedPolicy::Invalid(msg) = &facts.proposed_policy {
                parts.push(format!("the proposed {POLICY_PATH} is invalid: {msg}"));
            }
            (ApprovalState::Failure, parts.join("; "))
        } else if !is_open {
            let what = match facts.state {
                PullState::Merged => {
                    "the pull request is merged; its approval is judged after the merge"
                }
                _ => "the pull request is closed; nothing will be approved",
            };
            (ApprovalState::Pending, what.to_string())
        } else if facts.draft {
            let rest = if missing.is_empty() {
                "mark the pull request ready for review".to_string()
            } else {
                pending_text.join("; ")
            };
            (ApprovalState::Pending, format!("draft: {rest}"))
        } else if !missing.is_empty() {
            (ApprovalState::Pending, pending_text.join("; "))
        } else if rules.is_empty() {
            (
                ApprovalState::Success,
                "no approval needed: no rule covers the changed files and there is no [defaults]"
                    .to_string(),
            )
        } else {
            (ApprovalState::Success, approved_text(&rules, &approvals))
        };

        // Reviews the loop above did not judge: comments, stances replaced by a later one,
        // and anything submitted after the merge.
        let latest = latest_stances(&reviews);
        let mut review_verdicts: Vec<ReviewVerdict> = facts
            .reviews
            .iter()
            .map(|r| {
                let (counts, counted_for, why_not) = verdicts.remove(&r.id).unwrap_or_else(|| {
                    let why = if !reviews.iter().any(|x| x.id == r.id) {
                        "it was submitted after the merge".to_string()
                    } else {
                        match (r.state, latest.get(&r.reviewer.id)) {
                            (ReviewState::Commented | ReviewState::Other, _) => {
                                "a comment takes no stance".to_string()
                            }
                            (_, Some(newer)) if newer.id != r.id => format!(
                                "{}'s later review {} replaces it",
                                r.reviewer.login, newer.id
                            ),
                            _ => "it takes no part in the decision".to_string(),
                        }
                    };
                    (false, vec![], Some(why))
                });
                ReviewVerdict {
                    review_id: r.id,
                    login: r.reviewer.login.clone(),
                    stance: stance_words(r.state).to_string(),
                    commit: r.commit_id.clone(),
                    submitted_at: r.submitted_at,
                    counts,
                    counted_for,
                    why_not,
                }
            })
            .collect();
        // In the order they were given: the decision does not depend on how the code host
        // listed them, and neither does this.
        review_verdicts.sort_by_key(|v| (v.submitted_at, v.review_id));

        ApprovalDecision {
            state,
            description: clip_description(&description),
            head_sha: head.clone(),
            rules,
            approvals,
            denials,
            notes,
            reviews: review_verdicts,
        }
    }
}

fn stance_words(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Approved => "approved",
        ReviewState::ChangesRequested => "changes requested",
        ReviewState::Commented => "commented",
        ReviewState::Dismissed => "dismissed",
        ReviewState::Other => "other",
    }
}

/// "approved by alice (firewall, policy), bob (policy)".
fn approved_text(rules: &[RuleOutcome], approvals: &[Approval]) -> String {
    let parts: Vec<String> = approvals
        .iter()
        .map(|a| {
            let names: Vec<&str> = rules
                .iter()
                .filter(|r| r.approvals.iter().any(|x| x.user_id == a.user_id))
                .map(|r| r.name.as_str())
                .collect();
            format!("{} ({})", a.login, names.join(", "))
        })
        .collect();
    format!("approved by {}", parts.join(", "))
}
