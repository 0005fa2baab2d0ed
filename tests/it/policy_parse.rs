//! Parsing and validation of the repo policy and the server config: every error names the
//! file, line and column of what it is about.

use prgate::config::{ConfigError, check_server_config, parse_server_config};

use prgate::policy::MergeMode;
use prgate::policy::{parse_policy, policy_check};

const EXAMPLE_POLICY: &str = r#"version = 1
expire_after = "72h"
merge = "auto"                             # or "manual": a human merges

[identities]
agents = ["ops-agent[bot]", "release-bot"] # never approve; accounts of type Bot never do either

[defaults]                                 # for changed files that no rule matches
approvers = { teams = ["acme/maintainers"] }
min_approvals = 1

[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"], teams = ["acme/netops"] }
min_approvals = 1
executor = "firewall"

[[rules]]
name = "policy"                            # changes to this file itself
paths = [".github/prgate.toml"]
approvers = { teams = ["acme/security"] }
min_approvals = 2
"#;

const EXAMPLE_SERVER: &str = r#"listen = "127.0.0.1:8080"
data_dir = ".prgate"                       # queue, mirrors, worktrees
webhook_secrets = ["env:PRGATE_WEBHOOK_SECRET"]   # several, for rotation
public_url = "https://prgate.example.com"  # for links in statuses and comments

[github]
api_url = "https://api.github.com"         # GHES: https://HOST/api/v3; the simulator's URL
token = "env:GITHUB_TOKEN"                 # or, for a GitHub App:
# app_id = 12345
# private_key = "file:/etc/prgate/app.pem"

[[repos]]
name = "acme/infra"
branches = ["main"]                        # governed base branches

[executors.firewall]                       # only here can a command or a secret be defined
command = ["./scripts/apply-firewall.sh"]  # argv, no shell, run in a checkout of the merge
timeout = "10m"
env = { FIREWALL_TOKEN = "env:FIREWALL_TOKEN" }
repos = ["acme/infra"]                     # which repos may name it
"#;

/// (line, column, message) of an error, or a panic saying what came back instead.
fn position(e: &ConfigError) -> (usize, usize, String) {
    match e {
        ConfigError::Invalid {
            line,
            column,
            message,
            ..
        } => (*line, *column, message.clone()),
        other => panic!("expected an error with a position, got {other:?}"),
    }
}

fn policy_error(text: &str) -> (usize, usize, String) {
    let e = parse_policy("prgate.toml", text).expect_err("the policy should be refused");
    position(&e)
}

#[test]
fn the_design_example_policy_parses() {
    let p = parse_policy(".github/prgate.toml", EXAMPLE_POLICY).expect("example policy");
    assert_eq!(p.version, 1);
    assert_eq!(p.merge, MergeMode::Auto);
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.rules[1].min_approvals, 2);
    let check = policy_check(".github/prgate.toml", EXAMPLE_POLICY);
    assert!(check.is_ok());
    assert!(check.warnings.is_empty(), "{:?}", check.warnings);
}

#[test]
fn the_design_example_server_config_parses() {
    let c = parse_server_config("prgate.toml", EXAMPLE_SERVER).expect("example server config");
    assert_eq!(c.repos.len(), 1);
    assert_eq!(
        c.executors["firewall"].command,
        vec!["./scripts/apply-firewall.sh".to_string()]
    );
    assert_eq!(c.github.api_url, "https://api.github.com");
    let check = check_server_config("prgate.toml", EXAMPLE_SERVER);
    assert!(check.warnings.is_empty(), "{:?}", check.warnings);
}

#[test]
fn unknown_key_in_policy_is_an_error_with_line_and_column() {
    let text = EXAMPLE_POLICY.replace("min_approvals = 2\n", "min_approvals = 2\n  aprovers = 3\n");
    let (line, column, message) = policy_error(&text);
    assert_eq!((line, column), (24, 3), "{message}");
    assert!(message.contains("unknown field `aprovers`"), "{message}");
}

#[test]
fn unknown_key_in_inline_table_is_an_error_with_line_and_column() {
    let text = EXAMPLE_POLICY.replace(
        "approvers = { teams = [\"acme/security\"] }",
        "approvers = { teams = [\"acme/security\"], user = [\"bob\"] }",
    );
    let (line, column, message) = policy_error(&text);
    assert_eq!((line, column), (22, 42), "{message}");
    assert!(message.contains("unknown field `user`"), "{message}");
}

