//! Symbolic links in an agent's working tree, judged without reading through them: where a
//! link leads when followed inside the repository, and whether it leaves it. `propose` commits
//! a link that stays inside as a link (its target text, as git does) and refuses one that
//! leaves, so that no host file, outside folder or `/proc/self/environ` reaches a PR.
//!
//! Hand-written resolution: `canonicalize` reads the real filesystem past the repository's
//! root, and no crate resolves a path confined to a root while naming the hop that escapes.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// As the kernel: more hops than this is a loop.
const MAX_HOPS: usize = 40;

/// Why a link leaves the repository, in words that finish "... which ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escape {
    /// The link's own target, or one it leads through, is an absolute path.
    Absolute {
        via: Option<String>,
        target: PathBuf,
    },
    /// `..` climbs above the repository's root.
    ClimbsOut { via: Option<String> },
    /// Too many links in a row (a loop).
    Loop,
    /// A link on the way cannot be read.
    Unreadable { link: String, message: String },
}

impl std::fmt::Display for Escape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let via = |v: &Option<String>| match v {
            Some(link) => format!(" through the link {link}"),
            None => String::new(),
        };
        match self {
            Escape::Absolute { via: v, target } => write!(
                f,
                "leads{} to the absolute path {}",
                via(v),
                target.display()
            ),
            Escape::ClimbsOut { via: v } => {
                write!(f, "climbs out of the repository with `..`{}", via(v))
            }
            Escape::Loop => write!(f, "goes round a loop of links"),
            Escape::Unreadable { link, message } => {
                write!(
                    f,
                    "leads through the link {link}, which cannot be read: {message}"
                )
            }
        }
    }
}

/// Follows the link at `link` (relative to `root`, `/`-separated) the way the kernel would,
/// but confined to `root`: every link met on the way is read and followed in turn (never the
/// files). `Ok(())` when it stays inside — whether or not its target exists.
pub fn check_link(root: &Path, link: &str) -> Result<(), Escape> {
    let target = std::fs::read_link(root.join(link)).map_err(|e| Escape::Unreadable {
        link: link.to_string(),
        message: e.to_string(),
    })?;
    let mut here: Vec<OsString> = Path::new(link)
        .parent()
        .map(|p| p.iter().map(OsString::from).collect())
        .unwrap_or_default();
    let mut via: Option<String> = None;
    if target.is_absolute() {
        return Err(Escape::Absolute { via, target });
    }
    let mut ahead: VecDeque<OsString> = VecDeque::new();
    push_front(&mut ahead, &target);
    let mut hops = 0;
    while let Some(name) = ahead.pop_front() {
        match name.to_str() {
            Some(".") | Some("") => continue,
            Some("..") => {
                if here.pop().is_none() {
                    return Err(Escape::ClimbsOut { via });
                }
                continue;
            }
            _ => {}
        }
        here.push(name);
        let at: PathBuf = here.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let is_link = std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            // A file, a folder, or nothing (yet): the path stays where it is.
            continue;
        }
        hops += 1;
        if hops > MAX_HOPS {
            return Err(Escape::Loop);
        }
        let shown = here
            .iter()
            .map(|c| c.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let next = std::fs::read_link(&at).map_err(|e| Escape::Unreadable {
            link: shown.clone(),
            message: e.to_string(),
        })?;
        via = Some(shown);
        if next.is_absolute() {
            return Err(Escape::Absolute { via, target: next });
        }
        here.pop();
        push_front(&mut ahead, &next);
    }
    Ok(())
}

/// Puts `path`'s components in front of what is still to be walked.
fn push_front(ahead: &mut VecDeque<OsString>, path: &Path) {
    for c in path.components().rev() {
        let name = match c {
            Component::ParentDir => OsString::from(".."),
            Component::CurDir => OsString::from("."),
            Component::Normal(n) => n.to_os_string(),
            // Only relative paths get here.
            Component::RootDir | Component::Prefix(_) => continue,
        };
        ahead.push_front(name);
    }
}

