//! Which open PRs a reconciler pass re-evaluates, judged only from what the code host shows in
//! the listing (never from what this process remembers), so that a fresh replica and a
//! restarted one pick the same PRs. Pure: the listing in, a reason (or none) out.
//!
//! A decision may have changed when something on the PR is newer than prgate's status on its
//! head, less a margin: the status is posted after the facts were read, and a review that
//! landed in between is older than the status but not in the decision. An evaluation slower
//! than the margin runs again (see `worker.rs`), and a PR that a pass re-evaluates for a date
//! gets its status posted afresh even when unchanged, so its date moves past the change and
//! the next pass leaves it alone.

use chrono::{DateTime, Duration, Utc};

use crate::github::OwnAccount;
use crate::github::open_pulls::ListedPull;
use crate::policy::MergeMode;

/// How much older than prgate's status a change may be and still not be in the decision: an
/// evaluation reads its facts and posts within this (100 ms round trips, a dozen calls); a
/// slower one evaluates again.
pub(crate) const MARGIN: Duration = Duration::seconds(10);

/// What no date on the PR shows (a team's members, an account renamed) reaches a decision at
/// the latest after this long: older decisions are made again.
pub(crate) const REFRESH_AFTER: Duration = Duration::hours(24);

/// What the listing said about a governed branch's policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct BranchView {
    /// When the policy file last changed (its commit's date).
    pub changed_at: Option<DateTime<Utc>>,
    /// `expire_after`, when the policy could be read and has one.
    pub expire_after: Option<Duration>,
    /// Whether prgate merges approved PRs on this branch (`auto` or `queue`); true when the
    /// policy could not be read, so an approved PR is never left unmerged on a guess.
    pub merges: bool,
    /// Whether approved PRs go through the merge queue (or the policy could not be read).
    pub queued: bool,
}

impl BranchView {
    /// The view of a policy file's text (`None`: absent or unreadable).
    pub(crate) fn of(text: Option<&str>, changed_at: Option<DateTime<Utc>>) -> Self {
        let policy =
            text.and_then(|t| crate::policy::parse_policy(crate::policy::POLICY_PATH, t).ok());
        BranchView {
            changed_at,
            expire_after: policy
                .as_ref()
                .and_then(|p| p.expire_after)
                .and_then(|d| Duration::from_std(d.0).ok()),
            merges: policy.as_ref().is_none_or(|p| p.merge != MergeMode::Manual),
            queued: policy.as_ref().is_none_or(|p| p.merge == MergeMode::Queue),
        }
    }
}

/// Why a pass re-evaluates a PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// No `prgate/approval` status on its head.
    Undecided,
    /// The latest `prgate/approval` on its head is someone else's.
    NotPrgates,
    /// Its commit list ends elsewhere than its head (the status read is not the head's).
    HeadMoved,
    /// Updated (pushed, edited, commented, labelled, ...) since the decision.
    Updated,
    Reviewed,
    Dismissed,
    /// Its base branch's policy changed since the decision.
    PolicyChanged,
    /// Undecided past the policy's `expire_after`: it is closed as denied.
    Expiring,
    /// Its status is `error`: a decision that could not be made is tried again every pass
    /// (the status says so), until the code host answers or the policy is fixed.
    Errored,
    /// Approved, merged by prgate, and still open (a merge that failed is tried again).
    Unmerged,
    /// Decided longer ago than [`REFRESH_AFTER`].
    Aged,
}

impl Due {
    /// Whether the evaluation posts its status even when the code host already shows it, so
    /// that the status's date moves past what made the PR due.
    pub(crate) fn posts_afresh(self) -> bool {
        matches!(
            self,
            Due::Updated | Due::Reviewed | Due::Dismissed | Due::PolicyChanged | Due::Aged
        )
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Due::Undecided => "undecided",
            Due::NotPrgates => "not_prgates",
            Due::HeadMoved => "head_moved",
            Due::Updated => "updated",
            Due::Reviewed => "reviewed",
            Due::Dismissed => "dismissed",
            Due::PolicyChanged => "policy_changed",
            Due::Expiring => "expiring",
            Due::Errored => "error",
            Due::Unmerged => "unmerged",
            Due::Aged => "aged",
        }
    }
}

