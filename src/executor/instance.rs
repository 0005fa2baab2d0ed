//! Which `prgate serve` made a claim. Each data_dir has an id of its own, kept across restarts,
//! written into every claim commit. After a crash, the restarted process knows its own claims
//! at once (nothing of its own runs any more, so they were interrupted); another replica's
//! claim may still be running there, and is called interrupted only once it has been running
//! longer than any executor may run.

use std::path::Path;

/// The id of the process owning `data_dir`, created on first use. If it cannot be kept (a
/// read-only disk), a fresh one is used: claims then look like another replica's after a
/// restart, which only delays reporting them as interrupted.
pub(crate) fn instance_id(data_dir: &Path) -> String {
    let path = data_dir.join("instance-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let kept = std::fs::create_dir_all(data_dir).and_then(|()| std::fs::write(&path, &id));
    if let Err(e) = kept {
        tracing::warn!(path = %path.display(), error = %e, "cannot keep the instance id; claims of this run will look like another replica's after a restart");
    }
    id
}

/// The line of a claim commit's message that names its instance.
pub(crate) fn claim_line(instance: &str) -> String {
    format!("instance: {instance}")
}

/// A claim's authentication code: HMAC-SHA256, keyed by a key only prgate holds, over the
/// repository, the merge, the instance and the claim id. Any instance holding the key tells
/// prgate's own claims from a writer's from the claim itself, without a status that a failed
/// call may never have posted.
pub(crate) fn claim_auth(key: &[u8], repo: &str, merge: &str, instance: &str, id: &str) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("prgate claim v1\n{repo}\n{merge}\n{instance}\n{id}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The key claims are authenticated with, derived (HMAC with a fixed label) from a secret
/// every replica of one deployment holds and no writer does: the note signing key when there
/// is one, else the first webhook secret.
pub(crate) fn claim_key(secret: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(b"prgate claim key v1");
    mac.finalize().into_bytes().to_vec()
}

/// What a claim commit's message says of itself: (claim id, instance, authentication code).
pub(crate) fn parse_claim(message: &str) -> Option<(String, String, String)> {
    let field = |name: &str| {
        message
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    Some((
        field("claim-id: ")?,
        field("instance: ")?,
        field("claim-auth: ")?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_claim_verifies_only_with_the_key_and_for_what_it_names() {
        let key = super::claim_key(b"webhook-secret");
        let mac = super::claim_auth(&key, "acme/infra", "abc", "i1", "c1");
        assert_eq!(
            mac,
            super::claim_auth(&key, "acme/infra", "abc", "i1", "c1")
        );
        assert_ne!(
            mac,
            super::claim_auth(&key, "acme/infra", "abd", "i1", "c1")
        );
        let other = super::claim_key(b"guess");
        assert_ne!(
            mac,
            super::claim_auth(&other, "acme/infra", "abc", "i1", "c1")
        );
        let message =
            format!("prgate claim of abc\n\nclaim-id: c1\ninstance: i1\nclaim-auth: {mac}\n");
        assert_eq!(
            super::parse_claim(&message),
            Some(("c1".into(), "i1".into(), mac))
        );
    }

    #[test]
    fn the_id_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::instance_id(dir.path());
        assert_eq!(super::instance_id(dir.path()), first);
        assert_ne!(super::instance_id(&dir.path().join("other")), first);
    }
}
