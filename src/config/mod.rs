//! The operator's server config `prgate.toml`, and what both configuration files share:
//! errors with line and column, secrets that are only ever references (resolved at the moment
//! of use), durations. The server config's tables are in `server`, reading a file with
//! positions in `check`, the semantic checks of `prgate.toml` in `validate`. The repo owner's
//! policy `.github/prgate.toml` is the policy engine's (`crate::policy::file`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::RepoName;

mod check;
mod server;
mod validate;
pub use check::*;
pub use server::*;
pub use validate::*;

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
