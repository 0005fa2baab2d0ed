//! Properties of the approval engine over generated pull requests: no ineligible review can
//! change a decision, a new head always drops approvals, the order reviews arrive in does not
//! matter, and the status description always fits GitHub's limit.

use proptest::prelude::*;

use prgate::policy::fixtures::{
    bot, commit_by, example_policy, pull, review, sha, user, with_team,
};
use prgate::policy::{
    Account, ApprovalDecision, ApprovalState, ProposedPolicy, PullFacts, Review, ReviewState,
    evaluate_approval,
};

const HEAD: u64 = 0x1a2b3c4d;
const OLD: u64 = 0x0ddc0ffe;
const NEW_HEAD: u64 = 0x5e5e5e5e;

/// Accounts that may approve something under the example policy (given the teams below).
fn eligible() -> Vec<Account> {
    vec![
        user("alice", 1),
        user("bob", 2),
        user("carol", 3),
        user("dave", 4),
        user("mia", 6),
    ]
}

/// Accounts that must never count: not designated, bots, an agent, the PR author, a commit
/// author and a committer. Some of them sit in approving teams, to make it tempting.
fn ineligible() -> Vec<Account> {
    vec![
        user("mallory", 5),
        bot("netops-bot", 7),
        user("release-bot", 9),
        bot("ops-agent[bot]", 100),
        user("erin", 11),
        user("frank", 12),
    ]
}

fn any_state() -> impl Strategy<Value = ReviewState> {
    prop_oneof![
        3 => Just(ReviewState::Approved),
        1 => Just(ReviewState::ChangesRequested),
        1 => Just(ReviewState::Commented),
        1 => Just(ReviewState::Dismissed),
        1 => Just(ReviewState::Other),
    ]
}

/// (who, state, on the head?, minute, body) of one review; ids are given in order later.
type ReviewSpec = (usize, ReviewState, bool, i64, String);

fn review_spec(people: usize) -> impl Strategy<Value = ReviewSpec> {
    (0..people, any_state(), any::<bool>(), 0i64..30, ".{0,200}")
}

fn files() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(
        vec![
            "firewall/rules.yml",
            ".github/prgate.toml",
            "README.md",
            "docs/x.md",
        ],
        0..=4,
    )
}

fn build(files: &[&str], specs: &[ReviewSpec], people: &[Account], draft: bool) -> PullFacts {
    let agent = bot("ops-agent[bot]", 100);
    let mut f = pull(&agent, sha(HEAD), files);
    f.draft = draft;
    if files.contains(&".github/prgate.toml") {
        f.proposed_policy = ProposedPolicy::Valid;
    }
    // erin wrote an earlier commit, frank committed it; both are in approving teams.
    let mut early = commit_by(sha(0x33333333), &user("erin", 11));
    early.committer = Some(user("frank", 12));
    f.commits.insert(0, early);
    with_team(
        &mut f,
        "acme/netops",
        &[
            &user("bob", 2),
            &bot("netops-bot", 7),
            &user("release-bot", 9),
            &user("erin", 11),
        ],
    );
    with_team(
        &mut f,
        "acme/security",
        &[&user("carol", 3), &user("dave", 4), &user("frank", 12)],
    );
    with_team(
        &mut f,
        "acme/maintainers",
        &[&user("mia", 6), &user("erin", 11)],
    );
    f.reviews = specs
        .iter()
        .enumerate()
        .map(|(i, (who, state, on_head, minute, body))| {
            let commit = if *on_head { sha(HEAD) } else { sha(OLD) };
            let mut r = review(1000 + i as u64, &people[*who], *state, &commit, *minute);
            r.body = body.clone();
            r
        })
        .collect();
    f
}

fn everyone() -> Vec<Account> {
    let mut v = eligible();
    v.extend(ineligible());
    v
}

fn decide(f: &PullFacts) -> ApprovalDecision {
    evaluate_approval(&example_policy(), f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn an_ineligible_review_never_changes_the_state(
        files in files(),
        specs in proptest::collection::vec(review_spec(11), 0..8),
        extra in review_spec(6),
        draft in any::<bool>(),
    ) {
        let people = everyone();
        let before = build(&files, &specs, &people, draft);
        let d_before = decide(&before);

        let bad = ineligible();
        let mut after = before.clone();
        let (who, state, on_head, minute, body) = extra;
        let commit = if on_head { sha(HEAD) } else { sha(OLD) };
        let mut r: Review = review(5000, &bad[who], state, &commit, minute);
        r.body = body;
        after.reviews.push(r);
        let d_after = decide(&after);

        prop_assert_eq!(d_before.state, d_after.state);
        if d_before.state != ApprovalState::Success {
            prop_assert_ne!(d_after.state, ApprovalState::Success);
        }
        prop_assert_eq!(d_before.approvals, d_after.approvals);
    }

    #[test]
    fn a_new_head_commit_always_removes_approval(
        files in files(),
        specs in proptest::collection::vec(review_spec(11), 0..8),
    ) {
        let people = everyone();
        let mut f = build(&files, &specs, &people, false);
        f.head_sha = sha(NEW_HEAD);
        f.commits.push(commit_by(sha(NEW_HEAD), &bot("ops-agent[bot]", 100)));
        let d = decide(&f);
        prop_assert!(d.approvals.is_empty(), "{:?}", d.approvals);
        // The example policy has [defaults], so some rule always applies.
        prop_assert_ne!(d.state, ApprovalState::Success);
    }

    #[test]
    fn the_order_of_reviews_does_not_matter(
        (files, specs, shuffled) in (files(), proptest::collection::vec(review_spec(11), 0..10))
            .prop_flat_map(|(files, specs)| {
                let order: Vec<usize> = (0..specs.len()).collect();
                (Just(files), Just(specs), Just(order).prop_shuffle())
            }),
        draft in any::<bool>(),
    ) {
        let people = everyone();
        let f = build(&files, &specs, &people, draft);
        let mut g = f.clone();
        g.reviews = shuffled.iter().map(|&i| f.reviews[i].clone()).collect();
        prop_assert_eq!(decide(&f), decide(&g));
    }

    #[test]
    fn the_description_is_always_under_140_characters(
        files in files(),
        specs in proptest::collection::vec(review_spec(64), 0..12),
        draft in any::<bool>(),
        unmapped in any::<bool>(),
        email in ".{0,300}",
        invalid in proptest::option::of(".{0,300}"),
        long_logins in proptest::collection::vec("[a-zA-Z0-9-]{1,39}", 0..6),
    ) {
        let mut people = everyone();
        people.extend(long_logins.iter().enumerate().map(|(i, l)| user(l, 10_000 + i as u64)));
        let specs: Vec<ReviewSpec> = specs
            .into_iter()
            .map(|(who, s, h, m, b)| (who % people.len(), s, h, m, b))
            .collect();
        let mut f = build(&files, &specs, &people, draft);
        if unmapped {
            f.commits[0].author = None;
            f.commits[0].author_email = email;
        }
        if let Some(msg) = invalid {
            f.proposed_policy = ProposedPolicy::Invalid(msg);
        }
        let d = decide(&f);
        prop_assert!(d.description.chars().count() < 140, "{} chars: {}", d.description.chars().count(), d.description);
        prop_assert!(!d.description.contains('\n'));
    }
}
