//! GitHub App credentials: the app's JWT (RS256, signed with its private key) and the
//! installation access tokens it is exchanged for, cached per installation and refreshed
//! before they expire. One app may be installed on several accounts (orgs); each governed
//! repository is reached with the token of the installation on its owner.
//!
//! The HTTP calls themselves are made by [`super::Transport`], which knows which owner a
//! request is for; this module keeps the key, the cache and the rules.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::GitHubError;
use crate::config::Secret;

/// How long before `expires_at` an installation token is replaced by default.
pub(crate) const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The app's identity: its id and the key that signs its JWTs. The key is never printed.
pub(crate) struct AppAuth {
    app_id: u64,
    key: EncodingKey,
    refresh_margin: Duration,
    /// Held while a token is looked up or fetched, so that concurrent callers do not each
    /// fetch one; a fresh token is handed out under it at once.
    state: tokio::sync::Mutex<Tokens>,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .field("key", &"***")
            .finish()
    }
}

#[derive(Default)]
struct Tokens {
    /// Lower-cased owner login -> installation id.
    installation_of: HashMap<String, u64>,
    by_installation: HashMap<u64, InstallationToken>,
}

/// An installation access token and when it stops working.
#[derive(Clone)]
pub(crate) struct InstallationToken {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}

impl InstallationToken {
    fn fresh(&self, margin: Duration, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
        now + margin < self.expires_at
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// `GET /repos/{o}/{r}/installation`, `GET /orgs/{o}/installation`.
#[derive(Deserialize)]
pub(crate) struct ApiInstallation {
    pub id: u64,
}

/// `POST /app/installations/{id}/access_tokens`.
#[derive(Deserialize)]
pub(crate) struct ApiAccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `GET /app`.
#[derive(Deserialize)]
pub(crate) struct ApiApp {
    pub slug: String,
    /// The events the App subscribes to.
    #[serde(default)]
    pub events: Vec<String>,
    /// Its permissions, `name -> read|write`.
    #[serde(default)]
    pub permissions: std::collections::BTreeMap<String, String>,
}

impl AppAuth {
    /// Checks the key now, so that a bad key is a start-up error and not a failure on the
    /// first webhook.
    pub fn new(
        api_url: &str,
        app_id: u64,
        private_key: &Secret,
        refresh_margin: Duration,
    ) -> Result<Self, GitHubError> {
        let key = EncodingKey::from_rsa_pem(private_key.expose().as_bytes()).map_err(|e| {
            GitHubError::Setup {
                api_url: api_url.to_string(),
                context: "github.private_key is not an RSA private key in PEM form (as GitHub hands out for an app)".into(),
                source: e.into(),
            }
        })?;
        let auth = AppAuth {
            app_id,
            key,
            refresh_margin,
            state: tokio::sync::Mutex::new(Tokens::default()),
        };
        // A PEM that parses can still be unusable for signing; find out now.
        auth.jwt().map_err(|e| GitHubError::Setup {
            api_url: api_url.to_string(),
            context: "the app's key cannot sign".into(),
            source: e.into(),
        })?;
        Ok(auth)
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// A fresh JWT for the app itself (valid 9 minutes, issued a minute in the past to allow
    /// for clock drift), as an `Authorization` header.
    pub fn jwt(&self) -> Result<HeaderValue, GitHubError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: self.app_id.to_string(),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| GitHubError::AppFailed {
                path: "/app".into(),
                context: "cannot sign the app's JWT".into(),
                source: e.into(),
            })?;
        bearer(&jwt, "/app")
    }

    /// The token cache, held by one caller at a time while it looks up or fetches a token.
    pub(super) async fn lock(&self) -> TokensGuard<'_> {
        TokensGuard {
            guard: self.state.lock().await,
            margin: self.refresh_margin,
        }
    }
}

/// The token cache, held while one caller looks up or refreshes a token.
pub(super) struct TokensGuard<'a> {
    guard: tokio::sync::MutexGuard<'a, Tokens>,
    margin: Duration,
}

impl TokensGuard<'_> {
    pub(crate) fn installation_of(&self, owner: &str) -> Option<u64> {
        self.guard
            .installation_of
            .get(&owner.to_ascii_lowercase())
            .copied()
    }
    /// Drops a cached installation id (the app was uninstalled, or reinstalled under a new id).
    pub(crate) fn forget_installation(&mut self, owner: &str) {
        self.guard
            .installation_of
            .remove(&owner.to_ascii_lowercase());
    }
    pub(crate) fn set_installation(&mut self, owner: &str, id: u64) {
        self.guard
            .installation_of
            .insert(owner.to_ascii_lowercase(), id);
    }
    /// The cached token of an installation when it is not close to expiry.
    pub(crate) fn fresh_token(&self, installation: u64) -> Option<InstallationToken> {
        self.guard
            .by_installation
            .get(&installation)
            .filter(|t| t.fresh(self.margin, Utc::now()))
            .cloned()
    }
    pub(crate) fn set_token(&mut self, installation: u64, token: InstallationToken) {
        self.guard.by_installation.insert(installation, token);
    }
}

/// `Bearer <token>`, marked sensitive so that it is never logged by the HTTP stack.
pub(crate) fn bearer(token: &str, path: &str) -> Result<HeaderValue, GitHubError> {
    let mut v =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| GitHubError::App {
            path: path.to_string(),
            message: "the token holds characters not allowed in a header".into(),
        })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Which account a request is for: `/repos/{owner}/{repo}/...` gives the owner and repo,
/// `/orgs/{org}/...` the org. Other paths (`/user`, `/users/..`) belong to no installation.
pub(crate) fn scope_of(path: &str) -> Option<(String, Option<String>)> {
    let path = path.split('?').next().unwrap_or(path);
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("repos"), Some(owner), Some(repo)) if !owner.is_empty() && !repo.is_empty() => {
            Some((owner.to_string(), Some(repo.to_string())))
        }
        (Some("orgs"), Some(org), _) if !org.is_empty() => Some((org.to_string(), None)),
        _ => None,
    }
}

/// Paths answered for the app itself, with its JWT rather than an installation token.
pub(crate) fn is_app_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    path == "/app" || path.starts_with("/app/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_path() {
        assert_eq!(
            scope_of("/repos/acme/infra/pulls/1"),
            Some(("acme".into(), Some("infra".into())))
        );
        assert_eq!(
            scope_of("/orgs/acme/teams/x/members?per_page=100"),
            Some(("acme".into(), None))
        );
        assert_eq!(scope_of("/user"), None);
        assert_eq!(scope_of("/repos/acme"), None);
        assert!(is_app_path("/app"));
        assert!(is_app_path("/app/installations/7/access_tokens"));
        assert!(!is_app_path("/apps/x"));
    }

    #[test]
    fn a_token_is_stale_within_the_margin() {
        let now = Utc::now();
        let t = InstallationToken {
            token: Secret::new("x"),
            expires_at: now + chrono::Duration::minutes(4),
        };
        assert!(!t.fresh(DEFAULT_REFRESH_MARGIN, now));
        assert!(t.fresh(Duration::ZERO, now));
    }

    #[test]
    fn a_bad_key_is_a_setup_error() {
        let e = AppAuth::new(
            "http://x",
            1,
            &Secret::new("not a key"),
            DEFAULT_REFRESH_MARGIN,
        )
        .unwrap_err();
        assert!(e.to_string().contains("github.private_key"), "{e}");
    }
}
