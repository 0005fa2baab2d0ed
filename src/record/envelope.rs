//! DSSE (Dead Simple Signing Envelope, <https://github.com/secure-systems-lab/dsse>), the
//! signed wrapper of a version 2 record: `{"payloadType", "payload" (base64), "signatures":
//! [{"keyid", "sig"}]}`, each signature ed25519 over DSSE's pre-authentication encoding (PAE)
//! of the payload's exact bytes. A verifier checks the bytes as stored and never serialises
//! anything again, so a later change of field order or time formatting breaks no old record.
//!
//! Hand-written: the envelope is three JSON fields and PAE one line of the spec; a DSSE or
//! in-toto crate would bring key types of its own around the ed25519-dalek keys prgate
//! already has, for no check this module lacks.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The payload type of an in-toto statement, the only one a prgate record carries.
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A stored envelope, as JSON. Unknown fields are refused: an envelope is written by prgate
/// only, and a field this version does not know could be one it should have checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<SignatureJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    /// DSSE makes `keyid` optional; prgate always writes it, and a signature without one is
    /// read as naming no key (so no trusted key is tried against it).
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// One signature of an envelope, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The key id the signature names (see [`key_id`]).
    pub keyid: String,
    /// The signature bytes; a value that is not base64 is kept as empty, and then never
    /// verifies.
    pub sig: Vec<u8>,
}

/// An envelope as read: the payload's exact bytes, and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`,
/// lengths in ASCII decimal. What every signature covers.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The id of a public key, as written in every signature's `keyid` and printed by
/// `prgate key`: sha256 of the 32 raw key bytes, hex. Anyone holding the public key can
/// compute it (`xxd -r -p <<< HEX | sha256sum`).
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The envelope's text for `payload`, signed by `key` when one is given (an executor without
/// a `note_signing_key` writes an envelope with no signature, which verifies under no key).
pub(crate) fn seal(payload: &[u8], key: Option<&SigningKey>) -> String {
    let signatures = key
        .map(|k| {
            let sig: Signature = k.sign(&pae(PAYLOAD_TYPE, payload));
            SignatureJson {
                keyid: key_id(&k.verifying_key()),
                sig: STANDARD.encode(sig.to_bytes()),
            }
        })
        .into_iter()
        .collect();
    let envelope = EnvelopeJson {
        payload_type: PAYLOAD_TYPE.to_string(),
        payload: STANDARD.encode(payload),
        signatures,
    };
    // Plain data of our own: it always serialises.
    let mut text = serde_json::to_string_pretty(&envelope).unwrap_or_default();
    text.push('\n');
    text
}

/// Whether `text` looks like an envelope rather than a version 1 note: a JSON object with a
/// `payloadType` key. Only decides which parser reads it; that parser then judges it.
pub(crate) fn looks_like_envelope(text: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "payloadType")]
        payload_type: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(text).is_ok_and(|p| p.payload_type.is_some())
}

/// DSSE lets a writer use standard or URL-safe base64 and says a reader must take both.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    let pad = |s: &str| {
        let mut s = s.to_string();
        while !s.len().is_multiple_of(4) {
            s.push('=');
        }
        s
    };
    let padded = pad(trimmed);
    STANDARD
        .decode(&padded)
        .or_else(|_| URL_SAFE.decode(&padded))
        .ok()
}

/// Parses an envelope's text (pure: no I/O). The payload type must be the in-toto one and
/// the payload valid base64; signatures are decoded, not checked (see [`verify`]).
pub fn open(text: &[u8]) -> Result<Opened, String> {
    let e: EnvelopeJson =
        serde_json::from_slice(text).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if e.payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "the envelope's payloadType is {:?}; a prgate record is {PAYLOAD_TYPE:?}",
            e.payload_type
        ));
    }
    let payload = decode_base64(&e.payload)
        .ok_or_else(|| "the envelope's payload is not base64".to_string())?;
    let signatures = e
        .signatures
        .into_iter()
        .map(|s| EnvelopeSignature {
            keyid: s.keyid,
            sig: decode_base64(&s.sig).unwrap_or_default(),
        })
        .collect();
    Ok(Opened {
        payload_type: e.payload_type,
        payload,
        signatures,
    })
}

/// What an envelope's signatures amount to against the keys a verifier trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeCheck {
    /// A signature by `key`, one of the trusted keys, verifies over the exact payload.
    Valid { key: VerifyingKey },
    /// No signature at all.
    Unsigned,
    /// Signatures only by keys none of the trusted ones is (their key ids).
    UntrustedKey { keyids: Vec<String> },
    /// A signature names a trusted key and does not verify: the payload was changed.
    Invalid { reason: String },
}

