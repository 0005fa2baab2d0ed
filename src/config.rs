//! The two configuration files: the operator's server config `prgate.toml` and the repo
//! owner's policy `.github/prgate.toml`. Both are parsed strictly (unknown keys are errors
//! with line and column); secrets are only ever references, resolved at the moment of use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{Login, RepoName};

/// A configuration file that could not be accepted, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Syntax or schema error; `line`/`column` are 1-based when known.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Other { file: String, message: String },
    #[error("secret {reference}: {message}")]
    Secret { reference: String, message: String },
}

/// A reference to a secret: `env:NAME` or `file:PATH`. The value is read only when needed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl TryFrom<String> for SecretRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if let Some(name) = s.strip_prefix("env:") {
            if name.is_empty() {
                return Err("secret reference `env:` needs a variable name".into());
            }
            Ok(SecretRef::Env(name.to_string()))
        } else if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err("secret reference `file:` needs a path".into());
            }
            Ok(SecretRef::File(PathBuf::from(path)))
        } else {
            Err(format!(
                "secret must be a reference `env:NAME` or `file:PATH`, not a literal value (got a value starting with {:?})",
                s.chars().take(4).collect::<String>()
            ))
        }
    }
}

impl From<SecretRef> for String {
    fn from(s: SecretRef) -> String {
        s.to_string()
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Strings with a shape of their own (`try_from`/`into` String): their schemas say the shape.
macro_rules! string_schema {
    ($ty:ty, $name:literal, $pattern:literal, $description:literal) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description
                })
            }
        }
    };
}

string_schema!(
    SecretRef,
    "SecretRef",
    "^(env:.+|file:.+)$",
    "A reference to a secret, never its value: `env:NAME` (an environment variable) or `file:PATH` (a file's contents, trailing newline trimmed)."
);
string_schema!(
    HumanDuration,
    "Duration",
    "^[0-9]+[a-z]+([0-9]+[a-z]+)*$",
    "A duration such as \"72h\", \"10m\", \"30s\" or \"2h30m\"."
);
string_schema!(
    TeamRef,
    "TeamRef",
    "^[^/]+/[^/]+$",
    "A team as ORG/TEAM-SLUG, e.g. \"acme/netops\"."
);

impl schemars::JsonSchema for SandboxSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SandboxSetting".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let paths = generator.subschema_for::<SandboxPaths>();
        schemars::json_schema!({
            "description": "What the executor may reach beyond its checkout and the system's paths, or \"off\".",
            "oneOf": [paths, { "const": "off" }]
        })
    }
}

/// A resolved secret value. Its `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Values shorter than this are not redacted as "another secret the gate holds": they would
/// garble ordinary output, and a secret that short protects nothing.
const MIN_HELD_BYTES: usize = 8;

impl ServerConfig {
    /// Every secret value this config names (webhook secrets, the code host's token or app
    /// key, the signing key, the admin token, every executor's `env` and `plan_env`), for
    /// redaction from all that prgate publishes, not only the running executor's own. A key
    /// file's lines are taken one by one too, so that part of a PEM file is caught as well as
    /// the whole. A reference that does not resolve is skipped (start-up refuses it anyway).
    pub(crate) fn held_secret_values(&self) -> Vec<Vec<u8>> {
        let refs = self
            .webhook_secrets
            .iter()
            .chain(&self.github.token)
            .chain(&self.github.private_key)
            .chain(&self.note_signing_key)
            .chain(&self.admin_token)
            .chain(
                self.executors
                    .values()
                    .flat_map(|e| e.env.values().chain(e.plan_env.values())),
            );
        let mut held = BTreeSet::new();
        for r in refs {
            let Ok(secret) = r.resolve() else { continue };
            let value = secret.expose();
            for part in std::iter::once(value).chain(value.lines()) {
                let part = part.trim();
                if part.len() >= MIN_HELD_BYTES {
                    held.insert(part.as_bytes().to_vec());
                }
            }
        }
        held.into_iter().collect()
    }
}

impl SecretRef {
    /// Reads the secret's value now. A file's trailing newline is not part of the secret.
    pub fn resolve(&self) -> Result<Secret, ConfigError> {
        let err = |message: String| ConfigError::Secret {
            reference: self.to_string(),
            message,
        };
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                Ok(_) => Err(err(format!("environment variable {name} is empty; set it"))),
                Err(_) => Err(err(format!(
                    "environment variable {name} is not set; set it"
                ))),
            },
            SecretRef::File(path) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\n', '\r']).to_string();
                    if v.is_empty() {
                        Err(err("the file is empty".into()))
                    } else {
                        Ok(Secret(v))
                    }
                }
                Err(e) => Err(err(format!("cannot read {}: {e}", path.display()))),
            },
        }
    }
}

