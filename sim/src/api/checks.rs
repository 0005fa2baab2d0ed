//! Check runs: create, update, read one, list a commit's. As on GitHub, only a GitHub App
//! writes them, each app only its own; users and tokens may read them.
//!
//! "Write permission for the REST API to interact with checks is only available to GitHub
//! Apps. OAuth apps and authenticated users can view check runs and check suites, but they
//! are not able to create them" (docs.github.com, "REST API endpoints for check runs"); a
//! personal token gets 403 "You must authenticate via a GitHub App." (seen by many,
//! e.g. actions/github-script#118, EnricoMi/publish-unit-test-result-action#53).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find_repo, git, number};
use crate::gitstore;
use crate::http::{Actor, ApiError, ApiResult, created, ok, parse_body};
use crate::world::{CheckRun, World};
use crate::{Sim, render};

/// `output.summary` and `output.text` may hold this much. GitHub checks it twice: the
/// request schema counts characters ("Only 65535 characters are allowed; N were
/// supplied.", e.g. bencherdev/bencher#534), and the model then counts bytes ("summary
/// exceeds a maximum bytesize of 65535", github/docs#35252): text of multi-byte
/// characters under the first limit can still fail the second.
pub const OUTPUT_MAX: usize = 65535;

const STATUSES: &[&str] = &["queued", "in_progress", "completed"];
/// `stale` is in the request schema, but only GitHub itself may set it ("You cannot change a
/// check run conclusion to `stale`, only GitHub can set this", the create and update docs).
const CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
];

#[derive(Deserialize, Default)]
struct Output {
    title: Option<String>,
    summary: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct CheckRunBody {
    name: Option<String>,
    head_sha: Option<String>,
    details_url: Option<String>,
    external_id: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    output: Option<Output>,
}

/// GitHub's answer to a request that does not match the endpoint's JSON schema.
fn schema_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("Invalid request.\n\n{detail}"))
}

fn missing(field: &str) -> ApiError {
    schema_error(format!("\"{field}\" wasn't supplied."))
}

fn not_member(field: &str, value: &str, allowed: &[&str]) -> ApiError {
    let list: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    schema_error(format!(
        "For 'properties/{field}', \"{value}\" is not a member of [{}].",
        list.join(", ")
    ))
}

/// The app whose installation token made the request; anyone else may not write checks.
fn app_of_actor(w: &World, actor: Actor) -> Result<u64, ApiError> {
    w.apps
        .iter()
        .find(|a| a.bot == actor.0)
        .map(|a| a.id)
        .ok_or_else(|| ApiError::forbidden("You must authenticate via a GitHub App."))
}

fn check_output_text(field: &str, value: Option<&String>) -> Result<(), ApiError> {
    let Some(v) = value else { return Ok(()) };
    let chars = v.chars().count();
    if chars > OUTPUT_MAX {
        return Err(schema_error(format!(
            "Only {OUTPUT_MAX} characters are allowed; {chars} were supplied."
        )));
    }
    if v.len() > OUTPUT_MAX {
        return Err(ApiError::invalid("Validation Failed").with_errors(json!([{
            "resource": "CheckRun", "code": "custom", "field": field,
            "message": format!("{field} exceeds a maximum bytesize of {OUTPUT_MAX}"),
        }])));
    }
    Ok(())
}

/// Validates what create and update share, in the order GitHub's schema would.
fn validate(body: &CheckRunBody, creating: bool) -> Result<(), ApiError> {
    if let Some(s) = &body.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(not_member("status", s, STATUSES));
    }
    if let Some(c) = &body.conclusion
        && !CONCLUSIONS.contains(&c.as_str())
    {
        if c == "stale" {
            return Err(ApiError::invalid("Validation Failed").with_errors(json!([{
                "resource": "CheckRun", "code": "custom", "field": "conclusion",
                "message": "conclusion cannot be set to stale",
            }])));
        }
        return Err(not_member("conclusion", c, CONCLUSIONS));
    }
    // "conclusion: Required if you provide completed_at or a status of completed" (docs).
    let completes = body.status.as_deref() == Some("completed") || body.completed_at.is_some();
    if completes && body.conclusion.is_none() {
        return Err(missing("conclusion"));
    }
    if let Some(o) = &body.output {
        if creating && o.title.is_none() {
            return Err(missing("title"));
        }
        if o.summary.is_none() {
            return Err(missing("summary"));
        }
        check_output_text("summary", o.summary.as_ref())?;
        check_output_text("text", o.text.as_ref())?;
    }
    Ok(())
}

