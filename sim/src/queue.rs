//! GitHub's merge queue, for a repo whose seed says `merge_queue = true` ("Require merge
//! queue" on its default branch), as GitHub documents it:
//! https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/configuring-pull-request-merges/managing-a-merge-queue
//!
//! - A writer adds a PR that already meets the branch's rules (its required checks pass on
//!   its head) with GraphQL `enqueuePullRequest`; "Once a pull request has passed all of the
//!   required branch protection checks, a user with write access to the repository can add
//!   that pull request to a merge queue" (`merge-queue-overview`). No bypass: an admin cannot
//!   force in a PR whose checks do not pass (community discussions 203926 and 208718;
//!   codenote-net/merge-queue-bypass-demo). `expectedHeadOid` pins the head.
//! - Each entry gets a merge group: a commit GitHub makes (committer GitHub, author the
//!   person who queued it, no trailers) merging the PR's head onto the group ahead of it, or
//!   onto the base branch's tip for the first, on a temporary branch
//!   `gh-readonly-queue/<base>/pr-<n>-<parent sha>` ("The merge queue creates temporary
//!   branches with a special prefix ... grouped into a merge_group with the latest version of
//!   the base_branch as well as changes from pull requests ahead of it in the queue"), then a
//!   `merge_group` `checks_requested` delivery
//!   (https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group). This is a
//!   build concurrency of 100 with merge limits of 1: every entry builds at once, chained.
//! - The required checks are evaluated on the group's `head_sha`. When the first group's all
//!   pass, the base branch moves to that very commit (a fast-forward: "The queue lands the
//!   exact commit it tested", sipyourdrink-ltd/bernstein#5809, with the merge method MERGE),
//!   the PR is marked merged with it as `merge_commit_sha`, and
//!   `merge_group` `destroyed` (`reason: merged`), `push` and `pull_request` `closed` are
//!   delivered; the temporary branch is deleted. Only passing groups merge ("Only merge
//!   non-failing pull requests", the ALLGREEN strategy).
//! - A failing required check on a group, or its status check timeout passing without all of
//!   them passing ("how long the queue should wait for a response from CI before assuming
//!   that checks have failed"), removes that PR from the queue (`destroyed`, `reason:
//!   dequeued`); the groups behind it are destroyed (`reason: invalidated`, "invalidated by an
//!   earlier queue entry being dequeued", GitHub's OpenAPI description of the webhook) and
//!   rebuilt on the new base, each with a new branch and a new `checks_requested` ("The merge
//!   queue recreates the temporary branch ... to only contain changes from the target branch
//!   and pull request #2"). So does `dequeuePullRequest`, a push to a queued PR's head, its
//!   closing or retargeting, and a conflict when its group is built
//!   (`merge-queue-removal-reasons`, `merge-queue-reject`). A base branch moved by anything
//!   but the queue (an admin's direct merge) invalidates every group, which are rebuilt on it.
//!
//! The queue advances in [`tick`]: after each write that can change a group's checks, on the
//! background scan (every ~100 ms) and on `SimHandle::settle`. Timeouts are measured on the
//! simulator's clock ([`crate::Sim::now`]), which tests move with `SimHandle::advance_clock`.

use chrono::Utc;
use git2::Oid;
use serde_json::{Value, json};

use crate::ids::UserId;
use crate::world::{MergeGroup, QUEUE_BOT, QueueEntry, World};
use crate::{Sim, gitstore, protection, render, scan};

/// A refusal of the queue's GraphQL mutations: GitHub's error `type` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueError {
    pub kind: &'static str,
    pub message: String,
}

fn unprocessable(message: impl Into<String>) -> QueueError {
    QueueError {
        kind: "UNPROCESSABLE",
        message: message.into(),
    }
}

/// An entry as GraphQL and the handle show it: where it stands and in which state
/// (`MergeQueueEntryState`).
#[derive(Debug, Clone)]
pub struct EntryView {
    pub repo: usize,
    pub entry: QueueEntry,
    /// 1-based, as GraphQL's `position`.
    pub position: usize,
    pub state: &'static str,
}

