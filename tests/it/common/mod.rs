pub mod harness;
pub mod install;
#[allow(dead_code)]
pub mod leaks;
#[allow(dead_code)]
pub mod npm;
pub mod python;

/// A prgate note's text as the record it states, in the JSON shape of `ExecutionNote`
/// (`merge`, `approvals`, `execution{outcome, refusal, ...}`), whichever version it is: a
/// version 2 envelope is opened and its statement read with prgate's own parser.
#[allow(dead_code)]
pub fn record_json(text: &[u8]) -> serde_json::Value {
    let note = prgate::record::read::parse_note("note", text).unwrap_or_else(|e| {
        panic!(
            "not a prgate record ({e}): {}",
            String::from_utf8_lossy(text)
        )
    });
    serde_json::to_value(&note).unwrap()
}
