//! git's commit-graph file, read with gitoxide's `gix-commitgraph`: the first-parent history
//! walk (the audit's, and `verify`'s merge-base check) asks it for a commit's tree, parents and
//! time without inflating the commit.

use std::collections::HashMap;

use git2::{Oid, Repository};
use gix_commitgraph::{Graph, Position};

/// git's commit-graph (`objects/info/commit-graph`, or the layers listed in
/// `objects/info/commit-graphs/commit-graph-chain`): for every commit it covers, its root tree,
/// parents, commit time and topological level. libgit2 1.9 refuses the graphs git writes today
/// (it does not know the generation-data chunks), so the audit reads it through gitoxide.
/// Commits the graph does not cover are read from the object database.
///
/// git trusts this file as a cache of immutable facts about immutable commits, and so does the
/// audit; every commit the audit reads in full (each governed or noted one) is compared with
/// its graph entry, and any disagreement makes the audit start over without the graph.
/// `git commit-graph verify` checks the file.
pub(crate) struct CommitGraph {
    graph: Graph,
}

/// What the walk needs of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommitFacts {
    pub tree: Oid,
    pub first_parent: Option<Oid>,
    pub time: i64,
}

/// The largest topological level the format stores; above it the level is "not known".
const GRAPH_LEVEL_MAX: u32 = 0x3FFF_FFFF;

fn to_gix(id: &Oid) -> Option<&gix_hash::oid> {
    gix_hash::oid::try_from_bytes(id.as_bytes()).ok()
}

fn from_gix(id: &gix_hash::oid) -> Option<Oid> {
    Oid::from_bytes(id.as_bytes()).ok()
}

impl CommitGraph {
    /// The graph of the repository, or `None` when there is none, it cannot be read, or the
    /// repository is one git would not use it for (shallow, grafted, replaced objects).
    pub(crate) fn open(repo: &Repository) -> Option<CommitGraph> {
        if repo.is_shallow() {
            return None;
        }
        let objects = repo.path().join("objects");
        if objects.join("info/grafts").exists()
            || repo.path().join("info/grafts").exists()
            || repo
                .references_glob("refs/replace/*")
                .is_ok_and(|mut r| r.next().is_some())
            || objects.join("info/alternates").exists()
        {
            return None;
        }
        let graph = Graph::from_info_dir(&objects.join("info"), gix_hash::Kind::Sha1).ok()?;
        Some(CommitGraph { graph })
    }

    fn position(&self, id: Oid) -> Option<u32> {
        self.graph.lookup(to_gix(&id)?).map(|p| p.0)
    }