/// Resolves every secret of an executor's `env` or `plan_env`, naming the first that does not
/// resolve: a run (or plan) gets all its secrets or does not start.
pub(crate) fn resolve_env(
    env: &BTreeMap<String, SecretRef>,
) -> Result<Vec<(String, Secret)>, String> {
    env.iter()
        .map(|(k, r)| {
            r.resolve()
                .map(|s| (k.clone(), s))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// A duration written as in `"72h"`, `"10m"`, `"30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HumanDuration(pub Duration);

impl TryFrom<String> for HumanDuration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| format!("{s:?} is not a duration like \"72h\", \"10m\" or \"30s\": {e}"))
    }
}
impl From<HumanDuration> for String {
    fn from(d: HumanDuration) -> String {
        humantime::format_duration(d.0).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Server config (operator)

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from(".prgate")
}
fn default_api_url() -> String {
    "https://api.github.com".to_string()
}
fn default_reconcile_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}
fn default_branches() -> Vec<String> {
    vec!["main".to_string()]
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    pub webhook_secrets: Vec<SecretRef>,
    /// Where the pages live on the code host's side of the links: statuses' `target_url`
    /// is `<public_url>/pulls/<owner>/<repo>/<n>` (the admin listener, behind whatever the
    /// operator puts in front of it).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The listener for the dashboard, the decision pages and `/metrics`: they show private
    /// repositories' titles, logins and decisions, so they never share the webhook's port.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// When set, every request to `admin_listen` must carry it, as `Authorization: Bearer`
    /// or the cookie `prgate_admin_token`.
    #[serde(default)]
    pub admin_token: Option<SecretRef>,
    pub github: GithubConfig,
    #[serde(default)]
    pub repos: Vec<GovernedRepo>,
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorConfig>,
    /// How often the reconciler re-evaluates open PRs (not in DESIGN.md's example; optional).
    #[serde(default = "default_reconcile_interval")]
    pub reconcile_interval: HumanDuration,
    /// A directory whose templates override the built-in ones (optional).
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// The executor's ed25519 key for signing execution notes: a reference to the 32-byte
    /// seed written as 64 hex characters (`prgate key generate`). Optional: without it notes
    /// are written unsigned, as before. Resolved (and its format checked) at start-up.
    #[serde(default)]
    pub note_signing_key: Option<SecretRef>,
    /// Limits of the public listener against unauthenticated floods (`[http]`, optional).
    #[serde(default)]
    pub http: HttpLimits,
    /// How much work runs at once (`[runtime]`, optional).
    #[serde(default)]
    pub runtime: RuntimeLimits,
}

/// `[runtime]`: evaluations of different PRs run concurrently, up to `workers`; executions run
/// on a pool of their own, up to `executions`, so that a long run never delays a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeLimits {
    pub workers: usize,
    pub executions: usize,
    /// Plans run on a pool of their own: they run agents' proposals before anyone approved
    /// them, and a slow or hostile one must never delay an approved execution.
    pub plans: usize,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        // Evaluations wait on the code host, not the CPU; executions hold secrets and run
        // operators' commands, so fewer of them at once.
        RuntimeLimits {
            workers: 16,
            executions: 2,
            plans: 2,
        }
    }
}

/// `[http]`: what the public listener grants a client it cannot yet authenticate. Every key
/// has a default; see docs/choices.md for why each is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Connections served at once; further ones wait in the kernel's backlog, and the oldest
    /// idle connection is closed to make room for them.
    pub max_connections: usize,
    /// Request headers must arrive within this; also how long a keep-alive connection may
    /// sit idle between requests.
    pub header_timeout: HumanDuration,
    /// A webhook body must have arrived this long after its headers (GitHub itself gives up
    /// on a delivery after 10 s).
    pub body_timeout: HumanDuration,
    /// MiB of webhook bodies buffered at once, over all requests together.
    pub body_budget_mib: usize,
    /// How long a body waits for room in the budget before it is refused with 503.
    pub budget_wait: HumanDuration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            header_timeout: HumanDuration(Duration::from_secs(5)),
            body_timeout: HumanDuration(Duration::from_secs(10)),
            body_budget_mib: 64,
            budget_wait: HumanDuration(Duration::from_secs(2)),
        }
    }
}

/// The largest webhook body prgate reads: GitHub's own cap on a delivery.
pub(crate) const MAX_WEBHOOK_BODY_BYTES: usize = 25 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// The REST API's base: `https://api.github.com`, `https://HOST/api/v3` on GitHub
    /// Enterprise Server. Every other endpoint is derived from it.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Where GraphQL lives, only to override what is derived from `api_url` (`.../api/v3` has
    /// it at `.../api/graphql`, any other base at `<api_url>/graphql`); on `api_url`'s host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_url: Option<String>,
    #[serde(default)]
    pub token: Option<SecretRef>,
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub private_key: Option<SecretRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GovernedRepo {
    pub name: RepoName,
    #[serde(default = "default_branches")]
    pub branches: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    pub command: Vec<String>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    #[serde(default)]
    pub env: BTreeMap<String, SecretRef>,
    #[serde(default)]
    pub repos: Vec<RepoName>,
    #[serde(default)]
    pub paused: bool,
    /// Repository paths of the executor's own program (path patterns, as in a rule's
    /// `paths`). They are governed by every rule that runs this executor, so that changing
    /// the script needs that rule's approvers. Default: `command[0]` when it is a path inside
    /// the repository.
    #[serde(default)]
    pub program_paths: Option<Vec<String>>,
    /// Optional: a command (argv, no shell) that prints the effect of a proposal before anyone
    /// approves it, run in a checkout of the would-be merge with the program taken from the
    /// base branch (see `executor::plan`). Its output's digest is bound into the approval.
    #[serde(default)]
    pub plan: Option<Vec<String>>,
    /// The only secrets a plan gets (read-only credentials); `env` never reaches a plan.
    #[serde(default)]
    pub plan_env: BTreeMap<String, SecretRef>,
    /// What the command may reach beyond its checkout and the system's paths
    /// (`{ read = [...], write = [...] }`; plans get both read-only), or `"off"`.
    #[serde(default)]
    pub sandbox: SandboxSetting,
    /// Whether plans may open TCP connections (executor commands always may).
    #[serde(default)]
    pub plan_network: bool,
}

