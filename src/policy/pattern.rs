//! What a path pattern of a rule means: CODEOWNERS/.gitignore semantics, case variants included, compiled
//! to globs. Kept apart from the rule matching so that the policy check (meaning changes) and
//! the audit (which folders a pattern can reach) read patterns exactly as the engine does.

use globset::{Glob, GlobBuilder};

/// Why a path pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path pattern {pattern:?} is not a valid glob: {reason}")]
pub struct GlobError {
    pub pattern: String,
    pub reason: String,
}

/// A pattern taken apart: where it may match, and its glob without the slashes that said so.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape<'a> {
    /// Matched from the repository root only: a leading `/` (or `./`), or a slash in the
    /// middle, as in .gitignore. Otherwise the pattern matches at any depth.
    anchored: bool,
    /// The pattern without leading `/`, `./` and trailing `/`.
    base: &'a str,
}

fn shape(pattern: &str) -> Result<Shape<'_>, GlobError> {
    let err = |reason: &str| GlobError {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    let without_root = pattern.trim_start_matches('/');
    let mut anchored = without_root.len() != pattern.len();
    let trimmed = match without_root.strip_prefix("./") {
        Some(rest) => {
            anchored = true;
            rest
        }
        None => without_root,
    };
    let base = trimmed.trim_end_matches('/');
    if base.is_empty() {
        return Err(err("it is empty; use \"**\" for every file"));
    }
    if base
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(err(
            "it must not contain empty, \".\" or \"..\" path components",
        ));
    }
    // .gitignore: "a separator at the beginning or middle of the pattern" makes it relative
    // to the root; a trailing one does not.
    anchored |= base.contains('/');
    Ok(Shape { anchored, base })
}

/// Compiles one path pattern of a rule into the globs that implement it.
///
/// CODEOWNERS/.gitignore semantics, because that is what repo owners already write: a pattern
/// without a slash (other than a trailing one) matches at any depth (`*.tf` covers
/// `modules/vpc/main.tf`, `docs` covers `a/docs/x`); a leading `/`, or a slash in the middle,
/// anchors it at the root; `*` and `?` never cross a `/`, `**` crosses any number of folders.
/// A pattern that names a folder covers everything below it, so `firewall`, `firewall/` and
/// `firewall/**` all govern `firewall/rules/a.yml` (and a file named `firewall` too: a rule
/// that covers more than its author typed asks for more approval, never less).
///
/// A path that differs from a governed path only by letter case is governed by the same rule
/// (`Firewall/a` by `firewall/**`): git and GitHub tell them apart, but a case-insensitive file
/// system writes one over the other. Covering more asks for more approval, never less.
pub fn compile_pattern(pattern: &str) -> Result<Vec<Glob>, GlobError> {
    let s = shape(pattern)?;
    let build = |p: &str| {
        GlobBuilder::new(p)
            .literal_separator(true)
            // A path that differs from a governed one only by letter case is governed by the
            // same rule: on a case-insensitive filesystem (an executor on macOS, a Windows
            // runner) `FIREWALL/rules.toml` would be checked out over `firewall/rules.toml`.
            .case_insensitive(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| GlobError {
                pattern: pattern.to_string(),
                reason: e.kind().to_string(),
            })
    };
    let glob = if s.anchored || s.base.starts_with("**") {
        s.base.to_string()
    } else {
        format!("**/{}", s.base)
    };
    let mut globs = vec![build(&glob)?];
    if !glob.ends_with("**") {
        globs.push(build(&format!("{glob}/**"))?);
    }
    Ok(globs)
}

fn is_glob_meta(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\')
}

/// The literal folders a pattern is confined to, from the root (`firewall/rules/*.toml` ->
/// `["firewall", "rules"]`), to be compared without case; `None` when it may match below any folder (it is not
/// anchored, or its first component is a glob). Lets a tree walk skip folders no pattern can
/// reach; a wrong `Some` would hide changes, so anything unsure is `None`.
pub(crate) fn literal_prefix(pattern: &str) -> Option<Vec<String>> {
    let s = shape(pattern).ok()?;
    if !s.anchored {
        return None;
    }
    let lit: Vec<String> = s
        .base
        .split('/')
        .take_while(|part| !part.contains(is_glob_meta))
        .map(str::to_string)
        .collect();
    if lit.is_empty() { None } else { Some(lit) }
}

