//! What the gate remembers between evaluations, only to save calls and posts: a status it
//! posted, a comment it made, reviewers it asked, pushers a delivery named, PRs to post
//! afresh, each branch's policy blob. None of it decides anything: forgetting any of it (a
//! restart, another replica, the least recently used past the cap) costs calls, never a
//! decision, and each cache is bounded.

use std::collections::HashMap;
use std::sync::Mutex;

use lru::LruCache;

use crate::policy::{Account, ApprovalState};
use crate::types::{CommitSha, PullNumber, RepoName};

use super::{CommentKey, REMEMBERED_ENTRIES};

pub(super) struct Memory {
    /// The last status this process posted per (repo, sha): re-posting the same one is skipped.
    pub posted: Mutex<LruCache<(RepoName, CommitSha), (ApprovalState, String)>>,
    /// Decision comments this process posted or found: (repo, pull, head, kind).
    pub commented: Mutex<LruCache<CommentKey, ()>>,
    /// Senders of push deliveries per (repo, branch): pushers the activity API may not list
    /// yet. They only ever make someone ineligible, so forgetting them is safe.
    pub push_senders: Mutex<LruCache<(RepoName, String), Vec<Account>>>,
    /// Heads whose reviewers were asked for: (repo, pull, head).
    pub requested: Mutex<LruCache<(RepoName, PullNumber, CommitSha), ()>>,
    /// PRs a pass found changed since their status: their next decision is posted even when
    /// the code host already shows it, so the status's date moves past the change (see
    /// `due`). Forgetting one costs a pass an evaluation, never a decision.
    pub post_afresh: Mutex<LruCache<(RepoName, PullNumber), ()>>,
    /// The policy blob each governed branch had at this process's last pass: a different one
    /// now makes every PR on the branch due, whatever its commit's (writer-set) date says.
    /// Only ever adds evaluations; a fresh process falls back on the date. One entry per
    /// governed branch, so it needs no cap.
    pub policy_seen: Mutex<HashMap<(RepoName, String), Option<String>>>,
}

impl Memory {
    pub(super) fn new() -> Memory {
        Memory {
            posted: Mutex::new(LruCache::new(REMEMBERED_ENTRIES)),
            commented: Mutex::new(LruCache::new(REMEMBERED_ENTRIES)),
            push_senders: Mutex::new(LruCache::new(REMEMBERED_ENTRIES)),
            requested: Mutex::new(LruCache::new(REMEMBERED_ENTRIES)),
            post_afresh: Mutex::new(LruCache::new(REMEMBERED_ENTRIES)),
            policy_seen: Mutex::new(HashMap::new()),
        }
    }
}
