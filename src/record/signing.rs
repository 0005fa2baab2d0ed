//! Signatures on execution notes (ed25519), so that `prgate verify` and `prgate audit` can
//! tell offline that a note was written by the gate's executor and not edited since: anyone
//! who can push to `refs/notes/prgate` can write a note, only the holder of the key can sign it.
//!
//! The crypto is `ed25519-dalek`'s; this module only decides what is signed and how keys are
//! written down (hex, as `git log --notes` readers and shell scripts can handle it). Version 2
//! records are DSSE envelopes signed over their exact payload (`super::envelope`); version 1
//! notes carry a signature over their re-serialisation, checked here as before.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::note::{ExecutionNote, NoteSignature};
use crate::config::{ConfigError, SecretRef};

/// The only algorithm this version writes or accepts.
const ALGORITHM: &str = "ed25519";

/// What a key file holds: the 32-byte seed as 64 hex characters (a trailing newline allowed).
const SEED_FORMAT: &str =
    "64 hexadecimal characters (a 32-byte ed25519 seed, as `prgate key generate` writes it)";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what}: expected {expected}, found {found}")]
    Format {
        what: String,
        expected: &'static str,
        found: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot write {path}: {source}{}",
        if source.kind() == std::io::ErrorKind::AlreadyExists { " (prgate never overwrites a key; remove it first or choose another path)" } else { "" }
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    #[error("cannot encode the note for signing: {0}")]
    Encode(String),
}

/// Describes what was found in place of a key without echoing a secret: its length and
/// whether it is hex, never its content.
fn describe(text: &str) -> String {
    let hex = !text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit());
    format!(
        "{} characters{}",
        text.chars().count(),
        if hex { "" } else { " that are not all hex" }
    )
}

/// Parses a seed written as 64 hex characters; `what` names where it came from.
fn parse_seed(what: &str, text: &str) -> Result<SigningKey, KeyError> {
    let text = text.trim();
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::Format {
            what: what.to_string(),
            expected: SEED_FORMAT,
            found: describe(text),
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a seed file.
pub fn read_seed_file(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_seed(&path.display().to_string(), &text)
}

/// Resolves the server config's `note_signing_key`. A reference that cannot be read, or that
/// does not hold a seed, is a configuration error naming the reference and the format.
pub fn resolve_signing_key(reference: &SecretRef) -> Result<SigningKey, ConfigError> {
    let secret = reference.resolve()?;
    parse_seed(&format!("note_signing_key {reference}"), secret.expose()).map_err(|e| {
        ConfigError::Secret {
            reference: reference.to_string(),
            message: e.to_string(),
        }
    })
}

/// A new seed from the operating system's random source.
pub fn generate_key() -> Result<SigningKey, KeyError> {
    use rand::TryRngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes a new key's seed to `path` as hex, readable by its owner only. Refuses to replace
/// an existing file: overwriting a key in use would orphan every note it signed.
pub fn write_seed_file(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    use std::io::Write;
    let err = |source| KeyError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
        .map_err(err)?;
    f.sync_all().map_err(err)
}

/// A public key as hex.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

fn parse_public_hex(what: &str, text: &str) -> Result<VerifyingKey, KeyError> {
    const EXPECTED: &str = "64 hexadecimal characters (a 32-byte ed25519 public key, as `prgate key generate` or `prgate key public` prints it)";
    let text = text.trim();
    let format = || KeyError::Format {
        what: what.to_string(),
        expected: EXPECTED,
        found: describe(text),
    };
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(format)?;
    // Not every 32 bytes are a point on the curve.
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Format {
        what: what.to_string(),
        expected: EXPECTED,
        found: "64 hex characters that are not a valid ed25519 public key".into(),
    })
}

/// Parses a `--public-key` argument: the key as hex, or `file:PATH` of a file holding it.
pub fn parse_public_key_arg(arg: &str) -> Result<VerifyingKey, KeyError> {
    match arg.strip_prefix("file:") {
        Some(path) => {
            let path = PathBuf::from(path);
            let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Read {
                path: path.display().to_string(),
                source,
            })?;
            parse_public_hex(&format!("--public-key file:{}", path.display()), &text)
        }
        None => parse_public_hex("--public-key", arg),
    }
}

/// The bytes a signature covers: the note's compact JSON with `signature` absent.
///
/// This is deterministic because serde serializes a struct's fields in declaration order and
/// every value prgate puts in a note has exactly one rendering (integers, strings, RFC 3339
/// times from chrono); a verifier re-serializes the parsed note rather than trusting the
/// note's text, so whitespace or key order in the stored text do not matter. Fields this
/// version does not know are dropped when parsing and so are not covered, which is why the
/// note's `version` must change whenever a field is added.
pub(crate) fn signed_bytes(note: &ExecutionNote) -> Result<Vec<u8>, KeyError> {
    let mut unsigned = note.clone();
    unsigned.signature = None;
    serde_json::to_vec(&unsigned).map_err(|e| KeyError::Encode(e.to_string()))
}

/// Signs `note` with `key`, replacing any earlier signature (the note is re-signed each time
/// it grows, from the claim to the result).
pub fn sign_note(note: &mut ExecutionNote, key: &SigningKey) -> Result<(), KeyError> {
    let bytes = signed_bytes(note)?;
    let sig: Signature = key.sign(&bytes);
    note.signature = Some(NoteSignature {
        algorithm: ALGORITHM.to_string(),
        public_key: public_key_hex(&key.verifying_key()),
        value: hex::encode(sig.to_bytes()),
    });
    Ok(())
}

/// What a note's signature amounts to against the keys the verifier trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureCheck {
    /// Signed by `key`, one of the trusted keys, and the note is what it signed.
    Valid { key: VerifyingKey },
    /// The note carries no signature.
    Unsigned,
    /// Signed by a key that is not among the trusted ones (its hex as the note states it).
    UntrustedKey { key: String },
    /// The signature is malformed, of another algorithm, or does not match the note.
    Invalid { reason: String },
}

