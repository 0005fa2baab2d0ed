//! The demo's git work: the repository's first commit, an admin's direct push, and the
//! auditor's clone with prgate's notes.

use std::path::Path;

use crate::config::Secret;
use crate::types::CommitSha;

use super::{DemoError, setup_err};

/// The policy the story runs under.
const POLICY: &str = include_str!("policy.toml");
/// What the executor runs: it "applies" the rules by copying them into production.
const APPLY_SCRIPT: &str = include_str!("apply-firewall.sh");
/// The firewall's plan: which ports the change opens and closes on the live firewall (the
/// production folder). Sorted, no timestamps: the same change against the same production
/// prints the same plan, so its digest can bind the approval.
const PLAN_SCRIPT: &str = include_str!("plan-firewall.sh");

fn signature(login: &str) -> Result<git2::Signature<'static>, DemoError> {
    git2::Signature::now(login, &format!("{login}@users.noreply.github.com")).map_err(setup_err)
}

/// The repository's first commit, pushed by the admin: policy, rules, executor script.
pub(super) fn seed_repository(dir: &Path, url: &str, root_token: &Secret) -> Result<(), DemoError> {
    let repo = git2::Repository::init(dir).map_err(setup_err)?;
    let files = [
        (".github/prgate.toml", POLICY),
        ("firewall/rules.toml", "allow = [22]\n"),
        ("scripts/apply-firewall.sh", APPLY_SCRIPT),
        ("scripts/plan-firewall.sh", PLAN_SCRIPT),
        ("README.md", "acme infrastructure, governed by prgate\n"),
    ];
    let mut index = repo.index().map_err(setup_err)?;
    for (path, text) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(setup_err)?;
        }
        std::fs::write(&p, text).map_err(setup_err)?;
        index.add_path(Path::new(path)).map_err(setup_err)?;
    }
    let tree = repo
        .find_tree(index.write_tree().map_err(setup_err)?)
        .map_err(setup_err)?;
    let sig = signature("root")?;
    let commit = repo
        .commit(
            None,
            &sig,
            &sig,
            "acme/infra: policy, firewall rules, executor script",
            &tree,
            &[],
        )
        .map_err(setup_err)?;
    crate::git::push(&repo, url, commit, "main", Some(root_token)).map_err(setup_err)
}

/// An admin's commit straight onto main, opening every port.
pub(super) fn direct_push(
    dir: &Path,
    url: &str,
    root_token: &Secret,
) -> Result<CommitSha, DemoError> {
    let repo = crate::git::clone(url, dir, Some(root_token)).map_err(setup_err)?;
    std::fs::write(dir.join("firewall/rules.toml"), "allow = [\"0-65535\"]\n")
        .map_err(setup_err)?;
    let mut index = repo.index().map_err(setup_err)?;
    index
        .add_path(Path::new("firewall/rules.toml"))
        .map_err(setup_err)?;
    let tree = repo
        .find_tree(index.write_tree().map_err(setup_err)?)
        .map_err(setup_err)?;
    let parent = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(setup_err)?;
    let sig = signature("root")?;
    let oid = repo
        .commit(
            None,
            &sig,
            &sig,
            "hotfix: open the firewall",
            &tree,
            &[&parent],
        )
        .map_err(setup_err)?;
    crate::git::push(&repo, url, oid, "main", Some(root_token)).map_err(setup_err)?;
    oid.to_string().parse().map_err(setup_err)
}

/// A local clone with main and the prgate notes, as an auditor would have.
pub(super) fn fetch_with_notes(
    url: &str,
    dir: &Path,
    token: &Secret,
) -> Result<git2::Repository, DemoError> {
    let repo = if dir.exists() {
        git2::Repository::open(dir).map_err(setup_err)?
    } else {
        crate::git::clone(url, dir, Some(token)).map_err(setup_err)?
    };
    {
        let mut remote = repo.remote_anonymous(url).map_err(setup_err)?;
        let mut opts = git2::FetchOptions::new();
        opts.remote_callbacks(crate::git::callbacks(Some(token)));
        remote
            .fetch(
                &[
                    "+refs/heads/main:refs/remotes/origin/main",
                    "+refs/notes/prgate:refs/notes/prgate",
                ],
                Some(&mut opts),
                None,
            )
            .map_err(setup_err)?;
        let tip = repo
            .refname_to_id("refs/remotes/origin/main")
            .map_err(setup_err)?;
        repo.reference("refs/heads/main", tip, true, "demo: follow origin")
            .map_err(setup_err)?;
        if repo
            .head()
            .ok()
            .and_then(|h| h.name().map(str::to_string))
            .as_deref()
            == Some("refs/heads/main")
        {
            let obj = repo.find_object(tip, None).map_err(setup_err)?;
            repo.checkout_tree(&obj, Some(git2::build::CheckoutBuilder::new().force()))
                .map_err(setup_err)?;
        }
    }
    Ok(repo)
}
