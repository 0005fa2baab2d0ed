//! GitHub Enterprise Server's shape (`prgate sim --ghes`): the same simulator behind the paths
//! a GHES instance serves, so that a client that derives its endpoints wrongly fails here as it
//! would on a customer's instance. Nothing but the paths differs.
//!
//! - REST under `http(s)://HOSTNAME/api/v3` ("Quickstart for GitHub REST API", GHES:
//!   https://docs.github.com/en/enterprise-server@3.14/rest/quickstart, and "Getting started
//!   with the REST API": every example calls `http(s)://HOSTNAME/api/v3/...`);
//! - GraphQL at `http(s)://HOSTNAME/api/graphql` ("Forming calls with GraphQL", GHES:
//!   https://docs.github.com/en/enterprise-server@3.14/graphql/guides/forming-calls-with-graphql#the-graphql-endpoint,
//!   "the GraphQL API has a single endpoint: http(s)://HOSTNAME/api/graphql"), not under
//!   `/api/v3`;
//! - git over HTTP and the web pages at the host's root, `http(s)://HOSTNAME/OWNER/REPO.git`
//!   ("About remote repositories", GHES:
//!   https://docs.github.com/en/enterprise-server@latest/get-started/git-basics/about-remote-repositories);
//!   the API's `clone_url`, `html_url` and `url` fields and its `Link` headers name those bases
//!   (`render::Urls`).
//!
//! Anything else — github.com's shape (`/repos/...`, `/user`, `/graphql` at the root), GraphQL
//! under `/api/v3`, git under `/api/v3` — answers 404, as GHES answers a path it does not
//! serve, and is recorded, so that a test can assert that no request left GHES's bases.
//! The test-control endpoints (`/_sim/...`) stay under the API URL, as in github.com's shape.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Sim;
use super::http::ApiError;

/// Where GHES serves REST, under the host's root.
pub const REST_PREFIX: &str = "/api/v3";
/// Where GHES serves GraphQL.
pub const GRAPHQL_PATH: &str = "/api/graphql";

/// The path the simulator's routes serve for a request to `path` on a GHES-shaped host, or
/// `None` when `path` lies outside GHES's bases.
pub(crate) fn inner_path(path: &str) -> Option<String> {
    if path == GRAPHQL_PATH {
        return Some("/graphql".into());
    }
    if let Some(rest) = path.strip_prefix(REST_PREFIX) {
        if rest.is_empty() {
            return Some("/".into());
        }
        if !rest.starts_with('/') || rest == "/graphql" || is_git(rest) {
            return None;
        }
        return Some(rest.to_string());
    }
    is_git(path).then(|| path.to_string())
}

/// Git's smart HTTP paths (`githttp::router`): `/{owner}/{repo}/info/refs`,
/// `/{owner}/{repo}/git-upload-pack`, `/{owner}/{repo}/git-receive-pack`.
fn is_git(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [owner, repo, "info", "refs"] => !owner.is_empty() && !repo.is_empty(),
        [owner, repo, "git-upload-pack" | "git-receive-pack"] => {
            !owner.is_empty() && !repo.is_empty()
        }
        _ => false,
    }
}

/// `app` (routes at github.com's paths) behind GHES's paths: each request is rewritten to the
/// path `app` serves, or answered 404 and recorded.
pub(crate) fn shaped(sim: Arc<Sim>, app: Router) -> Router {
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn_with_state(sim, rewrite))
}

async fn rewrite(State(sim): State<Arc<Sim>>, mut req: Request, next: Next) -> Response {
    let Some(path) = inner_path(req.uri().path()) else {
        sim.record_off_base(format!("{} {}", req.method(), req.uri()));
        return ApiError::not_found().into_response();
    };
    let target = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    match target.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return ApiError::not_found().into_response(),
    }
    match Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return ApiError::not_found().into_response(),
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ghes_bases_reach_the_simulator() {
        let cases = [
            (
                "/api/v3/repos/acme/infra/pulls",
                Some("/repos/acme/infra/pulls"),
            ),
            ("/api/v3/user", Some("/user")),
            ("/api/v3", Some("/")),
            ("/api/v3/_sim/stats", Some("/_sim/stats")),
            ("/api/graphql", Some("/graphql")),
            (
                "/acme/infra.git/info/refs",
                Some("/acme/infra.git/info/refs"),
            ),
            (
                "/acme/infra.git/git-receive-pack",
                Some("/acme/infra.git/git-receive-pack"),
            ),
            // github.com's shape
            ("/repos/acme/infra/pulls", None),
            ("/user", None),
            ("/graphql", None),
            ("/_sim/stats", None),
            // GraphQL or git under the REST base, as a client that derives them wrongly asks
            ("/api/v3/graphql", None),
            ("/api/v3/acme/infra.git/info/refs", None),
            ("/api/v3x/user", None),
            ("/api/graphql/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(inner_path(path).as_deref(), want, "{path}");
        }
    }
}
