//! `/_sim/*`: test control, not part of GitHub's API (see the module docs of `sim`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use serde_json::json;

use crate::Fault;
use crate::Sim;
use crate::http::{ApiResult, ok, parse_body};

pub async fn faults(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let fault: Fault = parse_body(&body)?;
    sim.inject_fault(fault);
    ok(json!({ "ok": true }))
}

pub async fn stats(State(sim): State<Arc<Sim>>) -> ApiResult {
    ok(sim.stats())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHook {
    url: String,
    secret: String,
}

pub async fn hooks(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let h: NewHook = parse_body(&body)?;
    let id = sim.add_hook(&h.url, &h.secret);
    ok(json!({ "id": id }))
}

pub async fn refresh(State(sim): State<Arc<Sim>>) -> ApiResult {
    let s = sim.clone();
    tokio::task::spawn_blocking(move || s.refresh())
        .await
        .map_err(crate::http::ApiError::internal)?;
    ok(json!({ "ok": true }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockMove {
    advance_secs: u64,
}

/// Moves the simulator's clock forward (merge queue timeouts) and advances the queues.
pub async fn clock(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let c: ClockMove = parse_body(&body)?;
    let s = sim.clone();
    tokio::task::spawn_blocking(move || {
        s.advance_clock(std::time::Duration::from_secs(c.advance_secs))
    })
    .await
    .map_err(crate::http::ApiError::internal)?;
    ok(json!({ "ok": true }))
}
