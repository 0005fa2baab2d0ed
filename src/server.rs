//! The HTTP surface of `prgate serve`: the webhook, health and readiness probes, Prometheus
//! metrics and the dashboard.

use crate::readiness::Readiness;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::config::Secret;
use crate::dashboard::Dashboard;
use crate::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use crate::webhook::handler::receive_webhook;
use crate::webhook::intake::BodyIntake;
use crate::webhook::queue::Queue;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Every configured webhook secret; a delivery signed with any of them is accepted.
    pub secrets: Arc<Vec<Secret>>,
    pub queue: Queue,
    pub metrics: Metrics,
    pub dashboard: Dashboard,
    /// Whether the service can do its work, and why not; `/readyz` reports it.
    pub ready: Readiness,
    /// The budget and deadline webhook bodies are read under (`[http]` in the config).
    pub intake: BodyIntake,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        // The handler reads the body itself, under the size cap and the shared budget.
        .route("/webhook", post(receive_webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(dashboard))
        .with_state(state)
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

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
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

async fn dashboard(State(state): State<AppState>) -> Html<String> {
    Html(state.dashboard.render_html())
}