/// The note's text as prgate stores it: for a version 2 record, the envelope around its
/// statement, signed by `key` when one is given; for a version 1 note (kept for the tests and
/// tools that still write one), its JSON, signed as version 1 signs.
pub fn encode_note(note: &ExecutionNote, key: Option<&SigningKey>) -> Result<String, KeyError> {
    if note.version >= super::note::RECORD_VERSION {
        let payload = super::statement::statement_bytes(note).map_err(KeyError::Encode)?;
        return Ok(super::envelope::seal(&payload, key));
    }
    let mut n = note.clone();
    if let Some(key) = key {
        sign_note(&mut n, key)?;
    }
    n.to_json().map_err(|e| KeyError::Encode(e.to_string()))
}

/// Who the note says signed it, without judging it: the key id(s) of a version 2 record's
/// signatures, the public key of a version 1 note's; `None` when it carries no signature.
pub(crate) fn signer_hint(note: &ExecutionNote) -> Option<String> {
    if note.version >= super::note::RECORD_VERSION {
        let sealed = note.v2.as_ref()?.sealed.as_ref()?;
        if sealed.signatures.is_empty() {
            return None;
        }
        let ids: Vec<&str> = sealed.signatures.iter().map(|s| s.keyid.as_str()).collect();
        return Some(format!("key id {}", ids.join(", ")));
    }
    note.signature.as_ref().map(|s| s.public_key.clone())
}

