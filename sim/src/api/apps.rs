//! GitHub Apps: the app itself (`GET /app`), where it is installed, and installation access
//! tokens. All of these take the app's JWT (checked in the API layer).

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use rand::Rng;
use serde_json::{Value, json};

use crate::Sim;
use crate::http::{ApiError, ApiResult, AppActor, created, ok};
use crate::render;
use crate::world::{App, IssuedToken, World};

fn app_of(w: &World, actor: AppActor) -> Result<&App, ApiError> {
    w.apps
        .iter()
        .find(|a| a.id == actor.0)
        .ok_or_else(ApiError::not_found)
}

fn installation_json(sim: &Sim, w: &World, app: &App, id: u64, account: &str) -> Value {
    let account = w
        .account_by_login(account)
        .map(|a| render::user(&sim.urls, a))
        .unwrap_or_else(|| json!({ "login": account }));
    json!({
        "id": id,
        "app_id": app.id,
        "app_slug": app.slug,
        "account": account,
        "target_type": "Organization",
        "repository_selection": "all",
        "access_tokens_url": format!("{}/app/installations/{id}/access_tokens", sim.urls.api),
        "permissions": permissions(),
    })
}

fn permissions() -> Value {
    render::app_permissions()
}

pub async fn me(State(sim): State<Arc<Sim>>, Extension(actor): Extension<AppActor>) -> ApiResult {
    let w = sim.world();
    let app = app_of(&w, actor)?;
    // The app as GitHub embeds it elsewhere (`integration`), with its own events and
    // permissions as its settings page set them.
    let mut v = render::app(&sim.urls, &w, app);
    v["installations_count"] = json!(app.installations.len());
    ok(v)
}

fn installation_on(sim: &Sim, actor: AppActor, account: &str) -> ApiResult {
    let w = sim.world();
    let app = app_of(&w, actor)?;
    let (id, acc) = app
        .installations
        .iter()
        .find(|(_, a)| a.eq_ignore_ascii_case(account))
        .ok_or_else(ApiError::not_found)?;
    ok(installation_json(sim, &w, app, *id, acc))
}

pub async fn repo_installation(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<AppActor>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult {
    if sim.world().repo_index(&owner, &repo).is_none() {
        return Err(ApiError::not_found());
    }
    installation_on(&sim, actor, &owner)
}

pub async fn org_installation(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<AppActor>,
    Path(org): Path<String>,
) -> ApiResult {
    installation_on(&sim, actor, &org)
}

pub async fn access_token(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<AppActor>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = super::number(&id)?;
    let mut w = sim.world();
    let app = app_of(&w, actor)?;
    if !app.installations.iter().any(|(i, _)| *i == id) {
        return Err(ApiError::not_found());
    }
    let (bot, lifetime) = (app.bot, app.token_lifetime);
    let mut bytes = [0u8; 18];
    rand::rng().fill(&mut bytes);
    let token = format!("ghs_{}", hex::encode(bytes));
    let expires_at = chrono::Utc::now() + lifetime;
    w.issued_tokens.push(IssuedToken {
        token: token.clone(),
        bot,
        installation: id,
        expires_at,
    });
    created(json!({
        "token": token,
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "permissions": permissions(),
        "repository_selection": "all",
    }))
}
