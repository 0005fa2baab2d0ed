//! Branch protection as the simulator models it: the default branch is protected when the
//! repo has required status contexts or requires a merge queue; admins bypass it unless
//! `enforce_admins`. Shared by the API merge, the refs API, pushes over HTTP and the merge
//! queue, so that all of them refuse the same things.
//!
//! GitHub: "About protected branches",
//! https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
//! (force pushes and deletions are blocked by default; admins are exempt unless included).

use super::world::{CheckRun, Repo};
use crate::ids::UserId;

/// The prefix of the merge queue's temporary branches.
pub const QUEUE_BRANCH_PREFIX: &str = "refs/heads/gh-readonly-queue/";

/// Whether `refname` (a full ref name) is the repo's protected default branch.
pub fn is_protected(r: &Repo, refname: &str) -> bool {
    (!r.required_contexts.is_empty() || r.merge_queue) && is_default_branch(r, refname)
}

fn is_default_branch(r: &Repo, refname: &str) -> bool {
    refname
        .strip_prefix("refs/heads/")
        .is_some_and(|b| b == r.default_branch)
}

/// Whether changes to `refname` must go through the merge queue ("Require merge queue").
pub fn requires_queue(r: &Repo, refname: &str) -> bool {
    r.merge_queue && is_default_branch(r, refname)
}

/// Whether `refname` is one of the merge queue's temporary branches, which GitHub writes and
/// nobody else may ("gh-readonly-queue": read-only to everyone but the queue).
pub fn is_queue_branch(refname: &str) -> bool {
    refname.starts_with(QUEUE_BRANCH_PREFIX)
}

/// GitHub's answer when a change skips a required merge queue: the REST merge's 405 message
/// (as clients meet it: pascalgn/automerge-action#235, "Failed to merge PR: Changes must be
/// made through the merge queue") and a push's reason.
pub const THROUGH_THE_QUEUE: &str = "Changes must be made through the merge queue";

/// Whether `user` may ignore the protection of `r`'s default branch.
pub fn bypasses(r: &Repo, user: UserId) -> bool {
    r.is_admin(user) && !r.enforce_admins
}

/// How a check run counts for a required check: `success`, `neutral` and `skipped` pass
/// ("If a job in a workflow is skipped due to a conditional, it will report its status as
/// Success", Troubleshooting required status checks); any other conclusion fails; a run not
/// completed is pending.
fn check_run_state(c: &CheckRun) -> &'static str {
    match (c.status.as_str(), c.conclusion.as_deref()) {
        ("completed", Some("success" | "neutral" | "skipped")) => "success",
        ("completed", _) => "failure",
        _ => "pending",
    }
}

/// Each required context that `sha` does not satisfy, with the state that keeps it unmet
/// (`None`: nothing reported at all, GitHub's "expected").
///
/// A required check is satisfied by commit statuses and by check runs of its name, from
/// anyone unless protection pins it to an app (then only that app's). "If you have a check
/// and a status with the same name, and you select that name as a required status check,
/// both the check and the status are required"
/// (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/troubleshooting-required-status-checks):
/// so the latest status and each app's latest run of that name must all pass, and at least
/// one of them must exist.
pub fn unmet_checks<'a>(r: &'a Repo, sha: &str) -> Vec<(&'a str, Option<&'static str>)> {
    r.required_contexts
        .iter()
        .filter_map(|ctx| {
            // A context pinned to an app counts only that app's statuses and runs.
            let source = r.required_sources.get(ctx);
            let status = r
                .statuses
                .iter()
                .filter(|s| s.sha == sha && &s.context == ctx)
                .filter(|s| source.is_none_or(|bot| *bot == s.creator))
                .max_by_key(|s| s.id)
                .map(|s| match s.state.as_str() {
                    "success" => "success",
                    "pending" => "pending",
                    "error" => "error",
                    _ => "failure",
                });
            let mut apps: Vec<u64> = Vec::new();
            let mut states: Vec<&'static str> = status.into_iter().collect();
            let mut runs: Vec<&CheckRun> = r
                .check_runs
                .iter()
                .filter(|c| c.head_sha == sha && &c.name == ctx)
                .filter(|c| source.is_none_or(|bot| *bot == c.bot))
                .collect();
            runs.sort_by_key(|c| std::cmp::Reverse(c.id));
            for c in runs {
                if !apps.contains(&c.app) {
                    apps.push(c.app);
                    states.push(check_run_state(c));
                }
            }
            if states.is_empty() {
                return Some((ctx.as_str(), None));
            }
            let worst = ["error", "failure", "pending"]
                .into_iter()
                .find(|w| states.contains(w));
            worst.map(|w| (ctx.as_str(), Some(w)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::SimState;
    use crate::world::{ACTIONS_APP_ID, ACTIONS_BOT, Status, World};

    const SHA: &str = "1111111111111111111111111111111111111111";

    fn repo(seed: &str) -> Repo {
        let state = SimState::from_toml(seed).expect("seed");
        let w = World::from_seed(&state, std::path::Path::new("/nonexistent"));
        w.repos[0].clone()
    }

    fn status(r: &mut Repo, id: u64, state: &str, creator: UserId) {
        r.statuses.push(Status {
            id,
            sha: SHA.into(),
            state: state.into(),
            context: "ci".into(),
            description: None,
            target_url: None,
            creator,
            created_at: chrono::Utc::now(),
        });
    }

    fn run(r: &mut Repo, id: u64, app: u64, bot: UserId, status: &str, conclusion: Option<&str>) {
        r.check_runs.push(CheckRun {
            id,
            app,
            bot,
            suite: 1,
            head_sha: SHA.into(),
            name: "ci".into(),
            status: status.into(),
            conclusion: conclusion.map(str::to_string),
            started_at: None,
            completed_at: None,
            details_url: None,
            external_id: None,
            title: None,
            summary: None,
            text: None,
        });
    }

    #[test]
    fn runs_and_statuses_of_a_name_are_all_required_unless_pinned_elsewhere() {
        let mut r = repo("[[repos]]\nname = \"a/b\"\nrequired_contexts = [\"ci\"]\n");
        assert_eq!(unmet_checks(&r, SHA), [("ci", None)]);
        run(&mut r, 1, ACTIONS_APP_ID, ACTIONS_BOT, "in_progress", None);
        assert_eq!(unmet_checks(&r, SHA), [("ci", Some("pending"))]);
        run(
            &mut r,
            2,
            ACTIONS_APP_ID,
            ACTIONS_BOT,
            "completed",
            Some("skipped"),
        );
        assert!(
            unmet_checks(&r, SHA).is_empty(),
            "the app's latest run counts"
        );
        status(&mut r, 3, "failure", UserId(1000));
        assert_eq!(unmet_checks(&r, SHA), [("ci", Some("failure"))]);
        status(&mut r, 4, "success", UserId(1000));
        assert!(unmet_checks(&r, SHA).is_empty());
        run(&mut r, 5, 77, UserId(8000), "completed", Some("cancelled"));
        assert_eq!(
            unmet_checks(&r, SHA),
            [("ci", Some("failure"))],
            "another app's failing run of the name fails it too"
        );

        // Pinned to the app 77: only its runs and statuses count.
        let mut r = repo(
            "[[repos]]\nname = \"a/b\"\nrequired_checks = [{ context = \"ci\", app_id = 77 }]\n",
        );
        run(
            &mut r,
            1,
            ACTIONS_APP_ID,
            ACTIONS_BOT,
            "completed",
            Some("success"),
        );
        status(&mut r, 2, "success", UserId(1000));
        assert_eq!(unmet_checks(&r, SHA), [("ci", None)]);
    }
}
