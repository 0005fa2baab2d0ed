//! Arbitrary strings in every argument of every command: prgate never panics, and a string it
//! cannot use ends in exit 2 with a message (as one JSON object with `--json`). Run in an
//! empty directory with no token, so nothing reaches a network. Left out: `demo --keep`,
//! which runs the whole demo in any new directory it is given.

use std::process::Command;

use proptest::prelude::*;

/// Each command line with `{}` where the arbitrary string goes. Where a command takes
/// `--json`, it is given, so the JSON rule is checked too.
const SLOTS: &[&str] = &[
    "serve --config {}",
    "policy check {} --json",
    "policy check --config {} --json",
    "config check --config {} --json",
    "propose --repo {} --title t --json p",
    "propose --title {} --json p",
    "propose --title t --body-file {} --json p",
    "propose --title t --reason {} --json p",
    "propose --title t --risk {} --json p",
    "propose --title t --rollback {} --json p",
    "propose --title t --branch {} --json p",
    "propose --title t --base {} --json p",
    "propose --title t --label {} --json p",
    "propose --title t --remote-repo {} --json p",
    "propose --title t --api-url {} --json p",
    "propose --title t --gate-login {} --json p",
    "propose --title t --json {}",
    "status {} --json",
    "status a/b#1 --api-url {} --json",
    "status a/b#1 --gate-login {} --json",
    "wait {} --json",
    "wait a/b#1 --timeout {} --json",
    "wait a/b#1 --until {} --json",
    "wait a/b#1 --poll {} --json",
    "wait a/b#1 --api-url {} --json",
    "execute --repo {} --commit abcdef1 --config missing.toml --json",
    "execute --repo a/b --commit {} --config missing.toml --json",
    "execute --repo a/b --commit abcdef1 --config {} --json",
    "execute --repo a/b --commit abcdef1 --cancel --config {} --json",
    "verify --repo {} --commit abcdef1 --json",
    "verify --commit {} --json",
    "verify --commit abcdef1 --public-key {} --json",
    "audit --repo {} --format json",
    "audit --branch {} --format json",
    "audit --since {} --format json",
    "audit --since-commit {} --format json",
    "audit --format {}",
    "audit --output {} --format json",
    "audit --public-key {} --format json",
    // In a folder that does not exist (every path through it fails, `..` included), so that
    // no arbitrary name can make it write a file anywhere.
    "key generate --out no-such-dir/{} --json",
    "key public --key {} --json",
    "mcp --api-url {}",
    "sim --listen {} --state missing.toml",
    "sim --listen 127.0.0.1:0 --state {}",
    "sim --listen 127.0.0.1:0 --state missing.toml --data {}",
    "sim --listen 127.0.0.1:0 --state missing.toml --latency {}",
];

/// Runs one slot in an empty directory of its own (a file one slot writes is never another's input).
fn check(slot: &str, value: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let args: Vec<String> = slot.split(' ').map(|a| a.replace("{}", value)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(&args)
        .current_dir(dir)
        .env_remove("GITHUB_TOKEN")
        .env_remove("PRGATE_GITHUB_TOKEN")
        .env_remove("PRGATE_API_URL")
        .env("PRGATE_LOG", "error")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code();
    prop_assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    prop_assert!(
        code == Some(2),
        "{args:?}: exit {code:?}\n{stderr}\n{stdout}"
    );
    if code == Some(2) {
        // After `--` a `--json` is an argument, not the flag.
        let flags = args.iter().take_while(|a| *a != "--");
        let json = flags.clone().any(|a| a == "--json")
            || flags
                .clone()
                .zip(args.iter().skip(1))
                .any(|(a, b)| a == "--format" && b == "json");
        if json {
            let v: Result<serde_json::Value, _> = serde_json::from_str(stdout.trim());
            prop_assert!(
                v.as_ref().is_ok_and(|v| v.is_object()),
                "{args:?}: not one JSON object on stdout: {stdout:?}"
            );
        }
        // The message is on stderr, or (`policy check --json` reports its findings so) in
        // the JSON answer.
        let in_json = json && (stdout.contains("\"message\"") || stdout.contains("\"errors\":[\""));
        prop_assert!(
            !stderr.trim().is_empty() || in_json,
            "{args:?}: exit 2 without a message: {stdout}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_in_any_argument_never_panic_and_end_in_exit_2(value in "[^\u{0}]{0,40}") {
        for slot in SLOTS {
            check(slot, &value)?;
        }
    }
}

#[test]
fn strings_that_look_like_urls_or_refs_end_in_exit_2_too() {
    for value in [
        "not-a-url",
        "http://",
        "https://[::1",
        "ftp://x/y",
        "http://h:99999",
        "a/b#0",
        "a/b#18446744073709551616",
        "https://github.com/a/b/pull/0",
        "..",
        "/",
        "-",
        "--",
        "\u{202e}",
        "%00",
        "a/b#1\n",
        " ",
    ] {
        for slot in SLOTS {
            check(slot, value).unwrap();
        }
    }
}
