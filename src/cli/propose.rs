//! `prgate propose`: commit paths onto a proposal branch, push it and open (or update) its PR.

use std::process::ExitCode;

use crate::cli::host::with_client;
use crate::cli::output::{report_error, usage};
use crate::cli::runtime::init_tracing;
use crate::{
    EXIT_FORBIDDEN, EXIT_NOTHING_TO_COMMIT, EXIT_OTHER, EXIT_PUSH_REJECTED, EXIT_UNKNOWN_REPO,
    EXIT_USAGE, ProposeArgs,
};

/// `prgate propose ... PATH...`.
pub fn run(args: ProposeArgs) -> ExitCode {
    let ProposeArgs {
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
    } = args;
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
                    E::Git(prgate::git::GitError::PushRejected { .. }) => EXIT_PUSH_REJECTED,
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
