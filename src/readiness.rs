//! Whether `prgate serve` can do its work, and if not, why: `/readyz` answers 503 with the
//! reasons, so that an operator (or a load balancer's log) sees what is missing rather than
//! a bare "not ready".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What keeps the service from being ready, by cause; ready when empty.
#[derive(Clone, Default)]
pub struct Readiness {
    blockers: Arc<Mutex<BTreeMap<&'static str, String>>>,
}

/// Not yet connected to the code host (the gate's own account is unknown).
pub const CONNECTING: &str = "code host";
/// The delivery dispatcher panicked and is being restarted.
pub(crate) const DISPATCHER: &str = "dispatcher";

impl Readiness {
    /// Not ready until `reason` (under `cause`) is cleared.
    pub fn blocked(cause: &'static str, reason: impl Into<String>) -> Self {
        let r = Readiness::default();
        r.block(cause, reason);
        r
    }

    pub fn block(&self, cause: &'static str, reason: impl Into<String>) {
        if let Ok(mut b) = self.blockers.lock() {
            b.insert(cause, reason.into());
        }
    }

    pub fn clear(&self, cause: &'static str) {
        if let Ok(mut b) = self.blockers.lock() {
            b.remove(cause);
        }
    }

    /// `None` when ready, else the reasons joined ("; ").
    pub(crate) fn not_ready(&self) -> Option<String> {
        match self.blockers.lock() {
            Ok(b) if b.is_empty() => None,
            Ok(b) => Some(b.values().cloned().collect::<Vec<_>>().join("; ")),
            Err(_) => Some("readiness state is unavailable".to_string()),
        }
    }
}
