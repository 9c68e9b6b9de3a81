//! The connection loop: accepts TCP connections up to a bound, serves each with hyper's HTTP/1.1
//! connection (request heads, idle keep-alive included, must arrive within `header_timeout`), closes
//! idle connections to make room when the bound is reached, and on shutdown closes every
//! connection without a request in flight at once and the others after `shutdown_grace` at the
//! latest. `axum::serve` has none of these bounds: a client that never finishes its request head
//! held a connection (and shutdown) for ever.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::ConnectionLimits;

/// Connections that have seen no request for at least this long are closed first when the bound
/// is reached (a client that just connected gets this long to send its request head).
const SHED_AFTER: Duration = Duration::from_millis(500);

/// How often the accept loop, at the bound, asks idle connections to close.
const SHED_EVERY: Duration = Duration::from_millis(100);

/// What the accept loop and a connection's task share about that connection.
struct ConnState {
    /// Requests being handled on it.
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` at which it last went idle (accepted, or a response returned).
    idle_since_ms: AtomicU64,
}

/// Counts the server's open connections and tells them when to close.
struct Connections {
    epoch: Instant,
    /// One permit per open connection.
    slots: Arc<Semaphore>,
    /// Bumped to ask connections idle for [`SHED_AFTER`] to close.
    shed: watch::Sender<u64>,
    /// Set once on shutdown.
    stop: watch::Sender<bool>,
}

impl Connections {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains the connections within
/// `limits.shutdown_grace`; `slots` holds a permit per connection allowed
/// (`limits.max_connections`). Returns how many connections were still answering when the grace
/// period ended (closed then).
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    slots: Arc<Semaphore>,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<usize> {
    let connections = Arc::new(Connections {
        epoch: Instant::now(),
        slots,
        shed: watch::channel(0).0,
        stop: watch::channel(false).0,
    });
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = free_slot(&connections) => permit,
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let task = serve_connection(stream, router.clone(), &connections, limits, permit);
                tasks.spawn(task);
            }
            // Too many open files and the like: wait a little instead of spinning.
            Err(e) if !is_connection_error(&e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(SHED_EVERY).await;
            }
            Err(_) => {}
        }
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = connections.stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    let unfinished = tasks.len();
    if drained.is_err() {
        tracing::warn!(
            connections = unfinished,
            "closing the connections still answering after the shutdown grace period"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    Ok(if drained.is_err() { unfinished } else { 0 })
}

/// A connection slot; while every slot is taken, asks idle connections to close, every
/// [`SHED_EVERY`], until one frees.
async fn free_slot(connections: &Connections) -> OwnedSemaphorePermit {
    loop {
        if let Ok(permit) = connections.slots.clone().try_acquire_owned() {
            return permit;
        }
        connections.shed.send_modify(|n| *n += 1);
        let slots = connections.slots.clone();
        if let Ok(Ok(permit)) = tokio::time::timeout(SHED_EVERY, slots.acquire_owned()).await {
            return permit;
        }
    }
}

/// Errors of one connection attempt (the client gave up): nothing to wait for.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves one connection until it closes, is shed, or shutdown ends it; holds `permit` meanwhile.
fn serve_connection(
    stream: TcpStream,
    router: Router,
    connections: &Arc<Connections>,
    limits: &ConnectionLimits,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send + 'static {
    let state = Arc::new(ConnState {
        in_flight: AtomicUsize::new(0),
        idle_since_ms: AtomicU64::new(connections.now_ms()),
    });
    let service = {
        let (state, connections) = (state.clone(), connections.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            state.in_flight.fetch_add(1, Ordering::SeqCst);
            let busy = InFlight(state.clone(), connections.clone());
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(Body::new)).await;
                // The request stays in flight until hyper has written (and dropped) the body.
                response.map(|r| {
                    r.map(|body| {
                        Body::new(body.map_frame(move |f| {
                            let _ = &busy;
                            f
                        }))
                    })
                })
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = http.serve_connection(TokioIo::new(stream), service);
    let mut shed = connections.shed.subscribe();
    let mut stop = connections.stop.subscribe();
    let connections = connections.clone();
    async move {
        let _permit = permit;
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                Ok(()) = stop.changed(), if !stopping => {
                    stopping = true;
                    // No request in flight: close now (a client stuck in its request head does
                    // not hold the shutdown); otherwise answer it and close.
                    if state.in_flight.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                    connection.as_mut().graceful_shutdown();
                }
                Ok(()) = shed.changed(), if !stopping => {
                    let idle_ms = connections.now_ms()
                        .saturating_sub(state.idle_since_ms.load(Ordering::SeqCst));
                    if state.in_flight.load(Ordering::SeqCst) == 0
                        && idle_ms >= SHED_AFTER.as_millis() as u64
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// Marks a request in flight on a connection; dropping it marks the connection idle from now.
struct InFlight(Arc<ConnState>, Arc<Connections>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.1.now_ms(), Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open-files limit of this process (`/proc/self/limits`), where it can be read.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Files kept free for the index, the model, logs and the runtime when the connection bound is
/// derived from the open-files limit.
pub(crate) const RESERVED_FILES: u64 = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_limit_is_read_where_proc_exists() {
        if std::path::Path::new("/proc/self/limits").exists() {
            let limit = open_files_limit().expect("a number");
            assert!(limit >= 3, "{limit}");
        }
    }
}
