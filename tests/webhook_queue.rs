//! The durable delivery queue: replay after a restart or `kill -9`, completion, duplicates,
//! torn tails, and bounded disk use.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use prgate::metrics::Metrics;
use prgate::types::PullNumber;
use prgate::webhook::{Delivery, Enqueued, Event, Queue, QueueOptions};

fn delivery(id: &str) -> Delivery {
    Delivery {
        id: id.to_string(),
        event_name: "pull_request_review".into(),
        received_at: chrono::Utc::now(),
        event: Event::PullRequestReview {
            action: "submitted".into(),
            repo: "acme/infra".parse().unwrap(),
            number: PullNumber(42),
        },
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

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
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
async fn a_torn_or_corrupt_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    for i in 0..3 {
        q.enqueue(delivery(&format!("d{i}"))).await.unwrap();
    }
    drop(q);
    let seg = segments(dir.path())
        .into_iter()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let intact = std::fs::read(&seg).unwrap();

    // A crash in the middle of a write: half a record.
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    let record = &intact[..intact.len() / 3];
    f.write_all(&record[..record.len() / 2]).unwrap();
    drop(f);
    let q = open(dir.path());
    assert_eq!(q.depth(), 3);
    for i in 0..3 {
        assert_eq!(next(&q).await.id, format!("d{i}"));
    }
    nothing_pending(&q).await;
    q.enqueue(delivery("after-torn")).await.unwrap();
    drop(q);

    // A flipped bit in the last record of the original segment: that record is dropped.
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = intact.len() - 5;
    bytes[last] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    // And garbage appended to done.log must not hide completions written after it.
    let mut done = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("done.log"))
        .unwrap();
    done.write_all(&[1, 2, 3]).unwrap();
    drop(done);
    let q = open(dir.path());
    let ids: Vec<String> = vec![next(&q).await.id, next(&q).await.id, next(&q).await.id];
    assert_eq!(ids, ["d0", "d1", "after-torn"]);
    q.complete("after-torn").await.unwrap();
    drop(q);
    let q = open(dir.path());
    assert_eq!(q.depth(), 2);
}

#[tokio::test]
async fn completed_segments_are_deleted_so_disk_use_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let options = QueueOptions {
        dedupe_window: 50,
        segment_bytes: 2048,
    };
    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    for i in 0..2000 {
        q.enqueue(delivery(&format!("d{i}"))).await.unwrap();
        let d = next(&q).await;
        q.complete(&d.id).await.unwrap();
    }
    let segs = segments(dir.path());
    let bytes: u64 = segs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    // The duplicate window (50 deliveries of ~250 bytes) plus a segment or two.
    assert!(bytes < 30_000, "{} segments, {bytes} bytes", segs.len());
    let done = std::fs::metadata(dir.path().join("done.log"))
        .unwrap()
        .len();
    assert!(done < 12 * 200, "done.log holds {done} bytes");
    // The newest ids are still recognised.
    assert_eq!(
        q.enqueue(delivery("d1999")).await.unwrap(),
        Enqueued::Duplicate
    );
    drop(q);
    let q = Queue::open_with(dir.path(), Metrics::new(), options).unwrap();
    assert_eq!(q.depth(), 0);
    assert_eq!(
        q.enqueue(delivery("d1999")).await.unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(
        q.enqueue(delivery("d1960")).await.unwrap(),
        Enqueued::Duplicate
    );

    // A delivery left pending keeps its segment, and everything after it, until completed.
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
                "queue_child_writer",
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
