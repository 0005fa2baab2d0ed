//! The durable delivery queue under `<data_dir>/queue/`. A delivery is acknowledged (202) only
//! once it is fsynced, so a crash or `kill -9` loses no accepted delivery; on open, every
//! accepted delivery without a completion marker is yielded again, in acceptance order.
//!
//! Layout: append-only segment files `<first seq>.seg` of records
//! `[len u32 LE][crc32 u32 LE][seq u64 LE][delivery JSON]` (crc over seq and JSON), written by
//! one writer thread that appends a whole batch and fsyncs once per batch (group commit);
//! `done.log` holds completion markers `[crc32][seq]`, written without fsync because
//! re-processing a delivery is idempotent. A torn or corrupt tail stops the reading of that
//! file: it was never acknowledged. Segments whose deliveries are all completed are deleted
//! once enough newer deliveries exist to keep the duplicate window on disk, so disk use stays
//! bounded.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::Metrics;
use crate::webhook::event::Delivery;

/// How many delivery ids are remembered (and kept on disk) to recognise a redelivery.
pub const DEDUPE_WINDOW: usize = 100_000;
/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Tuning of a [`Queue`]; [`Queue::open`] uses the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How many of the latest delivery ids are remembered to recognise a redelivery.
    pub dedupe_window: usize,
    /// Size past which a segment is closed and a new one started.
    pub segment_bytes: u64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            dedupe_window: DEDUPE_WINDOW,
            segment_bytes: SEGMENT_BYTES,
        }
    }
}
/// The most bytes of records one group commit writes.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// A single record larger than this is refused (decoded deliveries are a few hundred bytes).
const MAX_RECORD_BYTES: usize = 1024 * 1024;
const HEADER: usize = 8;
const DONE_RECORD: usize = 12;

/// The outcome of [`Queue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Durable on disk; [`Queue::next`] will yield it.
    Accepted,
    /// Its delivery id was seen before (pending or completed); not queued again.
    Duplicate,
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
    #[error(
        "delivery queue {path}: {source}; check that the data directory is writable and not full"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    #[error(
        "delivery queue {path} is in use by another process; run one `prgate serve` per data_dir"
    )]
    Locked { path: PathBuf },
    #[error("delivery {id} cannot be stored: {message}")]
    Encode { id: String, message: String },
    #[error("the delivery queue has shut down")]
    Closed,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A durable FIFO of webhook deliveries. Cheap to clone; all clones share one queue.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    writer_tx: Option<mpsc::UnboundedSender<WriteRequest>>,
    writer: Option<JoinHandle<()>>,
    // Held (locked) for as long as the queue is open; released after the writer has stopped.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has answered what it holds.
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
}

struct WriteRequest {
    delivery: Delivery,
    json: Vec<u8>,
    reply: oneshot::Sender<Result<(), Arc<io::Error>>>,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Records in the segment.
    records: u64,
    /// Records not yet completed.
    live: u64,
}

struct State {
    /// Accepted and not yet handed out by `next`, in acceptance order.
    pending: VecDeque<Delivery>,
    /// Accepted and not yet completed: id -> seq.
    inflight: HashMap<String, u64>,
    /// The last `dedupe_window` ids accepted (or being written), oldest first.
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    /// Segments on disk by first seq; the last one is the one being written.
    segments: BTreeMap<u64, Segment>,
    /// First seq of the segment being written (no segment is deleted while written).
    active: u64,
    done: File,
    done_path: PathBuf,
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

    fn segment_of(&mut self, seq: u64) -> Option<&mut Segment> {
        self.segments.range_mut(..=seq).next_back().map(|(_, s)| s)
    }

