//! The executor against the content it runs: files of an approved PR that pose as a git
//! repository must not reach the executor's git, and secrets the command prints in another
//! encoding or split across lines must not reach any record.

use crate::common::harness::*;

const AGENT: &str = "agent-token";

/// The agent proposes `files`, alice (netops and maintainers) approves, prgate merges; returns
/// (PR, merge commit) once the execution has a final status.
async fn approved_and_run(w: &World, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
    w.commit_and_push(
        branch,
        files,
        "ops-agent[bot]",
        "ops-agent[bot]",
        "firewall change",
    );
    let n = w.open_pr(AGENT, branch, "main", "firewall change").await;
    w.settle().await;
    w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged by prgate")
        .to_string();
    w.execution_result(&merge).await;
    (n, merge)
}

/// The firewall script, changed to ask git about its checkout the way release scripts do,
/// and to leave git's answers in the production folder for the test to read.
const GIT_ASKING_SCRIPT: &str = r#"#!/bin/sh
mkdir -p "$PROD_DIR"
echo "$PRGATE_MERGE_SHA" >> "$PROD_DIR/runs.log"
echo "describe: $(git describe --always 2>&1)"
git status --porcelain > "$PROD_DIR/status.txt" 2>&1
echo "status exit $?" >> "$PROD_DIR/status.txt"
git rev-parse HEAD > "$PROD_DIR/rev.txt" 2>&1
git config --show-origin --list > "$PROD_DIR/config.txt" 2>&1
git config prgate-test.marker > "$PROD_DIR/marker.txt" 2>&1
(cd objects && git rev-parse HEAD) > "$PROD_DIR/rev-in-objects.txt" 2>&1
# A script that drops the pin finds no repository in the checkout either.
env -u GIT_DIR git status > "$PROD_DIR/unpinned.txt" 2>&1
echo done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_files_posing_as_a_git_repository_never_reach_the_executors_git() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let pwned = w.tmp.path().join("pwned-by-fsmonitor");
    // A repository's config names programs git runs: this one would hand the executor's
    // secret to a file, from any `git status` or `git describe` in the checkout.
    let config = format!(
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\
         \tfsmonitor = \"echo PWNED-$FIREWALL_TOKEN >> {0}; false\"\n\
         \thooksPath = hooks\n\
         [prgate-test]\n\tmarker = from-the-pr\n",
        pwned.display()
    );
    let (n, merge) = approved_and_run(
        &w,
        "git-aware-apply",
        &[
            ("scripts/apply-firewall.sh", GIT_ASKING_SCRIPT),
            ("firewall/rules.toml", "allow = [22, 8443]\n"),
            ("HEAD", "ref: refs/heads/main\n"),
            ("config", &config),
            ("objects/info/keep", ""),
            (
                "refs/heads/main",
                "0000000000000000000000000000000000000000\n",
            ),
            // Inside `objects/`, which is itself shaped like a repository.
            ("objects/HEAD", "ref: refs/heads/main\n"),
            ("objects/config", &config),
            ("objects/objects/keep", ""),
            ("objects/refs/keep", ""),
        ],
    )
    .await;
    let (state, description) = w.execution_result(&merge).await;
    assert_eq!(
        state,
        "success",
        "{description}: {}",
        w.comments_text(n).await
    );
    assert_eq!(w.runs(), vec![merge.clone()]);
    let read = |name: &str| {
        std::fs::read_to_string(w.production().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    // The fsmonitor of the PR never ran.
    assert!(
        !pwned.exists(),
        "the PR's core.fsmonitor ran with the executor's secrets: {:?}",
        std::fs::read_to_string(&pwned)
    );
    // git sees the real repository: HEAD is the merge, and the checkout is exactly it.
    assert_eq!(read("rev.txt").trim(), merge);
    assert_eq!(
        read("status.txt"),
        "status exit 0\n",
        "git status in the checkout"
    );
    let comments = w.comments_after_execution(n).await;
    assert!(
        comments.contains(&format!("describe: {}", &merge[..7])),
        "{comments}"
    );
    // Also from a folder of the checkout that is shaped like a bare repository.
    assert_eq!(read("rev-in-objects.txt").trim(), merge);
    // No configuration the repository brought is read.
    let config_seen = read("config.txt");
    assert!(!config_seen.contains("from-the-pr"), "{config_seen}");
    assert!(!config_seen.contains("PWNED"), "{config_seen}");
    assert!(
        config_seen.contains("core.fsmonitor=false"),
        "prgate pins fsmonitor off: {config_seen}"
    );
    assert!(
        config_seen.contains("core.hookspath=/dev/null"),
        "prgate pins hooks off: {config_seen}"
    );
    let checkout = w.data_dir.join("worktrees").join(&merge);
    for line in config_seen.lines() {
        // `file:<path>` origins: only prgate's own git dir for the run, never the checkout.
        if let Some((path, _)) = line.strip_prefix("file:").and_then(|l| l.split_once('\t')) {
            assert!(
                !std::path::Path::new(path).starts_with(&checkout),
                "config read from the checkout: {line}"
            );
        }
    }
    assert_eq!(read("marker.txt"), "", "the PR's config was read");
    let unpinned = read("unpinned.txt");
    assert!(unpinned.contains("safe.bareRepository"), "{unpinned}");
    // The run's checkout and git dir are gone afterwards.
    assert!(!checkout.exists());
    assert!(
        !w.data_dir
            .join("worktrees")
            .join(format!("{merge}.git"))
            .exists()
    );
    w.shutdown().await;
}

/// The firewall script, changed to print its token the ways programs print tokens without
/// meaning harm: encoded, wrapped, escaped. At most 20 lines, all of which the PR comment shows.
const ENCODING_SCRIPT: &str = r#"#!/bin/sh
mkdir -p "$PROD_DIR"
echo "$PRGATE_MERGE_SHA" >> "$PROD_DIR/runs.log"
t="$FIREWALL_TOKEN"
hex=$(printf %s "$t" | od -An -tx1 | tr -d ' \n')
echo "b64: $(printf %s "$t" | base64)"
echo "b64url: $(printf %s "$t" | base64 | tr '+/' '-_' | tr -d '=')"
echo "b64 offset 1: $(printf 'x%s' "$t" | base64)"
echo "b64 offset 2: $(printf 'xy%s' "$t" | base64)"
echo "b64 in json: $(printf '{"user":"ops","token":"%s","n":1}' "$t" | base64 -w 0)"
echo "hex: $hex"
echo "HEX: $(echo "$hex" | tr a-f A-F)"
echo "url: $(echo "$hex" | sed 's/../%&/g')"
echo "url some: $(printf %s "$t" | sed 's/-/%2D/g')"
printf 'folded: '; printf %s "$t" | fold -w 8; echo
printf 'crlf: '; printf %s "$t" | fold -w 5 | sed 's/$/\r/'; echo
printf 'wrapped: '; printf 'a longer document that holds %s inside' "$t" | base64 -w 24
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_printed_encoded_or_split_across_lines_reaches_no_record() {
    let w = World::start_with_executor(POLICY, ExecSettings::default()).await;
    let (n, merge) = approved_and_run(
        &w,
        "print-encoded",
        &[
            ("scripts/apply-firewall.sh", ENCODING_SCRIPT),
            ("firewall/rules.toml", "allow = [22, 8080]\n"),
        ],
    )
    .await;
    let status = w.execution_result(&merge).await;
    assert_eq!(status.0, "success", "{status:?}");
    let comments = w.comments_after_execution(n).await;
    // The output reached the comment, each secret replaced.
    for label in [
        "b64: [REDACTED]",
        "b64url: [REDACTED]",
        "hex: [REDACTED]",
        "HEX: [REDACTED]",
        "url: [REDACTED]",
        "url some: [REDACTED]",
        "folded: [REDACTED]",
        "crlf: [REDACTED]",
    ] {
        assert!(
            comments.contains(label),
            "{label:?} missing from {comments}"
        );
    }
    // Partly redacted lines: the characters that mix the token's bits with its neighbours'.
    for (label, lines) in [
        ("b64 offset 1: ", 1),
        ("b64 offset 2: ", 1),
        ("b64 in json: ", 1),
        ("wrapped: ", 3),
    ] {
        let at = comments
            .find(label)
            .unwrap_or_else(|| panic!("{label:?} missing from {comments}"));
        let shown: Vec<&str> = comments[at..].lines().take(lines).collect();
        assert!(shown.concat().contains("[REDACTED]"), "{shown:?}");
    }

    // No record holds any 8 bytes of the token, decoded however: the comments, the note, the
    // status, and every file the gate keeps (its queue, its mirror, its logs).
    let secret = FIREWALL_TOKEN.as_bytes();
    let note = w.note(&merge).expect("a note").to_string();
    for (place, text) in [
        ("comments", comments.clone()),
        ("note", note),
        ("status", format!("{status:?}")),
    ] {
        assert!(
            !crate::common::leaks::recoverable(&text, secret),
            "the token can be read back from the {place}: {text}"
        );
    }
    for file in files_under(&w.data_dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !crate::common::leaks::recoverable(&text, secret),
            "the token can be read back from {}",
            file.display()
        );
    }
    w.shutdown().await;
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}
