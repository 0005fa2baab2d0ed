//! Which changes a policy governs, for `prgate audit`: each distinct policy blob compiled
//! once into the paths it governs, and a commit's tree compared with its parent's only below
//! those paths, so that a long history costs about what `git log` does.

use super::*;

/// What one policy blob governs. Compiled once per distinct blob: a long history has few.
pub(super) enum Governance {
    /// Every change: the policy has `[defaults]`, or it cannot be parsed (fail closed: a
    /// broken policy must not make changes look ungoverned).
    Everything,
    Paths {
        policy: Box<CompiledPolicy>,
        /// Per pattern (and the policy file itself), the literal folders it is confined to;
        /// `None` when it may match below any folder (see [`literal_prefix`]).
        prefixes: Vec<Option<Vec<String>>>,
    },
}

pub(super) const TREE_MODE: i32 = 0o040000;

impl Governance {
    pub(super) fn from_policy_text(text: &str) -> Governance {
        let Ok(policy) = parse_policy(POLICY_PATH, text) else {
            return Governance::Everything;
        };
        if policy.defaults.is_some() {
            return Governance::Everything;
        }
        let Ok(compiled) = CompiledPolicy::compile(&policy) else {
            return Governance::Everything;
        };
        let prefixes = policy
            .rules
            .iter()
            .flat_map(|r| r.paths.iter())
            .map(|p| literal_prefix(p))
            .chain(std::iter::once(literal_prefix(&format!("/{POLICY_PATH}"))))
            .collect();
        Governance::Paths {
            policy: Box::new(compiled),
            prefixes,
        }
    }

    /// Whether the change from `old` to `new` (root trees) touches a path this policy governs.
    pub(super) fn changes_governed(
        &self,
        repo: &Repository,
        old: &Tree<'_>,
        new: &Tree<'_>,
    ) -> Result<bool, git2::Error> {
        if old.id() == new.id() {
            return Ok(false);
        }
        match self {
            Governance::Everything => Ok(true),
            Governance::Paths { .. } => self.trees_governed(repo, Some(old), Some(new), ""),
        }
    }

    pub(super) fn subtree_governed(
        &self,
        repo: &Repository,
        old: Option<Oid>,
        new: Option<Oid>,
        dir: &str,
    ) -> Result<bool, git2::Error> {
        let old = old.map(|id| repo.find_tree(id)).transpose()?;
        let new = new.map(|id| repo.find_tree(id)).transpose()?;
        self.trees_governed(repo, old.as_ref(), new.as_ref(), dir)
    }

    /// Compares two trees entry by entry, descending only into directories some rule could
    /// match below, and stops at the first governed change.
    pub(super) fn trees_governed(
        &self,
        repo: &Repository,
        old: Option<&Tree<'_>>,
        new: Option<&Tree<'_>>,
        dir: &str,
    ) -> Result<bool, git2::Error> {
        if let (Some(old), Some(new)) = (old, new)
            && let Some(governed) = self.sorted_trees_governed(repo, old, new, dir)
        {
            return governed;
        }
        self.trees_governed_by_name(repo, old, new, dir)
    }

    /// [`Self::trees_governed`] as one merge of the two sorted entry lists, with no lookup by
    /// name; `None` when either tree's entries are not in git's order (a tree git would not
    /// write), left to the lookup by name, which does not rely on the order.
    pub(super) fn sorted_trees_governed(
        &self,
        repo: &Repository,
        old: &Tree<'_>,
        new: &Tree<'_>,
        dir: &str,
    ) -> Option<Result<bool, git2::Error>> {
        let (old_entries, new_entries): (Vec<_>, Vec<_>) =
            (old.iter().collect(), new.iter().collect());
        let (olds, news) = (sorted_entries(&old_entries)?, sorted_entries(&new_entries)?);
        let (mut i, mut j) = (0, 0);
        loop {
            let order = match (olds.get(i), news.get(j)) {
                (None, None) => return Some(Ok(false)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(o), Some(n)) => o.git_order(n),
            };
            let (before, after, name) = match order {
                Ordering::Less => (Some(olds[i].entry), None, olds[i].name),
                Ordering::Greater => (None, Some(news[j].entry), news[j].name),
                Ordering::Equal => (Some(olds[i].entry), Some(news[j].entry), news[j].name),
            };
            i += usize::from(order.is_le());
            j += usize::from(order.is_ge());
            if before != after {
                match self.entry_governed(repo, dir, name, before, after) {
                    Ok(false) => {}
                    // A governed change ends the comparison; so does an error, which the
                    // lookup by name would meet again.
                    done => return Some(done),
                }
            }
        }
    }

