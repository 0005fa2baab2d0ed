//! git2 plumbing. Here: opening a repository, reading its origin, fetching a base branch,
//! writing a commit and pushing it (the tree comes from `proposed_tree`). The rest, a module
//! per concern: the executor's mirror and fresh checkouts (`worktree`), the history walk
//! (`history`, `commit_graph`) and reading, writing and pushing notes (`notes`).

use std::path::Path;

use git2::{Cred, FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository, Signature};

use crate::config::Secret;
use crate::types::RepoName;

pub(crate) mod commit_graph;
pub(crate) mod history;
pub mod mirror;
pub mod notes;
mod tree_links;
pub mod worktree;
pub use tree_links::{resolved_links, tree_lookup, tree_symlinks};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not inside a git repository: {message}")]
    NotARepository { path: String, message: String },
    #[error(
        "the repository has no `origin` remote; pass --remote-repo OWNER/REPO and add an origin to push to"
    )]
    NoOrigin,
    #[error("cannot tell OWNER/REPO from the origin URL {url:?}; pass --remote-repo OWNER/REPO")]
    UnknownOrigin { url: String },
    #[error("{path}: no such file in the working tree nor at the base commit")]
    NoSuchPath { path: String },
    #[error("{path} is outside the repository's working tree")]
    OutsideRepository { path: String },
    #[error(
        "{path} goes through the symbolic link {link}; prgate never reads through links: name the path the link leads to instead (nothing was committed or pushed)"
    )]
    ThroughLink { path: String, link: String },
    #[error(
        "{path} is a symbolic link to {target}, which {why}; prgate never commits what lies outside the repository: replace the link with a copy of what it should hold, or leave {path} out (nothing was committed or pushed)"
    )]
    LinkOutside {
        path: String,
        target: String,
        why: String,
    },
    #[error(
        "{path} is neither a file, a folder nor a symbolic link (a {kind}); git cannot hold it: leave it out (nothing was committed or pushed)"
    )]
    NotAFile { path: String, kind: &'static str },
    // git2's own Display appends "; class=…; code=…", which tells a person nothing.
    #[error("cannot fetch {branch} from {url}: {}", .source.message())]
    Fetch {
        url: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    #[error("the remote rejected the push of {branch}: {message}")]
    PushRejected { branch: String, message: String },
    #[error("cannot fetch {branch} from {url}: the remote has no branch {branch}")]
    NoSuchBranch { url: String, branch: String },
    #[error("cannot push {branch} to {url}: {}", .source.message())]
    Push {
        url: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub fn open(path: &Path) -> Result<Repository, GitError> {
    Repository::discover(path).map_err(|e| GitError::NotARepository {
        path: path.display().to_string(),
        message: e.message().to_string(),
    })
}

pub(crate) fn origin_url(repo: &Repository) -> Result<String, GitError> {
    let remote = repo.find_remote("origin").map_err(|_| GitError::NoOrigin)?;
    remote.url().map(str::to_string).ok_or(GitError::NoOrigin)
}

/// `OWNER/REPO` from a clone URL: the last two path segments, as GitHub's URLs and the
/// simulator's `http://127.0.0.1:PORT/<owner>/<repo>.git` both end.
pub(crate) fn repo_name_from_url(url: &str) -> Result<RepoName, GitError> {
    let unknown = || GitError::UnknownOrigin {
        url: url.to_string(),
    };
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    // scp-like `git@github.com:owner/repo`
    let path = trimmed
        .rsplit_once(':')
        .filter(|(h, _)| !h.contains('/'))
        .map(|(_, p)| p)
        .unwrap_or(trimmed);
    let mut parts = path.rsplit('/');
    let name = parts.next().ok_or_else(unknown)?;
    let owner = parts.next().ok_or_else(unknown)?;
    RepoName::new(owner, name).map_err(|_| unknown())
}

/// Credentials for an https remote: the token as the password, never on the command line
/// nor in a URL. Shared by propose's push and the executor's mirror and notes push.
pub(crate) fn callbacks(token: Option<&Secret>) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_url, _user, _allowed| match token {
        // GitHub takes any user name with a token as the password over https.
        Some(t) => Cred::userpass_plaintext("x-access-token", t.expose()),
        None => Err(git2::Error::from_str("no token available for this remote")),
    });
    cb
}

/// Clones `url` into `dir`, authenticating with `token` as [`callbacks`] does.
pub fn clone(url: &str, dir: &Path, token: Option<&Secret>) -> Result<Repository, git2::Error> {
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(token));
    git2::build::RepoBuilder::new()
        .fetch_options(opts)
        .clone(url, dir)
}

