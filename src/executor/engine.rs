//! The executor's state: its configuration, the code host, what this process runs now and
//! has settled, and its keys. The work is in the other files of this folder, one job each.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;

use super::local::LocalFacts;
use crate::config::{ExecutorConfig, Secret, ServerConfig};
use crate::dashboard::Dashboard;
use crate::github::GitHub;
use crate::metrics::Metrics;
use crate::policy;
use crate::policy::POLICY_PATH;
use crate::render::Renderer;
use crate::types::{CommitSha, RepoName};

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Merges this process has settled, remembered so that a reconciler pass skips them; the
/// least recently settled are forgotten past this many (and merely looked at again).
const SEEN_ENTRIES: NonZeroUsize = NonZeroUsize::new(100_000).unwrap();
/// Plan outputs remembered by digest, so that a drift refusal can show the approved plan
/// beside the new one; past this many the oldest are forgotten (the PR's comment keeps it).
const PLAN_OUTPUTS: NonZeroUsize = NonZeroUsize::new(1_000).unwrap();

pub struct Executor {
    pub(super) gh: Arc<GitHub>,
    pub(super) config: Arc<ServerConfig>,
    /// The key claim commits are authenticated with (see `instance::claim_key`).
    pub(super) claim_key: Vec<u8>,
    /// Every secret value the config names, redacted from every run's and plan's output.
    pub(super) held: Arc<Vec<Vec<u8>>>,
    pub(super) token: Option<Secret>,
    pub(super) metrics: Metrics,
    pub(super) dashboard: Dashboard,
    pub(super) renderer: Renderer,
    pub(super) clone_urls: Mutex<HashMap<RepoName, String>>,
    /// Cancellation of the runs in progress in this process, by merge commit.
    pub(super) running: Mutex<HashMap<CommitSha, CancellationToken>>,
    /// Merges whose run ended and was recorded, but whose final status could not be posted:
    /// the reconciler looks at them again, though their record exists, to post it.
    pub(super) final_unposted: Mutex<std::collections::HashSet<(RepoName, CommitSha)>>,
    /// Commits this process has already dealt with (saves the reconciler a re-verification).
    pub(super) seen: Mutex<lru::LruCache<(RepoName, CommitSha), ()>>,
    pub(super) mirror_lock: tokio::sync::Mutex<()>,
    /// Pushes of one repository are considered one after the other, so that a merge is
    /// verified after the earlier merges this process is running have their records.
    pub(super) push_order: Mutex<HashMap<RepoName, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) label_poll: Duration,
    /// Signs every note this executor writes; `None` writes them unsigned.
    pub(super) signing_key: Option<Arc<SigningKey>>,
    /// This data_dir's instance id, written into its claims (see [`super::instance`]).
    pub(super) instance: String,
    /// Outputs of the plans run here, by digest (see [`PLAN_OUTPUTS`]).
    pub(super) plan_outputs: Mutex<lru::LruCache<String, String>>,
}

impl Executor {
    pub fn new(
        config: Arc<ServerConfig>,
        gh: Arc<GitHub>,
        token: Option<Secret>,
        metrics: Metrics,
        dashboard: Dashboard,
    ) -> Self {
        let claim_secret = config
            .note_signing_key
            .iter()
            .chain(config.webhook_secrets.first())
            .find_map(|r| r.resolve().ok());
        Executor {
            claim_key: claim_secret
                .map(|s| super::instance::claim_key(s.expose().as_bytes()))
                .unwrap_or_default(),
            held: Arc::new(config.held_secret_values()),
            instance: super::instance::instance_id(&config.data_dir),
            renderer: Renderer::new(config.templates_dir.clone()),
            gh,
            config,
            token,
            metrics,
            dashboard,
            clone_urls: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            final_unposted: Mutex::new(std::collections::HashSet::new()),
            seen: Mutex::new(lru::LruCache::new(SEEN_ENTRIES)),
            push_order: Mutex::new(HashMap::new()),
            mirror_lock: tokio::sync::Mutex::new(()),
            label_poll: Duration::from_secs(2),
            signing_key: None,
            plan_outputs: Mutex::new(lru::LruCache::new(PLAN_OUTPUTS)),
        }
    }

    /// Signs every note written from now on with `key` (the resolved `note_signing_key`;
    /// resolving it is the caller's start-up step, so that a bad key stops the start).
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(Arc::new(key));
        self
    }

    /// Cancels a run in progress in this process; `false` when none is.
    pub fn cancel(&self, merge: &CommitSha) -> bool {
        match self.running.lock().ok().and_then(|r| r.get(merge).cloned()) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub(super) fn executor_config(&self, name: &str, repo: &RepoName) -> Option<ExecutorConfig> {
        let e = self.config.executors.get(name)?;
        (e.repos.is_empty() || e.repos.contains(repo)).then(|| e.clone())
    }

    /// The policy at M's first parent as decisions use it: each executor's program paths and
    /// each governed symlink's target governed by the rules that reach them.
    pub(super) fn governing_policy(
        &self,
        local: &LocalFacts,
    ) -> Result<crate::policy::RepoPolicy, crate::config::ConfigError> {
        let p = policy::parse_policy(POLICY_PATH, &local.policy_text)?;
        Ok(policy::links::govern_links(
            &policy::govern_programs(&p, &self.config.program_paths()),
            &local.links,
        ))
    }

    /// Where `prgate/execution` links to: the decision page of the PR prgate merged as
    /// `merge`, else the dashboard (which lists executions); nothing without `public_url`.
    pub(super) fn page_url(&self, repo: &RepoName, merge: &CommitSha) -> Option<String> {
        let pull = self.dashboard.pull_of_merge(repo, merge).map(|p| p.number);
        crate::dashboard::page_url(self.config.public_url.as_deref(), repo, pull)
    }
}