    /// [`Self::trees_governed`] by looking each entry up in the other tree.
    pub(super) fn trees_governed_by_name(
        &self,
        repo: &Repository,
        old: Option<&Tree<'_>>,
        new: Option<&Tree<'_>>,
        dir: &str,
    ) -> Result<bool, git2::Error> {
        if let Some(new) = new {
            for e in new.iter() {
                let before = old
                    .and_then(|t| t.get_name_bytes(e.name_bytes()))
                    .map(|o| (o.id(), o.filemode()));
                let after = Some((e.id(), e.filemode()));
                if before != after
                    && self.entry_governed(repo, dir, e.name_bytes(), before, after)?
                {
                    return Ok(true);
                }
            }
        }
        if let Some(old) = old {
            for e in old.iter() {
                let gone = new.is_none_or(|t| t.get_name_bytes(e.name_bytes()).is_none());
                if gone
                    && self.entry_governed(
                        repo,
                        dir,
                        e.name_bytes(),
                        Some((e.id(), e.filemode())),
                        None,
                    )?
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    pub(super) fn entry_governed(
        &self,
        repo: &Repository,
        dir: &str,
        name: &[u8],
        before: Option<(Oid, i32)>,
        after: Option<(Oid, i32)>,
    ) -> Result<bool, git2::Error> {
        let name = String::from_utf8_lossy(name);
        let path = if dir.is_empty() {
            name.into_owned()
        } else {
            format!("{dir}/{name}")
        };
        let is_tree = |e: &Option<(Oid, i32)>| e.is_some_and(|(_, m)| m == TREE_MODE);
        let is_file = |e: &Option<(Oid, i32)>| e.is_some_and(|(_, m)| m != TREE_MODE);
        // A file (blob, link, submodule) on either side: the file at `path` changed.
        if (is_file(&before) || is_file(&after)) && self.file_governed(&path) {
            return Ok(true);
        }
        // A directory on either side: every file below it that differs changed.
        if (is_tree(&before) || is_tree(&after)) && self.may_match_below(&path) {
            let tree_id =
                |e: Option<(Oid, i32)>| e.filter(|(_, m)| *m == TREE_MODE).map(|(id, _)| id);
            return self.subtree_governed(repo, tree_id(before), tree_id(after), &path);
        }
        Ok(false)
    }

    pub(super) fn file_governed(&self, path: &str) -> bool {
        match self {
            Governance::Everything => true,
            Governance::Paths { policy, .. } => {
                path == POLICY_PATH || !policy.matched_rules(&[path.to_string()]).is_empty()
            }
        }
    }

    /// Whether some pattern could match a file below directory `dir`: conservative (a pattern
    /// that starts with a glob could match anywhere), so it only ever saves work.
    pub(super) fn may_match_below(&self, dir: &str) -> bool {
        let Governance::Paths { prefixes, .. } = self else {
            return true;
        };
        let parts: Vec<&str> = dir.split('/').collect();
        prefixes.iter().any(|prefix| match prefix {
            None => true,
            // Without case: a governed path's case variant is governed too.
            Some(lit) => lit
                .iter()
                .zip(&parts)
                .all(|(a, b)| a.eq_ignore_ascii_case(b)),
        })
    }
}

/// A tree entry as the sorted comparison reads it: its name, and its object id and mode.
pub(super) struct SortedEntry<'e> {
    pub(super) name: &'e [u8],
    pub(super) entry: (Oid, i32),
}

impl SortedEntry<'_> {
    /// git's order of tree entries: by name, with a directory's name compared as if it ended
    /// in `/` (so `a.txt` sorts between a file `a` and a directory `a`).
    pub(super) fn git_order(&self, other: &SortedEntry<'_>) -> Ordering {
        let n = self.name.len().min(other.name.len());
        let tail = |e: &SortedEntry<'_>| match e.name.get(n) {
            Some(b) => *b,
            None if e.entry.1 == TREE_MODE => b'/',
            None => 0,
        };
        self.name[..n]
            .cmp(&other.name[..n])
            .then_with(|| tail(self).cmp(&tail(other)))
    }
}

/// The entries with their names, or `None` unless each sorts strictly after the one before.
pub(super) fn sorted_entries<'e>(
    entries: &'e [git2::TreeEntry<'_>],
) -> Option<Vec<SortedEntry<'e>>> {
    let sorted: Vec<SortedEntry<'e>> = entries
        .iter()
        .map(|e| SortedEntry {
            name: e.name_bytes(),
            entry: (e.id(), e.filemode()),
        })
        .collect();
    sorted
        .windows(2)
        .all(|w| w[0].git_order(&w[1]).is_lt())
        .then_some(sorted)
}

/// Compiled policies by blob id, and the last `.github` directory seen, so that the usual
/// commit (which changes neither) costs one tree entry lookup.
#[derive(Default)]
pub(super) struct PolicyCache {
    by_blob: HashMap<Oid, std::rc::Rc<Governance>>,
    last_dir: Option<(Oid, Option<Oid>)>,
}

impl PolicyCache {
    /// The governance of the policy in the root tree `root` and the policy's blob; `None`
    /// for both when it has no policy.
    pub(super) fn governance_at(
        &mut self,
        repo: &Repository,
        root: &Tree<'_>,
    ) -> Result<(Option<std::rc::Rc<Governance>>, Option<Oid>), git2::Error> {
        let (dir, file) = POLICY_PATH.split_once('/').unwrap_or(("", POLICY_PATH));
        let Some(dir_id) = root.get_name(dir).map(|e| e.id()) else {
            return Ok((None, None));
        };
        let blob = match self.last_dir {
            Some((d, blob)) if d == dir_id => blob,
            _ => {
                let blob = repo
                    .find_tree(dir_id)
                    .ok()
                    .and_then(|t| t.get_name(file).map(|e| e.id()));
                self.last_dir = Some((dir_id, blob));
                blob
            }
        };
        let Some(blob) = blob else {
            return Ok((None, None));
        };
        if let Some(g) = self.by_blob.get(&blob) {
            return Ok((Some(g.clone()), Some(blob)));
        }
        let b = repo.find_blob(blob)?;
        let g = std::rc::Rc::new(match std::str::from_utf8(b.content()) {
            Ok(text) => Governance::from_policy_text(text),
            Err(_) => Governance::Everything,
        });
        self.by_blob.insert(blob, g.clone());
        Ok((Some(g), Some(blob)))
    }
}
