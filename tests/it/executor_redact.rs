//! Redaction of secrets from executor output, through the library's stream redactor: each
//! encoding a command may print (base64 in both alphabets, padded or not, at every alignment
//! inside a longer blob; hex in either case; percent escapes), a secret split across lines,
//! and any cut of the stream into reads. The judge (`crate::common::leaks`) decodes on its own.

use std::sync::Arc;

use crate::common::leaks::recoverable;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use prgate::executor::redact::{REDACTED, Redactor, SecretForms};
use proptest::prelude::*;

const SECRET: &str = "fw-token-7d1e0c2b9a";

fn redact_in_chunks(data: &[u8], secrets: &[&str], chunk: usize) -> String {
    let mut r = Redactor::new(Arc::new(SecretForms::new(secrets)));
    let mut out = Vec::new();
    for c in data.chunks(chunk.max(1)) {
        out.extend(r.push(c));
    }
    out.extend(r.finish());
    String::from_utf8_lossy(&out).into_owned()
}

fn redact(data: &str, secrets: &[&str]) -> String {
    redact_in_chunks(data.as_bytes(), secrets, data.len())
}

fn assert_clean(out: &str) {
    assert!(
        !recoverable(out, SECRET.as_bytes()),
        "secret recoverable from {out:?}"
    );
    assert!(out.contains(REDACTED), "{out:?}");
}

#[test]
fn the_judge_sees_every_encoding_when_nothing_is_redacted() {
    let blob = format!("x{SECRET}yz");
    let every: String = blob.bytes().map(|b| format!("%{b:02x}")).collect();
    for text in [
        blob.clone(),
        STANDARD.encode(&blob),
        URL_SAFE_NO_PAD.encode(format!("ab{blob}")),
        hex::encode_upper(&blob),
        every,
        blob.replace('t', "\r\nt"),
    ] {
        assert!(recoverable(&text, SECRET.as_bytes()), "{text}");
    }
}

#[test]
fn secrets_are_redacted_even_when_split_across_reads() {
    let out = redact_in_chunks(b"token=hunter2 and again hunter2\n", &["hunter2"], 3);
    assert_eq!(out, "token=[REDACTED] and again [REDACTED]\n");
}

#[test]
fn a_secret_containing_another_is_replaced_whole() {
    assert_eq!(
        redact("abc-long-abc", &["abc", "abc-long-abc"]),
        "[REDACTED]"
    );
    // Overlapping matches of different secrets become one marker.
    assert_eq!(
        redact("xx-abcdef-xx", &["abcd", "cdef"]),
        "xx-[REDACTED]-xx"
    );
}

#[test]
fn empty_secrets_redact_nothing() {
    assert_eq!(redact("plain", &[""]), "plain");
    assert_eq!(redact("plain", &[]), "plain");
}

#[test]
fn base64_in_both_alphabets_with_and_without_padding() {
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        // Two bytes of 0xff make '/' or '_' appear where the alphabets differ.
        let secret = format!("{SECRET}\u{ff}?>");
        let encoded = engine.encode(&secret);
        let out = redact(&format!("token: {encoded}\n"), &[&secret]);
        assert_eq!(out, "token: [REDACTED]\n", "{encoded}");
    }
}

#[test]
fn base64_of_a_secret_inside_a_longer_blob_at_each_alignment() {
    for prefix in ["", "a", "ab", "abc", "{\"token\":\""] {
        for suffix in ["", "\"}", "x", "xy"] {
            let blob = format!("{prefix}{SECRET}{suffix}");
            for engine in [STANDARD, URL_SAFE_NO_PAD] {
                let out = redact(&engine.encode(&blob), &[SECRET]);
                assert_clean(&out);
            }
        }
    }
}

#[test]
fn hex_in_either_case() {
    let lower = hex::encode(SECRET);
    assert_eq!(redact(&format!("= {lower} ="), &[SECRET]), "= [REDACTED] =");
    let upper = lower.to_uppercase();
    assert_eq!(redact(&format!("={upper}="), &[SECRET]), "=[REDACTED]=");
}

