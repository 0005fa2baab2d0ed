//! What every API request goes through, as on api.github.com: fault injection (tests only),
//! token authentication, per-token rate limit headers, and ETags with conditional requests
//! (a 304 costs no rate limit). Also the GitHub-style error body.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Sim;
use crate::ids::UserId;

/// The points a GraphQL query cost (`graphql::exec::Request::cost`), which the GraphQL
/// route leaves on its answer for the rate-limit layer.
#[derive(Clone, Copy)]
pub(crate) struct GraphqlCost(pub u64);

/// GitHub's default budget per hour, REST requests or GraphQL points.
pub(crate) const RATE_LIMIT: u64 = 5000;
const DOCS: &str = "https://docs.github.com/rest";

/// The authenticated account making the request.
#[derive(Debug, Clone, Copy)]
pub struct Actor(pub UserId);

/// A GitHub App authenticated with its JWT (on the few endpoints that take one).
#[derive(Debug, Clone, Copy)]
pub struct AppActor(pub u64);

/// Endpoints that take an app's JWT, and only that.
fn is_app_endpoint(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segs.as_slice(),
        ["app"]
            | ["app", "installations", _, "access_tokens"]
            | ["repos", _, _, "installation"]
            | ["orgs", _, "installation"]
    )
}

/// An error answered as GitHub does: a status and `{"message", "documentation_url"}`, with
/// `errors` for validation failures (422).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: None,
        }
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn bad_json(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("Problems parsing JSON: {why}"),
        )
    }
    pub fn internal(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("simulator internal error: {why}"),
        )
    }
    pub fn with_errors(mut self, errors: Value) -> Self {
        self.errors = Some(errors);
        self
    }
}

impl From<git2::Error> for ApiError {
    fn from(e: git2::Error) -> Self {
        ApiError::internal(format!("git: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "message": self.message, "documentation_url": DOCS, "status": self.status.as_u16().to_string() });
        if let Some(e) = self.errors {
            body["errors"] = e;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult = Result<Response, ApiError>;

fn token_of(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        Some(token.trim().to_string())
    } else {
        None
    }
}

/// Middleware for everything outside `/_sim`.
pub async fn api_layer(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_sim") {
        return next.run(req).await;
    }
    sim.api_calls.fetch_add(1, Ordering::SeqCst);
    let latency = sim.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    match take_fault(&sim, req.method().as_str(), &target) {
        None => authorized(sim, req, next).await,
        Some(fault) if !fault.after => fault.response(),
        Some(fault) => {
            // The write happens; only its answer is lost on the way back.
            let _ = authorized(sim, req, next).await;
            fault.response()
        }
    }
}

/// An injected fault, taken from the list.
struct TakenFault {
    status: StatusCode,
    retry_after: Option<u64>,
    after: bool,
}

impl TakenFault {
    fn response(&self) -> Response {
        let mut r = ApiError::new(self.status, "injected fault (simulator)").into_response();
        // GitHub's secondary rate limits answer 429 or 403 with Retry-After (seconds).
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// Authentication, rate limit and ETags around the API's handlers.
async fn authorized(sim: Arc<Sim>, mut req: Request, next: Next) -> Response {
    let Some(token) = token_of(req.headers()) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "Requires authentication").into_response();
    };
    let (rate_key, who) = if is_app_endpoint(req.uri().path()) {
        let app = sim.world().app_by_jwt(&token);
        match app {
            Ok(id) => {
                req.extensions_mut().insert(AppActor(id));
                (format!("app:{id}"), id)
            }
            Err(message) => {
                return ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
            }
        }
    } else {
        let found = sim
            .world()
            .account_id_by_any_token(&token, chrono::Utc::now());
        let Some(user) = found else {
            return ApiError::new(StatusCode::UNAUTHORIZED, "Bad credentials").into_response();
        };
        req.extensions_mut().insert(Actor(user));
        // An installation's requests share one budget whatever token they carry ("Rate limits
        // for the REST API": GitHub App installations have a limit per installation).
        let key = match sim.world().installation_of_token(&token) {
            Some(installation) => format!("installation:{installation}"),
            None => token.clone(),
        };
        (key, user.0)
    };
    // GraphQL has a budget of its own, apart from REST's `core` ("Rate limits and node limits
    // for the GraphQL API", docs.github.com), spent in points by the query's cost.
    let resource = if req.uri().path() == "/graphql" {
        "graphql"
    } else {
        "core"
    };
    let token = format!("{rate_key}/{resource}");
    let used_before = rate_used(&sim, &token);
    if used_before >= sim.rate_limit {
        let mut r = ApiError::forbidden(format!("API rate limit exceeded for user ID {who}."))
            .into_response();
        rate_headers(&sim, r.headers_mut(), used_before, resource);
        return r;
    }
    let is_get = req.method() == Method::GET;
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    if is_get && parts.status == StatusCode::OK {
        let bytes = match to_bytes(body, 64 << 20).await {
            Ok(b) => b,
            Err(e) => return ApiError::internal(e).into_response(),
        };
        let etag = format!("W/\"{}\"", hex::encode(Sha256::digest(&bytes)));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            parts.headers.insert(header::ETAG, v);
        }
        let matches = if_none_match
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| same_etag(t.trim(), &etag)));
        if matches {
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(header::CONTENT_TYPE);
            parts.headers.remove(header::CONTENT_LENGTH);
            rate_headers(&sim, &mut parts.headers, used_before, resource);
            return Response::from_parts(parts, Body::empty());
        }
        let used = count_call(&sim, &token);
        rate_headers(&sim, &mut parts.headers, used, resource);
        return Response::from_parts(parts, Body::from(bytes));
    }
    // A GraphQL query spends its cost in points; an invalid one still costs one.
    let points = parts.extensions.get::<GraphqlCost>().map_or(1, |c| c.0);
    let used = count_calls(&sim, &token, points);
    rate_headers(&sim, &mut parts.headers, used, resource);
    Response::from_parts(parts, body)
}

