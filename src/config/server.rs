//! The server config's tables: where prgate listens, how it reaches the code host, the
//! governed repositories, the executors, and the runtime's and the listener's limits.

use super::*;

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
    /// base branch (see docs/plans.md). Its output's digest is bound into the approval.
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