/// Whether (and why) a pass re-evaluates `pull`.
pub(crate) fn due(
    pull: &ListedPull,
    branch: &BranchView,
    me: &OwnAccount,
    now: DateTime<Utc>,
) -> Option<Due> {
    if pull.last_commit.as_deref() != Some(pull.head.as_str()) {
        return Some(Due::HeadMoved);
    }
    let Some(status) = &pull.approval else {
        return Some(Due::Undecided);
    };
    if !status.creator.as_ref().is_some_and(|c| me.wrote(c)) {
        return Some(Due::NotPrgates);
    }
    let decided = status.created_at - MARGIN;
    let after = |at: Option<DateTime<Utc>>| at.is_some_and(|at| at > decided);
    // A PR never updated since it was opened was opened before any evaluation read it.
    if pull.updated_at != pull.created_at && after(Some(pull.updated_at)) {
        return Some(Due::Updated);
    }
    if after(pull.last_review_at) {
        return Some(Due::Reviewed);
    }
    if after(pull.last_dismissal_at) {
        return Some(Due::Dismissed);
    }
    if after(branch.changed_at) {
        return Some(Due::PolicyChanged);
    }
    let undecided = matches!(status.state.as_str(), "pending" | "error");
    if undecided
        && branch
            .expire_after
            .is_some_and(|ttl| pull.created_at + ttl <= now)
    {
        return Some(Due::Expiring);
    }
    if status.state == "error" {
        return Some(Due::Errored);
    }
    if status.state == "success" && branch.merges && !pull.in_merge_queue {
        return Some(Due::Unmerged);
    }
    if now - status.created_at > REFRESH_AFTER {
        return Some(Due::Aged);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::models::ApiUser;
    use crate::github::open_pulls::ShownStatus;
    use crate::policy::{Account, AccountKind};
    use crate::types::{Login, UserId};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
    }

    fn me() -> OwnAccount {
        OwnAccount::User(Account {
            login: Login::new("prgate"),
            id: UserId(7),
            kind: AccountKind::User,
        })
    }

    fn user(login: &str, id: u64) -> ApiUser {
        ApiUser {
            login: login.into(),
            id,
            kind: "User".into(),
            email: None,
        }
    }

    /// Opened at 0, last touched at 10, prgate's `pending` posted at 20; now is 60.
    fn quiet() -> ListedPull {
        ListedPull {
            number: 1,
            created_at: at(0),
            updated_at: at(10),
            in_merge_queue: false,
            head: "a".repeat(40),
            base_ref: "main".into(),
            last_review_at: None,
            last_dismissal_at: None,
            last_commit: Some("a".repeat(40)),
            approval: Some(ShownStatus {
                state: "pending".into(),
                created_at: at(20),
                creator: Some(user("prgate", 7)),
            }),
        }
    }

    fn judge(p: &ListedPull, b: &BranchView) -> Option<Due> {
        due(p, b, &me(), at(60))
    }

    #[test]
    fn a_pr_nothing_happened_to_since_its_decision_is_left_alone() {
        assert_eq!(judge(&quiet(), &BranchView::default()), None);
    }

    #[test]
    fn what_the_code_host_shows_makes_a_pr_due() {
        let b = BranchView::default();
        type Change = Box<dyn Fn(&mut ListedPull)>;
        let cases: Vec<(&str, Change, Due)> = vec![
            ("no status", Box::new(|p| p.approval = None), Due::Undecided),
            (
                "a status by someone else, even under prgate's login",
                Box::new(|p| {
                    p.approval.as_mut().unwrap().creator = Some(user("prgate", 99));
                }),
                Due::NotPrgates,
            ),
            (
                "a status without a creator",
                Box::new(|p| p.approval.as_mut().unwrap().creator = None),
                Due::NotPrgates,
            ),
            (
                "commit list ends elsewhere",
                Box::new(|p| p.last_commit = Some("b".repeat(40))),
                Due::HeadMoved,
            ),
            (
                "commit list unreadable",
                Box::new(|p| p.last_commit = None),
                Due::HeadMoved,
            ),
            (
                "updated after",
                Box::new(|p| p.updated_at = at(30)),
                Due::Updated,
            ),
            (
                "updated just before the status, within the margin",
                Box::new(|p| p.updated_at = at(20) - Duration::seconds(5)),
                Due::Updated,
            ),
            (
                "reviewed after",
                Box::new(|p| p.last_review_at = Some(at(25))),
                Due::Reviewed,
            ),
            (
                "dismissed after",
                Box::new(|p| p.last_dismissal_at = Some(at(25))),
                Due::Dismissed,
            ),
            (
                "decided a day ago",
                Box::new(|p| {
                    p.approval.as_mut().unwrap().created_at = at(60) - Duration::hours(25);
                    p.updated_at = at(60) - Duration::hours(30);
                    p.created_at = at(60) - Duration::hours(31);
                }),
                Due::Aged,
            ),
        ];
        for (what, change, want) in cases {
            let mut p = quiet();
            change(&mut p);
            assert_eq!(judge(&p, &b), Some(want), "{what}");
        }
        let mut just_opened = quiet();
        just_opened.created_at = at(19);
        just_opened.updated_at = at(19);
        assert_eq!(
            judge(&just_opened, &b),
            None,
            "opened just before its decision"
        );
        let mut old_review = quiet();
        old_review.last_review_at = Some(at(5));
        old_review.last_dismissal_at = Some(at(6));
        assert_eq!(judge(&old_review, &b), None, "reviews before the decision");
    }

    #[test]
    fn the_branch_policy_decides_expiry_merges_and_changes() {
        let changed = BranchView {
            changed_at: Some(at(40)),
            ..Default::default()
        };
        assert_eq!(judge(&quiet(), &changed), Some(Due::PolicyChanged));
        let expiring = BranchView {
            expire_after: Some(Duration::minutes(60)),
            ..Default::default()
        };
        assert_eq!(judge(&quiet(), &expiring), Some(Due::Expiring));
        let later = BranchView {
            expire_after: Some(Duration::minutes(61)),
            ..Default::default()
        };
        assert_eq!(judge(&quiet(), &later), None);
        let mut errored = quiet();
        errored.approval.as_mut().unwrap().state = "error".into();
        assert_eq!(
            judge(&errored, &later),
            Some(Due::Errored),
            "retried every pass"
        );
        assert_eq!(
            judge(&errored, &expiring),
            Some(Due::Expiring),
            "an error past expiry expires"
        );
        let mut approved = quiet();
        approved.approval.as_mut().unwrap().state = "success".into();
        assert_eq!(
            judge(&approved, &expiring),
            None,
            "an approval never expires; manual merge leaves it"
        );
        let merging = BranchView {
            merges: true,
            ..Default::default()
        };
        assert_eq!(judge(&approved, &merging), Some(Due::Unmerged));
        approved.in_merge_queue = true;
        assert_eq!(judge(&approved, &merging), None, "the queue merges it");
    }

    #[test]
    fn a_policy_read_from_the_listing_gives_expiry_and_merge_mode() {
        let v = BranchView::of(
            Some("version = 1\nexpire_after = \"72h\"\nmerge = \"manual\"\n"),
            None,
        );
        assert_eq!(v.expire_after, Some(Duration::hours(72)));
        assert!(!v.merges);
        let unreadable = BranchView::of(None, None);
        assert!(
            unreadable.merges,
            "an unread policy never leaves an approval unmerged"
        );
        assert!(unreadable.queued, "nor a merge group unanswered");
        assert_eq!(unreadable.expire_after, None);
    }
}
