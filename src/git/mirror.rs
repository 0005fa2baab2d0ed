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

/// Removes the lock files a process killed in the middle of a git write left under `dir` (a
/// ref, `packed-refs`, the config, a notes update): git refuses every later write while one
/// is there, so a `kill -9` during a fetch would stop the executor for good. Called by `serve`
/// at start only: the service owns its data directory (README), so no lock there is live.
pub fn clear_stale_locks(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => clear_stale_locks(&path),
            Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "lock") => {
                tracing::warn!(path = %path.display(), "removing a lock file a killed process left");
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn a_killed_processs_lock_files_are_cleared_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let refs = dir.path().join("acme/infra.git/refs/heads");
        std::fs::create_dir_all(&refs).unwrap();
        std::fs::write(refs.join("main.lock"), "x").unwrap();
        std::fs::write(refs.join("main"), "sha").unwrap();
        std::fs::write(dir.path().join("acme/infra.git/packed-refs.lock"), "").unwrap();
        super::clear_stale_locks(dir.path());
        assert!(!refs.join("main.lock").exists());
        assert!(!dir.path().join("acme/infra.git/packed-refs.lock").exists());
        assert!(refs.join("main").exists());
    }
}
