//! Executions do git work through git2 (mirror fetch, merge_trees, checkout, note push),
//! which blocks its thread, sometimes on the network. An execution therefore runs on a
//! blocking thread of its own, its code host calls driven from there, so that no git2 call
//! ever holds one of the async runtime's few worker threads (on a 2-core host, two) and the
//! decisions queued behind it.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// Runs `work` to completion on a blocking thread. `None` when it panicked or was cancelled:
/// dropping the returned future (a shutdown) cancels `work` at its next await.
pub(crate) async fn off_runtime<F>(work: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let task = tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            tokio::select! {
                out = work => Some(out),
                _ = cancel.cancelled() => None,
            }
        })
    });
    match task.await {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "an execution panicked");
            None
        }
    }
}

/// Bounds git2's network waits for the whole process: without them a code host that accepts
/// the connection and then says nothing would hold an execution (and its claim) forever.
/// Called once at start-up, before any git work.
pub fn set_git_network_timeouts() {
    // SAFETY: libgit2's global options are plain integers; this runs at start-up, before any
    // thread does git work (git2 documents the race with concurrent operations as the hazard).
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(10_000);
        let _ = git2::opts::set_server_timeout_in_milliseconds(120_000);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::Duration;

    use super::off_runtime;

    /// On a one-thread runtime, work that blocks its thread (as git2 does) leaves the runtime
    /// free: a ticker beside it keeps running, and the work's own awaits still complete.
    #[tokio::test(flavor = "current_thread")]
    async fn blocking_work_leaves_the_runtime_free() {
        let ticks = Arc::new(AtomicU32::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        let out = off_runtime(async {
            std::thread::sleep(Duration::from_millis(300));
            tokio::time::sleep(Duration::from_millis(1)).await;
            7
        })
        .await;
        assert_eq!(out, Some(7));
        assert!(ticks.load(Ordering::SeqCst) >= 5, "the runtime was held");
        ticker.abort();
    }

    /// Dropping the future (a shutdown) cancels the work at its next await.
    #[tokio::test(flavor = "current_thread")]
    async fn dropping_it_cancels_the_work() {
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let work = off_runtime(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            f.store(true, Ordering::SeqCst);
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), work)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!finished.load(Ordering::SeqCst));
    }
}
