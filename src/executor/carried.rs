//! Step 4 of post-merge verification: no unapproved content rides along. Each governed path
//! a merge runs with must hold approved content: what the merge itself changed (its verified
//! approval covers that), or else the content the last approved merge that changed it left
//! there, or what it held when the policy first governed the branch. A direct push, an admin merge or any unapproved commit that changed it
//! since makes the merge refuse, until a revert restores that content (what counts is the
//! content, not the history).

use std::collections::{BTreeMap, BTreeSet};

use git2::{Oid, Repository, Tree};

use crate::git::history::{paths_between, policy_blob_at};

/// How far back along the first-parent line the walk looks for the last approved state; a
/// branch whose governed content was last approved further back is refused, never guessed.
pub(crate) const MAX_WALK: usize = 20_000;

/// What the walk found on the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Carried {
    /// Every governed path in the first parent holds approved content.
    Approved,
    /// `since` is the earliest unapproved commit that changed a path which still differs from
    /// its approved content; `paths` are those paths.
    Unapproved { since: Oid, paths: Vec<String> },
    /// `commit` changed governed content and carries prgate's trailers but has no record yet:
    /// its own verification has not run, so this one must wait for it.
    Pending { commit: Oid },
    /// The last approved state lies more than [`MAX_WALK`] commits back.
    TooDeep,
}

/// An entry of a tree at a path: object id and mode, `None` when absent.
type Entry = Option<(Oid, i32)>;

/// Walks first parents back from `parent` (the merge itself, which `approved` must accept, or
/// any commit whose content is judged). `governs(path)` says
/// whether a path is governed content; `approved(commit)` whether a commit carries a valid
/// approval record (its PR's approval of exactly what it merged); `awaiting_record(commit)`
/// whether a commit claims to be a prgate merge (trailers) and has no record at all yet.
pub(crate) fn check_carried(
    repo: &Repository,
    parent: Oid,
    governs: &dyn Fn(&str) -> bool,
    approved: &dyn Fn(Oid) -> bool,
    awaiting_record: &dyn Fn(Oid) -> bool,
) -> Result<Carried, git2::Error> {
    let now_tree = repo.find_commit(parent)?.tree()?;
    let present = governed_files(&now_tree, governs);
    // Paths whose latest change we have judged; paths changed by unapproved commits since
    // their last approved state, with the earliest such commit seen so far.
    let mut settled: BTreeSet<String> = BTreeSet::new();
    let mut open: BTreeMap<String, Oid> = BTreeMap::new();
    let mut bad: BTreeMap<String, Oid> = BTreeMap::new();
    let mut waiting: Option<Oid> = None;
    let mut cursor = Some(parent);
    let mut walked = 0usize;
    while let Some(c) = cursor {
        walked += 1;
        if walked > MAX_WALK {
            return Ok(Carried::TooDeep);
        }
        let commit = repo.find_commit(c)?;
        let first_parent = commit.parent_id(0).ok();
        let tree = commit.tree()?;
        // The commit that brought the policy: what it holds is where governance starts.
        let governed_before = match first_parent {
            Some(p) => policy_blob_at(repo, p)?.is_some(),
            None => false,
        };
        if !governed_before {
            judge_open(&mut open, &mut bad, &tree, &now_tree)?;
            break;
        }
        let old = match first_parent {
            Some(p) => Some(repo.find_commit(p)?.tree()?),
            None => None,
        };
        let changed: Vec<String> = paths_between(repo, old.as_ref(), &tree)?
            .into_iter()
            .filter(|p| governs(p) && !settled.contains(p))
            .collect();
        if !changed.is_empty() {
            if approved(c) {
                for p in changed {
                    if let Some(since) = open.remove(&p)
                        && entry(&tree, &p)? != entry(&now_tree, &p)?
                    {
                        bad.insert(p.clone(), since);
                    }
                    settled.insert(p);
                }
            } else {
                if awaiting_record(c) {
                    waiting = Some(c);
                }
                for p in changed {
                    open.insert(p, c);
                }
            }
        }
        // Once every governed path the merge runs with has met its latest change and nothing
        // is open, older history cannot change the verdict.
        if open.is_empty() && present.iter().all(|p| settled.contains(p)) {
            break;
        }
        cursor = first_parent;
        if cursor.is_none() {
            judge_open(&mut open, &mut bad, &tree, &now_tree)?;
        }
    }
    if bad.is_empty() {
        return Ok(Carried::Approved);
    }
    if let Some(commit) = waiting {
        return Ok(Carried::Pending { commit });
    }
    // The earliest offender is the one furthest back: the walk met it last.
    let paths: Vec<String> = bad.keys().cloned().collect();
    let since = earliest(repo, parent, bad.values().copied().collect())?;
    Ok(Carried::Unapproved { since, paths })
}

