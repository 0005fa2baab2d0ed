//! The demo's stage: a simulated GitHub on loopback with acme/infra seeded, a production
//! folder the executor writes, the gate with its secrets in files, and the clients each role
//! uses. Everything lives under one directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{
    ExecutorConfig, GithubConfig, GovernedRepo, HumanDuration, SandboxPaths, SandboxSetting,
    Secret, SecretRef, ServerConfig,
};
use crate::github::{ClientOptions, Endpoints, GitHub};
use crate::metrics::Metrics;
use crate::types::RepoName;

use super::{DemoError, setup_err};

/// Who exists on the simulated GitHub, the teams, and the repository with its protection.
const SEED: &str = include_str!("seed.toml");
pub(super) const REPO: &str = "acme/infra";
/// Each role's token on the simulator (see `seed.toml`).
pub(super) const AGENT_TOKEN: &str = "demo-agent-token";
pub(super) const GATE_TOKEN: &str = "demo-prgate-token";
const ROOT_TOKEN: &str = "demo-root-token";

pub(super) struct Stage {
    pub dir: PathBuf,
    pub sim: prgate_sim::SimHandle,
    pub gate: crate::serve::ServeHandle,
    /// What prgate derives from the one API URL, as every client below does.
    pub endpoints: Endpoints,
    pub clone_url: String,
    pub repo: RepoName,
    /// The live firewall the executor writes.
    pub production: PathBuf,
    /// The auditor's clone, with prgate's notes.
    pub mirror: PathBuf,
    pub root_token: Secret,
    /// The admin's client: what the story reads from the code host.
    pub root: GitHub,
    /// The configuration an operator's `prgate execute` runs with (its own data directory).
    pub operator_config: ServerConfig,
    pub signing_key: ed25519_dalek::SigningKey,
    pub public_key: String,
}

impl Stage {
    /// Starts the simulator and the gate under `dir`.
    pub(super) async fn set(dir: &Path, ghes: bool) -> Result<Stage, DemoError> {
        let seed = prgate_sim::SimState::from_toml(SEED).map_err(setup_err)?;
        let shape = if ghes {
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
        let endpoints = Endpoints::derive(&sim.api_url, None).map_err(setup_err)?;
        let clone_url = sim
            .clone_url(REPO)
            .ok_or_else(|| setup_err("the simulator has no acme/infra"))?;
        let production = dir.join("production");
        std::fs::create_dir_all(&production).map_err(setup_err)?;
        std::fs::write(production.join("firewall.toml"), "allow = [22]\n").map_err(setup_err)?;
        // The simulator serves git over HTTP with token authentication, as GitHub does: every
        // clone, fetch and push says whose token it uses.
        let root_token = Secret::new(ROOT_TOKEN);
        super::repo::seed_repository(&dir.join("seed"), &clone_url, &root_token)?;
        sim.settle().await;

        let webhook_secret = uuid::Uuid::new_v4().to_string();
        // The gate signs its notes; the auditor checks them with the public key.
        let signing_key = crate::record::signing::generate_key().map_err(setup_err)?;
        let config = gate_config(
            dir,
            &sim.api_url,
            &webhook_secret,
            &signing_key,
            &production,
        )?;
        let public_key = crate::record::signing::public_key_hex(&signing_key.verifying_key());
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
        let root = client(&sim.api_url, ROOT_TOKEN)?;
        Ok(Stage {
            dir: dir.to_path_buf(),
            gate,
            endpoints,
            clone_url,
            repo: REPO.parse().map_err(setup_err)?,
            production,
            mirror: dir.join("infra"),
            root_token,
            root,
            operator_config,
            signing_key,
            public_key,
            sim,
        })
    }

    /// A client acting with `token`.
    pub(super) fn client(&self, token: &str) -> Result<GitHub, DemoError> {
        client(&self.sim.api_url, token)
    }

    /// What production holds now.
    pub(super) fn production_rules(&self) -> Result<String, DemoError> {
        std::fs::read_to_string(self.production.join("firewall.toml")).map_err(super::step_err)
    }

    /// The auditor's clone, fetched afresh.
    pub(super) fn fetch_mirror(&self) -> Result<git2::Repository, DemoError> {
        super::repo::fetch_with_notes(&self.clone_url, &self.mirror, &self.root_token)
    }
}

fn client(api_url: &str, token: &str) -> Result<GitHub, DemoError> {
    GitHub::new(
        api_url,
        Some(&Secret::new(token)),
        ClientOptions::default(),
        Metrics::new(),
    )
    .map_err(setup_err)
}

/// The gate's configuration: acme/infra's main governed, the `firewall` executor (its
/// command writes production, its plan only reads it), secrets in files under `dir/secrets`.
fn gate_config(
    dir: &Path,
    api_url: &str,
    webhook_secret: &str,
    signing_key: &ed25519_dalek::SigningKey,
    production: &Path,
) -> Result<ServerConfig, DemoError> {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).map_err(setup_err)?;
    let write_secret = |name: &str, value: &str| -> Result<SecretRef, DemoError> {
        let p = secrets.join(name);
        std::fs::write(&p, value).map_err(setup_err)?;
        Ok(SecretRef::File(p))
    };
    let signing_key_file = secrets.join("note-signing.key");
    crate::record::signing::write_seed_file(&signing_key_file, signing_key).map_err(setup_err)?;
    let production_dir = production.display().to_string();
    let firewall = ExecutorConfig {
        command: vec!["sh".into(), "scripts/apply-firewall.sh".into()],
        timeout: Some(HumanDuration(Duration::from_secs(30))),
        env: [(
            "PRODUCTION_DIR".to_string(),
            write_secret("production-dir", &production_dir)?,
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
            write_secret("production-dir-read", &production_dir)?,
        )]
        .into_iter()
        .collect(),
        // The command writes production; the plan only reads it.
        sandbox: SandboxSetting::Paths(SandboxPaths {
            read: Vec::new(),
            write: vec![production.to_path_buf()],
        }),
        plan_network: false,
    };
    Ok(ServerConfig {
        listen: "127.0.0.1:0".parse().map_err(setup_err)?,
        data_dir: dir.join("gate"),
        webhook_secrets: vec![write_secret("webhook", webhook_secret)?],
        public_url: None,
        admin_listen: "127.0.0.1:0".parse().map_err(setup_err)?,
        admin_token: None,
        github: GithubConfig {
            api_url: api_url.to_string(),
            graphql_url: None,
            token: Some(write_secret("gate-token", GATE_TOKEN)?),
            app_id: None,
            private_key: None,
        },
        repos: vec![GovernedRepo {
            name: REPO.parse().map_err(setup_err)?,
            branches: vec!["main".into()],
        }],
        executors: [("firewall".to_string(), firewall)].into_iter().collect(),
        reconcile_interval: HumanDuration(Duration::from_secs(3600)),
        templates_dir: None,
        note_signing_key: Some(SecretRef::File(signing_key_file)),
        http: Default::default(),
        runtime: Default::default(),
    })
}