#[test]
fn unknown_key_in_server_config_is_an_error_with_line_and_column() {
    let text = EXAMPLE_SERVER.replace("timeout = \"10m\"", "timeout = \"10m\"\ntimout = \"5m\"");
    let e = parse_server_config("prgate.toml", &text).expect_err("unknown key");
    let (line, column, message) = position(&e);
    assert_eq!((line, column), (19, 1), "{message}");
    assert!(message.contains("unknown field `timout`"), "{message}");
    assert!(e.to_string().starts_with("prgate.toml:19:1: "), "{e}");
}

#[test]
fn missing_version_is_refused() {
    let text = EXAMPLE_POLICY.replace("version = 1\n", "");
    let e = parse_policy("p.toml", &text).expect_err("missing version");
    assert!(e.to_string().contains("missing field `version`"), "{e}");
    assert!(e.to_string().contains("version = 1"), "{e}");
}

#[test]
fn wrong_version_is_refused_at_its_value() {
    let (line, column, message) =
        policy_error(&EXAMPLE_POLICY.replace("version = 1", "version = 2"));
    assert_eq!((line, column), (1, 11));
    assert!(message.contains("version must be 1"), "{message}");
}

#[test]
fn bad_glob_is_refused_at_the_pattern() {
    let (line, column, message) =
        policy_error(&EXAMPLE_POLICY.replace("\"firewall/**\"", "\"firewall/[a\""));
    assert_eq!((line, column), (14, 10), "{message}");
    assert!(message.contains("not a valid glob"), "{message}");
    assert!(message.contains("firewall"), "{message}");
}

#[test]
fn dot_dot_in_a_pattern_is_refused() {
    let (_, _, message) =
        policy_error(&EXAMPLE_POLICY.replace("\"firewall/**\"", "\"../firewall/**\""));
    assert!(message.contains("\"..\""), "{message}");
}

#[test]
fn min_approvals_zero_is_refused() {
    let text = EXAMPLE_POLICY.replace("min_approvals = 2", "min_approvals = 0");
    let (line, column, message) = policy_error(&text);
    assert_eq!((line, column), (23, 17), "{message}");
    assert!(
        message.contains("min_approvals must be at least 1"),
        "{message}"
    );
    assert!(message.contains("\"policy\""), "{message}");
}

#[test]
fn negative_min_approvals_is_refused() {
    let (line, _, message) =
        policy_error(&EXAMPLE_POLICY.replace("min_approvals = 2", "min_approvals = -1"));
    assert_eq!(line, 23, "{message}");
}

#[test]
fn rule_without_approvers_is_refused() {
    let text = EXAMPLE_POLICY.replace(
        "approvers = { teams = [\"acme/security\"] }",
        "approvers = {}",
    );
    let (line, column, message) = policy_error(&text);
    assert_eq!((line, column), (22, 13), "{message}");
    assert!(message.contains("at least one user or team"), "{message}");
}

#[test]
fn unsatisfiable_minimum_is_refused() {
    let text = EXAMPLE_POLICY.replace(
        "approvers = { teams = [\"acme/security\"] }",
        "approvers = { users = [\"alice\", \"ALICE\"] }",
    );
    let (line, _, message) = policy_error(&text);
    assert_eq!(line, 23, "{message}");
    assert!(message.contains("could never be met"), "{message}");
}

#[test]
fn agents_as_only_approvers_are_refused() {
    let text = EXAMPLE_POLICY
        .replace(
            "approvers = { teams = [\"acme/security\"] }",
            "approvers = { users = [\"release-bot\"] }",
        )
        .replace("min_approvals = 2", "min_approvals = 1");
    let (line, _, message) = policy_error(&text);
    assert_eq!(line, 22, "{message}");
    assert!(message.contains("agent"), "{message}");
}

