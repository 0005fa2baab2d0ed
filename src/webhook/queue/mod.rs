//! The durable delivery queue under `<data_dir>/queue/`, an embedded redb database. A delivery
//! is acknowledged (202) only once the transaction holding it is committed and fsynced, so a
//! crash or `kill -9` loses no accepted delivery; on open, every accepted delivery that was
//! neither completed nor set aside is handed out again, in acceptance order.
//!
//! One writer thread (`store`) owns the database and commits every request waiting in one
//! transaction (group commit). Memory holds what `next` and the duplicate check need; it is
//! rebuilt from the database on open. `legacy` imports the hand-written segment log that
//! earlier versions kept in the same directory.

mod legacy;
mod store;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, oneshot};

use crate::metrics::Metrics;
use crate::webhook::event::Delivery;

use store::Op;

/// How many delivery ids are remembered (and kept on disk) to recognise a redelivery.
const DEDUPE_WINDOW: usize = 100_000;
/// Size at which the old segment log started a new file. Unused since the queue is a redb
/// database.
#[deprecated(note = "ignored: the queue is a redb database and has no segments")]
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Tuning of a [`Queue`]; [`Queue::open`] uses the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How many of the latest delivery ids are remembered to recognise a redelivery.
    pub dedupe_window: usize,
    /// Ignored. The old segment log started a new file past this size; redb reuses the pages
    /// of completed deliveries instead. Kept so that code setting it still compiles.
    #[deprecated(note = "ignored: the queue is a redb database and has no segments")]
    pub segment_bytes: u64,
}

#[allow(deprecated)] // `segment_bytes` must still be given a value.
impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            dedupe_window: DEDUPE_WINDOW,
            segment_bytes: SEGMENT_BYTES,
        }
    }
}

