//! The simulator's state seen through GraphQL: every field reads the same world and git
//! repositories the REST routes serve, so the two APIs cannot disagree.

use base64::Engine;
use git2::Oid;
use serde_json::{Map, Value};

use super::exec::{FieldError, Out, Resolve};
use crate::changes::{pull_changes, pull_commits};
use crate::gitstore::{self, FileChange, Person, format_chrono};
use crate::ids::UserId;
use crate::queue::{self, EntryView};
use crate::seed::AccountType;
use crate::world::World;
use crate::{Sim, protection, render, scan};

// Each group of types' fields, one resolver per group.
mod fields;

#[derive(Clone)]
pub enum Node {
    Query,
    Mutation,
    /// The merge queue of a repo's default branch.
    MergeQueue(usize),
    MergeQueueConfiguration(usize),
    MergeQueueEntry(Box<EntryView>),
    /// A mutation's payload: its type, the entry, the client's mutation id.
    Payload(&'static str, Option<Box<EntryView>>, Option<String>),
    Repository(usize),
    /// Any account: `User`, `Bot` or `Organization` by its kind.
    Account(UserId),
    Team(usize),
    PullRequest(usize, u64),
    Ref(usize, String, Oid),
    Commit(usize, Oid),
    Tree(Oid),
    Blob(usize, Oid),
    TreeEntry(usize, String, Oid),
    GitActor(Person),
    Label(String),
    ReviewRequest(Option<Requested>),
    Review(usize, u64, u64),
    PullRequestCommit(usize, Oid),
    ChangedFile(FileChange),
    BaseRefChangedEvent(chrono::DateTime<chrono::Utc>),
    ReviewDismissedEvent(chrono::DateTime<chrono::Utc>),
    /// A commit's statuses (repo, sha).
    Status(usize, String),
    /// One status (repo, status id).
    StatusContext(usize, u64),
    Connection(&'static str, Box<Page>),
    PageInfo(PageInfo),
}

#[derive(Clone)]
pub enum Requested {
    User(UserId),
    Team(usize),
}

#[derive(Clone)]
pub struct Page {
    nodes: Vec<Node>,
    total: usize,
    info: PageInfo,
}

#[derive(Clone)]
pub struct PageInfo {
    start: Option<usize>,
    end: Option<usize>,
    has_next: bool,
    has_previous: bool,
}

/// Cursors are opaque to clients; like GitHub's they are base64 text ("cursor:v2:..").
fn cursor(i: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{i}"))
}

fn cursor_index(c: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("cursor:v2:")?
        .parse()
        .ok()
}

/// A page of `all` as `first`/`last`/`after`/`before` select it (validation has checked
/// that `first` or `last` is given, within 1-100).
fn page(type_name: &'static str, all: Vec<Node>, args: &Map<String, Value>) -> Out<Node> {
    let total = all.len();
    let mut lo = 0usize;
    let mut hi = total;
    if let Some(a) = args
        .get("after")
        .and_then(Value::as_str)
        .and_then(cursor_index)
    {
        lo = (a + 1).min(total);
    }
    if let Some(b) = args
        .get("before")
        .and_then(Value::as_str)
        .and_then(cursor_index)
    {
        hi = b.min(hi).max(lo);
    }
    let n = |k: &str| args.get(k).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(first) = n("first") {
        hi = hi.min(lo + first);
    }
    if let Some(last) = n("last") {
        lo = lo.max(hi.saturating_sub(last));
    }
    let nodes: Vec<Node> = all.into_iter().skip(lo).take(hi - lo).collect();
    let info = PageInfo {
        start: (!nodes.is_empty()).then_some(lo),
        end: (!nodes.is_empty()).then(|| hi - 1),
        has_next: hi < total,
        has_previous: lo > 0,
    };
    Out::Node(Node::Connection(
        type_name,
        Box::new(Page { nodes, total, info }),
    ))
}

fn not_found(message: String) -> FieldError {
    FieldError {
        kind: Some("NOT_FOUND"),
        message,
    }
}

fn internal(e: impl std::fmt::Display) -> FieldError {
    FieldError {
        kind: None,
        message: format!("simulator: {e}"),
    }
}

fn leaf(v: impl Into<Value>) -> Result<Out<Node>, FieldError> {
    Ok(Out::Leaf(v.into()))
}

fn opt_leaf<T: Into<Value>>(v: Option<T>) -> Result<Out<Node>, FieldError> {
    Ok(v.map_or(Out::Null, |v| Out::Leaf(v.into())))
}

pub struct Resolver<'a> {
    pub sim: &'a Sim,
    pub w: &'a mut World,
    /// Who is asking (mutations act as them).
    pub actor: UserId,
}

/// A global node ID as GitHub's REST `node_id` carries it (base64 of `Kind:id` here), and
/// what it names.
fn decode_node_id(id: &str) -> Option<(String, u64)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(id).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (kind, n) = text.split_once(':')?;
    Some((kind.to_string(), n.parse().ok()?))
}