#[test]
fn duplicate_and_empty_and_reserved_rule_names_are_refused() {
    let dup = EXAMPLE_POLICY.replace("name = \"policy\"", "name = \"Firewall\"");
    let (line, column, message) = policy_error(&dup);
    assert_eq!((line, column), (20, 8), "{message}");
    assert!(message.contains("unique"), "{message}");

    let (_, _, message) =
        policy_error(&EXAMPLE_POLICY.replace("name = \"policy\"", "name = \" \""));
    assert!(message.contains("name must not be empty"), "{message}");

    let (_, _, message) =
        policy_error(&EXAMPLE_POLICY.replace("name = \"policy\"", "name = \"defaults\""));
    assert!(message.contains("reserved"), "{message}");
}

#[test]
fn rule_without_paths_is_refused() {
    let (line, _, message) =
        policy_error(&EXAMPLE_POLICY.replace("paths = [\"firewall/**\"]", "paths = []"));
    assert_eq!(line, 14, "{message}");
    assert!(message.contains("at least one path"), "{message}");
}

#[test]
fn bad_merge_mode_and_durations_are_refused() {
    let (line, _, message) =
        policy_error(&EXAMPLE_POLICY.replace("merge = \"auto\"", "merge = \"yolo\""));
    assert_eq!(line, 3, "{message}");
    assert!(message.contains("yolo"), "{message}");

    let (line, _, message) = policy_error(&EXAMPLE_POLICY.replace("\"72h\"", "\"0s\""));
    assert_eq!(line, 2, "{message}");
    assert!(message.contains("longer than zero"), "{message}");

    let (line, _, message) = policy_error(&EXAMPLE_POLICY.replace("\"72h\"", "\"soon\""));
    assert_eq!(line, 2, "{message}");
}

#[test]
fn bad_team_is_refused() {
    let (line, _, message) = policy_error(&EXAMPLE_POLICY.replace("\"acme/netops\"", "\"netops\""));
    assert_eq!(line, 15, "{message}");
    assert!(message.contains("ORG/TEAM-SLUG"), "{message}");
}

#[test]
fn syntax_error_has_a_position() {
    let (line, _, _) = policy_error("version = 1\n[defaults\n");
    assert_eq!(line, 2);
}

#[test]
fn check_reports_every_error_and_warnings() {
    let text = "version = 3\n\n[[rules]]\nname = \"a\"\npaths = [\"x/[\"]\napprovers = {}\nmin_approvals = 0\n";
    let check = policy_check("p.toml", text);
    assert!(!check.is_ok());
    let lines: Vec<String> = check.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].starts_with("p.toml:1:11: version must be 1"),
        "{lines:#?}"
    );
    assert!(
        check
            .warnings
            .iter()
            .any(|w| w.message.contains("no [defaults]")),
        "{:?}",
        check.warnings
    );
}

#[test]
fn missing_defaults_and_policy_rule_are_warnings() {
    let text = "version = 1\n\n[[rules]]\nname = \"a\"\npaths = [\"x/**\"]\napprovers = { users = [\"alice\"] }\n";
    let check = policy_check("p.toml", text);
    assert!(check.is_ok(), "{:?}", check.errors);
    let w: Vec<String> = check.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w[0].contains("files outside every rule need no approval"),
        "{w:#?}"
    );
    assert!(w[1].contains("needs no approval"), "{w:#?}");
    assert!(w[0].starts_with("p.toml:1:1: warning: "), "{w:#?}");
}

#[test]
fn agent_listed_as_approver_is_a_warning() {
    let text = EXAMPLE_POLICY.replace(
        "users = [\"alice\"]",
        "users = [\"alice\", \"release-bot\"]",
    );
    let check = policy_check("p.toml", &text);
    assert!(check.is_ok(), "{:?}", check.errors);
    assert!(
        check
            .warnings
            .iter()
            .any(|w| w.message.contains("release-bot") && w.line == 15),
        "{:?}",
        check.warnings
    );
}

#[test]
fn server_config_needs_a_webhook_secret() {
    let text = EXAMPLE_SERVER.replace(
        "webhook_secrets = [\"env:PRGATE_WEBHOOK_SECRET\"]",
        "webhook_secrets = []",
    );
    let (line, column, message) =
        position(&parse_server_config("s.toml", &text).expect_err("no secret"));
    assert_eq!((line, column), (3, 19), "{message}");
    assert!(message.contains("webhook_secrets"), "{message}");
}