    /// Deletes segments whose deliveries are all completed and that are older than the newest
    /// `dedupe_window` records, then rewrites `done.log` without their markers.
    fn collect_garbage(&mut self, dir: &Path) -> io::Result<()> {
        let mut newer = 0u64;
        let mut doomed = Vec::new();
        for (&first, seg) in self.segments.iter().rev() {
            if first != self.active && seg.live == 0 && newer >= self.dedupe_window as u64 {
                doomed.push(first);
            }
            newer += seg.records;
        }
        if doomed.is_empty() {
            return Ok(());
        }
        for first in &doomed {
            if let Some(seg) = self.segments.remove(first) {
                match fs::remove_file(&seg.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // Not fsynced: this runs under the queue's lock, and a marker lost in a power failure
        // only means that delivery is processed again, which is idempotent.
        self.rewrite_done(dir, false)
    }

    /// Replaces `done.log` by one holding a marker for every completed delivery still in a
    /// segment on disk (and nothing else), written aside and renamed into place.
    fn rewrite_done(&mut self, dir: &Path, durable: bool) -> io::Result<()> {
        let inflight: HashSet<u64> = self.inflight.values().copied().collect();
        let mut buf = Vec::new();
        for (&first, seg) in &self.segments {
            for seq in first..first + seg.records {
                if !inflight.contains(&seq) {
                    encode_done(&mut buf, seq);
                }
            }
        }
        let tmp = dir.join("done.log.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        if durable {
            f.sync_data()?;
        }
        fs::rename(&tmp, &self.done_path)?;
        if durable {
            sync_dir(dir)?;
        }
        self.done = OpenOptions::new().append(true).open(&self.done_path)?;
        Ok(())
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic elsewhere while holding the lock leaves the state consistent enough to go on.
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.seg"))
}

fn encode_record(buf: &mut Vec<u8>, seq: u64, json: &[u8]) {
    let len = (8 + json.len()) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(json);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc.finalize().to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(json);
}

fn encode_done(buf: &mut Vec<u8>, seq: u64) {
    buf.extend_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
}

/// Reads the intact records of a segment: `(seq, payload)`, stopping at the first torn or
/// corrupt one.
fn read_segment(path: &Path) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while data.len() - at >= HEADER {
        let len = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let crc = u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]);
        let body_start = at + HEADER;
        if !(8..=MAX_RECORD_BYTES + 8).contains(&len) || data.len() - body_start < len {
            break;
        }
        let body = &data[body_start..body_start + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&body[..8]);
        out.push((u64::from_le_bytes(seq), body[8..].to_vec()));
        at = body_start + len;
    }
    if at < data.len() {
        tracing::warn!(
            segment = %path.display(),
            ignored_bytes = data.len() - at,
            "ignoring a torn or corrupt tail of the delivery queue (never acknowledged)"
        );
    }
    Ok(out)
}

fn read_done(path: &Path) -> io::Result<HashSet<u64>> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut data)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    }
    let mut done = HashSet::new();
    for rec in data.chunks_exact(DONE_RECORD) {
        let crc = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        if crc32fast::hash(&rec[4..]) != crc {
            break;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rec[4..]);
        done.insert(u64::from_le_bytes(seq));
    }
    Ok(done)
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, replaying every accepted delivery that was not
    /// completed, in acceptance order.
    pub fn open(dir: &Path, metrics: Metrics) -> Result<Queue, QueueError> {
        Queue::open_with(dir, metrics, QueueOptions::default())
    }

    /// [`Queue::open`] with other than the default options.
    pub fn open_with(
        dir: &Path,
        metrics: Metrics,
        options: QueueOptions,
    ) -> Result<Queue, QueueError> {
        let options = QueueOptions {
            dedupe_window: options.dedupe_window.max(1),
            segment_bytes: options.segment_bytes.max(1),
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(QueueError::Locked {
                    path: dir.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let _ = fs::remove_file(dir.join("done.log.tmp"));

        let mut segment_files = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(first) = name
                .strip_suffix(".seg")
                .and_then(|n| n.parse::<u64>().ok())
            {
                segment_files.push((first, entry.path()));
            }
        }
        segment_files.sort();

        let done_path = dir.join("done.log");
        let completed = read_done(&done_path).map_err(io_err(&done_path))?;

        let mut pending = VecDeque::new();
        let mut inflight = HashMap::new();
        let mut segments = BTreeMap::new();
        let mut seen_ids: VecDeque<String> = VecDeque::new();
        let mut next_seq = 0u64;
        for (first, path) in segment_files {
            let records = read_segment(&path).map_err(io_err(&path))?;
            let mut seg = Segment {
                path: path.clone(),
                records: 0,
                live: 0,
            };
            for (expected, (seq, json)) in (first..).zip(records) {
                if seq != expected {
                    tracing::warn!(segment = %path.display(), seq, expected, "out-of-sequence record; ignoring the rest of the segment");
                    break;
                }
                seg.records += 1;
                next_seq = next_seq.max(seq + 1);
                if completed.contains(&seq) {
                    // Only the id matters for a completed delivery.
                    #[derive(serde::Deserialize)]
                    struct IdOnly {
                        id: String,
                    }
                    if let Ok(d) = serde_json::from_slice::<IdOnly>(&json) {
                        seen_ids.push_back(d.id);
                    }
                    continue;
                }
                match serde_json::from_slice::<Delivery>(&json) {
                    Ok(d) => {
                        seen_ids.push_back(d.id.clone());
                        inflight.insert(d.id.clone(), seq);
                        pending.push_back(d);
                        seg.live += 1;
                    }
                    Err(e) => {
                        // Written by an incompatible version; it cannot be processed, and
                        // keeping it would pin the segment forever.
                        tracing::error!(segment = %path.display(), seq, error = %e, "dropping a queued delivery that this version cannot read");
                    }
                }
            }
            segments.insert(first, seg);
        }

        let active = next_seq;
        let active_path = segment_path(dir, active);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&active_path)
            .map_err(io_err(&active_path))?;
        sync_dir(dir).map_err(io_err(dir))?;
        segments.insert(
            active,
            Segment {
                path: active_path.clone(),
                records: 0,
                live: 0,
            },
        );

        // Placeholder until rewrite_done opens the compacted file.
        let done = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&done_path)
            .map_err(io_err(&done_path))?;
        let mut state = State {
            pending,
            inflight,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            segments,
            active,
            done,
            done_path: done_path.clone(),
            dedupe_window: options.dedupe_window,
        };
        let skip = seen_ids.len().saturating_sub(options.dedupe_window);
        for id in seen_ids.iter().skip(skip) {
            state.remember(id);
        }
        // Compacts done.log (and drops a torn tail, which must not sit before new markers).
        state.rewrite_done(dir, true).map_err(io_err(&done_path))?;
        state.collect_garbage(dir).map_err(io_err(dir))?;
        let depth = state.inflight.len();
        if depth > 0 {
            tracing::info!(
                depth,
                "replaying accepted deliveries that were not completed"
            );
        }
        metrics.queue_depth(depth);

        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            ready: Notify::new(),
            metrics,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("prgate-queue-writer".into())
            .spawn(move || {
                write_loop(
                    writer_shared,
                    rx,
                    file,
                    active_path,
                    next_seq,
                    options.segment_bytes,
                )
            })
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

    /// Queues `d` and returns once it is durable on disk, or reports a duplicate delivery id.
    pub async fn enqueue(&self, d: Delivery) -> Result<Enqueued, QueueError> {
        let json = serde_json::to_vec(&d).map_err(|e| QueueError::Encode {
            id: d.id.clone(),
            message: e.to_string(),
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
            if st.seen.contains(&d.id) || st.inflight.contains_key(&d.id) {
                return Ok(Enqueued::Duplicate);
            }
            // Remembered before it is durable so that a concurrent redelivery is a duplicate.
            st.remember(&d.id);
        }
        let forget = |shared: &Shared| {
            lock(shared).seen.remove(&id);
        };
        let (reply, answer) = oneshot::channel();
        let Some(tx) = &self.inner.writer_tx else {
            forget(shared);
            return Err(QueueError::Closed);
        };
        if tx
            .send(WriteRequest {
                delivery: d,
                json,
                reply,
            })
            .is_err()
        {
            forget(shared);
            return Err(QueueError::Closed);
        }
        match answer.await {
            Ok(Ok(())) => Ok(Enqueued::Accepted),
            Ok(Err(source)) => {
                forget(shared);
                Err(QueueError::Write {
                    path: shared.dir.clone(),
                    source,
                })
            }
            Err(_) => {
                forget(shared);
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
                    if st.inflight.contains_key(&d.id) {
                        return d;
                    }
                }
            }
            notified.await;
        }
    }

    /// Marks delivery `id` as processed: it is never handed out again, even after a restart.
    /// Completing an unknown or already completed id does nothing.
    pub async fn complete(&self, id: &str) -> Result<(), QueueError> {
        let shared = &self.inner.shared;
        let mut st = lock(shared);
        // A delivery completed before `next` handed it out stays in `pending`; `next` skips it.
        let Some(seq) = st.inflight.remove(id) else {
            return Ok(());
        };
        shared.metrics.queue_depth(st.inflight.len());
        let mut buf = Vec::with_capacity(DONE_RECORD);
        encode_done(&mut buf, seq);
        // No fsync: a marker lost in a power failure only means the delivery is processed
        // again, which is idempotent. The write reaches the page cache, so it survives kill -9.
        let written = st.done.write_all(&buf);
        let mut emptied = false;
        if let Some(seg) = st.segment_of(seq) {
            seg.live = seg.live.saturating_sub(1);
            emptied = seg.live == 0;
        }
        if let Err(source) = written {
            return Err(QueueError::Io {
                path: st.done_path.clone(),
                source,
            });
        }
        if emptied {
            st.collect_garbage(&shared.dir)
                .map_err(io_err(&shared.dir))?;
        }
        Ok(())
    }

    /// Deliveries accepted and not yet completed.
    pub fn depth(&self) -> usize {
        lock(&self.inner.shared).inflight.len()
    }
}

