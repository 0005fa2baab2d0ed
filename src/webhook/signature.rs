//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the raw body, checked in constant time
//! against every configured secret (several during a rotation) before anything parses the body.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::Choice;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The header GitHub signs deliveries with.
pub(crate) const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a delivery's signature was refused. The messages are safe to send back to the sender:
/// they never say which secret was tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "missing X-Hub-Signature-256 header; configure the webhook with a secret and content type application/json"
    )]
    Missing,
    #[error("malformed X-Hub-Signature-256 header: expected `sha256=` followed by 64 hex digits")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body; check the webhook secret")]
    Mismatch,
    #[error("no webhook secret is configured, so no delivery can be verified; set webhook_secrets")]
    NoSecret,
}

/// Checks `header` (`sha256=<64 hex>`) against the HMAC-SHA256 of `body` under each secret.
pub fn verify_signature(
    secrets: &[Secret],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let mut check = SignatureCheck::new(secrets, header)?;
    check.update(body);
    check.finish()
}

/// The signature check of one delivery, fed the body as it arrives, so that the HMAC costs no
/// second pass over a large body. The header is checked for shape before any byte is read.
///
/// Every secret is tried, whatever the earlier ones gave, and the results are combined without
/// branching, so the time taken does not reveal which secret (if any) matched.
pub(crate) struct SignatureCheck {
    claimed: [u8; 32],
    macs: Vec<HmacSha256>,
}

impl SignatureCheck {
    pub fn new(secrets: &[Secret], header: Option<&str>) -> Result<Self, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let digits = header
            .trim()
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed)?;
        if digits.len() != 64 {
            return Err(SignatureError::Malformed);
        }
        let mut claimed = [0u8; 32];
        hex::decode_to_slice(digits, &mut claimed).map_err(|_| SignatureError::Malformed)?;
        if secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        // HMAC accepts keys of any length, so this cannot fail; a key it refused would simply
        // never match.
        let macs = secrets
            .iter()
            .filter_map(|secret| HmacSha256::new_from_slice(secret.expose().as_bytes()).ok())
            .collect();
        Ok(SignatureCheck { claimed, macs })
    }

    /// Feeds the next bytes of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        for mac in &mut self.macs {
            mac.update(chunk);
        }
    }

    /// Whether the body fed so far matches the header under any secret.
    pub fn finish(self) -> Result<(), SignatureError> {
        let mut matched = Choice::from(0u8);
        for mac in self.macs {
            matched |= Choice::from(u8::from(mac.verify_slice(&self.claimed).is_ok()));
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The `X-Hub-Signature-256` value GitHub would send for `body` under `secret`
/// (used by the simulator and by tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut out = String::with_capacity(71);
    out.push_str("sha256=");
    // HMAC accepts keys of any length; were it ever to refuse one, an empty digest never
    // verifies.
    if let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) {
        mac.update(body);
        out.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_test_vector() {
        assert_eq!(sign(GITHUB_SECRET, b"Hello, World!"), GITHUB_SIGNATURE);
        let secrets = [Secret::new(GITHUB_SECRET)];
        assert_eq!(
            verify_signature(&secrets, b"Hello, World!", Some(GITHUB_SIGNATURE)),
            Ok(())
        );
    }

    #[test]
    fn any_configured_secret_verifies_during_rotation() {
        let secrets = [
            Secret::new("old"),
            Secret::new(GITHUB_SECRET),
            Secret::new("new"),
        ];
        assert_eq!(
            verify_signature(&secrets, b"Hello, World!", Some(GITHUB_SIGNATURE)),
            Ok(())
        );
        let upper = GITHUB_SIGNATURE
            .to_ascii_uppercase()
            .replace("SHA256=", "sha256=");
        assert_eq!(
            verify_signature(&secrets, b"Hello, World!", Some(&upper)),
            Ok(())
        );
    }

    #[test]
    fn a_body_fed_in_pieces_verifies_as_a_whole() {
        let secrets = [Secret::new("old"), Secret::new(GITHUB_SECRET)];
        let mut check = SignatureCheck::new(&secrets, Some(GITHUB_SIGNATURE)).unwrap();
        for piece in [&b"Hello"[..], b"", b", World", b"!"] {
            check.update(piece);
        }
        assert_eq!(check.finish(), Ok(()));
        let mut check = SignatureCheck::new(&secrets, Some(GITHUB_SIGNATURE)).unwrap();
        check.update(b"Hello, World");
        assert_eq!(check.finish(), Err(SignatureError::Mismatch));
    }

    #[test]
    fn refusals() {
        let secrets = [Secret::new(GITHUB_SECRET)];
        let body = b"Hello, World!";
        assert_eq!(
            verify_signature(&secrets, body, None),
            Err(SignatureError::Missing)
        );
        for bad in [
            "",
            "sha256=",
            "sha1=757107ea",
            "sha256=xyz",
            &GITHUB_SIGNATURE[..70],
        ] {
            assert_eq!(
                verify_signature(&secrets, body, Some(bad)),
                Err(SignatureError::Malformed)
            );
        }
        let wrong = sign("another secret", body);
        assert_eq!(
            verify_signature(&secrets, body, Some(&wrong)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&secrets, b"Hello, World?", Some(GITHUB_SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&[], body, Some(GITHUB_SIGNATURE)),
            Err(SignatureError::NoSecret)
        );
        // A multi-byte character where hex digits are expected must not panic.
        let odd = format!("sha256={}é", "a".repeat(62));
        assert_eq!(
            verify_signature(&secrets, body, Some(&odd)),
            Err(SignatureError::Malformed)
        );
    }
}
