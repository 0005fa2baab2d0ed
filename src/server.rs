//! HTTP router (placeholder with the agreed API; the real one lands with the webhook work).
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Secret;
use crate::dashboard::Dashboard;
use crate::metrics::Metrics;
use crate::webhook::Queue;

#[derive(Clone)]
pub struct AppState {
    pub secrets: Arc<Vec<Secret>>,
    pub queue: Queue,
    pub metrics: Metrics,
    pub dashboard: Dashboard,
    pub ready: Arc<AtomicBool>,
}

pub fn router(_state: AppState) -> axum::Router {
    axum::Router::new()
}
