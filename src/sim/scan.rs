//! Noticing ref moves. Pushes arrive through the `file://` transport, which runs no hooks,
//! so the simulator compares each repo's refs on disk with what it last announced and emits
//! `push` (and `pull_request` `synchronize` for a PR whose head branch moved) for the rest.
//! API-made moves (merges, ref updates) go through here too, with the acting user.

use chrono::Utc;
use git2::Oid;
use serde_json::{Value, json};

use super::Sim;
use super::gitstore;
use super::render;
use super::world::World;
use crate::types::UserId;

const ZERO: &str = "0000000000000000000000000000000000000000";
const MAX_PUSH_COMMITS: usize = 20;

/// Scans one repo and announces every ref that moved since the last scan. `actor` is the
/// user who moved it through the API; a plain push is attributed to the committer of the
/// new tip when that is a known account, else to the repo's first admin.
pub fn scan_repo(sim: &Sim, w: &mut World, idx: usize, actor: Option<UserId>) {
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
    let old = r.known_refs.clone();
    let mut changed: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for (name, sha) in &now_refs {
        if old.get(name) != Some(sha) {
            changed.push((name.clone(), old.get(name).cloned(), Some(sha.clone())));
        }
    }
    for (name, sha) in &old {
        if !now_refs.contains_key(name) {
            changed.push((name.clone(), Some(sha.clone()), None));
        }
    }
    w.repos[idx].known_refs = now_refs;
    for (name, before, after) in changed {
        // GitHub announces branches and tags only; claim and notes refs stay silent.
        if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
            continue;
        }
        w.repos[idx].pushed_at = Utc::now();
        let payload = push_payload(
            sim,
            w,
            idx,
            &repo,
            &name,
            before.as_deref(),
            after.as_deref(),
            actor,
        );
        sim.hooks.emit("push", &payload);
        if let (Some(branch), Some(after)) = (name.strip_prefix("refs/heads/"), after) {
            synchronize_pulls(sim, w, idx, &repo, branch, &after, actor);
            merge_pulls_reached_by_push(
                sim,
                w,
                idx,
                &repo,
                branch,
                before.as_deref(),
                &after,
                actor,
            );
        }
    }
}

fn pusher(
    w: &World,
    idx: usize,
    repo: &git2::Repository,
    after: Option<&str>,
    actor: Option<UserId>,
) -> Option<UserId> {
    actor
        .or_else(|| {
            let oid = Oid::from_str(after?).ok()?;
            let c = gitstore::commit_info(repo, oid).ok()?;
            w.account_by_email(&c.committer.email)
                .filter(|a| !a.is_org)
                .map(|a| a.id)
        })
        .or_else(|| w.repos[idx].admins.first().copied())
        .or_else(|| w.repos[idx].writers.first().copied())
}

#[allow(clippy::too_many_arguments)]
fn push_payload(
    sim: &Sim,
    w: &World,
    idx: usize,
    repo: &git2::Repository,
    name: &str,
    before: Option<&str>,
    after: Option<&str>,
    actor: Option<UserId>,
) -> Value {
    let u = &sim.urls;
    let r = &w.repos[idx];
    let who = pusher(w, idx, repo, after, actor);
    let sender = who
        .map(|id| render::user_id(u, w, id))
        .unwrap_or(Value::Null);
    let (pusher_name, pusher_email) = who
        .and_then(|id| w.account(id))
        .map(|a| (a.login.to_string(), a.email.clone()))
        .unwrap_or_else(|| ("unknown".into(), None));
    let before_oid = before.and_then(|s| Oid::from_str(s).ok());
    let after_oid = after.and_then(|s| Oid::from_str(s).ok());
    let mut commits = Vec::new();
    let mut forced = false;
    if let Some(a) = after_oid {
        if let Some(b) = before_oid {
            forced = !(repo.graph_descendant_of(a, b).unwrap_or(false) || a == b);
        }
        let mut walk_base = before_oid.filter(|_| !forced);
        if forced {
            walk_base = before_oid.and_then(|b| gitstore::merge_base(repo, a, b));
        }
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
    json!({
        "ref": name,
        "before": before.unwrap_or(ZERO),
        "after": after.unwrap_or(ZERO),
        "created": before.is_none(),
        "deleted": after.is_none(),
        "forced": forced,
        "base_ref": null,
        "compare": format!("{}/{}/compare/{}...{}", u.api, r.full_name(), &before.unwrap_or(ZERO)[..12], &after.unwrap_or(ZERO)[..12]),
        "commits": commits,
        "head_commit": head_commit,
        "repository": render::repo(u, w, r),
        "pusher": { "name": pusher_name, "email": pusher_email },
        "sender": sender,
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
        "url": format!("{}/{}/commit/{}", sim.urls.api, r.full_name(), c.sha),
        "author": person(&c.author),
        "committer": person(&c.committer),
        "added": added, "removed": removed, "modified": modified,
    })
}

fn synchronize_pulls(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    repo: &git2::Repository,
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
    for n in numbers {
        let before = {
            let Some(p) = w.repos[idx].pull_mut(n) else {
                continue;
            };
            // A push to the head is when GitHub refreshes `base.sha` (and a retarget).
            if let Some(tip) = gitstore::branch_tip(repo, &p.base_ref) {
                p.base_sha = tip.to_string();
            }
            let before = std::mem::replace(&mut p.head_sha, after.to_string());
            p.updated_at = Utc::now();
            before
        };
        let who = pusher(w, idx, repo, Some(after), actor);
        let mut payload = pull_event(sim, w, idx, n, "synchronize", who);
        payload["before"] = Value::String(before);
        payload["after"] = Value::String(after.to_string());
        sim.hooks.emit("pull_request", &payload);
    }
}

/// As GitHub does, an open PR whose head a plain push brought into its base branch (a merge
/// made locally and pushed) is marked merged, with the new tip as its merge commit.
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
    let who = pusher(w, idx, repo, Some(after), actor);
    for n in numbers {
        let now = Utc::now();
        if let Some(p) = w.repos[idx].pull_mut(n) {
            p.open = false;
            p.closed_at = Some(now);
            p.merged_at = Some(now);
            p.merged_by = who;
            p.merge_commit_sha = Some(after.to_string());
            p.closed_base_sha = before.map(str::to_string);
            p.updated_at = now;
        }
        let payload = pull_event(sim, w, idx, n, "closed", who);
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
    let pull = super::api::pulls::render_pull(sim, w, idx, number).unwrap_or(Value::Null);
    json!({
        "action": action,
        "number": number,
        "pull_request": pull,
        "repository": render::repo(&sim.urls, w, r),
        "sender": sender.map(|s| render::user_id(&sim.urls, w, s)).unwrap_or(Value::Null),
    })
}