/// How a pattern read before CODEOWNERS semantics differs from what it means now, with the
/// pattern that keeps the old meaning; empty when nothing changed. Before, every pattern was
/// anchored at the root (and matched without regard to case, as every pattern is again now).
pub(crate) fn meaning_changes(pattern: &str) -> Vec<String> {
    let Ok(s) = shape(pattern) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // `*` and `**` alone covered every file before and still do.
    if !s.anchored && !s.base.chars().all(|c| c == '*') {
        out.push(format!(
            "{pattern:?} now matches in every folder, not only at the repository root (CODEOWNERS semantics: a pattern without a slash matches at any depth, so \"*.tf\" covers modules/vpc/main.tf); if you meant the root only, write {:?}",
            format!("/{pattern}")
        ));
    }
    if s.base.starts_with('!') {
        out.push(format!(
            "{pattern:?} starts with \"!\", which is not a negation here (CODEOWNERS has none): it matches paths whose name starts with \"!\""
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        let set = {
            let mut b = globset::GlobSetBuilder::new();
            for g in compile_pattern(pattern).unwrap_or_else(|e| panic!("{e}")) {
                b.add(g);
            }
            b.build().unwrap()
        };
        set.is_match(path)
    }

    #[test]
    fn patterns_that_cannot_mean_a_path_are_refused() {
        for bad in ["", "/", "a//b", "../x", "a/./b", "x/[", "{a,b"] {
            assert!(compile_pattern(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["a", "/a/", "./a/**", "**", "**/*.sql", "a/{b,c}/*.yml"] {
            assert!(compile_pattern(good).is_ok(), "{good:?} should be accepted");
        }
    }

    /// The semantics as a table: pattern, path, whether it matches.
    #[test]
    fn codeowners_semantics() {
        let table: &[(&str, &str, bool)] = &[
            // No slash: any depth.
            ("*.tf", "main.tf", true),
            ("*.tf", "modules/vpc/main.tf", true),
            ("*.tf", "main.tfvars", false),
            ("docs", "docs/x", true),
            ("docs", "a/docs/x", true),
            ("docs", "a/docs", true),
            ("docs", "a/mydocs/x", false),
            // Leading slash: the root only.
            ("/*.tf", "main.tf", true),
            ("/*.tf", "modules/vpc/main.tf", false),
            ("/docs", "docs/x", true),
            ("/docs", "a/docs/x", false),
            ("./docs", "a/docs/x", false),
            // Trailing slash: a folder and everything under it, at any depth.
            ("docs/", "docs/x", true),
            ("docs/", "docs/a/b", true),
            ("docs/", "a/docs/x", true),
            ("docs/", "docsx/a", false),
            ("/docs/", "a/docs/x", false),
            // A slash in the middle anchors.
            ("a/*/c", "a/b/c", true),
            ("a/*/c", "a/b/c/d", true),
            ("a/*/c", "x/a/b/c", false),
            ("a/*/c", "a/b/b/c", false),
            ("firewall/**", "firewall/a", true),
            ("firewall/**", "x/firewall/a", false),
            // `**` spans folders.
            ("**/x", "x", true),
            ("**/x", "a/b/x", true),
            ("**/x", "a/b/x/y", true),
            ("x/**", "x/a/b", true),
            ("x/**", "a/x/b", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/1/2/b", true),
            ("**", "anything/at/all", true),
            ("*", "deep/file", true),
            // A case variant of a governed path is governed.
            ("*.tf", "MAIN.TF", true),
            ("firewall/**", "Firewall/a", true),
            ("firewall/**", "FIREWALL/rules.toml", true),
            ("Dockerfile", "svc/Dockerfile", true),
            ("Dockerfile", "svc/dockerfile", true),
            ("[Ff]irewall/**", "Firewall/a", true),
            ("firewall/**", "firewal/a", false),
        ];
        for (pattern, path, want) in table {
            assert_eq!(
                matches(pattern, path),
                *want,
                "{pattern:?} on {path:?} should be {want}"
            );
        }
    }

    #[test]
    fn literal_prefixes_only_for_anchored_patterns() {
        assert_eq!(
            literal_prefix("firewall/rules/*.toml"),
            Some(vec!["firewall".to_string(), "rules".to_string()])
        );
        assert_eq!(literal_prefix("/Docs"), Some(vec!["Docs".to_string()]));
        assert_eq!(literal_prefix("docs"), None);
        assert_eq!(literal_prefix("*.tf"), None);
        assert_eq!(literal_prefix("**/x"), None);
    }

    #[test]
    fn meaning_changes_name_the_old_meaning() {
        assert!(meaning_changes("firewall/**").is_empty());
        assert!(meaning_changes("/*.tf").is_empty());
        assert!(meaning_changes("**").is_empty());
        assert!(meaning_changes("*").is_empty());
        let tf = meaning_changes("*.tf");
        assert_eq!(tf.len(), 1, "{tf:?}");
        assert!(tf[0].contains("\"/*.tf\""), "{tf:?}");
        // Case never changes a pattern's meaning: case variants are governed, as before.
        assert!(meaning_changes("Firewall/[ab]*").is_empty());
        assert_eq!(meaning_changes("Makefile").len(), 1);
    }
}