/// The first symbolic link inside `root` that `path` (absolute) goes through before its last
/// component. Folders above the repository may be links (a home folder, `/tmp` on macOS);
/// a link inside it would make the path name other content than its text says.
pub fn link_on_the_way(root: &Path, path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    let mut prefix = PathBuf::new();
    let mut inside = false;
    for c in parent.components() {
        prefix.push(c);
        if inside {
            if std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink()) {
                return Some(prefix);
            }
        } else {
            inside = prefix.canonicalize().is_ok_and(|p| p.starts_with(root));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("repo/releases/v2")).unwrap();
        std::fs::create_dir_all(t.path().join("outside")).unwrap();
        t
    }

    #[test]
    fn links_that_stay_inside_pass_whether_or_not_their_target_exists() {
        let t = tree();
        let root = t.path().join("repo");
        symlink("releases/v2", root.join("current")).unwrap();
        symlink("v2", root.join("releases/latest")).unwrap();
        symlink("../current/../README", root.join("releases/readme")).unwrap();
        symlink("not-yet", root.join("dangling")).unwrap();
        symlink("../latest", root.join("releases/v2/up")).unwrap();
        for link in [
            "current",
            "releases/latest",
            "releases/readme",
            "dangling",
            "releases/v2/up",
        ] {
            assert_eq!(check_link(&root, link), Ok(()), "{link}");
        }
    }

    #[test]
    fn links_that_leave_are_named_with_the_hop_that_leaves() {
        let t = tree();
        let root = t.path().join("repo");
        symlink("/proc/self/environ", root.join("env")).unwrap();
        symlink("../outside", root.join("out")).unwrap();
        symlink("../../outside/x", root.join("releases/deep")).unwrap();
        symlink("/etc", root.join("releases/etc")).unwrap();
        symlink("releases/etc/passwd", root.join("chain")).unwrap();
        symlink("releases/v2/../../..", root.join("climb")).unwrap();
        symlink("loop-b", root.join("loop-a")).unwrap();
        symlink("loop-a", root.join("loop-b")).unwrap();
        assert!(matches!(
            check_link(&root, "env"),
            Err(Escape::Absolute { via: None, .. })
        ));
        assert_eq!(
            check_link(&root, "out"),
            Err(Escape::ClimbsOut { via: None })
        );
        assert_eq!(
            check_link(&root, "releases/deep"),
            Err(Escape::ClimbsOut { via: None })
        );
        let chain = check_link(&root, "chain").unwrap_err();
        assert_eq!(
            chain,
            Escape::Absolute {
                via: Some("releases/etc".into()),
                target: "/etc".into()
            }
        );
        assert_eq!(
            chain.to_string(),
            "leads through the link releases/etc to the absolute path /etc"
        );
        assert_eq!(
            check_link(&root, "climb"),
            Err(Escape::ClimbsOut { via: None })
        );
        assert_eq!(check_link(&root, "loop-a"), Err(Escape::Loop));
    }

    #[test]
    fn a_link_inside_the_repository_on_the_way_is_found_links_above_it_are_not() {
        let t = tree();
        let root = t.path().join("repo");
        symlink("releases/v2", root.join("current")).unwrap();
        symlink(&root, t.path().join("repo-link")).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(
            link_on_the_way(&root, &t.path().join("repo/current/rules.toml")),
            Some(t.path().join("repo/current"))
        );
        assert_eq!(
            link_on_the_way(&root, &t.path().join("repo-link/releases/v2/rules.toml")),
            None
        );
        assert_eq!(
            link_on_the_way(&root, &t.path().join("repo-link/current/x")),
            Some(t.path().join("repo-link/current"))
        );
        // The last component is the proposed path itself, judged on its own.
        assert_eq!(link_on_the_way(&root, &t.path().join("repo/current")), None);
    }
}
