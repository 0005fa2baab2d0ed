//! `POST /graphql`: the part of GitHub's GraphQL API that prgate uses (reads, and the merge
//! queue's mutations), served from the same
//! state as the REST routes. The query is parsed with `graphql-parser`, validated against the
//! served subset of GitHub's schema (`schema.graphql`) with GitHub's rules (connections need
//! `first` or `last` within 1-100) and executed with the schema's types enforced. Answers are
//! HTTP 200 with `{"data"}`, `{"data", "errors"}` or, for an invalid query, `{"errors"}` only,
//! as on GitHub; authentication (401) is the API layer's.

mod exec;
mod resolve;
mod schema;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Sim;
use super::http::{Actor, ApiError, ApiResult, GraphqlCost, ok};

pub use schema::SDL as SCHEMA_SDL;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    query: Option<Value>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

pub(crate) async fn query(
    State(sim): State<Arc<Sim>>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> ApiResult {
    let body: Body = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    // GitHub answers a body without a query with 200 and an error, not a 4xx.
    let Some(Value::String(text)) = body.query else {
        return ok(exec::request_error(
            "A query attribute must be specified and must be a string.",
        ));
    };
    let vars = match body.variables {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        // GitHub also takes variables as a JSON string.
        Some(Value::String(s)) => match serde_json::from_str::<Map<String, Value>>(&s) {
            Ok(m) => m,
            Err(e) => {
                return ok(exec::request_error(format!(
                    "Variables are invalid JSON: {e}"
                )));
            }
        },
        Some(_) => return ok(exec::request_error("Variables must be a JSON object")),
    };
    let schema = schema::Schema::get().map_err(ApiError::internal)?;
    let doc = match graphql_parser::parse_query::<String>(&text) {
        Ok(d) => d,
        Err(e) => {
            return ok(exec::request_error(format!(
                "Parse error: {}",
                e.to_string().trim()
            )));
        }
    };
    let mut request = match exec::Request::new(schema, &doc, body.operation_name.as_deref(), vars) {
        Ok(r) => r,
        Err(answer) => return ok(answer),
    };
    let errors = request.validate();
    if !errors.is_empty() {
        return ok(serde_json::json!({ "errors": errors }));
    }
    let cost = request.cost();
    let mut w = sim.world();
    let mut resolver = resolve::Resolver {
        sim: &sim,
        w: &mut w,
        actor: actor.0,
    };
    let root = if request.is_mutation() {
        resolve::Node::Mutation
    } else {
        resolve::Node::Query
    };
    let mut answer = ok(request.execute(&mut resolver, root))?;
    // The rate-limit layer spends this many points of the GraphQL budget.
    answer.extensions_mut().insert(GraphqlCost(cost));
    Ok(answer)
}
