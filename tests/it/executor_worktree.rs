//! Mirror and fresh checkout against real repositories.

use crate::executor_support as support;

use std::os::unix::fs::PermissionsExt;

use prgate::git::mirror::sync_mirror;
use prgate::git::worktree::checkout_fresh;
use support::{TestRepo, scenario};

#[test]
fn checkout_holds_exactly_the_commit_tree_with_modes() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let tree = r.tree_with_modes(
        Some(s.head),
        &[
            (
                "scripts/apply.sh",
                Some(("#!/bin/sh\necho applied\n", 0o100755)),
            ),
            ("README", None),
        ],
    );
    let m = r.commit_tree(&[s.head], tree, "with a script");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("run");
    std::fs::create_dir_all(dir.join("leftover")).unwrap();
    std::fs::write(dir.join("leftover/secret.txt"), "from an earlier run").unwrap();
    std::fs::write(dir.join("README"), "stale").unwrap();

    checkout_fresh(&r.repo, m, &dir).unwrap();
    assert!(!dir.join("leftover").exists());
    assert!(!dir.join("README").exists());
    assert!(!dir.join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("firewall/rules")).unwrap(),
        "allow 22\nallow 443\n"
    );
    let mode = std::fs::metadata(dir.join("scripts/apply.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "executable bit lost: {mode:o}");
    let mode = std::fs::metadata(dir.join("firewall/rules"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, [".github", "firewall", "scripts"]);
}

#[test]
fn mirror_is_created_then_fetched_with_notes_and_pull_heads() {
    let origin = TestRepo::new();
    let s = scenario(&origin);
    origin.set_branch("main", s.main);
    origin
        .repo
        .reference("refs/pull/42/head", s.head, true, "test")
        .unwrap();
    let url = format!("file://{}", origin.path().display());
    let data = tempfile::tempdir().unwrap();
    let mirror_dir = data.path().join("mirrors/acme/infra.git");

    let mirror = sync_mirror(&mirror_dir, &url, None).unwrap();
    assert!(mirror.is_bare());
    assert_eq!(mirror.refname_to_id("refs/heads/main").unwrap(), s.main);
    assert_eq!(mirror.refname_to_id("refs/pull/42/head").unwrap(), s.head);

    let next = origin.commit(Some(s.main), &[("more", Some("x"))], "more");
    origin.set_branch("main", next);
    let sig = support::sig();
    origin
        .repo
        .note(&sig, &sig, Some("refs/notes/prgate"), s.main, "{}", true)
        .unwrap();
    let mirror = sync_mirror(&mirror_dir, &url, None).unwrap();
    assert_eq!(mirror.refname_to_id("refs/heads/main").unwrap(), next);
    // The remote's notes land beside the executor's own, never over them.
    assert!(
        mirror
            .find_note(Some(prgate::git::notes::FETCHED_NOTES_REF), s.main)
            .is_ok()
    );
    assert!(mirror.find_note(Some("refs/notes/prgate"), s.main).is_err());

    let dir = data.path().join("work");
    checkout_fresh(&mirror, next, &dir).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("more")).unwrap(), "x");
}

#[test]
fn checkout_refuses_to_clear_the_mirror() {
    let r = TestRepo::new();
    let s = scenario(&r);
    assert!(checkout_fresh(&r.repo, s.main, r.path()).is_err());
    assert!(r.path().join(".git").exists());
}

/// git run as the executor runs it (GIT_DIR, prgate's pinned settings) in `dir`.
fn executor_git(
    checkout: &prgate::git::worktree::Checkout,
    dir: &std::path::Path,
    args: &[&str],
) -> String {
    let mut cmd = std::process::Command::new("git");
    cmd.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in
        prgate::executor::git_env::git_environment(&checkout.work_tree, Some(&checkout.git_dir))
    {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_checkouts_git_dir_is_outside_it_and_describes_the_commit() {
    let r = TestRepo::new();
    let s = scenario(&r);
    let m = r.commit(
        Some(s.head),
        &[("HEAD", Some("ref: refs/heads/x\n"))],
        "a HEAD file",
    );
    r.repo
        .tag_lightweight("v1.2.3", &r.repo.find_object(m, None).unwrap(), false)
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("run");
    let checkout = checkout_fresh(&r.repo, m, &dir).unwrap();
    assert_eq!(checkout.work_tree, dir);
    assert_eq!(checkout.git_dir, work.path().join("run.git"));
    assert!(!dir.join(".git").exists());
    assert_eq!(
        executor_git(&checkout, &dir, &["rev-parse", "HEAD"]),
        m.to_string()
    );
    assert_eq!(
        executor_git(&checkout, &dir.join("firewall"), &["rev-parse", "HEAD"]),
        m.to_string()
    );
    assert_eq!(
        executor_git(&checkout, &dir, &["status", "--porcelain"]),
        ""
    );
    assert_eq!(
        executor_git(&checkout, &dir, &["describe", "--tags"]),
        "v1.2.3"
    );
    // Checking out again starts from nothing; removing takes both away.
    let again = checkout_fresh(&r.repo, s.main, &dir).unwrap();
    assert_eq!(
        executor_git(&again, &dir, &["rev-parse", "HEAD"]),
        s.main.to_string()
    );
    assert_eq!(executor_git(&again, &dir, &["status", "--porcelain"]), "");
    again.remove();
    assert!(!dir.exists() && !checkout.git_dir.exists());
}
