//! The redb database behind the queue (`<dir>/queue.redb`): its tables, loading them on open,
//! and the writer thread that commits every waiting request in one transaction (group commit),
//! so that concurrent deliveries share one fsync.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redb::{
    Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use tokio::sync::oneshot;

use super::{QueueError, SetAside, Shared, lock};
use crate::webhook::event::Delivery;

/// Live deliveries (accepted, neither completed nor set aside): seq -> `Delivery` as JSON.
/// The seq is the acceptance order.
pub(super) const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
/// The duplicate window: seq -> delivery id of the latest `dedupe_window` deliveries accepted
/// (and up to [`TRIM_SLACK`] older ones, not loaded).
pub(super) const RECENT_IDS: TableDefinition<u64, &str> = TableDefinition::new("recent_ids");
/// Processing attempts of live deliveries: seq -> count.
const ATTEMPTS: TableDefinition<u64, u32> = TableDefinition::new("attempts");
/// Deliveries set aside: seq -> [`SetAsideRecord`] as JSON. Kept until an operator acts.
const SET_ASIDE: TableDefinition<u64, &[u8]> = TableDefinition::new("set_aside");
/// Facts about the store itself (whether the old segment log was imported).
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The database file inside the queue directory.
pub(super) const FILE: &str = "queue.redb";
/// redb's page cache. The default (1 GiB) is sized for large databases; ours holds the live
/// deliveries and the duplicate window, and the writer touches only the ends of its trees.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// The most bytes of deliveries one group commit holds, and the most requests.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
const MAX_BATCH_OPS: usize = 8192;
/// How long completions alone wait for a commit with an fsync to join before they are
/// committed without one. Completions lost to a crash are processed again, which is idempotent.
pub(super) const COMPLETION_DELAY: Duration = Duration::from_millis(100);
/// How many ids past the window may stay on disk before the oldest are deleted in one go.
const TRIM_SLACK: u64 = 1024;

type Reply<T> = oneshot::Sender<Result<T, Arc<redb::Error>>>;

/// A request to the writer thread.
// Most requests are enqueues; boxing the delivery would add an allocation to each.
#[allow(clippy::large_enum_variant)]
pub(super) enum Op {
    Enqueue {
        delivery: Delivery,
        json: Vec<u8>,
        reply: Reply<()>,
    },
    /// Fire and forget: `Queue::complete` does not wait for the disk.
    Complete { seq: u64 },
    /// Answers the new count, or `None` when the delivery is no longer live.
    Attempt { seq: u64, reply: Reply<Option<u32>> },
    /// Answers the entry, or `None` when the delivery is no longer live.
    SetAside {
        seq: u64,
        reason: String,
        at: DateTime<Utc>,
        reply: Reply<Option<SetAside>>,
    },
}

impl Op {
    fn bytes(&self) -> usize {
        match self {
            Op::Enqueue { json, .. } => json.len() + 64,
            Op::SetAside { reason, .. } => reason.len() + 64,
            Op::Complete { .. } | Op::Attempt { .. } => 16,
        }
    }

    /// Whether the caller is told it is durable. A batch of completions alone is committed
    /// without an fsync (made durable by the next commit that has one, or at close).
    fn needs_fsync(&self) -> bool {
        !matches!(self, Op::Complete { .. })
    }
}

/// What is kept of a delivery set aside.
#[derive(serde::Serialize, serde::Deserialize)]
struct SetAsideRecord {
    id: String,
    event: String,
    reason: String,
    attempts: u32,
    set_aside_at: DateTime<Utc>,
    /// The delivery as it was queued, so that an operator can see what it was.
    delivery: serde_json::Value,
}

