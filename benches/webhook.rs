//! The cost of taking in one ~25 KB `pull_request_review` delivery (a real example from
//! @octokit/webhooks-examples with a long review body): HMAC-SHA256 alone, parsing the bytes
//! into a `serde_json::Value` alone (the floor for looking at the JSON at all), and our
//! verify + decode into `Event`.

// The bench is a crate of its own: it borrows the tests' npm helper (and the install-once
// helper it uses) by path (a helper crate for one function would be more than it saves).
#[path = "../tests/it/common/install.rs"]
mod install;
#[path = "../tests/it/common/npm.rs"]
#[allow(dead_code)]
mod npm;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use prgate::config::Secret;
use prgate::policy::{ReviewState, evaluate_approval, fixtures};
use prgate::webhook::{Event, decode_event, sign, verify_signature};
use sha2::Sha256;

const TARGET_BYTES: usize = 25 * 1024;

fn review_delivery() -> Vec<u8> {
    let dir = npm::ensure(&["@octokit/webhooks-examples"]);
    let index = dir.join("node_modules/@octokit/webhooks-examples/api.github.com/index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index).expect("read index.json"))
            .expect("parse index.json");
    let mut example = index
        .as_array()
        .and_then(|events| events.iter().find(|e| e["name"] == "pull_request_review"))
        .and_then(|e| e["examples"].as_array())
        .and_then(|examples| examples.first())
        .cloned()
        .expect("a pull_request_review example");
    let base = serde_json::to_vec(&example).expect("serialize").len();
    let sentence =
        "Reviewed the rule order and the rollback plan; approving this exact head commit. ";
    let padding = sentence.repeat((TARGET_BYTES.saturating_sub(base)) / sentence.len() + 1);
    example["review"]["body"] = serde_json::Value::String(padding);
    serde_json::to_vec(&example).expect("serialize")
}

fn bench(c: &mut Criterion) {
    let body = review_delivery();
    let secret = "bench-secret";
    let secrets = [Secret::new(secret)];
    let signature = sign(secret, &body);
    assert!(matches!(
        decode_event("pull_request_review", &body),
        Ok(Event::PullRequestReview { .. })
    ));

    let mut g = c.benchmark_group(format!("webhook_{}B_pull_request_review", body.len()));
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("hmac_sha256", |b| {
        b.iter(|| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(black_box(&body));
            mac.finalize().into_bytes()
        })
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(black_box(&body)).expect("valid JSON")
        })
    });
    g.bench_function("decode_event", |b| {
        b.iter(|| decode_event("pull_request_review", black_box(&body)).expect("decodes"))
    });
    g.bench_function("verify_and_decode", |b| {
        b.iter(|| {
            verify_signature(&secrets, black_box(&body), Some(&signature))
                .expect("valid signature");
            decode_event("pull_request_review", black_box(&body)).expect("decodes")
        })
    });
    // The whole hot path of one decision's CPU work: verify, decode, evaluate the policy on the
    // facts of a typical PR (one rule, one team, one approval on the head).
    let policy = fixtures::example_policy();
    let agent = fixtures::bot("ops-agent[bot]", 1);
    let alice = fixtures::user("alice", 2);
    let head = fixtures::sha(7);
    let mut facts = fixtures::pull(&agent, head.clone(), &["firewall/rules.toml"]);
    facts.reviews.push(fixtures::review(
        11,
        &alice,
        ReviewState::Approved,
        &head,
        5,
    ));
    fixtures::with_team(&mut facts, "acme/netops", &[&alice]);
    assert!(evaluate_approval(&policy, &facts).is_approved());
    g.bench_function("evaluate", |b| {
        b.iter(|| evaluate_approval(&policy, black_box(&facts)))
    });
    g.bench_function("verify_decode_evaluate", |b| {
        b.iter(|| {
            verify_signature(&secrets, black_box(&body), Some(&signature))
                .expect("valid signature");
            let event = decode_event("pull_request_review", black_box(&body)).expect("decodes");
            black_box(event);
            evaluate_approval(&policy, black_box(&facts))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
