//! Where `prgate audit --since` and `--since-commit` stop the walk. A commit's own dates are
//! whatever its pusher wrote, so they never stop it: only a record the gate wrote about that
//! very commit (a note, signed by a trusted key when keys are given) dates it, or the commit
//! the auditor names.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use git2::Oid;
use serde::Serialize;

use crate::record::note::{ExecutionNote, NoteError};
use crate::verify::SignatureStatus;

/// The commit where the walk stopped; it and everything behind it were not audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StoppedAt {
    pub commit: String,
    /// The decision time its record states, when a record older than `--since` stopped the
    /// walk; `None` when it is the `--since-commit`.
    pub decided_at: Option<DateTime<Utc>>,
}

/// What may end a walk before the root.
pub(super) struct WalkLimit<'a> {
    pub since: Option<DateTime<Utc>>,
    pub since_commit: Option<Oid>,
    pub trusted: &'a [VerifyingKey],
}

impl WalkLimit<'_> {
    /// Where the walk stops at `commit` (before auditing it), given its note as read, or
    /// `None` to go on.
    ///
    /// With `--since`, the walk stops at the first commit whose note was written about that
    /// commit (its `merge` is the commit) and says the gate decided about it before the date:
    /// the gate verified the commit, and so everything behind it, as already on the branch by
    /// then. A commit without such a note is walked through, whatever its dates say; a history
    /// without one is audited whole. With trusted keys, only a note signed by one of them
    /// counts, since anyone who can push notes could write the rest.
    pub fn stop_at(
        &self,
        commit: Oid,
        note: Option<&Result<Option<ExecutionNote>, NoteError>>,
    ) -> Option<StoppedAt> {
        if self.since_commit == Some(commit) {
            return Some(StoppedAt {
                commit: commit.to_string(),
                decided_at: None,
            });
        }
        let since = self.since?;
        let Some(Ok(Some(note))) = note else {
            return None;
        };
        if note.merge.as_str() != commit.to_string() || note.decided_at >= since {
            return None;
        }
        if !self.trusted.is_empty()
            && !matches!(
                SignatureStatus::of(note, self.trusted),
                SignatureStatus::Valid { .. }
            )
        {
            return None;
        }
        Some(StoppedAt {
            commit: commit.to_string(),
            decided_at: Some(note.decided_at),
        })
    }
}
