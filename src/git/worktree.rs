//! The executor's checkout of a merge commit (from the mirror, see `super::mirror`): for each
//! run, a fresh directory holding exactly the merge commit's tree (no `.git`, no
//! leftovers from an earlier run) beside a git directory of prgate's own that describes it,
//! so that what runs is what was approved, and git in it reads no repository the PR made up.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, build::CheckoutBuilder};

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
    /// A symlink in the tree leads out of the checkout (to `/proc/...`, a device, a key
    /// file): nothing is checked out and nothing runs.
    #[error(
        "symlink {link} leaves the checkout ({why}), so {commit} is not checked out: a checkout holds only what the tree holds"
    )]
    EscapingLink {
        commit: Oid,
        link: String,
        why: String,
    },
    #[error("cannot prepare the git directory {path} for the checkout: {source}")]
    GitDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One run's checkout: the work tree, and the git directory made for it outside the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Holds exactly the commit's tree.
    pub work_tree: PathBuf,
    /// A repository of prgate's own: HEAD detached at the commit, an index matching the work
    /// tree, the mirror's objects (by `objects/info/alternates`) and tags, and a config that
    /// prgate wrote. Executors get it as `GIT_DIR`.
    pub git_dir: PathBuf,
    /// The mirror's object folder that `git_dir` borrows from: a sandboxed run reads it.
    pub objects: PathBuf,
}

impl Checkout {
    /// Removes the work tree and the git directory (best effort: a leftover is cleared by the
    /// next checkout of the same commit, and holds no secret).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.work_tree);
        let _ = std::fs::remove_dir_all(&self.git_dir);
    }
}

/// `$GIT_DIR/info/attributes`, which outranks every `.gitattributes` in the tree: no line-ending
/// conversion, no `ident` expansion, no filter, no working-tree encoding.
const NO_CONVERSION: &str = "* -text -ident -filter -crlf !eol !working-tree-encoding\n";

/// The first symlink of `tree` that leads out of it, with why; `None` when every link stays
/// inside (git stores nothing else that is not a plain file or folder, and submodules are not
/// checked out).
pub(crate) fn escaping_link(
    repo: &Repository,
    tree: Oid,
) -> Result<Option<(String, String)>, git2::Error> {
    let links = crate::git::tree_symlinks(repo, tree)?;
    if links.is_empty() {
        return Ok(None);
    }
    let root = repo.find_tree(tree)?;
    let lookup = crate::git::tree_lookup(repo, &root);
    for (path, _) in &links {
        if let crate::policy::links::Resolved::Outside(why) =
            crate::policy::links::resolve(path, &lookup)
        {
            return Ok(Some((path.clone(), why)));
        }
    }
    Ok(None)
}

/// Where the git directory of a checkout at `dir` lives: beside it, `<dir>.git`. Outside the
/// tree, so that no file of the commit can be or shadow any part of it.
fn git_dir_for(dir: &Path) -> Option<PathBuf> {
    let name = dir.file_name()?;
    let mut git_name = name.to_os_string();
    git_name.push(".git");
    Some(dir.with_file_name(git_name))
}

