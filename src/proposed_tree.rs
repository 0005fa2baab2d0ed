//! The tree `propose` commits: the base tip's tree with the agent's chosen working-tree paths
//! put in, built in memory (the agent's index and working tree are never touched). Nothing is
//! read through a symbolic link: a link is committed as a link when it stays inside the
//! repository and refused when it leaves, and folders are walked without following links.

use std::path::{Path, PathBuf};

use git2::{IndexEntry, IndexTime, Oid, Repository};

use crate::git::GitError;
use crate::links::{check_link, link_on_the_way};

/// git's modes for the three kinds of entry `propose` writes.
const MODE_FILE: u32 = 0o100644;
const MODE_EXECUTABLE: u32 = 0o100755;
const MODE_LINK: u32 = 0o120000;

/// Paths given on the command line, made relative to the working tree's root. A relative
/// path is read from `base` (the `--repo` folder), as `git -C` does. A path that goes through
/// a symbolic link inside the repository is refused, as `git add` refuses it.
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
        if let Some(link) = link_on_the_way(&root, &abs) {
            return Err(GitError::ThroughLink {
                path: p.display().to_string(),
                link: link
                    .strip_prefix(&root)
                    .unwrap_or(&link)
                    .display()
                    .to_string(),
            });
        }
        // The file may be deleted, so canonicalize its parent rather than itself (which may
        // also be a link, judged later on its own).
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

/// What one working-tree path is, seen without following it.
enum Kind {
    File,
    Folder,
    Link,
}

/// `path`'s kind by `lstat`; `None` when it does not exist.
fn kind_of(path: &Path) -> Result<Option<Kind>, GitError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(GitError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let t = meta.file_type();
    if t.is_symlink() {
        Ok(Some(Kind::Link))
    } else if t.is_dir() {
        Ok(Some(Kind::Folder))
    } else if t.is_file() {
        Ok(Some(Kind::File))
    } else {
        Err(GitError::NotAFile {
            path: path.display().to_string(),
            kind: special_kind(&t),
        })
    }
}

#[cfg(unix)]
fn special_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "named pipe"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "special file"
}

/// Builds a tree: `base`'s tree with each of `paths` (files, folders or links, relative to
/// the working tree's root) taken from the working tree, or removed where the working tree no
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
        let kind = kind_of(&full)?;
        if kind.is_some() {
            // Whatever the path was at the base (a file, a link, a folder) it is replaced as
            // a whole: files gone from a folder in the working tree are removed.
            let _ = index.remove_path(Path::new(rel));
            index.remove_dir(Path::new(rel), 0)?;
        }
        match kind {
            Some(Kind::Link) => add_link(repo, &mut index, &root, rel)?,
            Some(Kind::File) => add_file(repo, &mut index, &full, rel)?,
            Some(Kind::Folder) => {
                for (entry_rel, kind) in walk(&root, rel)? {
                    match kind {
                        Kind::Link => add_link(repo, &mut index, &root, &entry_rel)?,
                        _ => add_file(repo, &mut index, &root.join(&entry_rel), &entry_rel)?,
                    }
                }
            }
            None if in_base => {
                let _ = index.remove_path(Path::new(rel));
                let _ = index.remove_dir(Path::new(rel), 0);
            }
            None => return Err(GitError::NoSuchPath { path: rel.clone() }),
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

/// The files and links under the folder `rel` (relative to `root`), sorted; folders are
/// entered, links never (a link to a folder is an entry like a file), `.git` is skipped.
fn walk(root: &Path, rel: &str) -> Result<Vec<(String, Kind)>, GitError> {
    let mut out = Vec::new();
    let mut stack = vec![rel.to_string()];
    while let Some(dir) = stack.pop() {
        let full = root.join(&dir);
        let io = |source| GitError::Io {
            path: full.display().to_string(),
            source,
        };
        for e in std::fs::read_dir(&full).map_err(io)? {
            let e = e.map_err(io)?;
            if e.file_name() == ".git" {
                continue;
            }
            let entry_rel = format!("{dir}/{}", e.file_name().to_string_lossy());
            // DirEntry::file_type does not follow links.
            match kind_of(&e.path())? {
                Some(Kind::Folder) => stack.push(entry_rel),
                Some(kind) => out.push((entry_rel, kind)),
                None => {} // removed while we walked
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Commits the link at `rel` as git does (mode 120000, the blob is the target's text) once
/// it is known to stay inside the repository.
fn add_link(
    repo: &Repository,
    index: &mut git2::Index,
    root: &Path,
    rel: &str,
) -> Result<(), GitError> {
    let full = root.join(rel);
    let target = std::fs::read_link(&full).map_err(|source| GitError::Io {
        path: full.display().to_string(),
        source,
    })?;
    check_link(root, rel).map_err(|why| GitError::LinkOutside {
        path: rel.to_string(),
        target: target.display().to_string(),
        why: why.to_string(),
    })?;
    add_entry(repo, index, rel, MODE_LINK, &link_text(&target))
}

#[cfg(unix)]
fn link_text(target: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    target.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn link_text(target: &Path) -> Vec<u8> {
    target.to_string_lossy().replace('\\', "/").into_bytes()
}

fn add_file(
    repo: &Repository,
    index: &mut git2::Index,
    full: &Path,
    rel: &str,
) -> Result<(), GitError> {
    let (data, mode) = read_regular_file(full)?;
    add_entry(repo, index, rel, mode, &data)
}

/// Reads a regular file, refusing at open time anything that became a link or a special file
/// since it was looked at (O_NOFOLLOW; O_NONBLOCK so that a pipe cannot hang the open).
#[cfg(unix)]
fn read_regular_file(full: &Path) -> Result<(Vec<u8>, u32), GitError> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| GitError::Io {
        path: full.display().to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(full)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(GitError::NotAFile {
            path: full.display().to_string(),
            kind: special_kind(&meta.file_type()),
        });
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(io)?;
    let mode = if meta.permissions().mode() & 0o111 != 0 {
        MODE_EXECUTABLE
    } else {
        MODE_FILE
    };
    Ok((data, mode))
}

#[cfg(not(unix))]
fn read_regular_file(full: &Path) -> Result<(Vec<u8>, u32), GitError> {
    let data = std::fs::read(full).map_err(|source| GitError::Io {
        path: full.display().to_string(),
        source,
    })?;
    Ok((data, MODE_FILE))
}

fn add_entry(
    repo: &Repository,
    index: &mut git2::Index,
    rel: &str,
    mode: u32,
    data: &[u8],
) -> Result<(), GitError> {
    let entry = IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(data.len()).unwrap_or(u32::MAX),
        // An in-memory index has no repository behind it: write the blob first, then add
        // the entry by id.
        id: repo.blob(data)?,
        flags: (rel.len().min(0xfff)) as u16,
        flags_extended: 0,
        path: rel.as_bytes().to_vec(),
    };
    index.add(&entry)?;
    Ok(())
}
