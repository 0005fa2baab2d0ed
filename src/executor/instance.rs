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

#[cfg(test)]
mod tests {
    #[test]
    fn the_id_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::instance_id(dir.path());
        assert_eq!(super::instance_id(dir.path()), first);
        assert_ne!(super::instance_id(&dir.path().join("other")), first);
    }
}