impl SetAsideRecord {
    fn new(json: &[u8], reason: String, at: DateTime<Utc>, attempts: u32) -> SetAsideRecord {
        // Lenient: a delivery that this version cannot decode is set aside as well.
        let delivery = serde_json::from_slice::<serde_json::Value>(json)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(json).into()));
        let field = |name: &str| {
            delivery
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_string()
        };
        SetAsideRecord {
            id: field("id"),
            event: field("event_name"),
            reason,
            attempts,
            set_aside_at: at,
            delivery,
        }
    }

    fn entry(&self) -> SetAside {
        SetAside {
            id: self.id.clone(),
            event: self.event.clone(),
            reason: self.reason.clone(),
            attempts: self.attempts,
            set_aside_at: self.set_aside_at,
        }
    }

    fn encode(&self) -> Result<Vec<u8>, redb::Error> {
        serde_json::to_vec(self).map_err(|e| redb::Error::Io(io::Error::other(e)))
    }
}

pub(super) fn store_err<E: Into<redb::Error>>(dir: &Path) -> impl FnOnce(E) -> QueueError + '_ {
    move |e| QueueError::Store {
        path: dir.to_path_buf(),
        source: Box::new(e.into()),
    }
}

/// What `open` read back.
pub(super) struct Loaded {
    pub db: Database,
    /// Live deliveries in acceptance order.
    pub live: Vec<(u64, Delivery)>,
    /// The duplicate window, oldest first.
    pub recent_ids: Vec<String>,
    pub set_aside: Vec<SetAside>,
    pub next_seq: u64,
    /// Live deliveries with a processing attempt on record.
    pub attempted: HashSet<u64>,
}

/// Opens (or creates) the database in `dir`.
pub(super) fn open_database(dir: &Path) -> Result<Database, QueueError> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        // A damaged file fails to open with an error instead of being trusted (a plain open may
        // panic on one). The check reads the whole file; ours stays small.
        .set_check_integrity_on_open(true)
        .create(dir.join(FILE))
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => QueueError::Locked {
                path: dir.to_path_buf(),
            },
            e => store_err(dir)(e),
        })
}

/// Reads back what the database in `dir` holds. A delivery this version cannot decode is
/// set aside, not dropped.
pub(super) fn read(db: Database, dir: &Path, dedupe_window: usize) -> Result<Loaded, QueueError> {
    let txn = db.begin_write().map_err(store_err(dir))?;
    let loaded = load(&txn, dedupe_window).map_err(store_err(dir))?;
    txn.commit().map_err(store_err(dir))?;
    let (live, recent_ids, set_aside, next_seq, attempted) = loaded;
    Ok(Loaded {
        db,
        live,
        recent_ids,
        set_aside,
        next_seq,
        attempted,
    })
}

type LoadedParts = (
    Vec<(u64, Delivery)>,
    Vec<String>,
    Vec<SetAside>,
    u64,
    HashSet<u64>,
);

fn load(txn: &WriteTransaction, dedupe_window: usize) -> Result<LoadedParts, redb::Error> {
    let mut deliveries = txn.open_table(DELIVERIES)?;
    let mut recent = txn.open_table(RECENT_IDS)?;
    let mut attempts = txn.open_table(ATTEMPTS)?;
    let mut set_aside = txn.open_table(SET_ASIDE)?;

    let mut next_seq = 0u64;
    for table_last in [
        deliveries.last()?.map(|(k, _)| k.value()),
        recent.last()?.map(|(k, _)| k.value()),
        set_aside.last()?.map(|(k, _)| k.value()),
    ]
    .into_iter()
    .flatten()
    {
        next_seq = next_seq.max(table_last + 1);
    }

    let mut live = Vec::new();
    let mut unreadable = Vec::new();
    for entry in deliveries.iter()? {
        let (seq, json) = entry?;
        match serde_json::from_slice::<Delivery>(json.value()) {
            Ok(d) => live.push((seq.value(), d)),
            Err(e) => unreadable.push((seq.value(), json.value().to_vec(), e)),
        }
    }
    for (seq, json, error) in unreadable {
        // Written by an incompatible version: it cannot be processed, but it was accepted, so
        // it is kept where an operator can see it.
        tracing::error!(seq, %error, "setting aside a queued delivery that this version cannot read");
        let count = attempts.remove(seq)?.map(|g| g.value()).unwrap_or(0);
        let record = SetAsideRecord::new(
            &json,
            format!("this version of prgate cannot read it: {error}"),
            Utc::now(),
            count,
        );
        set_aside.insert(seq, record.encode()?.as_slice())?;
        deliveries.remove(seq)?;
    }

    // Counts of deliveries no longer live (a completion committed after its last attempt).
    let stale: Vec<u64> = attempts
        .iter()?
        .filter_map(|e| e.ok().map(|(k, _)| k.value()))
        .filter(|seq| deliveries.get(*seq).ok().flatten().is_none())
        .collect();
    for seq in stale {
        attempts.remove(seq)?;
    }
    let mut attempted = HashSet::new();
    for entry in attempts.iter()? {
        attempted.insert(entry?.0.value());
    }

    // A smaller window than the last run's: forget the oldest ids.
    while recent.len()? > dedupe_window as u64 {
        recent.pop_first()?;
    }
    let mut recent_ids = Vec::new();
    for entry in recent.iter()? {
        let (_, id) = entry?;
        recent_ids.push(id.value().to_string());
    }

    let mut entries = Vec::new();
    for entry in set_aside.iter()? {
        let (seq, json) = entry?;
        match serde_json::from_slice::<SetAsideRecord>(json.value()) {
            Ok(r) => entries.push(r.entry()),
            Err(error) => {
                tracing::warn!(seq = seq.value(), %error, "cannot read a set-aside delivery's record; leaving it on disk")
            }
        }
    }
    Ok((live, recent_ids, entries, next_seq, attempted))
}

