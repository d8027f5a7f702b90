//! A stand-in for Microsoft's side of a bot, on one local port, answering in the documented
//! shapes: Bot Framework's OpenID metadata and signing keys (`/v1/.well-known/…`, keys endorsed
//! for `msteams`), the Entra token endpoint (`/{tenant}/oauth2/v2.0/token`, client credentials),
//! and the Bot Connector (`/smba/v3/conversations…`), which records every call and checks the
//! bot's token.
//!
//! The signing keys are real RSA keys made with the `openssl` CLI; the tests sign tokens with
//! them exactly as Bot Framework does (RS256, `kid`, `iss`, `aud`, `serviceurl`). One more key is
//! made and never listed: a token it signs is a forgery.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::Call;

/// The bot's token the stand-in hands out.
pub const BOT_TOKEN: &str = "eyJ0eXAi.bot-token.for-tests";

/// An RSA key: its private PEM (PKCS#1) and its public JWK parts.
pub struct RsaKey {
    pub kid: String,
    pem: Vec<u8>,
    n: String,
}

impl RsaKey {
    fn make(kid: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("baton-teams-{}-{kid}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path: PathBuf = dir.join("key.pem");
        let made = Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&path)
            .arg("2048")
            .output()
            .expect(
                "the Teams tests make RSA keys with the openssl CLI (apt-get install -y openssl)",
            );
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let modulus = Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8(modulus.stdout).unwrap();
        let hex_n = text.trim().strip_prefix("Modulus=").unwrap();
        let n =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hex::decode(hex_n).unwrap());
        let pem = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        Self {
            kid: kid.to_string(),
            pem,
            n,
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": self.n, "e": "AQAB",
            "endorsements": ["msteams", "webchat", "emulator"],
        })
    }

    /// A token with `claims`, signed by this key as Bot Framework signs one.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(&self.pem).unwrap(),
        )
        .unwrap()
    }
}

/// The listed key and the forger's, made once per test process (RSA key generation is slow).
pub fn keys() -> &'static (RsaKey, RsaKey) {
    static KEYS: OnceLock<(RsaKey, RsaKey)> = OnceLock::new();
    KEYS.get_or_init(|| (RsaKey::make("bf-key-1"), RsaKey::make("not-listed")))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HTTP status the Connector answers with, and its `Retry-After` in seconds.
pub type Trouble = (u16, Option<u64>);

#[derive(Clone, Default)]
pub struct Microsoft {
    calls: Arc<Mutex<Vec<Call>>>,
    base: Arc<Mutex<String>>,
    /// Answers to the Connector's next calls (status, `Retry-After`), in order.
    trouble: Arc<Mutex<Vec<Trouble>>>,
    /// The calls answered with trouble, kept apart from the accepted ones.
    troubled: Arc<Mutex<Vec<Call>>>,
}

impl Microsoft {
    pub async fn start() -> Self {
        let s = Self::default();
        let app = axum::Router::new().fallback(answer).with_state(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *s.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.lock().unwrap())
    }

    /// The `serviceUrl` activities name (Teams' ends in a slash).
    pub fn service_url(&self) -> String {
        self.url("/smba/")
    }

    /// Every call whose path starts with `prefix`.
    pub fn calls_to(&self, prefix: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The Connector calls answered with trouble so far.
    pub fn troubled(&self) -> usize {
        self.troubled.lock().unwrap().len()
    }

    /// The Connector answers its next calls with these statuses first.
    pub fn trouble(&self, answers: &[Trouble]) {
        self.trouble.lock().unwrap().extend_from_slice(answers);
    }
}

async fn answer(
    State(s): State<Microsoft>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let json_body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        // The token endpoint takes a form.
        let form = String::from_utf8_lossy(&body).to_string();
        let pairs = form.split('&').filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((decode(k), json!(decode(v))))
        });
        Value::Object(pairs.collect())
    });
    let call = Call {
        method: method.to_string(),
        path: path.clone(),
        auth: auth.clone(),
        body: json_body.clone(),
    };
    if !path.starts_with("/smba/") || s.trouble.lock().unwrap().is_empty() {
        s.calls.lock().unwrap().push(call.clone());
    }
    if path == "/v1/.well-known/openidconfiguration" {
        return Json(json!({
            "issuer": "https://api.botframework.com",
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": s.url("/v1/.well-known/keys"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }))
        .into_response();
    }
    if path == "/v1/.well-known/keys" {
        return Json(json!({"keys": [keys().0.jwk()]})).into_response();
    }
    if path.ends_with("/oauth2/v2.0/token") {
        let right = json_body["client_secret"] == "bot-password"
            && json_body["grant_type"] == "client_credentials"
            && json_body["scope"] == "https://api.botframework.com/.default";
        if !right {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client"})),
            )
                .into_response();
        }
        return Json(json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": BOT_TOKEN,
        }))
        .into_response();
    }
    if let Some(rest) = path.strip_prefix("/smba/v3/conversations") {
        if auth.as_deref() != Some(&format!("Bearer {BOT_TOKEN}")) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let next = {
            let mut t = s.trouble.lock().unwrap();
            (!t.is_empty()).then(|| t.remove(0))
        };
        if let Some((status, retry_after)) = next {
            s.troubled.lock().unwrap().push(call);
            let mut response = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            return response;
        }
        if rest.is_empty() && method == Method::POST {
            // Opening a personal chat.
            return (StatusCode::CREATED, Json(json!({"id": "a:1personal-chat"}))).into_response();
        }
        return (StatusCode::OK, Json(json!({"id": "1:activity"}))).into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

/// `application/x-www-form-urlencoded` text decoded.
fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
