//! `prgate demo`: the whole loop in one command, against the built-in simulator on loopback.
//! It tells the story as it happens — an agent proposes a firewall change, a non-designated
//! approval does not count, the designated human approves, prgate merges with the head pinned,
//! the executor verifies and applies it once, the audit is clean — then a change whose plan
//! drifted (production changed by hand after the plan was approved) is refused with both plans
//! shown, and a direct push is refused and flagged by the audit. Every step checks its outcome; the demo fails
//! (exit 1) if any step does not turn out as told.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{
    ExecutorConfig, GithubConfig, GovernedRepo, HumanDuration, SandboxPaths, SandboxSetting,
    Secret, SecretRef, ServerConfig,
};
use crate::github::{ClientOptions, GitHub};
use crate::metrics::Metrics;
use crate::types::{CommitSha, PullNumber, RepoName};

const SEED: &str = r#"
[[users]]
login = "prgate"
token = "demo-prgate-token"

[[users]]
login = "root"
token = "demo-root-token"

[[users]]
login = "alice"
token = "demo-alice-token"

[[users]]
login = "bob"
token = "demo-bob-token"

[[users]]
login = "ops-agent[bot]"
type = "Bot"
token = "demo-agent-token"

[[teams]]
org = "acme"
slug = "netops"
members = ["alice"]

[[teams]]
org = "acme"
slug = "maintainers"
members = ["alice"]

[[repos]]
name = "acme/infra"
default_branch = "main"
admins = ["root"]
writers = ["prgate", "ops-agent[bot]", "alice", "bob"]
required_contexts = ["prgate/approval"]
enforce_admins = false
"#;

const POLICY: &str = r#"version = 1
expire_after = "72h"
merge = "auto"

[identities]
agents = ["ops-agent[bot]"]

[defaults]
approvers = { teams = ["acme/maintainers"] }
min_approvals = 1

[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"], teams = ["acme/netops"] }
min_approvals = 1
executor = "firewall"

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { teams = ["acme/maintainers"] }
min_approvals = 1
"#;

/// What the executor runs: it "applies" the rules by copying them into production.
const APPLY_SCRIPT: &str = r#"#!/bin/sh
set -e
mkdir -p "$PRODUCTION_DIR"
cp firewall/rules.toml "$PRODUCTION_DIR/firewall.toml"
echo "applied firewall rules of $PRGATE_MERGE_SHA (approved by $PRGATE_APPROVERS)"
"#;

/// The firewall's plan: which ports the change opens and closes on the live firewall (the
/// production folder). Sorted, no timestamps: the same change against the same production
/// prints the same plan, so its digest can bind the approval.
const PLAN_SCRIPT: &str = r#"#!/bin/sh
set -e
ports() {
  if [ -f "$1" ]; then
    sed -n 's/^allow = \[\(.*\)\]$/\1/p' "$1" | tr -d ' "' | tr ',' '\n' | grep -v '^$' | sort -u
  fi
}
tmp=$(mktemp -d)
ports "$PRODUCTION_DIR/firewall.toml" > "$tmp/live"
ports firewall/rules.toml > "$tmp/wanted"
comm -13 "$tmp/live" "$tmp/wanted" | sed 's|^|open  tcp/|'
comm -23 "$tmp/live" "$tmp/wanted" | sed 's|^|close tcp/|'
if cmp -s "$tmp/live" "$tmp/wanted"; then echo "no change"; fi
rm -rf "$tmp"
"#;

const REPO: &str = "acme/infra";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo step failed: {0}")]
    Step(String),
    #[error("demo setup: {0}")]
    Setup(String),
}

