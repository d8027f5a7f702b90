//! The HTTP server loop: axum's router on hyper's HTTP/1 connection, with the limits that
//! `axum::serve` does not offer. A client that sends its headers a byte a second, or opens a
//! connection and says nothing, is cut off after `server.header_timeout` (hyper's header-read
//! timer, which also bounds an idle keep-alive connection); connections are capped below the
//! file-descriptor limit, so a flood waits in the kernel's backlog instead of making `accept`
//! fail for everyone. One client address may hold `server.max_connections_per_address` of them;
//! its further connections are answered 429 at once and closed (see `budget.rs`), so the rest stay
//! for everyone else. Each request carries the peer's address (`ConnectInfo`) for per-client
//! limits.
//!
//! HTTP/1 only: hyper-util's auto (HTTP/1 + h2c) builder waits for the first bytes with no
//! timeout at all, which is exactly the hole this closes. Baton sits behind a TLS-terminating
//! proxy or is reached directly over HTTP/1.1; neither needs h2c.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::Router;
use baton_commands::config::ServerConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::budget::Budget;

/// Headers a request may carry before hyper refuses it on its own (with an empty 431); set above
/// the app's own limit (`edge::MAX_HEADERS`) so that the app answers 431 with a JSON body.
const HYPER_MAX_HEADERS: usize = 400;

/// Descriptors kept free for Redis connections, log files and the like.
const FD_HEADROOM: u64 = 64;

/// Connections over their address's share being answered at once; beyond this many, one is
/// closed unanswered. They hold no connection slot, so this bounds the descriptors they use.
const MAX_REFUSING: usize = 64;
/// How long a refused connection has to send its request head before it is closed unanswered.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);
/// What a client refused for its address's share is told to wait.
const SHARE_RETRY: Duration = Duration::from_secs(5);

/// The limits the loop enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Header-read and idle keep-alive timeout.
    pub header_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections one client address may hold.
    pub per_address: usize,
}

impl Limits {
    /// From `[server]`, with the connection cap lowered to fit the descriptor limit.
    pub fn from_config(server: &ServerConfig) -> Self {
        let fit = fd_limit().map_or(usize::MAX, |n| {
            n.saturating_sub(FD_HEADROOM + MAX_REFUSING as u64).max(16) as usize
        });
        let max_connections = server.max_connections.clamp(1, fit);
        if max_connections < server.max_connections {
            tracing::warn!(
                configured = server.max_connections,
                used = max_connections,
                "server.max_connections lowered to fit the file-descriptor limit (ulimit -n)"
            );
        }
        Self {
            header_timeout: server.header_timeout,
            max_connections,
            per_address: server.max_connections_per_address.clamp(1, max_connections),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // The semaphore makes a flood wait its turn; the shares turn one address's excess away.
    let shares = Budget::new(limits.per_address, limits.max_connections);
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let share = match shares.take(peer.ip()) {
            Ok(share) => share,
            Err(_) => {
                drop(permit);
                refuse(stream, &refusing, limits.per_address);
                continue;
            }
        };
        let app = app.clone();
        let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection closed with an error");
            }
            drop((share, permit));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over its address's share 429 and closes it, without a connection slot:
/// hyper reads the request head (for `REFUSAL_GRACE` at most, so a silent client cannot hold
/// the answer up) and the answer closes the connection.
fn refuse(stream: TcpStream, refusing: &Arc<Semaphore>, per_address: usize) {
    metrics::counter!("baton_refusals_total", "what" => "connection", "why" => "address")
        .increment(1);
    let Ok(answering) = refusing.clone().try_acquire_owned() else {
        return; // dropping the stream closes it
    };
    let service = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| async move {
        let message = format!(
            "this address already has {per_address} connections open \
             (server.max_connections_per_address); close some, or retry later"
        );
        let retry = Some(SHARE_RETRY);
        Ok::<_, Infallible>(crate::edge::refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            message,
            retry,
        ))
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_GRACE)
        .keep_alive(false);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::spawn(async move {
        let _ = conn.await;
        drop(answering);
    });
}

/// `accept` failing for one connection (reset before accept) is routine; running out of
/// descriptors or memory is not, and retrying at once would spin: pause briefly.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; pausing 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The soft `RLIMIT_NOFILE`, when it is finite.
fn fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}
