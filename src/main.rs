//! The `prgate` command line: parse, call the library, map errors to the exit codes of
//! DESIGN.md (2 for usage or configuration errors, 1 for any other error).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Exit code for a usage or configuration error.
const EXIT_USAGE: u8 = 2;
/// Exit code for any other error.
const EXIT_OTHER: u8 = 1;
/// An execution ran and failed.
const EXIT_EXEC_FAILED: u8 = 30;
/// Verification refused the execution, or `verify` found the record does not hold.
const EXIT_REFUSED: u8 = 31;
/// `propose`: the named paths already match the base branch.
const EXIT_NOTHING_TO_COMMIT: u8 = 3;
/// `propose`: the repository does not exist on the code host, or the token cannot see it.
const EXIT_UNKNOWN_REPO: u8 = 4;
/// `propose`: the remote refused the push.
const EXIT_PUSH_REJECTED: u8 = 5;
/// `propose`: the token lacks the rights (401/403).
const EXIT_FORBIDDEN: u8 = 6;

#[derive(Parser)]
#[command(
    name = "prgate",
    version,
    about = "Approval-gated execution for non-human identities, built on pull requests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the webhook service that posts `prgate/approval` and merges approved PRs.
    Serve {
        #[arg(long, default_value = "prgate.toml")]
        config: PathBuf,
    },
    /// Work with a repository policy file.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with the server config.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Commit PATHs onto a proposal branch, push it and open (or update) the PR.
    Propose {
        /// The working tree to propose from.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long)]
        title: String,
        /// A file whose text is the change's summary in the PR body.
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// Why the change is needed.
        #[arg(long)]
        reason: Option<String>,
        /// What could go wrong.
        #[arg(long)]
        risk: Option<String>,
        /// How to undo it.
        #[arg(long)]
        rollback: Option<String>,
        /// Branch name (default: prgate/<agent>/<slug of the title>).
        #[arg(long)]
        branch: Option<String>,
        /// Base branch (default: the repository's default branch).
        #[arg(long)]
        base: Option<String>,
        #[arg(long = "label")]
        labels: Vec<String>,
        /// OWNER/REPO on the code host (default: read from the `origin` URL).
        #[arg(long)]
        remote_repo: Option<String>,
        #[command(flatten)]
        host: HostArgs,
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Where a proposal stands: exit 0 approved, 10 pending, 20 denied, 21 expired, 30/31 execution failed/refused.
    Status {
        pull: String,
        #[command(flatten)]
        host: HostArgs,
        #[arg(long)]
        json: bool,
    },
    /// Wait for a human decision on a proposal (a timeout is exit 10: time never approves).
    Wait {
        pull: String,
        /// e.g. 30m, 8h; default: wait until a decision.
        #[arg(long)]
        timeout: Option<String>,
        #[arg(long, value_enum, default_value = "approved")]
        until: prgate::watch::Until,
        /// First polling interval; it backs off to one minute.
        #[arg(long, default_value = "2s", hide = true)]
        poll: String,
        #[command(flatten)]
        host: HostArgs,
        #[arg(long)]
        json: bool,
    },
    /// Execute a merge commit on an operator's explicit command (after the same verification),
    /// or with --cancel stop a running or future execution by putting the hold label on its PR.
    Execute {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        commit: String,
        #[arg(long)]
        cancel: bool,
        #[arg(long, default_value = "prgate.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check from git alone that a merge commit carries a valid approval record (exit 0, else 31).
    Verify {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long)]
        commit: String,
        /// A trusted public key of the gate (hex, or file:PATH); repeat for several. When
        /// given, the note must be signed by one of them.
        #[arg(long = "public-key", value_name = "HEX|file:PATH")]
        public_keys: Vec<String>,
        #[arg(long)]
        json: bool,
        /// `vsa`: print a SLSA source verification summary (an in-toto statement) instead;
        /// needs --public-key.
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<VerifyFormat>,
    },
    /// Walk a branch's history and report every change to governed paths without a valid
    /// approval record (exit 0 when clean, 40 when any violation).
    Audit {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long, default_value = "main")]
        branch: String,
        /// Only what reached the branch since this date (2026-01-31 or an RFC 3339 time): the
        /// walk stops at the first commit whose note says the gate decided about it before
        /// then (signed by a --public-key when given); commit dates never stop it.
        #[arg(long)]
        since: Option<String>,
        /// Only commits after this one on the first-parent history (as `git log SHA..BRANCH`).
        #[arg(long, value_name = "SHA", conflicts_with = "since")]
        since_commit: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: AuditFormat,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// A trusted public key of the gate (hex, or file:PATH); repeat for several. When
        /// given, every note must be signed by one of them.
        #[arg(long = "public-key", value_name = "HEX|file:PATH")]
        public_keys: Vec<String>,
    },
    /// Create or inspect the ed25519 key the executor signs its notes with.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The whole loop in one command, against the built-in GitHub simulator on loopback.
    Demo {
        /// Keep the repositories and the production folder in this (new or empty) directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Run the GitHub simulator (for the demo, tests and trying prgate out).
    Sim {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
        /// Delay every API answer by this much (e.g. `100ms`), as a real code host would.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
        latency: std::time::Duration,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VerifyFormat {
    Vsa,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AuditFormat {
    Text,
    Json,
    Html,
}

/// Where the code host is and who the gate posts as.
#[derive(clap::Args)]
struct HostArgs {
    #[arg(long, env = "PRGATE_API_URL", default_value = "https://api.github.com")]
    api_url: String,
    /// The account prgate posts statuses as; statuses by anyone else are ignored.
    #[arg(long, env = "PRGATE_GATE_LOGIN")]
    gate_login: Option<String>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write a new key's seed (hex, mode 0600) to FILE and print its public key.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Print the public key of an existing seed file.
    Public {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; prints each problem with line and column.
    Check {
        #[arg(default_value = ".github/prgate.toml")]
        file: PathBuf,
        /// The server config: also check that every executor program is governed by the
        /// rules that run it, and that every executor a rule names is defined.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print one JSON object: {file, ok, errors, warnings}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the server config as `serve` would, and against the code host, without starting
    /// anything: every secret resolves, the credential works, each governed repository is
    /// readable with a valid policy. Exit 0 when it can be served, 2 when not.
    Check {
        #[arg(long, default_value = "prgate.toml")]
        config: PathBuf,
        /// Print one JSON object: {config, ok, problems: [{error, subject, message}]}.
        #[arg(long)]
        json: bool,
    },
}

/// Logs go to stderr, as text or, with `PRGATE_LOG_FORMAT=json`, one JSON object per line
/// carrying the fields of the event and of the spans it happened in (the delivery's id and
/// event, the PR and head of an evaluation), for log pipelines.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let format = std::env::var("PRGATE_LOG_FORMAT").unwrap_or_default();
    match format.trim() {
        "json" => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        other => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            if !other.is_empty() && other != "text" {
                tracing::warn!(
                    value = other,
                    "PRGATE_LOG_FORMAT is neither \"text\" nor \"json\"; logging text"
                );
            }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("prgate: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_OTHER)
        })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    // Before any thread does git work.
    prgate::executor::blocking::set_git_network_timeouts();
    match cli.command {
        Command::Serve { config } => {
            init_tracing();
            let config_path = config;
            let config = match prgate::config::load_server_config(&config_path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("prgate: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(prgate::serve::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ prgate::serve::ServeError::Config(_)) => {
                    eprintln!("prgate: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
                // Each finding names a key or a repository; the file they are in is this one.
                Err(e @ prgate::serve::ServeError::Preflight(_)) => {
                    eprintln!("prgate: {}: {e}", config_path.display());
                    ExitCode::from(EXIT_USAGE)
                }
                Err(e) => {
                    eprintln!("prgate: {e}");
                    ExitCode::from(EXIT_OTHER)
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Check { file, config, json },
        } => cli::policy_check::run(&file, config.as_deref(), json),
        Command::Config {
            command: ConfigCommand::Check { config, json },
        } => cli::config_check::run(&config, json),
        Command::Propose {
            repo,
            title,
            body_file,
            reason,
            risk,
            rollback,
            branch,
            base,
            labels,
            remote_repo,
            host,
            json,
            paths,
        } => {
            init_tracing();
            let summary = match body_file.map(std::fs::read_to_string).transpose() {
                Ok(s) => s,
                Err(e) => return usage(format!("cannot read --body-file: {e}")),
            };
            let remote_repo = match remote_repo
                .map(|r| r.parse::<prgate::types::RepoName>())
                .transpose()
            {
                Ok(r) => r,
                Err(e) => return usage(format!("--remote-repo: {e}")),
            };
            let req = prgate::propose::ProposeRequest {
                repo_path: repo,
                title,
                summary,
                reason,
                risk,
                rollback,
                branch,
                base,
                labels,
                remote_repo,
                paths,
            };
            with_client(&host, |gh, token| async move {
                let renderer = prgate::render::Renderer::default();
                match prgate::propose::propose(&gh, &token, &renderer, &req).await {
                    Ok(p) => {
                        if json {
                            println!("{}", serde_json::to_string(&p).unwrap_or_default());
                        } else {
                            println!(
                                "{} {}#{} ({}) at {}",
                                if p.updated { "updated" } else { "opened" },
                                p.repo,
                                p.pull,
                                p.url,
                                &p.head[..12.min(p.head.len())]
                            );
                            for r in &p.required {
                                println!(
                                    "  needs {} approval(s) from {} for rule {} ({})",
                                    r.min_approvals,
                                    r.approvers,
                                    r.rule,
                                    r.files.join(", ")
                                );
                            }
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        use prgate::propose::ProposeError as E;
                        let code = match &e {
                            E::Usage(_) => EXIT_USAGE,
                            E::NothingToCommit { .. } => EXIT_NOTHING_TO_COMMIT,
                            E::UnknownRepo { .. } => EXIT_UNKNOWN_REPO,
                            E::Git(prgate::git::GitError::PushRejected { .. }) => {
                                EXIT_PUSH_REJECTED
                            }
                            E::Forbidden(_) => EXIT_FORBIDDEN,
                            E::Git(
                                prgate::git::GitError::NoSuchPath { .. }
                                | prgate::git::GitError::OutsideRepository { .. }
                                | prgate::git::GitError::ThroughLink { .. }
                                | prgate::git::GitError::LinkOutside { .. }
                                | prgate::git::GitError::NotAFile { .. }
                                | prgate::git::GitError::NotARepository { .. }
                                | prgate::git::GitError::NoOrigin
                                | prgate::git::GitError::UnknownOrigin { .. },
                            ) => EXIT_USAGE,
                            _ => EXIT_OTHER,
                        };
                        report_error(json, &e.to_string(), code)
                    }
                }
            })
        }
        Command::Status { pull, host, json } => {
            init_tracing();
            let pull_ref = match pull.parse::<prgate::types::PullRef>() {
                Ok(p) => p,
                Err(e) => return usage(e.to_string()),
            };
            let gate_login = host.gate_login.clone();
            with_client(&host, |gh, _| async move {
                match prgate::watch::read_status(&gh, &pull_ref, gate_login.as_deref()).await {
                    Ok(s) => print_status(&s, json),
                    Err(e) => report_error(json, &e.to_string(), EXIT_OTHER),
                }
            })
        }
        Command::Wait {
            pull,
            timeout,
            until,
            poll,
            host,
            json,
        } => {
            init_tracing();
            let pull_ref = match pull.parse::<prgate::types::PullRef>() {
                Ok(p) => p,
                Err(e) => return usage(e.to_string()),
            };
            let timeout = match timeout.map(|t| humantime::parse_duration(&t)).transpose() {
                Ok(t) => t,
                Err(e) => return usage(format!("--timeout: {e} (write e.g. 30m or 8h)")),
            };
            let first_interval = match humantime::parse_duration(&poll) {
                Ok(p) => p,
                Err(e) => return usage(format!("--poll: {e}")),
            };
            let opts = prgate::watch::WaitOptions {
                until,
                timeout,
                first_interval,
                ..Default::default()
            };
            let gate_login = host.gate_login.clone();
            with_client(&host, |gh, _| async move {
                match prgate::watch::wait(&gh, &pull_ref, gate_login.as_deref(), &opts).await {
                    Ok(s) => print_status(&s, json),
                    Err(e) => report_error(json, &e.to_string(), EXIT_OTHER),
                }
            })
        }
        Command::Execute {
            repo,
            commit,
            cancel,
            config,
            json,
        } => {
            init_tracing();
            let repo = match repo.parse::<prgate::types::RepoName>() {
                Ok(r) => r,
                Err(e) => return usage(format!("--repo: {e}")),
            };
            let commit = match commit.parse::<prgate::types::CommitSha>() {
                Ok(c) => c,
                Err(e) => return usage(format!("--commit: {e} (give the full 40-digit SHA)")),
            };
            let config = match prgate::config::load_server_config(&config) {
                Ok(c) => c,
                Err(e) => return usage(e.to_string()),
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            rt.block_on(cli::execute::run(config, repo, commit, cancel, json))
        }
        Command::Verify {
            repo,
            commit,
            public_keys,
            json,
            format,
        } => {
            let trusted = match parse_public_keys(&public_keys) {
                Ok(k) => k,
                Err(e) => return report_error(json, &e, EXIT_USAGE),
            };
            if let Some(VerifyFormat::Vsa) = format {
                return cli::vsa::run(&repo, &commit, &trusted);
            }
            match prgate::verify::verify_commit_with_keys(&repo, &commit, &trusted) {
                Ok(report) => {
                    if json {
                        println!("{}", serde_json::to_string(&report).unwrap_or_default());
                    } else if report.holds {
                        println!(
                            "{}: the approval record holds ({}); {}",
                            report.commit,
                            report.approvals.join(", "),
                            report.signature.describe()
                        );
                    } else {
                        println!(
                            "{}: the approval record does not hold; {}",
                            report.commit,
                            report.signature.describe()
                        );
                        for p in &report.problems {
                            println!("  - {p}");
                        }
                    }
                    ExitCode::from(if report.holds { 0 } else { EXIT_REFUSED })
                }
                Err(e) => report_error(json, &e.to_string(), EXIT_USAGE),
            }
        }
        Command::Audit {
            repo,
            branch,
            since,
            since_commit,
            format,
            output,
            public_keys,
        } => {
            let trusted = match parse_public_keys(&public_keys) {
                Ok(k) => k,
                Err(e) => return usage(e),
            };
            cli::audit::run(repo, branch, (since, since_commit), format, output, trusted)
        }
        Command::Key { command } => cli::key::run(command),
        Command::Demo { keep } => {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            let mut stdout = std::io::stdout();
            match rt.block_on(prgate::demo::run_demo(
                prgate::demo::DemoOptions { keep },
                &mut stdout,
            )) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("prgate demo: {e}");
                    ExitCode::from(EXIT_OTHER)
                }
            }
        }
        Command::Sim {
            listen,
            state,
            data,
            latency,
        } => {
            init_tracing();
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(prgate_sim::run_cli(listen, &state, data, latency)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("prgate sim: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
    }
}

/// The `--public-key` arguments, each hex or `file:PATH`.
fn parse_public_keys(args: &[String]) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    args.iter()
        .map(|a| prgate::record::signing::parse_public_key_arg(a).map_err(|e| e.to_string()))
        .collect()
}

fn usage(message: String) -> ExitCode {
    eprintln!("prgate: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Prints an error: as one JSON object with `--json` (for scripts), else as a line on stderr.
fn report_error(json: bool, message: &str, code: u8) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({ "error": message, "exit_code": code })
        );
    }
    eprintln!("prgate: {message}");
    ExitCode::from(code)
}

fn print_status(s: &prgate::watch::ProposalStatus, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
    } else {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!("{}#{}: {state}", s.repo, s.pull);
        if let Some(a) = &s.approval {
            println!("  prgate/approval: {} — {}", a.state, a.description);
        }
        if let Some(r) = &s.reason {
            println!("  reason: {r}");
        }
        if let Some(m) = &s.merge_sha {
            println!("  merged as {m}");
        }
    }
    ExitCode::from(s.exit_code)
}

/// Builds the code host client from `--api-url` and the token in the environment, and runs
/// `f` on a runtime.
fn with_client<F, Fut>(host: &HostArgs, f: F) -> ExitCode
where
    F: FnOnce(prgate::github::GitHub, prgate::config::Secret) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let token = match std::env::var("PRGATE_GITHUB_TOKEN").or_else(|_| std::env::var("GITHUB_TOKEN")) {
        Ok(t) if !t.is_empty() => prgate::config::Secret::new(t),
        _ => return usage("no token: set PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN) to a token of the account to act as".into()),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        // octocrab's client wants a runtime around it when built.
        match prgate::github::GitHub::new(
            &host.api_url,
            Some(&token),
            Default::default(),
            prgate::metrics::Metrics::new(),
        ) {
            Ok(gh) => f(gh, token).await,
            Err(e) => usage(e.to_string()),
        }
    })
}
