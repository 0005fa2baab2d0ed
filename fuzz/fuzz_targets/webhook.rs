//! A webhook delivery as the service reads it: the signature check over the raw body, then the
//! decoder. Input: the event name, a newline, the body (so that GitHub's example deliveries,
//! prefixed with their event name, are seeds). A body signed with the secret must pass the
//! check; one signed with another secret must fail it; decoding never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prgate::config::Secret;
use prgate::webhook::{decode_event, sign, verify_signature};

const SECRET: &str = "fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let event = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or(&[]);
    let secrets = [Secret::new(SECRET)];

    let good = sign(SECRET, body);
    assert!(verify_signature(&secrets, body, Some(&good)).is_ok());
    let other = sign("another-secret", body);
    assert!(verify_signature(&secrets, body, Some(&other)).is_err());
    // Whatever the header holds, the check answers without panicking.
    let _ = verify_signature(&secrets, body, Some(&event));
    let _ = verify_signature(&secrets, body, None);

    let _ = decode_event(&event, body);
});
