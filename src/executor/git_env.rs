//! The git environment of an executor's command: git pinned to the run's own git directory,
//! with no configuration, hook or fsmonitor that the governed repository's content could
//! bring. A PR can add `HEAD`, `config`, `objects/` and `refs/` and so make a folder of the
//! checkout look like a repository whose config names programs git runs.

use std::ffi::OsString;
use std::path::Path;

/// Settings git takes from `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`, which outrank every config
/// file, so that no repository-level config can turn them back on.
const PINNED_CONFIG: [(&str, &str); 3] = [
    // A folder shaped like a repository is never taken as one unless named by GIT_DIR.
    ("safe.bareRepository", "explicit"),
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
];

/// The variables, in the order they are set. `git_dir` is the run's git directory (absent
/// when the command runs in a plain folder, as in unit tests).
pub fn git_environment(workdir: &Path, git_dir: Option<&Path>) -> Vec<(String, OsString)> {
    let mut env: Vec<(String, OsString)> = Vec::new();
    if let Some(dir) = git_dir {
        // No discovery at all: every git in the run, from any folder of the checkout, uses
        // this repository. Its config (prgate's) names the work tree; GIT_WORK_TREE is left
        // unset because `git clone` refuses to run with it.
        env.push(("GIT_DIR".into(), dir.as_os_str().to_owned()));
    }
    // Should a command unset GIT_DIR, discovery still stops at the checkout.
    if let Some(parent) = workdir.parent() {
        env.push((
            "GIT_CEILING_DIRECTORIES".into(),
            parent.as_os_str().to_owned(),
        ));
    }
    // Neither the machine's nor the gate account's config: what a run's git does is decided
    // here, not by a file an earlier run could have written.
    env.push(("GIT_CONFIG_NOSYSTEM".into(), "1".into()));
    env.push(("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()));
    env.push((
        "GIT_CONFIG_COUNT".into(),
        PINNED_CONFIG.len().to_string().into(),
    ));
    for (i, (key, value)) in PINNED_CONFIG.iter().enumerate() {
        env.push((format!("GIT_CONFIG_KEY_{i}"), (*key).into()));
        env.push((format!("GIT_CONFIG_VALUE_{i}"), (*value).into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_is_pinned_to_the_runs_git_dir_and_prgates_settings() {
        let env = git_environment(
            Path::new("/data/worktrees/abc"),
            Some(Path::new("/data/worktrees/abc.git")),
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("GIT_DIR"), Some("/data/worktrees/abc.git".into()));
        assert_eq!(
            get("GIT_CEILING_DIRECTORIES"),
            Some("/data/worktrees".into())
        );
        assert_eq!(get("GIT_CONFIG_COUNT"), Some("3".into()));
        assert_eq!(get("GIT_CONFIG_KEY_2"), Some("core.fsmonitor".into()));
        assert_eq!(get("GIT_CONFIG_VALUE_2"), Some("false".into()));
        assert!(get("GIT_WORK_TREE").is_none());
        let plain = git_environment(Path::new("/tmp/x"), None);
        assert!(plain.iter().all(|(n, _)| n != "GIT_DIR"));
    }
}
