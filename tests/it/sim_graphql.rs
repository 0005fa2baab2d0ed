//! The GraphQL that prgate sends, and the simulator's answers to it, checked against GitHub's
//! published schema (npm `@octokit/graphql-schema`) with graphql-js (npm `graphql`):
//! - every document prgate sends (the library's own text) passes graphql-js `validate`;
//! - every type, field and argument the simulator serves is GitHub's, with GitHub's type;
//! - the simulator's `data` for those documents, fed as the root value to graphql-js
//!   `execute` on GitHub's schema, comes back unchanged and without errors (an enum spelled
//!   wrong, a null in a non-null field or a wrongly shaped object would not);
//! - and GitHub's rules the simulator must keep: auth, pagination limits, unknown fields,
//!   NOT_FOUND.

use crate::common::harness::*;
use crate::common::npm::{ensure, run_node_module};
use prgate::github::graphql::{
    pull_facts_query, pull_facts_variables, team_members_query, team_members_variables,
};
use prgate::github::open_pulls::{open_pulls_query, open_pulls_variables};
use prgate::policy::TeamRef;
use prgate::types::{PullNumber, RepoName};
use serde_json::{Value, json};

/// Validates documents, compares the simulator's schema with GitHub's, and re-executes the
/// simulator's answers on GitHub's schema.
pub(crate) const CHECK: &str = r#"
import fs from 'fs';
import { buildSchema, parse, validate, execute, isObjectType, isInterfaceType, isUnionType, isEnumType, isInputObjectType } from 'graphql';
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
// GitHub's published SDL repeats a few enterprise fields; they are not ours to fix.
const gh = buildSchema(fs.readFileSync('node_modules/@octokit/graphql-schema/schema.graphql', 'utf8'), { assumeValidSDL: true });
const out = { validation: [], subset: [], executions: [] };
for (const doc of input.documents) {
  out.validation.push(validate(gh, parse(doc)).map(e => e.message));
}
const sim = buildSchema(input.simSdl);
for (const [name, t] of Object.entries(sim.getTypeMap())) {
  if (name.startsWith('__')) continue;
  const g = gh.getType(name);
  if (!g) { out.subset.push(`type ${name} is not GitHub's`); continue; }
  if (g.constructor.name !== t.constructor.name) { out.subset.push(`${name} is a ${t.constructor.name}, GitHub's a ${g.constructor.name}`); continue; }
  if (isObjectType(t) || isInterfaceType(t)) {
    for (const [f, def] of Object.entries(t.getFields())) {
      const gf = g.getFields()[f];
      if (!gf) { out.subset.push(`${name}.${f} is not GitHub's`); continue; }
      if (String(gf.type) !== String(def.type)) out.subset.push(`${name}.${f}: ${def.type}, GitHub: ${gf.type}`);
      for (const a of def.args) {
        const ga = gf.args.find(x => x.name === a.name);
        if (!ga) out.subset.push(`${name}.${f}(${a.name}) is not GitHub's`);
        else if (String(ga.type) !== String(a.type)) out.subset.push(`${name}.${f}(${a.name}): ${a.type}, GitHub: ${ga.type}`);
      }
    }
    if (isObjectType(t)) for (const i of t.getInterfaces()) {
      if (!g.getInterfaces().some(x => x.name === i.name)) out.subset.push(`${name} implements ${i.name}, not on GitHub`);
    }
  }
  if (isInputObjectType(t)) for (const [f, def] of Object.entries(t.getFields())) {
    const gf = g.getFields()[f];
    if (!gf) out.subset.push(`${name}.${f} is not GitHub's`);
    else if (String(gf.type) !== String(def.type)) out.subset.push(`${name}.${f}: ${def.type}, GitHub: ${gf.type}`);
  }
  if (isUnionType(t)) for (const m of t.getTypes()) {
    if (!g.getTypes().some(x => x.name === m.name)) out.subset.push(`${m.name} is not in GitHub's ${name}`);
  }
  if (isEnumType(t)) for (const v of t.getValues()) {
    if (!g.getValue(v.name)) out.subset.push(`${name}.${v.name} is not GitHub's`);
  }
}
// JSON objects are unordered; compare with keys sorted.
const canon = (v) => Array.isArray(v) ? v.map(canon)
  : (v && typeof v === 'object') ? Object.fromEntries(Object.keys(v).sort().map(k => [k, canon(v[k])]))
  : v;
