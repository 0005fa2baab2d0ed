//! Announcing ref moves: `push` (and `pull_request` `synchronize` for a PR whose head branch
//! moved, `closed` for a PR that a push merged) and an activity record per branch move.
//! Pushes over HTTP and API-made moves call this with their authenticated actor, under the
//! world lock, so nothing else can announce their moves first. The periodic scan only finds
//! what bypassed the simulator (a write straight into the bare repository): such a move has
//! no authenticated actor, so its activity record says `actor: null`, and its `push` webhook,
//! which GitHub never sends without a sender, names the repository's owner (an organization,
//! never an approver) as sender and pusher, rather than guessing from commit emails.

use chrono::Utc;
use git2::Oid;
use serde_json::{Value, json};

use super::Sim;
use super::gitstore;
use super::render;
use super::world::{Activity, World};
use crate::ids::UserId;

const ZERO: &str = "0000000000000000000000000000000000000000";
const MAX_PUSH_COMMITS: usize = 20;

/// Who moved the refs a scan finds, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Found on disk: written past the simulator's git server and API, by nobody it knows.
    Unseen,
    /// Pushed over HTTP, or moved through the refs API, by this account.
    Push(UserId),
    /// The API's merge endpoint, by this account (activity type `pr_merge`).
    Merge(UserId),
    /// The merge queue moved the base branch to a merge group's head, for the account that
    /// queued its pull request (activity type `merge_queue_merge`).
    QueueMerge(UserId),
}

impl Cause {
    pub fn actor(self) -> Option<UserId> {
        match self {
            Cause::Unseen => None,
            Cause::Push(u) | Cause::Merge(u) | Cause::QueueMerge(u) => Some(u),
        }
    }
}

/// One ref that moved: its name, and its old and new object (`None`: absent).
struct Move {
    name: String,
    before: Option<String>,
    after: Option<String>,
}

/// Scans one repo and announces every ref that moved since the last scan, as `cause`.
pub fn scan_repo(sim: &Sim, w: &mut World, idx: usize, cause: Cause) {
    let Some(r) = w.repos.get(idx) else { return };
    let repo = match gitstore::open(&r.git_dir) {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(repo = %r.name, error = %e, "cannot open simulator repo");
            return;
        }
    };
    let Ok(now_refs) = gitstore::list_refs(&repo) else {
        return;
    };
    if now_refs == r.known_refs {
        return;
    }
    let old = std::mem::take(&mut w.repos[idx].known_refs);
    let mut moves = Vec::new();
    for (name, sha) in &now_refs {
        if old.get(name) != Some(sha) {
            moves.push(Move {
                name: name.clone(),
                before: old.get(name).cloned(),
                after: Some(sha.clone()),
            });
        }
    }
    for (name, sha) in &old {
        if !now_refs.contains_key(name) {
            moves.push(Move {
                name: name.clone(),
                before: Some(sha.clone()),
                after: None,
            });
        }
    }
    w.repos[idx].known_refs = now_refs;
    for m in moves {
        // GitHub announces branches and tags only; claim and notes refs stay silent.
        if !(m.name.starts_with("refs/heads/") || m.name.starts_with("refs/tags/")) {
            continue;
        }
        announce(sim, w, idx, &repo, &m, cause);
    }
}

fn announce(sim: &Sim, w: &mut World, idx: usize, repo: &git2::Repository, m: &Move, cause: Cause) {
    let (before, after) = (m.before.as_deref(), m.after.as_deref());
    let forced = is_forced(repo, before, after);
    let actor = cause.actor();
    w.repos[idx].pushed_at = Utc::now();
    if m.name.starts_with("refs/heads/") {
        record_activity(w, idx, m, forced, cause);
    }
    let payload = push_payload(sim, w, idx, repo, m, forced, actor);
    sim.hooks.emit("push", &payload);
    if let (Some(branch), Some(after)) = (m.name.strip_prefix("refs/heads/"), after) {
        synchronize_pulls(sim, w, idx, branch, after, actor);
        merge_pulls_reached_by_push(sim, w, idx, repo, branch, before, after, actor);
    }
}