/// The state of the entry at `pos`: `QUEUED` before its group is built, `AWAITING_CHECKS`
/// while its group's required checks have not all passed, `MERGEABLE` once they have (it
/// waits for the entries ahead of it).
pub fn view(w: &World, idx: usize, pos: usize) -> Option<EntryView> {
    let r = &w.repos[idx];
    let e = r.queue.get(pos)?;
    let state = match &e.group {
        None => "QUEUED",
        Some(g) if protection::unmet_checks(r, &g.head_sha).is_empty() => "MERGEABLE",
        Some(_) => "AWAITING_CHECKS",
    };
    Some(EntryView {
        repo: idx,
        entry: e.clone(),
        position: pos + 1,
        state,
    })
}

/// `enqueuePullRequest`: adds PR `number` of repo `idx` to its base branch's queue for
/// `actor`, at the back (or the front with `jump`), and builds its group at once.
pub fn enqueue(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    number: u64,
    actor: UserId,
    expected_head: Option<&str>,
    jump: bool,
) -> Result<EntryView, QueueError> {
    scan::scan_repo(sim, w, idx, scan::Cause::Unseen);
    let r = &w.repos[idx];
    if !r.can_write(actor) {
        let login = w
            .account(actor)
            .map(|a| a.login.to_string())
            .unwrap_or_default();
        // GitHub's answer to a mutation outside the caller's rights.
        return Err(QueueError {
            kind: "FORBIDDEN",
            message: format!(
                "{login} does not have the correct permissions to execute `EnqueuePullRequest`"
            ),
        });
    }
    let p = r.pull(number).ok_or_else(|| QueueError {
        kind: "NOT_FOUND",
        message: format!("Could not resolve to a PullRequest with the number of {number}."),
    })?;
    if !p.open {
        return Err(unprocessable("Pull request is closed"));
    }
    // `expectedHeadOid` as `mergePullRequest` checks it: a head that moved is refused with
    // "Head branch was modified. Review and try the merge again." (as clients meet it,
    // StefanMaron/BusinessCentral.AL.Runner#3391).
    if let Some(expected) = expected_head
        && !expected.eq_ignore_ascii_case(&p.head_sha)
    {
        return Err(unprocessable(
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    if !protection::requires_queue(r, &format!("refs/heads/{}", p.base_ref)) {
        return Err(unprocessable(format!(
            "Merge queue is not enabled for the branch {}",
            p.base_ref
        )));
    }
    // "Pull request is already in the queue" (UNPROCESSABLE, ClickHouse/ClickHouse#109183).
    if r.queue.iter().any(|e| e.number == number) {
        return Err(unprocessable("Pull request is already in the queue"));
    }
    if p.draft {
        return Err(unprocessable("Pull request is still a draft"));
    }
    let repo = gitstore::open(&r.git_dir).map_err(|e| unprocessable(e.to_string()))?;
    let head = Oid::from_str(&p.head_sha).map_err(|e| unprocessable(e.to_string()))?;
    if let Some(base) = gitstore::branch_tip(&repo, &p.base_ref)
        && !gitstore::mergeable(&repo, base, head).unwrap_or(false)
    {
        return Err(unprocessable("Pull Request is not mergeable"));
    }
    // The branch's rules on the PR's head, with no bypass for anyone: the form GitHub gives
    // is "Pull request <the rule> ..." (as clients meet it: "UNPROCESSABLE: Pull request
    // Required workflow '...' is not satisfied", devantler-tech/platform#3138).
    if let Some((ctx, state)) = protection::unmet_checks(r, &p.head_sha).first() {
        let why = match state {
            None => "is expected".to_string(),
            Some("pending") => "is pending".to_string(),
            Some(_) => "is failing".to_string(),
        };
        return Err(unprocessable(format!(
            "Pull request Required status check \"{ctx}\" {why}."
        )));
    }
    let head_sha = p.head_sha.clone();
    let entry = QueueEntry {
        id: w.next_id(),
        number,
        head_sha,
        enqueuer: actor,
        enqueued_at: Utc::now(),
        jump,
        group: None,
    };
    let id = entry.id;
    let q = &mut w.repos[idx].queue;
    // "there is an option to move your pull request to the top of the queue ... jumping to
    // the top of a merge queue will cause a full rebuild of all in-progress pull requests".
    if jump {
        q.insert(0, entry);
    } else {
        q.push(entry);
    }
    tick(sim, w, idx);
    // The view after its group was built (or as it was, had it already left the queue).
    let pos = w.repos[idx].queue.iter().position(|e| e.id == id);
    Ok(match pos.and_then(|p| view(w, idx, p)) {
        Some(v) => v,
        None => EntryView {
            repo: idx,
            entry: QueueEntry {
                id,
                number,
                head_sha: String::new(),
                enqueuer: actor,
                enqueued_at: Utc::now(),
                jump,
                group: None,
            },
            position: 1,
            state: "UNMERGEABLE",
        },
    })
}

/// `dequeuePullRequest`: takes PR `number` out of the queue, for `actor`.
pub fn dequeue(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    number: u64,
    actor: UserId,
) -> Result<EntryView, QueueError> {
    if !w.repos[idx].can_write(actor) {
        let login = w
            .account(actor)
            .map(|a| a.login.to_string())
            .unwrap_or_default();
        return Err(QueueError {
            kind: "FORBIDDEN",
            message: format!(
                "{login} does not have the correct permissions to execute `DequeuePullRequest`"
            ),
        });
    }
    let pos = w.repos[idx]
        .queue
        .iter()
        .position(|e| e.number == number)
        .ok_or_else(|| unprocessable("Pull request is not in the merge queue"))?;
    let v =
        view(w, idx, pos).ok_or_else(|| unprocessable("Pull request is not in the merge queue"))?;
    remove(sim, w, idx, pos, "dequeued", actor);
    tick(sim, w, idx);
    Ok(v)
}

/// Advances every repo's queue as far as it goes now.
pub fn tick_all(sim: &Sim) {
    let mut w = sim.world();
    for idx in 0..w.repos.len() {
        if !w.repos[idx].queue.is_empty() {
            tick(sim, &mut w, idx);
        }
    }
}

/// Advances repo `idx`'s queue as far as it goes now: drops entries that left, builds and
/// rebuilds groups, fails groups whose checks failed or timed out, and lands passing groups.
pub fn tick(sim: &Sim, w: &mut World, idx: usize) {
    if w.repos[idx].queue.is_empty() {
        return;
    }
    // Moves made past the simulator are announced first, not as the queue's.
    scan::scan_repo(sim, w, idx, scan::Cause::Unseen);
    let bound = 16 + 8 * w.repos[idx].queue.len();
    for _ in 0..bound {
        if !step(sim, w, idx) {
            break;
        }
    }
}

/// One change to the queue; `false` when there is none to make.
fn step(sim: &Sim, w: &mut World, idx: usize) -> bool {
    // Entries whose PR left: closed or merged (an admin's direct merge), retargeted, or its
    // head pushed to since it was queued.
    if let Some(pos) = first_gone(w, idx) {
        let who = w.repos[idx].queue[pos].enqueuer;
        remove(sim, w, idx, pos, "dequeued", who);
        return true;
    }
    let Ok(repo) = gitstore::open(&w.repos[idx].git_dir) else {
        return false;
    };
    let Some(base_tip) = gitstore::branch_tip(&repo, &w.repos[idx].default_branch) else {
        return false;
    };
    let base_tip = base_tip.to_string();
    // Groups, in order, each on the one ahead of it: the first not built on its parent is
    // (re)built.
    let stale = {
        let mut parent = base_tip.clone();
        let mut stale = None;
        for (pos, e) in w.repos[idx].queue.iter().enumerate() {
            match &e.group {
                Some(g) if g.base_sha == parent => parent = g.head_sha.clone(),
                _ => {
                    stale = Some((pos, parent));
                    break;
                }
            }
        }
        stale
    };
    if let Some((pos, parent)) = stale {
        let who = w.repos[idx].queue[pos].enqueuer;
        if let Some(g) = w.repos[idx].queue[pos].group.take() {
            destroy(sim, w, idx, &g, "invalidated", who);
        }
        if build(sim, w, idx, pos, &repo, &parent).is_err() {
            // "if there are ... conflicts with the base branch, the pull request will be
            // removed from the queue".
            remove(sim, w, idx, pos, "dequeued", who);
        }
        return true;
    }
    // A group whose required checks failed, or did not all pass in time, takes its PR out.
    let now = sim.now();
    let failed = {
        let r = &w.repos[idx];
        r.queue.iter().position(|e| {
            e.group.as_ref().is_some_and(|g| {
                let unmet = protection::unmet_checks(r, &g.head_sha);
                let failing = unmet
                    .iter()
                    .any(|(_, s)| matches!(s, Some("failure" | "error")));
                failing || (!unmet.is_empty() && now >= g.deadline)
            })
        })
    };
    if let Some(pos) = failed {
        let who = w.repos[idx].queue[pos].enqueuer;
        remove(sim, w, idx, pos, "dequeued", who);
        return true;
    }
    // The first group lands once its required checks all pass.
    let ready = {
        let r = &w.repos[idx];
        r.queue
            .first()
            .and_then(|e| e.group.as_ref())
            .is_some_and(|g| {
                g.base_sha == base_tip && protection::unmet_checks(r, &g.head_sha).is_empty()
            })
    };
    if ready {
        land(sim, w, idx, &repo);
        return true;
    }
    false
}

fn first_gone(w: &World, idx: usize) -> Option<usize> {
    let r = &w.repos[idx];
    r.queue.iter().position(|e| {
        r.pull(e.number)
            .is_none_or(|p| !p.open || p.head_sha != e.head_sha || p.base_ref != r.default_branch)
    })
}

/// Builds the group of the entry at `pos` on `parent`: the merge commit, its branch, the
/// `push` and `merge_group` `checks_requested` deliveries. `Err` on a conflict.
fn build(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    pos: usize,
    repo: &git2::Repository,
    parent: &str,
) -> Result<(), ()> {
    let e = w.repos[idx].queue[pos].clone();
    let r = &w.repos[idx];
    let Some(p) = r.pull(e.number) else {
        return Err(());
    };
    let (Ok(parent_oid), Ok(head_oid)) = (Oid::from_str(parent), Oid::from_str(&e.head_sha)) else {
        return Err(());
    };
    let (Ok(parent_c), Ok(head_c)) = (repo.find_commit(parent_oid), repo.find_commit(head_oid))
    else {
        return Err(());
    };
    let Ok(mut index) = repo.merge_commits(&parent_c, &head_c, None) else {
        return Err(());
    };
    if index.has_conflicts() {
        return Err(());
    }
    let tree = index
        .write_tree_to(repo)
        .and_then(|t| repo.find_tree(t))
        .map_err(|_| ())?;
    // GitHub writes the commit: its message is the merge button's ("Merge pull request #N
    // from OWNER/BRANCH", as in GitHub's example `merge_group` delivery), authored by the
    // person who queued it and committed by GitHub, with no trailers of anyone's.
    let message = format!(
        "Merge pull request #{} from {}/{}\n\n{}\n",
        e.number,
        r.name.owner(),
        p.head_ref,
        p.title
    );
    let author = w.signature_of(e.enqueuer).ok_or(())?.map_err(|_| ())?;
    let committer = git2::Signature::now("GitHub", "noreply@github.com").map_err(|_| ())?;
    let head = repo
        .commit(
            None,
            &author,
            &committer,
            &message,
            &tree,
            &[&parent_c, &head_c],
        )
        .map_err(|_| ())?;
    // The sha in the branch's name is the group's parent, as GitHub names them (a second
    // entry's `pr-6009-7c9c9697...` after the first's head `7c9c9697`,
    // sipyourdrink-ltd/bernstein#5809).
    let head_ref = format!(
        "{}{}/pr-{}-{parent}",
        protection::QUEUE_BRANCH_PREFIX,
        r.default_branch,
        e.number
    );
    repo.reference(&head_ref, head, true, "merge queue")
        .map_err(|_| ())?;
    let deadline = sim.now() + w.repos[idx].queue_timeout;
    let group = MergeGroup {
        head_ref,
        head_sha: head.to_string(),
        base_sha: parent.to_string(),
        deadline,
    };
    w.repos[idx].queue[pos].group = Some(group.clone());
    // The branch is created by the queue's bot: a `push` its CI can run on ("run when a
    // branch that begins with the special prefix gh-readonly-queue/{base_branch} is pushed
    // to").
    scan::scan_repo(sim, w, idx, scan::Cause::Push(QUEUE_BOT));
    emit(sim, w, idx, &group, "checks_requested", None, e.enqueuer);
    Ok(())
}

/// Takes the entry at `pos` out of the queue; its group (if built) is destroyed with
/// `reason`.
fn remove(sim: &Sim, w: &mut World, idx: usize, pos: usize, reason: &str, sender: UserId) {
    let e = w.repos[idx].queue.remove(pos);
    if let Some(g) = &e.group {
        destroy(sim, w, idx, g, reason, sender);
    }
}

/// `merge_group` `destroyed`, then the group's branch deleted (a `push` by the queue's bot).
fn destroy(sim: &Sim, w: &mut World, idx: usize, g: &MergeGroup, reason: &str, sender: UserId) {
    emit(sim, w, idx, g, "destroyed", Some(reason), sender);
    if let Ok(repo) = gitstore::open(&w.repos[idx].git_dir)
        && let Ok(mut r) = repo.find_reference(&g.head_ref)
        && r.target().is_some_and(|t| t.to_string() == g.head_sha)
    {
        let _ = r.delete();
    }
    scan::scan_repo(sim, w, idx, scan::Cause::Push(QUEUE_BOT));
}

/// The first group passed: the base branch moves to its head, its PR is merged.
fn land(sim: &Sim, w: &mut World, idx: usize, repo: &git2::Repository) {
    let e = w.repos[idx].queue[0].clone();
    let Some(g) = e.group.clone() else { return };
    let (Ok(head), Ok(base)) = (Oid::from_str(&g.head_sha), Oid::from_str(&g.base_sha)) else {
        return;
    };
    let base_ref = format!("refs/heads/{}", w.repos[idx].default_branch);
    // Compare-and-swap: a base moved meanwhile gets the groups rebuilt instead.
    if repo
        .reference_matching(&base_ref, head, true, base, "merge queue")
        .is_err()
    {
        return;
    }
    w.repos[idx].queue.remove(0);
    let now = Utc::now();
    if let Some(p) = w.repos[idx].pull_mut(e.number) {
        p.open = false;
        p.closed_at = Some(now);
        p.merged_at = Some(now);
        // Merged for the person who queued it; the `push` names them too
        // (sipyourdrink-ltd/bernstein#3199: "The push actor was ... the operator who queued
        // the entry").
        p.merged_by = Some(e.enqueuer);
        p.merge_commit_sha = Some(g.head_sha.clone());
        p.closed_base_sha = Some(g.base_sha.clone());
        p.updated_at = now;
    }
    scan::scan_repo(sim, w, idx, scan::Cause::QueueMerge(e.enqueuer));
    let payload = scan::pull_event(sim, w, idx, e.number, "closed", Some(e.enqueuer));
    sim.hooks.emit("pull_request", &payload);
    destroy(sim, w, idx, &g, "merged", e.enqueuer);
}

/// The `merge_group` object of a delivery: `head_sha`, `head_ref`, `base_sha`, `base_ref` and
/// `head_commit` (a simple commit), as GitHub's OpenAPI description's `merge-group`.
pub fn merge_group_json(w: &World, idx: usize, g: &MergeGroup) -> Value {
    let r = &w.repos[idx];
    let head_commit = gitstore::open(&r.git_dir)
        .ok()
        .and_then(|repo| {
            let oid = Oid::from_str(&g.head_sha).ok()?;
            gitstore::commit_info(&repo, oid).ok()
        })
        .map(|c| {
            json!({
                "id": c.sha,
                "tree_id": c.tree,
                "message": c.message,
                "timestamp": c.committer.date,
                "author": { "name": c.author.name, "email": c.author.email },
                "committer": { "name": c.committer.name, "email": c.committer.email },
            })
        })
        .unwrap_or(Value::Null);
    json!({
        "head_sha": g.head_sha,
        "head_ref": g.head_ref,
        "base_sha": g.base_sha,
        "base_ref": format!("refs/heads/{}", r.default_branch),
        "head_commit": head_commit,
    })
}

fn emit(
    sim: &Sim,
    w: &World,
    idx: usize,
    g: &MergeGroup,
    action: &str,
    reason: Option<&str>,
    sender: UserId,
) {
    let r = &w.repos[idx];
    let mut payload = json!({
        "action": action,
        "merge_group": merge_group_json(w, idx, g),
        "repository": render::repo(&sim.urls, w, r),
        "sender": render::user_id(&sim.urls, w, sender),
    });
    if let Some(reason) = reason {
        payload["reason"] = json!(reason);
    }
    sim.hooks.emit("merge_group", &payload);
}

/// Test-only (see `SimHandle::alter_queue_group`): the group of PR `number` replaced by a
/// commit of the same parents, people and message whose tree also has `path` = `content`.
pub fn alter_group(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    number: u64,
    path: &str,
    content: &str,
) -> Result<String, QueueError> {
    let fail = |m: String| unprocessable(m);
    let pos = w.repos[idx]
        .queue
        .iter()
        .position(|e| e.number == number && e.group.is_some())
        .ok_or_else(|| fail(format!("pull request #{number} has no merge group")))?;
    let Some(g) = w.repos[idx].queue[pos].group.clone() else {
        return Err(fail(format!("pull request #{number} has no merge group")));
    };
    let repo = gitstore::open(&w.repos[idx].git_dir).map_err(|e| fail(e.to_string()))?;
    let new_head = (|| -> Result<Oid, git2::Error> {
        let old = repo.find_commit(Oid::from_str(&g.head_sha)?)?;
        let blob = repo.blob(content.as_bytes())?;
        let mut builder = git2::build::TreeUpdateBuilder::new();
        builder.upsert(path, blob, git2::FileMode::Blob);
        let tree_id = builder.create_updated(&repo, &old.tree()?)?;
        let tree = repo.find_tree(tree_id)?;
        let parents: Vec<git2::Commit<'_>> = old.parents().collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let message = String::from_utf8_lossy(old.message_bytes()).into_owned();
        let head = repo.commit(
            None,
            &old.author(),
            &old.committer(),
            &message,
            &tree,
            &parents,
        )?;
        repo.reference(&g.head_ref, head, true, "merge queue (altered by a test)")?;
        Ok(head)
    })()
    .map_err(|e| fail(e.to_string()))?;
    let group = MergeGroup {
        head_sha: new_head.to_string(),
        deadline: sim.now() + w.repos[idx].queue_timeout,
        ..g
    };
    w.repos[idx].queue[pos].group = Some(group.clone());
    scan::scan_repo(sim, w, idx, scan::Cause::Push(QUEUE_BOT));
    let who = w.repos[idx].queue[pos].enqueuer;
    emit(sim, w, idx, &group, "checks_requested", None, who);
    tick(sim, w, idx);
    Ok(new_head.to_string())
}
