//! Dashboard (placeholder with the agreed API; the real one lands with the webhook work).
use chrono::{DateTime, Utc};
use crate::types::{CommitSha, PullRef};
#[derive(Clone, Default)]
pub struct Dashboard;
impl Dashboard {
    pub fn new() -> Dashboard {
        Dashboard
    }
    pub fn record_decision(&self, _pull: &PullRef, _head: &CommitSha, _state: &str, _description: &str, _at: DateTime<Utc>) {}
}