/// What one request came to in a committed batch.
enum Outcome {
    Done,
    Attempt(Option<u32>),
    SetAside(Option<SetAside>),
}

/// What the writer knows beyond the database handle.
struct Tables {
    dedupe_window: u64,
    /// Seqs with a row in [`ATTEMPTS`], so that a completion touches that table only when it
    /// must (every table a transaction changes costs page writes at its commit).
    attempted: HashSet<u64>,
}

/// Writes `batch` in one transaction; enqueued deliveries get seqs from `first_seq` on.
fn commit(
    db: &Database,
    tables: &mut Tables,
    batch: &[Op],
    first_seq: u64,
) -> Result<Vec<Outcome>, redb::Error> {
    let mut txn = db.begin_write()?;
    if !batch.iter().any(Op::needs_fsync) {
        txn.set_durability(Durability::None)?;
    }
    let touches_attempts = batch.iter().any(|op| match op {
        Op::Attempt { .. } | Op::SetAside { .. } => true,
        Op::Complete { seq } => tables.attempted.contains(seq),
        Op::Enqueue { .. } => false,
    });
    let sets_aside = batch.iter().any(|op| matches!(op, Op::SetAside { .. }));
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut attempted = Vec::new();
    {
        let mut deliveries = txn.open_table(DELIVERIES)?;
        let mut recent = txn.open_table(RECENT_IDS)?;
        let mut attempts = match touches_attempts {
            true => Some(txn.open_table(ATTEMPTS)?),
            false => None,
        };
        let mut set_aside = match sets_aside {
            true => Some(txn.open_table(SET_ASIDE)?),
            false => None,
        };
        let mut next = first_seq;
        for op in batch {
            let outcome = match (op, attempts.as_mut()) {
                (Op::Enqueue { delivery, json, .. }, _) => {
                    deliveries.insert(next, json.as_slice())?;
                    recent.insert(next, delivery.id.as_str())?;
                    next += 1;
                    Outcome::Done
                }
                (Op::Complete { seq }, attempts) => {
                    deliveries.remove(*seq)?;
                    if let Some(attempts) = attempts
                        && tables.attempted.contains(seq)
                    {
                        attempts.remove(*seq)?;
                        attempted.push((*seq, false));
                    }
                    Outcome::Done
                }
                (Op::Attempt { seq, .. }, Some(attempts)) => {
                    if deliveries.get(*seq)?.is_none() {
                        Outcome::Attempt(None)
                    } else {
                        let count = attempts
                            .get(*seq)?
                            .map(|g| g.value())
                            .unwrap_or(0)
                            .saturating_add(1);
                        attempts.insert(*seq, count)?;
                        attempted.push((*seq, true));
                        Outcome::Attempt(Some(count))
                    }
                }
                (
                    Op::SetAside {
                        seq, reason, at, ..
                    },
                    Some(attempts),
                ) => match deliveries.remove(*seq)?.map(|g| g.value().to_vec()) {
                    None => Outcome::SetAside(None),
                    Some(json) => {
                        let count = attempts.remove(*seq)?.map(|g| g.value()).unwrap_or(0);
                        attempted.push((*seq, false));
                        let record = SetAsideRecord::new(&json, reason.clone(), *at, count);
                        if let Some(set_aside) = set_aside.as_mut() {
                            set_aside.insert(*seq, record.encode()?.as_slice())?;
                        }
                        Outcome::SetAside(Some(record.entry()))
                    }
                },
                // Not reached: `touches_attempts` opened the table for these.
                (Op::Attempt { .. } | Op::SetAside { .. }, None) => {
                    return Err(redb::Error::Io(io::Error::other(
                        "the attempts table was not opened",
                    )));
                }
            };
            outcomes.push(outcome);
        }
        // The oldest ids leave the window in bulk: trimming on every commit would rewrite the
        // tree's leftmost pages each time. Memory keeps the exact window; `load` trims to it.
        if recent.len()? > tables.dedupe_window + TRIM_SLACK {
            while recent.len()? > tables.dedupe_window {
                recent.pop_first()?;
            }
        }
    }
    txn.commit()?;
    for (seq, present) in attempted {
        match present {
            true => tables.attempted.insert(seq),
            false => tables.attempted.remove(&seq),
        };
    }
    Ok(outcomes)
}

