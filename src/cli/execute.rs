//! `prgate execute`: an operator runs (or holds) one merge commit's execution now.

use std::process::ExitCode;

use prgate::contract::{CancelOutput, ErrorKind, ErrorOutput, ExecuteOutput};

use crate::cli::output::{fail, print_json, usage_error};
use crate::cli::runtime::{init_tracing, runtime};
use crate::{EXIT_EXEC_FAILED, EXIT_OTHER, EXIT_REFUSED, EXIT_USAGE, report_error};

/// `prgate execute --repo OWNER/REPO --commit SHA [--cancel] [--config FILE]`: parse, then run.
pub fn command(
    repo: &str,
    commit: &str,
    cancel: bool,
    config: &std::path::Path,
    json: bool,
) -> ExitCode {
    init_tracing();
    let repo = match repo.parse::<prgate::types::RepoName>() {
        Ok(r) => r,
        Err(e) => return usage_error(json, format!("--repo: {e}"), Some("write OWNER/REPO")),
    };
    let hex = commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    if commit.parse::<prgate::types::CommitSha>().is_err() && !hex {
        return usage_error(
            json,
            format!("--commit {commit:?} is not a commit id"),
            Some(
                "give the merge commit's SHA, or an unambiguous prefix of it (7 or more hex digits)",
            ),
        );
    }
    let config = match prgate::config::load_server_config(config) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                json,
                ErrorOutput::new(ErrorKind::Config, e.to_string(), EXIT_USAGE),
            );
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(run(config, repo, commit.to_string(), cancel, json))
}

/// `prgate execute`: verify, claim and run one merge commit now, or put its execution on hold.
pub async fn run(
    config: prgate::config::ServerConfig,
    repo: prgate::types::RepoName,
    commit: String,
    cancel: bool,
    json: bool,
) -> ExitCode {
    use prgate::executor::{Considered, Executor, HOLD_LABEL, Mode};
    let metrics = prgate::metrics::Metrics::new();
    let (gh, token) =
        match prgate::serve::github_client(&config.github, Default::default(), metrics.clone()) {
            Ok((g, t)) => (std::sync::Arc::new(g), t),
            Err(e) => return report_error(json, &e.to_string(), EXIT_USAGE),
        };
    // A prefix is resolved on the code host, like `verify` resolves it in git: one commit or
    // an error, never a guess.
    let commit = match commit.parse::<prgate::types::CommitSha>() {
        Ok(c) => c,
        Err(_) => match gh.commit_by_prefix(&repo, &commit).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return usage_error(
                    json,
                    format!("--commit {commit}: no single commit of {repo} starts with it"),
                    Some("give more digits of the SHA, or the full 40"),
                );
            }
            Err(e) => {
                return fail(
                    json,
                    ErrorOutput::from_code_host(&e, &config.github.api_url, EXIT_OTHER),
                );
            }
        },
    };
    if cancel {
        // A run that finished cannot be cancelled: say so rather than put a label that would
        // hold nothing.
        let probe = std::sync::Arc::new(Executor::new(
            std::sync::Arc::new(config.clone()),
            gh.clone(),
            token.clone(),
            metrics.clone(),
            prgate::dashboard::Dashboard::new(),
        ));
        match probe.finished_outcome(&repo, &commit).await {
            Ok(Some(outcome)) => {
                if json {
                    print_json(&ExecuteOutput::Cancel(CancelOutput::Finished {
                        outcome,
                        commit: commit.to_string(),
                    }));
                } else {
                    println!(
                        "{commit}: the execution is finished ({outcome}); there is nothing to cancel"
                    );
                }
                return ExitCode::SUCCESS;
            }
            Ok(None) => {}
            Err(e) => return report_error(json, &e.to_string(), EXIT_OTHER),
        }
        // The running executor watches its PR for the hold label; a future one is held by it.
        let pulls = match gh.pulls_for_commit(&repo, &commit).await {
            Ok(p) => p,
            Err(e) => return report_error(json, &e.to_string(), EXIT_OTHER),
        };
        let Some(pull) = pulls
            .into_iter()
            .find(|p| p.merge_commit_sha.as_deref() == Some(commit.as_str()))
        else {
            return report_error(
                json,
                &format!("no pull request was merged as {commit}"),
                EXIT_OTHER,
            );
        };
        if let Err(e) = gh
            .add_labels(
                &repo,
                prgate::types::PullNumber(pull.number),
                &[HOLD_LABEL.to_string()],
            )
            .await
        {
            return report_error(json, &e.to_string(), EXIT_OTHER);
        }
        if json {
            print_json(&ExecuteOutput::Cancel(CancelOutput::HoldRequested {
                pull: pull.number,
                label: HOLD_LABEL.to_string(),
            }));
        } else {
            println!(
                "put {HOLD_LABEL} on #{}: a running execution is cancelled, a pending one held",
                pull.number
            );
        }
        return ExitCode::SUCCESS;
    }
    // As in `serve`: a configured signing key that cannot be read stops here, before a run.
    let signing_key = match config
        .note_signing_key
        .as_ref()
        .map(prgate::record::signing::resolve_signing_key)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return report_error(json, &e.to_string(), EXIT_USAGE),
    };
    let mut executor = Executor::new(
        std::sync::Arc::new(config.clone()),
        gh,
        token,
        metrics,
        prgate::dashboard::Dashboard::new(),
    );
    if let Some(key) = signing_key {
        executor = executor.with_signing_key(key);
    }
    let executor = std::sync::Arc::new(executor);
    match executor.consider(&repo, &commit, Mode::Operator).await {
        Ok(result) => {
            let code = match &result {
                Considered::Ran { outcome, .. } | Considered::AlreadyRecorded { outcome, .. } => {
                    if *outcome == prgate::record::note::Outcome::Succeeded {
                        0
                    } else if *outcome == prgate::record::note::Outcome::Refused {
                        EXIT_REFUSED
                    } else {
                        EXIT_EXEC_FAILED
                    }
                }
                Considered::Refused { .. } | Considered::NotGoverned => EXIT_REFUSED,
                Considered::Held { .. } => 10,
                Considered::Recorded => 0,
                Considered::ClaimedElsewhere | Considered::Blocked { .. } => EXIT_OTHER,
            };
            if json {
                print_json(&result);
            } else {
                println!("{commit}: {}", result.describe());
            }
            ExitCode::from(code)
        }
        Err(e) => report_error(json, &e.to_string(), EXIT_OTHER),
    }
}
