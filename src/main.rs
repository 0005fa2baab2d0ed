//! The `prgate` command line: parse, call the library, map errors to the exit codes of
//! DESIGN.md (2 for usage or configuration errors, 1 for any other error).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

// The helpers every command uses, under the names the command files import them by.
use cli::output::{parse_public_keys, report_error};

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

/// What `prgate --help` ends with: where credentials come from and what the exit codes mean.
const TOP_AFTER_HELP: &str = "\
Environment:
  PRGATE_GITHUB_TOKEN   the token propose, status, wait and mcp act with (GITHUB_TOKEN if unset)
  PRGATE_API_URL        the code host's API (default https://api.github.com; GHES: https://HOST/api/v3)
  PRGATE_LOG            log filter, e.g. info, debug (logs go to stderr)
  PRGATE_LOG_FORMAT     text (default) or json

Exit codes:
  0 approved / done      10 still pending (a timeout too)   20 denied   21 expired
  30 execution failed    31 execution refused, or verify: the record does not hold
  40 audit found a violation   3 nothing to commit   4 unknown repository   5 push refused
  6 the token lacks the rights   2 usage or configuration error   1 any other error

With --json (audit: --format json) every command prints exactly one JSON object on stdout,
errors included: {\"error\": {\"kind\", \"message\", \"hint\"}, \"exit_code\"}. Schemas: schemas/.

Example:
  prgate propose --title 'Open port 443' --reason 'ticket NET-1' firewall/rules.toml";

#[derive(Parser)]
#[command(
    name = "prgate",
    version,
    about = "Approval-gated execution for non-human identities, built on pull requests",
    after_help = TOP_AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the webhook service that posts `prgate/approval` and merges approved PRs.
    #[command(after_help = "Example:\n  prgate serve --config /etc/prgate/prgate.toml")]
    Serve {
        /// The server config (DESIGN.md: Configuration).
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
    #[command(after_help = "\
Exit codes: 0 opened or updated, 3 nothing to commit, 4 unknown repository, 5 push refused,
6 the token lacks the rights, 2 usage error, 1 any other error.
The token comes from PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN).

Example:
  prgate propose --title 'Open port 443' --reason 'ticket NET-1' --json firewall/rules.toml")]
    Propose(ProposeArgs),
    /// Where a proposal stands: exit 0 approved, 10 pending, 20 denied, 21 expired, 30/31 execution failed/refused.
    #[command(after_help = "\
Exit codes: 0 approved (or merged/executed), 10 pending, 20 denied, 21 expired,
30 execution failed, 31 execution refused, 2 usage error, 1 any other error.
The token comes from PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN).

Example:
  prgate status acme/infra#42 --json")]
    Status {
        /// The proposal: OWNER/REPO#N, or its PR URL (github.com, GHES or the simulator).
        #[arg(value_name = "OWNER/REPO#N|PR-URL")]
        pull: String,
        #[command(flatten)]
        host: HostArgs,
        /// Print one JSON object (schemas/status.json), errors included.
        #[arg(long)]
        json: bool,
    },
    /// Wait for a human decision on a proposal (a timeout is exit 10: time never approves).
    #[command(after_help = "\
Exit codes: 0 reached --until (a merge that runs no executor ends --until executed),
10 still pending at the timeout (timed_out: true), 20 denied, 21 expired, 30 execution failed,
31 execution refused, 2 usage error, 1 any other error.
The token comes from PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN).

Example:
  prgate wait acme/infra#42 --until merged --timeout 8h --json")]
    Wait {
        /// The proposal: OWNER/REPO#N, or its PR URL (github.com, GHES or the simulator).
        #[arg(value_name = "OWNER/REPO#N|PR-URL")]
        pull: String,
        /// The longest to wait, e.g. 30m, 8h; default: until a decision.
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// What to wait for: the approval, the merge, or the execution after it.
        #[arg(long, value_enum, default_value = "approved")]
        until: prgate::proposal_status::Until,
        /// First polling interval; it backs off to one minute.
        #[arg(long, default_value = "2s", hide = true)]
        poll: String,
        #[command(flatten)]
        host: HostArgs,
        /// Print one JSON object (schemas/status.json), errors included.
        #[arg(long)]
        json: bool,
    },
    /// Execute a merge commit on an operator's explicit command (after the same verification),
    /// or with --cancel stop a running or future execution by putting the hold label on its PR.
    #[command(after_help = "\
Exit codes: 0 succeeded (or recorded), 10 held, 30 failed, 31 refused, 2 usage or
configuration error, 1 any other error.

