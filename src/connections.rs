//! The public listener of `prgate serve`: HTTP/1.1, at most `max_connections` connections at
//! once, request headers within a deadline (which also ends idle keep-alive connections), and,
//! when a new connection finds every slot taken, the oldest connection asked to close, so that
//! a flood of idle sockets cannot keep GitHub's deliveries or the probes out.

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// hyper's read buffer per connection, which also bounds a request's headers. Its default
/// (~400 KiB) times `max_connections` slow clients would be a lot of memory for headers that
/// GitHub keeps under 2 KiB.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// What the listener grants each client.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long a connection asked to close may still finish its request in progress; past
    /// it, a client that stalls the request (or never reads its answer) is cut off.
    pub close_grace: Duration,
}

/// The open connections, oldest first, each with the token that asks it to close.
#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, CancellationToken>>,
}

impl OpenConnections {
    fn register(&self, token: CancellationToken) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, token);
        id
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the oldest connection not yet asked to close. hyper closes it at once when it is
    /// idle or has sent nothing; a request in progress is answered first (within the grace);
    /// half-sent headers last until the header deadline.
    fn evict_oldest(&self) {
        if let Some((_, token)) = self.lock().pop_first() {
            token.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, CancellationToken>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled (or this future is dropped); then
/// every connection is asked to close, and requests in progress are answered first.
///
/// axum::serve offers neither a header deadline nor a connection cap, and no tower or hyper
/// facility closes idle connections to admit new ones, hence this loop over hyper's own.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) {
    let _close_all_on_exit = shutdown.clone().drop_guard();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let open = Arc::new(OpenConnections::default());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER_BYTES);
    let builder = Arc::new(builder);

    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: closing the oldest connection frees
                // one, and the pause keeps this loop from spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                open.evict_oldest();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                open.evict_oldest();
                // Any connection without a request in progress is gone within the header
                // deadline; if every slot is still busy then, this connection is refused.
                let slot = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    slot = tokio::time::timeout(limits.header_timeout, slots.clone().acquire_owned()) => slot,
                };
                match slot {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        tracing::warn!("every connection slot stayed busy; refused a connection");
                        continue;
                    }
                }
            }
        };

        let token = shutdown.child_token();
        let id = open.register(token.clone());
        let open = open.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(app.clone());
        let grace = limits.close_grace;
        tokio::spawn(async move {
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            let served = tokio::select! {
                served = conn.as_mut() => served,
                _ = token.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    // Dropping the connection after the grace closes its socket.
                    tokio::time::timeout(grace, conn).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            open.remove(id);
            drop(permit);
        });
    }
}

/// Errors of one connection, not of the listener (as in axum's and hyper's own loops).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// This process's soft limit of open files, when it can be read.
pub(crate) fn open_files_limit() -> Option<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed by reference.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit.rlim_cur)
}

/// Raises this process's soft limit of open files to its hard limit, so that the connection
/// cap, not the descriptor limit, is what a flood meets. Returns the soft limit in force.
pub(crate) fn raise_open_files_limit() -> Option<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

/// The connection cap that fits under the open-files limit `open_files`, keeping a reserve for
/// the queue, git and executors.
pub(crate) fn connections_within(
    max_connections: usize,
    open_files: Option<libc::rlim_t>,
) -> usize {
    const RESERVE: libc::rlim_t = 128;
    match open_files {
        Some(n) => {
            let fit = usize::try_from(n.saturating_sub(RESERVE)).unwrap_or(usize::MAX);
            max_connections.min(fit.max(1))
        }
        None => max_connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_of_descriptors() {
        assert_eq!(connections_within(512, Some(1024)), 512);
        assert_eq!(connections_within(2048, Some(1024)), 896);
        assert_eq!(connections_within(512, Some(10)), 1);
        assert_eq!(connections_within(512, None), 512);
    }

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener with one slot, a route that answers and one that never does.
    async fn one_slot() -> (std::net::SocketAddr, CancellationToken) {
        let app = Router::new()
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .route(
                "/stall",
                axum::routing::get(std::future::pending::<&'static str>),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let limits = ListenerLimits {
            max_connections: 1,
            header_timeout: Duration::from_secs(5),
            close_grace: Duration::from_millis(300),
        };
        tokio::spawn(serve(listener, app, limits, shutdown.clone()));
        (addr, shutdown)
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer).await;
        answer
    }

    #[tokio::test]
    async fn an_idle_connection_makes_room_for_a_new_one_at_once() {
        let (addr, shutdown) = one_slot().await;
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer = tokio::time::timeout(Duration::from_secs(1), get(addr, "/ok"))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // The idle connection was closed to make room.
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(1), idle.read_to_end(&mut rest)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_stalled_request_is_cut_off_after_the_grace_when_its_slot_is_needed() {
        let (addr, shutdown) = one_slot().await;
        let stalled = tokio::spawn(get(addr, "/stall"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(2), get(addr, "/ok"))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert_eq!(stalled.await.unwrap(), "");
        shutdown.cancel();
    }

    #[test]
    fn eviction_takes_the_oldest_first_and_each_once() {
        let open = OpenConnections::default();
        let tokens: Vec<_> = (0..3).map(|_| CancellationToken::new()).collect();
        let ids: Vec<_> = tokens.iter().map(|t| open.register(t.clone())).collect();
        open.remove(ids[0]);
        open.evict_oldest();
        assert!(!tokens[0].is_cancelled() && tokens[1].is_cancelled());
        open.evict_oldest();
        assert!(tokens[2].is_cancelled());
        open.evict_oldest();
    }
}
