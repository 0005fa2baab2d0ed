//! The chain of records along a branch: every version 2 record names the record before it on
//! the first-parent history (`previous`: its commit and the sha256 of its note's text), so a
//! note deleted, replaced by an older one, or slipped in between shows as a break. The walk
//! goes newest first, so each record waits for the next one the walk meets, which must be the
//! one it names. Pure: the walk hands in commits and digests.

use std::collections::HashSet;

use git2::Oid;

use crate::record::note::{ExecutionNote, NoteError, PreviousRecord};

/// A break in the chain: the record on `later` does not find its predecessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Break {
    /// The commit whose record names the predecessor it does not find.
    pub later: Oid,
    /// Its position in the walk (for the report's order).
    pub index: u64,
    /// What is wrong, naming the commits between which the break lies.
    pub detail: String,
}

/// A record met, waiting for the record it names.
struct Waiting {
    commit: Oid,
    index: u64,
    /// `None`: the record says it is the first on the branch.
    previous: Option<PreviousRecord>,
}

/// The chain check along one walk.
#[derive(Default)]
pub(super) struct Chain {
    waiting: Option<Waiting>,
    /// Commits walked since the waiting record, to tell a deleted predecessor (walked past,
    /// without a note now) from one that is not on this history at all.
    passed: HashSet<Oid>,
}

impl Chain {
    /// A commit without a note.
    pub fn pass(&mut self, commit: Oid) {
        if self.waiting.is_some() {
            self.passed.insert(commit);
        }
    }

    /// A commit with a note: `digest` gives the sha256 of its text (asked for only when the
    /// waiting record names this commit), `note` as parsed. Returns the break this reveals
    /// about the record waiting for its predecessor, if any.
    pub fn meet(
        &mut self,
        commit: Oid,
        index: u64,
        digest: impl FnOnce() -> String,
        note: Option<&Result<Option<ExecutionNote>, NoteError>>,
    ) -> Option<Break> {
        let parsed = match note {
            Some(Ok(Some(n))) => Some(n),
            _ => None,
        };
        let found = self.check(commit, digest, parsed);
        self.passed.clear();
        // A version 1 record names no predecessor; nothing waits on its behalf.
        self.waiting = parsed.and_then(|n| n.v2.as_ref()).map(|facts| Waiting {
            commit,
            index,
            previous: facts.previous.clone(),
        });
        found
    }

    fn check(
        &self,
        commit: Oid,
        digest: impl FnOnce() -> String,
        note: Option<&ExecutionNote>,
    ) -> Option<Break> {
        let w = self.waiting.as_ref()?;
        let broken = |detail: String| {
            Some(Break {
                later: w.commit,
                index: w.index,
                detail,
            })
        };
        let Some(p) = &w.previous else {
            return broken(format!(
                "the chain of records breaks between {commit} and {}: the record on {} says it is the first on the branch, but {commit} before it carries a record (added after {} was recorded, or {}'s record was written without its predecessor)",
                w.commit, w.commit, w.commit, w.commit
            ));
        };
        if p.commit.as_str() == commit.to_string() {
            let digest = digest();
            let replaced = note
                .and_then(|n| n.v2.as_ref())
                .is_some_and(|f| f.replaces.contains(&p.digest.sha256));
            if p.digest.sha256 == digest || replaced {
                return None;
            }
            return broken(format!(
                "the chain of records breaks between {commit} and {}: the record on {} is chained to the note on {commit} with sha256 {}, but that note is now {digest} (replaced by an older or another record; `git log -p refs/notes/prgate` shows when)",
                w.commit, w.commit, p.digest.sha256
            ));
        }
        let named = Oid::from_str(p.commit.as_str()).ok();
        if named.is_some_and(|n| self.passed.contains(&n)) {
            return broken(format!(
                "the chain of records breaks between {} and {}: the record on {} is chained to the note on {}, which is gone (deleted; `git log -p refs/notes/prgate` shows when)",
                p.commit, w.commit, w.commit, p.commit
            ));
        }
        broken(format!(
            "the chain of records breaks between {commit} and {}: the record on {} is chained to the record on {}, but the record before it on the branch is on {commit} (a record added in between: a note slipped in, or a merge the gate recorded only after {}, which its signature and decided_at show; or a predecessor not on this branch)",
            w.commit, w.commit, p.commit, w.commit
        ))
    }

