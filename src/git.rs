//! git2 plumbing: reading a repository's origin, fetching a base branch, building a commit
//! from chosen working-tree paths without touching the working tree or the index, and
//! pushing it. (Merge trees, notes and revwalk for the executor and the audit live here too.)

use std::path::{Path, PathBuf};

use git2::{
    Cred, FetchOptions, IndexEntry, IndexTime, Oid, PushOptions, RemoteCallbacks, Repository,
    Signature,
};

use crate::config::Secret;
use crate::types::RepoName;

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
    #[error("cannot fetch {branch} from {url}: {message}")]
    Fetch {
        url: String,
        branch: String,
        message: String,
    },
    #[error("the remote rejected the push of {branch}: {message}")]
    PushRejected { branch: String, message: String },
    #[error("cannot push {branch} to {url}: {message}")]
    Push {
        url: String,
        branch: String,
        message: String,
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

pub fn origin_url(repo: &Repository) -> Result<String, GitError> {
    let remote = repo.find_remote("origin").map_err(|_| GitError::NoOrigin)?;
    remote.url().map(str::to_string).ok_or(GitError::NoOrigin)
}

/// `OWNER/REPO` from a clone URL: the last two path segments, as GitHub's URLs and the
/// simulator's `http://127.0.0.1:PORT/<owner>/<repo>.git` both end.
pub fn repo_name_from_url(url: &str) -> Result<RepoName, GitError> {
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
pub fn callbacks(token: Option<&Secret>) -> RemoteCallbacks<'_> {
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
pub fn fetch_branch(
    repo: &Repository,
    url: &str,
    branch: &str,
    token: Option<&Secret>,
) -> Result<Oid, GitError> {
    let err = |message: String| GitError::Fetch {
        url: url.to_string(),
        branch: branch.to_string(),
        message,
    };
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| err(e.message().to_string()))?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(token));
    let local = format!("refs/prgate/fetch/{branch}");
    remote
        .fetch(
            &[format!("+refs/heads/{branch}:{local}")],
            Some(&mut opts),
            None,
        )
        .map_err(|e| err(e.message().to_string()))?;
    let oid = repo
        .refname_to_id(&local)
        .map_err(|_| err(format!("the remote has no branch {branch}")))?;
    Ok(oid)
}

/// Paths given on the command line, made relative to the working tree's root. A relative
/// path is read from `base` (the `--repo` folder), as `git -C` does.
pub fn repo_relative_paths(
    repo: &Repository,
    base: &Path,
    paths: &[PathBuf],
) -> Result<Vec<String>, GitError> {
    let root = repo.workdir().ok_or_else(|| GitError::NotARepository {
        path: repo.path().display().to_string(),
        message: "a bare repository has no working tree to propose from".into(),
    })?;
    let root = root.canonicalize().map_err(|source| GitError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let cwd = std::env::current_dir().map_err(|source| GitError::Io {
        path: ".".into(),
        source,
    })?;
    let base = if base.is_absolute() {
        base.to_path_buf()
    } else {
        cwd.join(base)
    };
    let mut out = Vec::new();
    for p in paths {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        };
        // The file may be deleted, so canonicalize its parent rather than itself.
        let parent = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| abs.clone());
        let parent = parent.canonicalize().map_err(|_| GitError::NoSuchPath {
            path: p.display().to_string(),
        })?;
        let full = match abs.file_name() {
            Some(name) => parent.join(name),
            None => parent,
        };
        let rel = full
            .strip_prefix(&root)
            .map_err(|_| GitError::OutsideRepository {
                path: p.display().to_string(),
            })?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.is_empty() || rel == ".git" || rel.starts_with(".git/") {
            return Err(GitError::OutsideRepository {
                path: p.display().to_string(),
            });
        }
        out.push(rel);
    }
    Ok(out)
}

/// Builds a tree: `base`'s tree with each of `paths` (files or folders, relative to the
/// working tree's root) taken from the working tree, or removed where the working tree no
/// longer has them. Returns the tree and the paths that differ from `base`.
pub fn tree_with_paths(
    repo: &Repository,
    base: Oid,
    paths: &[String],
) -> Result<(Oid, Vec<String>), GitError> {
    let root = repo
        .workdir()
        .ok_or_else(|| GitError::NotARepository {
            path: repo.path().display().to_string(),
            message: "a bare repository has no working tree".into(),
        })?
        .to_path_buf();
    let base_tree = repo.find_commit(base)?.tree()?;
    let mut index = git2::Index::new()?;
    index.read_tree(&base_tree)?;
    for rel in paths {
        let full = root.join(rel);
        let in_base = base_tree.get_path(Path::new(rel)).is_ok();
        if full.is_dir() {
            // Replace the folder as a whole: files gone from the working tree are removed.
            index.remove_dir(Path::new(rel), 0)?;
            for file in walk_files(&full)? {
                let file_rel =
                    file.strip_prefix(&root)
                        .map_err(|_| GitError::OutsideRepository {
                            path: file.display().to_string(),
                        })?;
                add_file(
                    repo,
                    &mut index,
                    &file,
                    &file_rel.to_string_lossy().replace('\\', "/"),
                )?;
            }
        } else if full.is_file() {
            add_file(repo, &mut index, &full, rel)?;
        } else if in_base {
            let _ = index.remove_path(Path::new(rel));
            let _ = index.remove_dir(Path::new(rel), 0);
        } else {
            return Err(GitError::NoSuchPath { path: rel.clone() });
        }
    }
    let tree = index.write_tree_to(repo)?;
    let new_tree = repo.find_tree(tree)?;
    let diff = repo.diff_tree_to_tree(Some(&base_tree), Some(&new_tree), None)?;
    let mut changed = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file().path(), d.new_file().path()]
            .into_iter()
            .flatten()
        {
            let s = f.to_string_lossy().to_string();
            if !changed.contains(&s) {
                changed.push(s);
            }
        }
    }
    Ok((tree, changed))
}

fn walk_files(dir: &Path) -> Result<Vec<PathBuf>, GitError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| GitError::Io {
            path: d.display().to_string(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| GitError::Io {
                path: d.display().to_string(),
                source,
            })?;
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn add_file(
    repo: &Repository,
    index: &mut git2::Index,
    full: &Path,
    rel: &str,
) -> Result<(), GitError> {
    let data = std::fs::read(full).map_err(|source| GitError::Io {
        path: full.display().to_string(),
        source,
    })?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(full).map_err(|source| GitError::Io {
            path: full.display().to_string(),
            source,
        })?;
        if m.permissions().mode() & 0o111 != 0 {
            0o100755
        } else {
            0o100644
        }
    };
    #[cfg(not(unix))]
    let mode = 0o100644;
    let entry = IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: data.len() as u32,
        // An in-memory index has no repository behind it: write the blob first, then add
        // the entry by id.
        id: repo.blob(&data)?,
        flags: (rel.len().min(0xfff)) as u16,
        flags_extended: 0,
        path: rel.as_bytes().to_vec(),
    };
    index.add(&entry)?;
    Ok(())
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
pub fn push_refspec(
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
                message,
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
