//! Connections are a budget: what everyone needs, no one client address may spend. Two things
//! hold a connection for long and are counted here: the connection itself (`serve.rs` takes a
//! [`Slot`] per accepted connection, `server.max_connections_per_address`), and an event stream
//! (`/status/events`, `/api/v1/events`), which never ends on its own ([`event_streams`],
//! `server.max_event_streams` and `…_per_address`). Past either share the answer is a refusal at
//! once, JSON with `Retry-After`, never a wait: a refusal held open would spend the very
//! connection it protects. Bodies are bounded in time by `edge::body_deadline`.
//!
//! A client counts by its address: IPv4 as it is (also when it arrives IPv4-mapped on a
//! dual-stack listener), IPv6 by its /64, which one host or household is usually given whole.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;

use crate::edge;

/// How long a refused event stream is told to wait; the status page retries on the same beat.
pub const STREAM_RETRY: Duration = Duration::from_secs(30);

/// Slots for one kind of long-lived thing: `total` at most, `per_address` of them from one
/// client address.
pub struct Budget {
    per_address: usize,
    total: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    /// Only addresses holding a slot: the map never outgrows `total`.
    by_address: HashMap<IpAddr, usize>,
}

/// Why a slot was not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The client's address holds its share.
    Address,
    /// Every slot is taken.
    Full,
}

/// One slot, given back when dropped.
pub struct Slot {
    budget: Arc<Budget>,
    client: IpAddr,
}

impl Budget {
    /// `total` slots, `per_address` (at most `total`) for one address.
    pub fn new(per_address: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_address: per_address.min(total),
            total,
            held: Mutex::default(),
        })
    }

    /// The share of one address.
    pub fn per_address(&self) -> usize {
        self.per_address
    }

    /// The slots in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// A slot for `peer`, or why not.
    pub fn take(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let client = client(peer);
        let mut held = self.held.lock().expect("not poisoned");
        let mine = held.by_address.get(&client).copied().unwrap_or(0);
        if mine >= self.per_address {
            return Err(Refused::Address);
        }
        if held.total >= self.total {
            return Err(Refused::Full);
        }
        held.total += 1;
        held.by_address.insert(client, mine + 1);
        Ok(Slot {
            budget: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock().expect("not poisoned");
        held.total -= 1;
        if let Some(n) = held.by_address.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.by_address.remove(&self.client);
            }
        }
    }
}

/// The address `ip` counts under.
pub fn client(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// The peer's address, which `serve.rs` puts on every request.
pub fn peer(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// Every answer that is an event stream holds a slot of `budget` for as long as its body lives
/// (until the client goes away or the server stops). Deciding on the answer rather than the path
/// counts exactly the streams that opened: a refused token never takes a slot, and a stream
/// route added later is counted without being listed here. Past the share the answer is 429,
/// past the total 503, both with `Connection: close`, so a refused client holds nothing.
pub fn stream_slot(budget: &Arc<Budget>, peer: IpAddr, response: Response) -> Response {
    let streams = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streams {
        return response;
    }
    match budget.take(peer) {
        // The closure owns the slot, so it is given back when hyper drops the body.
        Ok(slot) => response.map(|body| {
            Body::new(body.map_frame(move |frame| {
                let _held = &slot;
                frame
            }))
        }),
        Err(why) => {
            metrics::counter!("baton_refusals_total", "what" => "event_stream", "why" => why.label())
                .increment(1);
            let (status, code, message) = match why {
                Refused::Address => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "this address already has {} event streams open \
                         (server.max_event_streams_per_address); close one, or retry later",
                        budget.per_address()
                    ),
                ),
                Refused::Full => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    format!(
                        "this instance already serves {} event streams \
                         (server.max_event_streams); retry later",
                        budget.total()
                    ),
                ),
            };
            edge::refusal(status, code, message, Some(STREAM_RETRY))
        }
    }
}

impl Refused {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refused::Address => "address",
            Refused::Full => "full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_and_the_rest_stays_for_others() {
        let budget = Budget::new(2, 3);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            [10, 0, 0, 3].into(),
        );
        let first = budget.take(a).unwrap();
        let _second = budget.take(a).unwrap();
        assert_eq!(budget.take(a).err(), Some(Refused::Address));
        let _other = budget.take(b).unwrap();
        assert_eq!(budget.take(c).err(), Some(Refused::Full));
        drop(first);
        assert!(budget.take(a).is_ok(), "a slot given back is free again");
        assert!(budget.held.lock().unwrap().by_address.len() <= 2);
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client(one), client(two));
        assert_ne!(client(one), client(next));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client(mapped), IpAddr::from([192, 0, 2, 7]));
    }
}
