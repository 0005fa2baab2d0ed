//! The semantic checks of the server config, and reading it from a file (relative paths
//! anchored at the file's folder).

use super::*;

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
    service_problems(cfg, &mut errors);
    github_problems(cfg, &mut errors);
    repos_problems(cfg, &mut errors);
    for (name, ex) in &cfg.executors {
        executor_problems(cfg, name, ex, &mut errors, &mut warnings);
    }
    (errors, warnings)
}

/// The service's own keys: secrets, data, listeners, the reconciler, limits and runtime.
fn service_problems(cfg: &ServerConfig, errors: &mut Vec<Problem>) {
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

    validate_http_limits(&cfg.http, errors);
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
}

/// `[github]`: where the code host is and how prgate signs in.
fn github_problems(cfg: &ServerConfig, errors: &mut Vec<Problem>) {
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
}

/// `[[repos]]`: what is governed.
fn repos_problems(cfg: &ServerConfig, errors: &mut Vec<Problem>) {
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
}

/// One `[executors.<name>]`.
fn executor_problems(
    cfg: &ServerConfig,
    name: &str,
    ex: &ExecutorConfig,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
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
            format!("executor {name}: the program (first element of command) must not be empty"),
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
    executor_plan_problems(name, ex, errors, warnings);
    for (j, pattern) in ex.program_paths.iter().flatten().enumerate() {
        if let Err(why) = valid_path_pattern(pattern) {
            errors.push(Problem::new(
                toml_path!["executors", name, "program_paths", j],
                format!("executor {name}: program path {pattern:?} {why}"),
            ));
        }
    }
    executor_sandbox_problems(cfg, name, ex, errors, warnings);
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

/// An executor's `plan` and `plan_env`: the plan runs before anyone approved.
fn executor_plan_problems(
    name: &str,
    ex: &ExecutorConfig,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
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
                format!(
                    "executor {name}: {key:?} in plan_env is not a valid environment variable name"
                ),
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
}

/// An executor's `sandbox`.
fn executor_sandbox_problems(
    cfg: &ServerConfig,
    name: &str,
    ex: &ExecutorConfig,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
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