fn unresolved(id: &str) -> FieldError {
    // GitHub's words (as clients meet them, flutter/cocoon#4012).
    not_found(format!(
        "Could not resolve to a node with the global id of '{id}'"
    ))
}

impl Resolver<'_> {
    fn repo(&self, idx: usize) -> Result<git2::Repository, FieldError> {
        gitstore::open(&self.w.repos[idx].git_dir).map_err(internal)
    }

    /// The git object at `oid` as its GraphQL type (commits, trees and blobs only).
    fn object(&self, idx: usize, oid: Oid) -> Result<Out<Node>, FieldError> {
        let repo = self.repo(idx)?;
        let Ok(obj) = repo.find_object(oid, None) else {
            return Ok(Out::Null);
        };
        Ok(match obj.kind() {
            Some(git2::ObjectType::Commit) => Out::Node(Node::Commit(idx, oid)),
            Some(git2::ObjectType::Tree) => Out::Node(Node::Tree(oid)),
            Some(git2::ObjectType::Blob) => Out::Node(Node::Blob(idx, oid)),
            _ => Out::Null,
        })
    }
}

/// A `states: [...]` argument, when given.
fn states_arg(args: &Map<String, Value>) -> Option<Vec<&str>> {
    args.get("states")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
}

/// A PR's `PullRequestState`.
fn pull_state(p: &crate::world::Pull) -> &'static str {
    if p.merged_at.is_some() {
        "MERGED"
    } else if p.open {
        "OPEN"
    } else {
        "CLOSED"
    }
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    args.get(name).and_then(Value::as_str).unwrap_or("")
}

impl Resolve for Resolver<'_> {
    type Node = Node;

    fn type_name(&self, node: &Node) -> &'static str {
        match node {
            Node::Query => "Query",
            Node::Mutation => "Mutation",
            Node::MergeQueue(_) => "MergeQueue",
            Node::MergeQueueConfiguration(_) => "MergeQueueConfiguration",
            Node::MergeQueueEntry(_) => "MergeQueueEntry",
            Node::Payload(t, ..) => t,
            Node::Repository(_) => "Repository",
            Node::Account(id) => match self.w.account(*id) {
                Some(a) if a.is_org => "Organization",
                Some(a) if a.kind == AccountType::Bot => "Bot",
                _ => "User",
            },
            Node::Team(_) => "Team",
            Node::PullRequest(..) => "PullRequest",
            Node::Ref(..) => "Ref",
            Node::Commit(..) => "Commit",
            Node::Tree(..) => "Tree",
            Node::Blob(..) => "Blob",
            Node::TreeEntry(..) => "TreeEntry",
            Node::GitActor(_) => "GitActor",
            Node::Label(_) => "Label",
            Node::ReviewRequest(_) => "ReviewRequest",
            Node::Review(..) => "PullRequestReview",
            Node::PullRequestCommit(..) => "PullRequestCommit",
            Node::ChangedFile(_) => "PullRequestChangedFile",
            Node::BaseRefChangedEvent(_) => "BaseRefChangedEvent",
            Node::ReviewDismissedEvent(_) => "ReviewDismissedEvent",
            Node::Status(..) => "Status",
            Node::StatusContext(..) => "StatusContext",
            Node::Connection(t, _) => t,
            Node::PageInfo(_) => "PageInfo",
        }
    }

    fn field(
        &mut self,
        node: &Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        match node {
            Node::Query | Node::Mutation => self.root_field(node, field, args),
            Node::Payload(..)
            | Node::MergeQueue(_)
            | Node::MergeQueueConfiguration(_)
            | Node::MergeQueueEntry(_) => self.queue_field(node, field, args),
            Node::Account(_) | Node::Team(_) | Node::Repository(_) => {
                self.owner_field(node, field, args)
            }
            Node::Ref(..)
            | Node::Commit(..)
            | Node::Tree(_)
            | Node::Blob(..)
            | Node::TreeEntry(..)
            | Node::GitActor(_) => self.git_field(node, field, args),
            Node::Status(..) | Node::StatusContext(..) => self.status_field(node, field, args),
            Node::PullRequest(idx, n) => self.pull_field(*idx, *n, field, args),
            _ => self.part_field(node, field),
        }
    }
}