fn step_err(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

fn setup_err(e: impl std::fmt::Display) -> DemoError {
    DemoError::Setup(e.to_string())
}

/// The outcome of each step, for tests (which check outcomes, not the story's wording).
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub pull: u64,
    pub head: String,
    pub pending_description: String,
    pub non_designated_description: String,
    pub merge: String,
    pub merge_second_parent: String,
    pub trailers: String,
    pub execution_state: String,
    pub production_rules: String,
    pub audit_clean_before: bool,
    pub direct_push: String,
    pub direct_push_execution: String,
    pub production_after_direct_push: String,
    pub audit_violations_after: Vec<String>,
    /// The status while the first PR waited, with the plan's short digest.
    pub plan_description: String,
    /// The plan comment on the first PR.
    pub plan_comment: String,
    /// The second PR, whose plan drifted: its merge, the execution's state and description,
    /// the refusal comment (both plans), and production after it.
    pub drift_merge: String,
    pub drift_execution: String,
    pub drift_description: String,
    pub drift_comment: String,
    pub production_after_drift: String,
    /// What the operator's `prgate execute` of the drifted merge did once production was
    /// back to the approved state, and production after it.
    pub drift_rerun: String,
    pub production_after_rerun: String,
    pub repo_dir: PathBuf,
    /// The API URL every client was given, and the GraphQL URL prgate derived from it.
    pub api_url: String,
    pub graphql_url: String,
    /// The gate's note-signing public key (hex).
    pub public_key: String,
}

pub struct DemoOptions {
    /// Keep everything under this directory instead of a temporary one.
    pub keep: Option<PathBuf>,
    /// Run against the simulator in GitHub Enterprise Server's shape; the demo fails if any
    /// request leaves its bases.
    pub ghes: bool,
}

