//! Step 5: claiming M at most once, with a claim commit only prgate can authenticate, and
//! telling prgate's own claims (this instance's, another replica's) from a writer's refs.

use std::time::Duration;

use chrono::Utc;

use super::considered::Mode;
use super::engine::{DEFAULT_TIMEOUT, Executor};
use super::error::ExecError;
use crate::record::note::NOTES_REF;
use crate::types::{CommitSha, RepoName};

/// Past its executor's timeout, how long a claim of another replica's may still be finishing
/// (killing the process group, writing the record) before it counts as interrupted.
const CLAIM_GRACE: Duration = Duration::from_secs(120);

/// The merge a claim ref names: `refs/prgate/claims/<M>` or `refs/prgate/claims/<M>-operator-<id>`.
pub(super) fn merge_of_claim(name: &str) -> Option<CommitSha> {
    let rest = name.strip_prefix("refs/prgate/claims/")?;
    rest.split('-').next()?.parse().ok()
}

/// How a claim went.
pub(super) enum Claim {
    Ours,
    /// Another replica (or an earlier pass) holds it, as its `running` status shows.
    Elsewhere,
    /// A ref prgate did not create is in the way; the reason names it and the fix.
    Blocked(String),
}

impl Executor {
    /// Claims M: creates `refs/prgate/claims/<M>` (an operator's re-run, a name of its own
    /// nobody can predict) pointing at a claim commit of this attempt's own: M's tree on M,
    /// with a random id in its message. The SHA is unique to the attempt, so reading the ref
    /// back tells our create from anyone else's: a create that got no answer (and so was not
    /// sent again) may have happened, and when the retry meets it, the claim is ours.
    ///
    /// A 422 is read back too, because GitHub answers 422 both when the ref exists and when
    /// another ref's name blocks it ("Reference update failed"): a claim of M (a claim commit
    /// on M, or M itself as earlier versions made it) that shows in prgate's own statuses is
    /// another replica's; anything else is not prgate's, and executions must not stop
    /// silently on it.
    pub(super) async fn claim(
        &self,
        repo: &RepoName,
        merge: &CommitSha,
        tree: &str,
        mode: Mode,
    ) -> Result<Claim, ExecError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = match mode {
            Mode::Automatic => format!("refs/prgate/claims/{merge}"),
            Mode::Operator => format!("refs/prgate/claims/{merge}-operator-{}", &id[..12]),
        };
        let auth = super::instance::claim_auth(
            &self.claim_key,
            &repo.to_string(),
            merge.as_str(),
            &self.instance,
            &id,
        );
        let message = format!(
            "prgate claim of {merge}\n\nclaim-id: {id}\n{}\nclaim-auth: {auth}\n",
            super::instance::claim_line(&self.instance)
        );
        let ours = self
            .gh
            .create_commit(repo, &message, tree, &[merge])
            .await?;
        // Each attempt is read back before the next, so a create is never sent twice blind
        // (hand-written for that reason: a generic retry would send it again unread).
        let mut attempts = 0;
        let existing = loop {
            attempts += 1;
            match self.gh.create_ref(repo, &name, &ours).await {
                Ok(true) => return Ok(Claim::Ours),
                Ok(false) => break self.gh.ref_target(repo, &name).await?,
                Err(e) if e.is_ambiguous() => {
                    tracing::warn!(%repo, %merge, error = %e, "claim create got no clear answer; reading it back");
                    match self.gh.ref_target(repo, &name).await? {
                        None if attempts < 3 => continue,
                        None => return Err(e.into()),
                        found => break found,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        match existing {
            Some(target) if target == ours.as_str() => Ok(Claim::Ours),
            Some(target) if self.claims_merge(repo, &target, merge).await? => {
                // prgate's own claim, by its authentication code: this instance's from an
                // earlier attempt that ended before its `running` status is resumed, once the
                // statuses, read again now, show no claim (nothing ran: the caller holds this
                // process's only attempt at M, and an attempt posts `running` before it runs
                // anything); another instance's is its.
                if let Some(instance) = self.prgates_claim(repo, &target, merge).await? {
                    let claimed_before = self
                        .own_statuses(repo, merge)
                        .await?
                        .iter()
                        .any(|s| s.claimed());
                    if instance == self.instance && !claimed_before {
                        tracing::info!(%repo, %merge, "resuming this instance's own claim of an attempt that ended before anything ran");
                        return Ok(Claim::Ours);
                    }
                    return Ok(Claim::Elsewhere);
                }
                // Another replica claimed it moments ago, or a writer made it: the claimer
                // posts its `running` status right after the claim.
                for wait in [0u64, 1, 2] {
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    if self
                        .own_statuses(repo, merge)
                        .await?
                        .iter()
                        .any(|s| s.claimed())
                    {
                        return Ok(Claim::Elsewhere);
                    }
                }
                Ok(Claim::Blocked(format!(
                    "{name} exists but no prgate run claimed it; if nothing runs, delete it and run prgate execute"
                )))
            }
            Some(target) => Ok(Claim::Blocked(format!(
                "{name} points to {}, not a claim of the merge; it is not prgate's, delete it",
                target.get(..7).unwrap_or(&target)
            ))),
            None => {
                let blocker = self
                    .gh
                    .matching_refs(repo, "prgate/claims")
                    .await?
                    .into_iter()
                    .map(|(r, _)| r)
                    .find(|r| name.starts_with(&format!("{r}/")));
                Ok(Claim::Blocked(match blocker {
                    Some(r) => format!("ref {r} blocks the claim refs under it; delete it"),
                    None => format!("cannot create {name}; check the refs under refs/prgate"),
                }))
            }
        }
    }

    /// The instance that made the claim commit `target`, when its authentication code shows it
    /// is prgate's own; `None` for anything else (a writer's claim, an old unauthenticated one).
    pub(super) async fn prgates_claim(
        &self,
        repo: &RepoName,
        target: &str,
        merge: &CommitSha,
    ) -> Result<Option<String>, ExecError> {
        if self.claim_key.is_empty() || target == merge.as_str() {
            return Ok(None);
        }
        let message = match self.gh.commit_message(repo, target).await {
            Ok(m) => m,
            Err(e) if matches!(e.status(), Some(404 | 422)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some((id, instance, auth)) = super::instance::parse_claim(&message) else {
            return Ok(None);
        };
        let want = super::instance::claim_auth(
            &self.claim_key,
            &repo.to_string(),
            merge.as_str(),
            &instance,
            &id,
        );
        let genuine: bool = subtle::ConstantTimeEq::ct_eq(want.as_bytes(), auth.as_bytes()).into();
        Ok(genuine.then_some(instance))
    }

    /// Whether `target`, the object a claim ref points to, claims `merge`: a claim commit whose
    /// only parent is the merge, or the merge itself (claims made before claim commits).
    pub(super) async fn claims_merge(
        &self,
        repo: &RepoName,
        target: &str,
        merge: &CommitSha,
    ) -> Result<bool, ExecError> {
        if target == merge.as_str() {
            return Ok(true);
        }
        match self.gh.commit_parents(repo, target).await {
            Ok(parents) => Ok(parents.len() == 1 && parents[0] == merge.as_str()),
            // Not a commit (a tree, a blob, gone): not a claim.
            Err(e) if matches!(e.status(), Some(404 | 422)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A ref whose name keeps `refs/notes/prgate` from being pushed (`refs/notes/prgate/x`, or
    /// `refs/notes` itself): the record could not be stored, so nothing may run.
    pub(super) async fn notes_blocker(&self, repo: &RepoName) -> Result<Option<String>, ExecError> {
        let refs = self.gh.matching_refs(repo, "notes").await?;
        Ok(refs
            .into_iter()
            .map(|(r, _)| r)
            .find(|r| r == "refs/notes" || r.starts_with(&format!("{NOTES_REF}/")))
            .map(|r| format!("ref {r} blocks {NOTES_REF}; delete it")))
    }

    /// Whether a claim whose `running` status was posted at `since` can no longer be running:
    /// it is this instance's (which runs nothing of it now: it was interrupted by a restart),
    /// or it has been running longer than any executor may run plus a margin. Another
    /// replica's claim within that time may be running there, and is left alone.
    pub(super) async fn claim_is_over(
        &self,
        repo: &RepoName,
        target: &str,
        merge: &CommitSha,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<bool, ExecError> {
        // Claims made before claim commits pointed at M itself: nothing tells whose they are.
        if target != merge.as_str() {
            match self.gh.commit_message(repo, target).await {
                Ok(message)
                    if message
                        .lines()
                        .any(|l| l == super::instance::claim_line(&self.instance)) =>
                {
                    return Ok(true);
                }
                Ok(_) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let longest = self
            .config
            .executors
            .values()
            .map(|e| e.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT))
            .max()
            .unwrap_or(DEFAULT_TIMEOUT);
        let limit =
            chrono::Duration::from_std(longest + CLAIM_GRACE).unwrap_or(chrono::Duration::MAX);
        Ok(since.is_none_or(|t| Utc::now() - t > limit))
    }
}
