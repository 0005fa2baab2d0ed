//! GitHub-shaped JSON for every object the simulator serves or sends in a webhook. Field
//! names and types follow GitHub's REST schemas (checked by `tests/it/sim_openapi.rs`); URLs
//! point into the simulator so that a client following them stays inside it.

use serde_json::{Value, json};

use super::gitstore::{CommitInfo, FileChange, format_chrono};
use super::world::{
    Account, Activity, App, CheckRun, Comment, IssueEvent, Label, Pull, Repo, Review, Status, Team,
    World,
};
use crate::ids::UserId;

/// Where the simulator is reachable. `api` is the REST API's base (the host's root in
/// github.com's shape, `<root>/api/v3` in GitHub Enterprise Server's); `html` is the host's
/// root, where the web pages and git live in both shapes (github.com keeps them on another
/// host than its API; the simulator, like GHES, has one host).
#[derive(Debug, Clone)]
pub struct Urls {
    pub api: String,
    pub html: String,
}

impl Urls {
    pub(crate) fn repo(&self, r: &Repo) -> String {
        format!("{}/repos/{}", self.api, r.full_name())
    }
    pub(crate) fn html_repo(&self, r: &Repo) -> String {
        format!("{}/{}", self.html, r.full_name())
    }
}

pub(crate) fn node_id(kind: &str, id: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{id}"))
}

