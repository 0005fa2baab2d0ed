//! `prgate demo`: the whole loop in one command, against the built-in simulator on loopback.
//! It tells the story as it happens — an agent proposes a firewall change, a non-designated
//! approval does not count, the designated human approves, prgate merges with the head pinned,
//! the executor verifies and applies it once, the audit is clean — then a change whose plan
//! drifted (production changed by hand after the plan was approved) is refused with both plans
//! shown, and a direct push is refused and flagged by the audit. Every step checks its
//! outcome; the demo fails (exit 1) if any step does not turn out as told.
//!
//! The world is data beside this file (`seed.toml`, `policy.toml`, the executor's scripts);
//! `stage.rs` sets it up, and `acts.rs` holds the story, one function per act.

mod acts;
mod observe;
mod repo;
mod stage;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use stage::Stage;

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
#[derive(Debug, Clone, Default, Serialize)]
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

/// Tells the story on the demo's output as it happens.
pub(crate) struct Narrator<'a> {
    out: &'a mut dyn Write,
}

impl Narrator<'_> {
    fn say(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}", text.as_ref());
        let _ = self.out.flush();
    }
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
    let n = &mut Narrator { out };
    let started = Instant::now();
    let s = Stage::set(&dir, opts.ghes).await?;
    introduce(&s, n, opts.ghes);

    let mut report = DemoReport::default();
    let r = &mut report;
    let first = acts::agent_proposes(&s, n, r).await?;
    acts::writer_approves(&s, n, r, &first).await?;
    let merge = acts::designated_approves(&s, n, r, &first).await?;
    acts::executor_applies(&s, n, r, &merge).await?;
    acts::audit_is_clean(&s, n, r)?;
    let drifted = acts::plan_drifts(&s, n, r).await?;
    acts::operator_reruns(&s, n, r, &drifted).await?;
    acts::admin_pushes(&s, n, r).await?;
    acts::stayed_on_bases(&s, n, opts.ghes)?;

    n.say("");
    n.say(format!("Done in {:.1}s.", started.elapsed().as_secs_f64()));
    if opts.keep.is_some() {
        n.say(format!("Kept in {}. Try:", dir.display()));
        let mirror = s.mirror.display();
        let key = &s.public_key;
        n.say(format!(
            "  git -C {mirror} log --notes=prgate --first-parent -3"
        ));
        n.say(format!("  prgate audit --repo {mirror} --public-key {key}"));
        n.say(format!(
            "  prgate verify --repo {mirror} --commit {merge} --public-key {key}"
        ));
    }
    report.repo_dir = s.mirror.clone();
    report.api_url = s.endpoints.rest.clone();
    report.graphql_url = s.endpoints.graphql.clone();
    report.public_key = s.public_key.clone();
    s.gate.shutdown().await;
    s.sim.shutdown().await;
    Ok(report)
}

/// Where everything runs, and the policy the story runs under.
fn introduce(s: &Stage, n: &mut Narrator<'_>, ghes: bool) {
    n.say(format!(
        "prgate demo — everything on loopback, under {}",
        s.dir.display()
    ));
    n.say(format!(
        "  GitHub simulator: {}   prgate gate: {}   dashboard: {}/",
        s.sim.api_url,
        s.gate.url(),
        s.gate.admin_url()
    ));
    if ghes {
        n.say(format!(
            "  in GitHub Enterprise Server's shape: REST {}, GraphQL {} (derived), git {}",
            s.endpoints.rest, s.endpoints.graphql, s.clone_url
        ));
    }
    n.say(
        "  acme/infra's policy: changes to firewall/** need 1 approval from alice or acme/netops,",
    );
    n.say(format!(
        "  then the `firewall` executor applies firewall/rules.toml to {}",
        s.production.display()
    ));
    n.say("");
}
