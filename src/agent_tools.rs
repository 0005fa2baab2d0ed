//! What an agent may do through prgate, as tools: propose a change, read where it stands, wait
//! (bounded) for a decision, and have the decision explained. Nothing here approves, merges or
//! executes. Each tool takes and returns the command line's JSON shapes (`crate::contract`);
//! `crate::mcp` puts them on MCP.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Secret;
use crate::contract::{
    EXIT_USAGE, ErrorKind, ErrorOutput, ProposeInput, PullInput, UntilInput, WaitInput,
};
use crate::github::GitHub;
use crate::proposal_status::{self, ProposalState, ProposalStatus, Until, WaitOptions, WatchError};
use crate::propose::{Proposal, ProposeError, ProposeRequest};
use crate::types::PullRef;

/// The longest one `wait_for_decision` call waits: a tool call must end, and an agent calls
/// again to go on waiting.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// What the tools act with: the code host client and the agent's own token.
pub struct AgentTools {
    pub gh: GitHub,
    pub token: Secret,
    /// The account the gate posts as; statuses by anyone else are ignored.
    pub gate_login: Option<String>,
    /// For messages that say where the code host was looked for.
    pub api_url: String,
}

fn usage(message: impl Into<String>, hint: &str) -> ErrorOutput {
    ErrorOutput::new(ErrorKind::Usage, message, EXIT_USAGE).with_hint(hint)
}

fn parse_pull(pull: &str) -> Result<PullRef, ErrorOutput> {
    pull.parse().map_err(|e: crate::types::InvalidId| {
        usage(
            e.to_string(),
            "write OWNER/REPO#N, or the PR's URL as propose_change returned it",
        )
    })
}

impl AgentTools {
    fn watch_error(&self, e: &WatchError) -> ErrorOutput {
        match e {
            WatchError::NotFound { .. } => ErrorOutput::new(ErrorKind::NotFound, e.to_string(), 1)
                .with_hint("check OWNER/REPO#N, and that the token can see the repository"),
            WatchError::GitHub(g) => ErrorOutput::from_code_host(g, &self.api_url, 1),
        }
    }

    /// `propose_change`: as `prgate propose --json`.
    pub async fn propose_change(&self, input: ProposeInput) -> Result<Proposal, ErrorOutput> {
        let remote_repo = input.remote_repo.map(|r| r.parse()).transpose().map_err(
            |e: crate::types::InvalidId| usage(format!("remote_repo: {e}"), "write OWNER/REPO"),
        )?;
        if input.paths.is_empty() {
            return Err(usage(
                "no paths",
                "name the files whose changes are proposed",
            ));
        }
        let req = ProposeRequest {
            repo_path: PathBuf::from(input.repo.unwrap_or_else(|| ".".into())),
            title: input.title,
            summary: input.summary,
            reason: input.reason,
            risk: input.risk,
            rollback: input.rollback,
            branch: input.branch,
            base: input.base,
            labels: input.labels,
            remote_repo,
            paths: input.paths.into_iter().map(PathBuf::from).collect(),
        };
        let renderer = crate::render::Renderer::default();
        crate::propose::propose(&self.gh, &self.token, &renderer, &req)
            .await
            .map_err(|e| self.propose_error(&e))
    }

    /// The exit codes are those of `prgate propose` (DESIGN.md).
    fn propose_error(&self, e: &ProposeError) -> ErrorOutput {
        use crate::git::GitError as G;
        let (kind, code) = match e {
            ProposeError::GitHub(g) => return ErrorOutput::from_code_host(g, &self.api_url, 1),
            ProposeError::Usage(_) => (ErrorKind::Usage, EXIT_USAGE),
            ProposeError::NothingToCommit { .. } => (ErrorKind::NothingToCommit, 3),
            ProposeError::UnknownRepo { .. } => (ErrorKind::NotFound, 4),
            ProposeError::Git(G::PushRejected { .. }) => (ErrorKind::PushRejected, 5),
            ProposeError::Forbidden(_) => (ErrorKind::Auth, 6),
            ProposeError::Git(
                G::NoSuchPath { .. }
                | G::OutsideRepository { .. }
                | G::ThroughLink { .. }
                | G::LinkOutside { .. }
                | G::NotAFile { .. }
                | G::NotARepository { .. }
                | G::NoOrigin
                | G::UnknownOrigin { .. },
            ) => (ErrorKind::Usage, EXIT_USAGE),
            ProposeError::Git(_) => (ErrorKind::Git, 1),
            ProposeError::Render(_) => (ErrorKind::Internal, 1),
        };
        ErrorOutput::new(kind, e.to_string(), code)
    }

    /// `get_status` and `explain_decision`: as `prgate status --json`, whose `decision`,
    /// `rules` and each approval's `counts`/`why_not` are the explanation.
    pub async fn get_status(&self, input: PullInput) -> Result<ProposalStatus, ErrorOutput> {
        let pull = parse_pull(&input.pull)?;
        proposal_status::read_status(&self.gh, &pull, self.gate_login.as_deref())
            .await
            .map_err(|e| self.watch_error(&e))
    }

    /// `wait_for_decision`: as `prgate wait --json`, bounded by [`MAX_WAIT`]; `progress` is
    /// told each state read and the seconds waited.
    pub async fn wait_for_decision<F, Fut>(
        &self,
        input: WaitInput,
        progress: F,
    ) -> Result<ProposalStatus, ErrorOutput>
    where
        F: FnMut(ProposalState, Duration) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let pull = parse_pull(&input.pull)?;
        let timeout = match input.timeout.as_deref() {
            None => MAX_WAIT,
            Some(t) => humantime::parse_duration(t)
                .map_err(|e| usage(format!("timeout: {e}"), "write e.g. 30s or 10m"))?,
        };
        if timeout > MAX_WAIT {
            return Err(usage(
                format!(
                    "timeout {} is longer than a tool call may wait ({}s)",
                    input.timeout.unwrap_or_default(),
                    MAX_WAIT.as_secs()
                ),
                "wait at most 10m, then call again",
            ));
        }
        let opts = WaitOptions {
            until: match input.until {
                UntilInput::Approved => Until::Approved,
                UntilInput::Merged => Until::Merged,
                UntilInput::Executed => Until::Executed,
            },
            timeout: Some(timeout),
            ..Default::default()
        };
        proposal_status::wait_observed(&self.gh, &pull, self.gate_login.as_deref(), &opts, progress)
            .await
            .map_err(|e| self.watch_error(&e))
    }
}