/// Applies status, conclusion and their times. "Providing `conclusion` will automatically set
/// the `status` parameter to `completed`" (docs).
///
/// A completed run stays completed: GitHub answers 200 to `status: in_progress` on it but
/// does not reopen it (lyft/atlantis#265: "once a check run has been marked completed, it
/// can't be set to in_progress"; Mergifyio/mergify#444: the conclusion is not reset). A
/// changed decision needs a new run.
fn apply_state(run: &mut CheckRun, body: &CheckRunBody, now: DateTime<Utc>) {
    if let Some(s) = &body.status
        && run.status != "completed"
    {
        run.status = s.clone();
    }
    if let Some(c) = &body.conclusion {
        run.conclusion = Some(c.clone());
        run.status = "completed".into();
    }
    if let Some(t) = body.started_at {
        run.started_at = Some(t);
    }
    if run.status == "completed" {
        run.completed_at = body.completed_at.or(run.completed_at).or(Some(now));
    } else {
        run.conclusion = None;
        run.completed_at = None;
    }
    if let Some(u) = &body.details_url {
        run.details_url = Some(u.clone());
    }
    if let Some(e) = &body.external_id {
        run.external_id = Some(e.clone());
    }
    if let Some(o) = &body.output {
        if o.title.is_some() {
            run.title = o.title.clone();
        }
        run.summary = o.summary.clone();
        if o.text.is_some() {
            run.text = o.text.clone();
        }
    }
}

fn emit(sim: &Sim, w: &World, idx: usize, run: &CheckRun, action: &str) {
    let rp = &w.repos[idx];
    let event = json!({
        "action": action,
        "check_run": render::check_run(&sim.urls, w, rp, run),
        "repository": render::repo(&sim.urls, w, rp),
        "sender": render::user_id(&sim.urls, w, run.bot),
    });
    sim.hooks.emit("check_run", &event);
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body: CheckRunBody = parse_body(&body)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let app = app_of_actor(&w, actor)?;
    let name = body.name.clone().ok_or_else(|| missing("name"))?;
    let head = body.head_sha.clone().ok_or_else(|| missing("head_sha"))?;
    validate(&body, true)?;
    let repo = git(&w, idx)?;
    let oid = gitstore::resolve_commit(&repo, &head)
        .ok_or_else(|| ApiError::invalid(format!("No commit found for SHA: {head}")))?;
    let head_sha = oid.to_string();
    // One suite per app and commit, as GitHub makes them.
    let suite = w.repos[idx]
        .check_runs
        .iter()
        .find(|c| c.app == app && c.head_sha == head_sha)
        .map(|c| c.suite);
    let suite = match suite {
        Some(s) => s,
        None => w.next_id(),
    };
    let now = Utc::now();
    let mut run = CheckRun {
        id: w.next_id(),
        app,
        bot: actor.0,
        suite,
        head_sha,
        name,
        status: "queued".into(),
        conclusion: None,
        // GitHub stamps a run's start when it is created, whatever its status.
        started_at: Some(now),
        completed_at: None,
        details_url: None,
        external_id: None,
        title: None,
        summary: None,
        text: None,
    };
    apply_state(&mut run, &body, now);
    w.repos[idx].check_runs.push(run.clone());
    emit(&sim, &w, idx, &run, "created");
    let body = render::check_run(&sim.urls, &w, &w.repos[idx], &run);
    // A run can satisfy (or fail) a merge group's required check.
    crate::queue::tick(&sim, &mut w, idx);
    created(body)
}

