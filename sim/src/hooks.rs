//! Signed webhook deliveries, as GitHub's "Hookshot" makes them: one ordered queue per hook,
//! drained by a background task, so that an API request never waits for a receiver.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Delivery {
    event: String,
    body: Vec<u8>,
}

struct Hook {
    queue: mpsc::UnboundedSender<Delivery>,
}

/// Delivery counters, readable through `/_sim/stats`.
#[derive(Debug, Default)]
pub struct Counters {
    pub pending: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Hooks {
    hooks: Mutex<Vec<Hook>>,
    next_id: AtomicU64,
    pub counters: Arc<Counters>,
    runtime: tokio::runtime::Handle,
    client: reqwest::Client,
}

/// `sha256=<hex>` of the body under the secret, GitHub's `X-Hub-Signature-256`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Hooks {
    pub fn new(runtime: tokio::runtime::Handle) -> Hooks {
        Hooks {
            hooks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            counters: Arc::new(Counters::default()),
            runtime,
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// Registers a hook, starts its delivery task and sends it a `ping`, as GitHub does.
    pub fn add(&self, url: &str, secret: &str, api_url: &str) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::unbounded_channel();
        self.runtime.spawn(deliver_loop(
            self.client.clone(),
            id,
            url.to_string(),
            secret.to_string(),
            rx,
            self.counters.clone(),
        ));
        let hook = Hook { queue: tx };
        let ping = json!({
            "zen": "Keep it logically awesome.",
            "hook_id": id,
            "hook": {
                "type": "Repository", "id": id, "name": "web", "active": true,
                "events": ["*"],
                "config": { "content_type": "json", "insecure_ssl": "0", "url": url },
                "url": format!("{api_url}/_sim/hooks/{id}"),
            },
        });
        self.enqueue(&hook, "ping", &ping);
        lock(&self.hooks).push(hook);
        id
    }

    /// Queues one event for every hook. Called with the world locked, so events leave in
    /// the order the changes happened.
    pub fn emit(&self, event: &str, payload: &Value) {
        for hook in lock(&self.hooks).iter() {
            self.enqueue(hook, event, payload);
        }
    }

    fn enqueue(&self, hook: &Hook, event: &str, payload: &Value) {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        self.counters.pending.fetch_add(1, Ordering::SeqCst);
        if hook
            .queue
            .send(Delivery {
                event: event.to_string(),
                body,
            })
            .is_err()
        {
            self.counters.pending.fetch_sub(1, Ordering::SeqCst);
            self.counters.failed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Waits until every delivery queued so far has been answered or given up on.
    pub async fn settle(&self) {
        while self.counters.pending.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn deliver_loop(
    client: reqwest::Client,
    hook_id: u64,
    url: String,
    secret: String,
    mut rx: mpsc::UnboundedReceiver<Delivery>,
    counters: Arc<Counters>,
) {
    while let Some(d) = rx.recv().await {
        let guid = uuid::Uuid::new_v4().to_string();
        let sig = signature(&secret, &d.body);
        let mut ok = false;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let res = client
                .post(&url)
                .header("X-GitHub-Event", &d.event)
                .header("X-GitHub-Delivery", &guid)
                .header("X-Hub-Signature-256", &sig)
                .header("X-GitHub-Hook-ID", hook_id.to_string())
                .header("User-Agent", "GitHub-Hookshot/sim")
                .header("Content-Type", "application/json")
                .body(d.body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    ok = true;
                    break;
                }
                Ok(r) => {
                    tracing::debug!(hook_id, status = %r.status(), event = %d.event, "webhook delivery refused")
                }
                Err(e) => {
                    tracing::debug!(hook_id, error = %e, event = %d.event, "webhook delivery failed")
                }
            }
        }
        if ok {
            counters.sent.fetch_add(1, Ordering::SeqCst);
        } else {
            counters.failed.fetch_add(1, Ordering::SeqCst);
        }
        counters.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_githubs_test_vector() {
        assert_eq!(
            super::signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
