//! The `prgate` command line: parse, call the library, map errors to the exit codes of
//! DESIGN.md (2 for usage or configuration errors, 1 for any other error).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

// The helpers every command uses, under the names the command files import them by.
use cli::output::{parse_public_keys, report_error, usage};

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
    Propose(ProposeArgs),
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

// The arguments of `propose` (its help is the doc comment on `Command::Propose`).
#[derive(clap::Args)]
struct ProposeArgs {
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
                Err(e) => return usage(e),
            };
            cli::audit::run(repo, branch, (since, since_commit), format, output, trusted)
        }
        Command::Key { command } => cli::key::run(command),
        Command::Demo { keep } => cli::demo::run(keep),
        Command::Sim {
            listen,
            state,
            data,
            latency,
        } => cli::sim::run(listen, state, data, latency),
    }
}
