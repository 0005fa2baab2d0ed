//! Plans run by the executor: for a PR before approval (shown by the gate), and again on the
//! merge before its command, read back with the plans prgate's own comments showed.

use chrono::Utc;
use git2::Oid;

use super::engine::{DEFAULT_TIMEOUT, Executor};
use super::error::ExecError;
use super::local::LocalFacts;
use super::plan_marker::{parse_plan_marker, plan_text_in_comment};
use super::plan_run::{
    PlanRun, PlanSpec, checkout_plan_tree, plan_dir, run_plan, with_programs_from, would_be_merge,
};
use super::verify::Verified;
use crate::config::ExecutorConfig;
use crate::record::note::PlanDigest;
use crate::types::{CommitSha, PullNumber, RepoName};

impl Executor {
    /// Runs `executor`'s plan for a PR's `head` on `base`, the base branch's tip: in a fresh
    /// checkout of their would-be merge, with the executor's program paths as `base` holds
    /// them. `Err` when the plan could not be attempted for a reason outside the change (the
    /// mirror cannot be synced, a commit is not fetched yet): the caller tries again later. A
    /// plan's own failure (no clean merge, a non-zero exit, a timeout) is `Ok` with `failure`.
    pub(crate) async fn plan_pull(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        base: &CommitSha,
        head: &CommitSha,
        executor: &str,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<PlanRun, ExecError> {
        let (mirror, _) = self.mirror(repo).await?;
        let gerr = Self::git_err(repo);
        let b = Oid::from_str(base.as_str()).map_err(&gerr)?;
        let h = Oid::from_str(head.as_str()).map_err(&gerr)?;
        let Some(exec) = self
            .executor_config(executor, repo)
            .filter(|e| e.plan.is_some())
        else {
            return Ok(PlanRun::failed(
                executor,
                b,
                h,
                format!("executor {executor} has no plan for {repo} in prgate.toml"),
            ));
        };
        let dir = plan_dir(&self.config.data_dir, executor, head.as_str());
        let checkout = match would_be_merge(&mirror, b, h).map_err(&gerr)? {
            Err(reason) => Err(reason),
            Ok(tree) => {
                let programs = mirror.find_commit(b).map_err(&gerr)?.tree_id();
                with_programs_from(&mirror, tree, programs, &exec.program_patterns())
                    .and_then(|t| checkout_plan_tree(&mirror, t, &[b, h], &dir))
                    .map_err(|e| format!("cannot check out the would-be merge: {e}"))
            }
        };
        drop(mirror);
        let run = match checkout {
            Ok(checkout) => {
                let spec = self.plan_spec(repo, pull, executor, &exec, b, h);
                run_plan(&spec, checkout, cancel).await
            }
            Err(reason) => PlanRun::failed(executor, b, h, reason),
        };
        self.remember_plan(&run);
        Ok(run)
    }

    pub(super) fn plan_spec<'a>(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        executor: &'a str,
        exec: &'a ExecutorConfig,
        programs_from: Oid,
        head: Oid,
    ) -> PlanSpec<'a> {
        PlanSpec {
            executor,
            config: exec,
            timeout: exec.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT),
            programs_from,
            head,
            held: self.held.clone(),
            context: vec![
                ("PRGATE_REPO".into(), repo.to_string()),
                ("PRGATE_PULL".into(), pull.to_string()),
                ("PRGATE_HEAD_SHA".into(), head.to_string()),
            ],
        }
    }

    pub(super) fn remember_plan(&self, run: &PlanRun) {
        if let (Some(plan), Ok(mut outputs)) = (&run.plan, self.plan_outputs.lock()) {
            outputs.put(plan.digest.clone(), run.output.clone());
        }
    }

    /// The output of a plan run here with this digest, while it is remembered.
    pub(super) fn plan_output(&self, digest: &str) -> Option<String> {
        self.plan_outputs
            .lock()
            .ok()
            .and_then(|mut o| o.get(digest).cloned())
    }

    /// The plans prgate showed on a PR for `head` (its own comments' markers) with when each
    /// was shown, oldest first.
    pub(crate) async fn shown_plans(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        head: &CommitSha,
        executor: &str,
    ) -> Result<Vec<(PlanDigest, Option<chrono::DateTime<Utc>>)>, ExecError> {
        let me = self.own_account().await?;
        let comments = self.gh.comments(repo, pull).await?;
        Ok(comments
            .iter()
            .filter(|c| c.user.as_ref().is_some_and(|u| me.wrote(u)))
            .filter_map(|c| parse_plan_marker(&c.body).map(|m| (m, c.created_at)))
            .filter(|(m, _)| m.head == head.as_str() && m.executor == executor)
            .map(|(m, at)| (m.plan, at))
            .collect::<Vec<_>>())
        .map(|mut v| {
            v.sort_by_key(|(_, at)| *at);
            v
        })
    }

    /// The text of `plan` as one of prgate's own plan comments on the PR shows it, when that
    /// text hashes to the plan's digest: a comment can be edited by the repository's admins,
    /// and a text that is not the approved plan is never quoted as it. `None` on any doubt
    /// (no such comment, clipped output, a read that fails); the refusal then points to the
    /// comment instead.
    pub(super) async fn shown_plan_text(
        &self,
        repo: &RepoName,
        pull: PullNumber,
        executor: &str,
        plan: &PlanDigest,
    ) -> Option<String> {
        let me = self.own_account().await.ok()?;
        let comments = self.gh.comments(repo, pull).await.ok()?;
        comments
            .iter()
            .filter(|c| c.user.as_ref().is_some_and(|u| me.wrote(u)))
            .filter(|c| {
                parse_plan_marker(&c.body)
                    .is_some_and(|m| m.executor == executor && m.plan == *plan)
            })
            .find_map(|c| plan_text_in_comment(&c.body, plan))
    }

    /// The plan run again on the merge before its command, with the program paths of its
    /// first parent, for the approved head.
    pub(super) async fn rerun_plan(
        &self,
        repo: &RepoName,
        verified: &Verified,
        name: &str,
        exec: &ExecutorConfig,
        local: &LocalFacts,
        m: Oid,
    ) -> Result<PlanRun, ExecError> {
        let pull = PullNumber(verified.pull.number);
        let head = &verified.note.head;
        let gerr = Self::git_err(repo);
        let h = Oid::from_str(head.as_str()).map_err(&gerr)?;
        let p = Oid::from_str(local.parent.as_str()).map_err(&gerr)?;
        let dir = plan_dir(&self.config.data_dir, name, head.as_str());
        let mirror = self.local_mirror(repo).await?;
        let checkout = {
            let content = mirror.find_commit(m).map_err(&gerr)?.tree_id();
            let programs = mirror.find_commit(p).map_err(&gerr)?.tree_id();
            with_programs_from(&mirror, content, programs, &exec.program_patterns())
                .and_then(|t| checkout_plan_tree(&mirror, t, &[p, h], &dir))
        };
        drop(mirror);
        let run = match checkout {
            Ok(checkout) => {
                let spec = self.plan_spec(repo, pull, name, exec, p, h);
                run_plan(&spec, checkout, tokio_util::sync::CancellationToken::new()).await
            }
            Err(e) => PlanRun::failed(name, p, h, format!("cannot check out the merge: {e}")),
        };
        self.remember_plan(&run);
        Ok(run)
    }
}
