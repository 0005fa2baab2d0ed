//! The executor's bare mirror of a governed repository, kept in the data directory and fetched
//! before each look at the branch.

use std::path::{Path, PathBuf};

use git2::{FetchOptions, Repository};

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(
        "cannot open or create the mirror at {path}: {source}; remove the directory to start it again"
    )]
    Open { path: PathBuf, source: git2::Error },
    #[error("cannot fetch {url} into the mirror at {path}: {}", .source.message())]
    Fetch {
        url: String,
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
}

/// What the mirror keeps: every branch, the remote's notes (beside prgate's own, see
/// `super::notes::adopt_fetched_notes`), and the PR heads, which a squash merge leaves reachable from
/// no branch once the PR's branch is deleted.
const MIRROR_REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/notes/prgate:refs/prgate/remote-notes/prgate",
    "+refs/pull/*/head:refs/pull/*/head",
];

/// Opens the bare mirror at `dir` (creating it on first use) and fetches `clone_url` into it.
pub fn sync_mirror(
    dir: &Path,
    clone_url: &str,
    token: Option<&Secret>,
) -> Result<Repository, MirrorError> {
    let mirror_err = |source| MirrorError::Open {
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
            .map_err(|e| MirrorError::Fetch {
                url: clone_url.to_string(),
                path: dir.to_path_buf(),
                source: e,
            })?;
    }
    Ok(repo)
}