/// Checks `opened` against `trusted`. A signature's `keyid` only selects which trusted key to
/// try; a key the verifier was not given is never used.
pub fn verify(opened: &Opened, trusted: &[VerifyingKey]) -> EnvelopeCheck {
    if opened.signatures.is_empty() {
        return EnvelopeCheck::Unsigned;
    }
    let message = pae(&opened.payload_type, &opened.payload);
    let mut invalid = None;
    for s in &opened.signatures {
        let Some(key) = trusted.iter().find(|k| key_id(k) == s.keyid) else {
            continue;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(s.sig.as_slice()) else {
            invalid = Some(format!(
                "the signature by key {} is not 64 base64-encoded bytes",
                s.keyid
            ));
            continue;
        };
        // `verify_strict` refuses the malleable and weak-key cases plain `verify` accepts.
        match key.verify_strict(&message, &Signature::from_bytes(&bytes)) {
            Ok(()) => return EnvelopeCheck::Valid { key: *key },
            Err(_) => {
                invalid = Some(format!(
                    "the signature by key {} does not match the record's payload; the record was changed after it was signed",
                    s.keyid
                ))
            }
        }
    }
    match invalid {
        Some(reason) => EnvelopeCheck::Invalid { reason },
        None => EnvelopeCheck::UntrustedKey {
            keyids: opened.signatures.iter().map(|s| s.keyid.clone()).collect(),
        },
    }
}

/// The digest by which a later record names this one (`previous`): sha256 of the note's
/// text exactly as stored, hex, so that `git notes --ref=prgate show C | sha256sum` gives it.
pub fn note_digest(text: &[u8]) -> String {
    hex::encode(Sha256::digest(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // The test vector of DSSE's protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_sealed_payload_opens_to_the_same_bytes_and_verifies() {
        let payload = br#"{"b": 1,  "a": "x"}"#;
        let text = seal(payload, Some(&key(3)));
        let opened = open(text.as_bytes()).unwrap();
        assert_eq!(opened.payload, payload.to_vec());
        let vk = key(3).verifying_key();
        assert_eq!(
            verify(&opened, &[key(1).verifying_key(), vk]),
            EnvelopeCheck::Valid { key: vk }
        );
        assert_eq!(opened.signatures[0].keyid, key_id(&vk));
    }

    #[test]
    fn a_changed_payload_or_signature_does_not_verify() {
        let vk = key(3).verifying_key();
        let text = seal(b"{\"approved\": true}", Some(&key(3)));
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["payload"] = STANDARD.encode(b"{\"approved\": false}").into();
        let opened = open(v.to_string().as_bytes()).unwrap();
        assert!(matches!(
            verify(&opened, &[vk]),
            EnvelopeCheck::Invalid { .. }
        ));
        // The same content with one space more is other bytes: never re-serialised.
        v["payload"] = STANDARD.encode(b"{\"approved\":  true}").into();
        let opened = open(v.to_string().as_bytes()).unwrap();
        assert!(matches!(
            verify(&opened, &[vk]),
            EnvelopeCheck::Invalid { .. }
        ));
        v["payload"] = STANDARD.encode(b"{\"approved\": true}").into();
        v["signatures"][0]["sig"] = "AAAA".into();
        let opened = open(v.to_string().as_bytes()).unwrap();
        assert!(matches!(
            verify(&opened, &[vk]),
            EnvelopeCheck::Invalid { .. }
        ));
    }

    #[test]
    fn other_keys_and_no_signature_never_verify() {
        let opened = open(seal(b"{}", Some(&key(4))).as_bytes()).unwrap();
        assert_eq!(
            verify(&opened, &[key(3).verifying_key()]),
            EnvelopeCheck::UntrustedKey {
                keyids: vec![key_id(&key(4).verifying_key())]
            }
        );
        assert!(matches!(
            verify(&opened, &[]),
            EnvelopeCheck::UntrustedKey { .. }
        ));
        let unsigned = open(seal(b"{}", None).as_bytes()).unwrap();
        assert_eq!(
            verify(&unsigned, &[key(3).verifying_key()]),
            EnvelopeCheck::Unsigned
        );
        // A signature by another key that claims the trusted key's id.
        let mut v: serde_json::Value = serde_json::from_str(&seal(b"{}", Some(&key(4)))).unwrap();
        v["signatures"][0]["keyid"] = key_id(&key(3).verifying_key()).into();
        let forged = open(v.to_string().as_bytes()).unwrap();
        assert!(matches!(
            verify(&forged, &[key(3).verifying_key()]),
            EnvelopeCheck::Invalid { .. }
        ));
    }

    #[test]
    fn url_safe_base64_and_missing_padding_are_read() {
        let payload = [0xfbu8, 0xff, 0xfe];
        let text = format!(
            "{{\"payloadType\":\"{PAYLOAD_TYPE}\",\"payload\":\"{}\",\"signatures\":[]}}",
            URL_SAFE.encode(payload).trim_end_matches('=')
        );
        assert_eq!(open(text.as_bytes()).unwrap().payload, payload.to_vec());
    }

    #[test]
    fn envelopes_of_other_types_or_shapes_are_refused() {
        let other = format!(
            "{{\"payloadType\":\"text/plain\",\"payload\":\"{}\",\"signatures\":[]}}",
            STANDARD.encode(b"x")
        );
        assert!(open(other.as_bytes()).unwrap_err().contains("payloadType"));
        assert!(open(b"{\"payloadType\":\"application/vnd.in-toto+json\"}").is_err());
        assert!(open(b"not json").is_err());
        assert!(looks_like_envelope(other.as_bytes()));
        assert!(!looks_like_envelope(b"{\"version\": 1}"));
        assert!(!looks_like_envelope(b"\xff\xfe"));
    }
}