    /// The commit at `pos`; `None` past the end, since gitoxide panics there and a damaged
    /// file may name such a position.
    fn commit(&self, pos: u32) -> Option<gix_commitgraph::file::Commit<'_>> {
        (pos < self.graph.num_commits()).then(|| self.graph.commit_at(Position(pos)))
    }

    fn id_at(&self, pos: u32) -> Option<Oid> {
        from_gix(self.commit(pos)?.id())
    }

    /// The topological level of the commit at `pos`, when the graph knows it.
    fn level(&self, pos: u32) -> Option<u32> {
        let l = self.commit(pos)?.generation();
        (l != 0 && l < GRAPH_LEVEL_MAX).then_some(l)
    }

    /// The parents' positions of the commit at `pos`.
    fn parents(&self, pos: u32, out: &mut Vec<u32>) -> Option<()> {
        out.clear();
        for parent in self.commit(pos)?.iter_parents() {
            let p = parent.ok()?.0;
            if p >= self.graph.num_commits() {
                return None;
            }
            out.push(p);
        }
        Some(())
    }

    /// The walk's facts about commit `id`, when the graph covers it.
    pub(crate) fn facts(&self, id: Oid) -> Option<CommitFacts> {
        let commit = self.commit(self.position(id)?)?;
        let first_parent = match commit.parent1().ok()? {
            None => None,
            Some(p) => Some(self.id_at(p.0)?),
        };
        Some(CommitFacts {
            tree: from_gix(commit.root_tree_id())?,
            first_parent,
            time: i64::try_from(commit.committer_timestamp()).ok()?,
        })
    }

    /// The root tree of `id`, when the graph covers it.
    pub(crate) fn tree_of(&self, id: Oid) -> Option<Oid> {
        from_gix(self.commit(self.position(id)?)?.root_tree_id())
    }

    /// The merge base of `a` and `b` when it is unique, found as git's `paint_down_to_common`
    /// does, in order of topological level. `None` ("not known this way") when a commit on
    /// the way is not in the graph or has no level, when there are several merge bases, or
    /// when there is none: the caller then asks libgit2. (gix-commitgraph reads the file only;
    /// a merge-base search over it is ours.)
    pub(crate) fn merge_base(&self, a: Oid, b: Oid) -> Option<Oid> {
        const ONE: u8 = 1;
        const TWO: u8 = 2;
        const STALE: u8 = 4;
        const RESULT: u8 = 8;
        let (pa, pb) = (self.position(a)?, self.position(b)?);
        if pa == pb {
            return Some(a);
        }
        let level = |p: u32| self.level(p);
        let mut flags: HashMap<u32, u8> = HashMap::new();
        let mut queue = std::collections::BinaryHeap::new();
        let mut nonstale = 0usize;
        flags.insert(pa, ONE);
        flags.insert(pb, TWO);
        queue.push((level(pa)?, pa, false));
        queue.push((level(pb)?, pb, false));
        nonstale += 2;
        let mut results = Vec::new();
        let mut parents = Vec::new();
        while nonstale > 0 {
            let (_, c, pushed_stale) = queue.pop()?;
            if !pushed_stale {
                nonstale -= 1;
            }
            let fc = flags.get(&c).copied().unwrap_or(0);
            let mut f = fc & (ONE | TWO | STALE);
            if f == ONE | TWO {
                if fc & RESULT == 0 {
                    flags.insert(c, fc | RESULT);
                    results.push(c);
                }
                f |= STALE;
            }
            self.parents(c, &mut parents)?;
            for &p in &parents {
                let fp = flags.get(&p).copied().unwrap_or(0);
                if fp & f == f {
                    continue;
                }
                flags.insert(p, fp | f);
                let stale = (fp | f) & STALE != 0;
                queue.push((level(p)?, p, stale));
                if !stale {
                    nonstale += 1;
                }
            }
        }
        // As git: a result that turned out to be below another one is not a merge base.
        results.retain(|r| flags.get(r).is_some_and(|f| f & STALE == 0));
        match results.as_slice() {
            [only] => self.id_at(*only),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{Commit, Signature};

    /// A history with merges, criss-cross merges and an octopus, and git's commit-graph of it.
    /// `None` when git is not installed.
    fn graph_repo() -> Option<(tempfile::TempDir, Repository, Vec<Oid>)> {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut commits: Vec<Oid> = Vec::new();
        let mut seed: u64 = 7;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for i in 0..120usize {
            let sig =
                Signature::new("t", "t@example.com", &git2::Time::new(1000 + i as i64, 0)).unwrap();
            let parents: Vec<Oid> = if commits.is_empty() {
                vec![]
            } else {
                let k = match next(10) {
                    0..=5 => 1,
                    6..=8 => 2,
                    _ => 3,
                };
                let mut ps: Vec<Oid> = (0..k).map(|_| commits[next(commits.len())]).collect();
                ps.dedup();
                ps
            };
            let mut tb = repo.treebuilder(None).unwrap();
            let blob = repo.blob(format!("{i}\n").as_bytes()).unwrap();
            tb.insert(format!("f{}", i % 7), blob, 0o100644).unwrap();
            let tree = repo.find_tree(tb.write().unwrap()).unwrap();
            let pcs: Vec<Commit<'_>> = parents
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&Commit<'_>> = pcs.iter().collect();
            let id = repo
                .commit(None, &sig, &sig, &format!("c{i}"), &tree, &refs)
                .unwrap();
            commits.push(id);
        }
        repo.reference("refs/heads/main", *commits.last().unwrap(), true, "t")
            .unwrap();
        for (i, c) in commits.iter().enumerate() {
            repo.reference(&format!("refs/heads/b{i}"), *c, true, "t")
                .unwrap();
        }
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["commit-graph", "write", "--reachable"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return None;
        }
        Some((dir, repo, commits))
    }

    #[test]
    fn the_commit_graph_agrees_with_the_commits_and_libgit2s_merge_bases() {
        let Some((_dir, repo, commits)) = graph_repo() else {
            eprintln!("git is not installed; skipped");
            return;
        };
        let graph = CommitGraph::open(&repo).expect("git wrote a commit-graph");
        for id in &commits {
            let c = repo.find_commit(*id).unwrap();
            let f = graph.facts(*id).expect("every commit is in the graph");
            assert_eq!(f.tree, c.tree_id());
            assert_eq!(f.first_parent, c.parent_ids().next());
            assert_eq!(f.time, c.time().seconds());
            let mut ps = Vec::new();
            graph
                .parents(graph.position(*id).unwrap(), &mut ps)
                .unwrap();
            let ps: Vec<Oid> = ps.iter().map(|p| graph.id_at(*p).unwrap()).collect();
            assert_eq!(ps, c.parent_ids().collect::<Vec<_>>());
        }
        let (mut unique, mut several) = (0, 0);
        for a in &commits {
            for b in &commits {
                let bases = repo
                    .merge_bases(*a, *b)
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let ours = graph.merge_base(*a, *b);
                if bases.len() == 1 {
                    unique += 1;
                    assert_eq!(ours, Some(bases[0]), "merge base of {a} and {b}");
                } else {
                    several += 1;
                    assert_eq!(ours, None, "merge bases of {a} and {b}: {bases:?}");
                }
            }
        }
        assert!(
            unique > 0 && several > 0,
            "{unique} unique, {several} several"
        );
    }

    #[test]
    fn no_commit_graph_no_graph() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        assert!(CommitGraph::open(&repo).is_none());
    }
}