/// The writer thread: takes every request waiting, appends them in one write, fsyncs once,
/// then makes them visible to `next` and answers their senders.
fn write_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<WriteRequest>,
    file: File,
    path: PathBuf,
    mut next_seq: u64,
    segment_bytes: u64,
) {
    let dir = shared.dir.clone();
    let mut file = Some(file);
    let mut path = path;
    let mut written: u64 = 0;
    let mut buf = Vec::with_capacity(MAX_BATCH_BYTES);
    let mut batch = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut bytes = first.json.len() + HEADER + 8;
        batch.push(first);
        while bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.json.len() + HEADER + 8;
                    batch.push(r);
                }
                Err(_) => break,
            }
        }

        // After a failed write the segment may end in garbage; continue in a fresh one.
        let mut result: io::Result<()> = Ok(());
        if file.is_none() {
            result = open_segment(&shared, &dir, next_seq).map(|(f, p)| {
                file = Some(f);
                path = p;
                written = 0;
            });
        }
        let first_seq = next_seq;
        if result.is_ok() {
            buf.clear();
            for (i, r) in batch.iter().enumerate() {
                encode_record(&mut buf, first_seq + i as u64, &r.json);
            }
            result = match file.as_mut() {
                Some(f) => f.write_all(&buf).and_then(|()| f.sync_data()),
                None => Err(io::Error::other("no open segment")),
            };
        }

        match result {
            Ok(()) => {
                next_seq += batch.len() as u64;
                written += buf.len() as u64;
                let mut st = lock(&shared);
                let active = st.active;
                if let Some(seg) = st.segments.get_mut(&active) {
                    seg.records += batch.len() as u64;
                    seg.live += batch.len() as u64;
                }
                let mut replies = Vec::with_capacity(batch.len());
                for (i, r) in batch.drain(..).enumerate() {
                    st.inflight
                        .insert(r.delivery.id.clone(), first_seq + i as u64);
                    st.pending.push_back(r.delivery);
                    replies.push(r.reply);
                }
                shared.metrics.queue_depth(st.inflight.len());
                drop(st);
                shared.ready.notify_waiters();
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(segment = %path.display(), error = %e, "cannot write to the delivery queue; answering 503 so that GitHub redelivers");
                let e = Arc::new(e);
                // Part of the batch may have reached the disk; its sequence numbers are never
                // reused, so a replay cannot meet two records with one number.
                next_seq += batch.len() as u64;
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(e.clone()));
                }
                file = None;
                continue;
            }
        }

        if written >= segment_bytes {
            match open_segment(&shared, &dir, next_seq) {
                Ok((f, p)) => {
                    file = Some(f);
                    path = p;
                    written = 0;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a new delivery queue segment");
                    file = None;
                }
            }
        }
    }
}

/// Creates segment `<first_seq>.seg`, makes it the active one, and lets older completed
/// segments go.
fn open_segment(shared: &Shared, dir: &Path, first_seq: u64) -> io::Result<(File, PathBuf)> {
    let path = segment_path(dir, first_seq);
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)?;
    sync_dir(dir)?;
    let mut st = lock(shared);
    st.segments.insert(
        first_seq,
        Segment {
            path: path.clone(),
            records: 0,
            live: 0,
        },
    );
    st.active = first_seq;
    if let Err(e) = st.collect_garbage(dir) {
        tracing::warn!(error = %e, "cannot delete completed delivery queue segments; will retry");
    }
    Ok((file, path))
}
