//! Git operations on the simulator's bare repositories, through git2. Every function opens
//! the repository itself because `git2::Repository` is not `Sync`; the cost is negligible
//! next to the HTTP round trip.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use git2::{Delta, DiffFindOptions, Oid, Repository, Signature, Sort};

pub type GitResult<T> = Result<T, git2::Error>;

pub fn init_bare(path: &Path, default_branch: &str) -> GitResult<()> {
    if path.join("HEAD").exists() {
        return Ok(());
    }
    let repo = Repository::init_bare(path)?;
    repo.set_head(&format!("refs/heads/{default_branch}"))?;
    Ok(())
}

pub fn open(path: &Path) -> GitResult<Repository> {
    Repository::open_bare(path)
}

/// All direct refs with the object they point at; symbolic refs (HEAD) are skipped.
pub fn list_refs(repo: &Repository) -> GitResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for r in repo.references()? {
        let r = r?;
        if let (Some(name), Some(target)) = (r.name(), r.target()) {
            out.insert(name.to_string(), target.to_string());
        }
    }
    Ok(out)
}

/// Resolves what GitHub accepts as a `ref` parameter: a full sha, a branch, a tag or a full
/// ref name, to a commit.
pub fn resolve_commit(repo: &Repository, spec: &str) -> Option<Oid> {
    if spec.len() == 40
        && let Ok(oid) = Oid::from_str(spec)
    {
        return repo.find_commit(oid).ok().map(|c| c.id());
    }
    for candidate in [
        format!("refs/heads/{spec}"),
        format!("refs/tags/{spec}"),
        spec.to_string(),
    ] {
        if let Ok(r) = repo.find_reference(&candidate)
            && let Ok(c) = r.peel_to_commit()
        {
            return Some(c.id());
        }
    }
    if spec.len() >= 7 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return repo
            .revparse_single(spec)
            .ok()
            .and_then(|o| o.peel_to_commit().ok())
            .map(|c| c.id());
    }
    None
}

pub fn branch_tip(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
}

#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub email: String,
    pub date: String,
}

#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author: Person,
    pub committer: Person,
    pub message: String,
}

pub fn format_time(t: git2::Time) -> String {
    Utc.timestamp_opt(t.seconds(), 0)
        .single()
        .unwrap_or_else(Utc::now)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn format_chrono(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn person(s: &Signature<'_>) -> Person {
    Person {
        name: String::from_utf8_lossy(s.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(s.email_bytes()).into_owned(),
        date: format_time(s.when()),
    }
}

pub fn commit_info(repo: &Repository, oid: Oid) -> GitResult<CommitInfo> {
    let c = repo.find_commit(oid)?;
    Ok(CommitInfo {
        sha: c.id().to_string(),
        tree: c.tree_id().to_string(),
        parents: c.parent_ids().map(|p| p.to_string()).collect(),
        author: person(&c.author()),
        committer: person(&c.committer()),
        message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
    })
}

/// Commits reachable from `head` but not from `base`, oldest first, as GitHub lists a PR's
/// commits.
pub fn range(repo: &Repository, base: Option<Oid>, head: Oid) -> GitResult<Vec<Oid>> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(head)?;
    if let Some(b) = base {
        walk.hide(b)?;
    }
    walk.collect()
}

/// Commits reachable from `head`, newest first; with `path`, only those that changed it: whose
/// blob (or tree) at `path` differs from every parent's, as `git log -- PATH` keeps a commit
/// (a merge that took the path unchanged from one parent is left out).
pub fn history(repo: &Repository, head: Oid, path: Option<&str>) -> GitResult<Vec<Oid>> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push(head)?;
    let entry = |c: &git2::Commit<'_>, p: &str| -> Option<Oid> {
        c.tree().ok()?.get_path(Path::new(p)).ok().map(|e| e.id())
    };
    let mut out = Vec::new();
    for oid in walk {
        let oid = oid?;
        let Some(p) = path else {
            out.push(oid);
            continue;
        };
        let c = repo.find_commit(oid)?;
        let here = entry(&c, p);
        let changed = if c.parent_count() == 0 {
            here.is_some()
        } else {
            c.parents().all(|parent| entry(&parent, p) != here)
        };
        if changed {
            out.push(oid);
        }
    }
    Ok(out)
}

pub fn merge_base(repo: &Repository, a: Oid, b: Oid) -> Option<Oid> {
    repo.merge_base(a, b).ok()
}

#[derive(Debug, Clone)]
pub struct FileChange {
    pub filename: String,
    pub previous_filename: Option<String>,
    pub status: &'static str,
    pub sha: Option<String>,
    pub additions: usize,
    pub deletions: usize,
    pub patch: Option<String>,
}

