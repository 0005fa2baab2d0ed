//! Symlinks in a repository's tree, resolved as the kernel would resolve them in a checkout,
//! but over the tree itself: where a link ends up decides whether a checkout may hold it (it
//! must stay inside) and what a governed link governs (its target, with the same rule).
//! Pure: the tree is read through a lookup the caller provides.

/// What a path names in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    Missing,
    /// A symlink and its target, as stored.
    Link(String),
    /// A file, a folder or a submodule.
    Other,
}

/// Where a path leads once every symlink on the way is followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A path inside the tree (which may not exist).
    Inside(String),
    /// Out of the tree: an absolute target, or `..` past the root, or a loop of links.
    Outside(String),
}

/// As the kernel's limit on links followed in one lookup (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Resolves `path` (relative to the tree's root, `/`-separated) following every symlink the
/// tree holds on the way, the last component included.
pub fn resolve(path: &str, lookup: &dyn Fn(&str) -> TreeEntry) -> Resolved {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut followed = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                if done.pop().is_none() {
                    return Resolved::Outside(format!("{path} leads above the repository's root"));
                }
                continue;
            }
            _ => {}
        }
        done.push(part);
        let here = done.join("/");
        match lookup(&here) {
            TreeEntry::Link(target) => {
                followed += 1;
                if followed > MAX_LINKS {
                    return Resolved::Outside(format!("{path} is a loop of symlinks"));
                }
                if target.starts_with('/') {
                    return Resolved::Outside(format!("{here} points to {target}"));
                }
                done.pop();
                todo.extend(target.split('/').rev().map(str::to_string));
            }
            TreeEntry::Missing | TreeEntry::Other => {}
        }
    }
    Resolved::Inside(done.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tree(links: &[(&str, &str)], files: &[&str]) -> impl Fn(&str) -> TreeEntry {
        let links: BTreeMap<String, String> = links
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        move |p: &str| {
            if let Some(t) = links.get(p) {
                TreeEntry::Link(t.clone())
            } else if files
                .iter()
                .any(|f| f == p || f.starts_with(&format!("{p}/")))
            {
                TreeEntry::Other
            } else {
                TreeEntry::Missing
            }
        }
    }

    #[test]
    fn links_resolve_inside_or_name_the_escape() {
        let t = tree(
            &[
                ("firewall/rules.toml", "../shared/rules.toml"),
                ("a", "/proc/1/environ"),
                ("up", "../.."),
                ("d", "e/f"),
                ("x", "d/../../etc"),
                ("loop1", "loop2"),
                ("loop2", "loop1"),
            ],
            &["shared/rules.toml", "e/f/g"],
        );
        assert_eq!(
            resolve("firewall/rules.toml", &t),
            Resolved::Inside("shared/rules.toml".into())
        );
        assert!(matches!(resolve("a", &t), Resolved::Outside(w) if w.contains("/proc/1/environ")));
        assert!(matches!(resolve("up", &t), Resolved::Outside(_)));
        // `d` is e/f, so d/../.. is the root and x is "etc" inside: followed as the kernel does,
        // not lexically.
        assert_eq!(resolve("x", &t), Resolved::Inside("etc".into()));
        assert_eq!(resolve("d/g", &t), Resolved::Inside("e/f/g".into()));
        assert!(matches!(resolve("loop1", &t), Resolved::Outside(w) if w.contains("loop")));
        assert_eq!(
            resolve("plain/file", &t),
            Resolved::Inside("plain/file".into())
        );
    }
}
