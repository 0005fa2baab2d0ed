//! Unit tests of what the public API cannot show: group commit, and the import of the old
//! segment log.

use std::time::Duration;

use super::*;
use crate::types::PullNumber;
use crate::webhook::event::{Event, ReviewEvent};

fn delivery(id: &str) -> Delivery {
    Delivery {
        id: id.to_string(),
        event_name: "pull_request_review".into(),
        received_at: chrono::Utc::now(),
        event: Event::PullRequestReview(ReviewEvent {
            action: "submitted".into(),
            repo: "acme/infra".parse().expect("repo name"),
            number: PullNumber(42),
        }),
    }
}

async fn next(q: &Queue) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), q.next())
        .await
        .expect("a delivery is pending")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), Metrics::new()).unwrap();
    let before = q.commits();
    let n = 400;
    let mut handles = Vec::new();
    for i in 0..n {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            q.enqueue(delivery(&format!("d{i}"))).await.unwrap()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), Enqueued::Accepted);
    }
    let commits = q.commits() - before;
    // One fsynced commit per delivery would be `n`; waiting deliveries ride along.
    assert!(commits < n / 4, "{commits} commits for {n} deliveries");
    assert_eq!(q.depth(), n as usize);
}

#[tokio::test]
async fn the_old_segment_log_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let json = |id: &str| serde_json::to_vec(&delivery(id)).unwrap();
    // Two segments as the old queue left them: d0..d3 and d4..d5, d1 and d4 completed, a torn
    // record at the end of the second, and a record this version cannot decode.
    legacy::tests::write_segment(
        dir.path(),
        0,
        &[json("d0"), json("d1"), json("d2"), json("d3")],
    );
    legacy::tests::write_segment(
        dir.path(),
        4,
        &[
            json("d4"),
            json("d5"),
            br#"{"id":"odd","event_name":"future_event","shape":"unknown"}"#.to_vec(),
        ],
    );
    let last = dir.path().join(format!("{:020}.seg", 4));
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2]);
    std::fs::write(&last, bytes).unwrap();
    legacy::tests::write_done(dir.path(), &[1, 4]);

    let q = Queue::open(dir.path(), Metrics::new()).unwrap();
    assert_eq!(q.depth(), 4);
    for id in ["d0", "d2", "d3", "d5"] {
        assert_eq!(next(&q).await.id, id);
    }
    let aside = q.set_aside_list();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        (aside[0].id.as_str(), aside[0].event.as_str()),
        ("odd", "future_event")
    );
    assert!(
        aside[0].reason.contains("cannot read"),
        "{}",
        aside[0].reason
    );
    // Completed ones are still duplicates, and the old files are gone.
    assert_eq!(
        q.enqueue(delivery("d1")).await.unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(
        q.enqueue(delivery("odd")).await.unwrap(),
        Enqueued::Duplicate
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["lock", "queue.redb"]);
    q.complete("d0").await.unwrap();
    drop(q);

    // Old files put back (a crash between the commit and their deletion): not imported twice.
    legacy::tests::write_segment(dir.path(), 0, &[json("d0"), json("d1")]);
    let q = Queue::open(dir.path(), Metrics::new()).unwrap();
    assert_eq!(q.depth(), 3);
    for id in ["d2", "d3", "d5"] {
        assert_eq!(next(&q).await.id, id);
    }
    assert!(!dir.path().join(format!("{:020}.seg", 0)).exists());
}

#[tokio::test]
async fn completions_alone_share_one_commit_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), Metrics::new()).unwrap();
    for i in 0..20 {
        q.enqueue(delivery(&format!("d{i}"))).await.unwrap();
    }
    let before = q.commits();
    for _ in 0..20 {
        let d = next(&q).await;
        q.complete(&d.id).await.unwrap();
    }
    // Held for a commit to join, then committed on their own.
    tokio::time::sleep(store::COMPLETION_DELAY * 4).await;
    let commits = q.commits() - before;
    assert!(
        (1..=2).contains(&commits),
        "{commits} commits for 20 completions"
    );
    assert_eq!(q.depth(), 0);
}
