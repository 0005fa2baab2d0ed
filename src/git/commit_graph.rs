//! git's commit-graph file, read directly: the first-parent history walk (the audit's, and
//! `verify`'s merge-base check) asks it for a commit's tree, parents and time without
//! inflating the commit.

use std::collections::HashMap;
use std::path::PathBuf;

use git2::{Oid, Repository};

/// git's commit-graph file (`objects/info/commit-graph`, or the layers listed in
/// `objects/info/commit-graphs/commit-graph-chain`): for every commit it covers, its root tree,
/// parents, commit time and topological level, without inflating the commit. libgit2 1.9
/// refuses the graphs git writes today (it does not know the generation-data chunks), so the
/// audit reads it itself. Commits the graph does not cover are read from the object database.
///
/// git trusts this file as a cache of immutable facts about immutable commits, and so does the
/// audit; every commit the audit reads in full (each governed or noted one) is compared with
/// its graph entry, and any disagreement makes the audit start over without the graph.
/// `git commit-graph verify` checks the file.
pub(crate) struct CommitGraph {
    /// Base layer first; positions are global across layers, as in the file format.
    layers: Vec<GraphLayer>,
}

struct GraphLayer {
    data: Vec<u8>,
    /// Global position of this layer's first commit.
    offset: u32,
    count: u32,
    fanout: usize,
    lookup: usize,
    cdat: usize,
    edges: Option<(usize, usize)>,
}

/// What the walk needs of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommitFacts {
    pub tree: Oid,
    pub first_parent: Option<Oid>,
    pub time: i64,
}

const GRAPH_NO_PARENT: u32 = 0x7000_0000;
const GRAPH_EXTRA_EDGES: u32 = 0x8000_0000;
const GRAPH_LAST_EDGE: u32 = 0x8000_0000;
const GRAPH_LEVEL_MAX: u32 = 0x3FFF_FFFF;

