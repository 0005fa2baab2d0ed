//! Input from outside the process never panics: webhook payloads of any shape, signature
//! headers of any text, policy and server config files of any text. Property tests over
//! arbitrary and near-valid inputs.

use prgate::config::{Secret, parse_server_config};
use prgate::policy::{parse_policy, policy_check};
use prgate::webhook::{decode_event, verify_signature};
use proptest::prelude::*;

const EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "push",
    "status",
    "ping",
    "issues",
    "x",
];

/// JSON values of any shape, a few levels deep, with the keys our decoder looks for.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "[a-z0-9/#._-]{0,45}".prop_map(serde_json::Value::String),
        Just(serde_json::json!(
            "0000000000000000000000000000000000000000"
        )),
        Just(serde_json::json!("acme/infra")),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let keys = prop::sample::select(vec![
            "action",
            "number",
            "pull_request",
            "head",
            "base",
            "sha",
            "ref",
            "repository",
            "full_name",
            "before",
            "after",
            "forced",
            "context",
            "state",
            "sender",
            "login",
            "review",
            "commit_id",
            "zen",
            "other",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_any_payload_never_panics(event in prop::sample::select(EVENTS), body in json_value()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let _ = decode_event(event, &bytes);
    }

    #[test]
    fn decoding_any_bytes_never_panics(event in prop::sample::select(EVENTS), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_event(event, &bytes);
    }

    #[test]
    fn any_forged_signature_header_is_refused(header in "(sha256=)?[0-9a-f]{0,70}|.{0,100}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let secrets = [Secret::new("s3cret")];
        prop_assert!(verify_signature(&secrets, &body, Some(&header)).is_err());
    }

    #[test]
    fn a_signature_for_other_bytes_is_refused(body in prop::collection::vec(any::<u8>(), 1..64), flip in any::<prop::sample::Index>()) {
        let secrets = [Secret::new("s3cret")];
        let good = prgate::webhook::sign("s3cret", &body);
        prop_assert!(verify_signature(&secrets, &body, Some(&good)).is_ok());
        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1;
        prop_assert!(verify_signature(&secrets, &tampered, Some(&good)).is_err());
    }

    #[test]
    fn any_policy_text_is_an_answer_not_a_panic(text in "(version|rules|paths|approvers|users|teams|min_approvals|name|merge|\\[|\\]|\\[\\[|=|\"|,|\\{|\\}|\\n|[a-z0-9*/ .-])*") {
        let _ = parse_policy("p.toml", &text);
        let _ = policy_check("p.toml", &text);
    }

    #[test]
    fn any_server_config_text_is_an_answer_not_a_panic(text in "(listen|data_dir|webhook_secrets|github|api_url|token|repos|executors|command|env:|file:|\\[|\\]|=|\"|,|\\n|[a-z0-9:/. -])*") {
        let _ = parse_server_config("prgate.toml", &text);
    }
}