/// Checks `note`'s signature against `trusted`. The key named in the note only selects which
/// trusted key to try; a key the verifier was not given is never used to verify.
pub(crate) fn check_signature(note: &ExecutionNote, trusted: &[VerifyingKey]) -> SignatureCheck {
    if note.version >= super::note::RECORD_VERSION {
        // A version 2 record read from git carries its envelope; one built in memory is not
        // signed yet.
        let Some(sealed) = note.v2.as_ref().and_then(|f| f.sealed.as_ref()) else {
            return SignatureCheck::Unsigned;
        };
        return match super::envelope::verify(sealed, trusted) {
            super::envelope::EnvelopeCheck::Valid { key } => SignatureCheck::Valid { key },
            super::envelope::EnvelopeCheck::Unsigned => SignatureCheck::Unsigned,
            super::envelope::EnvelopeCheck::UntrustedKey { keyids } => {
                SignatureCheck::UntrustedKey {
                    key: format!("key id {}", keyids.join(", ")),
                }
            }
            super::envelope::EnvelopeCheck::Invalid { reason } => {
                SignatureCheck::Invalid { reason }
            }
        };
    }
    let Some(sig) = &note.signature else {
        return SignatureCheck::Unsigned;
    };
    if sig.algorithm != ALGORITHM {
        return SignatureCheck::Invalid {
            reason: format!(
                "the signature's algorithm is {:?}; this prgate checks only {ALGORITHM}",
                sig.algorithm
            ),
        };
    }
    let named = sig.public_key.trim().to_ascii_lowercase();
    let Some(key) = trusted.iter().find(|k| public_key_hex(k) == named) else {
        return SignatureCheck::UntrustedKey {
            key: sig.public_key.clone(),
        };
    };
    let Some(value) = hex::decode(sig.value.trim())
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return SignatureCheck::Invalid {
            reason: "the signature value is not 128 hex characters".into(),
        };
    };
    let bytes = match signed_bytes(note) {
        Ok(b) => b,
        Err(e) => {
            return SignatureCheck::Invalid {
                reason: e.to_string(),
            };
        }
    };
    // `verify_strict` rejects the malleable and weak-key edge cases plain `verify` accepts.
    match key.verify_strict(&bytes, &Signature::from_bytes(&value)) {
        Ok(()) => SignatureCheck::Valid { key: *key },
        Err(_) => SignatureCheck::Invalid {
            reason: "the signature does not match the note's content; the note was changed after it was signed".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::note::tests::sample;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    #[test]
    fn a_signed_note_checks_as_valid_against_its_key() {
        let mut n = sample();
        sign_note(&mut n, &key(7)).unwrap();
        let vk = key(7).verifying_key();
        assert_eq!(
            check_signature(&n, &[key(1).verifying_key(), vk]),
            SignatureCheck::Valid { key: vk }
        );
        // And still after the trip through git's note text.
        let parsed = ExecutionNote::from_json("m", &n.to_json().unwrap()).unwrap();
        assert_eq!(
            check_signature(&parsed, &[vk]),
            SignatureCheck::Valid { key: vk }
        );
    }

    #[test]
    fn a_changed_field_invalidates_the_signature() {
        let mut n = sample();
        sign_note(&mut n, &key(7)).unwrap();
        let vk = key(7).verifying_key();
        let mut tampered = n.clone();
        tampered.approvals[0].login = crate::types::Login::new("mallory");
        assert!(matches!(
            check_signature(&tampered, &[vk]),
            SignatureCheck::Invalid { .. }
        ));
        let mut tampered = n.clone();
        if let Some(e) = tampered.execution.as_mut() {
            e.exit_code = Some(1);
        }
        assert!(matches!(
            check_signature(&tampered, &[vk]),
            SignatureCheck::Invalid { .. }
        ));
        let mut garbled = n.clone();
        if let Some(s) = garbled.signature.as_mut() {
            s.value = "zz".into();
        }
        assert!(matches!(
            check_signature(&garbled, &[vk]),
            SignatureCheck::Invalid { .. }
        ));
        let mut other_alg = n;
        if let Some(s) = other_alg.signature.as_mut() {
            s.algorithm = "rsa".into();
        }
        assert!(matches!(
            check_signature(&other_alg, &[vk]),
            SignatureCheck::Invalid { .. }
        ));
    }

    #[test]
    fn another_key_is_untrusted_and_no_signature_is_unsigned() {
        let mut n = sample();
        assert_eq!(
            check_signature(&n, &[key(7).verifying_key()]),
            SignatureCheck::Unsigned
        );
        sign_note(&mut n, &key(8)).unwrap();
        assert_eq!(
            check_signature(&n, &[key(7).verifying_key()]),
            SignatureCheck::UntrustedKey {
                key: public_key_hex(&key(8).verifying_key())
            }
        );
        // No trusted key at all: nothing can be valid.
        assert!(matches!(
            check_signature(&n, &[]),
            SignatureCheck::UntrustedKey { .. }
        ));
    }

    #[test]
    fn a_forged_key_hint_does_not_make_a_signature_valid() {
        // The note names the trusted key but was signed by another: verification uses the
        // trusted key itself, so it fails.
        let mut n = sample();
        sign_note(&mut n, &key(8)).unwrap();
        if let Some(s) = n.signature.as_mut() {
            s.public_key = public_key_hex(&key(7).verifying_key());
        }
        assert!(matches!(
            check_signature(&n, &[key(7).verifying_key()]),
            SignatureCheck::Invalid { .. }
        ));
    }

    #[test]
    fn canonical_bytes_survive_parse_and_serialise() {
        let mut n = sample();
        sign_note(&mut n, &key(7)).unwrap();
        let before = signed_bytes(&n).unwrap();
        // Pretty text as stored, and the same object with its keys in another order.
        let parsed = ExecutionNote::from_json("m", &n.to_json().unwrap()).unwrap();
        assert_eq!(signed_bytes(&parsed).unwrap(), before);
        let mut v: serde_json::Value = serde_json::from_slice(&before).unwrap();
        let reordered = serde_json::json!({
            "execution": v["execution"].take(),
            "decided_at": v["decided_at"].take(),
            "approvals": v["approvals"].take(),
            "rules": v["rules"].take(),
            "policy_blob": v["policy_blob"].take(),
            "merge": v["merge"].take(),
            "head": v["head"].take(),
            "base": v["base"].take(),
            "pull": v["pull"].take(),
            "repo": v["repo"].take(),
            "version": v["version"].take(),
        });
        let parsed = ExecutionNote::from_json("m", &reordered.to_string()).unwrap();
        assert_eq!(signed_bytes(&parsed).unwrap(), before);
        // The signature itself is not part of what it signs.
        assert!(!String::from_utf8_lossy(&before).contains("signature"));
    }

    #[test]
    fn seeds_and_public_keys_parse_from_hex_only() {
        let k = key(9);
        let seed = hex::encode(k.to_bytes());
        assert_eq!(
            parse_seed("x", &format!("{seed}\n")).unwrap().to_bytes(),
            k.to_bytes()
        );
        let e = parse_seed("/etc/prgate/k", "not a key")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/etc/prgate/k") && e.contains("64 hexadecimal"),
            "{e}"
        );
        assert!(!e.contains("not a key"), "a bad seed is not echoed: {e}");
        assert!(parse_seed("x", &seed[..62]).is_err());
        let pk = public_key_hex(&k.verifying_key());
        assert_eq!(parse_public_key_arg(&pk).unwrap(), k.verifying_key());
        assert!(parse_public_key_arg("abc").is_err());
        assert!(parse_public_key_arg("file:/nonexistent/prgate.pub").is_err());
    }

    #[test]
    fn generated_keys_are_written_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let k = generate_key().unwrap();
        write_seed_file(&path, &k).unwrap();
        assert_eq!(read_seed_file(&path).unwrap().to_bytes(), k.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_seed_file(&path, &generate_key().unwrap()).unwrap_err();
        assert!(again.to_string().contains("never overwrites"), "{again}");
        assert_eq!(read_seed_file(&path).unwrap().to_bytes(), k.to_bytes());
    }

    #[test]
    fn a_config_key_that_is_not_a_seed_is_a_config_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("note-signing.key");
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let r = SecretRef::File(path.clone());
        let e = resolve_signing_key(&r).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("64 hexadecimal"), "{e}");
        let missing = SecretRef::File(dir.path().join("absent"));
        assert!(resolve_signing_key(&missing).is_err());
    }

    #[test]
    fn the_server_config_takes_an_optional_note_signing_key() {
        let base = "webhook_secrets = [\"env:S\"]\n[[repos]]\nname = \"acme/infra\"\n[github]\ntoken = \"env:T\"\n";
        let cfg = crate::config::parse_server_config("prgate.toml", base).unwrap();
        assert!(cfg.note_signing_key.is_none());
        let text = format!("note_signing_key = \"file:/etc/prgate/note-signing.key\"\n{base}");
        let cfg = crate::config::parse_server_config("prgate.toml", &text).unwrap();
        assert_eq!(
            cfg.note_signing_key,
            Some(SecretRef::File("/etc/prgate/note-signing.key".into()))
        );
        // Like every secret, a literal value is refused.
        let literal = format!("note_signing_key = \"{}\"\n{base}", "ab".repeat(32));
        assert!(crate::config::parse_server_config("prgate.toml", &literal).is_err());
    }
}

