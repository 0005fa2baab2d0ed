//! The axum handler for `POST /webhook`: cap the body, verify the signature, decode, persist,
//! answer. It never does the work itself (the gate's worker does), and never answers 5xx for
//! anything the sender controls; a valid delivery gets 503 only when the queue cannot store it
//! or too many bodies are arriving at once (see `intake`), so that GitHub redelivers.

use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use crate::webhook::decode::decode_event;
use crate::webhook::event::{Delivery, Event};
use crate::webhook::intake::{IntakeError, VerifiedBody};
use crate::webhook::queue::{Enqueued, QueueError};
use crate::webhook::signature::{SIGNATURE_HEADER, SignatureCheck};
use std::sync::Arc;

use crate::config::Secret;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::webhook::intake::BodyIntake;
use crate::webhook::queue::Queue;

/// GitHub's own cap on a delivery's size; nothing larger is read.
const MAX_BODY_BYTES: usize = crate::config::MAX_WEBHOOK_BODY_BYTES;

const EVENT_HEADER: &str = "x-github-event";
const DELIVERY_HEADER: &str = "x-github-delivery";

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Delivery ids are GUIDs; anything printable and short is accepted as the dedupe key.
fn valid_delivery_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

fn valid_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// An error answered before the body was read whole: the connection cannot carry another
/// request, so the client is told it closes.
fn error_and_close(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let mut response = error(status, message);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// What the public listener's handlers share (the webhook's secrets, queue and intake).
#[derive(Clone)]
pub struct AppState {
    /// Every configured webhook secret; a delivery signed with any of them is accepted.
    pub secrets: Arc<Vec<Secret>>,
    pub queue: Queue,
    pub metrics: Metrics,
    /// Whether the service can do its work, and why not; `/readyz` reports it.
    pub ready: Readiness,
    /// The budget and deadline webhook bodies are read under (`[http]` in the config).
    pub intake: BodyIntake,
}

/// `POST /webhook`.
pub(crate) async fn receive_webhook(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let headers = request.headers();
    let event_name = header_str(headers, EVENT_HEADER).unwrap_or("").to_string();
    let delivery_id = header_str(headers, DELIVERY_HEADER)
        .unwrap_or("")
        .to_string();
    // Only printable, bounded header values reach the span and the logs.
    let span = tracing::info_span!(
        "webhook",
        delivery = %delivery_id.chars().take(128).collect::<String>().escape_default(),
        event = %event_name.chars().take(64).collect::<String>().escape_default(),
        repo = tracing::field::Empty,
        pull = tracing::field::Empty,
        head = tracing::field::Empty,
    );
    let metrics = state.metrics.clone();
    let (outcome, response) = handle(state, request, &event_name, &delivery_id)
        .instrument(span.clone())
        .await;
    let metric_event = if valid_event_name(&event_name) {
        event_name.as_str()
    } else {
        "unknown"
    };
    metrics.delivery(metric_event, outcome);
    metrics.webhook_latency(started.elapsed().as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            outcome,
            status = response.status().as_u16(),
            "answered webhook delivery"
        )
    });
    response
}

/// Reads the body within the intake's limits and checks its signature; a refusal is the
/// outcome for the metrics and the answer.
async fn read_verified(
    state: &AppState,
    request: Request,
    check: SignatureCheck,
) -> Result<VerifiedBody, (&'static str, Response)> {
    match state.intake.read_verified(request.into_body(), check).await {
        Ok(verified) => Ok(verified),
        Err(IntakeError::TooLarge) => Err(("too_large", too_large())),
        Err(e @ IntakeError::Busy) => {
            tracing::warn!("refused a webhook delivery: the body budget stayed full");
            let mut response = error_and_close(StatusCode::SERVICE_UNAVAILABLE, e);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Err(("busy", response))
        }
        Err(e @ IntakeError::TimedOut(_)) => {
            tracing::warn!(error = %e, "refused a webhook delivery whose body came too slowly");
            Err(("timeout", error_and_close(StatusCode::REQUEST_TIMEOUT, e)))
        }
        Err(e @ IntakeError::Read(_)) => {
            Err(("bad_request", error_and_close(StatusCode::BAD_REQUEST, e)))
        }
        Err(IntakeError::Signature(e)) => {
            tracing::warn!(error = %e, "refused a webhook delivery with a missing or bad signature");
            Err(("unauthorized", error(StatusCode::UNAUTHORIZED, e)))
        }
    }
}

/// What is wrong with the event and delivery headers, if anything.
fn header_problem(event_name: &str, delivery_id: &str) -> Option<&'static str> {
    if event_name.is_empty() {
        Some("missing X-GitHub-Event header")
    } else if !valid_event_name(event_name) {
        Some("malformed X-GitHub-Event header")
    } else if delivery_id.is_empty() {
        Some("missing X-GitHub-Delivery header")
    } else if !valid_delivery_id(delivery_id) {
        Some("malformed X-GitHub-Delivery header")
    } else {
        None
    }
}

