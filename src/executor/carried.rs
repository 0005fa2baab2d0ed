//! Step 4 of post-merge verification: no unapproved content rides along. The governed content
//! a merge runs with must itself have been approved: in the merge's first parent it equals
//! that content as of the last commit on the branch that carries a valid record for it (or as
//! it stood when the policy first governed the branch). A direct push, an admin merge or any
//! refused commit that changed it since then makes the merge refuse, until a revert (in an
//! approved PR) restores equality.

use git2::{Oid, Repository, Tree};

use super::history::policy_blob_at;

/// How far back along the first-parent line the walk looks for the last approved state; a
/// branch whose governed content was last approved further back is refused, never guessed.
pub const MAX_WALK: usize = 20_000;

/// What the walk found on the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// The governed content in the first parent is the approved one.
    Approved,
    /// `since` is the first commit after the last approved state that changed governed
    /// content without a valid record; `paths` are the governed paths that still differ.
    Unapproved { since: Oid, paths: Vec<String> },
    /// `commit` changed governed content and carries prgate's trailers but has no record yet:
    /// its own verification has not run, so this one must wait for it.
    Pending { commit: Oid },
    /// The last approved state lies more than [`MAX_WALK`] commits back.
    TooDeep,
}

/// Walks first parents from `parent` (the merge's first parent) back to the last commit that
/// changed governed content with a valid record (`has_valid_record`), or to the commit that
/// brought the policy, and compares the governed content there with `parent`'s.
/// `governs(path)` says whether a path is governed content; `awaiting_record(commit)` whether
/// a commit claims to be a prgate merge (trailers) and has no record at all yet.
pub fn check_carried(
    repo: &Repository,
    parent: Oid,
    governs: &dyn Fn(&str) -> bool,
    has_valid_record: &dyn Fn(Oid) -> bool,
    awaiting_record: &dyn Fn(Oid) -> bool,
) -> Result<Carried, git2::Error> {
    let mut offenders: Vec<Oid> = Vec::new();
    let mut cursor = Some(parent);
    let mut baseline = None;
    let mut walked = 0usize;
    while let Some(c) = cursor {
        walked += 1;
        if walked > MAX_WALK {
            return Ok(Carried::TooDeep);
        }
        let commit = repo.find_commit(c)?;
        let first_parent = commit.parent_id(0).ok();
        // The commit that brought the policy: what it holds is where governance starts.
        let governed_before = match first_parent {
            Some(p) => policy_blob_at(repo, p)?.is_some(),
            None => false,
        };
        if !governed_before {
            baseline = Some(c);
            break;
        }
        let touched = governed_changes(repo, first_parent, c, governs)?;
        if !touched.is_empty() {
            if has_valid_record(c) {
                baseline = Some(c);
                break;
            }
            offenders.push(c);
        }
        cursor = first_parent;
    }
    let Some(baseline) = baseline else {
        return Ok(Carried::Approved);
    };
    if offenders.is_empty() {
        return Ok(Carried::Approved);
    }
    // A revert restores equality: what counts is the content, not the history.
    let differing = governed_diff(
        repo,
        &repo.find_commit(baseline)?.tree()?,
        &repo.find_commit(parent)?.tree()?,
        governs,
    )?;
    if differing.is_empty() {
        return Ok(Carried::Approved);
    }
    // offenders are newest first; the first one after the approved state is the last.
    let earliest = offenders[offenders.len() - 1];
    if let Some(p) = offenders.iter().rev().find(|&&o| awaiting_record(o)) {
        return Ok(Carried::Pending { commit: *p });
    }
    Ok(Carried::Unapproved {
        since: earliest,
        paths: differing,
    })
}