/// The writer thread: takes every request waiting, commits them in one transaction, then makes
/// new deliveries visible to `next` and answers the senders. Closes the database when the
/// queue is dropped.
pub(super) fn write_loop(
    shared: Arc<Shared>,
    db: Database,
    rx: mpsc::Receiver<Op>,
    mut next_seq: u64,
    attempted: HashSet<u64>,
) {
    let mut tables = Tables {
        dedupe_window: lock(&shared).dedupe_window as u64,
        attempted,
    };
    let mut db = Some(db);
    let mut batch: Vec<Op> = Vec::new();
    // Set while `batch` holds completions alone, waiting for a commit to ride along with.
    let mut hold_until: Option<Instant> = None;
    let mut closed = false;
    // For the debug line at close: where the writer's time went.
    let (mut ops, mut fsynced, mut busy) = (0u64, 0u64, Duration::ZERO);
    while !closed {
        let first = match hold_until {
            None => rx.recv().ok(),
            Some(until) => match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(op) => Some(op),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    closed = true;
                    None
                }
            },
        };
        let arrived = first.is_some();
        match first {
            Some(op) => batch.push(op),
            None if batch.is_empty() => break,
            // Held completions whose time is up, or the last ones at close.
            None => {}
        }
        let mut bytes: usize = batch.iter().map(Op::bytes).sum();
        while bytes < MAX_BATCH_BYTES && batch.len() < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok(op) => {
                    bytes += op.bytes();
                    batch.push(op);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        // A batch of completions alone waits a little for an fsynced commit to join, so that a
        // worker completing deliveries one by one does not cost a commit each.
        let waiting = hold_until.is_some_and(|until| Instant::now() < until);
        if !closed
            && arrived
            && !batch.iter().any(Op::needs_fsync)
            && batch.len() < MAX_BATCH_OPS
            && (hold_until.is_none() || waiting)
        {
            hold_until.get_or_insert_with(|| Instant::now() + COMPLETION_DELAY);
            continue;
        }
        hold_until = None;

        if db.is_none() {
            // After a failed commit redb refuses further writes; a fresh open recovers the
            // last committed state.
            match open_database(&shared.dir) {
                Ok(reopened) => db = Some(reopened),
                Err(e) => tracing::error!(error = %e, "cannot reopen the delivery queue"),
            }
        }
        let started = Instant::now();
        ops += batch.len() as u64;
        fsynced += u64::from(batch.iter().any(Op::needs_fsync));
        let result = match &db {
            Some(db) => commit(db, &mut tables, &batch, next_seq),
            None => Err(redb::Error::Io(io::Error::other(
                "the delivery queue database is not open",
            ))),
        };
        let enqueued = batch
            .iter()
            .filter(|op| matches!(op, Op::Enqueue { .. }))
            .count() as u64;
        let first_seq = next_seq;
        // Never reused, even after a failure: a commit that failed may still have reached the
        // disk.
        next_seq += enqueued;
        busy += started.elapsed();
        match result {
            Ok(outcomes) => {
                shared.commits.fetch_add(1, Ordering::Relaxed);
                answer(&shared, batch.drain(..), outcomes, first_seq);
            }
            Err(e) => {
                tracing::error!(error = %e, path = %shared.dir.display(), "cannot write to the delivery queue; answering 503 so that GitHub redelivers");
                let e = Arc::new(e);
                let mut st = lock(&shared);
                for op in batch.drain(..) {
                    match op {
                        Op::Enqueue {
                            delivery, reply, ..
                        } => {
                            // Not stored, so a redelivery must not count as a duplicate; done
                            // here because the sender may have stopped waiting.
                            st.seen.remove(&delivery.id);
                            let _ = reply.send(Err(e.clone()));
                        }
                        Op::Attempt { reply, .. } => {
                            let _ = reply.send(Err(e.clone()));
                        }
                        Op::SetAside { reply, .. } => {
                            let _ = reply.send(Err(e.clone()));
                        }
                        // Processed again after a restart, which is idempotent.
                        Op::Complete { .. } => {}
                    }
                }
                drop(st);
                db = None;
            }
        }
    }
    tracing::debug!(
        commits = shared.commits.load(Ordering::Relaxed),
        fsynced,
        ops,
        busy_ms = busy.as_millis() as u64,
        "delivery queue writer stopped"
    );
    if let Some(db) = db
        && let Err(e) = db.close()
    {
        tracing::warn!(error = %e, "closing the delivery queue database");
    }
}