#[cfg(test)]
mod v2_tests {
    use super::*;
    use crate::record::note::Outcome;
    use crate::record::note::tests::sample_v2;
    use crate::record::read::parse_note;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    #[test]
    fn a_written_v2_record_reads_back_and_verifies_against_its_key() {
        let text = encode_note(&sample_v2(), Some(&key(7))).unwrap();
        let read = parse_note("m", text.as_bytes()).unwrap();
        assert_eq!(read.version, 2);
        let vk = key(7).verifying_key();
        assert_eq!(
            check_signature(&read, &[key(1).verifying_key(), vk]),
            SignatureCheck::Valid { key: vk }
        );
        assert_eq!(
            signer_hint(&read),
            Some(format!("key id {}", super::super::envelope::key_id(&vk)))
        );
        assert!(matches!(
            check_signature(&read, &[key(1).verifying_key()]),
            SignatureCheck::UntrustedKey { .. }
        ));
    }

    #[test]
    fn an_edited_v2_payload_fails_and_an_unsigned_one_is_unsigned() {
        use base64::Engine as _;
        let text = encode_note(&sample_v2(), Some(&key(7))).unwrap();
        let mut env: serde_json::Value = serde_json::from_str(&text).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        let edited = String::from_utf8(payload)
            .unwrap()
            .replace("\"succeeded\"", "\"failed\"");
        env["payload"] = b64.encode(edited).into();
        let read = parse_note("m", env.to_string().as_bytes()).unwrap();
        assert_eq!(read.execution.as_ref().unwrap().outcome, Outcome::Failed);
        assert!(matches!(
            check_signature(&read, &[key(7).verifying_key()]),
            SignatureCheck::Invalid { .. }
        ));
        let unsigned =
            parse_note("m", encode_note(&sample_v2(), None).unwrap().as_bytes()).unwrap();
        assert_eq!(
            check_signature(&unsigned, &[key(7).verifying_key()]),
            SignatureCheck::Unsigned
        );
        assert_eq!(signer_hint(&unsigned), None);
    }
}

