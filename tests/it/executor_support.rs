//! Helpers shared by the executor and verify tests: real git repositories in temp dirs, built
//! with git2 object by object so that each test states exactly the history it needs.
#![allow(dead_code)]

use std::path::Path;

use git2::{Oid, Repository, Signature};

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

pub fn sig() -> Signature<'static> {
    Signature::new(
        "Test",
        "test@example.com",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap()
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        TestRepo { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A tree: `base`'s tree (if any) with `files` set (`Some`) or removed (`None`).
    pub fn tree(&self, base: Option<Oid>, files: &[(&str, Option<&str>)]) -> Oid {
        self.tree_with_modes(
            base,
            &files
                .iter()
                .map(|(p, c)| (*p, c.map(|c| (c, 0o100644))))
                .collect::<Vec<_>>(),
        )
    }

    pub fn tree_with_modes(&self, base: Option<Oid>, files: &[(&str, Option<(&str, i32)>)]) -> Oid {
        let mut index = git2::Index::new().unwrap();
        if let Some(b) = base {
            let t = self.repo.find_commit(b).unwrap().tree().unwrap();
            index.read_tree(&t).unwrap();
        }
        for (path, content) in files {
            match content {
                Some((c, mode)) => {
                    let blob = self.repo.blob(c.as_bytes()).unwrap();
                    let entry = git2::IndexEntry {
                        ctime: git2::IndexTime::new(0, 0),
                        mtime: git2::IndexTime::new(0, 0),
                        dev: 0,
                        ino: 0,
                        mode: *mode as u32,
                        uid: 0,
                        gid: 0,
                        file_size: c.len() as u32,
                        id: blob,
                        flags: 0,
                        flags_extended: 0,
                        path: path.as_bytes().to_vec(),
                    };
                    index.add(&entry).unwrap();
                }
                None => index.remove_path(Path::new(path)).unwrap(),
            }
        }
        index.write_tree_to(&self.repo).unwrap()
    }

    pub fn commit_tree(&self, parents: &[Oid], tree: Oid, message: &str) -> Oid {
        let tree = self.repo.find_tree(tree).unwrap();
        let parents: Vec<_> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<_> = parents.iter().collect();
        self.repo
            .commit(None, &sig(), &sig(), message, &tree, &refs)
            .unwrap()
    }

    /// A commit on top of `parent` (or a root commit) changing `files`.
    pub fn commit(
        &self,
        parent: Option<Oid>,
        files: &[(&str, Option<&str>)],
        message: &str,
    ) -> Oid {
        let tree = self.tree(parent, files);
        let parents: Vec<Oid> = parent.into_iter().collect();
        self.commit_tree(&parents, tree, message)
    }

    /// The tree `git merge` would produce for `ours` and `theirs`; panics on conflicts.
    pub fn clean_merge(&self, ours: Oid, theirs: Oid) -> Oid {
        let base = self.repo.merge_base(ours, theirs).unwrap();
        let t = |o| self.repo.find_commit(o).unwrap().tree().unwrap();
        let mut index = self
            .repo
            .merge_trees(&t(base), &t(ours), &t(theirs), None)
            .unwrap();
        assert!(!index.has_conflicts());
        index.write_tree_to(&self.repo).unwrap()
    }

    pub fn set_branch(&self, name: &str, commit: Oid) {
        self.repo
            .reference(&format!("refs/heads/{name}"), commit, true, "test")
            .unwrap();
    }

    pub fn blob_id(&self, commit: Oid, path: &str) -> Oid {
        self.repo
            .find_commit(commit)
            .unwrap()
            .tree()
            .unwrap()
            .get_path(Path::new(path))
            .unwrap()
            .id()
    }
}

/// A base branch and a PR head diverging from it, as most tests need:
/// base: README + config; main moved on (other.txt); head changes config.
pub struct Scenario {
    pub base: Oid,
    pub main: Oid,
    pub head: Oid,
}

pub const POLICY: &str = "version = 1\n[[rules]]\nname = \"fw\"\npaths = [\"firewall/**\"]\napprovers = { users = [\"alice\"] }\n";

pub fn scenario(r: &TestRepo) -> Scenario {
    let base = r.commit(
        None,
        &[
            ("README", Some("hello\n")),
            ("firewall/rules", Some("allow 22\n")),
            (".github/prgate.toml", Some(POLICY)),
        ],
        "base",
    );
    let main = r.commit(
        Some(base),
        &[("other.txt", Some("unrelated\n"))],
        "main moves on",
    );
    let head = r.commit(
        Some(base),
        &[("firewall/rules", Some("allow 22\nallow 443\n"))],
        "open 443",
    );
    Scenario { base, main, head }
}