Example:
  prgate execute --repo acme/infra --commit 4f2a9c1 --config /etc/prgate/prgate.toml")]
    Execute {
        /// The repository on the code host.
        #[arg(long, value_name = "OWNER/REPO")]
        repo: String,
        /// The merge commit: its SHA, or an unambiguous prefix (7 or more hex digits).
        #[arg(long, value_name = "SHA")]
        commit: String,
        /// Do not run it: put the hold label on its PR, which cancels a running execution and
        /// holds a future one.
        #[arg(long)]
        cancel: bool,
        /// The server config, whose executors and credentials are used.
        #[arg(long, default_value = "prgate.toml")]
        config: PathBuf,
        /// Print one JSON object (schemas/execute.json), errors included.
        #[arg(long)]
        json: bool,
    },
    /// Check from git alone that a merge commit carries a valid approval record (exit 0, else 31).
    #[command(after_help = "\
Exit codes: 0 the record holds, 31 it does not, 2 usage error.

Example:
  prgate verify --repo . --commit 4f2a9c1 --public-key file:gate.pub --json")]
    Verify {
        /// The git repository (with refs/notes/prgate fetched).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The merge commit: a SHA, a prefix of one, or any revision git understands.
        #[arg(long, value_name = "SHA")]
        commit: String,
        /// A trusted public key of the gate (hex, or file:PATH); repeat for several. When
        /// given, the note must be signed by one of them.
        #[arg(long = "public-key", value_name = "HEX|file:PATH")]
        public_keys: Vec<String>,
        /// Print one JSON object (schemas/verify.json), errors included.
        #[arg(long)]
        json: bool,
        /// `vsa`: print a SLSA source verification summary (an in-toto statement) instead;
        /// needs --public-key.
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<VerifyFormat>,
    },
    /// Walk a branch's history and report every change to governed paths without a valid
    /// approval record (exit 0 when clean, 40 when any violation).
    #[command(after_help = "\
Exit codes: 0 no violation, 40 at least one, 2 usage error, 1 any other error.
With --format json, errors are one JSON object too (schemas/audit.json).

Example:
  prgate audit --repo . --branch main --since 2026-01-01 --format html --output audit.html")]
    Audit {
        /// The git repository (with refs/notes/prgate fetched).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The branch whose first-parent history is walked.
        #[arg(long, default_value = "main")]
        branch: String,
        /// Only what reached the branch since this date (2026-01-31 or an RFC 3339 time): the
        /// walk stops at the first commit whose note says the gate decided about it before
        /// then (signed by a --public-key when given); commit dates never stop it.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Only commits after this one on the first-parent history (as `git log SHA..BRANCH`).
        #[arg(long, value_name = "SHA", conflicts_with = "since")]
        since_commit: Option<String>,
        /// The report's format.
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
    /// An MCP server on stdio for AI agents: propose_change, get_status, wait_for_decision and
    /// explain_decision; nothing that approves, merges or executes.
    #[command(after_help = "\
The token comes from PRGATE_GITHUB_TOKEN (or GITHUB_TOKEN); tool inputs and outputs are the
command line's JSON shapes (schemas/). Logs go to stderr; stdout is the MCP session's.

Example (an agent runtime's MCP config):
  {\"command\": \"prgate\", \"args\": [\"mcp\"], \"env\": {\"PRGATE_GITHUB_TOKEN\": \"...\"}}")]
    Mcp {
        #[command(flatten)]
        host: HostArgs,
    },
    /// The whole loop in one command, against the built-in GitHub simulator on loopback.
    #[command(
        after_help = "Examples:\n  prgate demo --keep /tmp/prgate-demo\n  prgate demo --ghes     (against the simulator in GitHub Enterprise Server's shape)"
    )]
    Demo {
        /// Keep the repositories and the production folder in this (new or empty) directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Run against the simulator in GitHub Enterprise Server's shape (REST under /api/v3,
        /// GraphQL at /api/graphql); the demo fails if any call leaves those bases.
        #[arg(long)]
        ghes: bool,
    },
    /// Run the GitHub simulator (for the demo, tests and trying prgate out).
    #[command(
        after_help = "Example:\n  prgate sim --listen 127.0.0.1:8787 --state sim.toml --data .sim"
    )]
    Sim {
        /// The address to serve the simulated API (and git over HTTP) on.
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// The simulator's seed: users, teams, repositories (TOML; see docs/simulator.md).
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// Where the simulator keeps its repositories (default: FILE.data beside --state).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Delay every API answer by this much (e.g. `100ms`), as a real code host would.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
        latency: std::time::Duration,
        /// Take GitHub Enterprise Server's shape: REST under /api/v3, GraphQL at /api/graphql,
        /// git at the host's root; any other path answers 404 (counted in /_sim/stats).
        #[arg(long)]
        ghes: bool,
    },
}

