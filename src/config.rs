//! The two configuration files: the operator's server config `prgate.toml` and the repo
//! owner's policy `.github/prgate.toml`. Both are parsed strictly (unknown keys are errors
//! with line and column); secrets are only ever references, resolved at the moment of use.

use std::collections::BTreeMap;
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
    Invalid { file: String, line: usize, column: usize, message: String },
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

/// A resolved secret value. Its `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl SecretRef {
    /// Reads the secret's value now. A file's trailing newline is not part of the secret.
    pub fn resolve(&self) -> Result<Secret, ConfigError> {
        let err = |message: String| ConfigError::Secret { reference: self.to_string(), message };
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                Ok(_) => Err(err(format!("environment variable {name} is empty; set it"))),
                Err(_) => Err(err(format!("environment variable {name} is not set; set it"))),
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    pub webhook_secrets: Vec<SecretRef>,
    #[serde(default)]
    pub public_url: Option<String>,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    #[serde(default)]
    pub token: Option<SecretRef>,
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub private_key: Option<SecretRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernedRepo {
    pub name: RepoName,
    #[serde(default = "default_branches")]
    pub branches: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

// ---------------------------------------------------------------------------------------------
// Repo policy (repo owner), read at the PR's base commit

/// Where the policy lives in a governed repository.
pub const POLICY_PATH: &str = ".github/prgate.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    Auto,
    #[default]
    Manual,
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
                Ok(TeamRef { org: org.to_ascii_lowercase(), slug: slug.to_ascii_lowercase() })
            }
            _ => Err(format!("team {s:?} must be written ORG/TEAM-SLUG, e.g. \"acme/netops\"")),
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    #[serde(default)]
    pub users: Vec<Login>,
    #[serde(default)]
    pub teams: Vec<TeamRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    #[serde(default)]
    pub agents: Vec<Login>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRule {
    pub approvers: Approvers,
    #[serde(default = "one")]
    pub min_approvals: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
