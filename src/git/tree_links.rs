//! Reading a tree's symlinks for `policy::links`: every link with its target, and the lookup
//! that resolves a path against the tree.

use git2::{Oid, Repository, Tree, TreeWalkMode, TreeWalkResult};

use crate::policy::links::TreeEntry;

/// Git's mode for a symlink.
const LINK_MODE: i32 = 0o120000;

/// Every symlink of `tree`: its path and its target as stored (lossily decoded).
pub fn tree_symlinks(repo: &Repository, tree: Oid) -> Result<Vec<(String, String)>, git2::Error> {
    let mut links = Vec::new();
    let mut failed = None;
    repo.find_tree(tree)?
        .walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.filemode() == LINK_MODE {
                let path = format!("{dir}{}", String::from_utf8_lossy(entry.name_bytes()));
                match repo.find_blob(entry.id()) {
                    Ok(blob) => {
                        links.push((path, String::from_utf8_lossy(blob.content()).into_owned()))
                    }
                    Err(e) => {
                        failed = Some(e);
                        return TreeWalkResult::Abort;
                    }
                }
            }
            TreeWalkResult::Ok
        })
        .or_else(|e| if failed.is_some() { Ok(()) } else { Err(e) })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(links),
    }
}

/// Every symlink of `tree` that resolves inside it, with the path it leads to. (Links that
/// leave the tree are refused by every checkout; they govern nothing in it.)
pub fn resolved_links(repo: &Repository, tree: Oid) -> Result<Vec<(String, String)>, git2::Error> {
    let links = tree_symlinks(repo, tree)?;
    if links.is_empty() {
        return Ok(links);
    }
    let root = repo.find_tree(tree)?;
    let lookup = tree_lookup(repo, &root);
    Ok(links
        .into_iter()
        .filter_map(
            |(path, _)| match crate::policy::links::resolve(&path, &lookup) {
                crate::policy::links::Resolved::Inside(target) => Some((path, target)),
                crate::policy::links::Resolved::Outside(_) => None,
            },
        )
        .collect())
}

/// What each path names in `root`, for [`crate::policy::links::resolve`]. A path that cannot
/// be read counts as a link out of the tree (fail closed).
pub fn tree_lookup<'a>(
    repo: &'a Repository,
    root: &'a Tree<'a>,
) -> impl Fn(&str) -> TreeEntry + 'a {
    move |path: &str| match root.get_path(std::path::Path::new(path)) {
        Err(e) if e.code() == git2::ErrorCode::NotFound => TreeEntry::Missing,
        Err(_) => TreeEntry::Link("/unreadable".into()),
        Ok(entry) if entry.filemode() == LINK_MODE => match repo.find_blob(entry.id()) {
            Ok(blob) => TreeEntry::Link(String::from_utf8_lossy(blob.content()).into_owned()),
            Err(_) => TreeEntry::Link("/unreadable".into()),
        },
        Ok(_) => TreeEntry::Other,
    }
}
