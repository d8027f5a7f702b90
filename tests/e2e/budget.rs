//! Connections are a budget: one client address that opens hundreds of event streams and trickles
//! request bodies cannot take the server from everyone else. Event streams past their caps are
//! refused at once (429 per address, 503 in all) instead of held, bodies have a deadline like
//! headers do, and one address holds at most its share of the connections.
//!
//! Loopback is all of 127.0.0.0/8 on Linux, so "another address" is a client bound to 127.0.0.2.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use baton_commands::config::Config;
use baton_commands::domain::Secret;
use futures_util::future::join_all;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{spawn_core_with, TOKEN_ALL};

const ONE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const TWO: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const THREE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// A connection to `addr` from the loopback address `from`.
async fn connect(addr: SocketAddr, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// An answer's head and whatever of its body came with it.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Reads an answer's head (and, for a refusal that closes, its body to the close).
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..end]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: String::new(),
    };
    if answer.header("connection") == Some("close") {
        let mut rest = got[end + 4..].to_vec();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        answer.body = String::from_utf8_lossy(&rest).to_string();
    }
    Some(answer)
}

/// `GET path` from `from`: the answer's head, and the connection (an open stream on 200).
async fn get(
    addr: SocketAddr,
    from: IpAddr,
    path: &str,
    token: Option<&str>,
) -> (Answer, TcpStream) {
    let mut stream = connect(addr, from).await;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: baton\r\n{auth}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(2), read_answer(&mut stream))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no answer in 2 s"))
        .unwrap_or_else(|| panic!("GET {path}: closed without an answer"));
    (answer, stream)
}

