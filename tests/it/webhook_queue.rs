//! The durable delivery queue: replay after a restart or `kill -9`, completion, duplicates,
//! a damaged store, bounded disk use, attempts and deliveries set aside.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use prgate::metrics::Metrics;
use prgate::types::PullNumber;
use prgate::webhook::queue::SetAside;
use prgate::webhook::{Delivery, Enqueued, Event, Queue, QueueError, QueueOptions, ReviewEvent};

fn delivery(id: &str) -> Delivery {
    Delivery {
        id: id.to_string(),
        event_name: "pull_request_review".into(),
        received_at: chrono::Utc::now(),
        event: Event::PullRequestReview(ReviewEvent {
            action: "submitted".into(),
            repo: "acme/infra".parse().unwrap(),
            number: PullNumber(42),
        }),
    }
}

async fn next(q: &Queue) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), q.next())
        .await
        .expect("a delivery is pending")
}

async fn nothing_pending(q: &Queue) {
    assert!(
        tokio::time::timeout(Duration::from_millis(100), q.next())
            .await
            .is_err(),
        "no delivery should be pending"
    );
}

fn open(dir: &Path) -> Queue {
    Queue::open(dir, Metrics::new()).unwrap()
}

fn store_file(dir: &Path) -> PathBuf {
    dir.join("queue.redb")
}

#[tokio::test]
async fn uncompleted_deliveries_survive_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    for i in 0..5 {
        assert_eq!(
            q.enqueue(delivery(&format!("d{i}"))).await.unwrap(),
            Enqueued::Accepted
        );
    }
    assert_eq!(q.depth(), 5);
    assert_eq!(next(&q).await.id, "d0");
    drop(q);

    let q = open(dir.path());
    assert_eq!(q.depth(), 5);
    let first = next(&q).await;
    assert_eq!(first, {
        let mut d = delivery("d0");
        d.received_at = first.received_at;
        d
    });
    for i in 1..5 {
        assert_eq!(next(&q).await.id, format!("d{i}"));
    }
    nothing_pending(&q).await;
}

#[tokio::test]
async fn completed_deliveries_are_not_yielded_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    for i in 0..4 {
        q.enqueue(delivery(&format!("d{i}"))).await.unwrap();
    }
    let a = next(&q).await;
    let b = next(&q).await;
    q.complete(&a.id).await.unwrap();
    q.complete(&b.id).await.unwrap();
    // Completing before `next` handed it out: never handed out.
    q.complete("d3").await.unwrap();
    q.complete("unknown").await.unwrap();
    assert_eq!(q.depth(), 1);
    assert_eq!(next(&q).await.id, "d2");
    nothing_pending(&q).await;
    drop(q);

    let q = open(dir.path());
    assert_eq!(q.depth(), 1);
    assert_eq!(next(&q).await.id, "d2");
    nothing_pending(&q).await;
    q.complete("d2").await.unwrap();
    drop(q);
    let q = open(dir.path());
    assert_eq!(q.depth(), 0);
    nothing_pending(&q).await;
}

#[tokio::test]
async fn duplicate_ids_are_queued_once_even_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    assert_eq!(q.enqueue(delivery("a")).await.unwrap(), Enqueued::Accepted);
    assert_eq!(q.enqueue(delivery("a")).await.unwrap(), Enqueued::Duplicate);
    assert_eq!(q.enqueue(delivery("b")).await.unwrap(), Enqueued::Accepted);
    q.complete("a").await.unwrap();
    assert_eq!(q.enqueue(delivery("a")).await.unwrap(), Enqueued::Duplicate);
    drop(q);
    let q = open(dir.path());
    assert_eq!(q.enqueue(delivery("a")).await.unwrap(), Enqueued::Duplicate);
    assert_eq!(q.enqueue(delivery("b")).await.unwrap(), Enqueued::Duplicate);
    assert_eq!(q.depth(), 1);
    // Concurrent redeliveries of one id: exactly one is accepted.
    let results = futures_join(&q, "c", 16).await;
    assert_eq!(
        results.iter().filter(|r| **r == Enqueued::Accepted).count(),
        1
    );
    assert_eq!(q.depth(), 2);
}