/// Fetches `branch` from `url` into `refs/prgate/fetch/<branch>` and returns its tip.
/// The working tree, the index and the user's own refs are left alone.
pub(crate) fn fetch_branch(
    repo: &Repository,
    url: &str,
    branch: &str,
    token: Option<&Secret>,
) -> Result<Oid, GitError> {
    let err = |source: git2::Error| GitError::Fetch {
        url: url.to_string(),
        branch: branch.to_string(),
        source,
    };
    let mut remote = repo.remote_anonymous(url).map_err(err)?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(token));
    let local = format!("refs/prgate/fetch/{branch}");
    remote
        .fetch(
            &[format!("+refs/heads/{branch}:{local}")],
            Some(&mut opts),
            None,
        )
        .map_err(err)?;
    let oid = repo
        .refname_to_id(&local)
        .map_err(|_| GitError::NoSuchBranch {
            url: url.to_string(),
            branch: branch.to_string(),
        })?;
    Ok(oid)
}

/// Writes a commit object (no ref is moved).
pub fn commit_tree(
    repo: &Repository,
    tree: Oid,
    parent: Oid,
    author: &Signature<'_>,
    message: &str,
) -> Result<Oid, GitError> {
    let tree = repo.find_tree(tree)?;
    let parent = repo.find_commit(parent)?;
    Ok(repo.commit(None, author, author, message, &tree, &[&parent])?)
}

/// Pushes one refspec to `url`. `Ok(Some(message))` when the remote refused the update (the
/// transport worked, the ref did not move); `Err` when the push itself failed.
fn push_refspec(
    repo: &Repository,
    url: &str,
    refspec: &str,
    token: Option<&Secret>,
) -> Result<Option<String>, git2::Error> {
    let mut remote = repo.remote_anonymous(url)?;
    let mut rejection: Option<String> = None;
    let result = {
        let mut cb = callbacks(token);
        cb.push_update_reference(|_r, status| {
            if let Some(msg) = status {
                rejection = Some(msg.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        remote.push(&[refspec], Some(&mut opts))
    };
    result.map(|()| rejection)
}

/// Pushes `commit` to `refs/heads/<branch>` on `url` (forced: a re-proposal replaces the
/// branch). A rejection by the remote is reported as [`GitError::PushRejected`].
pub fn push(
    repo: &Repository,
    url: &str,
    commit: Oid,
    branch: &str,
    token: Option<&Secret>,
) -> Result<(), GitError> {
    let refname = format!("refs/prgate/push/{branch}");
    repo.reference(&refname, commit, true, "prgate propose")?;
    let result = push_refspec(repo, url, &format!("+{refname}:refs/heads/{branch}"), token);
    let _ = repo.find_reference(&refname).and_then(|mut r| r.delete());
    let result = match result {
        Ok(None) => Ok(()),
        Ok(Some(message)) => {
            return Err(GitError::PushRejected {
                branch: branch.into(),
                message,
            });
        }
        Err(e) => Err(e),
    };
    result.map_err(|e| {
        let message = e.message().to_string();
        if matches!(e.code(), git2::ErrorCode::Auth)
            || message.contains("403")
            || message.contains("401")
        {
            GitError::PushRejected {
                branch: branch.into(),
                message,
            }
        } else {
            GitError::Push {
                url: url.into(),
                branch: branch.into(),
                source: e,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_come_from_clone_urls() {
        for (url, want) in [
            ("https://github.com/acme/infra.git", "acme/infra"),
            ("https://github.com/acme/infra", "acme/infra"),
            ("git@github.com:acme/infra.git", "acme/infra"),
            ("file:///tmp/sim/acme/infra.git", "acme/infra"),
            ("http://127.0.0.1:9000/acme/infra.git", "acme/infra"),
            ("https://ghe.example.com/acme/infra.git/", "acme/infra"),
        ] {
            assert_eq!(repo_name_from_url(url).unwrap().to_string(), want, "{url}");
        }
        assert!(repo_name_from_url("infra").is_err());
    }
}
