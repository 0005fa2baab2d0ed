//! The transport under every code host call: octocrab for HTTP and auth, with our own
//! timeout, bounded retries, rate-limit respect and ETag conditional reads, so that no call can
//! hang the gate, a transient failure is retried a bounded number of times, and re-reading an
//! unchanged resource costs no rate limit.
//!
//! octocrab quirk: it only attaches the token when the request URI has no authority (or is
//! api.github.com), so every request here is built from a path relative to `base_uri`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;

use super::app::{
    ApiAccessToken, ApiInstallation, AppAuth, InstallationToken, bearer, is_app_path, scope_of,
};
use super::endpoints::Endpoints;
use crate::config::Secret;
use crate::error_chain::{BoxError, chain};
use crate::metrics::Metrics;
use crate::types::RepoName;

use super::budget::{BudgetView, RateState, budget_of, secondary_limit_wait};

/// A code host call that did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("{method} {path}: GitHub answered {status}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: no answer from GitHub: {} (code host {host})", chain(.source.as_ref()))]
    Transport {
        method: String,
        path: String,
        /// The API address asked, so that "connection refused" says who refused.
        host: String,
        #[source]
        source: BoxError,
    },
    #[error("{method} {path}: no answer within {seconds}s")]
    Timeout {
        method: String,
        path: String,
        seconds: u64,
    },
    #[error("{path}: unexpected response from GitHub: {message}")]
    Decode { path: String, message: String },
    /// An answer that does not parse as what the endpoint returns.
    #[error("{path}: unexpected response from GitHub: {}", chain(.source.as_ref()))]
    Malformed {
        path: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot set up the GitHub client for {api_url}: {context}: {}", chain(.source.as_ref()))]
    Setup {
        api_url: String,
        context: String,
        #[source]
        source: BoxError,
    },
    #[error("{path}: GitHub App authentication: {message}")]
    App { path: String, message: String },
    #[error("{path}: GitHub App authentication: {context}: {}", chain(.source.as_ref()))]
    AppFailed {
        path: String,
        context: String,
        #[source]
        source: BoxError,
    },
    /// A GraphQL answer (HTTP 200) that carries an `errors` array or lacks what was asked.
    #[error("POST /graphql ({operation}): {message}")]
    GraphQl { operation: String, message: String },
}

impl GitHubError {
    /// The HTTP status, when GitHub answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the request may or may not have been acted on: no answer, or a server error.
    /// A write that ends so must be read back before it is tried again.
    pub(crate) fn is_ambiguous(&self) -> bool {
        match self {
            GitHubError::Transport { .. } | GitHubError::Timeout { .. } => true,
            GitHubError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Tunables for the transport; the defaults suit a production gate.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit for one attempt of one call.
    pub timeout: Duration,
    /// Attempts after the first, for transport errors, timeouts and 5xx.
    pub retries: u32,
    pub backoff: Duration,
    /// Keep this many requests of the hourly budget in reserve; below it, wait for the reset.
    pub rate_limit_reserve: u64,
    /// The longest we wait for a rate-limit reset before giving up with an error.
    pub max_rate_limit_wait: Duration,
    pub etag_cache_entries: usize,
    /// With a GitHub App: replace an installation token this long before it expires.
    pub app_token_refresh_margin: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(250),
            rate_limit_reserve: 50,
            max_rate_limit_wait: Duration::from_secs(900),
            etag_cache_entries: 4096,
            app_token_refresh_margin: super::app::DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// True when the body came from our cache after a 304.
    pub not_modified: bool,
}

impl ApiResponse {
    pub fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|e| GitHubError::Malformed {
            path: path.to_string(),
            source: e.into(),
        })
    }

    /// The URL of the next page from a `Link` header, as a path relative to the API root.
    /// Hand-written: only `rel="next"` of GitHub's own fixed form (`<url>; rel="next", ...`) is
    /// read, which a general RFC 8288 parser would not make safer.
    pub(crate) fn next_page(&self, api_url: &str) -> Option<String> {
        let link = self.headers.get(http::header::LINK)?.to_str().ok()?;
        link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            if !rel.contains("rel=\"next\"") {
                return None;
            }
            let url = url.trim().trim_start_matches('<').trim_end_matches('>');
            Some(url.strip_prefix(api_url).unwrap_or(url).to_string())
        })
    }
}