impl Resolver<'_> {
    fn entry_by_id(&self, id: u64) -> Option<EntryView> {
        self.w.repos.iter().enumerate().find_map(|(i, r)| {
            let pos = r.queue.iter().position(|e| e.id == id)?;
            queue::view(self.w, i, pos)
        })
    }

    /// `enqueuePullRequest(input: {pullRequestId, expectedHeadOid, jump, clientMutationId})`
    /// and `dequeuePullRequest(input: {id, clientMutationId})`, as `self.actor`.
    fn mutate(&mut self, field: &str, args: &Map<String, Value>) -> Result<Out<Node>, FieldError> {
        let input = args.get("input").and_then(Value::as_object);
        let get = |k: &str| input.and_then(|i| i.get(k)).and_then(Value::as_str);
        let client_id = get("clientMutationId").map(str::to_string);
        let enqueue = field == "enqueuePullRequest";
        let id = get(if enqueue { "pullRequestId" } else { "id" }).unwrap_or("");
        let (idx, n) = match decode_node_id(id) {
            Some((kind, n)) if kind == "PullRequest" => self
                .w
                .repos
                .iter()
                .enumerate()
                .find_map(|(i, r)| r.pulls.iter().find(|p| p.id == n).map(|p| (i, p.number)))
                .ok_or_else(|| unresolved(id))?,
            _ => return Err(unresolved(id)),
        };
        let result = if enqueue {
            let expected = get("expectedHeadOid");
            let jump = input
                .and_then(|i| i.get("jump"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            queue::enqueue(self.sim, self.w, idx, n, self.actor, expected, jump)
        } else {
            queue::dequeue(self.sim, self.w, idx, n, self.actor)
        };
        let view = result.map_err(|e| FieldError {
            kind: Some(e.kind),
            message: e.message,
        })?;
        let payload = if enqueue {
            "EnqueuePullRequestPayload"
        } else {
            "DequeuePullRequestPayload"
        };
        Ok(Out::Node(Node::Payload(
            payload,
            Some(Box::new(view)),
            client_id,
        )))
    }

    fn pull_field(
        &mut self,
        idx: usize,
        n: u64,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        let r = &self.w.repos[idx];
        let Some(p) = r.pull(n) else {
            return Ok(Out::Null);
        };
        let merged = p.merged_at.is_some();
        match field {
            "id" => leaf(render::node_id("PullRequest", p.id)),
            "isInMergeQueue" => leaf(r.queue.iter().any(|e| e.number == n)),
            "isMergeQueueEnabled" => leaf(protection::requires_queue(
                r,
                &format!("refs/heads/{}", p.base_ref),
            )),
            "mergeQueueEntry" => Ok(r
                .queue
                .iter()
                .position(|e| e.number == n)
                .and_then(|pos| queue::view(self.w, idx, pos))
                .map_or(Out::Null, |v| Out::Node(Node::MergeQueueEntry(Box::new(v))))),
            "number" => leaf(p.number),
            "title" => leaf(p.title.clone()),
            "url" => leaf(format!(
                "{}/{}/pull/{}",
                self.sim.urls.html,
                r.full_name(),
                p.number
            )),
            "state" => leaf(pull_state(p)),
            "isDraft" => leaf(p.draft),
            "merged" => leaf(merged),
            "mergedAt" => opt_leaf(p.merged_at.map(format_chrono)),
            "createdAt" => leaf(format_chrono(p.created_at)),
            "updatedAt" => leaf(format_chrono(p.updated_at)),
            "author" => Ok(if self.w.account(p.user).is_some() {
                Out::Node(Node::Account(p.user))
            } else {
                Out::Null
            }),
            "headRefName" => leaf(p.head_ref.clone()),
            "headRefOid" => leaf(p.head_sha.clone()),
            "baseRefName" => leaf(p.base_ref.clone()),
            // Like REST's `base.sha`: not refreshed when the base branch moves.
            "baseRefOid" => leaf(p.base_sha.clone()),
            // Forks are not simulated: the head lives in the same repository.
            "headRepository" => Ok(Out::Node(Node::Repository(idx))),
            "isCrossRepository" => leaf(false),
            "baseRef" | "headRef" => {
                let name = if field == "baseRef" {
                    &p.base_ref
                } else {
                    &p.head_ref
                };
                let full = format!("refs/heads/{name}");
                let repo = self.repo(idx)?;
                Ok(match repo.refname_to_id(&full) {
                    Ok(oid) => Out::Node(Node::Ref(idx, full, oid)),
                    Err(_) => Out::Null,
                })
            }
            "labels" => {
                let all = p.labels.iter().cloned().map(Node::Label).collect();
                Ok(page("LabelConnection", all, args))
            }
            "reviewRequests" => {
                let mut all: Vec<Node> = p
                    .requested_users
                    .iter()
                    .map(|u| Node::ReviewRequest(Some(Requested::User(*u))))
                    .collect();
                for t in &p.requested_teams {
                    let i = self.w.teams.iter().position(|x| x.id == *t);
                    all.push(Node::ReviewRequest(i.map(Requested::Team)));
                }
                Ok(page("ReviewRequestConnection", all, args))
            }
            "reviews" => {
                let states = states_arg(args);
                let author = args.get("author").and_then(Value::as_str);
                let all = p
                    .reviews
                    .iter()
                    .filter(|rv| {
                        states
                            .as_ref()
                            .is_none_or(|s| s.contains(&rv.state.as_str()))
                    })
                    .filter(|rv| {
                        author.is_none_or(|a| {
                            self.w
                                .account(rv.user)
                                .is_some_and(|acc| acc.login.as_str().eq_ignore_ascii_case(a))
                        })
                    })
                    .map(|rv| Node::Review(idx, n, rv.id))
                    .collect();
                Ok(page("PullRequestReviewConnection", all, args))
            }
            "commits" => {
                let repo = self.repo(idx)?;
                let all = pull_commits(&repo, p)
                    .map_err(|e| internal(e.message))?
                    .into_iter()
                    .map(|c| Node::PullRequestCommit(idx, c))
                    .collect();
                Ok(page("PullRequestCommitConnection", all, args))
            }
            "files" => {
                let repo = self.repo(idx)?;
                let (_, files) = pull_changes(&repo, p).map_err(|e| internal(e.message))?;
                let all = files.into_iter().map(Node::ChangedFile).collect();
                Ok(page("PullRequestChangedFileConnection", all, args))
            }
            "timelineItems" => {
                // Only the item types served; validation refuses any other `itemTypes`, and a
                // whole timeline (no `itemTypes`) would hold items the simulator cannot show.
                let Some(types) = args.get("itemTypes").and_then(Value::as_array) else {
                    return Err(internal(
                        "timelineItems needs itemTypes: [BASE_REF_CHANGED_EVENT, REVIEW_DISMISSED_EVENT]",
                    ));
                };
                let wants = |t: &str| types.iter().any(|x| x.as_str() == Some(t));
                let all = p
                    .events
                    .iter()
                    .filter_map(|e| match e.event.as_str() {
                        "base_ref_changed" if wants("BASE_REF_CHANGED_EVENT") => {
                            Some(Node::BaseRefChangedEvent(e.created_at))
                        }
                        "review_dismissed" if wants("REVIEW_DISMISSED_EVENT") => {
                            Some(Node::ReviewDismissedEvent(e.created_at))
                        }
                        _ => None,
                    })
                    .collect();
                Ok(page("PullRequestTimelineItemsConnection", all, args))
            }
            _ => Err(internal(format!("unserved field {field} on PullRequest"))),
        }
    }
}