/// A check run of GitHub Actions (app `github-actions`, bot `github-actions[bot]`), as a job
/// of a workflow in the repository makes one: created in progress, then completed with
/// `conclusion` when given, each a `check_run` delivery. Any workflow may name its job
/// anything, `prgate/approval` included, which is why a required check not pinned to an app
/// is satisfied by such a run (see `protection`).
pub(crate) fn create_actions_check_run(
    sim: &Sim,
    w: &mut World,
    idx: usize,
    head_sha: &str,
    name: &str,
    conclusion: Option<&str>,
) -> Result<u64, ApiError> {
    use crate::world::{ACTIONS_APP_ID, ACTIONS_BOT};
    if let Some(c) = conclusion
        && !CONCLUSIONS.contains(&c)
    {
        return Err(not_member("conclusion", c, CONCLUSIONS));
    }
    let repo = git(w, idx)?;
    let oid = gitstore::resolve_commit(&repo, head_sha)
        .ok_or_else(|| ApiError::invalid(format!("No commit found for SHA: {head_sha}")))?;
    let head_sha = oid.to_string();
    let suite = w.repos[idx]
        .check_runs
        .iter()
        .find(|c| c.app == ACTIONS_APP_ID && c.head_sha == head_sha)
        .map(|c| c.suite);
    let suite = match suite {
        Some(s) => s,
        None => w.next_id(),
    };
    let id = w.next_id();
    let now = Utc::now();
    let mut run = CheckRun {
        id,
        app: ACTIONS_APP_ID,
        bot: ACTIONS_BOT,
        suite,
        head_sha,
        name: name.to_string(),
        status: "in_progress".into(),
        conclusion: None,
        started_at: Some(now),
        completed_at: None,
        details_url: Some(format!(
            "{}/actions/runs/{suite}/job/{id}",
            sim.urls.html_repo(&w.repos[idx])
        )),
        external_id: None,
        title: None,
        summary: None,
        text: None,
    };
    w.repos[idx].check_runs.push(run.clone());
    emit(sim, w, idx, &run, "created");
    if let Some(c) = conclusion {
        run.status = "completed".into();
        run.conclusion = Some(c.to_string());
        run.completed_at = Some(Utc::now());
        if let Some(stored) = w.repos[idx].check_runs.iter_mut().find(|r| r.id == id) {
            *stored = run.clone();
        }
        emit(sim, w, idx, &run, "completed");
    }
    crate::queue::tick(sim, w, idx);
    Ok(id)
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    Path((o, r, id)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let body: CheckRunBody = parse_body(&body)?;
    let id = number(&id)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let app = app_of_actor(&w, actor)?;
    let pos = w.repos[idx]
        .check_runs
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    // Another app's run is not this app's to change. (Modelled on GitHub's answer to an
    // integration acting outside its grant.)
    if w.repos[idx].check_runs[pos].app != app {
        return Err(ApiError::forbidden(
            "Resource not accessible by integration",
        ));
    }
    validate(&body, false)?;
    let was_completed = w.repos[idx].check_runs[pos].status == "completed";
    let mut run = w.repos[idx].check_runs[pos].clone();
    if let Some(n) = &body.name {
        run.name = n.clone();
    }
    apply_state(&mut run, &body, Utc::now());
    w.repos[idx].check_runs[pos] = run.clone();
    if run.status == "completed" && !was_completed {
        emit(&sim, &w, idx, &run, "completed");
    }
    let body = render::check_run(&sim.urls, &w, &w.repos[idx], &run);
    crate::queue::tick(&sim, &mut w, idx);
    ok(body)
}

pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path((o, r, id)): Path<(String, String, String)>,
) -> ApiResult {
    let id = number(&id)?;
    let mut w = sim.world();
    let idx = find_repo(&sim, &mut w, &o, &r)?;
    let rp = &w.repos[idx];
    let run = rp
        .check_runs
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    ok(render::check_run(&sim.urls, &w, rp, run))
}

/// `GET /repos/{o}/{r}/commits/{ref}/check-runs`: newest first; `filter=latest` (the
/// default) keeps each app's most recent run of each name, `all` keeps every run; also
/// `check_name`, `status`, `app_id`, and pages of `{total_count, check_runs}`.
pub fn list_for_commit(
    sim: &Sim,
    w: &World,
    idx: usize,
    sha: &str,
    q: &HashMap<String, String>,
) -> ApiResult {
    let rp = &w.repos[idx];
    let filter = q.get("filter").map(String::as_str).unwrap_or("latest");
    if !matches!(filter, "latest" | "all") {
        return Err(not_member("filter", filter, &["latest", "all"]));
    }
    let mut runs: Vec<&CheckRun> = rp.check_runs.iter().filter(|c| c.head_sha == sha).collect();
    runs.sort_by_key(|c| std::cmp::Reverse(c.id));
    if filter == "latest" {
        let mut seen: Vec<(u64, &str)> = Vec::new();
        runs.retain(|c| {
            let key = (c.app, c.name.as_str());
            let first = !seen.contains(&key);
            seen.push(key);
            first
        });
    }
    if let Some(name) = q.get("check_name") {
        runs.retain(|c| &c.name == name);
    }
    if let Some(status) = q.get("status") {
        runs.retain(|c| &c.status == status);
    }
    if let Some(app) = q.get("app_id").and_then(|a| a.parse::<u64>().ok()) {
        runs.retain(|c| c.app == app);
    }
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = runs.len();
    let items: Vec<Value> = runs
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| render::check_run(&sim.urls, w, rp, c))
        .collect();
    ok(json!({ "total_count": total, "check_runs": items }))
}