/// A single delivery larger than this is refused (decoded deliveries are a few hundred bytes).
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The outcome of [`Queue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Durable on disk; [`Queue::next`] will yield it.
    Accepted,
    /// Its delivery id was seen before (pending, completed or set aside); not queued again.
    Duplicate,
}

/// A delivery taken out of the live queue by [`Queue::set_aside`]: kept on disk, never handed
/// out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// `X-GitHub-Delivery`
    pub id: String,
    /// `X-GitHub-Event`
    pub event: String,
    /// Why it was set aside, as given to [`Queue::set_aside`].
    pub reason: String,
    /// Processing attempts recorded by [`Queue::record_attempt`] before it was set aside.
    pub attempts: u32,
    pub set_aside_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "delivery queue {path}: {source}; check that the data directory is writable and not full"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The database could not be opened or read.
    #[error(
        "delivery queue {path}: {source}; if the file is damaged, move {path}/queue.redb aside and \
         start again (deliveries in it are then not processed; the reconciler re-evaluates open PRs)"
    )]
    Store {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    /// A commit failed; what it held was not stored.
    #[error(
        "delivery queue {path}: {source}; check that the data directory is writable and not full"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: Arc<redb::Error>,
    },
    #[error(
        "delivery queue {path} is in use by another process; run one `prgate serve` per data_dir"
    )]
    Locked { path: PathBuf },
    #[error("delivery {id} cannot be stored: {source}")]
    Serialize {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("delivery {id} cannot be stored: {message}")]
    Encode { id: String, message: String },
    #[error("delivery {id} is not in the queue (completed, set aside, or never accepted)")]
    NotQueued { id: String },
    #[error("the delivery queue has shut down")]
    Closed,
}

/// A durable FIFO of webhook deliveries. Cheap to clone; all clones share one queue.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    // A std channel: sending never blocks, and the writer thread can wait with a timeout.
    writer_tx: Option<mpsc::Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    // Held (locked) for as long as the queue is open; released after the writer has stopped.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has committed what it holds; it then
        // closes the database cleanly.
        self.writer_tx.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    ready: Notify,
    metrics: Metrics,
    /// Transactions committed by the writer; many enqueues per commit is the group commit.
    commits: AtomicU64,
}

struct State {
    /// Accepted and not yet handed out by `next`, in acceptance order.
    pending: VecDeque<Delivery>,
    /// Accepted and neither completed nor set aside: id -> seq (the database key).
    live: HashMap<String, u64>,
    /// The last `dedupe_window` ids accepted (or being written), oldest first.
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    /// Set aside, oldest first; their ids stay duplicates for good.
    set_aside: Vec<SetAside>,
    set_aside_ids: HashSet<String>,
    dedupe_window: usize,
}

impl State {
    fn remember(&mut self, id: &str) {
        if self.seen.insert(id.to_string()) {
            self.seen_order.push_back(id.to_string());
        }
        while self.seen_order.len() > self.dedupe_window {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    fn is_duplicate(&self, id: &str) -> bool {
        self.seen.contains(id) || self.live.contains_key(id) || self.set_aside_ids.contains(id)
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic elsewhere while holding the lock leaves the state consistent enough to go on.
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the lock file that keeps a second process (or a second open in this one) off `dir`.
fn lock_dir(dir: &Path) -> Result<File, QueueError> {
    let lock_path = dir.join("lock");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match lock_file.try_lock() {
        Ok(()) => Ok(lock_file),
        Err(fs::TryLockError::WouldBlock) => Err(QueueError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io_err(&lock_path)(e)),
    }
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, replaying every accepted delivery that was not
    /// completed or set aside, in acceptance order.
    pub fn open(dir: &Path, metrics: Metrics) -> Result<Queue, QueueError> {
        Queue::open_with(dir, metrics, QueueOptions::default())
    }

    /// [`Queue::open`] with other than the default options.
    pub fn open_with(
        dir: &Path,
        metrics: Metrics,
        options: QueueOptions,
    ) -> Result<Queue, QueueError> {
        let dedupe_window = options.dedupe_window.max(1);
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_file = lock_dir(dir)?;
        // An old segment log in `dir` is imported first (the legacy store's one job).
        let db = store::open_database(dir)?;
        legacy::import(dir, &db, dedupe_window)?;
        let loaded = store::read(db, dir, dedupe_window)?;

        let mut state = State {
            pending: VecDeque::with_capacity(loaded.live.len()),
            live: HashMap::with_capacity(loaded.live.len()),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            set_aside_ids: loaded.set_aside.iter().map(|s| s.id.clone()).collect(),
            set_aside: loaded.set_aside,
            dedupe_window,
        };
        for id in &loaded.recent_ids {
            state.remember(id);
        }
        for (seq, d) in loaded.live {
            state.live.insert(d.id.clone(), seq);
            state.pending.push_back(d);
        }
        let depth = state.live.len();
        if depth > 0 {
            tracing::info!(
                depth,
                "replaying accepted deliveries that were not completed"
            );
        }
        if !state.set_aside.is_empty() {
            tracing::warn!(
                count = state.set_aside.len(),
                "deliveries set aside earlier are kept in the queue and not processed"
            );
        }
        metrics.queue_depth(depth);

        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            ready: Notify::new(),
            metrics,
            commits: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = shared.clone();
        let writer_db = loaded.db;
        let next_seq = loaded.next_seq;
        let attempted = loaded.attempted;
        let writer = std::thread::Builder::new()
            .name("prgate-queue-writer".into())
            .spawn(move || store::write_loop(writer_shared, writer_db, rx, next_seq, attempted))
            .map_err(io_err(dir))?;
        Ok(Queue {
            inner: Arc::new(Inner {
                shared,
                writer_tx: Some(tx),
                writer: Some(writer),
                _lock: lock_file,
            }),
        })
    }

    fn send(&self, op: Op) -> Result<(), QueueError> {
        match &self.inner.writer_tx {
            Some(tx) => tx.send(op).map_err(|_| QueueError::Closed),
            None => Err(QueueError::Closed),
        }
    }

    fn write_error(&self, source: Arc<redb::Error>) -> QueueError {
        QueueError::Write {
            path: self.inner.shared.dir.clone(),
            source,
        }
    }

    /// Queues `d` and returns once it is durable on disk, or reports a duplicate delivery id.
    pub async fn enqueue(&self, d: Delivery) -> Result<Enqueued, QueueError> {
        let json = serde_json::to_vec(&d).map_err(|source| QueueError::Serialize {
            id: d.id.clone(),
            source,
        })?;
        if json.len() > MAX_RECORD_BYTES {
            return Err(QueueError::Encode {
                id: d.id.clone(),
                message: format!("{} bytes is too large", json.len()),
            });
        }
        let shared = &self.inner.shared;
        let id = d.id.clone();
        {
            let mut st = lock(shared);
            if st.is_duplicate(&d.id) {
                return Ok(Enqueued::Duplicate);
            }
            // Remembered before it is durable so that a concurrent redelivery is a duplicate.
            // The writer forgets it again if the commit fails.
            st.remember(&d.id);
        }
        let (reply, answer) = oneshot::channel();
        if let Err(e) = self.send(Op::Enqueue {
            delivery: d,
            json,
            reply,
        }) {
            lock(shared).seen.remove(&id);
            return Err(e);
        }
        match answer.await {
            // The writer has made it visible to `next` before answering.
            Ok(Ok(())) => Ok(Enqueued::Accepted),
            Ok(Err(source)) => Err(self.write_error(source)),
            // The writer is gone; whatever it held was not stored.
            Err(_) => {
                lock(shared).seen.remove(&id);
                Err(QueueError::Closed)
            }
        }
    }

    /// Waits for the next accepted delivery. Each is handed out once per process; one not
    /// completed before a restart is handed out again after it.
    pub async fn next(&self) -> Delivery {
        let shared = &self.inner.shared;
        loop {
            let notified = shared.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(shared);
                while let Some(d) = st.pending.pop_front() {
                    // Skips one completed or set aside before it was handed out.
                    if st.live.contains_key(&d.id) {
                        return d;
                    }
                }
            }
            notified.await;
        }
    }

    /// Marks delivery `id` as processed: it is never handed out again, even after a restart.
    /// Completing an unknown or already completed id does nothing.
    ///
    /// Returns before the completion is on disk: the writer commits it with the next batch,
    /// without an fsync of its own when nothing else in the batch needs one. A completion lost
    /// to a crash only means the delivery is processed again, which is idempotent; a worker
    /// draining the queue does not wait for a disk flush per delivery.
    pub async fn complete(&self, id: &str) -> Result<(), QueueError> {
        let shared = &self.inner.shared;
        let seq = {
            let mut st = lock(shared);
            // One completed before `next` handed it out stays in `pending`; `next` skips it.
            let Some(seq) = st.live.remove(id) else {
                return Ok(());
            };
            shared.metrics.queue_depth(st.live.len());
            seq
        };
        self.send(Op::Complete { seq })
    }

    /// Records that processing of `id` is starting and returns how many times it has started,
    /// this one included. The count is durable when this returns, so a delivery that brings the
    /// whole process down is still counted after the restart. Fails with
    /// [`QueueError::NotQueued`] when `id` is not in the live queue.
    pub async fn record_attempt(&self, id: &str) -> Result<u32, QueueError> {
        let not_queued = || QueueError::NotQueued { id: id.to_string() };
        let seq = lock(&self.inner.shared)
            .live
            .get(id)
            .copied()
            .ok_or_else(not_queued)?;
        let (reply, answer) = oneshot::channel();
        self.send(Op::Attempt { seq, reply })?;
        match answer.await {
            Ok(Ok(Some(count))) => Ok(count),
            // Completed or set aside while the request waited.
            Ok(Ok(None)) => Err(not_queued()),
            Ok(Err(source)) => Err(self.write_error(source)),
            Err(_) => Err(QueueError::Closed),
        }
    }

    /// Takes `id` out of the live queue for good and keeps it on disk with `reason`: it is never
    /// handed out again, not even after a restart, and its id stays a duplicate. Durable when
    /// this returns. Fails with [`QueueError::NotQueued`] when `id` is not in the live queue.
    pub async fn set_aside(&self, id: &str, reason: &str) -> Result<(), QueueError> {
        let shared = &self.inner.shared;
        let not_queued = || QueueError::NotQueued { id: id.to_string() };
        // Out of `live` at once, so that `next` cannot hand it out while the commit runs.
        let seq = {
            let mut st = lock(shared);
            let seq = st.live.remove(id).ok_or_else(not_queued)?;
            shared.metrics.queue_depth(st.live.len());
            seq
        };
        let restore = || {
            // Not set aside after all: live again (and still on disk).
            let mut st = lock(shared);
            st.live.insert(id.to_string(), seq);
            shared.metrics.queue_depth(st.live.len());
        };
        let (reply, answer) = oneshot::channel();
        if let Err(e) = self.send(Op::SetAside {
            seq,
            reason: reason.to_string(),
            at: Utc::now(),
            reply,
        }) {
            restore();
            return Err(e);
        }
        match answer.await {
            Ok(Ok(Some(entry))) => {
                // The writer has listed it already.
                tracing::warn!(id = %entry.id, event = %entry.event, attempts = entry.attempts, reason = %entry.reason, "delivery set aside; it will not be processed");
                Ok(())
            }
            // Completed meanwhile (its `complete` already took it out of `live`).
            Ok(Ok(None)) => Err(not_queued()),
            Ok(Err(source)) => {
                restore();
                Err(self.write_error(source))
            }
            Err(_) => {
                restore();
                Err(QueueError::Closed)
            }
        }
    }

    /// Deliveries set aside, oldest first (for logs, metrics and the dashboard).
    pub fn set_aside_list(&self) -> Vec<SetAside> {
        lock(&self.inner.shared).set_aside.clone()
    }

    /// Deliveries accepted and neither completed nor set aside.
    pub fn depth(&self) -> usize {
        lock(&self.inner.shared).live.len()
    }

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.inner
            .shared
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