/// Runs the demo, telling the story on `out`.
pub async fn run_demo(opts: DemoOptions, out: &mut dyn Write) -> Result<DemoReport, DemoError> {
    let tmp;
    let dir = match &opts.keep {
        Some(d) => {
            if d.exists()
                && std::fs::read_dir(d)
                    .map(|mut r| r.next().is_some())
                    .unwrap_or(false)
            {
                return Err(DemoError::Setup(format!(
                    "{} is not empty; give --keep an empty or new directory",
                    d.display()
                )));
            }
            std::fs::create_dir_all(d).map_err(setup_err)?;
            d.canonicalize().map_err(setup_err)?
        }
        None => {
            tmp = tempfile::tempdir().map_err(setup_err)?;
            tmp.path().to_path_buf()
        }
    };
    let mut say = |text: String| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    let started = Instant::now();

    // --- the stage: a simulator, the repository, the gate ---
    let seed = prgate_sim::SimState::from_toml(SEED).map_err(setup_err)?;
    let shape = if opts.ghes {
        prgate_sim::Shape::EnterpriseServer
    } else {
        prgate_sim::Shape::GitHubCom
    };
    let sim = prgate_sim::start_shaped(
        "127.0.0.1:0".parse().map_err(setup_err)?,
        seed,
        dir.join("github"),
        shape,
    )
    .await
    .map_err(setup_err)?;
    // What prgate derives from the one API URL, as every client below does.
    let endpoints = crate::github::Endpoints::derive(&sim.api_url, None).map_err(setup_err)?;
    let clone_url = sim
        .clone_url(REPO)
        .ok_or_else(|| setup_err("the simulator has no acme/infra"))?;
    let production = dir.join("production");
    std::fs::create_dir_all(&production).map_err(setup_err)?;
    std::fs::write(production.join("firewall.toml"), "allow = [22]\n").map_err(setup_err)?;
    // The simulator serves git over HTTP with token authentication, as GitHub does: every
    // clone, fetch and push below says whose token it uses.
    let root_token = Secret::new("demo-root-token");
    seed_repository(&dir.join("seed"), &clone_url, &root_token)?;
    sim.settle().await;

    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).map_err(setup_err)?;
    let write_secret = |name: &str, value: &str| -> Result<SecretRef, DemoError> {
        let p = secrets.join(name);
        std::fs::write(&p, value).map_err(setup_err)?;
        Ok(SecretRef::File(p))
    };
    let webhook_secret = uuid::Uuid::new_v4().to_string();
    // The gate signs its notes; the auditor checks them with the public key.
    let signing_key_file = secrets.join("note-signing.key");
    let signing_key = crate::record::signing::generate_key().map_err(setup_err)?;
    crate::record::signing::write_seed_file(&signing_key_file, &signing_key).map_err(setup_err)?;
    let public_key = crate::record::signing::public_key_hex(&signing_key.verifying_key());
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().map_err(setup_err)?,
        data_dir: dir.join("gate"),
        webhook_secrets: vec![write_secret("webhook", &webhook_secret)?],
        public_url: None,
        admin_listen: "127.0.0.1:0".parse().map_err(setup_err)?,
        admin_token: None,
        github: GithubConfig {
            api_url: sim.api_url.clone(),
            graphql_url: None,
            token: Some(write_secret("gate-token", "demo-prgate-token")?),
            app_id: None,
            private_key: None,
        },
        repos: vec![GovernedRepo {
            name: REPO.parse().map_err(setup_err)?,
            branches: vec!["main".into()],
        }],
        executors: [(
            "firewall".to_string(),
            ExecutorConfig {
                command: vec!["sh".into(), "scripts/apply-firewall.sh".into()],
                timeout: Some(HumanDuration(Duration::from_secs(30))),
                env: [(
                    "PRODUCTION_DIR".to_string(),
                    write_secret("production-dir", &production.display().to_string())?,
                )]
                .into_iter()
                .collect(),
                repos: vec![REPO.parse().map_err(setup_err)?],
                paused: false,
                program_paths: Some(vec![
                    "scripts/apply-firewall.sh".into(),
                    "scripts/plan-firewall.sh".into(),
                ]),
                plan: Some(vec!["sh".into(), "scripts/plan-firewall.sh".into()]),
                // The plan reads production; a real one would get a read-only credential.
                plan_env: [(
                    "PRODUCTION_DIR".to_string(),
                    write_secret("production-dir-read", &production.display().to_string())?,
                )]
                .into_iter()
                .collect(),
                // The command writes production; the plan only reads it.
                sandbox: SandboxSetting::Paths(SandboxPaths {
                    read: Vec::new(),
                    write: vec![production.clone()],
                }),
                plan_network: false,
            },
        )]
        .into_iter()
        .collect(),
        reconcile_interval: HumanDuration(Duration::from_secs(3600)),
        templates_dir: None,
        note_signing_key: Some(SecretRef::File(signing_key_file.clone())),
        http: Default::default(),
        runtime: Default::default(),
    };
    // An operator's `prgate execute` later in the story runs with the same executors, from
    // a data directory of its own.
    let mut operator_config = config.clone();
    operator_config.data_dir = dir.join("operator");
    let gate = crate::serve::start(
        config,
        ClientOptions {
            timeout: Duration::from_secs(5),
            ..Default::default()
        },
    )
    .await
    .map_err(setup_err)?;
    sim.add_hook(&format!("{}/webhook", gate.url()), &webhook_secret);

    say(format!(
        "prgate demo — everything on loopback, under {}",
        dir.display()
    ));
    say(format!(
        "  GitHub simulator: {}   prgate gate: {}   dashboard: {}/",
        sim.api_url,
        gate.url(),
        gate.admin_url()
    ));
    if opts.ghes {
        say(format!(
            "  in GitHub Enterprise Server's shape: REST {}, GraphQL {} (derived), git {}",
            endpoints.rest, endpoints.graphql, clone_url
        ));
    }
    say(
        "  acme/infra's policy: changes to firewall/** need 1 approval from alice or acme/netops,"
            .into(),
    );
    say(format!(
        "  then the `firewall` executor applies firewall/rules.toml to {}",
        production.display()
    ));
    say(String::new());

    let repo: RepoName = REPO.parse().map_err(setup_err)?;
    let client = |token: &str| -> Result<GitHub, DemoError> {
        GitHub::new(
            &sim.api_url,
            Some(&Secret::new(token)),
            ClientOptions::default(),
            Metrics::new(),
        )
        .map_err(setup_err)
    };
    let root = client("demo-root-token")?;

    // 1. The agent proposes.
    let work = dir.join("agent-work");
    crate::git::clone(&clone_url, &work, Some(&Secret::new("demo-agent-token")))
        .map_err(setup_err)?;
    std::fs::write(work.join("firewall/rules.toml"), "allow = [22, 443]\n").map_err(setup_err)?;
    let agent = client("demo-agent-token")?;
    let proposal = crate::propose::propose(
        &agent,
        &Secret::new("demo-agent-token"),
        &crate::render::Renderer::default(),
        &crate::propose::ProposeRequest {
            repo_path: work.clone(),
            title: "Open TCP 443 on the edge firewall".into(),
            reason: Some("the new API needs HTTPS (ticket NET-1)".into()),
            risk: Some("exposes the API host to the internet".into()),
            rollback: Some("revert the PR; the executor re-applies the old rules".into()),
            paths: vec![PathBuf::from("firewall/rules.toml")],
            ..Default::default()
        },
    )
    .await
    .map_err(step_err)?;
    let pull = PullNumber(proposal.pull);
    let head: CommitSha = proposal.head.parse().map_err(step_err)?;
    say(format!(
        "1. The agent ops-agent[bot] proposes a firewall change: PR #{} from {} (head {}).",
        pull,
        proposal.branch,
        head.short()
    ));
    for r in &proposal.required {
        say(format!(
            "   prgate tells it up front: rule `{}` needs {} approval from {}, then runs `{}`.",
            r.rule,
            r.min_approvals,
            r.approvers,
            r.executor.clone().unwrap_or_else(|| "nothing".into())
        ));
    }

    // 2. Pending, and who must approve.
    sim.settle().await;
    let pending = wait_status(&root, &repo, &head, crate::APPROVAL_CONTEXT, |s, _| {
        s == "pending"
    })
    .await?;
    say(format!(
        "2. prgate/approval on {} is `pending`: \"{}\"",
        head.short(),
        pending.1
    ));
    let planned = wait_status(&root, &repo, &head, crate::APPROVAL_CONTEXT, |s, d| {
        s == "pending" && d.starts_with("plan ")
    })
    .await?;
    let plan_comment = plan_comment_of(&root, &repo, pull).await?;
    say(
        "   Before anyone approves, prgate runs the firewall's plan (the base's scripts/plan-firewall.sh, on the would-be merge) and shows it on the PR:"
            .into(),
    );
    for line in plan_lines(&plan_comment) {
        say(format!("     {line}"));
    }
    say(format!("   and the status says: \"{}\"", planned.1));

    // 3. A non-designated approval does not count.
    client("demo-bob-token")?
        .submit_review(&repo, pull, "APPROVE", "LGTM")
        .await
        .map_err(step_err)?;
    sim.settle().await;
    let after_bob = wait_status(&root, &repo, &head, crate::APPROVAL_CONTEXT, |s, d| {
        s == "pending" && d.contains("bob")
    })
    .await?;
    say(format!(
        "3. bob approves — he may write to the repo, but he is no designated approver, so it does not count: \"{}\"",
        after_bob.1
    ));

    // 4. The designated human approves; prgate merges with the head pinned.
    client("demo-alice-token")?
        .submit_review(&repo, pull, "APPROVE", "443 for the API host is fine")
        .await
        .map_err(step_err)?;
    sim.settle().await;
    let merged = wait_for(|| async {
        let p = root.pull(&repo, pull).await.ok()?;
        p.merge_commit_sha.filter(|_| p.merged)
    })
    .await
    .ok_or_else(|| step_err("prgate did not merge the approved PR"))?;
    let merge: CommitSha = merged.parse().map_err(step_err)?;
    let mirror = dir.join("infra");
    let local = fetch_with_notes(&clone_url, &mirror, &root_token)?;
    let (second_parent, message) = {
        let c = local
            .find_commit(git2::Oid::from_str(merge.as_str()).map_err(step_err)?)
            .map_err(step_err)?;
        (
            c.parent_id(1).map(|p| p.to_string()).unwrap_or_default(),
            c.message().unwrap_or("").to_string(),
        )
    };
    let trailers = message
        .trim_end()
        .rsplit("\n\n")
        .next()
        .unwrap_or("")
        .to_string();
    say(format!(
        "4. alice (acme/netops) approves head {}: `success`, and prgate merges it as {} with that head pinned.",
        head.short(),
        merge.short()
    ));
    say(format!(
        "   The merge's second parent is the approved head ({}); its message records the approval:",
        &second_parent[..7.min(second_parent.len())]
    ));
    for line in trailers.lines() {
        say(format!("     {line}"));
    }

    // 5. The executor verifies on its own, runs once, records a note.
    let execution = wait_status(&root, &repo, &merge, crate::EXECUTION_CONTEXT, |s, _| {
        s != "pending"
    })
    .await?;
    let rules_now = std::fs::read_to_string(production.join("firewall.toml")).map_err(step_err)?;
    let local = fetch_with_notes(&clone_url, &mirror, &root_token)?;
    let note = crate::git::notes::read_note(
        &local,
        git2::Oid::from_str(merge.as_str()).map_err(step_err)?,
    )
    .map_err(step_err)?
    .and_then(|n| n.execution);
    say(format!(
        "5. On the push to main the executor re-verifies from GitHub and from git (not the status), claims {} once, runs `firewall`: {} — \"{}\"",
        merge.short(),
        execution.0,
        execution.1
    ));
    if let Some(n) = &note {
        say(format!(
            "   Record under refs/notes/prgate (a DSSE envelope around an in-toto statement): outcome {}, exit code {}, output sha256 {}…",
            n.outcome,
            n.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            n.output_sha256
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(12)
                .collect::<String>()
        ));
    }
    say(format!(
        "6. Production now holds the approved rules: {}",
        rules_now.trim()
    ));
    say(format!(
        "   The record is signed by the gate's key {}… (key id {}…); `prgate verify --public-key` checks it offline, and so does any DSSE verifier (the README's auditor section).",
        &public_key[..16.min(public_key.len())],
        &crate::record::envelope::key_id(&signing_key.verifying_key())[..16]
    ));

    // 7. The audit of the history is clean.
    let audit = |label: &str| -> Result<crate::audit::AuditReport, DemoError> {
        fetch_with_notes(&clone_url, &mirror, &root_token)?;
        crate::audit::audit(&crate::audit::AuditOptions::new(mirror.clone()))
            .map_err(|e| step_err(format!("{label}: {e}")))
    };
    let before = audit("audit")?;
    say(format!(
        "7. `prgate audit` walks main's first-parent history: {}, {} touching governed paths, {}.",
        crate::render::plural(before.commits_walked, "commit"),
        before.governed_commits,
        if before.clean {
            "no violation".to_string()
        } else {
            crate::render::plural(before.violations.len() as u64, "violation")
        }
    ));

    // 8. A drift: production changes by hand after the plan was shown and approved.
    std::fs::write(work.join("firewall/rules.toml"), "allow = [443, 8443]\n").map_err(setup_err)?;
    let proposal2 = crate::propose::propose(
        &agent,
        &Secret::new("demo-agent-token"),
        &crate::render::Renderer::default(),
        &crate::propose::ProposeRequest {
            repo_path: work.clone(),
            title: "Move SSH off the edge firewall; open 8443 for the admin API".into(),
            reason: Some("SSH goes through the bastion now (ticket NET-2)".into()),
            paths: vec![PathBuf::from("firewall/rules.toml")],
            ..Default::default()
        },
    )
    .await
    .map_err(step_err)?;
    let pull2 = PullNumber(proposal2.pull);
    let head2: CommitSha = proposal2.head.parse().map_err(step_err)?;
    sim.settle().await;
    let planned2 = wait_status(&root, &repo, &head2, crate::APPROVAL_CONTEXT, |s, d| {
        s == "pending" && d.starts_with("plan ")
    })
    .await?;
    let plan2 = plan_comment_of(&root, &repo, pull2).await?;
    say(format!(
        "8. The agent proposes PR #{pull2}: close SSH, open 8443. Its plan, shown on the PR ({}):",
        planned2.1.split(';').next().unwrap_or_default()
    ));
    for line in plan_lines(&plan2) {
        say(format!("     {line}"));
    }
    std::fs::write(
        production.join("firewall.toml"),
        "allow = [22, 443, 3389]\n",
    )
    .map_err(step_err)?;
    say(
        "   Meanwhile someone opens RDP (3389) on production by hand. alice approves the plan she was shown."
            .into(),
    );
    client("demo-alice-token")?
        .submit_review(
            &repo,
            pull2,
            "APPROVE",
            "closing 22 and opening 8443 is fine",
        )
        .await
        .map_err(step_err)?;
    sim.settle().await;
    let merged2 = wait_for(|| async {
        let p = root.pull(&repo, pull2).await.ok()?;
        p.merge_commit_sha.filter(|_| p.merged)
    })
    .await
    .ok_or_else(|| step_err("prgate did not merge the second approved PR"))?;
    let merge2: CommitSha = merged2.parse().map_err(step_err)?;
    let drift = wait_status(&root, &repo, &merge2, crate::EXECUTION_CONTEXT, |s, _| {
        s != "pending"
    })
    .await?;
    let drift_comment = wait_for(|| async {
        root.comments(&repo, pull2)
            .await
            .ok()?
            .into_iter()
            .map(|c| c.body)
            .find(|b| b.contains("Execution refused"))
    })
    .await
    .ok_or_else(|| step_err("no refusal comment on the drifted PR"))?;
    let production_after_drift =
        std::fs::read_to_string(production.join("firewall.toml")).map_err(step_err)?;
    say(format!(
        "9. prgate merges {} (Prgate-Plan binds the approved plan); before applying, the executor runs the plan again on the merge: {} — \"{}\"",
        merge2.short(),
        drift.0,
        drift.1
    ));
    let blocks = plan_blocks(&drift_comment);
    for (label, block) in ["the approved plan:", "the plan now:"].iter().zip(&blocks) {
        say(format!("   The PR's comment shows {label}"));
        for line in block {
            say(format!("     {line}"));
        }
    }
    say(format!(
        "   Nothing was applied; production still holds: {}",
        production_after_drift.trim()
    ));

    // 10. The operator reverts the hand change; `prgate execute` plans again and applies.
    std::fs::write(production.join("firewall.toml"), "allow = [22, 443]\n").map_err(step_err)?;
    let operator = crate::executor::Executor::new(
        std::sync::Arc::new(operator_config),
        std::sync::Arc::new(client("demo-prgate-token")?),
        Some(Secret::new("demo-prgate-token")),
        Metrics::new(),
        crate::dashboard::Dashboard::new(),
    )
    .with_signing_key(signing_key.clone());
    let rerun = std::sync::Arc::new(operator)
        .consider(&repo, &merge2, crate::executor::Mode::Operator)
        .await
        .map_err(step_err)?;
    let production_after_rerun =
        std::fs::read_to_string(production.join("firewall.toml")).map_err(step_err)?;
    say(format!(
        "10. The operator reverts the hand change and runs `prgate execute` for {}: it plans again, gets the approved plan, and applies: {}. Production: {}",
        merge2.short(),
        rerun.describe(),
        production_after_rerun.trim()
    ));

    // 11. The refused path: a direct push to firewall/ by an admin.
    let direct = direct_push(&dir.join("admin-work"), &clone_url, &root_token)?;
    sim.settle().await;
    let refused = wait_status(&root, &repo, &direct, crate::EXECUTION_CONTEXT, |s, _| {
        s != "pending"
    })
    .await?;
    let production_after =
        std::fs::read_to_string(production.join("firewall.toml")).map_err(step_err)?;
    say(format!(
        "11. An admin pushes straight to main, opening every port in firewall/ ({}). The executor refuses it: {} — \"{}\"",
        direct.short(),
        refused.0,
        refused.1
    ));
    say(format!(
        "   Production is untouched: {}",
        production_after.trim()
    ));
    let after = audit("audit after the direct push")?;
    for v in &after.violations {
        say(format!(
            "12. The audit flags it: {} by {}: {} — {}",
            &v.commit[..7.min(v.commit.len())],
            v.author,
            v.kind,
            v.detail
        ));
    }
    let off_base = sim.off_base_requests();
    if !off_base.is_empty() {
        return Err(step_err(format!(
            "{} request(s) left GitHub Enterprise Server's bases (REST under /api/v3, GraphQL at /api/graphql, git at the root): {}",
            off_base.len(),
            off_base.join(", ")
        )));
    }
    if opts.ghes {
        say(
            "13. Every call stayed on GitHub Enterprise Server's bases: REST under /api/v3, GraphQL at /api/graphql, git at the host's root."
                .into(),
        );
    }
    say(String::new());
    say(format!("Done in {:.1}s.", started.elapsed().as_secs_f64()));
    if opts.keep.is_some() {
        say(format!("Kept in {}. Try:", dir.display()));
        say(format!(
            "  git -C {} log --notes=prgate --first-parent -3",
            mirror.display()
        ));
        say(format!(
            "  prgate audit --repo {} --public-key {public_key}",
            mirror.display()
        ));
        say(format!(
            "  prgate verify --repo {} --commit {} --public-key {public_key}",
            mirror.display(),
            merge
        ));
    }

    gate.shutdown().await;
    sim.shutdown().await;
    Ok(DemoReport {
        pull: pull.0,
        head: head.to_string(),
        pending_description: pending.1,
        non_designated_description: after_bob.1,
        merge: merge.to_string(),
        merge_second_parent: second_parent,
        trailers,
        execution_state: execution.0,
        production_rules: rules_now,
        audit_clean_before: before.clean,
        direct_push: direct.to_string(),
        direct_push_execution: refused.0,
        production_after_direct_push: production_after,
        audit_violations_after: after.violations.iter().map(|v| v.commit.clone()).collect(),
        plan_description: planned.1,
        plan_comment,
        drift_merge: merge2.to_string(),
        drift_execution: drift.0,
        drift_description: drift.1,
        drift_comment,
        production_after_drift,
        drift_rerun: rerun.describe(),
        production_after_rerun,
        repo_dir: mirror,
        api_url: endpoints.rest.clone(),
        graphql_url: endpoints.graphql.clone(),
        public_key,
    })
}

