//! Small builders of policy facts for tests and benchmarks (here and in the gate's tests), so
//! that a scenario reads as a story: who opened the PR, who wrote which commit, who reviewed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};

use crate::policy::{RepoPolicy, TeamRef};
use crate::types::{CommitSha, Login, PullNumber, RepoName, UserId};

use super::facts::{
    Account, AccountKind, CommitFacts, ProposedPolicy, PullFacts, PullState, Review, ReviewState,
};

/// The policy of DESIGN.md's example.
pub const EXAMPLE_POLICY: &str = r#"version = 1
expire_after = "72h"
merge = "auto"

[identities]
agents = ["ops-agent[bot]", "release-bot"]

[defaults]
approvers = { teams = ["acme/maintainers"] }
min_approvals = 1

[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"], teams = ["acme/netops"] }
min_approvals = 1
executor = "firewall"

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { teams = ["acme/security"] }
min_approvals = 2
"#;

/// DESIGN.md's example policy, parsed.
pub fn example_policy() -> RepoPolicy {
    match super::parse_policy("example", EXAMPLE_POLICY) {
        Ok(p) => p,
        Err(e) => panic!("the built-in example policy must parse: {e}"),
    }
}

/// A distinct, valid commit SHA for each `n` below 2^32, whose short form is the first seven
/// hex digits of `n` written with eight: `sha(0x1a2b3c4d).short() == "1a2b3c4"`.
pub fn sha(n: u64) -> CommitSha {
    let eight = format!("{:08x}", n & 0xffff_ffff);
    match eight.repeat(5).parse() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// A human account.
pub fn user(login: &str, id: u64) -> Account {
    Account {
        login: Login::new(login),
        id: UserId(id),
        kind: AccountKind::User,
    }
}

/// An account of type Bot.
pub fn bot(login: &str, id: u64) -> Account {
    Account {
        login: Login::new(login),
        id: UserId(id),
        kind: AccountKind::Bot,
    }
}

pub fn team(s: &str) -> TeamRef {
    match TeamRef::try_from(s.to_string()) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// A fixed point in time plus `minutes`, so that tests order reviews explicitly.
pub fn at(minutes: i64) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .single()
        .unwrap_or_default();
    base + chrono::Duration::minutes(minutes)
}

/// A review submitted `minutes` after [`at`]'s base.
pub fn review(
    id: u64,
    reviewer: &Account,
    state: ReviewState,
    commit: &CommitSha,
    minutes: i64,
) -> Review {
    Review {
        id,
        reviewer: reviewer.clone(),
        state,
        commit_id: Some(commit.clone()),
        submitted_at: Some(at(minutes)),
        body: String::new(),
    }
}

/// A commit written and committed by `who`.
pub fn commit_by(sha: CommitSha, who: &Account) -> CommitFacts {
    CommitFacts {
        sha,
        author: Some(who.clone()),
        committer: Some(who.clone()),
        author_email: format!("{}@users.noreply.github.com", who.login),
        committer_email: format!("{}@users.noreply.github.com", who.login),
        pushed_by: Some(who.clone()),
    }
}

/// An open, ready PR in `acme/infra` by `author`, whose single commit `head` they wrote,
/// changing `files`; no reviews, no team members.
pub fn pull(author: &Account, head: CommitSha, files: &[&str]) -> PullFacts {
    let repo: RepoName = match "acme/infra".parse() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    PullFacts {
        repo,
        number: PullNumber(42),
        state: PullState::Open,
        draft: false,
        author: author.clone(),
        head_sha: head.clone(),
        base_sha: sha(0xba5e),
        base_ref: "main".to_string(),
        reviews: vec![],
        commits: vec![commit_by(head, author)],
        changed_files: files.iter().map(|f| f.to_string()).collect(),
        team_members: BTreeMap::new(),
        proposed_policy: ProposedPolicy::Unchanged,
        labels: vec![],
        created_at: Some(at(0)),
        head_pushers: Some(vec![author.clone()]),
        base_changed_at: None,
        merged_at: None,
        dismissals: Some(Vec::new()),
        registered_after: Some(Vec::new()),
    }
}

/// Adds `members` to `team` in the facts.
pub fn with_team(facts: &mut PullFacts, t: &str, members: &[&Account]) {
    let set: &mut BTreeSet<UserId> = facts.team_members.entry(team(t)).or_default();
    set.extend(members.iter().map(|a| a.id));
}