async fn handle(
    state: AppState,
    request: Request,
    event_name: &str,
    delivery_id: &str,
) -> (&'static str, Response) {
    // Refuse a declared oversized body before reading any of it.
    let declared = header_str(request.headers(), header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ("too_large", too_large());
    }
    let form_encoded =
        header_str(request.headers(), header::CONTENT_TYPE.as_str()).is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    // A missing or malformed signature header is refused before any of the body is read.
    let check = match SignatureCheck::new(
        &state.secrets,
        header_str(request.headers(), SIGNATURE_HEADER),
    ) {
        Ok(check) => check,
        Err(e) => {
            tracing::warn!(error = %e, "refused a webhook delivery with a missing or bad signature");
            return ("unauthorized", error_and_close(StatusCode::UNAUTHORIZED, e));
        }
    };

    // The body counts against the budget of bytes in flight until this function returns.
    let verified = match read_verified(&state, request, check).await {
        Ok(verified) => verified,
        Err(refused) => return refused,
    };
    let body = verified.bytes.as_slice();

    if let Some(problem) = header_problem(event_name, delivery_id) {
        return ("bad_request", error(StatusCode::BAD_REQUEST, problem));
    }

    // A webhook configured with content type application/x-www-form-urlencoded sends the
    // JSON as the `payload` field; the signature covers the form-encoded body.
    let form_payload;
    let json_body: &[u8] = if form_encoded {
        match form_field(body, b"payload") {
            Some(p) => {
                form_payload = p;
                &form_payload
            }
            None => {
                return (
                    "bad_request",
                    error(
                        StatusCode::BAD_REQUEST,
                        "form-encoded delivery without a payload field",
                    ),
                );
            }
        }
    } else {
        body
    };

    let event = match decode_event(event_name, json_body) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "refused an undecodable webhook delivery");
            return ("bad_request", error(StatusCode::BAD_REQUEST, e));
        }
    };
    let span = tracing::Span::current();
    match &event {
        Event::Ping => {
            let zen = serde_json::from_slice::<serde_json::Value>(json_body)
                .ok()
                .and_then(|v| v.get("zen").and_then(|z| z.as_str()).map(str::to_string));
            return (
                "ignored",
                (StatusCode::OK, Json(json!({ "ok": true, "zen": zen }))).into_response(),
            );
        }
        Event::Ignored { .. } => {
            return ("ignored", (StatusCode::OK, Json(json!({ "ok": true, "queued": false, "reason": "prgate does not act on this event" }))).into_response());
        }
        _ => {}
    }
    if let Some(subject) = event.subject() {
        span.record("repo", tracing::field::display(subject.repo));
        if let Some(pull) = subject.pull {
            span.record("pull", pull.0);
        }
        if let Some(sha) = subject.head {
            span.record("head", tracing::field::display(sha));
        }
    }

    let delivery = Delivery {
        id: delivery_id.to_string(),
        event_name: event_name.to_string(),
        received_at: chrono::Utc::now(),
        event,
    };
    match state.queue.enqueue(delivery).await {
        Ok(Enqueued::Accepted) => (
            "accepted",
            (
                StatusCode::ACCEPTED,
                Json(json!({ "ok": true, "queued": true })),
            )
                .into_response(),
        ),
        Ok(Enqueued::Duplicate) => {
            tracing::info!("delivery id seen before; not queued again");
            (
                "duplicate",
                (
                    StatusCode::OK,
                    Json(json!({ "ok": true, "queued": false, "reason": "duplicate delivery" })),
                )
                    .into_response(),
            )
        }
        Err(e @ QueueError::Encode { .. }) => {
            tracing::warn!(error = %e, "refused a delivery too large to store");
            ("bad_request", error(StatusCode::BAD_REQUEST, e))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store a webhook delivery; asking GitHub to redeliver");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot store the delivery right now; redeliver it later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            ("unavailable", response)
        }
    }
}

fn too_large() -> Response {
    error_and_close(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

/// The decoded value of field `name` in an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key.as_bytes() == name)
        .map(|(_, value)| value.into_owned().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_field(b"a=1&payload=%7B%22x%22%3A+1%7D", b"payload").as_deref(),
            Some(&br#"{"x": 1}"#[..])
        );
        assert_eq!(
            form_field(b"payload", b"payload").as_deref(),
            Some(&b""[..])
        );
        assert_eq!(form_field(b"a=1", b"payload"), None);
        // Broken escapes stay as they are; a last one is decoded too.
        assert_eq!(
            form_field(b"payload=%", b"payload").as_deref(),
            Some(&b"%"[..])
        );
        assert_eq!(
            form_field(b"payload=%zz%41", b"payload").as_deref(),
            Some(&b"%zzA"[..])
        );
    }
}
