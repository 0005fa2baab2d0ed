//! `prgate execute`: an operator runs (or holds) one merge commit's execution now.

use std::process::ExitCode;

use crate::cli::runtime::{init_tracing, runtime};
use crate::{EXIT_EXEC_FAILED, EXIT_OTHER, EXIT_REFUSED, EXIT_USAGE, report_error, usage};

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
        Err(e) => return usage(format!("--repo: {e}")),
    };
    let commit = match commit.parse::<prgate::types::CommitSha>() {
        Ok(c) => c,
        Err(e) => return usage(format!("--commit: {e} (give the full 40-digit SHA)")),
    };
    let config = match prgate::config::load_server_config(config) {
        Ok(c) => c,
        Err(e) => return usage(e.to_string()),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(run(config, repo, commit, cancel, json))
}

/// `prgate execute`: verify, claim and run one merge commit now, or put its execution on hold.
pub async fn run(
    config: prgate::config::ServerConfig,
    repo: prgate::types::RepoName,
    commit: prgate::types::CommitSha,
    cancel: bool,
    json: bool,
) -> ExitCode {
    use prgate::executor::service::{Considered, Executor, HOLD_LABEL, Mode};
    let metrics = prgate::metrics::Metrics::new();
    let (gh, token) =
        match prgate::serve::github_client(&config.github, Default::default(), metrics.clone()) {
            Ok((g, t)) => (std::sync::Arc::new(g), t),
            Err(e) => return report_error(json, &e.to_string(), EXIT_USAGE),
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
                    println!(
                        "{}",
                        serde_json::json!({"result": "finished", "outcome": outcome, "commit": commit.as_str()})
                    );
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
            println!(
                "{}",
                serde_json::json!({"result": "hold_requested", "pull": pull.number, "label": HOLD_LABEL})
            );
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
                println!("{}", serde_json::to_string(&result).unwrap_or_default());
            } else {
                println!("{commit}: {}", result.describe());
            }
            ExitCode::from(code)
        }
        Err(e) => report_error(json, &e.to_string(), EXIT_OTHER),
    }
}
