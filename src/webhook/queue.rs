//! Placeholder with the agreed API (in memory); the durable queue lands with the webhook work.
use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::event::Delivery;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Accepted,
    Duplicate,
}

#[derive(Clone)]
pub struct Queue {
    inner: Arc<(Mutex<(VecDeque<Delivery>, HashSet<String>)>, Notify)>,
}

impl Queue {
    pub fn open(_dir: &Path, _metrics: Metrics) -> Result<Queue, QueueError> {
        Ok(Queue { inner: Arc::new((Mutex::new((VecDeque::new(), HashSet::new())), Notify::new())) })
    }
    pub async fn enqueue(&self, d: Delivery) -> Result<Enqueued, QueueError> {
        let mut g = self.inner.0.lock().map_err(|e| QueueError(e.to_string()))?;
        if !g.1.insert(d.id.clone()) {
            return Ok(Enqueued::Duplicate);
        }
        g.0.push_back(d);
        self.inner.1.notify_one();
        Ok(Enqueued::Accepted)
    }
    pub async fn next(&self) -> Delivery {
        loop {
            if let Some(d) = self.inner.0.lock().ok().and_then(|mut g| g.0.pop_front()) {
                return d;
            }
            self.inner.1.notified().await;
        }
    }
    pub async fn complete(&self, _id: &str) -> Result<(), QueueError> {
        Ok(())
    }
    pub fn depth(&self) -> usize {
        self.inner.0.lock().map(|g| g.0.len()).unwrap_or(0)
    }
}
