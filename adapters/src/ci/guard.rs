//! Failed authentication on the CI API: counted in `/metrics` (by route, never with the token),
//! logged at a bounded rate, and limited per client address with a small token bucket (429 with
//! `Retry-After`).
//!
//! The bucket is spent only by failures and a valid token is always checked first, so a pipeline
//! behind the same address as a flood (a shared NAT, the same runner) still gets through. That
//! also means a limited address can still present a right token: the limit bounds the work and
//! the log volume a flood costs, while guessing stays hopeless because tokens are 256-bit random
//! (`baton ci token`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, CiState};

/// Failures an address may make in a burst, unless `ci.auth_failure_burst` says otherwise.
pub const BURST: u32 = 10;
/// Failures per second an address earns back.
const REFILL_PER_SEC: f64 = 1.0;
/// Addresses tracked at most; full (forgiven) buckets are dropped first.
const MAX_TRACKED: usize = 10_000;
/// At most one log line per this interval, with the count of failures since the last.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Per-address buckets and the log throttle, shared by every CI route.
pub struct AuthGuard {
    state: Mutex<GuardState>,
    burst: f64,
}

impl Default for AuthGuard {
    fn default() -> Self {
        Self::new(BURST)
    }
}

#[derive(Default)]
struct GuardState {
    buckets: HashMap<IpAddr, Bucket>,
    last_log: Option<Instant>,
    unlogged: u64,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant, burst: f64) -> f64 {
        let earned = now.duration_since(self.at).as_secs_f64() * REFILL_PER_SEC;
        (self.tokens + earned).min(burst)
    }
}

/// What a failure costs the caller.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Answer 401.
    Unauthorized,
    /// Answer 429; the bucket refills one failure after this long.
    Limited(Duration),
}

impl AuthGuard {
    /// A guard that lets an address fail `burst` times before it answers 429.
    pub fn new(burst: u32) -> Self {
        Self {
            state: Mutex::default(),
            burst: f64::from(burst),
        }
    }

    /// Records one failed authentication from `peer` on `route`.
    pub fn failed(&self, peer: IpAddr, route: &str, now: Instant) -> Verdict {
        let burst = self.burst;
        let mut s = self.state.lock().expect("not poisoned");
        if s.buckets.len() >= MAX_TRACKED && !s.buckets.contains_key(&peer) {
            s.buckets.retain(|_, b| b.refilled(now, burst) < burst);
            if s.buckets.len() >= MAX_TRACKED {
                s.buckets.clear();
            }
        }
        let bucket = s.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = bucket.refilled(now, burst);
        let verdict = if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Verdict::Unauthorized
        } else {
            *bucket = Bucket { tokens, at: now };
            Verdict::Limited(Duration::from_secs_f64((1.0 - tokens) / REFILL_PER_SEC))
        };
        let outcome = match verdict {
            Verdict::Unauthorized => "unauthorized",
            Verdict::Limited(_) => "rate_limited",
        };
        metrics::counter!("baton_auth_failures_total", "route" => route.to_string(), "outcome" => outcome)
            .increment(1);
        s.unlogged += 1;
        if s.last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            tracing::warn!(failures = s.unlogged, latest_peer = %peer, route, outcome, "CI API authentication failed (one line per 10 s at most; no token is logged)");
            s.last_log = Some(now);
            s.unlogged = 0;
        }
        verdict
    }
}

/// The middleware on every CI route: a request whose token is refused never reaches its
/// handler, and is answered 401 or, once its address has failed too often, 429. The caller it
/// found goes on with the request, so the handler's `Caller` is not looked up twice.
pub async fn guard(State(s): State<CiState>, mut req: Request, next: Next) -> Response {
    let refused = match super::auth::authenticate(req.headers(), &s.tokens) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            return next.run(req).await;
        }
        Err(refused) => refused,
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", MatchedPath::as_str);
    match s.guard.failed(peer, route, Instant::now()) {
        Verdict::Unauthorized => refused.into_response(),
        Verdict::Limited(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let message = format!("too many failed authentications from this address; retry in {secs} s with a valid token");
            let mut response = ApiError::new(429, "rate_limited", message).into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs.max(1)));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_after_a_burst_and_forgiven_over_time() {
        let guard = AuthGuard::default();
        let (a, b) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(guard.failed(a, "/x", t0), Verdict::Unauthorized);
        }
        assert!(
            matches!(guard.failed(a, "/x", t0), Verdict::Limited(d) if d <= Duration::from_secs(1))
        );
        assert_eq!(
            guard.failed(b, "/x", t0),
            Verdict::Unauthorized,
            "other addresses are not limited"
        );
        let later = t0 + Duration::from_secs(2);
        assert_eq!(guard.failed(a, "/x", later), Verdict::Unauthorized);
    }
}