#[test]
fn server_config_refuses_literal_secrets() {
    let text = EXAMPLE_SERVER.replace("\"env:GITHUB_TOKEN\"", "\"ghp_123456\"");
    let (line, _, message) =
        position(&parse_server_config("s.toml", &text).expect_err("literal secret"));
    assert_eq!(line, 8, "{message}");
    assert!(message.contains("reference"), "{message}");
    assert!(
        !message.contains("123456"),
        "the message must not echo the secret: {message}"
    );
}

#[test]
fn server_config_refuses_bad_values() {
    let cases: Vec<(String, usize, &str)> = vec![
        (
            EXAMPLE_SERVER.replace("https://api.github.com\"", "ftp://x\""),
            7,
            "http",
        ),
        (
            EXAMPLE_SERVER.replace(
                "command = [\"./scripts/apply-firewall.sh\"]",
                "command = []",
            ),
            17,
            "needs a command",
        ),
        (
            EXAMPLE_SERVER.replace(
                "command = [\"./scripts/apply-firewall.sh\"]",
                "command = [\"\"]",
            ),
            17,
            "must not be empty",
        ),
        (
            EXAMPLE_SERVER.replace("timeout = \"10m\"", "timeout = \"0s\""),
            18,
            "longer than zero",
        ),
        (
            EXAMPLE_SERVER.replace("repos = [\"acme/infra\"]", "repos = [\"acme\"]"),
            20,
            "OWNER/REPO",
        ),
        (
            EXAMPLE_SERVER.replace("name = \"acme/infra\"", "name = \"acme/../x\""),
            13,
            "OWNER/REPO",
        ),
        (
            EXAMPLE_SERVER.replace(
                "branches = [\"main\"]",
                "branches = [\"main\"]\n\n[[repos]]\nname = \"ACME/infra\"",
            ),
            17,
            "listed twice",
        ),
        (
            EXAMPLE_SERVER.replace("token = \"env:GITHUB_TOKEN\"", ""),
            6,
            "credentials",
        ),
        (
            EXAMPLE_SERVER.replace("listen = \"127.0.0.1:8080\"", "listen = \"nowhere\""),
            1,
            "address",
        ),
        (
            EXAMPLE_SERVER.replace(
                "listen = \"127.0.0.1:8080\"",
                "listen = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:8080\"",
            ),
            2,
            "must not share the webhook's port",
        ),
        (
            EXAMPLE_SERVER.replace(
                "listen = \"127.0.0.1:8080\"",
                "listen = \"127.0.0.1:8080\"\nadmin_tokn = \"env:X\"",
            ),
            2,
            "admin_tokn",
        ),
    ];
    for (text, want_line, want) in cases {
        let e = parse_server_config("s.toml", &text).expect_err(want);
        let (line, _, message) = position(&e);
        assert!(message.contains(want), "wanted {want:?} in {message}");
        assert_eq!(line, want_line, "{message}");
    }
}

#[test]
fn the_admin_listener_defaults_to_loopback_and_its_token_is_a_secret_reference() {
    let c = parse_server_config("s.toml", EXAMPLE_SERVER).expect("valid");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9090");
    assert!(c.admin_token.is_none());
    let text = EXAMPLE_SERVER.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"0.0.0.0:8080\"\nadmin_listen = \"0.0.0.0:9090\"\nadmin_token = \"file:admin.token\"",
    );
    let c = parse_server_config("s.toml", &text).expect("valid");
    assert!(matches!(
        c.admin_token,
        Some(prgate::config::SecretRef::File(_))
    ));
    let e = parse_server_config(
        "s.toml",
        &EXAMPLE_SERVER.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nadmin_token = \"plain-text\"",
        ),
    )
    .expect_err("a token written in the file");
    let (line, _, _) = position(&e);
    assert_eq!(line, 2);
}

#[test]
fn load_server_config_reports_a_missing_file() {
    let e = prgate::config::load_server_config(std::path::Path::new("/nonexistent/prgate.toml"))
        .expect_err("no file");
    assert!(e.to_string().contains("/nonexistent/prgate.toml"), "{e}");
}

#[test]
fn load_server_config_reads_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("prgate.toml");
    std::fs::write(&path, EXAMPLE_SERVER).expect("write");
    let c = prgate::config::load_server_config(&path).expect("loads");
    assert_eq!(c.repos.len(), 1);
}
