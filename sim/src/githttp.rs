//! Git over smart HTTP, as GitHub serves its `clone_url`: `info/refs`, `git-upload-pack` and
//! `git-receive-pack` under `/{owner}/{repo}.git`, backed by `git upload-pack` and
//! `git receive-pack --stateless-rpc`. Every request authenticates with HTTP Basic, a token as
//! the password, so every push has an authenticated pusher. Not API calls: no rate limit,
//! no ETags, not counted.
//!
//! GitHub's rules followed here:
//! - Basic auth with a token as the password and any user name, `x-access-token` included
//!   (https://docs.github.com/en/get-started/git-basics/about-remote-repositories#cloning-with-https-urls,
//!   https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation);
//!   no or bad credentials: 401 with `WWW-Authenticate: Basic realm="GitHub"`, which makes git
//!   ask for credentials and retry.
//! - Reading needs any authenticated account (as the simulator's API); pushing needs write
//!   access, else 403 "Permission to OWNER/REPO.git denied to LOGIN.".
//! - Branch protection applies to pushes: see `receive`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;

use super::gitproc::{Service, run_git};
use super::{Sim, pktline, receive};
use crate::ids::UserId;

/// The largest request body accepted, after decompression (GitHub caps a push at 2 GiB; the
/// simulator keeps bodies in memory, so it stops well before that).
const MAX_BODY: usize = 256 << 20;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/{owner}/{repo}/info/refs", get(info_refs))
        .route("/{owner}/{repo}/git-upload-pack", post(upload_pack))
        .route("/{owner}/{repo}/git-receive-pack", post(receive_pack))
        .with_state(sim)
}

/// An authenticated request for one repository.
struct Access {
    user: UserId,
    idx: usize,
    git_dir: PathBuf,
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

/// A git request answered with an error status and a text body, which git prints after
/// `remote:`; a 401 carries the Basic challenge.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = text(self.status, self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"GitHub\""),
            );
        }
        r
    }
}

/// The token of an `Authorization: Basic` header: the password, or (as GitHub also accepts)
/// the user name when the password is empty or `x-oauth-basic`.
fn basic_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    let token = if password.is_empty() || password == "x-oauth-basic" {
        user
    } else {
        password
    };
    (!token.is_empty()).then(|| token.to_string())
}

fn unauthorized(had_credentials: bool) -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        if had_credentials {
            "Invalid username or token. Password authentication is not supported for Git operations.\n"
        } else {
            ""
        },
    )
}

fn authorize(
    sim: &Sim,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
    service: Service,
) -> Result<Access, Refusal> {
    let name = repo.strip_suffix(".git").unwrap_or(repo);
    let token = basic_token(headers);
    let w = sim.world();
    let user = token
        .as_deref()
        .and_then(|t| w.account_id_by_any_token(t, chrono::Utc::now()))
        .ok_or_else(|| unauthorized(token.is_some()))?;
    let idx = w
        .repo_index(owner, name)
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "Repository not found.\n"))?;
    let r = &w.repos[idx];
    if service == Service::ReceivePack && !r.can_write(user) {
        let login = w.account(user).map(|a| a.login.to_string());
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "Permission to {}.git denied to {}.\n",
                r.full_name(),
                login.unwrap_or_default()
            ),
        ));
    }
    Ok(Access {
        user,
        idx,
        git_dir: r.git_dir.clone(),
    })
}

/// The `Git-Protocol` header (protocol v2 negotiation), passed to git as `GIT_PROTOCOL` when
/// it holds only the characters such a value can have.
fn git_protocol(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("git-protocol")?.to_str().ok()?;
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"=:._-".contains(&b))
        .then(|| v.to_string())
}

fn result(content_type: String, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn internal(why: impl std::fmt::Display) -> Response {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("simulator git server: {why}\n"),
    )
}

async fn info_refs(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let service = match q.get("service").map(String::as_str) {
        Some("git-upload-pack") => Service::UploadPack,
        Some("git-receive-pack") => Service::ReceivePack,
        // GitHub serves the smart protocol only.
        _ => return text(StatusCode::FORBIDDEN, "Please upgrade your git client.\n"),
    };
    let access = match authorize(&sim, &headers, &owner, &repo, service) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let protocol = git_protocol(&headers);
    let v2 = protocol.as_deref().is_some_and(|p| p.contains("version=2"));
    let dir = access.git_dir;
    let proto = protocol.clone();
    let out = tokio::task::spawn_blocking(move || {
        run_git(
            service,
            &["--stateless-rpc", "--advertise-refs"],
            &dir,
            proto.as_deref(),
            &[],
        )
    })
    .await;
    let out = match out {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    // Protocol v2 starts with its capability advertisement; v0 with the service line.
    let mut body = Vec::new();
    if !(v2 && service == Service::UploadPack) {
        pktline::write(
            &mut body,
            format!("# service=git-{}\n", service.name()).as_bytes(),
        );
        body.extend_from_slice(pktline::FLUSH);
    }
    body.extend_from_slice(&out);
    result(
        format!("application/x-git-{}-advertisement", service.name()),
        body,
    )
}

/// The request body, inflated when git sent it gzipped (it does for large negotiations).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Refusal> {
    let bytes = to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")))?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(bytes.to_vec()),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Refusal::new(StatusCode::BAD_REQUEST, format!("bad gzip body: {e}\n"))
                })?;
            if out.len() > MAX_BODY {
                return Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body too large\n",
                ));
            }
            Ok(out)
        }
        other => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Encoding {other}\n"),
        )),
    }
}

async fn upload_pack(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let access = match authorize(&sim, &headers, &owner, &repo, Service::UploadPack) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let input = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let protocol = git_protocol(&headers);
    let dir = access.git_dir;
    let out = tokio::task::spawn_blocking(move || {
        run_git(
            Service::UploadPack,
            &["--stateless-rpc"],
            &dir,
            protocol.as_deref(),
            &input,
        )
    })
    .await;
    match out {
        Ok(Ok(o)) => result("application/x-git-upload-pack-result".into(), o),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn receive_pack(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let access = match authorize(&sim, &headers, &owner, &repo, Service::ReceivePack) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let input = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let push = match receive::PushRequest::parse(&input) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let protocol = git_protocol(&headers);
    let out = tokio::task::spawn_blocking(move || {
        receive::serve(
            &sim,
            access.idx,
            access.user,
            &push,
            &input,
            protocol.as_deref(),
        )
    })
    .await;
    match out {
        Ok(Ok(o)) => result("application/x-git-receive-pack-result".into(), o),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[test]
    fn the_token_is_the_password_or_the_user_name() {
        assert_eq!(
            basic_token(&basic("x-access-token:t1")).as_deref(),
            Some("t1")
        );
        assert_eq!(basic_token(&basic("anyone:t2")).as_deref(), Some("t2"));
        assert_eq!(
            basic_token(&basic("t3:x-oauth-basic")).as_deref(),
            Some("t3")
        );
        assert_eq!(basic_token(&basic("t4:")).as_deref(), Some("t4"));
        assert_eq!(basic_token(&basic(":")), None);
        assert_eq!(basic_token(&HeaderMap::new()), None);
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t5"));
        assert_eq!(basic_token(&bearer), None);
    }
}