/// Logins of bots contain `[bot]`, which GitHub percent-encodes in URLs.
fn url_login(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

pub fn user(u: &Urls, a: &Account) -> Value {
    let base = format!("{}/users/{}", u.api, url_login(a.login.as_str()));
    let kind = if a.is_org {
        "Organization"
    } else {
        a.kind.as_str()
    };
    json!({
        "login": a.login.as_str(),
        "id": a.id.0,
        "node_id": node_id(kind, a.id.0),
        "avatar_url": format!("{}/_sim/avatars/{}", u.api, a.id.0),
        "gravatar_id": "",
        "url": base,
        "html_url": format!("{}/{}", u.html, url_login(a.login.as_str())),
        "followers_url": format!("{base}/followers"),
        "following_url": format!("{base}/following{{/other_user}}"),
        "gists_url": format!("{base}/gists{{/gist_id}}"),
        "starred_url": format!("{base}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{base}/subscriptions"),
        "organizations_url": format!("{base}/orgs"),
        "repos_url": format!("{base}/repos"),
        "events_url": format!("{base}/events{{/privacy}}"),
        "received_events_url": format!("{base}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// The user object for an id, or JSON null for an id that is not known (never happens for
/// ids the simulator assigned itself).
pub fn user_id(u: &Urls, w: &World, id: UserId) -> Value {
    w.account(id).map(|a| user(u, a)).unwrap_or(Value::Null)
}

/// The account's public email, as profiles show it: its address when it is one (a bot's
/// no-reply address, `<id>+<slug>[bot]@users.noreply.github.com`, is a commit email but no
/// email address, so a profile shows none, GitHub's `null`).
fn public_email(a: &Account) -> Option<String> {
    a.email.clone().filter(|e| {
        e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        }) && !e.contains(['[', ']', ' ', '(', ')', ',', ';', ':', '<', '>', '"', '\\'])
    })
}

/// `GET /users/{login}`: the public profile.
pub fn public_user(u: &Urls, a: &Account) -> Value {
    let mut v = user(u, a);
    let extra = json!({
        "name": a.login.as_str(), "company": null, "blog": "", "location": null,
        "email": public_email(a), "hireable": null, "bio": null, "twitter_username": null,
        "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
        "created_at": format_chrono(a.created_at), "updated_at": format_chrono(a.created_at),
    });
    merge(&mut v, extra);
    v
}

/// `GET /user`: the authenticated account's own profile, GitHub's `private-user`, told apart
/// from the public one by `user_view_type: private` ("Get the authenticated user",
/// https://docs.github.com/en/rest/users/users#get-the-authenticated-user: tokens with the
/// `user` scope get "private profile information"; the simulator's tokens have every scope).
pub fn private_user(u: &Urls, a: &Account) -> Value {
    let mut v = public_user(u, a);
    let extra = json!({
        "user_view_type": "private",
        "notification_email": public_email(a),
        "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
        "disk_usage": 0, "collaborators": 0, "two_factor_authentication": false,
        "plan": { "name": "free", "space": 976_562_499, "collaborators": 0, "private_repos": 10_000 },
    });
    merge(&mut v, extra);
    v
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, extra) {
        a.extend(b);
    }
}

/// The repository's git URL over smart HTTP, as GitHub's `clone_url`:
/// `http://127.0.0.1:PORT/<owner>/<repo>.git`, on the host's root in both shapes.
pub fn clone_url(u: &Urls, r: &Repo) -> String {
    format!("{}/{}.git", u.html, r.full_name())
}

pub fn repo(u: &Urls, w: &World, r: &Repo) -> Value {
    let api = u.repo(r);
    let owner = user_id(u, w, r.owner);
    let open = r.pulls.iter().filter(|p| p.open).count();
    let mut v = json!({
        "id": r.id,
        "node_id": node_id("Repository", r.id),
        "name": r.name.name(),
        "full_name": r.full_name(),
        "owner": owner,
        "private": true,
        "visibility": "private",
        "html_url": u.html_repo(r),
        "description": null,
        "fork": false,
        "url": api,
        "clone_url": clone_url(u, r),
        "git_url": clone_url(u, r),
        "ssh_url": clone_url(u, r),
        "svn_url": u.html_repo(r),
        "mirror_url": null,
    });
    merge(
        &mut v,
        json!({
            "homepage": null,
            "language": null,
            "default_branch": r.default_branch,
            "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers": 0,
            "watchers_count": 0, "size": 0, "network_count": 0, "subscribers_count": 0,
            "open_issues": open, "open_issues_count": open,
            "has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false,
            "has_downloads": false, "has_discussions": false,
            "archived": false, "disabled": false, "is_template": false,
            "license": null, "topics": [],
            "allow_merge_commit": true, "allow_squash_merge": true, "allow_rebase_merge": true,
            "delete_branch_on_merge": false,
            "pushed_at": format_chrono(r.pushed_at),
            "created_at": format_chrono(r.created_at),
            "updated_at": format_chrono(r.pushed_at),
        }),
    );
    for (key, path) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        v[key] = Value::String(format!("{api}{path}"));
    }
    v
}

fn href(s: String) -> Value {
    json!({ "href": s })
}

/// A PR as `GET /pulls/{n}` returns it. `base_sha` and `mergeable` come from git and are
/// computed by the caller.
pub fn pull(
    u: &Urls,
    w: &World,
    r: &Repo,
    p: &Pull,
    base_sha: &str,
    mergeable: Option<bool>,
) -> Value {
    let api = format!("{}/pulls/{}", u.repo(r), p.number);
    let issue = format!("{}/issues/{}", u.repo(r), p.number);
    let html = format!("{}/pull/{}", u.html_repo(r), p.number);
    let repo_v = repo(u, w, r);
    let owner_v = user_id(u, w, r.owner);
    let owner_login = r.name.owner();
    let state = if p.open { "open" } else { "closed" };
    let mergeable_state = match (p.open, mergeable) {
        (false, _) => "unknown",
        (true, Some(false)) => "dirty",
        (true, None) => "unknown",
        (true, Some(true)) if p.draft => "draft",
        (true, Some(true)) => "clean",
    };
    let mut v = json!({
        "url": api,
        "id": p.id,
        "node_id": node_id("PullRequest", p.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue,
        "commits_url": format!("{api}/commits"),
        "review_comments_url": format!("{api}/comments"),
        "review_comment_url": format!("{}/pulls/comments{{/number}}", u.repo(r)),
        "comments_url": format!("{issue}/comments"),
        "statuses_url": format!("{}/statuses/{}", u.repo(r), p.head_sha),
        "number": p.number,
        "state": state,
        "locked": false,
        "title": p.title,
        "user": user_id(u, w, p.user),
        "body": p.body,
        "labels": r.labels.iter().filter(|l| p.labels.contains(&l.name)).map(|l| label(u, r, l)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": format_chrono(p.created_at),
        "updated_at": format_chrono(p.updated_at),
        "closed_at": p.closed_at.map(format_chrono),
        "merged_at": p.merged_at.map(format_chrono),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": p.requested_users.iter().map(|id| user_id(u, w, *id)).collect::<Vec<_>>(),
        "requested_teams": p.requested_teams.iter().filter_map(|id| w.teams.iter().find(|t| t.id == *id)).map(|t| team(u, t)).collect::<Vec<_>>(),
    });
    merge(
        &mut v,
        json!({
            "head": {
                "label": format!("{owner_login}:{}", p.head_ref),
                "ref": p.head_ref, "sha": p.head_sha, "user": owner_v, "repo": repo_v,
            },
            "base": {
                "label": format!("{owner_login}:{}", p.base_ref),
                "ref": p.base_ref, "sha": base_sha, "user": owner_v, "repo": repo_v,
            },
            "_links": {
                "self": href(api.clone()),
                "html": href(html.clone()),
                "issue": href(issue.clone()),
                "comments": href(format!("{issue}/comments")),
                "review_comments": href(format!("{api}/comments")),
                "review_comment": href(format!("{}/pulls/comments{{/number}}", u.repo(r))),
                "commits": href(format!("{api}/commits")),
                "statuses": href(format!("{}/statuses/{}", u.repo(r), p.head_sha)),
            },
            "author_association": association(r, p.user),
            "auto_merge": null,
            "draft": p.draft,
            "merged": p.merged_at.is_some(),
            "mergeable": if p.open { mergeable.map(Value::Bool).unwrap_or(Value::Null) } else { Value::Null },
            "rebaseable": if p.open { mergeable.map(Value::Bool).unwrap_or(Value::Null) } else { Value::Null },
            "mergeable_state": mergeable_state,
            "merged_by": p.merged_by.map(|id| user_id(u, w, id)).unwrap_or(Value::Null),
            "comments": p.comments.len(),
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": 0,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }),
    );
    v
}

fn association(r: &Repo, user: UserId) -> &'static str {
    if user == r.owner {
        "OWNER"
    } else if r.can_write(user) {
        "COLLABORATOR"
    } else {
        "NONE"
    }
}

pub fn review(u: &Urls, w: &World, r: &Repo, p: &Pull, rv: &Review) -> Value {
    let pr_api = format!("{}/pulls/{}", u.repo(r), p.number);
    let html = format!(
        "{}/pull/{}#pullrequestreview-{}",
        u.html_repo(r),
        p.number,
        rv.id
    );
    json!({
        "id": rv.id,
        "node_id": node_id("PullRequestReview", rv.id),
        "user": user_id(u, w, rv.user),
        "body": rv.body,
        "state": rv.state,
        "commit_id": rv.commit_id,
        "html_url": html,
        "pull_request_url": pr_api,
        "submitted_at": format_chrono(rv.submitted_at),
        "author_association": association(r, rv.user),
        "_links": { "html": href(html.clone()), "pull_request": href(pr_api) },
    })
}

fn git_person(p: &super::gitstore::Person) -> Value {
    json!({ "name": p.name, "email": p.email, "date": p.date })
}

/// A commit as the commits, pulls/{n}/commits and compare endpoints show it; `author` and
/// `committer` at the top level are the accounts whose email matches, or null.
pub fn commit(u: &Urls, w: &World, r: &Repo, c: &CommitInfo) -> Value {
    let api = format!("{}/commits/{}", u.repo(r), c.sha);
    let account = |email: &str| {
        w.account_by_email(email)
            .map(|a| user(u, a))
            .unwrap_or(Value::Null)
    };
    json!({
        "sha": c.sha,
        "node_id": node_id("Commit", u64::from_str_radix(&c.sha[..12.min(c.sha.len())], 16).unwrap_or(0)),
        "url": api,
        "html_url": format!("{}/commit/{}", u.html_repo(r), c.sha),
        "comments_url": format!("{api}/comments"),
        "commit": {
            "url": format!("{}/git/commits/{}", u.repo(r), c.sha),
            "author": git_person(&c.author),
            "committer": git_person(&c.committer),
            "message": c.message.trim_end_matches('\n'),
            "comment_count": 0,
            "tree": { "sha": c.tree, "url": format!("{}/git/trees/{}", u.repo(r), c.tree) },
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
        },
        "author": account(&c.author.email),
        "committer": account(&c.committer.email),
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{}/commits/{p}", u.repo(r)),
            "html_url": format!("{}/commit/{p}", u.html_repo(r)),
        })).collect::<Vec<_>>(),
    })
}

/// A commit as the git data API shows it (`git-commit` in GitHub's OpenAPI description).
pub fn git_commit(u: &Urls, r: &Repo, c: &CommitInfo) -> Value {
    json!({
        "sha": c.sha,
        "node_id": node_id("Commit", u64::from_str_radix(&c.sha[..12.min(c.sha.len())], 16).unwrap_or(0)),
        "url": format!("{}/git/commits/{}", u.repo(r), c.sha),
        "html_url": format!("{}/commit/{}", u.html_repo(r), c.sha),
        "author": git_person(&c.author),
        "committer": git_person(&c.committer),
        "message": c.message,
        "tree": { "sha": c.tree, "url": format!("{}/git/trees/{}", u.repo(r), c.tree) },
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{}/git/commits/{p}", u.repo(r)),
            "html_url": format!("{}/commit/{p}", u.html_repo(r)),
        })).collect::<Vec<_>>(),
        "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
    })
}