for (const x of input.executions) {
  // Default resolvers, but by response key (aliases) and by the answer's own __typename.
  const r = execute({
    schema: gh,
    document: parse(x.query),
    rootValue: x.data,
    variableValues: x.variables,
    fieldResolver: (source, _args, _ctx, info) => source[info.path.key],
    typeResolver: (value) => value.__typename,
  });
  out.executions.push({
    errors: (r.errors || []).map(e => `${e.message} at ${JSON.stringify(e.path)}`),
    same: JSON.stringify(canon(r.data)) === JSON.stringify(canon(x.data)),
    result: r.data,
  });
}
process.stdout.write(JSON.stringify(out));
"#;

async fn graphql(w: &World, token: &str, query: &str, variables: Value) -> (u16, Value) {
    w.api(
        token,
        reqwest::Method::POST,
        "/graphql",
        Some(json!({ "query": query, "variables": variables })),
    )
    .await
}

fn netops() -> TeamRef {
    TeamRef::try_from("acme/netops".to_string()).unwrap()
}

/// A PR with a bot's commit and a human's, an approval, a comment review, a label and a
/// retarget-free history.
async fn world_with_pr() -> (World, u64) {
    let w = World::start_without_gate(POLICY).await;
    w.commit_and_push(
        "gql",
        &[("firewall/rules.toml", "allow = [443]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "x",
    );
    w.commit_and_push(
        "gql",
        &[("firewall/more.toml", "allow = [80]\n")],
        "bob",
        "bob",
        "y",
    );
    let n = w.open_pr("agent-token", "gql", "main", "gql").await;
    w.approve("alice-token", n).await;
    w.review("bob-token", n, "COMMENT", None, "a question")
        .await;
    (w, n)
}

#[tokio::test]
async fn prgate_queries_and_the_simulators_answers_fit_githubs_schema() {
    let dir = ensure(&["@octokit/graphql-schema", "graphql"]);
    let (w, n) = world_with_pr().await;
    let repo: RepoName = REPO.parse().unwrap();
    let teams = [
        netops(),
        TeamRef::try_from("acme/security".to_string()).unwrap(),
    ];

    // A status on the head, for the listing to show with its creator.
    let head = w.head_of(n).await;
    let (st, _) = w
        .api(
            "alice-token",
            reqwest::Method::POST,
            &format!("/repos/{REPO}/statuses/{head}"),
            Some(json!({ "state": "success", "context": "prgate/approval" })),
        )
        .await;
    assert_eq!(st, 201);

    let mut executions = Vec::new();
    for (query, variables) in [
        (
            pull_facts_query(0),
            pull_facts_variables(&repo, PullNumber(n), &[]),
        ),
        (
            pull_facts_query(2),
            pull_facts_variables(&repo, PullNumber(n), &teams),
        ),
        (team_members_query(1), team_members_variables(&teams[..1])),
        (
            open_pulls_query(1),
            open_pulls_variables(&repo, None, &["main".to_string()]),
        ),
    ] {
        let (status, answer) = graphql(&w, "alice-token", &query, variables.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("errors").is_none(), "{answer}");
        let data = answer["data"].clone();
        assert!(data.is_object(), "{answer}");
        executions.push(json!({ "query": query, "variables": variables, "data": data }));
    }
    // The answers say what the simulator's state says.
    let pr = &executions[1]["data"]["repository"]["pullRequest"];
    assert_eq!(pr["state"], "OPEN");
    assert_eq!(pr["headRefOid"], json!(w.head_of(n).await));
    let states: Vec<&str> = pr["reviews"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["APPROVED", "COMMENTED"]);
    let policy = &pr["baseRef"]["target"]["file"]["object"];
    assert_eq!(policy["__typename"], "Blob");
    assert!(policy["text"].as_str().unwrap().contains("version = 1"));
    // The bot's commit has no `User`; the human's has.
    let users: Vec<&Value> = pr["commits"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["commit"]["author"]["user"])
        .collect();
    assert!(users[0].is_null(), "{users:?}");
    assert_eq!(users[1]["login"], "bob");
    assert_eq!(
        executions[1]["data"]["team0"]["team"]["members"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The listing: the open PR, its last commit's latest `prgate/approval` with its creator,
    // and the base's policy with the date it last changed.
    let listing = &executions[3]["data"]["repository"];
    let listed = &listing["pullRequests"]["nodes"][0];
    assert_eq!(listed["number"], json!(n));
    assert_eq!(listed["headRefOid"], json!(head));
    let last = &listed["commits"]["nodes"][0]["commit"];
    assert_eq!(last["oid"], json!(head));
    let status = &last["status"]["context"];
    assert_eq!(status["state"], "SUCCESS", "{listing}");
    assert_eq!(status["creator"]["login"], "alice");
    assert!(status["creator"]["databaseId"].is_u64());
    assert!(
        listed["updatedAt"].is_string() && listed["reviews"]["nodes"][0]["submittedAt"].is_string()
    );
    let branch = &listing["branch0"]["target"];
    assert!(
        branch["file"]["object"]["text"]
            .as_str()
            .unwrap()
            .contains("version = 1")
    );
    assert!(
        branch["history"]["nodes"][0]["committedDate"].is_string(),
        "{listing}"
    );

    let input = json!({
        "documents": executions.iter().map(|x| x["query"].clone()).collect::<Vec<_>>(),
        "simSdl": prgate_sim::graphql::SCHEMA_SDL,
        "executions": executions,
    });
    let out = run_node_module(&dir, CHECK, input.to_string().as_bytes());
    let report: Value = serde_json::from_slice(&out).expect("the check prints JSON");
    for (i, errors) in report["validation"].as_array().unwrap().iter().enumerate() {
        assert_eq!(errors, &json!([]), "document {i} is not valid on GitHub");
    }
    assert_eq!(
        report["subset"],
        json!([]),
        "the simulator serves what GitHub does not"
    );
    for (i, x) in report["executions"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            x["errors"],
            json!([]),
            "answer {i} does not fit GitHub's schema"
        );
        assert_eq!(
            x["same"], true,
            "answer {i} changed under GitHub's schema: {}",
            x["result"]
        );
    }
    w.shutdown().await;
}

#[tokio::test]
async fn the_simulator_keeps_githubs_graphql_rules() {
    let (w, n) = world_with_pr().await;
    let q = |body: &str| {
        format!("query {{ repository(owner: \"acme\", name: \"infra\") {{ {body} }} }}")
    };

    // No token: 401, as for REST.
    let r = reqwest::Client::new()
        .post(format!("{}/graphql", w.sim.api_url))
        .json(&json!({ "query": q("nameWithOwner") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // An unknown field: GitHub's message, no data.
    let (s, v) = graphql(
        &w,
        "alice-token",
        &q(&format!("pullRequest(number: {n}) {{ nope }}")),
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v.get("data").is_none(), "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'nope' doesn't exist on type 'PullRequest'"
    );
    assert_eq!(v["errors"][0]["extensions"]["code"], "undefinedField");

    // More than 100 on a page, or no page size at all.
    let (_, v) = graphql(
        &w,
        "alice-token",
        &q(&format!(
            "pullRequest(number: {n}) {{ reviews(first: 101) {{ nodes {{ state }} }} }}"
        )),
        json!({}),
    )
    .await;
    assert_eq!(v["errors"][0]["type"], "EXCESSIVE_PAGINATION", "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "Requesting 101 records on the `reviews` connection exceeds the `first` limit of 100 records."
    );
    let (_, v) = graphql(
        &w,
        "alice-token",
        &q(&format!(
            "pullRequest(number: {n}) {{ reviews {{ nodes {{ state }} }} }}"
        )),
        json!({}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["type"], "MISSING_PAGINATION_BOUNDARIES",
        "{v}"
    );

    // A missing PR: NOT_FOUND at its path, the rest of the data still there.
    let (s, v) = graphql(
        &w,
        "alice-token",
        &q("nameWithOwner pullRequest(number: 999) { number }"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["errors"][0]["type"], "NOT_FOUND", "{v}");
    assert_eq!(v["errors"][0]["path"], json!(["repository", "pullRequest"]));
    assert_eq!(v["data"]["repository"]["nameWithOwner"], "acme/infra");
    assert!(v["data"]["repository"]["pullRequest"].is_null());

    // Pages: `first` with `pageInfo`, and `after` its end cursor.
    let (_, v) = graphql(&w, "alice-token", &q(&format!("pullRequest(number: {n}) {{ reviews(first: 1) {{ totalCount nodes {{ state }} pageInfo {{ hasNextPage endCursor }} }} }}")), json!({})).await;
    let reviews = &v["data"]["repository"]["pullRequest"]["reviews"];
    assert_eq!(reviews["totalCount"], 2);
    assert_eq!(reviews["pageInfo"]["hasNextPage"], true);
    let cursor = reviews["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = graphql(&w, "alice-token", &q(&format!("pullRequest(number: {n}) {{ reviews(first: 1, after: \"{cursor}\") {{ nodes {{ state }} pageInfo {{ hasNextPage }} }} }}")), json!({})).await;
    let reviews = &v["data"]["repository"]["pullRequest"]["reviews"];
    assert_eq!(reviews["nodes"][0]["state"], "COMMENTED");
    assert_eq!(reviews["pageInfo"]["hasNextPage"], false);

    // A required variable left out.
    let (_, v) = graphql(&w, "alice-token", "query($n: Int!) { repository(owner: \"acme\", name: \"infra\") { pullRequest(number: $n) { number } } }", json!({})).await;
    assert_eq!(
        v["errors"][0]["message"],
        "Variable $n of type Int! was provided invalid value"
    );
    w.shutdown().await;
}

/// GitHub's GraphQL surprises the reconciler meets: a Bot's login comes without `[bot]`, a
/// query costs points by the connections it asks for, and a review does not move a PR's
/// `updatedAt` in the simulator (GitHub does not document that it does) while a comment does.
#[tokio::test]
async fn bots_costs_and_update_dates_are_as_github_answers_them() {
    let (w, n) = world_with_pr().await;
    let api_url = w.sim.api_url.clone();
    let ask = |query: String| {
        let api_url = api_url.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{api_url}/graphql"))
                .header("Authorization", "Bearer alice-token")
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap();
            let used: u64 = r.headers()["x-ratelimit-used"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let resource = r.headers()["x-ratelimit-resource"]
                .to_str()
                .unwrap()
                .to_string();
            (used, resource, r.json::<Value>().await.unwrap())
        }
    };
    let pr = |fields: &str| {
        format!(
            "query {{ repository(owner: \"acme\", name: \"infra\") {{ pullRequest(number: {n}) {{ {fields} }} }} }}"
        )
    };
    // The agent's PR: GraphQL says Bot and drops the suffix REST's `user.login` carries.
    let (_, _, v) = ask(pr("author { __typename login }")).await;
    let author = &v["data"]["repository"]["pullRequest"]["author"];
    assert_eq!(author["__typename"], "Bot");
    assert_eq!(author["login"], "ops-agent", "{v}");

    // ("Rate limits and node limits for the GraphQL API": a connection costs a request per
    // parent; the sum over 100, rounded, at least 1.) One PR alone costs 1 point; 100 PRs
    // with three connections each cost 1 + 300 requests: 3 points.
    let (before, resource, _) = ask(pr("number")).await;
    assert_eq!(resource, "graphql");
    let listing = "query { repository(owner: \"acme\", name: \"infra\") { pullRequests(first: 100, states: [OPEN]) { nodes { number reviews(last: 10) { nodes { submittedAt } } commits(last: 1) { nodes { commit { oid } } } labels(first: 5) { nodes { name } } } } } }";
    let (after, _, v) = ask(listing.to_string()).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(after - before, 3, "the listing's cost in points");
    let (again, _, _) = ask(pr("number")).await;
    assert_eq!(again - after, 1);

    async fn updated(w: &World, n: u64) -> String {
        let (_, v) = w
            .api(
                "alice-token",
                reqwest::Method::GET,
                &format!("/repos/{REPO}/pulls/{n}"),
                None,
            )
            .await;
        v["updated_at"].as_str().unwrap().to_string()
    }
    let first = updated(&w, n).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    w.review("bob-token", n, "COMMENT", None, "another question")
        .await;
    assert_eq!(updated(&w, n).await, first, "a review leaves updated_at");
    let (st, _) = w
        .api(
            "bob-token",
            reqwest::Method::POST,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            Some(json!({ "body": "a comment" })),
        )
        .await;
    assert_eq!(st, 201);
    assert_ne!(updated(&w, n).await, first, "a comment moves updated_at");
    w.shutdown().await;
}