async fn futures_join(q: &Queue, id: &str, n: usize) -> Vec<Enqueued> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let q = q.clone();
        let d = delivery(id);
        handles.push(tokio::spawn(async move { q.enqueue(d).await.unwrap() }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_damaged_store_is_refused_with_what_to_do() {
    // Not started empty: that would drop accepted deliveries without a word.
    for damage in ["overwritten past the header", "not a database at all"] {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path());
        for i in 0..3 {
            q.enqueue(delivery(&format!("d{i}"))).await.unwrap();
        }
        drop(q);
        let file = store_file(dir.path());
        let mut bytes = std::fs::read(&file).unwrap();
        if damage == "not a database at all" {
            bytes = b"{\"queue\": []}".repeat(1000);
        } else {
            for b in &mut bytes[4096..] {
                *b ^= 0x5a;
            }
        }
        std::fs::write(&file, &bytes).unwrap();
        match Queue::open(dir.path(), Metrics::new()) {
            Err(e @ QueueError::Store { .. }) => {
                let message = e.to_string();
                assert!(message.contains("queue.redb aside"), "{damage}: {message}");
            }
            Err(e) => panic!("{damage}: unexpected error {e}"),
            Ok(_) => panic!("{damage}: opened a damaged store"),
        }
    }
}

#[tokio::test]
async fn completed_deliveries_leave_the_disk_so_its_use_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let options = QueueOptions {
        dedupe_window: 50,
        ..QueueOptions::default()
    };
    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    let size = || std::fs::metadata(store_file(dir.path())).unwrap().len();
    let mut settled = 0;
    for i in 0..2500 {
        q.enqueue(delivery(&format!("d{i}"))).await.unwrap();
        let d = next(&q).await;
        q.complete(&d.id).await.unwrap();
        if i == 999 {
            settled = size();
        }
    }
    // Pages of completed deliveries and forgotten ids are reused: 1,500 more deliveries
    // (~400 KB of records) do not grow the file.
    let grown = size();
    assert!(
        grown <= settled + 64 * 1024,
        "{settled} bytes after 1,000 deliveries, {grown} after 2,500"
    );
    // The newest ids are still recognised.
    assert_eq!(
        q.enqueue(delivery("d2499")).await.unwrap(),
        Enqueued::Duplicate
    );
    drop(q);
    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    assert_eq!(q.depth(), 0);
    assert_eq!(
        q.enqueue(delivery("d2499")).await.unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(
        q.enqueue(delivery("d2460")).await.unwrap(),
        Enqueued::Duplicate
    );
    // Older ids have left the window.
    assert_eq!(
        q.enqueue(delivery("d100")).await.unwrap(),
        Enqueued::Accepted
    );
    let d = next(&q).await;
    q.complete(&d.id).await.unwrap();

    // A delivery left pending stays, however many are completed after it.
    q.enqueue(delivery("stuck")).await.unwrap();
    let stuck = next(&q).await;
    for i in 0..500 {
        q.enqueue(delivery(&format!("e{i}"))).await.unwrap();
        let d = next(&q).await;
        q.complete(&d.id).await.unwrap();
    }
    drop(q);
    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    assert_eq!(q.depth(), 1);
    assert_eq!(next(&q).await.id, stuck.id);
    nothing_pending(&q).await;
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    assert!(Queue::open(dir.path(), Metrics::new()).is_err());
    drop(q);
    let _q = open(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_keep_per_writer_order() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    let mut handles = Vec::new();
    for w in 0..8 {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..250 {
                assert_eq!(
                    q.enqueue(delivery(&format!("w{w}-{i:04}"))).await.unwrap(),
                    Enqueued::Accepted
                );
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(q.depth(), 2000);
    drop(q);
    let q = open(dir.path());
    let mut last = [-1i64; 8];
    for _ in 0..2000 {
        let d = next(&q).await;
        let (w, i) = d.id[1..].split_once('-').unwrap();
        let (w, i): (usize, i64) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(last[w] + 1, i, "writer {w} out of order");
        last[w] = i;
    }
}

const CHILD_ENV: &str = "PRGATE_QUEUE_CHILD_DIR";

/// Not a test on its own: the child half of `kill_9_loses_no_acknowledged_delivery`. It
/// enqueues forever from several tasks and prints each id once it is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let q = Queue::open(Path::new(&dir), Metrics::new()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for w in 0..16 {
        let q = q.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let id = format!("p{}-w{w}-{i}", std::process::id());
                assert_eq!(q.enqueue(delivery(&id)).await.unwrap(), Enqueued::Accepted);
                if tx.send(id).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some(id) = rx.recv().await {
        let _ = writeln!(out, "acked {id}");
    }
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = HashSet::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "webhook_queue::queue_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut this_round = 0;
        while this_round < 1500 {
            let line = lines.next().expect("child kept writing").unwrap();
            if let Some(id) = line.strip_prefix("acked ") {
                acked.insert(id.to_string());
                this_round += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements already printed but not yet read still count.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("acked ") {
                acked.insert(id.to_string());
            }
        }

        let q = open(dir.path());
        let depth = q.depth();
        let mut yielded = HashSet::new();
        for _ in 0..depth {
            let d = next(&q).await;
            assert!(yielded.insert(d.id.clone()), "{} yielded twice", d.id);
        }
        nothing_pending(&q).await;
        let lost: Vec<&String> = acked
            .iter()
            .filter(|id| !yielded.contains(*id))
            .take(5)
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}"
        );
        // Those written but killed before their acknowledgement may be there too.
        assert!(depth >= acked.len());
        // Complete half; the rest must come back next round.
        for id in yielded
            .iter()
            .filter(|id| id.ends_with('0') || id.ends_with('5'))
        {
            q.complete(id).await.unwrap();
            acked.remove(id);
        }
    }
}

fn not_queued(r: Result<impl std::fmt::Debug, QueueError>) -> bool {
    matches!(r, Err(QueueError::NotQueued { .. }))
}

#[tokio::test]
async fn attempts_are_counted_durably_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    q.enqueue(delivery("a")).await.unwrap();
    q.enqueue(delivery("b")).await.unwrap();
    assert_eq!(next(&q).await.id, "a");
    assert_eq!(q.record_attempt("a").await.unwrap(), 1);
    assert_eq!(q.record_attempt("a").await.unwrap(), 2);
    // Counted before it was handed out, too.
    assert_eq!(q.record_attempt("b").await.unwrap(), 1);
    assert!(not_queued(q.record_attempt("unknown").await));
    drop(q);

    let q = open(dir.path());
    assert_eq!(next(&q).await.id, "a");
    assert_eq!(q.record_attempt("a").await.unwrap(), 3);
    assert_eq!(q.record_attempt("b").await.unwrap(), 2);
    q.complete("a").await.unwrap();
    assert!(not_queued(q.record_attempt("a").await));
    drop(q);

    let q = open(dir.path());
    assert_eq!(q.depth(), 1);
    assert_eq!(q.record_attempt("b").await.unwrap(), 3);
    assert!(not_queued(q.record_attempt("a").await));
}

