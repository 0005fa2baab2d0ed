//! The executor's view of a governed repository: a bare mirror kept in the data directory and,
//! for each run, a fresh directory holding exactly the merge commit's tree (no `.git`, no
//! leftovers from an earlier run), so that what runs is what was approved and nothing else.

use std::path::{Path, PathBuf};

use git2::{FetchOptions, Oid, Repository, build::CheckoutBuilder};

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error("cannot clear {path} for a fresh checkout: {source}; remove it by hand")]
    Clear {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to use {path} as a worktree: {why}")]
    UnsafeDir { path: PathBuf, why: &'static str },
    #[error("cannot check out {commit} into {path}: {source}")]
    Checkout {
        commit: Oid,
        path: PathBuf,
        source: git2::Error,
    },
    #[error(
        "cannot open or create the mirror at {path}: {source}; remove the directory to start it again"
    )]
    Mirror { path: PathBuf, source: git2::Error },
    #[error("cannot fetch {url} into the mirror at {path}: {message}")]
    Fetch {
        url: String,
        path: PathBuf,
        message: String,
    },
}

/// What the mirror keeps: every branch, the remote's notes (beside prgate's own, see
/// `note::adopt_fetched_notes`), and the PR heads, which a squash merge leaves reachable from
/// no branch once the PR's branch is deleted.
pub const MIRROR_REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/notes/prgate:refs/prgate/remote-notes/prgate",
    "+refs/pull/*/head:refs/pull/*/head",
];

/// Fills `dir` with exactly `commit`'s tree, removing whatever was there first.
/// File modes (the executable bit) and symlinks are kept; submodules are not checked out.
pub fn checkout_fresh(mirror: &Repository, commit: Oid, dir: &Path) -> Result<(), WorktreeError> {
    if dir.parent().is_none() {
        return Err(WorktreeError::UnsafeDir {
            path: dir.to_path_buf(),
            why: "it is a filesystem root",
        });
    }
    // Never delete the mirror itself, which a misconfigured data_dir could point at.
    if let (Ok(a), Ok(b)) = (dir.canonicalize(), mirror.path().canonicalize())
        && (b.starts_with(&a) || a.starts_with(&b))
    {
        return Err(WorktreeError::UnsafeDir {
            path: dir.to_path_buf(),
            why: "it overlaps the git mirror",
        });
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(WorktreeError::Clear {
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| WorktreeError::Clear {
        path: dir.to_path_buf(),
        source,
    })?;
    let checkout = |source| WorktreeError::Checkout {
        commit,
        path: dir.to_path_buf(),
        source,
    };
    let tree = mirror
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(checkout)?;
    let mut opts = CheckoutBuilder::new();
    // A target directory lets a bare mirror check out; the mirror's own index is left alone.
    opts.target_dir(dir)
        .force()
        .recreate_missing(true)
        .update_index(false);
    mirror
        .checkout_tree(tree.as_object(), Some(&mut opts))
        .map_err(checkout)
}

/// Opens the bare mirror at `dir` (creating it on first use) and fetches `clone_url` into it.
pub fn sync_mirror(
    dir: &Path,
    clone_url: &str,
    token: Option<&Secret>,
) -> Result<Repository, WorktreeError> {
    let mirror_err = |source| WorktreeError::Mirror {
        path: dir.to_path_buf(),
        source,
    };
    let repo = match Repository::open_bare(dir) {
        Ok(r) => r,
        Err(_) if !dir.join("HEAD").exists() => Repository::init_bare(dir).map_err(mirror_err)?,
        Err(e) => return Err(mirror_err(e)),
    };
    {
        let mut remote = repo.remote_anonymous(clone_url).map_err(mirror_err)?;
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(crate::git::callbacks(token));
        // Pruning is left off: a deleted PR branch must not take the approved head with it.
        remote
            .fetch(&MIRROR_REFSPECS, Some(&mut opts), None)
            .map_err(|e| WorktreeError::Fetch {
                url: clone_url.to_string(),
                path: dir.to_path_buf(),
                message: e.message().to_string(),
            })?;
    }
    Ok(repo)
}