/// prgate's plan comment on a PR (the latest one).
async fn plan_comment_of(
    gh: &GitHub,
    repo: &RepoName,
    pull: PullNumber,
) -> Result<String, DemoError> {
    wait_for(|| async {
        gh.comments(repo, pull)
            .await
            .ok()?
            .into_iter()
            .rev()
            .map(|c| c.body)
            .find(|b| b.starts_with(crate::executor::plan_marker::PLAN_MARKER))
    })
    .await
    .ok_or_else(|| step_err(format!("no plan comment on PR #{pull}")))
}

/// The lines of a plan's output in a comment (the fenced blocks' contents).
fn plan_lines(comment: &str) -> Vec<String> {
    plan_blocks(comment).concat()
}

/// Each fenced block of a comment, as lines.
fn plan_blocks(comment: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in comment.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.push(line.to_string());
        }
    }
    blocks
}

/// Polls until `f` answers, for at most 20 s.
async fn wait_for<F, Fut, T>(mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Waits for the newest status in `context` on `sha` to satisfy `ok`: (state, description).
async fn wait_status(
    gh: &GitHub,
    repo: &RepoName,
    sha: &CommitSha,
    context: &str,
    ok: impl Fn(&str, &str) -> bool,
) -> Result<(String, String), DemoError> {
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(statuses) = gh.statuses(repo, sha).await
            && let Some(s) = statuses.into_iter().find(|s| s.context == context)
        {
            let pair = (s.state.clone(), s.description.clone().unwrap_or_default());
            if ok(&pair.0, &pair.1) {
                return Ok(pair);
            }
            last = Some(pair);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(step_err(format!(
        "{context} on {} never reached the expected state (last: {})",
        sha.short(),
        last.map_or("none".to_string(), |(state, d)| format!("{state}: {d}"))
    )))
}

fn signature(login: &str) -> Result<git2::Signature<'static>, DemoError> {
    git2::Signature::now(login, &format!("{login}@users.noreply.github.com")).map_err(setup_err)
}

/// The repository's first commit, pushed by the admin: policy, rules, executor script.
fn seed_repository(dir: &Path, url: &str, root_token: &Secret) -> Result<(), DemoError> {
    let repo = git2::Repository::init(dir).map_err(setup_err)?;
    let files = [
        (".github/prgate.toml", POLICY),
        ("firewall/rules.toml", "allow = [22]\n"),
        ("scripts/apply-firewall.sh", APPLY_SCRIPT),
        ("scripts/plan-firewall.sh", PLAN_SCRIPT),
        ("README.md", "acme infrastructure, governed by prgate\n"),
    ];
    let mut index = repo.index().map_err(setup_err)?;
    for (path, text) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(setup_err)?;
        }
        std::fs::write(&p, text).map_err(setup_err)?;
        index.add_path(Path::new(path)).map_err(setup_err)?;
    }
    let tree = repo
        .find_tree(index.write_tree().map_err(setup_err)?)
        .map_err(setup_err)?;
    let sig = signature("root")?;
    let commit = repo
        .commit(
            None,
            &sig,
            &sig,
            "acme/infra: policy, firewall rules, executor script",
            &tree,
            &[],
        )
        .map_err(setup_err)?;
    crate::git::push(&repo, url, commit, "main", Some(root_token)).map_err(setup_err)
}