// The arguments of `propose` (its help is the doc comment on `Command::Propose`).
#[derive(clap::Args)]
struct ProposeArgs {
    /// The working tree to propose from.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The PR's title (it also names the branch).
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
    /// A label to put on the PR; repeat for several.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    /// OWNER/REPO on the code host (default: read from the `origin` URL).
    #[arg(long)]
    remote_repo: Option<String>,
    #[command(flatten)]
    host: HostArgs,
    /// Print one JSON object (schemas/propose.json), errors included.
    #[arg(long)]
    json: bool,
    /// The files whose changes are proposed (relative to --repo).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
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
    /// The code host's API: https://api.github.com, https://HOST/api/v3 for GHES, or the
    /// simulator's URL.
    #[arg(long, env = "PRGATE_API_URL", default_value = "https://api.github.com")]
    api_url: String,
    /// The account prgate posts statuses as; statuses by anyone else are ignored.
    #[arg(long, env = "PRGATE_GATE_LOGIN")]
    gate_login: Option<String>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write a new key's seed (hex, mode 0600) to FILE and print its public key.
    #[command(after_help = "Example:\n  prgate key generate --out /etc/prgate/notes.key --json")]
    Generate {
        /// Where to write the seed (a new file).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Print one JSON object (schemas/key.json), errors included.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key of an existing seed file.
    #[command(after_help = "Example:\n  prgate key public --key /etc/prgate/notes.key")]
    Public {
        /// The seed file `key generate` wrote.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Print one JSON object (schemas/key.json), errors included.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; prints each problem with line and column.
    #[command(after_help = "\
Exit codes: 0 the policy holds, 2 it does not (or a usage error).

Example:
  prgate policy check .github/prgate.toml --config prgate.toml --json")]
    Check {
        /// The policy file.
        #[arg(default_value = ".github/prgate.toml")]
        file: PathBuf,
        /// The server config: also check that every executor program is governed by the
        /// rules that run it, and that every executor a rule names is defined.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print one JSON object: {file, ok, errors, warnings} (schemas/policy-check.json).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the server config as `serve` would, and against the code host, without starting
    /// anything: every secret resolves, the credential works, each governed repository is
    /// readable with a valid policy. Exit 0 when it can be served, 2 when not.
    #[command(
        after_help = "Example:\n  prgate config check --config /etc/prgate/prgate.toml --json"
    )]
    Check {
        /// The server config.
        #[arg(long, default_value = "prgate.toml")]
        config: PathBuf,
        /// Print one JSON object: {config, ok, problems: [{error, subject, message}]}
        /// (schemas/config-check.json).
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // Before anything reads a secret: no process of this user reads ours through /proc.
    if let Err(e) = prgate::executor::sandbox::forbid_dumps() {
        eprintln!("prgate: warning: cannot mark the process as not dumpable: {e}");
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let is_help = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            // A script that asked for JSON gets the error object even for a usage error.
            if !is_help && cli::output::wants_json(&args) {
                let message = e.render().to_string();
                let first = message
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
                    .to_string();
                cli::output::print_json(
                    &prgate::contract::ErrorOutput::new(
                        prgate::contract::ErrorKind::Usage,
                        first,
                        EXIT_USAGE,
                    )
                    .with_hint("run prgate COMMAND --help for its arguments and an example"),
                );
            }
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
        Command::Serve { config } => cli::serve::run(config),
        Command::Policy {
            command: PolicyCommand::Check { file, config, json },
        } => cli::policy_check::run(&file, config.as_deref(), json),
        Command::Config {
            command: ConfigCommand::Check { config, json },
        } => cli::config_check::run(&config, json),
        Command::Propose(args) => cli::propose::run(args),
        Command::Status { pull, host, json } => cli::status::run(pull, host, json),
        Command::Wait {
            pull,
            timeout,
            until,
            poll,
            host,
            json,
        } => cli::wait::run(pull, timeout, until, poll, host, json),
        Command::Execute {
            repo,
            commit,
            cancel,
            config,
            json,
        } => cli::execute::command(&repo, &commit, cancel, &config, json),
        Command::Verify {
            repo,
            commit,
            public_keys,
            json,
            format,
        } => match format {
            Some(VerifyFormat::Vsa) => cli::vsa::run(&repo, &commit, &public_keys),
            None => cli::verify::run(&repo, &commit, &public_keys, json),
        },
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
                Err(e) => {
                    return report_error(matches!(format, AuditFormat::Json), &e, EXIT_USAGE);
                }
            };
            cli::audit::run(repo, branch, (since, since_commit), format, output, trusted)
        }
        Command::Key { command } => cli::key::run(command),
        Command::Mcp { host } => cli::mcp::run(host),
        Command::Demo { keep, ghes } => cli::demo::run(keep, ghes),
        Command::Sim {
            listen,
            state,
            data,
            latency,
            ghes,
        } => cli::sim::run(listen, state, data, latency, ghes),
    }
}
