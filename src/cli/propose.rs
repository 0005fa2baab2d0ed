//! `prgate propose`: commit paths onto a proposal branch, push it and open (or update) its PR.

use std::process::ExitCode;

use prgate::contract::{ErrorKind, ErrorOutput};

use crate::cli::host::with_client;
use crate::cli::output::{fail, print_json, usage_error};
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
        Err(e) => return usage_error(json, format!("cannot read --body-file: {e}"), None),
    };
    let remote_repo = match remote_repo
        .map(|r| r.parse::<prgate::types::RepoName>())
        .transpose()
    {
        Ok(r) => r,
        Err(e) => {
            return usage_error(
                json,
                format!("--remote-repo: {e}"),
                Some("write OWNER/REPO"),
            );
        }
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
    let api_url = host.api_url.clone();
    with_client(&host, json, |gh, token| async move {
        let renderer = prgate::render::Renderer::default();
        match prgate::propose::propose(&gh, &token, &renderer, &req).await {
            Ok(p) => {
                if json {
                    print_json(&p);
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
                            "  needs {} from {} for rule {} ({})",
                            prgate::render::plural(r.min_approvals, "approval"),
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
                let (kind, code) = match &e {
                    E::Usage(_) => (ErrorKind::Usage, EXIT_USAGE),
                    E::NothingToCommit { .. } => {
                        (ErrorKind::NothingToCommit, EXIT_NOTHING_TO_COMMIT)
                    }
                    E::UnknownRepo { .. } => (ErrorKind::NotFound, EXIT_UNKNOWN_REPO),
                    E::Git(prgate::git::GitError::PushRejected { .. }) => {
                        (ErrorKind::PushRejected, EXIT_PUSH_REJECTED)
                    }
                    E::Forbidden(_) => (ErrorKind::Auth, EXIT_FORBIDDEN),
                    E::Git(
                        prgate::git::GitError::NoSuchPath { .. }
                        | prgate::git::GitError::OutsideRepository { .. }
                        | prgate::git::GitError::ThroughLink { .. }
                        | prgate::git::GitError::LinkOutside { .. }
                        | prgate::git::GitError::NotAFile { .. }
                        | prgate::git::GitError::NotARepository { .. }
                        | prgate::git::GitError::NoOrigin
                        | prgate::git::GitError::UnknownOrigin { .. },
                    ) => (ErrorKind::Usage, EXIT_USAGE),
                    E::Git(_) => (ErrorKind::Git, EXIT_OTHER),
                    E::GitHub(g) => {
                        return fail(json, ErrorOutput::from_code_host(g, &api_url, EXIT_OTHER));
                    }
                    _ => (ErrorKind::Internal, EXIT_OTHER),
                };
                fail(json, ErrorOutput::new(kind, e.to_string(), code))
            }
        }
    })
}
