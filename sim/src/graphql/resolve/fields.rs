//! The fields of each group of GraphQL types the simulator serves: the roots, the merge
//! queue, accounts and repositories, git objects, commit statuses, and the parts of a pull
//! request. `Resolver::field` routes a node to its group; the pull request's own fields are
//! `Resolver::pull_field`.

use git2::Oid;
use serde_json::{Map, Value};

use super::super::exec::{FieldError, Out, Resolve};
use super::*;

impl Resolver<'_> {
    /// A field the simulator does not serve on this type: a bug in the simulator or in the
    /// query (the schema check catches the latter first).
    pub(super) fn unserved(&self, node: &Node, field: &str) -> FieldError {
        internal(format!(
            "unserved field {field} on {}",
            self.type_name(node)
        ))
    }

    /// The query and mutation roots.
    pub(super) fn root_field(
        &mut self,
        node: &Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        match (node, field) {
            (Node::Query, "node") => {
                let id = arg(args, "id");
                let (kind, n) = decode_node_id(id).ok_or_else(|| unresolved(id))?;
                match kind.as_str() {
                    "PullRequest" => self
                        .w
                        .repos
                        .iter()
                        .enumerate()
                        .find_map(|(i, r)| {
                            r.pulls
                                .iter()
                                .find(|p| p.id == n)
                                .map(|p| Node::PullRequest(i, p.number))
                        })
                        .map(Out::Node)
                        .ok_or_else(|| unresolved(id)),
                    "MergeQueueEntry" => self
                        .entry_by_id(n)
                        .map(|v| Out::Node(Node::MergeQueueEntry(Box::new(v))))
                        .ok_or_else(|| unresolved(id)),
                    "MergeQueue" => self
                        .w
                        .repos
                        .iter()
                        .position(|r| r.id == n && r.merge_queue)
                        .map(|i| Out::Node(Node::MergeQueue(i)))
                        .ok_or_else(|| unresolved(id)),
                    _ => Err(unresolved(id)),
                }
            }
            (Node::Mutation, "enqueuePullRequest" | "dequeuePullRequest") => {
                self.mutate(field, args)
            }
            (Node::Query, "repository") => {
                let (owner, name) = (arg(args, "owner"), arg(args, "name"));
                match self.w.repo_index(owner, name) {
                    Some(idx) => {
                        // As REST does: a push made past the git server is noticed first.
                        scan::scan_repo(self.sim, self.w, idx, scan::Cause::Unseen);
                        Ok(Out::Node(Node::Repository(idx)))
                    }
                    None => Err(not_found(format!(
                        "Could not resolve to a Repository with the name '{owner}/{name}'."
                    ))),
                }
            }
            (Node::Query, "organization") => {
                let login = arg(args, "login");
                match self.w.account_by_login(login) {
                    Some(a) if a.is_org => Ok(Out::Node(Node::Account(a.id))),
                    _ => Err(not_found(format!(
                        "Could not resolve to an Organization with the login of '{login}'."
                    ))),
                }
            }
            _ => Err(self.unserved(node, field)),
        }
    }

    /// The merge queue, its configuration and entries, and the mutations' payloads.
    pub(super) fn queue_field(
        &mut self,
        node: &Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        match (node, field) {
            (Node::Payload(_, entry, client_id), _) => match field {
                "clientMutationId" => opt_leaf(client_id.clone()),
                "mergeQueueEntry" => Ok(entry
                    .clone()
                    .map_or(Out::Null, |e| Out::Node(Node::MergeQueueEntry(e)))),
                _ => Err(self.unserved(node, field)),
            },
            (Node::MergeQueue(idx), _) => {
                let r = &self.w.repos[*idx];
                match field {
                    "id" => leaf(render::node_id("MergeQueue", r.id)),
                    "url" => leaf(format!(
                        "{}/{}/queue/{}",
                        self.sim.urls.html,
                        r.full_name(),
                        r.default_branch
                    )),
                    "repository" => Ok(Out::Node(Node::Repository(*idx))),
                    "configuration" => Ok(Out::Node(Node::MergeQueueConfiguration(*idx))),
                    "entries" => {
                        let all = (0..r.queue.len())
                            .filter_map(|pos| queue::view(self.w, *idx, pos))
                            .map(|v| Node::MergeQueueEntry(Box::new(v)))
                            .collect();
                        Ok(page("MergeQueueEntryConnection", all, args))
                    }
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::MergeQueueConfiguration(idx), _) => {
                let r = &self.w.repos[*idx];
                match field {
                    // Minutes, as GitHub's configuration says it.
                    "checkResponseTimeout" => {
                        leaf((r.queue_timeout.num_seconds() + 59).max(0) / 60)
                    }
                    // Every entry builds at once, each group merging alone, only when it
                    // passes (see `queue`).
                    "maximumEntriesToBuild" => leaf(100),
                    "maximumEntriesToMerge" | "minimumEntriesToMerge" => leaf(1),
                    "minimumEntriesToMergeWaitTime" => leaf(0),
                    "mergeMethod" => leaf("MERGE"),
                    "mergingStrategy" => leaf("ALLGREEN"),
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::MergeQueueEntry(v), _) => {
                let e = &v.entry;
                match field {
                    "id" => leaf(render::node_id("MergeQueueEntry", e.id)),
                    "baseCommit" | "headCommit" => {
                        let sha = e.group.as_ref().map(|g| {
                            if field == "baseCommit" {
                                g.base_sha.clone()
                            } else {
                                g.head_sha.clone()
                            }
                        });
                        match sha.and_then(|s| Oid::from_str(&s).ok()) {
                            Some(o) => self.object(v.repo, o),
                            None => Ok(Out::Null),
                        }
                    }
                    "enqueuedAt" => leaf(format_chrono(e.enqueued_at)),
                    "enqueuer" => Ok(Out::Node(Node::Account(e.enqueuer))),
                    "jump" => leaf(e.jump),
                    "solo" => leaf(false),
                    "position" => leaf(v.position),
                    "state" => leaf(v.state),
                    "mergeQueue" => Ok(Out::Node(Node::MergeQueue(v.repo))),
                    "pullRequest" => Ok(if self.w.repos[v.repo].pull(e.number).is_some() {
                        Out::Node(Node::PullRequest(v.repo, e.number))
                    } else {
                        Out::Null
                    }),
                    _ => Err(self.unserved(node, field)),
                }
            }
            _ => Err(self.unserved(node, field)),
        }
    }

    /// Accounts, teams and repositories.
    pub(super) fn owner_field(
        &mut self,
        node: &Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        match (node, field) {
            (Node::Account(id), _) => {
                let Some(a) = self.w.account(*id) else {
                    return Ok(Out::Null);
                };
                match field {
                    // GraphQL names a Bot without REST's `[bot]` suffix ("dependabot" where
                    // REST says "dependabot[bot]"; apache/devlake#9085, marcusquinn/aidevops#29778):
                    // only `__typename` tells it from a user of that login.
                    "login" if a.kind == AccountType::Bot => {
                        leaf(a.login.as_str().trim_end_matches("[bot]"))
                    }
                    "login" => leaf(a.login.as_str()),
                    "databaseId" => leaf(a.id.0),
                    "team" => {
                        let slug = arg(args, "slug");
                        let org = a.login.as_str().to_string();
                        // An unknown team is `null`, not an error.
                        Ok(self
                            .w
                            .teams
                            .iter()
                            .position(|t| {
                                t.org.eq_ignore_ascii_case(&org)
                                    && t.slug.eq_ignore_ascii_case(slug)
                            })
                            .map_or(Out::Null, |i| Out::Node(Node::Team(i))))
                    }
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::Team(i), _) => {
                let t = &self.w.teams[*i];
                match field {
                    "slug" => leaf(t.slug.clone()),
                    "name" => leaf(t.slug.clone()),
                    "databaseId" => leaf(t.id),
                    "members" => {
                        // The simulator has no child teams: ALL and IMMEDIATE agree.
                        let members = if arg(args, "membership") == "CHILD_TEAM" {
                            vec![]
                        } else {
                            t.members.iter().map(|id| Node::Account(*id)).collect()
                        };
                        Ok(page("TeamMemberConnection", members, args))
                    }
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::Repository(idx), _) => {
                let r = &self.w.repos[*idx];
                match field {
                    "mergeQueue" => {
                        // "The merge queue for a specified branch, otherwise the default
                        // branch if not provided"; null where no queue is required.
                        let branch = args
                            .get("branch")
                            .and_then(Value::as_str)
                            .unwrap_or(&r.default_branch);
                        Ok(if r.merge_queue && branch == r.default_branch {
                            Out::Node(Node::MergeQueue(*idx))
                        } else {
                            Out::Null
                        })
                    }
                    "nameWithOwner" => leaf(r.full_name()),
                    "databaseId" => leaf(r.id),
                    "url" => leaf(format!("{}/{}", self.sim.urls.html, r.full_name())),
                    "pullRequest" => {
                        let n = args.get("number").and_then(Value::as_u64).unwrap_or(0);
                        match r.pull(n) {
                            Some(_) => Ok(Out::Node(Node::PullRequest(*idx, n))),
                            None => Err(not_found(format!(
                                "Could not resolve to a PullRequest with the number of {n}."
                            ))),
                        }
                    }
                    "pullRequests" => {
                        // In creation order, as GitHub's default `orderBy` (CREATED_AT ASC).
                        let states = states_arg(args);
                        let base = args.get("baseRefName").and_then(Value::as_str);
                        let all = r
                            .pulls
                            .iter()
                            .filter(|p| {
                                states.as_ref().is_none_or(|s| s.contains(&pull_state(p)))
                                    && base.is_none_or(|b| p.base_ref == b)
                            })
                            .map(|p| Node::PullRequest(*idx, p.number))
                            .collect();
                        Ok(page("PullRequestConnection", all, args))
                    }
                    "ref" => {
                        let name = arg(args, "qualifiedName");
                        let full = if name.starts_with("refs/") {
                            name.to_string()
                        } else {
                            format!("refs/heads/{name}")
                        };
                        let repo = self.repo(*idx)?;
                        Ok(match repo.refname_to_id(&full) {
                            Ok(oid) => Out::Node(Node::Ref(*idx, full, oid)),
                            Err(_) => Out::Null,
                        })
                    }
                    "object" => {
                        let repo = self.repo(*idx)?;
                        if let Some(oid) = args.get("oid").and_then(Value::as_str) {
                            return match Oid::from_str(oid) {
                                Ok(o) => self.object(*idx, o),
                                Err(_) => Ok(Out::Null),
                            };
                        }
                        // `REV:PATH` names a path at a revision, as `git rev-parse` does.
                        let Ok(obj) = repo.revparse_single(arg(args, "expression")) else {
                            return Ok(Out::Null);
                        };
                        self.object(*idx, obj.id())
                    }
                    _ => Err(self.unserved(node, field)),
                }
            }
            _ => Err(self.unserved(node, field)),
        }
    }

    /// Git objects and refs.
    pub(super) fn git_field(
        &mut self,
        node: &Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        match (node, field) {
            (Node::Ref(idx, name, oid), _) => match field {
                "name" => leaf(name.rsplit_once('/').map_or(name.as_str(), |(_, n)| n)),
                "prefix" => leaf(
                    name.rsplit_once('/')
                        .map_or(String::new(), |(p, _)| format!("{p}/")),
                ),
                "target" => self.object(*idx, *oid),
                _ => Err(self.unserved(node, field)),
            },
            (Node::Commit(idx, oid), _) => {
                let repo = self.repo(*idx)?;
                match field {
                    "oid" => leaf(oid.to_string()),
                    "message" => {
                        let c = gitstore::commit_info(&repo, *oid).map_err(internal)?;
                        leaf(c.message)
                    }
                    "author" | "committer" => {
                        let c = gitstore::commit_info(&repo, *oid).map_err(internal)?;
                        let p = if field == "author" {
                            c.author
                        } else {
                            c.committer
                        };
                        Ok(Out::Node(Node::GitActor(p)))
                    }
                    "committedDate" => {
                        let c = gitstore::commit_info(&repo, *oid).map_err(internal)?;
                        leaf(c.committer.date)
                    }
                    "history" => {
                        // `git log -- PATH` from this commit, newest first.
                        let path = args.get("path").and_then(Value::as_str);
                        let all = gitstore::history(&repo, *oid, path)
                            .map_err(internal)?
                            .into_iter()
                            .map(|c| Node::Commit(*idx, c))
                            .collect();
                        Ok(page("CommitHistoryConnection", all, args))
                    }
                    "status" => {
                        // Null when no status was ever posted on the commit.
                        let sha = oid.to_string();
                        let any = self.w.repos[*idx].statuses.iter().any(|s| s.sha == sha);
                        Ok(if any {
                            Out::Node(Node::Status(*idx, sha))
                        } else {
                            Out::Null
                        })
                    }
                    "file" => {
                        let path = arg(args, "path").trim_matches('/');
                        let tree = repo
                            .find_commit(*oid)
                            .and_then(|c| c.tree())
                            .map_err(internal)?;
                        Ok(match tree.get_path(std::path::Path::new(path)) {
                            Ok(e) => Out::Node(Node::TreeEntry(*idx, path.to_string(), e.id())),
                            Err(_) => Out::Null,
                        })
                    }
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::Tree(oid), "oid") => leaf(oid.to_string()),
            (Node::Blob(idx, oid), _) => {
                let repo = self.repo(*idx)?;
                let blob = repo.find_blob(*oid).map_err(internal)?;
                let bytes = blob.content();
                let text = std::str::from_utf8(bytes)
                    .ok()
                    .filter(|_| !blob.is_binary());
                match field {
                    "oid" => leaf(oid.to_string()),
                    "byteSize" => leaf(bytes.len()),
                    "isBinary" => leaf(blob.is_binary()),
                    // The simulator gives whole blobs; GitHub may cut long ones
                    // (`isTruncated`), which clients must check.
                    "isTruncated" => leaf(false),
                    "text" => opt_leaf(text.map(str::to_string)),
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::TreeEntry(idx, path, oid), _) => match field {
                "oid" => leaf(oid.to_string()),
                "path" => leaf(path.clone()),
                "name" => leaf(path.rsplit('/').next().unwrap_or(path)),
                "object" => self.object(*idx, *oid),
                _ => Err(self.unserved(node, field)),
            },
            (Node::GitActor(p), _) => match field {
                "email" => leaf(p.email.clone()),
                "name" => leaf(p.name.clone()),
                // `GitActor.user` is a `User`: an email that maps to a bot (or nothing)
                // gives null, where REST's commit `author` names the bot account.
                "user" => Ok(match self.w.account_by_email(&p.email) {
                    Some(a) if !a.is_org && a.kind == AccountType::User => {
                        Out::Node(Node::Account(a.id))
                    }
                    _ => Out::Null,
                }),
                _ => Err(self.unserved(node, field)),
            },
            _ => Err(self.unserved(node, field)),
        }
    }

    /// A commit's statuses: the combined one and each context's latest.
    pub(super) fn status_field(
        &mut self,
        node: &Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Node>, FieldError> {
        match (node, field) {
            (Node::Status(idx, sha), _) => {
                let latest = |context: Option<&str>| {
                    self.w.repos[*idx]
                        .statuses
                        .iter()
                        .filter(|s| s.sha == *sha && context.is_none_or(|c| s.context == c))
                        .max_by_key(|s| (s.created_at, s.id))
                        .map(|s| s.id)
                };
                match field {
                    // The latest status of that context, as the combined status shows it.
                    "context" => Ok(latest(Some(arg(args, "name")))
                        .map_or(Out::Null, |id| Out::Node(Node::StatusContext(*idx, id)))),
                    "state" => {
                        let combined = crate::commit_status::combined_state(self.w, *idx, sha);
                        leaf(combined.to_ascii_uppercase())
                    }
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::StatusContext(idx, id), _) => {
                let Some(s) = self.w.repos[*idx].statuses.iter().find(|s| s.id == *id) else {
                    return Ok(Out::Null);
                };
                match field {
                    "context" => leaf(s.context.clone()),
                    "createdAt" => leaf(format_chrono(s.created_at)),
                    "creator" => Ok(if self.w.account(s.creator).is_some() {
                        Out::Node(Node::Account(s.creator))
                    } else {
                        Out::Null
                    }),
                    "description" => opt_leaf(s.description.clone()),
                    "state" => leaf(s.state.to_ascii_uppercase()),
                    "targetUrl" => opt_leaf(s.target_url.clone()),
                    _ => Err(self.unserved(node, field)),
                }
            }
            _ => Err(self.unserved(node, field)),
        }
    }

    /// The parts of a pull request (labels, reviews, commits, files, events) and pages.
    pub(super) fn part_field(&mut self, node: &Node, field: &str) -> Result<Out<Node>, FieldError> {
        match (node, field) {
            (Node::Label(name), "name") => leaf(name.clone()),
            (Node::ReviewRequest(r), "requestedReviewer") => Ok(match r {
                Some(Requested::User(id)) => Out::Node(Node::Account(*id)),
                Some(Requested::Team(i)) => Out::Node(Node::Team(*i)),
                None => Out::Null,
            }),
            (Node::Review(idx, n, id), _) => {
                let r = &self.w.repos[*idx];
                let Some(rv) = r
                    .pull(*n)
                    .and_then(|p| p.reviews.iter().find(|v| v.id == *id))
                else {
                    return Ok(Out::Null);
                };
                match field {
                    // BigInt is a string in GitHub's JSON.
                    "fullDatabaseId" => leaf(rv.id.to_string()),
                    "state" => leaf(rv.state.clone()),
                    "body" => leaf(rv.body.clone()),
                    "submittedAt" => leaf(format_chrono(rv.submitted_at)),
                    "author" => Ok(if self.w.account(rv.user).is_some() {
                        Out::Node(Node::Account(rv.user))
                    } else {
                        Out::Null
                    }),
                    "commit" => Ok(match Oid::from_str(&rv.commit_id) {
                        Ok(o) => self.object(*idx, o)?,
                        Err(_) => Out::Null,
                    }),
                    _ => Err(self.unserved(node, field)),
                }
            }
            (Node::PullRequestCommit(idx, oid), "commit") => {
                Ok(Out::Node(Node::Commit(*idx, *oid)))
            }
            (Node::ChangedFile(f), _) => match field {
                "path" => leaf(f.filename.clone()),
                // REST's `status` in GraphQL's PatchStatus spelling.
                "changeType" => leaf(match f.status {
                    "added" => "ADDED",
                    "removed" => "DELETED",
                    "renamed" => "RENAMED",
                    "copied" => "COPIED",
                    "changed" => "CHANGED",
                    _ => "MODIFIED",
                }),
                _ => Err(self.unserved(node, field)),
            },
            (Node::BaseRefChangedEvent(at) | Node::ReviewDismissedEvent(at), "createdAt") => {
                leaf(format_chrono(*at))
            }
            (Node::Connection(_, p), _) => match field {
                "nodes" => Ok(Out::List(p.nodes.iter().cloned().map(Out::Node).collect())),
                "totalCount" => leaf(p.total),
                "pageInfo" => Ok(Out::Node(Node::PageInfo(p.info.clone()))),
                _ => Err(self.unserved(node, field)),
            },
            (Node::PageInfo(i), _) => match field {
                "hasNextPage" => leaf(i.has_next),
                "hasPreviousPage" => leaf(i.has_previous),
                "startCursor" => opt_leaf(i.start.map(cursor)),
                "endCursor" => opt_leaf(i.end.map(cursor)),
                _ => Err(self.unserved(node, field)),
            },
            _ => Err(self.unserved(node, field)),
        }
    }
}