/// The files changed from `from` (a commit, or nothing for a root commit) to `to`, with
/// renames detected as GitHub does.
pub fn diff_files(repo: &Repository, from: Option<Oid>, to: Oid) -> GitResult<Vec<FileChange>> {
    let new_tree = repo.find_commit(to)?.tree()?;
    let old_tree = match from {
        Some(f) => Some(repo.find_commit(f)?.tree()?),
        None => None,
    };
    let mut diff = repo.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), None)?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    let mut out = Vec::new();
    for i in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(i) else {
            continue;
        };
        let status = match delta.status() {
            Delta::Added => "added",
            Delta::Deleted => "removed",
            Delta::Renamed => "renamed",
            Delta::Copied => "copied",
            Delta::Unmodified => "unchanged",
            _ => "modified",
        };
        let path = |f: git2::DiffFile<'_>| f.path().map(|p| p.to_string_lossy().into_owned());
        let new_path = path(delta.new_file());
        let old_path = path(delta.old_file());
        let filename = new_path.clone().or(old_path.clone()).unwrap_or_default();
        let sha = if status == "removed" {
            delta.old_file().id()
        } else {
            delta.new_file().id()
        };
        let (mut additions, mut deletions, mut patch) = (0, 0, None);
        if let Ok(Some(mut p)) = git2::Patch::from_diff(&diff, i) {
            if let Ok((_, a, d)) = p.line_stats() {
                additions = a;
                deletions = d;
            }
            // GitHub's `patch` is the hunks without the file header lines.
            if let Ok(buf) = p.to_buf() {
                let text = String::from_utf8_lossy(&buf);
                let hunks: String = match text.find("\n@@") {
                    Some(at) => text[at + 1..].to_string(),
                    None => String::new(),
                };
                if !hunks.is_empty() {
                    patch = Some(hunks.trim_end_matches('\n').to_string());
                }
            }
        }
        out.push(FileChange {
            filename,
            previous_filename: if status == "renamed" { old_path } else { None },
            status,
            sha: if sha.is_zero() {
                None
            } else {
                Some(sha.to_string())
            },
            additions,
            deletions,
            patch,
        });
    }
    Ok(out)
}

/// A file's blob at a commit: (blob sha, contents). `None` when the path is not a file there.
pub fn read_file(
    repo: &Repository,
    commit: Oid,
    path: &str,
) -> GitResult<Option<(String, Vec<u8>)>> {
    let tree = repo.find_commit(commit)?.tree()?;
    let entry = match tree.get_path(Path::new(path)) {
        Ok(e) => e,
        Err(_) => return Ok(None),
    };
    if entry.kind() != Some(git2::ObjectType::Blob) {
        return Ok(None);
    }
    let blob = repo.find_blob(entry.id())?;
    Ok(Some((entry.id().to_string(), blob.content().to_vec())))
}

/// Whether `head` merges cleanly into `base`.
pub fn mergeable(repo: &Repository, base: Oid, head: Oid) -> GitResult<bool> {
    let ours = repo.find_commit(base)?;
    let theirs = repo.find_commit(head)?;
    Ok(!repo.merge_commits(&ours, &theirs, None)?.has_conflicts())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

#[derive(Debug)]
pub enum MergeError {
    Conflict,
    Git(git2::Error),
}

impl From<git2::Error> for MergeError {
    fn from(e: git2::Error) -> Self {
        MergeError::Git(e)
    }
}

/// Creates the commit(s) a merge makes and returns the new base tip. The base ref itself is
/// moved by the caller, compare-and-swap, so that a concurrent push is not lost.
pub fn merge_commit(
    repo: &Repository,
    base: Oid,
    head: Oid,
    method: MergeMethod,
    message: &str,
    who: &Signature<'_>,
) -> Result<Oid, MergeError> {
    let base_c = repo.find_commit(base)?;
    let head_c = repo.find_commit(head)?;
    match method {
        MergeMethod::Merge | MergeMethod::Squash => {
            let mut index = repo.merge_commits(&base_c, &head_c, None)?;
            if index.has_conflicts() {
                return Err(MergeError::Conflict);
            }
            let tree = repo.find_tree(index.write_tree_to(repo)?)?;
            let parents: Vec<&git2::Commit<'_>> = if method == MergeMethod::Merge {
                vec![&base_c, &head_c]
            } else {
                vec![&base_c]
            };
            Ok(repo.commit(None, who, who, message, &tree, &parents)?)
        }
        MergeMethod::Rebase => {
            let mb = merge_base(repo, base, head);
            let mut tip = base_c;
            for oid in range(repo, mb, head)? {
                let c = repo.find_commit(oid)?;
                let mut index = repo.cherrypick_commit(&c, &tip, 0, None)?;
                if index.has_conflicts() {
                    return Err(MergeError::Conflict);
                }
                let tree = repo.find_tree(index.write_tree_to(repo)?)?;
                let msg = String::from_utf8_lossy(c.message_bytes()).into_owned();
                let new = repo.commit(None, &c.author(), who, &msg, &tree, &[&tip])?;
                tip = repo.find_commit(new)?;
            }
            Ok(tip.id())
        }
    }
}
