//! The one JSON contract (DESIGN.md, Command line): with `--json` every command prints exactly
//! one JSON object on stdout, errors included, and every output validates against the schema
//! published under `schemas/`, which is what `prgate::contract::schemas()` generates from the
//! serialized types themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::harness::*;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn schema(name: &str) -> Value {
    let path = schema_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Checks `out` against the command's schema, and an error object against `error.json` too.
pub fn assert_valid(name: &str, out: &Value) {
    let validator = jsonschema::validator_for(&schema(name)).unwrap();
    let problems: Vec<String> = validator.iter_errors(out).map(|e| e.to_string()).collect();
    assert!(
        problems.is_empty(),
        "{name}: {out} does not fit: {problems:?}"
    );
    if out.get("error").is_some() {
        let v = jsonschema::validator_for(&schema("error")).unwrap();
        assert!(v.is_valid(out), "not an error object: {out}");
    }
}

/// Runs prgate with `env` and returns (exit code, the one JSON object on stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prgate"));
    cmd.args(args)
        .env_remove("GITHUB_TOKEN")
        .env_remove("PRGATE_GITHUB_TOKEN")
        .env_remove("PRGATE_API_URL")
        .env("PRGATE_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    // Exactly one value: serde_json refuses trailing data after it.
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON object: {e}: {stdout}"));
    assert!(v.is_object(), "{args:?}: {v}");
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_committed_schemas_are_what_the_types_generate() {
    let update = std::env::var_os("PRGATE_UPDATE_SCHEMAS").is_some();
    for (name, generated) in prgate::contract::schemas() {
        let path = schema_dir().join(format!("{name}.json"));
        let text = format!("{}\n", serde_json::to_string_pretty(&generated).unwrap());
        if update {
            std::fs::create_dir_all(schema_dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            text,
            "{} is stale: regenerate with PRGATE_UPDATE_SCHEMAS=1 cargo test --test it json_contract",
            path.display()
        );
    }
}

/// (schema, arguments, environment, exit code, error kind).
type ErrorCase<'a> = (
    &'a str,
    Vec<&'a str>,
    &'a [(&'a str, &'a str)],
    i32,
    &'a str,
);

#[test]
fn every_error_is_one_json_object_that_fits_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let missing = missing.to_str().unwrap();
    let token = [("PRGATE_GITHUB_TOKEN", "t")];
    let cases: Vec<ErrorCase> = vec![
        (
            "status",
            vec!["status", "not a pull", "--json"],
            &token,
            2,
            "usage",
        ),
        (
            "status",
            vec!["status", "acme/infra#1", "--api-url", "not-a-url", "--json"],
            &token,
            2,
            "usage",
        ),
        (
            "status",
            vec!["status", "acme/infra#1", "--json"],
            &[],
            2,
            "auth",
        ),
        // Nothing listens on port 9 of loopback: a refused connection.
        (
            "status",
            vec![
                "status",
                "acme/infra#1",
                "--api-url",
                "http://127.0.0.1:9",
                "--json",
            ],
            &token,
            1,
            "network",
        ),
        (
            "status",
            vec!["wait", "acme/infra#1", "--timeout", "soon", "--json"],
            &token,
            2,
            "usage",
        ),
        ("status", vec!["wait", "--json"], &token, 2, "usage"),
        (
            "propose",
            vec!["propose", "--json", "x"],
            &token,
            2,
            "usage",
        ),
        (
            "execute",
            vec!["execute", "--repo", "x", "--commit", "y", "--json"],
            &[],
            2,
            "usage",
        ),
        (
            "execute",
            vec![
                "execute", "--repo", "a/b", "--commit", "abcdef12", "--config", missing, "--json",
            ],
            &[],
            2,
            "config",
        ),
        (
            "verify",
            vec!["verify", "--repo", missing, "--commit", "abc", "--json"],
            &[],
            2,
            "usage",
        ),
        (
            "audit",
            vec!["audit", "--repo", missing, "--format", "json"],
            &[],
            2,
            "usage",
        ),
        (
            "audit",
            vec!["audit", "--format", "json", "--since", "yesterday"],
            &[],
            2,
            "usage",
        ),
        (
            "key",
            vec!["key", "public", "--key", missing, "--json"],
            &[],
            2,
            "usage",
        ),
        (
            "policy-check",
            vec!["policy", "check", "--json", "--bogus"],
            &[],
            2,
            "usage",
        ),
        (
            "config-check",
            vec!["config", "check", "--json", "--bogus"],
            &[],
            2,
            "usage",
        ),
    ];
    for (schema_name, args, env, code, kind) in cases {
        let (got, out, err) = run(&args, env);
        assert_eq!(got, code, "{args:?}: {out} {err}");
        assert_eq!(out["exit_code"], json!(code), "{args:?}: {out}");
        assert_eq!(out["error"]["kind"], json!(kind), "{args:?}: {out}");
        assert!(!err.trim().is_empty(), "{args:?}: nothing on stderr");
        assert_valid(schema_name, &out);
    }
    // The flag is named, and a refused connection names the host and where to change it.
    let (_, out, _) = run(
        &["status", "acme/infra#1", "--api-url", "not-a-url", "--json"],
        &token,
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--api-url"),
        "{out}"
    );
    let (_, out, _) = run(
        &[
            "status",
            "acme/infra#1",
            "--api-url",
            "http://127.0.0.1:9",
            "--json",
        ],
        &token,
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{out}"
    );
    assert!(
        out["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("PRGATE_API_URL"),
        "{out}"
    );
}

#[test]
fn answers_of_the_local_commands_fit_their_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    let (code, out, _) = run(
        &["key", "generate", "--out", seed.to_str().unwrap(), "--json"],
        &[],
    );
    assert_eq!(code, 0);
    assert_valid("key", &out);
    let policy = tmp.path().join("prgate.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let (code, out, _) = run(
        &["policy", "check", policy.to_str().unwrap(), "--json"],
        &[],
    );
    assert_eq!((code, out["ok"].clone()), (0, json!(true)), "{out}");
    assert_valid("policy-check", &out);
    let (code, out, _) = run(
        &[
            "config",
            "check",
            "--config",
            tmp.path().join("none.toml").to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!((code, out["ok"].clone()), (2, json!(false)), "{out}");
    assert_valid("config-check", &out);

    // A repository with one ungoverned commit: audit's report and verify's (a record that
    // does not hold) fit theirs.
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    git(&repo, &["add", "README"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@example.com",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    let repo_s = repo.to_str().unwrap();
    let (code, out, _) = run(&["audit", "--repo", repo_s, "--format", "json"], &[]);
    assert_eq!((code, out["clean"].clone()), (0, json!(true)), "{out}");
    assert_valid("audit", &out);
    let (code, out, _) = run(
        &["verify", "--repo", repo_s, "--commit", "HEAD", "--json"],
        &[],
    );
    assert_eq!((code, out["holds"].clone()), (31, json!(false)), "{out}");
    assert_valid("verify", &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_loop_fits_the_schemas_and_every_approval_says_whether_it_counts() {
    let w = World::start().await;
    let dir = w.agent_clone("agent");
    std::fs::create_dir_all(dir.join("dns")).unwrap();
    std::fs::write(dir.join("dns/zone.txt"), "www 300 A 192.0.2.7\n").unwrap();
    let dir_s = dir.to_str().unwrap().to_string();
    let (code, p, err) = prgate_cli(
        &w,
        Some("agent-token"),
        &[
            "propose",
            "--repo",
            &dir_s,
            "--title",
            "Add www",
            "--json",
            "dns/zone.txt",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_valid("propose", &p);
    let pull = p["pull"].as_u64().unwrap();
    w.settle().await;

    // bob may write to the repository but is no designated approver of dns: his approval is
    // on the head and does not count, and status says why in the gate's words.
    w.approve("bob-token", pull).await;
    w.settle().await;
    let url = p["url"].as_str().unwrap().to_string();
    let (code, s, _) = prgate_cli(&w, Some("agent-token"), &["status", &url, "--json"]);
    assert_eq!(code, 10, "{s}");
    assert_valid("status", &s);
    let bob = &s["approvals"][0];
    assert_eq!(
        (
            bob["login"].clone(),
            bob["on_head"].clone(),
            bob["counts"].clone()
        ),
        (json!("bob"), json!(true), json!(false)),
        "{s}"
    );
    assert!(
        bob["why_not"]
            .as_str()
            .unwrap()
            .contains("not a designated approver"),
        "{s}"
    );

    // A timeout is pending and says so.
    let target = format!("{REPO}#{pull}");
    let (code, s, _) = prgate_cli(
        &w,
        Some("agent-token"),
        &[
            "wait",
            &target,
            "--timeout",
            "300ms",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!((code, s["timed_out"].clone()), (10, json!(true)), "{s}");
    assert_valid("status", &s);

    // dave of acme/security approves; the merge runs no executor, so waiting for the
    // execution ends at the merge and says why.
    w.approve("dave-token", pull).await;
    w.settle().await;
    let (code, s, err) = prgate_cli(
        &w,
        Some("agent-token"),
        &[
            "wait",
            &target,
            "--until",
            "executed",
            "--timeout",
            "20s",
            "--poll",
            "50ms",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{s} {err}");
    assert_valid("status", &s);
    assert_eq!(s["state"], json!("merged"), "{s}");
    assert_eq!(s["executed"], json!(null));
    assert_eq!(s["reason"], json!("no executor for this change"));
    assert_eq!(s["timed_out"], json!(false));
    w.shutdown().await;
}

/// Every key the two TOML files' schemas hold, with the schema's `$defs` followed.
fn keys_of(schema: &Value, node: &Value, out: &mut std::collections::BTreeSet<String>) {
    if let Some(r) = node.get("$ref").and_then(Value::as_str)
        && let Some(name) = r.strip_prefix("#/$defs/")
    {
        keys_of(schema, &schema["$defs"][name], out);
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if out.insert(k.clone()) {
                keys_of(schema, v, out);
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = node.get(key).filter(|v| v.is_object()) {
            keys_of(schema, v, out);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for v in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            keys_of(schema, v, out);
        }
    }
}

#[test]
fn every_key_of_the_toml_schemas_is_in_its_reference() {
    for (name, doc) in [("prgate-toml", "config.md"), ("policy-toml", "policy.md")] {
        let schema = schema(name);
        let mut keys = std::collections::BTreeSet::new();
        keys_of(&schema, &schema, &mut keys);
        assert!(keys.len() > 5, "{name}: {keys:?}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| {
                !text.contains(&format!("`{k}`"))
                    && !text.contains(&format!("{k} ="))
                    && !text.contains(&format!("[{k}]"))
                    && !text.contains(&format!("[[{k}]]"))
                    && !text.contains(&format!("[{k}."))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "docs/{doc} does not name {missing:?} of {name}"
        );
    }
}

#[test]
fn the_documented_examples_fit_the_toml_schemas() {
    for (name, doc) in [("prgate-toml", "config.md"), ("policy-toml", "policy.md")] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        // The reference's first TOML block is the whole file, every key shown.
        let block = text
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        let value: Value = toml::from_str::<toml::Value>(block)
            .map(|v| serde_json::to_value(v).unwrap())
            .unwrap_or_else(|e| panic!("docs/{doc}'s example: {e}"));
        let validator = jsonschema::validator_for(&schema(name)).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            problems.is_empty(),
            "docs/{doc}'s example does not fit {name}: {problems:?}"
        );
    }
}