/// Fills `dir` with exactly `commit`'s tree, removing whatever was there first, and makes the
/// git directory that describes it (see [`Checkout::git_dir`]).
/// File modes (the executable bit) and symlinks are kept; submodules are not checked out.
pub fn checkout_fresh(
    mirror: &Repository,
    commit: Oid,
    dir: &Path,
) -> Result<Checkout, WorktreeError> {
    let unsafe_dir = |why| WorktreeError::UnsafeDir {
        path: dir.to_path_buf(),
        why,
    };
    if dir.parent().is_none() {
        return Err(unsafe_dir("it is a filesystem root"));
    }
    let git_dir = git_dir_for(dir).ok_or(unsafe_dir("it has no final name"))?;
    // Never delete the mirror itself, which a misconfigured data_dir could point at.
    for target in [dir, git_dir.as_path()] {
        if let (Ok(a), Ok(b)) = (target.canonicalize(), mirror.path().canonicalize())
            && (b.starts_with(&a) || a.starts_with(&b))
        {
            return Err(unsafe_dir("it overlaps the git mirror"));
        }
    }
    for target in [dir, git_dir.as_path()] {
        match std::fs::remove_dir_all(target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(WorktreeError::Clear {
                    path: target.to_path_buf(),
                    source,
                });
            }
        }
    }
    let checkout_err = |source| WorktreeError::Checkout {
        commit,
        path: dir.to_path_buf(),
        source,
    };
    // Before anything is written: a link that leaves the tree refuses the whole checkout.
    let tree_id = mirror
        .find_commit(commit)
        .map(|c| c.tree_id())
        .map_err(checkout_err)?;
    if let Some((link, why)) = escaping_link(mirror, tree_id).map_err(checkout_err)? {
        return Err(WorktreeError::EscapingLink { commit, link, why });
    }
    std::fs::create_dir_all(dir).map_err(|source| WorktreeError::Clear {
        path: dir.to_path_buf(),
        source,
    })?;
    let (repo, objects) = run_repository(mirror, dir, &git_dir)?;
    // Read through the run's repository (the mirror's objects, by alternates).
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(checkout_err)?;
    let mut opts = CheckoutBuilder::new();
    // HEAD is still unborn, so everything in the tree is an addition; the index is written
    // with the files' stat data, so `git status` in the run finds the tree clean.
    opts.force().recreate_missing(true);
    repo.checkout_tree(tree.as_object(), Some(&mut opts))
        .map_err(checkout_err)?;
    repo.set_head_detached(commit).map_err(checkout_err)?;
    Ok(Checkout {
        work_tree: dir.to_path_buf(),
        git_dir,
        objects,
    })
}

/// Creates the run's git directory at `git_dir` for the work tree `dir`: it borrows the
/// mirror's objects and tags, and its config is prgate's (`core.worktree` names `dir`).
fn run_repository(
    mirror: &Repository,
    dir: &Path,
    git_dir: &Path,
) -> Result<(Repository, PathBuf), WorktreeError> {
    let io_err = |source| WorktreeError::GitDir {
        path: git_dir.to_path_buf(),
        source,
    };
    let git_err = |e: git2::Error| io_err(std::io::Error::other(e.message().to_string()));
    let work_tree = dir.canonicalize().map_err(io_err)?;
    let objects = mirror
        .path()
        .join("objects")
        .canonicalize()
        .map_err(io_err)?;
    {
        let repo = Repository::init_bare(git_dir).map_err(git_err)?;
        // Byte-exact to the tree: whatever the repository's `.gitattributes` say (eol, ident,
        // filters, encodings), this file outranks them, for the checkout and for git in the run.
        std::fs::create_dir_all(git_dir.join("info")).map_err(io_err)?;
        std::fs::write(git_dir.join("info/attributes"), NO_CONVERSION).map_err(io_err)?;
        let mut config = repo.config().map_err(git_err)?;
        config.set_bool("core.bare", false).map_err(git_err)?;
        let work_tree_text = work_tree
            .to_str()
            .ok_or_else(|| io_err(std::io::Error::other("the work tree's path is not UTF-8")))?;
        config
            .set_str("core.worktree", work_tree_text)
            .map_err(git_err)?;
        // Nor does the gate account's own config turn line-ending conversion on.
        config.set_bool("core.autocrlf", false).map_err(git_err)?;
    }
    let mut alternates = objects.clone().into_os_string().into_encoded_bytes();
    alternates.push(b'\n');
    std::fs::write(git_dir.join("objects/info/alternates"), alternates).map_err(io_err)?;
    let repo = Repository::open(git_dir).map_err(git_err)?;
    // Tags, so that `git describe` names the release a merge belongs to.
    let tags = mirror.references_glob("refs/tags/*").map_err(git_err)?;
    for tag in tags.flatten() {
        if let (Some(name), Some(target)) = (tag.name(), tag.target()) {
            repo.reference(name, target, true, "prgate: tag from the mirror")
                .map_err(git_err)?;
        }
    }
    Ok((repo, objects))
}