#[test]
fn percent_encoding_of_some_or_every_byte() {
    let some = SECRET.replace('-', "%2D");
    assert_eq!(
        redact(&format!("?t={some}&x"), &[SECRET]),
        "?t=[REDACTED]&x"
    );
    let every: String = SECRET.bytes().map(|b| format!("%{b:02x}")).collect();
    assert_eq!(
        redact(&format!("?t={every}&x"), &[SECRET]),
        "?t=[REDACTED]&x"
    );
    assert_eq!(redact("q=a+b+c", &["a b c"]), "q=[REDACTED]");
    // A literal `%` in the secret matches as itself or as %25.
    assert_eq!(
        redact("p%25q and p%q", &["p%q"]),
        "[REDACTED] and [REDACTED]"
    );
}

#[test]
fn a_secret_split_across_lines() {
    let folded: Vec<String> = SECRET
        .as_bytes()
        .chunks(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_eq!(
        redact(&format!("{}\n", folded.join("\n")), &[SECRET]),
        "[REDACTED]\n"
    );
    assert_eq!(redact(&folded.join("\r\n"), &[SECRET]), "[REDACTED]");
    // base64 as `base64` wraps it, and hex as `xxd -p` does.
    let wrapped = STANDARD.encode(format!("some json {{\"token\": \"{SECRET}\"}}"));
    let wrapped: Vec<String> = wrapped
        .as_bytes()
        .chunks(10)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_clean(&redact(&wrapped.join("\n"), &[SECRET]));
    // A secret that holds a line break matches as itself.
    assert_eq!(
        redact("a\nb and a\r\nb", &["a\nb"]),
        "[REDACTED] and [REDACTED]"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever surrounds it, however it is encoded and cut into reads, no 8 bytes of
    /// the secret survive, and the output without secrets is untouched.
    #[test]
    fn no_encoding_of_the_secret_survives_any_chunking(
        secret in "[ -~]{12,40}",
        prefix in proptest::collection::vec(any::<u8>(), 0..8),
        suffix in proptest::collection::vec(any::<u8>(), 0..8),
        encoding in 0usize..6,
        fold in 0usize..12,
        chunk in 1usize..64,
    ) {
        let mut blob = prefix.clone();
        blob.extend_from_slice(secret.as_bytes());
        blob.extend_from_slice(&suffix);
        let mut text = match encoding {
            0 => STANDARD.encode(&blob),
            1 => URL_SAFE_NO_PAD.encode(&blob),
            2 => hex::encode(&blob),
            3 => hex::encode_upper(&blob),
            4 => blob.iter().map(|b| format!("%{b:02X}")).collect(),
            _ => format!("{}{}{}", hex::encode(&prefix), secret, hex::encode(&suffix)),
        };
        if fold > 0 {
            let lines: Vec<String> = text
                .as_bytes()
                .chunks(fold + 3)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            text = lines.join(if fold % 2 == 0 { "\n" } else { "\r\n" });
        }
        let out = redact_in_chunks(text.as_bytes(), &[secret.as_str()], chunk);
        prop_assert!(!recoverable(&out, secret.as_bytes()), "{} -> {}", text, out);
        let whole = redact_in_chunks(text.as_bytes(), &[secret.as_str()], text.len());
        prop_assert_eq!(out, whole);
    }

    #[test]
    fn output_without_secrets_passes_unchanged(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        chunk in 1usize..40,
    ) {
        let secret = "a-secret-not-in-the-data-\u{1}";
        let text = String::from_utf8_lossy(&data).into_owned();
        prop_assume!(!recoverable(&text, secret.as_bytes()));
        let out = redact_in_chunks(text.as_bytes(), &[secret], chunk);
        prop_assert_eq!(out, text);
    }
}