/// An answer owed to a sender of a committed batch.
enum Answer {
    Enqueue(Reply<()>),
    Attempt(Reply<Option<u32>>, Option<u32>),
    SetAside(Reply<Option<SetAside>>, Option<SetAside>),
}

/// Applies a committed batch to memory and answers its senders (after the lock is released).
fn answer(
    shared: &Shared,
    batch: impl Iterator<Item = Op>,
    outcomes: Vec<Outcome>,
    first_seq: u64,
) {
    let mut answers = Vec::new();
    let mut any_enqueued = false;
    {
        let mut st = lock(shared);
        let mut next = first_seq;
        for (op, outcome) in batch.zip(outcomes) {
            match (op, outcome) {
                (
                    Op::Enqueue {
                        delivery, reply, ..
                    },
                    _,
                ) => {
                    st.live.insert(delivery.id.clone(), next);
                    st.pending.push_back(delivery);
                    next += 1;
                    any_enqueued = true;
                    answers.push(Answer::Enqueue(reply));
                }
                (Op::Attempt { reply, .. }, Outcome::Attempt(count)) => {
                    answers.push(Answer::Attempt(reply, count));
                }
                (Op::SetAside { reply, .. }, Outcome::SetAside(entry)) => {
                    // Here rather than in `set_aside`, so that a caller that stopped waiting
                    // still finds it listed.
                    if let Some(entry) = &entry {
                        st.set_aside_ids.insert(entry.id.clone());
                        st.set_aside.push(entry.clone());
                    }
                    answers.push(Answer::SetAside(reply, entry));
                }
                _ => {}
            }
        }
        if any_enqueued {
            shared.metrics.queue_depth(st.live.len());
        }
    }
    if any_enqueued {
        shared.ready.notify_waiters();
    }
    for a in answers {
        // A sender that stopped waiting (its request was cancelled) needs no answer.
        let _ = match a {
            Answer::Enqueue(reply) => reply.send(Ok(())).is_ok(),
            Answer::Attempt(reply, count) => reply.send(Ok(count)).is_ok(),
            Answer::SetAside(reply, entry) => reply.send(Ok(entry)).is_ok(),
        };
    }
}
