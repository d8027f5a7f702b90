//! A local stand-in for everything Baton calls at Slack: the Web API (`chat.postMessage`,
//! `conversations.open`) and interaction `response_url`s. It records each call and answers the
//! way Slack does, including its failures, chosen by path prefix.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub use crate::support::Call;

/// The fake. Paths under `/limited` answer 429 with `Retry-After: 7`, under `/gone`
/// `channel_not_found`, under `/down` a 503; `/response/…` is a `response_url`.
#[derive(Clone, Default)]
pub struct FakeSlack {
    calls: Arc<Mutex<Vec<Call>>>,
    base: Arc<Mutex<String>>,
    socket_url: Arc<Mutex<String>>,
}

impl FakeSlack {
    /// Serves on 127.0.0.1:0.
    pub async fn start() -> Self {
        let fake = Self::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *fake.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// What `apps.connections.open` hands out: where Socket Mode connects.
    pub fn open_sockets_at(&self, url: &str) {
        *self.socket_url.lock().unwrap() = url.to_string();
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.lock().unwrap())
    }

    /// Every call so far whose path starts with `prefix`.
    pub fn calls_to(&self, prefix: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Waits up to `secs` for the `n`th call (1-based) under `prefix`.
    pub async fn wait_for(&self, prefix: &str, n: usize, secs: u64) -> Call {
        for _ in 0..secs * 20 {
            if let Some(call) = self.calls_to(prefix).get(n - 1) {
                return call.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no call #{n} to {prefix}… in {:#?}",
            self.calls.lock().unwrap()
        );
    }
}

async fn answer(
    State(fake): State<FakeSlack>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.calls.lock().unwrap().push(Call {
        method: method.to_string(),
        path: path.clone(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: body.clone(),
    });
    if path.starts_with("/response/") {
        // What Slack's response_url answers: a bare "ok".
        return ([("content-type", "text/html")], "ok").into_response();
    }
    match (path.split('/').nth(1), path.rsplit('/').next()) {
        (Some("limited"), _) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
            Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response(),
        (Some("gone"), _) => {
            Json(json!({"ok": false, "error": "channel_not_found"})).into_response()
        }
        (Some("down"), _) => (StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response(),
        (_, Some("apps.connections.open")) => {
            let url = fake.socket_url.lock().unwrap().clone();
            Json(json!({"ok": true, "url": url})).into_response()
        }
        (_, Some("conversations.open")) => {
            Json(json!({"ok": true, "channel": {"id": "D0DM"}})).into_response()
        }
        (_, Some("chat.postMessage")) => Json(json!({
            "ok": true,
            "channel": body["channel"],
            "ts": "1795711200.000100",
            "message": {"text": body["text"], "ts": "1795711200.000100"},
        }))
        .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error": "unknown_method"})),
        )
            .into_response(),
    }
}

/// Slack's end of Socket Mode: accepts Baton's websockets and greets each with `hello`.
pub struct FakeSocket {
    url: String,
    accepted: mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
}

impl FakeSocket {
    /// Listens on 127.0.0.1:0.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/link", listener.local_addr().unwrap());
        let (tx, accepted) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let hello = json!({"type": "hello", "num_connections": 1,
                        "debug_info": {"host": "fake-slack"},
                        "connection_info": {"app_id": "A0123456"}});
                    if ws
                        .send(Message::Text(hello.to_string().into()))
                        .await
                        .is_ok()
                    {
                        let _ = tx.send(ws);
                    }
                });
            }
        });
        Self { url, accepted }
    }

    /// The `wss` URL to hand out (plain `ws` here).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next connection Baton opens (within 10 s).
    pub async fn connection(&mut self) -> SocketPeer {
        let ws = tokio::time::timeout(Duration::from_secs(10), self.accepted.recv())
            .await
            .expect("Baton opened a Socket Mode connection")
            .unwrap();
        SocketPeer(ws)
    }
}

/// One Socket Mode connection, from Slack's side.
pub struct SocketPeer(WebSocketStream<TcpStream>);

impl SocketPeer {
    /// Delivers an event the way Slack does: an envelope Baton must acknowledge.
    pub async fn send(&mut self, envelope_id: &str, kind: &str, payload: Value) {
        let envelope = json!({"envelope_id": envelope_id, "type": kind,
            "accepts_response_payload": kind == "slash_commands", "payload": payload});
        self.0
            .send(Message::Text(envelope.to_string().into()))
            .await
            .unwrap();
    }

    /// Baton's acknowledgement of `envelope_id` (within 10 s).
    pub async fn ack(&mut self, envelope_id: &str) -> Value {
        let read = async {
            while let Some(frame) = self.0.next().await {
                if let Message::Text(text) = frame.unwrap() {
                    let v: Value = serde_json::from_str(text.as_str()).unwrap();
                    if v["envelope_id"] == envelope_id {
                        return v;
                    }
                }
            }
            panic!("the connection closed before the ack of {envelope_id}");
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("an ack within 10 s")
    }
}

/// `v0=` + hex HMAC-SHA256(secret, `v0:{ts}:{body}`): how Slack signs every request.
pub fn sign(secret: &str, ts: i64, body: &str) -> String {
    let mac = hmac_sha256(secret.as_bytes(), format!("v0:{ts}:{body}").as_bytes());
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// HMAC (RFC 2104) over SHA-256, written out so the tests share no code with the verifier.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[test]
fn the_test_signer_reproduces_slacks_documented_example() {
    // From Slack's "Verifying requests from Slack" guide.
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
}