/// Governed paths that `commit` changed against `first_parent`.
fn governed_changes(
    repo: &Repository,
    first_parent: Option<Oid>,
    commit: Oid,
    governs: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, git2::Error> {
    let new = repo.find_commit(commit)?.tree()?;
    let old = match first_parent {
        Some(p) => Some(repo.find_commit(p)?.tree()?),
        None => None,
    };
    paths_between(repo, old.as_ref(), &new, governs)
}

fn governed_diff(
    repo: &Repository,
    old: &Tree<'_>,
    new: &Tree<'_>,
    governs: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, git2::Error> {
    paths_between(repo, Some(old), new, governs)
}

fn paths_between(
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
    governs: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, git2::Error> {
    let diff = repo.diff_tree_to_tree(old, Some(new), None)?;
    let mut out: Vec<String> = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file().path(), d.new_file().path()]
            .into_iter()
            .flatten()
        {
            let s = f.to_string_lossy().to_string();
            if governs(&s) && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::POLICY_PATH;

    /// A repository whose commits each write some files on top of the previous one.
    struct Repo {
        _dir: tempfile::TempDir,
        git: Repository,
        tip: Option<Oid>,
    }

    impl Repo {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let git = Repository::init_bare(dir.path()).expect("init");
            Repo {
                _dir: dir,
                git,
                tip: None,
            }
        }

        fn commit(&mut self, files: &[(&str, &str)]) -> Oid {
            let mut index = git2::Index::new().expect("index");
            if let Some(tip) = self.tip {
                let tree = self.git.find_commit(tip).unwrap().tree().unwrap();
                index.read_tree(&tree).unwrap();
            }
            for (path, text) in files {
                let blob = self.git.blob(text.as_bytes()).unwrap();
                let entry = git2::IndexEntry {
                    ctime: git2::IndexTime::new(0, 0),
                    mtime: git2::IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: 0o100644,
                    uid: 0,
                    gid: 0,
                    file_size: text.len() as u32,
                    id: blob,
                    flags: 0,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                };
                index.add(&entry).unwrap();
            }
            let tree_id = index.write_tree_to(&self.git).unwrap();
            let tree = self.git.find_tree(tree_id).unwrap();
            let sig = git2::Signature::now("t", "t@example.com").unwrap();
            let parents: Vec<git2::Commit<'_>> = self
                .tip
                .map(|t| self.git.find_commit(t).unwrap())
                .into_iter()
                .collect();
            let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
            let id = self
                .git
                .commit(None, &sig, &sig, "c", &tree, &refs)
                .unwrap();
            self.tip = Some(id);
            id
        }

        fn check(&self, valid: &[Oid], awaiting: &[Oid]) -> Carried {
            let governs = |p: &str| p.starts_with("firewall/");
            let has_valid = |c: Oid| valid.contains(&c);
            let waits = |c: Oid| awaiting.contains(&c);
            check_carried(&self.git, self.tip.unwrap(), &governs, &has_valid, &waits).unwrap()
        }
    }

    fn start() -> Repo {
        let mut r = Repo::new();
        r.commit(&[(POLICY_PATH, "version = 1"), ("firewall/a", "allow 22")]);
        r
    }

    #[test]
    fn content_as_the_policy_first_governed_it_is_approved() {
        let mut r = start();
        r.commit(&[("README.md", "unrelated")]);
        assert_eq!(r.check(&[], &[]), Carried::Approved);
    }

    #[test]
    fn a_direct_push_to_governed_content_is_named() {
        let mut r = start();
        let push = r.commit(&[("firewall/a", "allow 0.0.0.0/0")]);
        r.commit(&[("README.md", "later")]);
        assert_eq!(
            r.check(&[], &[]),
            Carried::Unapproved {
                since: push,
                paths: vec!["firewall/a".into()]
            }
        );
    }

    #[test]
    fn a_revert_restores_equality() {
        let mut r = start();
        r.commit(&[("firewall/a", "allow 0.0.0.0/0")]);
        r.commit(&[("firewall/a", "allow 22")]);
        assert_eq!(r.check(&[], &[]), Carried::Approved);
    }

    #[test]
    fn an_approved_change_after_the_push_makes_the_content_approved_again() {
        let mut r = start();
        r.commit(&[("firewall/a", "allow 0.0.0.0/0")]);
        let approved = r.commit(&[("firewall/a", "allow 443")]);
        assert_eq!(r.check(&[approved], &[]), Carried::Approved);
    }

    #[test]
    fn an_approved_change_before_the_push_does_not_cover_it() {
        let mut r = start();
        let approved = r.commit(&[("firewall/a", "allow 443")]);
        let push = r.commit(&[("firewall/b", "allow 8080")]);
        assert_eq!(
            r.check(&[approved], &[]),
            Carried::Unapproved {
                since: push,
                paths: vec!["firewall/b".into()]
            }
        );
    }

    #[test]
    fn an_earlier_merge_without_its_record_yet_is_waited_for() {
        let mut r = start();
        let merge = r.commit(&[("firewall/a", "allow 443")]);
        assert_eq!(r.check(&[], &[merge]), Carried::Pending { commit: merge });
    }
}
