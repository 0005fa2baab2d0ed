//! The repository policy parser (`.github/prgate.toml`, written by whoever can open a PR that
//! changes it). A policy that parses is also matched against a few paths: the rules engine
//! must not panic on anything the parser accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prgate::policy::{executors_for, matched_rules, parse_policy};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = parse_policy(".github/prgate.toml", text) {
        let files = vec![
            "firewall/rules.toml".to_string(),
            ".github/prgate.toml".to_string(),
            "docs/a b/ü.md".to_string(),
        ];
        let _ = matched_rules(&policy, &files);
        let _ = executors_for(&policy, &files);
    }
});