fn be32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl GraphLayer {
    fn parse(data: Vec<u8>, offset: u32) -> Option<GraphLayer> {
        const HASH: usize = 20;
        if data.len() < 8 + HASH || &data[..4] != b"CGPH" || data[4] != 1 || data[5] != 1 {
            return None;
        }
        let chunks = data[6] as usize;
        let end = data.len() - HASH;
        let mut table = Vec::with_capacity(chunks + 1);
        for i in 0..=chunks {
            let at = 8 + 12 * i;
            let id = be32(&data, at)?;
            let off = (u64::from(be32(&data, at + 4)?) << 32) | u64::from(be32(&data, at + 8)?);
            let off = usize::try_from(off).ok()?;
            if off > end {
                return None;
            }
            table.push((id, off));
        }
        let chunk = |want: &[u8; 4]| -> Option<(usize, usize)> {
            let want = u32::from_be_bytes(*want);
            let i = table[..chunks].iter().position(|(id, _)| *id == want)?;
            let (start, stop) = (table[i].1, table[i + 1].1);
            (start <= stop).then_some((start, stop - start))
        };
        let (fanout, fanout_len) = chunk(b"OIDF")?;
        let (lookup, lookup_len) = chunk(b"OIDL")?;
        let (cdat, cdat_len) = chunk(b"CDAT")?;
        let edges = chunk(b"EDGE");
        if fanout_len != 256 * 4 {
            return None;
        }
        let count = be32(&data, fanout + 255 * 4)?;
        if lookup_len != count as usize * HASH || cdat_len != count as usize * (HASH + 16) {
            return None;
        }
        Some(GraphLayer {
            data,
            offset,
            count,
            fanout,
            lookup,
            cdat,
            edges,
        })
    }

    fn find(&self, id: Oid) -> Option<u32> {
        let key = id.as_bytes();
        let first = key.first().copied()? as usize;
        let lo = if first == 0 {
            0
        } else {
            be32(&self.data, self.fanout + (first - 1) * 4)?
        };
        let hi = be32(&self.data, self.fanout + first * 4)?;
        let (mut lo, mut hi) = (lo as usize, (hi.min(self.count)) as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let at = self.lookup + mid * 20;
            match self.data.get(at..at + 20)?.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }
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
        let single = objects.join("info/commit-graph");
        let files: Vec<PathBuf> = if single.exists() {
            vec![single]
        } else {
            let dir = objects.join("info/commit-graphs");
            let chain = std::fs::read_to_string(dir.join("commit-graph-chain")).ok()?;
            chain
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|h| dir.join(format!("graph-{}.graph", h.trim())))
                .collect()
        };
        let mut layers = Vec::with_capacity(files.len());
        let mut offset: u32 = 0;
        for f in files {
            let layer = GraphLayer::parse(std::fs::read(f).ok()?, offset)?;
            // Each layer names how many base layers it has; they must be the ones before it.
            if layer.data[7] as usize != layers.len() {
                return None;
            }
            offset = offset.checked_add(layer.count)?;
            layers.push(layer);
        }
        if layers.is_empty() {
            return None;
        }
        Some(CommitGraph { layers })
    }

    fn position(&self, id: Oid) -> Option<u32> {
        // Newest layer first: that is where recent commits are.
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.find(id).map(|i| l.offset + i))
    }

    fn entry(&self, pos: u32) -> Option<(&GraphLayer, usize)> {
        let l = self
            .layers
            .iter()
            .rev()
            .find(|l| pos >= l.offset && pos - l.offset < l.count)?;
        Some((l, (pos - l.offset) as usize))
    }

    fn id_at(&self, pos: u32) -> Option<Oid> {
        let (l, i) = self.entry(pos)?;
        let at = l.lookup + i * 20;
        Oid::from_bytes(l.data.get(at..at + 20)?).ok()
    }

    /// (tree, first parent position, second parent word, level, time) of the commit at `pos`.
    fn raw(&self, pos: u32) -> Option<(Oid, u32, u32, u32, i64)> {
        let (l, i) = self.entry(pos)?;
        let at = l.cdat + i * 36;
        let d = l.data.get(at..at + 36)?;
        let tree = Oid::from_bytes(&d[..20]).ok()?;
        let p1 = be32(d, 20)?;
        let p2 = be32(d, 24)?;
        let hi = be32(d, 28)?;
        let lo = be32(d, 32)?;
        let time = (i64::from(hi & 3) << 32) | i64::from(lo);
        Some((tree, p1, p2, hi >> 2, time))
    }

    /// The parents' positions of the commit at `pos`.
    fn parents(&self, pos: u32, out: &mut Vec<u32>) -> Option<()> {
        out.clear();
        let (l, _) = self.entry(pos)?;
        let (_, p1, p2, _, _) = self.raw(pos)?;
        if p1 == GRAPH_NO_PARENT {
            return Some(());
        }
        out.push(p1);
        if p2 == GRAPH_NO_PARENT {
            return Some(());
        }
        if p2 & GRAPH_EXTRA_EDGES == 0 {
            out.push(p2);
            return Some(());
        }
        let (start, len) = l.edges?;
        let mut i = (p2 & !GRAPH_EXTRA_EDGES) as usize;
        loop {
            if (i + 1) * 4 > len {
                return None;
            }
            let e = be32(&l.data, start + i * 4)?;
            out.push(e & !GRAPH_LAST_EDGE);
            if e & GRAPH_LAST_EDGE != 0 {
                return Some(());
            }
            i += 1;
        }
    }

    /// The walk's facts about commit `id`, when the graph covers it.
    pub(crate) fn facts(&self, id: Oid) -> Option<CommitFacts> {
        let pos = self.position(id)?;
        let (tree, p1, _, _, time) = self.raw(pos)?;
        let first_parent = if p1 == GRAPH_NO_PARENT {
            None
        } else {
            Some(self.id_at(p1)?)
        };
        Some(CommitFacts {
            tree,
            first_parent,
            time,
        })
    }

    /// The root tree of `id`, when the graph covers it.
    pub(crate) fn tree_of(&self, id: Oid) -> Option<Oid> {
        self.raw(self.position(id)?).map(|r| r.0)
    }

    /// The merge base of `a` and `b` when it is unique, found as git's `paint_down_to_common`
    /// does, in order of topological level. `None` ("not known this way") when a commit on
    /// the way is not in the graph or has no level, when there are several merge bases, or
    /// when there is none: the caller then asks libgit2.
    pub(crate) fn merge_base(&self, a: Oid, b: Oid) -> Option<Oid> {
        const ONE: u8 = 1;
        const TWO: u8 = 2;
        const STALE: u8 = 4;
        const RESULT: u8 = 8;
        let (pa, pb) = (self.position(a)?, self.position(b)?);
        if pa == pb {
            return Some(a);
        }
        let level = |p: u32| -> Option<u32> {
            let l = self.raw(p)?.3;
            (l != 0 && l < GRAPH_LEVEL_MAX).then_some(l)
        };
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
