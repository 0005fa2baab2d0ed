//! The one JSON contract of the command line and the MCP server: with `--json` every command
//! prints exactly one object on stdout, its answer or `{"error": {kind, message, hint},
//! "exit_code"}`. The JSON Schemas under `schemas/` are generated from these very types
//! ([`schemas`]), and a test checks the committed files are what they generate.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::github::parse_api_url;
use crate::github::{GitHubError, host_of};

/// What kind of failure an error is, for a program to branch on without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A flag, an argument or a file named on the command line is wrong (exit 2).
    Usage,
    /// The server config or a policy is wrong (exit 2).
    Config,
    /// No token, or the token is refused (401) or lacks the rights (403).
    Auth,
    /// The code host could not be reached, or did not answer in time.
    Network,
    /// The code host has no such repository, pull request or commit (or the token cannot see it).
    NotFound,
    /// The code host answered with an error.
    CodeHost,
    /// `propose`: the named paths already match the base branch (exit 3).
    NothingToCommit,
    /// `propose`: the remote refused the push (exit 5).
    PushRejected,
    /// A git operation on the local repository failed.
    Git,
    /// Anything else.
    Internal,
}

/// An error's body: what failed, on which object, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    /// What failed and on which object, in a sentence.
    pub message: String,
    /// What to do about it, when prgate can say.
    pub hint: Option<String>,
}

/// What a command prints on stdout when it fails with `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorOutput {
    pub error: ErrorBody,
    /// The process's exit code (DESIGN.md: 2 usage or configuration, 1 any other error, ...).
    pub exit_code: u8,
}

impl ErrorOutput {
    pub fn new(kind: ErrorKind, message: impl Into<String>, exit_code: u8) -> Self {
        ErrorOutput {
            error: ErrorBody {
                kind,
                message: message.into(),
                hint: None,
            },
            exit_code,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.error.hint = Some(hint.into());
        self
    }

    /// A code host failure, saying where the code host was looked for: a refused connection
    /// names the host and points at `--api-url`/`PRGATE_API_URL`.
    pub fn from_code_host(e: &GitHubError, api_url: &str, exit_code: u8) -> Self {
        let host = host_of(api_url);
        match e {
            GitHubError::Transport { .. } | GitHubError::Timeout { .. } => ErrorOutput::new(
                ErrorKind::Network,
                format!("cannot reach the code host at {host} ({api_url}): {e}"),
                exit_code,
            )
            .with_hint(format!(
                "check --api-url or PRGATE_API_URL (now {api_url}) and that {host} is up and reachable"
            )),
            GitHubError::Setup { .. } => {
                ErrorOutput::new(ErrorKind::Usage, e.to_string(), crate::contract::EXIT_USAGE)
                    .with_hint("give --api-url (or PRGATE_API_URL) as e.g. https://api.github.com or https://HOST/api/v3")
            }
            _ => match e.status() {
                Some(401) => ErrorOutput::new(ErrorKind::Auth, e.to_string(), exit_code)
                    .with_hint("PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN) is refused: set a valid token"),
                Some(403) => ErrorOutput::new(ErrorKind::Auth, e.to_string(), exit_code).with_hint(
                    "the token lacks the rights for this, or its rate limit is spent; check its scopes",
                ),
                Some(404) => ErrorOutput::new(ErrorKind::NotFound, e.to_string(), exit_code)
                    .with_hint("check the repository and number, and that the token can see them"),
                _ => ErrorOutput::new(ErrorKind::CodeHost, e.to_string(), exit_code),
            },
        }
    }
}

/// Exit code for a usage or configuration error (DESIGN.md: Command line).
pub const EXIT_USAGE: u8 = 2;

/// What a command prints: its answer, or an error. The schemas of `schemas/` are of this
/// shape per command.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Output<T> {
    Answer(T),
    Error(ErrorOutput),
}

/// `prgate policy check --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyCheckOutput {
    /// The policy file checked.
    pub file: String,
    /// True when the policy holds (exit 0); false when any error was found (exit 2).
    pub ok: bool,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// One problem `prgate config check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigProblem {
    /// True for an error (the config cannot be served), false for a warning.
    pub error: bool,
    /// Where: a config key (`executors.firewall.env.FIREWALL_TOKEN`) or a repository.
    pub subject: String,
    pub message: String,
}

/// `prgate config check --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigCheckOutput {
    /// The config file checked.
    pub config: String,
    /// True when it can be served (exit 0).
    pub ok: bool,
    /// Where prgate sends its calls, derived from `[github]` (absent when the config could not
    /// be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<ConfigEndpoints>,
    pub problems: Vec<ConfigProblem>,
}

/// The code host's endpoints as `prgate config check` derived them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigEndpoints {
    /// The REST API's base (`github.api_url`).
    pub rest: String,
    /// GraphQL's URL.
    pub graphql: String,
    /// Where `graphql` came from: `api_url` (derived from it) or `graphql_url` (set).
    pub graphql_from: String,
}

/// `prgate key generate|public --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyOutput {
    /// The ed25519 public key, hex: what `verify --public-key` and `audit --public-key` take.
    pub public_key: String,
    /// The key id every signature made with this key carries (`keyid` in the DSSE envelope):
    /// sha256 of the raw public key, hex.
    pub key_id: String,
}