/// A move is forced when the new tip does not contain the old one.
fn is_forced(repo: &git2::Repository, before: Option<&str>, after: Option<&str>) -> bool {
    let parse = |s: Option<&str>| s.and_then(|s| Oid::from_str(s).ok());
    match (parse(before), parse(after)) {
        (Some(b), Some(a)) => !(a == b || repo.graph_descendant_of(a, b).unwrap_or(false)),
        _ => false,
    }
}

/// One activity record, typed as GitHub's `activity_type`.
fn record_activity(w: &mut World, idx: usize, m: &Move, forced: bool, cause: Cause) {
    let kind = match (&m.before, &m.after, cause) {
        (None, _, _) => "branch_creation",
        (_, None, _) => "branch_deletion",
        (_, _, Cause::Merge(_)) => "pr_merge",
        (_, _, Cause::QueueMerge(_)) => "merge_queue_merge",
        _ if forced => "force_push",
        _ => "push",
    };
    let id = w.next_id();
    w.repos[idx].activity.push(Activity {
        id,
        refname: m.name.clone(),
        before: m.before.clone().unwrap_or_else(|| ZERO.to_string()),
        after: m.after.clone().unwrap_or_else(|| ZERO.to_string()),
        timestamp: Utc::now(),
        kind,
        actor: cause.actor(),
    });
}

/// The account a push's events name as sender: the authenticated pusher, or for a move
/// nobody authenticated, the repository's owner.
fn sender_of(w: &World, idx: usize, actor: Option<UserId>) -> UserId {
    actor.unwrap_or(w.repos[idx].owner)
}

fn push_payload(
    sim: &Sim,
    w: &World,
    idx: usize,
    repo: &git2::Repository,
    m: &Move,
    forced: bool,
    actor: Option<UserId>,
) -> Value {
    let u = &sim.urls;
    let r = &w.repos[idx];
    let (before, after) = (m.before.as_deref(), m.after.as_deref());
    let who = sender_of(w, idx, actor);
    // GitHub's `pusher` is the authenticated account's login and email, never a commit's.
    let (pusher_name, pusher_email) = w
        .account(who)
        .map(|a| (a.login.to_string(), a.email.clone()))
        .unwrap_or_else(|| ("unknown".into(), None));
    let before_oid = before.and_then(|s| Oid::from_str(s).ok());
    let after_oid = after.and_then(|s| Oid::from_str(s).ok());
    let mut commits = Vec::new();
    if let Some(a) = after_oid {
        let walk_base = if forced {
            before_oid.and_then(|b| gitstore::merge_base(repo, a, b))
        } else {
            before_oid
        };
        if let Ok(oids) = gitstore::range(repo, walk_base, a) {
            let skip = oids.len().saturating_sub(MAX_PUSH_COMMITS);
            for oid in oids.into_iter().skip(skip) {
                if let Ok(c) = gitstore::commit_info(repo, oid) {
                    commits.push(push_commit(sim, w, idx, repo, &c));
                }
            }
        }
    }
    let head_commit = after_oid
        .and_then(|a| gitstore::commit_info(repo, a).ok())
        .map(|c| push_commit(sim, w, idx, repo, &c))
        .unwrap_or(Value::Null);
    let (b, a) = (before.unwrap_or(ZERO), after.unwrap_or(ZERO));
    json!({
        "ref": m.name,
        "before": b,
        "after": a,
        "created": before.is_none(),
        "deleted": after.is_none(),
        "forced": forced,
        "base_ref": null,
        "compare": format!("{}/{}/compare/{}...{}", u.html, r.full_name(), &b[..12], &a[..12]),
        "commits": commits,
        "head_commit": head_commit,
        "repository": render::repo(u, w, r),
        "pusher": { "name": pusher_name, "email": pusher_email },
        "sender": render::user_id(u, w, who),
    })
}

