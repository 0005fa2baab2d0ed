//! Properties of the approval engine over generated pull requests: no ineligible review can
//! change a decision, a new head always drops approvals, the order reviews arrive in does not
//! matter, and the status description always fits GitHub's limit. And of path patterns:
//! CODEOWNERS semantics (any depth without a slash, anchored with one) and case variants governed.

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

// ---------------------------------------------------------------------------------------------
// Path patterns: CODEOWNERS semantics

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut b = globset::GlobSetBuilder::new();
    for g in prgate::policy::compile_pattern(pattern).expect("a valid pattern") {
        b.add(g);
    }
    b.build().expect("a glob set").is_match(path)
}

/// Folder and file names: lower-case, never a glob character.
fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,7}"
}

fn folders() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(name(), 0..4)
}

fn joined(parts: &[String], last: &str) -> String {
    let mut p = parts.to_vec();
    p.push(last.to_string());
    p.join("/")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A name without a slash governs that name, and everything below it, in every folder;
    /// with a leading `/`, only at the root.
    #[test]
    fn a_slashless_name_matches_at_any_depth_and_a_leading_slash_anchors_it(
        above in folders(),
        target in name(),
        below in folders(),
    ) {
        // A folder above with the pattern's own name would cover the path anyway.
        prop_assume!(!above.contains(&target));
        let file = joined(&above, &target);
        let inside = if below.is_empty() { file.clone() } else { format!("{file}/{}", below.join("/")) };
        let folder = format!("{target}/");
        let rooted = format!("/{target}");
        let rooted_folder = format!("/{target}/");
        prop_assert!(pattern_matches(&target, &file));
        prop_assert!(pattern_matches(&target, &inside));
        prop_assert!(pattern_matches(&folder, &inside));
        prop_assert_eq!(pattern_matches(&rooted, &inside), above.is_empty());
        prop_assert_eq!(pattern_matches(&rooted_folder, &inside), above.is_empty());
    }

    /// `*.ext` covers every file with that extension in every folder, `/*.ext` only the root's,
    /// and `**/x` is the same as `x`.
    #[test]
    fn extensions_and_double_stars(above in folders(), stem in name(), ext in "[a-z]{1,4}") {
        let file = joined(&above, &format!("{stem}.{ext}"));
        let any_depth = format!("*.{ext}");
        let at_root = format!("/*.{ext}");
        let double_star = format!("**/{stem}.{ext}");
        let other = format!("*.{ext}x");
        prop_assert!(pattern_matches(&any_depth, &file));
        prop_assert_eq!(pattern_matches(&at_root, &file), above.is_empty());
        prop_assert!(pattern_matches(&double_star, &file));
        prop_assert!(!pattern_matches(&other, &file));
    }

    /// A slash in the middle anchors a pattern: `a/b` matches `a/b/...` and never `x/a/b`.
    #[test]
    fn a_slash_in_the_middle_anchors(a in name(), b in name(), above in proptest::collection::vec(name(), 1..3)) {
        let pattern = format!("{a}/{b}");
        let under = format!("{a}/{b}/f");
        let deeper = format!("{}/{a}/{b}/f", above.join("/"));
        // Unless the folders above happen to spell the pattern themselves.
        prop_assume!(!deeper.starts_with(&format!("{pattern}/")));
        prop_assert!(pattern_matches(&pattern, &under));
        prop_assert!(!pattern_matches(&pattern, &deeper));
    }

    /// A path that differs from a governed one only in case is governed too: on a
    /// case-insensitive filesystem it would be checked out over the governed file.
    #[test]
    fn a_case_variant_is_governed_too(above in folders(), target in name()) {
        prop_assume!(target.chars().any(|c| c.is_ascii_lowercase()));
        // A folder above with the pattern's own name would cover the path anyway.
        prop_assume!(!above.contains(&target));
        let upper = target.to_ascii_uppercase();
        let upper_file = joined(&above, &upper);
        let folder = format!("{target}/**");
        let upper_inside = format!("{upper}/f");
        prop_assert!(pattern_matches(&target, &upper_file));
        prop_assert!(pattern_matches(&folder, &upper_inside));
    }
}
