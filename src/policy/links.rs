//! Symlinks in a repository's tree, resolved as the kernel would resolve them in a checkout,
//! but over the tree itself: where a link ends up decides whether a checkout may hold it (it
//! must stay inside) and what a governed link governs (its target, with the same rule).
//! Pure: the tree is read through a lookup the caller provides.

use crate::policy::RepoPolicy;

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

/// `policy` with the target of every symlink a rule matches added to that rule, as an exact
/// path (a folder's target covers what is below it): once `firewall/rules.toml` is a link to
/// `shared/rules.toml`, a change to `shared/rules.toml` changes what the firewall executor
/// reads, so it needs the firewall rule's approvers, not the defaults'. `links` are (link,
/// target inside the tree) pairs, as [`resolve`] gives them.
pub fn govern_links(policy: &RepoPolicy, links: &[(String, String)]) -> RepoPolicy {
    if links.is_empty() {
        return policy.clone();
    }
    let Ok(compiled) = super::CompiledPolicy::globs_only(policy) else {
        return policy.clone();
    };
    let mut out = policy.clone();
    for (link, target) in links {
        if target.is_empty() {
            continue;
        }
        if let super::compiled::FileRules::Rules(rules) = compiled.rules_for_file(link) {
            let pattern = format!("/{}", escape_glob(target));
            for r in rules {
                if let Some(rule) = out.rules.get_mut(r)
                    && !rule.paths.contains(&pattern)
                {
                    rule.paths.push(pattern.clone());
                }
            }
        }
    }
    out
}

/// A path as a pattern that matches only itself (the patterns' glob characters escaped).
fn escape_glob(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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

    #[test]
    fn a_governed_link_governs_its_target_with_the_same_rule() {
        let policy = crate::policy::parse_policy(
            "p",
            "version = 1\n[defaults]\napprovers = { users = [\"carol\"] }\n[[rules]]\nname = \"firewall\"\npaths = [\"firewall/**\"]\napprovers = { users = [\"alice\"] }\n",
        )
        .unwrap();
        let links = vec![
            (
                "firewall/rules.toml".to_string(),
                "shared/rules.toml".to_string(),
            ),
            ("firewall/lib".to_string(), "vendor/[lib]".to_string()),
            ("docs/link".to_string(), "shared/other.toml".to_string()),
        ];
        let governed = govern_links(&policy, &links);
        let rules_of = |path: &str| -> Vec<String> {
            crate::policy::matched_rules(&governed, &[path.to_string()])
                .into_iter()
                .map(|m| m.name)
                .collect()
        };
        assert_eq!(rules_of("shared/rules.toml"), ["firewall"]);
        assert_eq!(rules_of("vendor/[lib]/a.sh"), ["firewall"]);
        // Only the link's own target: a neighbour, or an ungoverned link's target, is not.
        assert_eq!(rules_of("shared/rules.toml.bak"), ["defaults"]);
        assert_eq!(rules_of("shared/other.toml"), ["defaults"]);
        assert_eq!(rules_of("vendor/l/a.sh"), ["defaults"]);
    }
}