fn push_commit(
    sim: &Sim,
    w: &World,
    idx: usize,
    repo: &git2::Repository,
    c: &gitstore::CommitInfo,
) -> Value {
    let r = &w.repos[idx];
    let person = |p: &gitstore::Person| {
        let username = w.account_by_email(&p.email).map(|a| a.login.to_string());
        json!({ "name": p.name, "email": p.email, "username": username })
    };
    let (mut added, mut removed, mut modified) = (vec![], vec![], vec![]);
    let parent = c.parents.first().and_then(|p| Oid::from_str(p).ok());
    if let Ok(oid) = Oid::from_str(&c.sha) {
        for f in gitstore::diff_files(repo, parent, oid).unwrap_or_default() {
            match f.status {
                "added" => added.push(f.filename),
                "removed" => removed.push(f.filename),
                _ => modified.push(f.filename),
            }
        }
    }
    json!({
        "id": c.sha,
        "tree_id": c.tree,
        "distinct": true,
        "message": c.message,
        "timestamp": c.committer.date,
        "url": format!("{}/{}/commit/{}", sim.urls.html, r.full_name(), c.sha),
        "author": person(&c.author),
        "committer": person(&c.committer),
        "added": added, "removed": removed, "modified": modified,
    })
}

fn synchronize_pulls(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    branch: &str,
    after: &str,
    actor: Option<UserId>,
) {
    let numbers: Vec<u64> = w.repos[idx]
        .pulls
        .iter()
        .filter(|p| p.open && p.head_ref == branch && p.head_sha != after)
        .map(|p| p.number)
        .collect();
    let who = sender_of(w, idx, actor);
    let repo = gitstore::open(&w.repos[idx].git_dir).ok();
    for n in numbers {
        let before = {
            let Some(p) = w.repos[idx].pull_mut(n) else {
                continue;
            };
            // A push to the head is when GitHub refreshes `base.sha` (and a retarget).
            if let Some(tip) = repo
                .as_ref()
                .and_then(|g| gitstore::branch_tip(g, &p.base_ref))
            {
                p.base_sha = tip.to_string();
            }
            let before = std::mem::replace(&mut p.head_sha, after.to_string());
            p.updated_at = Utc::now();
            before
        };
        let mut payload = pull_event(sim, w, idx, n, "synchronize", Some(who));
        payload["before"] = Value::String(before);
        payload["after"] = Value::String(after.to_string());
        sim.hooks.emit("pull_request", &payload);
    }
}

/// As GitHub does, an open PR whose head a push brought into its base branch (a merge made
/// locally and pushed) is marked merged, with the new tip as its merge commit.
#[allow(clippy::too_many_arguments)]
fn merge_pulls_reached_by_push(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    repo: &git2::Repository,
    branch: &str,
    before: Option<&str>,
    after: &str,
    actor: Option<UserId>,
) {
    let Ok(tip) = git2::Oid::from_str(after) else {
        return;
    };
    let numbers: Vec<u64> = w.repos[idx]
        .pulls
        .iter()
        .filter(|p| p.open && p.base_ref == branch)
        .filter(|p| {
            git2::Oid::from_str(&p.head_sha)
                .is_ok_and(|h| h == tip || repo.graph_descendant_of(tip, h).unwrap_or(false))
        })
        .map(|p| p.number)
        .collect();
    let who = sender_of(w, idx, actor);
    for n in numbers {
        let now = Utc::now();
        if let Some(p) = w.repos[idx].pull_mut(n) {
            p.open = false;
            p.closed_at = Some(now);
            p.merged_at = Some(now);
            p.merged_by = actor;
            p.merge_commit_sha = Some(after.to_string());
            p.closed_base_sha = before.map(str::to_string);
            p.updated_at = now;
        }
        let payload = pull_event(sim, w, idx, n, "closed", Some(who));
        sim.hooks.emit("pull_request", &payload);
    }
}

/// `{action, number, pull_request, repository, sender}` for a `pull_request` event.
pub fn pull_event(
    sim: &Sim,
    w: &World,
    idx: usize,
    number: u64,
    action: &str,
    sender: Option<UserId>,
) -> Value {
    let r = &w.repos[idx];
    let pull = crate::changes::render_pull(sim, w, idx, number).unwrap_or(Value::Null);
    json!({
        "action": action,
        "number": number,
        "pull_request": pull,
        "repository": render::repo(&sim.urls, w, r),
        "sender": sender.map(|s| render::user_id(&sim.urls, w, s)).unwrap_or(Value::Null),
    })
}