/// Paths still open at the start of governance are judged against what they held then.
fn judge_open(
    open: &mut BTreeMap<String, Oid>,
    bad: &mut BTreeMap<String, Oid>,
    start: &Tree<'_>,
    now: &Tree<'_>,
) -> Result<(), git2::Error> {
    for (p, since) in std::mem::take(open) {
        if entry(start, &p)? != entry(now, &p)? {
            bad.insert(p, since);
        }
    }
    Ok(())
}

/// Of `candidates` (commits on `tip`'s first-parent line), the one furthest back.
fn earliest(repo: &Repository, tip: Oid, candidates: BTreeSet<Oid>) -> Result<Oid, git2::Error> {
    let mut last = None;
    let mut cursor = Some(tip);
    let mut steps = 0usize;
    while let Some(c) = cursor {
        if candidates.contains(&c) {
            last = Some(c);
        }
        steps += 1;
        if steps > MAX_WALK {
            break;
        }
        cursor = repo.find_commit(c)?.parent_id(0).ok();
    }
    Ok(last.unwrap_or(tip))
}

/// The governed files of a tree.
fn governed_files(tree: &Tree<'_>, governs: &dyn Fn(&str) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
        if e.kind() == Some(git2::ObjectType::Blob) {
            let path = format!("{dir}{}", e.name().unwrap_or(""));
            if governs(&path) {
                out.insert(path);
            }
        }
        git2::TreeWalkResult::Ok
    });
    out
}

fn entry(tree: &Tree<'_>, path: &str) -> Result<Entry, git2::Error> {
    match tree.get_path(std::path::Path::new(path)) {
        Ok(e) => Ok(Some((e.id(), e.filemode()))),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::POLICY_PATH;

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

    #[test]
    fn a_merge_refused_for_carried_content_still_approved_its_own_change() {
        let mut r = start();
        r.commit(&[("firewall/b", "allow 8080")]);
        // An approved merge changing firewall/a (refused to run because of b, but approved).
        let m2 = r.commit(&[("firewall/a", "allow 443")]);
        assert!(matches!(r.check(&[m2], &[]), Carried::Unapproved { .. }));
        // An approved PR takes b back out: the branch holds approved content again.
        let mut index_less = r.tip;
        let revert = {
            let tip = index_less.take().unwrap();
            let tree = r.git.find_commit(tip).unwrap().tree().unwrap();
            let mut b = r.git.treebuilder(Some(&tree)).unwrap();
            let fw = tree.get_path(std::path::Path::new("firewall")).unwrap();
            let sub = r.git.find_tree(fw.id()).unwrap();
            let mut sb = r.git.treebuilder(Some(&sub)).unwrap();
            sb.remove("b").unwrap();
            let sub_id = sb.write().unwrap();
            b.insert("firewall", sub_id, 0o040000).unwrap();
            let new_tree = r.git.find_tree(b.write().unwrap()).unwrap();
            let sig = git2::Signature::now("t", "t@example.com").unwrap();
            let parent = r.git.find_commit(tip).unwrap();
            r.git
                .commit(None, &sig, &sig, "revert", &new_tree, &[&parent])
                .unwrap()
        };
        r.tip = Some(revert);
        assert_eq!(r.check(&[m2, revert], &[]), Carried::Approved);
    }
}