pub fn file(u: &Urls, r: &Repo, f: &FileChange, at: &str) -> Value {
    let mut v = json!({
        "sha": f.sha,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": format!("{}/blob/{at}/{}", u.html_repo(r), f.filename),
        "raw_url": format!("{}/raw/{at}/{}", u.html_repo(r), f.filename),
        "contents_url": format!("{}/contents/{}?ref={at}", u.repo(r), f.filename),
    });
    if let Some(p) = &f.patch {
        v["patch"] = Value::String(p.clone());
    }
    if let Some(prev) = &f.previous_filename {
        v["previous_filename"] = Value::String(prev.clone());
    }
    v
}

pub fn status(u: &Urls, w: &World, r: &Repo, s: &Status) -> Value {
    let creator = w.account(s.creator);
    json!({
        "url": format!("{}/statuses/{}", u.repo(r), s.sha),
        "avatar_url": creator.map(|a| format!("{}/_sim/avatars/{}", u.api, a.id.0)),
        "id": s.id,
        "node_id": node_id("StatusContext", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": format_chrono(s.created_at),
        "updated_at": format_chrono(s.created_at),
        "creator": user_id(u, w, s.creator),
    })
}

/// The permissions every simulated app is granted on its installations.
pub fn app_permissions() -> Value {
    json!({
        "checks": "write", "contents": "write", "pull_requests": "write", "statuses": "write",
        "issues": "write", "members": "read", "metadata": "read",
    })
}

/// An app as other objects embed it (`integration`).
pub fn app(u: &Urls, w: &World, a: &App) -> Value {
    // The simulator does not record who registered an app; its first installation's account
    // stands in as the owner (GitHub's `owner` is the account the app belongs to).
    let owner = a
        .installations
        .first()
        .and_then(|(_, acc)| w.account_by_login(acc))
        .or_else(|| w.account(a.bot))
        .map(|o| user(u, o))
        .unwrap_or(Value::Null);
    let at = format_chrono(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    let mut permissions = app_permissions();
    for (k, v) in &a.extra_permissions {
        permissions[k] = json!(v);
    }
    json!({
        "id": a.id,
        "slug": a.slug,
        "node_id": node_id("App", a.id),
        "client_id": format!("Iv1.{:016x}", a.id),
        "owner": owner,
        "name": a.slug,
        "description": null,
        "external_url": format!("{}/apps/{}", u.html, a.slug),
        "html_url": format!("{}/apps/{}", u.html, a.slug),
        "created_at": at,
        "updated_at": at,
        "permissions": permissions,
        "events": a.events,
    })
}

/// A check run, with the open PRs whose head is its commit.
pub fn check_run(u: &Urls, w: &World, r: &Repo, c: &CheckRun) -> Value {
    let url = format!("{}/check-runs/{}", u.repo(r), c.id);
    let repo_min = json!({ "id": r.id, "url": u.repo(r), "name": r.name.name() });
    let pulls: Vec<Value> = r
        .pulls
        .iter()
        .filter(|p| p.open && p.head_sha == c.head_sha)
        .map(|p| {
            json!({
                "id": p.id,
                "number": p.number,
                "url": format!("{}/pulls/{}", u.repo(r), p.number),
                "head": { "ref": p.head_ref, "sha": p.head_sha, "repo": repo_min },
                "base": { "ref": p.base_ref, "sha": p.base_sha, "repo": repo_min },
            })
        })
        .collect();
    let app = w
        .apps
        .iter()
        .find(|a| a.id == c.app)
        .map(|a| app(u, w, a))
        .unwrap_or(Value::Null);
    json!({
        "id": c.id,
        "node_id": node_id("CheckRun", c.id),
        "head_sha": c.head_sha,
        "external_id": c.external_id.clone().unwrap_or_default(),
        "url": url,
        "html_url": format!("{}/runs/{}", u.html_repo(r), c.id),
        // Without one, GitHub shows the app's homepage.
        "details_url": c.details_url.clone().unwrap_or_else(|| format!("{}/apps/{}", u.html, app["slug"].as_str().unwrap_or(""))),
        "status": c.status,
        "conclusion": c.conclusion,
        "started_at": c.started_at.map(format_chrono),
        "completed_at": c.completed_at.map(format_chrono),
        "output": {
            "title": c.title,
            "summary": c.summary,
            "text": c.text,
            "annotations_count": 0,
            "annotations_url": format!("{url}/annotations"),
        },
        "name": c.name,
        "check_suite": { "id": c.suite },
        "app": app,
        "pull_requests": pulls,
    })
}

pub fn comment(u: &Urls, w: &World, r: &Repo, p: &Pull, c: &Comment) -> Value {
    json!({
        "id": c.id,
        "node_id": node_id("IssueComment", c.id),
        "url": format!("{}/issues/comments/{}", u.repo(r), c.id),
        "html_url": format!("{}/pull/{}#issuecomment-{}", u.html_repo(r), p.number, c.id),
        "issue_url": format!("{}/issues/{}", u.repo(r), p.number),
        "body": c.body,
        "user": user_id(u, w, c.user),
        "created_at": format_chrono(c.created_at),
        "updated_at": format_chrono(c.updated_at),
        "author_association": association(r, c.user),
    })
}

pub fn label(u: &Urls, r: &Repo, l: &Label) -> Value {
    json!({
        "id": l.id,
        "node_id": node_id("Label", l.id),
        "url": format!("{}/labels/{}", u.repo(r), l.name),
        "name": l.name,
        "description": null,
        "color": l.color,
        "default": false,
    })
}

pub fn git_ref(u: &Urls, r: &Repo, name: &str, sha: &str, kind: &str) -> Value {
    json!({
        "ref": name,
        "node_id": node_id("Ref", r.id),
        "url": format!("{}/git/{name}", u.repo(r)),
        "object": { "type": kind, "sha": sha, "url": format!("{}/git/{kind}s/{sha}", u.repo(r)) },
    })
}

/// The issue-shaped view of a PR, for the issues endpoints.
pub fn issue(u: &Urls, w: &World, r: &Repo, p: &Pull) -> Value {
    let api = format!("{}/issues/{}", u.repo(r), p.number);
    json!({
        "id": p.id,
        "node_id": node_id("Issue", p.id),
        "url": api,
        "repository_url": u.repo(r),
        "labels_url": format!("{api}/labels{{/name}}"),
        "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"),
        "html_url": format!("{}/pull/{}", u.html_repo(r), p.number),
        "number": p.number,
        "state": if p.open { "open" } else { "closed" },
        "title": p.title,
        "body": p.body,
        "user": user_id(u, w, p.user),
        "labels": r.labels.iter().filter(|l| p.labels.contains(&l.name)).map(|l| label(u, r, l)).collect::<Vec<_>>(),
        "assignee": null, "assignees": [], "milestone": null, "locked": false,
        "comments": p.comments.len(),
        "pull_request": { "url": format!("{}/pulls/{}", u.repo(r), p.number), "html_url": format!("{}/pull/{}", u.html_repo(r), p.number), "diff_url": null, "patch_url": null },
        "closed_at": p.closed_at.map(format_chrono),
        "created_at": format_chrono(p.created_at),
        "updated_at": format_chrono(p.updated_at),
        "author_association": association(r, p.user),
    })
}

/// A team as GitHub's `team` schema shows it (in requested reviewers).
pub fn team(u: &Urls, t: &Team) -> Value {
    let url = format!("{}/orgs/{}/teams/{}", u.api, t.org, t.slug);
    json!({
        "id": t.id,
        "node_id": node_id("Team", t.id),
        "url": url,
        "html_url": format!("{}/orgs/{}/teams/{}", u.html, t.org, t.slug),
        "name": t.slug,
        "slug": t.slug,
        "description": null,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{url}/members{{/member}}"),
        "repositories_url": format!("{url}/repos"),
        "parent": null,
    })
}

/// One issue event (`GET /repos/{o}/{r}/issues/{n}/events`).
pub fn issue_event(u: &Urls, w: &World, r: &Repo, e: &IssueEvent) -> Value {
    let mut v = json!({
        "id": e.id,
        "node_id": node_id("IssueEvent", e.id),
        "url": format!("{}/issues/events/{}", u.repo(r), e.id),
        "actor": user_id(u, w, e.actor),
        "event": e.event,
        "commit_id": null,
        "commit_url": null,
        "created_at": format_chrono(e.created_at),
        "performed_via_github_app": null,
    });
    if let Some((review_id, state, message)) = &e.dismissed_review {
        v["dismissed_review"] = json!({
            "state": state,
            "review_id": review_id,
            "dismissal_message": message,
            "dismissal_commit_id": null,
        });
    }
    if let Some(id) = e.requested_user {
        v["requested_reviewer"] = user_id(u, w, id);
        v["review_requester"] = user_id(u, w, e.actor);
    }
    if let Some(t) = e
        .requested_team
        .and_then(|id| w.teams.iter().find(|t| t.id == id))
    {
        v["requested_team"] = team(u, t);
        v["review_requester"] = user_id(u, w, e.actor);
    }
    v
}

/// One entry of `GET /repos/{owner}/{repo}/activity` (GitHub's `activity` schema).
pub fn activity(u: &Urls, w: &World, a: &Activity) -> Value {
    json!({
        "id": a.id,
        "node_id": node_id("Activity", a.id),
        "before": a.before,
        "after": a.after,
        "ref": a.refname,
        "timestamp": format_chrono(a.timestamp),
        "activity_type": a.kind,
        "actor": a.actor.map(|id| user_id(u, w, id)).unwrap_or(Value::Null),
    })
}