#[cfg(test)]
mod v2_props {
    use super::*;
    use crate::record::note::tests::sample_v2;
    use crate::record::read::parse_note;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Bytes from outside never make the parser panic.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_note("m", &bytes);
        }

        /// One byte of a signed record changed: whatever still verifies under the key states
        /// exactly the payload that was signed.
        #[test]
        fn a_changed_byte_never_verifies_as_other_content(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let k = SigningKey::from_bytes(&[7; 32]);
            let text = encode_note(&sample_v2(), Some(&k)).unwrap().into_bytes();
            let original = parse_note("m", &text).unwrap();
            let original_payload = original.v2.as_ref().and_then(|f| f.sealed.as_ref()).map(|s| s.payload.clone());
            let mut changed = text.clone();
            let i = index.index(changed.len());
            prop_assume!(changed[i] != byte);
            changed[i] = byte;
            if let Ok(n) = parse_note("m", &changed)
                && matches!(check_signature(&n, &[k.verifying_key()]), SignatureCheck::Valid { .. })
            {
                let payload = n.v2.as_ref().and_then(|f| f.sealed.as_ref()).map(|s| s.payload.clone());
                prop_assert_eq!(payload, original_payload);
                prop_assert_eq!(n, original_without_seal_difference(&original, &changed));
            }
        }
    }

    /// The original record as read from `changed` would carry it: same statement, the
    /// envelope as it now reads (a changed byte outside the payload, e.g. in `keyid` of no
    /// trusted key, or whitespace).
    fn original_without_seal_difference(original: &ExecutionNote, changed: &[u8]) -> ExecutionNote {
        let mut n = original.clone();
        if let (Some(f), Ok(opened)) = (n.v2.as_mut(), crate::record::envelope::open(changed)) {
            f.sealed = Some(opened);
        }
        n
    }
}
