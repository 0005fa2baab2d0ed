//! The HTTP surface of `prgate serve`, on two listeners: the public one answers the webhook
//! and the health and readiness probes and nothing else; the admin one serves the dashboard,
//! the decision pages and Prometheus metrics, behind `admin_token` when one is set.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::dashboard::Dashboard;
use crate::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use crate::render::Renderer;
use crate::webhook::handler::receive_webhook;
use crate::webhook::queue::Queue;

pub use crate::webhook::handler::AppState;

/// The public listener's routes: what GitHub and a load balancer need, and nothing else
/// (every other path is 404).
pub fn router(state: AppState) -> Router {
    Router::new()
        // The handler reads the body itself, under the size cap and the shared budget.
        .route("/webhook", post(receive_webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The cookie a browser may carry `admin_token` in (set by `POST /login`).
const ADMIN_COOKIE: &str = "prgate_admin_token";

/// What the admin listener's handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub queue: Queue,
    pub metrics: Metrics,
    pub dashboard: Dashboard,
    /// Renders the pages, preferring the operator's templates (`templates_dir`).
    pub renderer: Arc<Renderer>,
    /// When set, every request needs it (bearer token or cookie); `/login` sets the cookie.
    pub token: Option<Arc<Secret>>,
    /// Which `Host` headers name this listener (see [`AdminHosts`]).
    pub hosts: Arc<AdminHosts>,
}

/// The names a browser may use for the admin listener: its own address, `localhost` when it
/// listens on loopback (or everywhere), and `public_url`'s host. A page on another site that
/// rebinds its own name to this address (DNS rebinding) sends its own name as `Host`, and is
/// answered 421, so it reads nothing.
#[derive(Debug, Clone)]
pub struct AdminHosts {
    bound: std::net::IpAddr,
    public: Option<String>,
}

impl AdminHosts {
    pub fn new(bound: std::net::IpAddr, public_url: Option<&str>) -> Self {
        let public = public_url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()));
        AdminHosts { bound, public }
    }

    /// Whether `host` (a `Host` header's value, with or without a port) names this listener.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        // `[::1]:9090`, `127.0.0.1:9090`, `name:9090`, or any of them without the port.
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default().to_string(),
            None => host
                .rsplit_once(':')
                .map_or(host.as_str(), |(n, _)| n)
                .to_string(),
        };
        let name = name.trim_end_matches('.');
        if self.public.as_deref() == Some(name) {
            return true;
        }
        let everywhere = self.bound.is_unspecified();
        match name.parse::<std::net::IpAddr>() {
            // An address is never rebound: a page that uses one has that address as its origin.
            Ok(ip) => everywhere || ip == self.bound,
            Err(_) => name == "localhost" && (everywhere || self.bound.is_loopback()),
        }
    }
}

async fn require_own_host(
    State(hosts): State<Arc<AdminHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(h) if hosts.allows(h) => next.run(request).await,
        _ => (
            StatusCode::MISDIRECTED_REQUEST,
            "prgate: this listener answers only to its own address, localhost or public_url's host\n",
        )
            .into_response(),
    }
}

/// The admin listener's routes: the dashboard, the decision pages and metrics.
pub fn admin_router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/pulls/{owner}/{repo}/{number}", get(pull_page))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        // Outside the token check: the way in.
        .route("/login", get(login_form).post(login))
        .with_state(state.clone())
        // Outermost: a request for another name reaches nothing, the login form included.
        .layer(middleware::from_fn_with_state(
            state.hosts,
            require_own_host,
        ))
}

/// Whether `given` is the token, in time that does not depend on where they differ (both
/// are hashed first, so not on their lengths either).
fn token_matches(token: &Secret, given: &str) -> bool {
    let want = Sha256::digest(token.expose().as_bytes());
    let got = Sha256::digest(given.as_bytes());
    want.ct_eq(&got).into()
}

/// The token a request carries: `Authorization: Bearer …`, else the cookie.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == ADMIN_COOKIE)
            .map(|(_, value)| value.to_string())
    })
}

async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    match presented_token(request.headers()) {
        Some(given) if token_matches(token, &given) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"prgate\"")],
            "prgate's pages need admin_token: send `Authorization: Bearer <token>`, or sign in at /login\n",
        )
            .into_response(),
    }
}

async fn login_form(State(state): State<AdminState>) -> Response {
    match state
        .renderer
        .render(LOGIN_TEMPLATE, &serde_json::json!({ "failed": false }))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => render_failed(e),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(state): State<AdminState>, form: axum::Form<LoginForm>) -> Response {
    let Some(token) = &state.token else {
        return Redirect::to("./").into_response();
    };
    if token_matches(token, &form.token) {
        let cookie = format!(
            "{ADMIN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            form.token
        );
        // A token with characters a cookie cannot hold can still be sent as a bearer token.
        if let Ok(cookie) = header::HeaderValue::from_str(&cookie) {
            return ([(header::SET_COOKIE, cookie)], Redirect::to("./")).into_response();
        }
    }
    match state
        .renderer
        .render(LOGIN_TEMPLATE, &serde_json::json!({ "failed": true }))
    {
        Ok(html) => (StatusCode::UNAUTHORIZED, Html(html)).into_response(),
        Err(e) => render_failed(e),
    }
}

const LOGIN_TEMPLATE: &str = "login.html.j2";

fn render_failed(e: crate::render::RenderError) -> Response {
    tracing::error!(error = %e, "cannot render an admin page");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{e}; check the templates in templates_dir\n"),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.ready.not_ready() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")).into_response(),
    }
}

async fn metrics(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    state.metrics.queue_depth(state.queue.depth());
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if wants_openmetrics {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            state.metrics.render_openmetrics(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            state.metrics.render(),
        )
            .into_response()
    }
}

async fn dashboard(State(state): State<AdminState>) -> Response {
    match state.dashboard.render_dashboard(&state.renderer) {
        Ok(html) => Html(html).into_response(),
        Err(e) => render_failed(e),
    }
}

async fn pull_page(
    State(state): State<AdminState>,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Response {
    let Some(pull) = crate::dashboard::parse_pull_path(&owner, &repo, &number) else {
        return (
            StatusCode::NOT_FOUND,
            "not a pull request: /pulls/<owner>/<repo>/<number>\n",
        )
            .into_response();
    };
    match state.dashboard.render_pull(&state.renderer, &pull) {
        Ok(Some(html)) => Html(html).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            format!(
                "prgate has not evaluated {pull} since it started; open pull requests of governed repositories appear after the reconciler's pass\n"
            ),
        )
            .into_response(),
        Err(e) => render_failed(e),
    }
}