/// Conditional-read cache: the last ETag and body per path, the least recently used
/// dropped past the bound.
type EtagCache = lru::LruCache<String, (HeaderValue, Bytes)>;

/// How the transport authenticates.
pub enum Credentials<'a> {
    /// Unauthenticated (only useful against public data).
    None,
    /// A personal or fine-grained token, the same for every request.
    Token(&'a Secret),
    /// A GitHub App: its JWT for `/app/...`, and for everything else the installation token
    /// of the account (owner or org) the request is for.
    App {
        app_id: u64,
        private_key: &'a Secret,
    },
}

/// The HTTP transport to one code host with one credential.
pub struct Transport {
    octo: Octocrab,
    app: Option<AppAuth>,
    api_url: String,
    /// Where REST and GraphQL live: octocrab is given the host alone, and each request the
    /// path under it, so that GraphQL can live outside the REST API's path (as on GHES).
    endpoints: Endpoints,
    options: ClientOptions,
    metrics: Metrics,
    etags: Mutex<EtagCache>,
    /// GitHub counts the rate limit per installation (or per token) and per resource
    /// (`core`, `graphql`, ...), so one installation running dry must not hold up another's
    /// repositories: one state per budget, see [`budget_of`].
    rate: Mutex<HashMap<String, RateState>>,
    calls: AtomicU64,
    by_endpoint: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Transport {
    pub fn new(
        api_url: &str,
        token: Option<&Secret>,
        options: ClientOptions,
        metrics: Metrics,
    ) -> Result<Self, GitHubError> {
        let credentials = match token {
            Some(t) => Credentials::Token(t),
            None => Credentials::None,
        };
        Self::with_credentials(api_url, credentials, options, metrics)
    }

    /// A transport to the API at `api_url`, GraphQL where GitHub serves it for that URL.
    pub fn with_credentials(
        api_url: &str,
        credentials: Credentials<'_>,
        options: ClientOptions,
        metrics: Metrics,
    ) -> Result<Self, GitHubError> {
        // octocrab panics inside its service on some URLs it accepted (no host, odd
        // schemes): it only ever sees one that parsed as http(s) with a host.
        let endpoints = Endpoints::derive(api_url, None).map_err(|message| GitHubError::Setup {
            api_url: api_url.trim_end_matches('/').to_string(),
            context: "the API address".into(),
            source: message.into(),
        })?;
        Self::with_endpoints(endpoints, credentials, options, metrics)
    }

    /// A transport to the code host at `endpoints`.
    pub fn with_endpoints(
        endpoints: Endpoints,
        credentials: Credentials<'_>,
        options: ClientOptions,
        metrics: Metrics,
    ) -> Result<Self, GitHubError> {
        let api_url = endpoints.rest.clone();
        let setup_err = |context: &str, source: octocrab::Error| GitHubError::Setup {
            api_url: api_url.clone(),
            context: context.to_string(),
            source: source.into(),
        };
        let mut builder = Octocrab::builder()
            .base_uri(endpoints.origin.as_str())
            .map_err(|e| setup_err("the API address", e))?
            // We own the retries (bounded, with backoff) so that octocrab does not add its own.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(options.timeout))
            .set_read_timeout(Some(options.timeout))
            .set_write_timeout(Some(options.timeout));
        // With an app, octocrab carries no credential: the transport sets the header per
        // request, since the token depends on which installation the request is for.
        let mut app = None;
        match credentials {
            Credentials::None => {}
            Credentials::Token(token) => {
                builder = builder.personal_token(token.expose().to_string());
            }
            Credentials::App {
                app_id,
                private_key,
            } => {
                app = Some(AppAuth::new(
                    &api_url,
                    app_id,
                    private_key,
                    options.app_token_refresh_margin,
                )?);
            }
        }
        let octo = builder
            .build()
            .map_err(|e| setup_err("the HTTP client", e))?;
        let capacity = options.etag_cache_entries.max(1);
        Ok(Transport {
            octo,
            app,
            api_url,
            endpoints,
            options,
            metrics,
            etags: Mutex::new(EtagCache::new(
                std::num::NonZeroUsize::new(capacity).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            rate: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
            by_endpoint: Mutex::new(Default::default()),
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Where this transport sends REST and GraphQL calls.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// How many HTTP requests this transport has made (including 304s).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Requests made so far per `METHOD endpoint-template` (304s included).
    pub fn calls_by_endpoint(&self) -> std::collections::BTreeMap<String, u64> {
        self.by_endpoint
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// A GET that sends `If-None-Match` when we have read the path before and answers from
    /// the cache on 304. Non-2xx answers are errors.
    pub async fn get(&self, path: &str) -> Result<ApiResponse, GitHubError> {
        self.request_with(Method::GET, path, path, None, true).await
    }

    /// A GET whose 404 is an answer (`Ok(None)`), not an error.
    pub(crate) async fn get_optional(
        &self,
        path: &str,
    ) -> Result<Option<ApiResponse>, GitHubError> {
        match self.get(path).await {
            Ok(r) => Ok(Some(r)),
            Err(GitHubError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A GET of a path that names no repository (`/user/{id}`), made for `repo`: with a GitHub
    /// App it goes out with the installation token of `repo`'s owner.
    pub(crate) async fn get_for(
        &self,
        repo: &RepoName,
        path: &str,
    ) -> Result<ApiResponse, GitHubError> {
        let scope = format!("/repos/{repo}");
        self.request_with(Method::GET, path, &scope, None, true)
            .await
    }

    /// Any request; non-2xx answers are errors that carry GitHub's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, GitHubError> {
        self.request_with(method, path, path, body, false).await
    }

    /// A GraphQL query (`POST /graphql`) about `repo`. A query changes nothing, so unlike
    /// other POSTs it is retried like a GET; with a GitHub App it goes out with the
    /// installation token of `repo`'s owner (the path names no repository).
    pub async fn graphql(
        &self,
        repo: &RepoName,
        body: &serde_json::Value,
    ) -> Result<ApiResponse, GitHubError> {
        let scope = format!("/repos/{repo}");
        self.request_with(Method::POST, GRAPHQL_PATH, &scope, Some(body), false)
            .await
    }

    /// True when authenticating as a GitHub App.
    pub(crate) fn is_app(&self) -> bool {
        self.app.is_some()
    }

    /// The GitHub App's id, when the transport authenticates as one.
    pub fn app_id(&self) -> Option<u64> {
        self.app.as_ref().map(|a| a.app_id())
    }

    /// With a GitHub App, the installation token of `repo`'s owner for git over https
    /// (fetched or refreshed as needed); `None` with a configured token, which the caller
    /// already holds and uses for git itself.
    pub(crate) async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, GitHubError> {
        if self.app.is_none() {
            return Ok(None);
        }
        let path = format!("/repos/{repo}");
        self.installation_token(&path, None)
            .await
            .map(|t| t.map(|t| t.token))
    }

    /// `scope` is the path whose owner's installation token authenticates (the path itself,
    /// except for GraphQL).
    async fn request_with(
        &self,
        method: Method,
        path: &str,
        scope: &str,
        body: Option<&serde_json::Value>,
        conditional: bool,
    ) -> Result<ApiResponse, GitHubError> {
        let Some(app) = &self.app else {
            let budget = budget_of("token", path);
            return self
                .request_as(&method, path, body, conditional, None, &budget)
                .await;
        };
        if is_app_path(path) {
            let jwt = app.jwt()?;
            let budget = budget_of("app", path);
            return self
                .request_as(&method, path, body, conditional, Some(&jwt), &budget)
                .await;
        }
        let token = self.installation_token(scope, None).await?;
        let header = token_header(token.as_ref(), path)?;
        let owner = scope_of(scope).map(|(o, _)| o).unwrap_or_default();
        let budget = budget_of(&format!("installation:{owner}"), path);
        match self
            .request_as(&method, path, body, conditional, header.as_ref(), &budget)
            .await
        {
            // The token may have been revoked or expired early: fetch a new one, once.
            Err(GitHubError::Status { status: 401, .. }) => {
                tracing::info!(path, "installation token refused; fetching a new one");
                let refused = token.as_ref().map(|t| &t.token);
                let token = self.installation_token(scope, refused).await?;
                let header = token_header(token.as_ref(), path)?;
                self.request_as(&method, path, body, conditional, header.as_ref(), &budget)
                    .await
            }
            other => other,
        }
    }

    /// The installation token for the account `path` is for. A token that was `refused` (401)
    /// is replaced, unless another caller has replaced it already.
    async fn installation_token(
        &self,
        path: &str,
        refused: Option<&Secret>,
    ) -> Result<Option<InstallationToken>, GitHubError> {
        let Some(app) = &self.app else {
            return Ok(None);
        };
        let Some((owner, repo)) = scope_of(path) else {
            return Err(GitHubError::App {
                path: path.to_string(),
                message: "a GitHub App acts through the installation on a repository's owner or an org; this request names neither".into(),
            });
        };
        let mut tokens = app.lock().await;
        let installation = match tokens.installation_of(&owner) {
            Some(id) => id,
            None => {
                let lookup = match &repo {
                    Some(repo) => format!("/repos/{owner}/{repo}/installation"),
                    None => format!("/orgs/{owner}/installation"),
                };
                let jwt = app.jwt()?;
                let found = self
                    .request_as(&Method::GET, &lookup, None, false, Some(&jwt), "app/core")
                    .await
                    .map_err(|e| match e.status() {
                        Some(404) => GitHubError::App {
                            path: path.to_string(),
                            message: format!(
                                "the GitHub App (id {}) is not installed on {owner}; install it there",
                                app.app_id()
                            ),
                        },
                        _ => e,
                    })?;
                let id = found.json::<ApiInstallation>(&lookup)?.id;
                tokens.set_installation(&owner, id);
                id
            }
        };
        if let Some(t) = tokens.fresh_token(installation)
            && refused != Some(&t.token)
        {
            return Ok(Some(t));
        }
        let create = format!("/app/installations/{installation}/access_tokens");
        let jwt = app.jwt()?;
        let answer = match self
            .request_as(&Method::POST, &create, None, false, Some(&jwt), "app/core")
            .await
        {
            Ok(r) => r.json::<ApiAccessToken>(&create)?,
            Err(e) => {
                // Uninstalled (or reinstalled under a new id): look it up again next time.
                if e.status() == Some(404) {
                    tokens.forget_installation(&owner);
                }
                return Err(e);
            }
        };
        let token = InstallationToken {
            token: Secret::new(answer.token),
            expires_at: answer.expires_at,
        };
        tracing::debug!(%owner, installation, expires_at = %token.expires_at, "new installation token");
        tokens.set_token(installation, token.clone());
        Ok(Some(token))
    }

    /// The transport's retries: `retries` after the first try, pausing from `backoff`.
    fn retry(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            tries: self.options.retries + 1,
            first_pause: self.options.backoff,
        }
    }

    async fn request_as(
        &self,
        method: &Method,
        path: &str,
        body: Option<&serde_json::Value>,
        conditional: bool,
        auth: Option<&HeaderValue>,
        budget: &str,
    ) -> Result<ApiResponse, GitHubError> {
        let method = method.clone();
        let mut attempt = 0;
        // The pauses are `retry::Backoff`'s; the loop is here because each retry must first
        // wait out GitHub's rate-limit headers and `Retry-After`, and only reads (and
        // append-only writes) are retried, which a generic retry crate's policy would not know.
        loop {
            self.respect_rate_limit(&method, path, budget).await?;
            let result = self
                .attempt(&method, path, body, conditional, auth, budget)
                .await;
            // A secondary rate limit (429, or 403 with Retry-After) means the request was not
            // acted on: waiting as told and sending it again is safe for any method.
            if let Ok(r) = &result
                && let Some(wait) = secondary_limit_wait(r.status, &r.headers)
                && attempt < self.options.retries
                && wait <= self.options.max_rate_limit_wait
            {
                attempt += 1;
                tracing::warn!(%method, path, wait_seconds = wait.as_secs(), "secondary rate limit; waiting as GitHub asks");
                tokio::time::sleep(wait).await;
                continue;
            }
            // Otherwise only idempotent calls are retried blindly: a POST that timed out may
            // have been acted on (a comment posted, a ref created), and sending it again
            // would do it twice.
            // A GraphQL query is a read sent as a POST.
            let idempotent = !matches!(method, Method::POST) || path == GRAPHQL_PATH;
            let retryable = idempotent
                && match &result {
                    Ok(r) => r.status.is_server_error(),
                    Err(GitHubError::Transport { .. } | GitHubError::Timeout { .. }) => true,
                    Err(_) => false,
                };
            if !retryable || attempt >= self.options.retries {
                return match result {
                    Ok(r) if r.status.is_success() || r.status == StatusCode::NOT_MODIFIED => Ok(r),
                    Ok(r) => Err(status_error(&method, path, &r)),
                    Err(e) => Err(e),
                };
            }
            let wait = self.retry().pause(attempt);
            attempt += 1;
            tracing::warn!(
                %method,
                path,
                attempt,
                wait = %humantime::format_duration(wait),
                "retrying GitHub call"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&serde_json::Value>,
        conditional: bool,
        auth: Option<&HeaderValue>,
        budget: &str,
    ) -> Result<ApiResponse, GitHubError> {
        // REST under the API URL's path; GraphQL where GitHub serves it for that URL.
        let uri = if path == GRAPHQL_PATH {
            self.endpoints.graphql_path.clone()
        } else {
            format!("{}{path}", self.endpoints.rest_prefix)
        };
        let mut builder = http::Request::builder().method(method.clone()).uri(uri);
        if let Some(auth) = auth {
            builder = builder.header(http::header::AUTHORIZATION, auth.clone());
        }
        let cached = if conditional {
            self.etags
                .lock()
                .ok()
                .and_then(|mut c| c.get(path).cloned())
        } else {
            None
        };
        if let Some((etag, _)) = &cached {
            builder = builder.header(http::header::IF_NONE_MATCH, etag.clone());
        }
        builder = builder
            .header(http::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        let request =
            self.octo
                .build_request(builder, body)
                .map_err(|e| GitHubError::Transport {
                    method: method.to_string(),
                    path: path.to_string(),
                    host: self.api_url.clone(),
                    source: e.into(),
                })?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.by_endpoint.lock() {
            *m.entry(format!("{method} {}", endpoint_template(path)))
                .or_default() += 1;
        }
        let started = Instant::now();
        // The code host's address belongs in the message: "connection refused" alone does not
        // say which host refused.
        let transport_err = |source: BoxError| GitHubError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            host: self.api_url.clone(),
            source,
        };
        let exchange = async {
            let response = self
                .octo
                .execute(request)
                .await
                .map_err(|e| transport_err(e.into()))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| transport_err(e.into()))?
                .to_bytes();
            Ok::<_, GitHubError>((parts, body))
        };
        let outcome = tokio::time::timeout(self.options.timeout, exchange).await;
        let seconds = started.elapsed().as_secs_f64();
        let endpoint = endpoint_template(path);
        let (parts, body) = match outcome {
            Err(_) => {
                self.metrics
                    .api_call(method.as_str(), &endpoint, 0, seconds);
                return Err(GitHubError::Timeout {
                    method: method.to_string(),
                    path: path.to_string(),
                    seconds: self.options.timeout.as_secs(),
                });
            }
            Ok(Err(e)) => {
                self.metrics
                    .api_call(method.as_str(), &endpoint, 0, seconds);
                return Err(e);
            }
            Ok(Ok(x)) => x,
        };
        self.metrics
            .api_call(method.as_str(), &endpoint, parts.status.as_u16(), seconds);
        self.note_rate_limit(budget, &parts.headers);
        if parts.status == StatusCode::NOT_MODIFIED
            && let Some((_, cached_body)) = cached
        {
            return Ok(ApiResponse {
                status: StatusCode::OK,
                headers: parts.headers,
                body: cached_body,
                not_modified: true,
            });
        }
        if conditional
            && parts.status.is_success()
            && let (Some(etag), Ok(mut cache)) =
                (parts.headers.get(http::header::ETAG), self.etags.lock())
        {
            cache.put(path.to_string(), (etag.clone(), body.clone()));
        }
        Ok(ApiResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            not_modified: false,
        })
    }

    fn note_rate_limit(&self, budget: &str, headers: &HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Ok(mut rate) = self.rate.lock()
            && let Some(remaining) = num("x-ratelimit-remaining")
        {
            let state = rate.entry(budget.to_string()).or_default();
            state.remaining = Some(remaining);
            state.limit = num("x-ratelimit-limit");
            self.metrics.rate_limit_remaining(budget, remaining);
            state.reset_epoch = num("x-ratelimit-reset");
        }
    }

    /// Waits for the rate-limit window to reset when we are down to the reserve, so that the
    /// budget never runs out mid-decision. A wait longer than allowed is an error (the decision
    /// becomes `error`, never a pass).
    async fn respect_rate_limit(
        &self,
        method: &Method,
        path: &str,
        budget: &str,
    ) -> Result<(), GitHubError> {
        let state = self
            .rate
            .lock()
            .ok()
            .and_then(|r| r.get(budget).copied())
            .unwrap_or_default();
        let (Some(remaining), Some(reset)) = (state.remaining, state.reset_epoch) else {
            return Ok(());
        };
        if remaining > self.options.rate_limit_reserve {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        if reset <= now {
            return Ok(());
        }
        let wait = Duration::from_secs(reset - now + 1);
        if wait > self.options.max_rate_limit_wait {
            return Err(GitHubError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status: 429,
                message: format!(
                    "rate limit of {budget} nearly exhausted ({remaining} left) and the reset is {}s away",
                    wait.as_secs()
                ),
            });
        }
        tracing::warn!(
            budget,
            remaining,
            wait_seconds = wait.as_secs(),
            "rate limit low; waiting for reset"
        );
        tokio::time::sleep(wait).await;
        if let Ok(mut rate) = self.rate.lock()
            && let Some(state) = rate.get_mut(budget)
        {
            state.remaining = None;
        }
        Ok(())
    }
}

impl Transport {
    /// Every budget GitHub has answered on so far, by name.
    pub(crate) fn budgets(&self) -> Vec<BudgetView> {
        let Ok(rate) = self.rate.lock() else {
            return Vec::new();
        };
        let mut out: Vec<BudgetView> = rate
            .iter()
            .filter_map(|(name, s)| {
                Some(BudgetView {
                    name: name.clone(),
                    remaining: s.remaining?,
                    limit: s.limit,
                    reset_epoch: s.reset_epoch,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// A budget that `repo`'s requests spend (REST or GraphQL, of the installation on its
    /// owner or of the token) with less than `share` of its limit left, if there is one.
    pub(crate) fn low_budget(&self, repo: &RepoName, share: f64) -> Option<BudgetView> {
        let credential = if self.app.is_some() {
            format!("installation:{}", repo.owner())
        } else {
            "token".to_string()
        };
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        self.budgets().into_iter().find(|b| {
            b.name
                .rsplit_once('/')
                .is_some_and(|(c, _)| c.eq_ignore_ascii_case(&credential))
                && b.below(share, now)
        })
    }
}

fn token_header(
    token: Option<&InstallationToken>,
    path: &str,
) -> Result<Option<HeaderValue>, GitHubError> {
    token.map(|t| bearer(t.token.expose(), path)).transpose()
}

fn status_error(method: &Method, path: &str, r: &ApiResponse) -> GitHubError {
    let message = serde_json::from_slice::<super::models::ApiErrorBody>(&r.body)
        .map(|b| b.message)
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            r.status
                .canonical_reason()
                .unwrap_or("unknown status")
                .to_string()
        });
    GitHubError::Status {
        method: method.to_string(),
        path: path.to_string(),
        status: r.status.as_u16(),
        message,
    }
}

/// The logical path of GraphQL calls inside prgate (budgets, metrics, messages); the request
/// goes to the endpoint's real path ([`Endpoints`]).
const GRAPHQL_PATH: &str = "/graphql";

/// A low-cardinality name for a path, for metrics: numbers, SHAs and names become `{}`.
fn endpoint_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let prev = if i > 0 { segments[i - 1] } else { "" };
        let keep = matches!(
            *seg,
            "" | "repos"
                | "pulls"
                | "reviews"
                | "commits"
                | "files"
                | "compare"
                | "contents"
                | "statuses"
                | "status"
                | "merge"
                | "git"
                | "refs"
                | "ref"
                | "matching-refs"
                | "orgs"
                | "teams"
                | "members"
                | "memberships"
                | "issues"
                | "comments"
                | "labels"
                | "user"
                | "users"
                | "dismissals"
                | "app"
                | "installation"
                | "installations"
                | "access_tokens"
                | "graphql"
                | "check-runs"
        ) && !(prev == "repos" || prev == "orgs" || prev == "teams" || prev == "users");
        out.push(if keep { *seg } else { "{}" });
    }
    let mut s = out.join("/");
    // Collapse `{}/{}` runs (owner/repo, paths inside contents) to one placeholder.
    while s.contains("{}/{}") {
        s = s.replace("{}/{}", "{}");
    }
    s
}

/// The host part of a URL, for messages; the whole text when it has none.
pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_templates_hide_identifiers() {
        assert_eq!(
            endpoint_template("/repos/acme/infra/pulls/42"),
            "/repos/{}/pulls/{}"
        );
        assert_eq!(
            endpoint_template("/repos/acme/infra/pulls/42/reviews?per_page=100"),
            "/repos/{}/pulls/{}/reviews"
        );
        assert_eq!(
            endpoint_template("/repos/acme/infra/contents/.github/prgate.toml"),
            "/repos/{}/contents/{}"
        );
        assert_eq!(
            endpoint_template("/orgs/acme/teams/netops/members"),
            "/orgs/{}/teams/{}/members"
        );
    }

    /// A GHES-shaped server: REST answers only under `/api/v3`, GraphQL only at `/api/graphql`.
    #[tokio::test]
    async fn a_ghes_api_url_sends_rest_under_it_and_graphql_to_api_graphql() {
        use axum::routing::{get, post};
        let app = axum::Router::new()
            .route(
                "/api/v3/user",
                get(|| async { axum::Json(serde_json::json!({"login": "prgate", "id": 1})) }),
            )
            .route(
                "/api/graphql",
                post(|| async { axum::Json(serde_json::json!({"data": {"ok": true}})) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let transport = Transport::new(
            &format!("http://{addr}/api/v3"),
            None,
            ClientOptions::default(),
            Metrics::new(),
        )
        .unwrap();
        let user = transport.get("/user").await.unwrap();
        assert_eq!(user.status, 200);
        let repo: RepoName = "acme/infra".parse().unwrap();
        let answer = transport
            .graphql(&repo, &serde_json::json!({"query": "{ ok }"}))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
    }

    /// A refused connection keeps hyper's cause chain: the log line says which host refused
    /// and why, and the cause stays typed for whoever matches on it.
    #[tokio::test]
    async fn a_refused_connection_keeps_its_whole_cause_chain() {
        // Bind, then drop, so the port is closed for certain.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api_url = format!("http://127.0.0.1:{port}");
        let transport =
            Transport::new(&api_url, None, ClientOptions::default(), Metrics::new()).unwrap();
        let e = transport.get("/user").await.unwrap_err();
        assert!(matches!(e, GitHubError::Transport { .. }), "{e:?}");
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&api_url), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }
}