/// Whether the server closes `stream` within `within`.
async fn closed(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// An HTTP client from `from` that opens a new connection for every request, so each probe
/// shows whether a new client is accepted, not whether an old connection still works.
fn client(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

/// `/healthz` and an authenticated `GET /api/v1/envs` from `from`, each answered 200 in a second.
async fn probe(http: &reqwest::Client, addr: SocketAddr, from: IpAddr) {
    for (path, token) in [("/healthz", None), ("/api/v1/envs", Some(TOKEN_ALL))] {
        let mut request = http.get(format!("http://{addr}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} from {from}: {e}"));
        assert_eq!(response.status(), 200, "{path} from {from}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{path} from {from} took {took:?}"
        );
    }
}

/// Sends a Slack command's headers (signature headers present, so the body is read before the
/// signature can be checked), then its body a byte every 100 ms (it would take 100 s); returns
/// how long after the headers the server cut it off, and its answer's status if one was read.
async fn trickle(addr: SocketAddr) -> (Duration, Option<u16>) {
    let mut stream = connect(addr, ONE).await;
    let head = "POST /slack/commands HTTP/1.1\r\nHost: baton\r\n\
                X-Slack-Signature: v0=00\r\nX-Slack-Request-Timestamp: 0\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        while write.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let took = started.elapsed();
    writer.abort();
    let text = String::from_utf8_lossy(&got);
    (took, text.split(' ').nth(1).and_then(|s| s.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_with_300_event_streams_and_50_trickled_bodies_leaves_health_and_the_api_answering(
) {
    const BODY_TIMEOUT: Duration = Duration::from_secs(1);
    let mut app = spawn_core_with(|c: &mut Config| {
        c.server.max_connections = 256;
        c.server.max_connections_per_address = 128;
        c.server.max_event_streams = 32;
        c.server.max_event_streams_per_address = 16;
        c.server.body_timeout = BODY_TIMEOUT;
        c.server.header_timeout = Duration::from_secs(2);
        c.slack.signing_secret = Some(Secret::new("8f742231b10e8888abcd99yyyzzz85a5"));
    })
    .await;
    let addr = app.start_instance().await;
    let done = tokio::sync::watch::channel(false);

    let attack = async {
        let trickles = tokio::spawn(join_all((0..50).map(|_| trickle(addr))));
        let mut open = Vec::new();
        let mut refused = Vec::new();
        for wave in 0..12 {
            let opened = join_all((0..25).map(|i| {
                let (path, token) = match (wave * 25 + i) % 2 {
                    0 => ("/status/events", None),
                    _ => ("/api/v1/events", Some(TOKEN_ALL)),
                };
                get(addr, ONE, path, token)
            }))
            .await;
            for (answer, stream) in opened {
                match answer.status {
                    200 => open.push(stream),
                    _ => refused.push((answer, stream)),
                }
            }
        }
        let trickles = trickles.await.unwrap();
        let _ = done.0.send(true);
        (open, refused, trickles)
    };
    let probes = async {
        let (one, two) = (client(ONE), client(TWO));
        let mut rx = done.1.clone();
        let mut rounds = 0;
        while !*rx.borrow_and_update() {
            probe(&one, addr, ONE).await;
            probe(&two, addr, TWO).await;
            rounds += 1;
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
        }
        rounds
    };
    let ((open, mut refused, trickles), rounds) = tokio::join!(attack, probes);

    assert!(rounds >= 5, "the probes ran throughout: {rounds} rounds");
    assert_eq!(
        open.len(),
        16,
        "the address's share of event streams opened"
    );
    assert_eq!(refused.len(), 284);
    for (answer, stream) in &mut refused {
        assert_eq!(answer.status, 429, "{}", answer.head);
        assert_eq!(answer.header("retry-after"), Some("30"), "{}", answer.head);
        assert_eq!(answer.json()["error"], "rate_limited");
        assert!(
            closed(stream, Duration::from_secs(1)).await,
            "a refused stream is not held"
        );
    }
    for (took, status) in trickles {
        assert!(
            took >= BODY_TIMEOUT - Duration::from_millis(100),
            "cut off early: {took:?}"
        );
        assert!(
            took < BODY_TIMEOUT + Duration::from_secs(1),
            "held for {took:?}"
        );
        assert_eq!(
            status,
            Some(408),
            "a trickled body is answered 408 before the close"
        );
    }
    // And the address that misbehaved is still served, with its streams open.
    probe(&client(ONE), addr, ONE).await;
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_connection_share_is_refused_at_once_while_another_is_answered() {
    let mut app = spawn_core_with(|c| {
        c.server.max_connections = 64;
        c.server.max_connections_per_address = 8;
        c.server.header_timeout = Duration::from_secs(10);
    })
    .await;
    let addr = app.start_instance().await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(connect(addr, ONE).await);
    }
    let started = Instant::now();
    let (answer, mut stream) = get(addr, ONE, "/healthz", None).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(answer.status, 429, "{}", answer.head);
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert_eq!(answer.json()["error"], "rate_limited");
    assert!(closed(&mut stream, Duration::from_secs(1)).await);
    probe(&client(TWO), addr, TWO).await;
    // The share comes back as the address's connections close.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (answer, _) = get(addr, ONE, "/healthz", None).await;
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {}", answer.head);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_past_their_caps_are_refused_at_once_429_per_address_and_503_in_all() {
    let mut app = spawn_core_with(|c| {
        c.server.max_event_streams = 3;
        c.server.max_event_streams_per_address = 2;
    })
    .await;
    let addr = app.start_instance().await;
    let (a, first) = get(addr, ONE, "/status/events", None).await;
    let (b, _second) = get(addr, ONE, "/api/v1/events", Some(TOKEN_ALL)).await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.header("content-type"), Some("text/event-stream"));

    let (answer, mut stream) = get(addr, ONE, "/status/events", None).await;
    assert_eq!(answer.status, 429, "{}", answer.head);
    assert_eq!(answer.header("retry-after"), Some("30"));
    let body = answer.json();
    assert_eq!(body["error"], "rate_limited");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("max_event_streams_per_address"),
        "{body}"
    );
    assert!(closed(&mut stream, Duration::from_secs(1)).await);

    let (c, _third) = get(addr, TWO, "/status/events", None).await;
    assert_eq!(c.status, 200, "another address has room");
    let (answer, _) = get(addr, THREE, "/status/events", None).await;
    assert_eq!(answer.status, 503, "{}", answer.head);
    assert_eq!(answer.header("retry-after"), Some("30"));
    assert_eq!(answer.json()["error"], "busy");
    // A refused token never opens a stream, so it is told so, not counted.
    let (answer, _) = get(addr, THREE, "/api/v1/events", Some("wrong")).await;
    assert_eq!(answer.status, 401, "{}", answer.head);

    // A stream whose client goes away gives its slot back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (answer, _stream) = get(addr, THREE, "/status/events", None).await;
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