    /// The walk reached the root: a record still waiting for a predecessor it names lost it.
    pub fn at_root(&mut self) -> Option<Break> {
        let w = self.waiting.take()?;
        let p = w.previous?;
        let named = Oid::from_str(p.commit.as_str()).ok();
        let detail = if named.is_some_and(|n| self.passed.contains(&n)) {
            format!(
                "the chain of records breaks between {} and {}: the record on {} is chained to the note on {}, which is gone (deleted; `git log -p refs/notes/prgate` shows when)",
                p.commit, w.commit, w.commit, p.commit
            )
        } else {
            format!(
                "the chain of records breaks below {}: its record is chained to the record on {}, which is not on the branch's first-parent history",
                w.commit, p.commit
            )
        };
        Some(Break {
            later: w.commit,
            index: w.index,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::note::{RecordFacts, Sha256Digest};

    fn oid(b: u8) -> Oid {
        Oid::from_bytes(&[b; 20]).unwrap()
    }

    fn record(
        previous: Option<(u8, &str)>,
        replaces: &[&str],
    ) -> Result<Option<ExecutionNote>, NoteError> {
        let mut n = crate::record::note::tests::sample();
        n.version = 2;
        n.v2 = Some(Box::new(RecordFacts {
            previous: previous.map(|(c, d)| PreviousRecord {
                commit: oid(c).to_string().parse().unwrap(),
                digest: Sha256Digest { sha256: d.into() },
            }),
            replaces: replaces.iter().map(|s| s.to_string()).collect(),
            ..RecordFacts::default()
        }));
        Ok(Some(n))
    }

    #[test]
    fn an_intact_chain_has_no_break() {
        let mut c = Chain::default();
        assert_eq!(
            c.meet(
                oid(9),
                0,
                || "d9".into(),
                Some(&record(Some((7, "d7")), &[]))
            ),
            None
        );
        c.pass(oid(8));
        assert_eq!(
            c.meet(oid(7), 2, || "d7".into(), Some(&record(None, &[]))),
            None
        );
        c.pass(oid(6));
        assert_eq!(c.at_root(), None);
    }

    #[test]
    fn a_replaced_version_of_the_predecessor_is_accepted_only_when_it_says_so() {
        let mut c = Chain::default();
        c.meet(
            oid(9),
            0,
            || "d9".into(),
            Some(&record(Some((7, "provisional")), &[])),
        );
        assert_eq!(
            c.meet(
                oid(7),
                1,
                || "final".into(),
                Some(&record(None, &["provisional"]))
            ),
            None
        );
        let mut c = Chain::default();
        c.meet(
            oid(9),
            0,
            || "d9".into(),
            Some(&record(Some((7, "final")), &[])),
        );
        let b = c
            .meet(oid(7), 1, || "provisional".into(), Some(&record(None, &[])))
            .unwrap();
        assert_eq!(b.later, oid(9));
        assert!(
            b.detail.contains(&oid(7).to_string()) && b.detail.contains("replaced"),
            "{}",
            b.detail
        );
    }

    #[test]
    fn a_deleted_predecessor_names_both_commits() {
        let mut c = Chain::default();
        c.meet(
            oid(9),
            0,
            || "d9".into(),
            Some(&record(Some((7, "d7")), &[])),
        );
        c.pass(oid(8));
        c.pass(oid(7));
        let b = c
            .meet(oid(5), 3, || "d5".into(), Some(&record(None, &[])))
            .unwrap();
        assert!(b.detail.contains("gone"), "{}", b.detail);
        assert!(b.detail.contains(&oid(7).to_string()) && b.detail.contains(&oid(9).to_string()));
        // Deleted with nothing older: found at the root.
        let mut c = Chain::default();
        c.meet(
            oid(9),
            0,
            || "d9".into(),
            Some(&record(Some((7, "d7")), &[])),
        );
        c.pass(oid(7));
        assert!(c.at_root().unwrap().detail.contains("gone"));
    }

    #[test]
    fn a_record_in_between_or_a_first_record_with_a_predecessor_breaks() {
        let mut c = Chain::default();
        c.meet(
            oid(9),
            0,
            || "d9".into(),
            Some(&record(Some((5, "d5")), &[])),
        );
        let b = c
            .meet(
                oid(7),
                1,
                || "d7".into(),
                Some(&record(Some((5, "d5")), &[])),
            )
            .unwrap();
        assert!(b.detail.contains("added in between"), "{}", b.detail);
        let mut c = Chain::default();
        c.meet(oid(9), 0, || "d9".into(), Some(&record(None, &[])));
        assert!(
            c.meet(oid(7), 1, || "d7".into(), Some(&record(None, &[])))
                .is_some()
        );
        // A version 1 record names nothing and waits for nothing.
        let mut c = Chain::default();
        let mut v1 = crate::record::note::tests::sample();
        v1.version = 1;
        c.meet(oid(9), 0, || "d9".into(), Some(&Ok(Some(v1))));
        assert_eq!(
            c.meet(oid(7), 1, || "d7".into(), Some(&record(None, &[]))),
            None
        );
    }
}