/// Weak and strong forms of the same tag match, as GitHub's caches treat them.
fn same_etag(given: &str, ours: &str) -> bool {
    given == "*" || given.trim_start_matches("W/") == ours.trim_start_matches("W/")
}

fn take_fault(sim: &Sim, method: &str, target: &str) -> Option<TakenFault> {
    let mut faults = sim.faults.lock().unwrap_or_else(|e| e.into_inner());
    let i = faults.iter().position(|f| {
        f.count > 0
            && target.contains(&f.path_contains)
            && f.method.as_deref().is_none_or(|m| m == method)
    })?;
    if faults[i].skip > 0 {
        faults[i].skip -= 1;
        return None;
    }
    faults[i].count -= 1;
    let status =
        StatusCode::from_u16(faults[i].status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let taken = TakenFault {
        status,
        retry_after: faults[i].retry_after,
        after: faults[i].after,
    };
    if faults[i].count == 0 {
        faults.remove(i);
    }
    Some(taken)
}

fn rate_used(sim: &Sim, token: &str) -> u64 {
    sim.rate
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(token)
        .copied()
        .unwrap_or(0)
}

fn count_call(sim: &Sim, token: &str) -> u64 {
    count_calls(sim, token, 1)
}

fn count_calls(sim: &Sim, token: &str, n: u64) -> u64 {
    let mut rate = sim.rate.lock().unwrap_or_else(|e| e.into_inner());
    let used = rate.entry(token.to_string()).or_insert(0);
    *used += n;
    *used
}

fn rate_headers(sim: &Sim, h: &mut HeaderMap, used: u64, resource: &str) {
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("x-ratelimit-limit", sim.rate_limit.to_string());
    set(
        "x-ratelimit-remaining",
        sim.rate_limit.saturating_sub(used).to_string(),
    );
    set("x-ratelimit-reset", sim.rate_reset.to_string());
    set("x-ratelimit-used", used.to_string());
    set("x-ratelimit-resource", resource.to_string());
    set("x-github-media-type", "github.v3; format=json".to_string());
}

/// 200 with a JSON body.
pub fn ok(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

/// 201 with a JSON body.
pub fn created(v: Value) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

/// Parses a request body, answering 400 as GitHub does when it is not the JSON expected.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

/// One page of a list, with GitHub's `Link` header (`per_page` at most 100, default 30).
pub fn paginate(
    items: Vec<Value>,
    query: &std::collections::HashMap<String, String>,
    url: &str,
) -> ApiResult {
    let per_page = query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut resp = axum::Json(Value::Array(slice)).into_response();
    if last > 1 {
        let mut other: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "page" && k.as_str() != "per_page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        other.sort();
        let link = |p: usize, rel: &str| {
            let mut q: Vec<String> = other.iter().map(|(k, v)| format!("{k}={v}")).collect();
            q.push(format!("per_page={per_page}"));
            q.push(format!("page={p}"));
            format!("<{url}?{}>; rel=\"{rel}\"", q.join("&"))
        };
        let mut links = Vec::new();
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
            links.push(link(page - 1, "prev"));
        }
        if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}
