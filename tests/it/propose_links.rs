//! `prgate propose` and symbolic links in the agent's working tree, through the real binary:
//! a link that leaves the repository (to `/proc/self/environ`, a host file, an outside folder,
//! or through another link) is refused with exit 2 and nothing is pushed; a link that stays
//! inside is committed as a link (mode 120000), and folders are walked without following links.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::common::harness::*;
use serde_json::Value;

const AGENT: &str = "agent-token";

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn propose(w: &World, dir: &Path, title: &str, paths: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "propose",
        "--repo",
        dir.to_str().unwrap(),
        "--title",
        title,
        "--json",
    ];
    args.extend_from_slice(paths);
    prgate_cli(w, Some(AGENT), &args)
}

/// The branches on the code host, and its PRs.
async fn remote_state(w: &World) -> (String, Vec<Value>) {
    let branches = git_out(
        &w.bare_dir(),
        &["for-each-ref", "--format=%(refname)", "refs/heads"],
    );
    let (_, pulls) = w
        .api(
            "root-token",
            reqwest::Method::GET,
            &format!("/repos/{REPO}/pulls?state=all"),
            None,
        )
        .await;
    (branches, pulls.as_array().cloned().unwrap_or_default())
}

/// Proposing `paths` is refused with exit 2, an error naming `needles`, and no trace on the
/// code host.
async fn assert_refused(w: &World, dir: &Path, paths: &[&str], needles: &[&str]) {
    let (code, out, err) = propose(w, dir, "Leak attempt", paths);
    assert_eq!(code, 2, "{paths:?}: {out} {err}");
    let message = out["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + &err;
    for needle in needles {
        assert!(
            message.contains(needle),
            "{paths:?}: the error should name {needle:?}: {message}"
        );
    }
    assert!(
        message.contains("nothing was committed or pushed"),
        "{message}"
    );
    let (branches, pulls) = remote_state(w).await;
    assert_eq!(
        branches, "refs/heads/main",
        "a branch was pushed for {paths:?}"
    );
    assert!(pulls.is_empty(), "a PR was opened for {paths:?}: {pulls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_proc_self_environ_is_refused_and_nothing_is_pushed() {
    let w = World::start().await;
    let dir = w.agent_clone("agent");
    write(&dir, "firewall/rules.toml", "allow = [22, 443]\n");
    symlink("/proc/self/environ", dir.join("firewall/env")).unwrap();
    // Named itself, or inside a folder that is proposed.
    assert_refused(
        &w,
        &dir,
        &["firewall/env"],
        &["firewall/env", "/proc/self/environ", "absolute path"],
    )
    .await;
    assert_refused(
        &w,
        &dir,
        &["firewall"],
        &["firewall/env", "/proc/self/environ"],
    )
    .await;
    // The agent's token, which the environ of `prgate` holds, is on the code host nowhere.
    let objects = git_out(
        &w.bare_dir(),
        &["cat-file", "--batch-all-objects", "--batch-check"],
    );
    for line in objects.lines() {
        let sha = line.split(' ').next().unwrap();
        let content = git_out(&w.bare_dir(), &["cat-file", "-p", sha]);
        assert!(!content.contains("agent-token"), "{sha}: {content}");
    }
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_an_outside_file_or_folder_are_refused() {
    let w = World::start().await;
    let dir = w.agent_clone("agent");
    let outside = w.tmp.path().join("outside");
    write(
        &outside,
        "credentials",
        "aws_secret_access_key = AKIA-SECRET\n",
    );
    write(&dir, "firewall/rules.toml", "allow = [22, 443]\n");

    // A host file by absolute path, and by `..` out of the repository.
    symlink(outside.join("credentials"), dir.join("firewall/creds")).unwrap();
    symlink("../../outside/credentials", dir.join("firewall/creds-rel")).unwrap();
    // An outside folder.
    symlink(&outside, dir.join("shared")).unwrap();
    // An inner link that leads through another link to the outside.
    symlink("../shared/credentials", dir.join("firewall/via-shared")).unwrap();

    assert_refused(
        &w,
        &dir,
        &["firewall/creds"],
        &[
            "firewall/creds",
            outside.join("credentials").to_str().unwrap(),
        ],
    )
    .await;
    assert_refused(
        &w,
        &dir,
        &["firewall/creds-rel"],
        &[
            "firewall/creds-rel",
            "../../outside/credentials",
            "climbs out",
        ],
    )
    .await;
    assert_refused(
        &w,
        &dir,
        &["shared"],
        &["shared", outside.to_str().unwrap()],
    )
    .await;
    assert_refused(
        &w,
        &dir,
        &["firewall/via-shared"],
        &["firewall/via-shared", "through the link shared"],
    )
    .await;
    // A path through the outside folder's link is refused before anything is read.
    assert_refused(
        &w,
        &dir,
        &["shared/credentials"],
        &[
            "shared/credentials",
            "goes through the symbolic link shared",
        ],
    )
    .await;
    // Walking a folder never follows a link to a folder, and refuses one that leaves.
    std::fs::remove_file(dir.join("firewall/creds")).unwrap();
    std::fs::remove_file(dir.join("firewall/creds-rel")).unwrap();
    std::fs::remove_file(dir.join("firewall/via-shared")).unwrap();
    symlink(&outside, dir.join("firewall/outside-dir")).unwrap();
    assert_refused(
        &w,
        &dir,
        &["firewall"],
        &["firewall/outside-dir", outside.to_str().unwrap()],
    )
    .await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inner_link_is_committed_as_a_link() {
    let w = World::start().await;
    let dir = w.agent_clone("agent");
    write(&dir, "releases/v2/rules.toml", "allow = [22, 443]\n");
    symlink("releases/v2", dir.join("current")).unwrap();
    symlink("v2", dir.join("releases/latest")).unwrap();
    symlink("../current/rules.toml", dir.join("releases/active-rules")).unwrap();

    let (code, p, err) = propose(&w, &dir, "Release v2", &["releases", "current"]);
    assert_eq!(code, 0, "{p} {err}");
    let head = p["head"].as_str().unwrap();
    let bare = w.bare_dir();
    let entries = git_out(&bare, &["ls-tree", "-r", head]);
    let entry = |path: &str| {
        entries
            .lines()
            .find(|l| l.ends_with(&format!("\t{path}")))
            .unwrap_or_else(|| panic!("{path} not in the pushed tree:\n{entries}"))
            .to_string()
    };
    for (path, target) in [
        ("current", "releases/v2"),
        ("releases/latest", "v2"),
        ("releases/active-rules", "../current/rules.toml"),
    ] {
        let line = entry(path);
        assert!(line.starts_with("120000 blob "), "{line}");
        let blob = line.split_whitespace().nth(2).unwrap();
        assert_eq!(git_out(&bare, &["cat-file", "-p", blob]), target);
    }
    assert!(entry("releases/v2/rules.toml").starts_with("100644 blob "));
    // The link to a folder is an entry of its own, never walked into.
    assert!(
        !entries.contains("releases/latest/"),
        "the link was followed:\n{entries}"
    );
    let changed: Vec<&str> = p["required"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["files"].as_array().unwrap())
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(changed.contains(&"current"), "{p}");
    // A path named through the inner link is refused like `git add` refuses it.
    write(&dir, "releases/v2/notes.md", "v2\n");
    let (code, out, err) = propose(&w, &dir, "Notes", &["current/notes.md"]);
    assert_eq!(code, 2, "{out} {err}");
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("goes through the symbolic link current"),
        "{message}"
    );
    w.shutdown().await;
}