/// `prgate execute --cancel --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CancelOutput {
    /// The run had finished already; nothing to cancel.
    Finished {
        outcome: crate::record::note::Outcome,
        commit: String,
    },
    /// The hold label was put on the PR: a running execution is cancelled, a pending one held.
    HoldRequested { pull: u64, label: String },
}

/// `prgate execute --json`: what became of the commit, or of the request to cancel it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ExecuteOutput {
    Considered(crate::executor::Considered),
    Cancel(CancelOutput),
}

/// The input of the MCP tool `propose_change`: `prgate propose`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeInput {
    /// The working tree to propose from (the server's working directory when omitted).
    #[serde(default)]
    pub repo: Option<String>,
    /// The PR's title.
    pub title: String,
    /// The paths (relative to the working tree) whose changes are proposed.
    pub paths: Vec<String>,
    /// The change's summary in the PR body.
    #[serde(default)]
    pub summary: Option<String>,
    /// Why the change is needed.
    #[serde(default)]
    pub reason: Option<String>,
    /// What could go wrong.
    #[serde(default)]
    pub risk: Option<String>,
    /// How to undo it.
    #[serde(default)]
    pub rollback: Option<String>,
    /// Branch name (default: prgate/AGENT/SLUG-OF-THE-TITLE).
    #[serde(default)]
    pub branch: Option<String>,
    /// Base branch (default: the repository's default branch).
    #[serde(default)]
    pub base: Option<String>,
    /// Labels to put on the PR.
    #[serde(default)]
    pub labels: Vec<String>,
    /// OWNER/REPO on the code host (default: read from the `origin` URL).
    #[serde(default)]
    pub remote_repo: Option<String>,
}

/// The input of the MCP tools `get_status` and `explain_decision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullInput {
    /// OWNER/REPO#N, or the PR's URL on the code host.
    pub pull: String,
}

/// What `wait_for_decision` waits for (as `wait --until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum UntilInput {
    #[default]
    Approved,
    Merged,
    Executed,
}

/// The input of the MCP tool `wait_for_decision`: `prgate wait`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitInput {
    /// OWNER/REPO#N, or the PR's URL on the code host.
    pub pull: String,
    /// What to wait for: approved (default), merged or executed.
    #[serde(default)]
    pub until: UntilInput,
    /// The longest to wait, e.g. "30s", "10m" (default and most: 10m); its end is
    /// `timed_out: true`, never an approval.
    #[serde(default)]
    pub timeout: Option<String>,
}

fn schema_value<T: JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(serde_json::Value::Null)
}

/// Every published schema, by file name under `schemas/` (without `.json`).
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("error", schema_value::<ErrorOutput>()),
        (
            "status",
            schema_value::<Output<crate::proposal_status::ProposalStatus>>(),
        ),
        (
            "propose",
            schema_value::<Output<crate::propose::Proposal>>(),
        ),
        (
            "verify",
            schema_value::<Output<crate::verify::VerifyReport>>(),
        ),
        ("audit", schema_value::<Output<crate::audit::AuditReport>>()),
        ("policy-check", schema_value::<Output<PolicyCheckOutput>>()),
        ("config-check", schema_value::<Output<ConfigCheckOutput>>()),
        ("key", schema_value::<Output<KeyOutput>>()),
        ("execute", schema_value::<Output<ExecuteOutput>>()),
        ("mcp-propose-change-input", schema_value::<ProposeInput>()),
        ("mcp-pull-input", schema_value::<PullInput>()),
        ("mcp-wait-for-decision-input", schema_value::<WaitInput>()),
        // The two TOML files, for editors (taplo's `#:schema` directive) and for checks.
        ("prgate-toml", schema_value::<crate::config::ServerConfig>()),
        ("policy-toml", schema_value::<crate::policy::RepoPolicy>()),
    ]
}

/// The schema of `T` as a JSON object (for MCP tool descriptions).
pub(crate) fn schema_object<T: JsonSchema>() -> serde_json::Map<String, serde_json::Value> {
    match schema_value::<T>() {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_checked_before_any_client_sees_them() {
        assert!(parse_api_url("https://api.github.com").is_ok());
        assert!(parse_api_url("http://127.0.0.1:8080/api/v3").is_ok());
        for bad in [
            "not-a-url",
            "ftp://x",
            "https://",
            "http://h/?q=1",
            "",
            "::",
        ] {
            assert!(parse_api_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refused_connection_names_the_host_and_the_flag() {
        let e = GitHubError::Transport {
            method: "GET".into(),
            path: "/repos/a/b/pulls/1".into(),
            host: "127.0.0.1:9".into(),
            source: "connection refused".into(),
        };
        let out = ErrorOutput::from_code_host(&e, "http://127.0.0.1:9/api", 1);
        assert_eq!(out.error.kind, ErrorKind::Network);
        assert!(out.error.message.contains("127.0.0.1:9"), "{out:?}");
        let hint = out.error.hint.unwrap_or_default();
        assert!(
            hint.contains("--api-url") && hint.contains("PRGATE_API_URL"),
            "{hint}"
        );
    }
}