/// `[executors.X] sandbox`: the folders the executor may reach beyond its checkout, or `"off"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxSetting {
    Paths(SandboxPaths),
    /// No sandbox: the command and the plan run with the gate's own reach.
    Off,
}

impl Default for SandboxSetting {
    fn default() -> Self {
        SandboxSetting::Paths(SandboxPaths::default())
    }
}

/// Folders or files an executor reads (`read`) or writes (`write`); a relative path is taken
/// from the config file's folder, as `data_dir` is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxPaths {
    #[serde(default)]
    pub read: Vec<PathBuf>,
    #[serde(default)]
    pub write: Vec<PathBuf>,
}

impl Serialize for SandboxSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SandboxSetting::Off => s.serialize_str("off"),
            SandboxSetting::Paths(p) => p.serialize(s),
        }
    }
}

// By hand rather than `#[serde(untagged)]`, whose error ("did not match any variant") names
// neither form.
impl<'de> Deserialize<'de> for SandboxSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        const EXPECTED: &str = "\"off\" or a table { read = [\"/path\"], write = [\"/path\"] }";
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SandboxSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "off" => Ok(SandboxSetting::Off),
                    other => Err(E::custom(format!(
                        "sandbox must be {EXPECTED}, not {other:?}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                SandboxPaths::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(SandboxSetting::Paths)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl ExecutorConfig {
    /// The repository paths of this executor's program: `program_paths`, or by default every
    /// argument of `command` and `plan` that names a file in the repository
    /// (`["sh", "scripts/apply.sh"]` governs the script, not only `sh`): an easy omission must
    /// not leave the script that runs with the executor's secrets to the defaults' approvers.
    pub(crate) fn program_patterns(&self) -> Vec<String> {
        match &self.program_paths {
            Some(p) => p.clone(),
            None => {
                let mut found = self.run_files();
                found.sort();
                found.dedup();
                found
            }
        }
    }

    /// The inline script of `command` or `plan` (`sh -c "…"`, `python3 -c`, `node -e`), which
    /// lives in prgate.toml rather than in a repository file: no rule can govern what it
    /// runs beyond itself. `None` when there is none.
    pub(crate) fn inline_script(&self) -> Option<String> {
        const INTERPRETERS: [&str; 10] = [
            "sh", "bash", "dash", "zsh", "python", "python3", "perl", "ruby", "node", "pwsh",
        ];
        [self.command.as_slice(), self.plan_argv()]
            .into_iter()
            .find(|argv| {
                argv.first().is_some_and(|p| {
                    let name = p.rsplit('/').next().unwrap_or(p);
                    INTERPRETERS.contains(&name)
                }) && argv.iter().skip(1).any(|a| a == "-c" || a == "-e")
            })
            .map(|argv| argv.join(" "))
    }

    /// The plan command, empty when the executor has none.
    pub(crate) fn plan_argv(&self) -> &[String] {
        self.plan.as_deref().unwrap_or_default()
    }
}

impl ExecutorConfig {
    /// Every element of `command` that names a file inside the repository (`sh
    /// scripts/apply.sh` runs `scripts/apply.sh`): what `prgate policy check --config`
    /// expects the rules running this executor to cover.
    pub fn run_files(&self) -> Vec<String> {
        self.command
            .iter()
            .chain(self.plan_argv())
            .filter(|a| !a.starts_with('-'))
            .filter_map(|a| repo_relative_program(a))
            .collect()
    }
}

/// An argument as a path inside the repository, or `None` when it is not one: a bare name
/// (`sh`) is looked up on `PATH` by exec, an absolute path is outside the checkout, and an
/// option, an assignment or a shell string names no file. A file in the repository's root
/// (`apply.py`) counts when it has an extension; governing a name that is no file costs
/// nothing, missing one would leave a script ungoverned.
fn repo_relative_program(program: &str) -> Option<String> {
    if program.starts_with('/')
        || program.starts_with('-')
        || program
            .chars()
            .any(|c| c.is_whitespace() || "=$;&|<>`\"'*?[]{}".contains(c))
    {
        return None;
    }
    let trimmed = program.strip_prefix("./").unwrap_or(program);
    let has_extension = trimmed.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if !program.contains('/') && !has_extension {
        return None;
    }
    let trimmed = program.strip_prefix("./").unwrap_or(program);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return None;
    }
    Some(trimmed.to_string())
}

impl ServerConfig {
    /// Each executor's program paths, by executor name, for governing them with the rules
    /// that run them.
    pub fn program_paths(&self) -> BTreeMap<String, Vec<String>> {
        self.executors
            .iter()
            .map(|(name, e)| (name.clone(), e.program_patterns()))
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Repo policy (repo owner), read at the PR's base commit

/// Where the policy lives in a governed repository.
pub const POLICY_PATH: &str = ".github/prgate.toml";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    Auto,
    #[default]
    Manual,
    /// prgate puts approved PRs into GitHub's merge queue, pinned to the approved head, and
    /// answers the queue's `merge_group` checks (DESIGN "Merge queues").
    Queue,
}

/// `org/slug` of a team.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamRef {
    pub org: String,
    pub slug: String,
}

impl TryFrom<String> for TeamRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.split_once('/') {
            Some((org, slug)) if !org.is_empty() && !slug.is_empty() && !slug.contains('/') => {
                Ok(TeamRef {
                    org: org.to_ascii_lowercase(),
                    slug: slug.to_ascii_lowercase(),
                })
            }
            _ => Err(format!(
                "team {s:?} must be written ORG/TEAM-SLUG, e.g. \"acme/netops\""
            )),
        }
    }
}
impl From<TeamRef> for String {
    fn from(t: TeamRef) -> String {
        t.to_string()
    }
}
impl fmt::Display for TeamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.slug)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    #[serde(default)]
    pub users: Vec<Login>,
    #[serde(default)]
    pub teams: Vec<TeamRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    #[serde(default)]
    pub agents: Vec<Login>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRule {
    pub approvers: Approvers,
    #[serde(default = "one")]
    pub min_approvals: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub paths: Vec<String>,
    pub approvers: Approvers,
    #[serde(default = "one")]
    pub min_approvals: u32,
    #[serde(default)]
    pub executor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoPolicy {
    pub version: u32,
    #[serde(default)]
    pub expire_after: Option<HumanDuration>,
    #[serde(default)]
    pub merge: MergeMode,
    #[serde(default)]
    pub identities: Identities,
    #[serde(default)]
    pub defaults: Option<DefaultRule>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

// ---------------------------------------------------------------------------------------------
// Parsing with positions, and semantic validation

/// Something in a configuration file that is accepted but probably not what its author meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: warning: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// The full result of checking a configuration file: every error and warning found, and the
/// parsed value when there was no error. `prgate policy check` prints each on its own line.
#[derive(Debug, Clone)]
pub struct ConfigCheck<T> {
    /// `Some` exactly when `errors` is empty.
    pub value: Option<T>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl<T> ConfigCheck<T> {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The value, or the first error (the one nearest the top of the file).
    pub(crate) fn into_result(self) -> Result<T, ConfigError> {
        match (self.value, self.errors.into_iter().next()) {
            (Some(v), None) => Ok(v),
            (_, Some(e)) => Err(e),
            // Unreachable by construction; still fail closed with a message rather than panic.
            (None, None) => Err(ConfigError::Other {
                file: String::new(),
                message: "configuration was not parsed".into(),
            }),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset into `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // A span from the parser always lies on char boundaries, but be safe for any caller.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Turns a toml error into ours, with the position of what it complains about.
pub(crate) fn toml_error(file: &str, text: &str, err: &toml::de::Error) -> ConfigError {
    // toml's messages sometimes end with a newline; ours are one line each.
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            ConfigError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Other {
            file: file.to_string(),
            message,
        },
    }
}

/// One step of a path into a TOML document: a key, or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Builds a path from keys and indices: `path!["rules", 2, "name"]`.
macro_rules! toml_path {
    ($($seg:expr),* $(,)?) => { vec![$($crate::config::Seg::from($seg)),*] };
}
pub(crate) use toml_path;

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}
impl From<&String> for Seg {
    fn from(s: &String) -> Self {
        Seg::Key(s.clone())
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// A semantic problem found in an already deserialized config, located by its path in the
/// document so that the caller can turn it into a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub path: Vec<Seg>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Problem {
            path,
            message: message.into(),
        }
    }
}

/// Positions of the values in a TOML document, for messages about what serde accepted but
/// validation refused. Built from toml's own span-keeping parse of the same text.
pub(crate) struct SpanIndex<'a> {
    text: &'a str,
    root: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> SpanIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        SpanIndex {
            text,
            root: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// The byte offset of the value at `path`, or of its nearest ancestor that exists (a
    /// value left to its default has no position of its own).
    fn offset_of(&self, path: &[Seg]) -> usize {
        use toml::de::DeValue;
        let Some(root) = &self.root else { return 0 };
        let mut table: Option<&toml::de::DeTable<'a>> = Some(root.get_ref());
        let mut array: Option<&[toml::Spanned<DeValue<'a>>]> = None;
        let mut best = 0;
        for seg in path {
            let next = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
                (Seg::Index(i), _, Some(a)) => a.get(*i),
                _ => None,
            };
            let Some(value) = next else { break };
            best = value.span().start;
            table = None;
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        best
    }

    pub(crate) fn error(&self, file: &str, problem: &Problem) -> ConfigError {
        let (line, column) = line_col(self.text, self.offset_of(&problem.path));
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            column,
            message: problem.message.clone(),
        }
    }

    pub(crate) fn warning(&self, file: &str, problem: &Problem) -> ConfigWarning {
        let (line, column) = line_col(self.text, self.offset_of(&problem.path));
        ConfigWarning {
            file: file.to_string(),
            line,
            column,
            message: problem.message.clone(),
        }
    }
}

/// Parses `text` strictly into `T` and runs `validate` on it; every error and warning comes
/// back with the position of the offending value.
pub(crate) fn check_toml<T, F>(file: &str, text: &str, validate: F) -> ConfigCheck<T>
where
    T: serde::de::DeserializeOwned,
    F: FnOnce(&T) -> (Vec<Problem>, Vec<Problem>),
{
    let value: T = match toml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return ConfigCheck {
                value: None,
                errors: vec![toml_error(file, text, &e)],
                warnings: vec![],
            };
        }
    };
    let (errors, warnings) = validate(&value);
    let index = SpanIndex::new(text);
    let errors: Vec<ConfigError> = errors.iter().map(|p| index.error(file, p)).collect();
    let warnings = warnings.iter().map(|p| index.warning(file, p)).collect();
    ConfigCheck {
        value: if errors.is_empty() { Some(value) } else { None },
        errors,
        warnings,
    }
}

/// Checks the operator's server config: all errors and warnings, for `prgate serve` to refuse
/// a bad file with every reason at once.
pub fn check_server_config(file: &str, text: &str) -> ConfigCheck<ServerConfig> {
    check_toml(file, text, validate_server_config)
}

/// Parses and validates the operator's server config `prgate.toml`. `file` names it in errors.
pub fn parse_server_config(file: &str, text: &str) -> Result<ServerConfig, ConfigError> {
    check_server_config(file, text).into_result()
}

/// Reads, parses and validates the server config at `path`. Relative paths in it are taken
/// relative to the config file's folder, whatever the working directory of the process.
pub fn load_server_config(path: &std::path::Path) -> Result<ServerConfig, ConfigError> {
    load_server_config_with_warnings(path).map(|(config, _)| config)
}

/// As [`load_server_config`], with the warnings (`config check` prints them, `serve` logs them).
pub fn load_server_config_with_warnings(
    path: &std::path::Path,
) -> Result<(ServerConfig, Vec<ConfigWarning>), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Other {
        file: file.clone(),
        message: format!("cannot read the server config: {e}"),
    })?;
    let checked = check_server_config(&file, &text);
    let warnings = checked.warnings.clone();
    let mut config = checked.into_result()?;
    let folder = std::path::absolute(path)
        .map_err(|e| ConfigError::Other {
            file: file.clone(),
            message: format!("cannot tell the config file's folder: {e}"),
        })?
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    config.anchor_paths(&folder);
    Ok((config, warnings))
}

impl ServerConfig {
    /// Makes every relative path in the config absolute against `folder`: `data_dir`,
    /// `templates_dir` and `file:` secrets. (An executor's `command[0]` is a path in the
    /// checkout, not on this machine, and stays as written.) git then never sees a relative
    /// path, which it would resolve against whatever directory it runs in (a worktree nested
    /// inside itself).
    pub(crate) fn anchor_paths(&mut self, folder: &std::path::Path) {
        let anchor = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        };
        anchor(&mut self.data_dir);
        if let Some(t) = &mut self.templates_dir {
            anchor(t);
        }
        let mut secrets: Vec<&mut SecretRef> = self.webhook_secrets.iter_mut().collect();
        secrets.extend(self.github.token.as_mut());
        secrets.extend(self.github.private_key.as_mut());
        secrets.extend(self.note_signing_key.as_mut());
        secrets.extend(self.admin_token.as_mut());
        for e in self.executors.values_mut() {
            secrets.extend(e.env.values_mut());
            secrets.extend(e.plan_env.values_mut());
        }
        for s in secrets {
            if let SecretRef::File(p) = s {
                anchor(p);
            }
        }
        for e in self.executors.values_mut() {
            if let SandboxSetting::Paths(p) = &mut e.sandbox {
                p.read.iter_mut().chain(p.write.iter_mut()).for_each(anchor);
            }
        }
    }
}

fn is_http_url(s: &str) -> Result<(), String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "{s:?} must be an http:// or https:// URL, not {}:",
            u.scheme()
        )),
        Err(e) => Err(format!("{s:?} is not a URL: {e}")),
    }
}

/// An override of GraphQL's URL must be an http(s) URL with a path, on the API URL's host:
/// prgate sends the same credentials to both.
fn graphql_url_fits(api_url: &str, graphql: &str) -> Result<(), String> {
    is_http_url(graphql)?;
    let (Ok(g), Ok(api)) = (url::Url::parse(graphql), url::Url::parse(api_url)) else {
        return Ok(());
    };
    if g.origin() != api.origin() {
        return Err(format!(
            "{graphql:?} is not on api_url's host ({}); give a URL on it, or leave graphql_url out to derive it from api_url",
            api.origin().ascii_serialization()
        ));
    }
    if g.path().trim_end_matches('/').is_empty() {
        return Err(format!(
            "{graphql:?} names no path; give GraphQL's full URL, e.g. {}/api/graphql",
            api.origin().ascii_serialization()
        ));
    }
    Ok(())
}

fn valid_executor_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The rules a server config must follow beyond its shape: (errors, warnings).
fn validate_server_config(cfg: &ServerConfig) -> (Vec<Problem>, Vec<Problem>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    // Without a secret nothing could be verified, and an unverified webhook must never act.
    if cfg.webhook_secrets.is_empty() {
        errors.push(Problem::new(
            toml_path!["webhook_secrets"],
            "webhook_secrets needs at least one secret reference, e.g. [\"env:PRGATE_WEBHOOK_SECRET\"]",
        ));
    }
    if cfg.data_dir.as_os_str().is_empty() {
        errors.push(Problem::new(
            toml_path!["data_dir"],
            "data_dir must not be empty",
        ));
    }
    if let Some(url) = &cfg.public_url
        && let Err(m) = is_http_url(url)
    {
        errors.push(Problem::new(
            toml_path!["public_url"],
            format!("public_url {m}"),
        ));
    }
    // One port for both would put the pages where the webhook faces the internet.
    if cfg.admin_listen == cfg.listen && cfg.listen.port() != 0 {
        errors.push(Problem::new(
            toml_path!["admin_listen"],
            format!(
                "admin_listen ({}) must differ from listen: the pages and metrics must not share the webhook's port",
                cfg.admin_listen
            ),
        ));
    }
    if !cfg.admin_listen.ip().is_loopback() && cfg.admin_token.is_none() {
        errors.push(Problem::new(
            toml_path!["admin_listen"],
            format!(
                "admin_listen {} is reachable beyond this machine and admin_token is not set: anyone who reaches it would read PR titles, logins and decisions, so prgate does not start; set admin_token = \"env:PRGATE_ADMIN_TOKEN\" or listen on 127.0.0.1",
                cfg.admin_listen
            ),
        ));
    }
    if cfg.reconcile_interval.0.is_zero() {
        errors.push(Problem::new(
            toml_path!["reconcile_interval"],
            "reconcile_interval must be longer than zero",
        ));
    }

    validate_http_limits(&cfg.http, &mut errors);
    for (key, value) in [
        ("workers", cfg.runtime.workers),
        ("executions", cfg.runtime.executions),
        ("plans", cfg.runtime.plans),
    ] {
        if !(1..=1024).contains(&value) {
            errors.push(Problem::new(
                toml_path!["runtime", key],
                format!("runtime.{key} must be between 1 and 1024"),
            ));
        }
    }

    if let Err(m) = is_http_url(&cfg.github.api_url) {
        errors.push(Problem::new(
            toml_path!["github", "api_url"],
            format!("github.api_url {m}"),
        ));
    }
    if let Some(graphql) = &cfg.github.graphql_url
        && let Err(m) = graphql_url_fits(&cfg.github.api_url, graphql)
    {
        errors.push(Problem::new(
            toml_path!["github", "graphql_url"],
            format!("github.graphql_url {m}"),
        ));
    }
    let gh = &cfg.github;
    match (&gh.token, gh.app_id, &gh.private_key) {
        (Some(_), None, None) | (None, Some(_), Some(_)) => {}
        (None, None, None) => errors.push(Problem::new(
            toml_path!["github"],
            "github needs credentials: `token = \"env:GITHUB_TOKEN\"`, or `app_id` with `private_key`",
        )),
        (Some(_), _, _) => errors.push(Problem::new(
            toml_path!["github", "token"],
            "github has both a token and GitHub App credentials; keep one of them",
        )),
        (None, Some(_), None) => errors.push(Problem::new(
            toml_path!["github", "app_id"],
            "github.app_id needs github.private_key as well",
        )),
        (None, None, Some(_)) => errors.push(Problem::new(
            toml_path!["github", "private_key"],
            "github.private_key needs github.app_id as well",
        )),
    }

    // A gate that governs nothing would answer every webhook and protect nothing: a typo
    // that must stop the start, not be found after a merge went through unguarded.
    if cfg.repos.is_empty() {
        errors.push(Problem::new(
            toml_path![],
            "no [[repos]] are listed, so prgate would govern nothing; add [[repos]] with name = \"owner/repo\"",
        ));
    }
    let mut seen: Vec<&RepoName> = Vec::new();
    for (i, repo) in cfg.repos.iter().enumerate() {
        if seen.contains(&&repo.name) {
            errors.push(Problem::new(
                toml_path!["repos", i, "name"],
                format!("repository {} is listed twice in [[repos]]", repo.name),
            ));
        }
        seen.push(&repo.name);
        if repo.branches.is_empty() {
            errors.push(Problem::new(
                toml_path!["repos", i, "branches"],
                format!(
                    "repository {} needs at least one governed branch",
                    repo.name
                ),
            ));
        }
        for (j, b) in repo.branches.iter().enumerate() {
            if b.trim().is_empty() || b.starts_with("refs/") {
                errors.push(Problem::new(
                    toml_path!["repos", i, "branches", j],
                    format!("branch {b:?} must be a plain branch name such as \"main\""),
                ));
            }
        }
    }

    for (name, ex) in &cfg.executors {
        if !valid_executor_name(name) {
            errors.push(Problem::new(
                toml_path!["executors", name],
                format!("executor name {name:?} may use only letters, digits, '-', '_' and '.'"),
            ));
        }
        match ex.command.first() {
            None => errors.push(Problem::new(
                toml_path!["executors", name, "command"],
                format!("executor {name} needs a command (argv, e.g. [\"./scripts/apply.sh\"])"),
            )),
            Some(prog) if prog.trim().is_empty() => errors.push(Problem::new(
                toml_path!["executors", name, "command", 0usize],
                format!(
                    "executor {name}: the program (first element of command) must not be empty"
                ),
            )),
            Some(_) => {}
        }
        if let Some(t) = ex.timeout
            && t.0.is_zero()
        {
            errors.push(Problem::new(
                toml_path!["executors", name, "timeout"],
                format!("executor {name}: timeout must be longer than zero"),
            ));
        }
        for key in ex.env.keys() {
            if !valid_env_name(key) {
                errors.push(Problem::new(
                    toml_path!["executors", name, "env", key],
                    format!("executor {name}: {key:?} is not a valid environment variable name"),
                ));
            }
        }
        match ex.plan.as_deref().map(|p| p.first()) {
            None => {}
            Some(None) => errors.push(Problem::new(
                toml_path!["executors", name, "plan"],
                format!(
                    "executor {name}: plan is empty; give it an argv (e.g. [\"./scripts/plan.sh\"]) or remove it"
                ),
            )),
            Some(Some(prog)) if prog.trim().is_empty() => errors.push(Problem::new(
                toml_path!["executors", name, "plan", 0usize],
                format!("executor {name}: the plan's program (first element of plan) must not be empty"),
            )),
            Some(Some(_)) => {}
        }
        for key in ex.plan_env.keys() {
            if !valid_env_name(key) {
                errors.push(Problem::new(
                    toml_path!["executors", name, "plan_env", key],
                    format!("executor {name}: {key:?} in plan_env is not a valid environment variable name"),
                ));
            }
        }
        if ex.plan.is_none() && !ex.plan_env.is_empty() {
            errors.push(Problem::new(
                toml_path!["executors", name, "plan_env"],
                format!(
                    "executor {name} has plan_env but no plan; add plan = [\"./scripts/plan.sh\"] or remove plan_env"
                ),
            ));
        }
        // A secret given to both would reach the plan, which runs before anyone approved.
        for key in ex.plan_env.keys().filter(|k| ex.env.contains_key(*k)) {
            if ex.env.get(key) == ex.plan_env.get(key) {
                warnings.push(Problem::new(
                    toml_path!["executors", name, "plan_env", key],
                    format!(
                        "executor {name}: plan_env {key} is the same secret as env {key}; a plan runs before approval, so give it a read-only credential"
                    ),
                ));
            }
        }
        for (j, pattern) in ex.program_paths.iter().flatten().enumerate() {
            if let Err(why) = valid_path_pattern(pattern) {
                errors.push(Problem::new(
                    toml_path!["executors", name, "program_paths", j],
                    format!("executor {name}: program path {pattern:?} {why}"),
                ));
            }
        }
        match &ex.sandbox {
            SandboxSetting::Off => warnings.push(Problem::new(
                toml_path!["executors", name, "sandbox"],
                format!(
                    "executor {name} runs without a sandbox: its plan runs on PR content before anyone approved it, with prgate's own reach (its config, keys and data_dir); remove sandbox = \"off\" unless this kernel has no Landlock"
                ),
            )),
            SandboxSetting::Paths(p) => {
                for (key, list) in [("read", &p.read), ("write", &p.write)] {
                    for (j, path) in list.iter().enumerate() {
                        if path.as_os_str().is_empty() {
                            errors.push(Problem::new(
                                toml_path!["executors", name, "sandbox", key, j],
                                format!("executor {name}: a sandbox.{key} path is empty"),
                            ));
                        } else if cfg.data_dir.starts_with(path) {
                            warnings.push(Problem::new(
                                toml_path!["executors", name, "sandbox", key, j],
                                format!(
                                    "executor {name}: sandbox.{key} {} holds data_dir ({}), where prgate keeps its queue and mirrors: list only the folders the command needs",
                                    path.display(),
                                    cfg.data_dir.display()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(inline) = ex.inline_script() {
            warnings.push(Problem::new(
                toml_path!["executors", name],
                format!(
                    "executor {name} runs an inline script ({inline}): what it runs lives in prgate.toml, and any file it reads from the checkout is governed only if program_paths names it; put the script in a repository file and name that instead"
                ),
            ));
        }
        if ex.repos.is_empty() {
            warnings.push(Problem::new(
                toml_path!["executors", name],
                format!("executor {name} lists no repos, so no repository may use it"),
            ));
        }
        for (j, r) in ex.repos.iter().enumerate() {
            if !cfg.repos.iter().any(|g| &g.name == r) {
                errors.push(Problem::new(
                    toml_path!["executors", name, "repos", j],
                    format!(
                        "executor {name} names {r}, which is not governed; add it to [[repos]] or remove it here"
                    ),
                ));
            }
        }
    }
    (errors, warnings)
}

/// Whether a path pattern can mean a repository path (the policy engine compiles it the
/// same way; this only refuses what could never match).
fn valid_path_pattern(pattern: &str) -> Result<(), String> {
    let trimmed = pattern.trim_start_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    let base = trimmed.trim_end_matches('/');
    if base.is_empty() {
        return Err("is empty".into());
    }
    if base
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err("must not contain empty, \".\" or \"..\" path components".into());
    }
    globset::Glob::new(base)
        .map(|_| ())
        .map_err(|e| format!("is not a valid glob: {}", e.kind()))
}

fn validate_http_limits(http: &HttpLimits, errors: &mut Vec<Problem>) {
    if http.max_connections == 0 {
        errors.push(Problem::new(
            toml_path!["http", "max_connections"],
            "http.max_connections must be at least 1",
        ));
    }
    for (key, value) in [
        ("header_timeout", http.header_timeout),
        ("body_timeout", http.body_timeout),
    ] {
        if value.0.is_zero() {
            errors.push(Problem::new(
                toml_path!["http", key],
                format!("http.{key} must be longer than zero"),
            ));
        }
    }
    // A budget smaller than one delivery at GitHub's cap would refuse such a delivery forever.
    let min_mib = MAX_WEBHOOK_BODY_BYTES / (1024 * 1024);
    if http.body_budget_mib < min_mib || http.body_budget_mib > 1024 * 1024 {
        errors.push(Problem::new(
            toml_path!["http", "body_budget_mib"],
            format!(
                "http.body_budget_mib must be between {min_mib} (one delivery at GitHub's 25 MiB cap) and 1048576"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, text.rfind('=').unwrap_or(0)), (2, 4));
        // Past the end and inside a character are clamped, never a panic.
        assert_eq!(line_col(text, 10_000).0, 3);
        assert_eq!(line_col(text, 8), (2, 2));
    }

    #[test]
    fn values_are_located_by_path() {
        let text = "x = 1\n[[r]]\nname = \"a\"\n[[r]]\nname = \"b\"\nv = { k = [1, 2] }\n";
        let idx = SpanIndex::new(text);
        let at = |p: Vec<Seg>| line_col(text, idx.offset_of(&p));
        assert_eq!(at(toml_path!["x"]), (1, 5));
        assert_eq!(at(toml_path!["r", 1usize, "name"]), (5, 8));
        assert_eq!(at(toml_path!["r", 1usize, "v", "k", 1usize]), (6, 15));
        // A missing key falls back to its nearest existing ancestor.
        assert_eq!(at(toml_path!["r", 1usize, "v", "missing"]), (6, 5));
    }

    #[test]
    fn a_plan_is_an_argv_and_plan_env_needs_a_plan() {
        let base = "webhook_secrets = [\"env:S\"]\n[[repos]]\nname = \"acme/infra\"\n[github]\ntoken = \"env:T\"\n[executors.fw]\ncommand = [\"./apply.sh\"]\nrepos = [\"acme/infra\"]\n";
        let ok = format!("{base}plan = [\"./plan.sh\"]\nplan_env = {{ READ = \"env:R\" }}\n");
        let cfg = parse_server_config("s", &ok).unwrap();
        // The plan's program is governed with the command's by default.
        assert_eq!(
            cfg.executors["fw"].program_patterns(),
            vec!["apply.sh".to_string(), "plan.sh".to_string()]
        );
        for (bad, needle) in [
            ("plan = []\n", "plan is empty"),
            ("plan = [\" \"]\n", "plan's program"),
            ("plan_env = { READ = \"env:R\" }\n", "plan_env but no plan"),
            (
                "plan = [\"./p\"]\nplan_env = { \"1X\" = \"env:R\" }\n",
                "not a valid environment variable name",
            ),
        ] {
            let e = parse_server_config("s", &format!("{base}{bad}")).expect_err(bad);
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
        // The command's own secret given to the plan is allowed, and warned about.
        let shared = format!(
            "{base}env = {{ TOKEN = \"env:W\" }}\nplan = [\"./p\"]\nplan_env = {{ TOKEN = \"env:W\" }}\n"
        );
        let check = check_server_config("s", &shared);
        assert!(check.is_ok());
        assert!(
            check
                .warnings
                .iter()
                .any(|w| w.to_string().contains("read-only credential")),
            "{:?}",
            check.warnings
        );
    }

    #[test]
    fn a_github_app_needs_both_id_and_key() {
        let base = "webhook_secrets = [\"env:S\"]\n[[repos]]\nname = \"acme/infra\"\n[github]\n";
        let ok = format!("{base}app_id = 1\nprivate_key = \"file:/k.pem\"\n");
        assert!(parse_server_config("s", &ok).is_ok());
        let half = format!("{base}app_id = 1\n");
        let e = parse_server_config("s", &half).expect_err("half an app");
        assert!(e.to_string().contains("private_key"), "{e}");
        let both = format!("{base}token = \"env:T\"\napp_id = 1\nprivate_key = \"file:/k.pem\"\n");
        assert!(parse_server_config("s", &both).is_err());
    }

    #[test]
    fn http_limits_have_defaults_and_are_checked() {
        let base = "webhook_secrets = [\"env:S\"]\n[[repos]]\nname = \"acme/infra\"\n[github]\ntoken = \"env:T\"\n";
        let cfg = parse_server_config("s", base).unwrap();
        assert_eq!(cfg.http, HttpLimits::default());
        let some = format!("{base}[http]\nmax_connections = 64\nbody_timeout = \"20s\"\n");
        let cfg = parse_server_config("s", &some).unwrap();
        assert_eq!(cfg.http.max_connections, 64);
        assert_eq!(cfg.http.body_timeout.0, Duration::from_secs(20));
        assert_eq!(cfg.http.body_budget_mib, 64);
        let unknown = format!("{base}[http]\nmax_conections = 64\n");
        let e = parse_server_config("s", &unknown).expect_err("a misspelt key");
        assert!(e.to_string().contains("s:7:"), "{e}");
        for bad in [
            "max_connections = 0",
            "header_timeout = \"0s\"",
            "body_budget_mib = 24",
        ] {
            let e = parse_server_config("s", &format!("{base}[http]\n{bad}\n")).expect_err(bad);
            assert!(e.to_string().contains("http."), "{bad}: {e}");
        }
    }
}