#[tokio::test]
async fn a_delivery_set_aside_is_kept_listed_and_never_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let options = QueueOptions {
        dedupe_window: 2,
        ..QueueOptions::default()
    };
    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    for id in ["a", "b", "c"] {
        q.enqueue(delivery(id)).await.unwrap();
    }
    assert_eq!(next(&q).await.id, "a");
    for _ in 0..3 {
        q.record_attempt("a").await.unwrap();
    }
    let reason = "the worker panicked 3 times: index out of bounds";
    q.set_aside("a", reason).await.unwrap();
    // Set aside before it was handed out: skipped.
    q.set_aside("c", "operator").await.unwrap();
    assert_eq!(q.depth(), 1);
    assert_eq!(next(&q).await.id, "b");
    nothing_pending(&q).await;

    let listed = |list: Vec<SetAside>| {
        list.into_iter()
            .map(|s| (s.id, s.event, s.reason, s.attempts))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        (
            "a".to_string(),
            "pull_request_review".to_string(),
            reason.to_string(),
            3,
        ),
        (
            "c".to_string(),
            "pull_request_review".to_string(),
            "operator".to_string(),
            0,
        ),
    ];
    assert_eq!(listed(q.set_aside_list()), expected);
    assert!(not_queued(q.set_aside("a", "again").await));
    assert!(not_queued(q.record_attempt("a").await));
    assert!(not_queued(q.set_aside("unknown", "x").await));
    q.complete("a").await.unwrap();
    assert_eq!(q.depth(), 1);
    drop(q);

    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    assert_eq!(q.depth(), 1);
    assert_eq!(next(&q).await.id, "b");
    nothing_pending(&q).await;
    let after = q.set_aside_list();
    assert_eq!(listed(after.clone()), expected);
    assert!(after[0].set_aside_at <= chrono::Utc::now());
    q.complete("b").await.unwrap();
    // Its id stays a duplicate after it has left the (tiny) window; a completed one does not.
    for id in ["x", "y", "z"] {
        q.enqueue(delivery(id)).await.unwrap();
    }
    assert_eq!(q.enqueue(delivery("b")).await.unwrap(), Enqueued::Accepted);
    assert_eq!(q.enqueue(delivery("a")).await.unwrap(), Enqueued::Duplicate);
    assert_eq!(q.enqueue(delivery("c")).await.unwrap(), Enqueued::Duplicate);
}