/// An admin's commit straight onto main, opening every port.
fn direct_push(dir: &Path, url: &str, root_token: &Secret) -> Result<CommitSha, DemoError> {
    let repo = crate::git::clone(url, dir, Some(root_token)).map_err(setup_err)?;
    std::fs::write(dir.join("firewall/rules.toml"), "allow = [\"0-65535\"]\n")
        .map_err(setup_err)?;
    let mut index = repo.index().map_err(setup_err)?;
    index
        .add_path(Path::new("firewall/rules.toml"))
        .map_err(setup_err)?;
    let tree = repo
        .find_tree(index.write_tree().map_err(setup_err)?)
        .map_err(setup_err)?;
    let parent = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(setup_err)?;
    let sig = signature("root")?;
    let oid = repo
        .commit(
            None,
            &sig,
            &sig,
            "hotfix: open the firewall",
            &tree,
            &[&parent],
        )
        .map_err(setup_err)?;
    crate::git::push(&repo, url, oid, "main", Some(root_token)).map_err(setup_err)?;
    oid.to_string().parse().map_err(setup_err)
}

/// A local clone with main and the prgate notes, as an auditor would have.
fn fetch_with_notes(url: &str, dir: &Path, token: &Secret) -> Result<git2::Repository, DemoError> {
    let repo = if dir.exists() {
        git2::Repository::open(dir).map_err(setup_err)?
    } else {
        crate::git::clone(url, dir, Some(token)).map_err(setup_err)?
    };
    {
        let mut remote = repo.remote_anonymous(url).map_err(setup_err)?;
        let mut opts = git2::FetchOptions::new();
        opts.remote_callbacks(crate::git::callbacks(Some(token)));
        remote
            .fetch(
                &[
                    "+refs/heads/main:refs/remotes/origin/main",
                    "+refs/notes/prgate:refs/notes/prgate",
                ],
                Some(&mut opts),
                None,
            )
            .map_err(setup_err)?;
        let tip = repo
            .refname_to_id("refs/remotes/origin/main")
            .map_err(setup_err)?;
        repo.reference("refs/heads/main", tip, true, "demo: follow origin")
            .map_err(setup_err)?;
        if repo
            .head()
            .ok()
            .and_then(|h| h.name().map(str::to_string))
            .as_deref()
            == Some("refs/heads/main")
        {
            let obj = repo.find_object(tip, None).map_err(setup_err)?;
            repo.checkout_tree(&obj, Some(git2::build::CheckoutBuilder::new().force()))
                .map_err(setup_err)?;
        }
    }
    Ok(repo)
}
