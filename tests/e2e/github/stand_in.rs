//! A stand-in for GitHub's REST API: it mints installation tokens for a valid App JWT (RS256,
//! checked against the test key's public half) and records each protection-rule review, accepted
//! only with a token it minted. Trouble can be scheduled: the next reviews answer 5xx or 429.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

/// The App's id in every test.
pub const APP_ID: u64 = 4242;

/// A test RSA key pair (PEM private, PEM public), made once with the openssl CLI.
pub fn key_pair() -> &'static (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let private = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("the openssl CLI makes the test key (apt-get install -y openssl)");
        assert!(private.status.success());
        let mut public = std::process::Command::new("openssl")
            .args(["pkey", "-pubout"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        public
            .stdin
            .take()
            .unwrap()
            .write_all(&private.stdout)
            .unwrap();
        let public = public.wait_with_output().unwrap();
        (
            String::from_utf8(private.stdout).unwrap(),
            String::from_utf8(public.stdout).unwrap(),
        )
    })
}

/// A scheduled answer: an HTTP status and its `Retry-After` seconds.
type Trouble = (u16, Option<u64>);

/// One review Baton posted.
#[derive(Clone, Debug)]
pub struct Review {
    pub run: u64,
    pub state: String,
    pub comment: String,
    pub environment: String,
    pub accepted: bool,
}

#[derive(Clone, Default)]
pub struct GitHubStandIn {
    pub base: String,
    reviews: Arc<Mutex<Vec<Review>>>,
    tokens: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<usize>>,
    trouble: Arc<Mutex<VecDeque<Trouble>>>,
}

impl GitHubStandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            ..Self::default()
        };
        let app = axum::Router::new().fallback(answer).with_state(s.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        s
    }

    /// The reviews accepted so far, in order.
    pub fn accepted(&self) -> Vec<Review> {
        let reviews = self.reviews.lock().unwrap();
        reviews.iter().filter(|r| r.accepted).cloned().collect()
    }

    /// Every request Baton made.
    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }

    /// Installation tokens minted.
    pub fn tokens_minted(&self) -> usize {
        self.tokens.lock().unwrap().len()
    }

    /// The next reviews answer `status` (with `Retry-After` seconds), one each.
    pub fn trouble(&self, answers: &[(u16, Option<u64>)]) {
        self.trouble.lock().unwrap().extend(answers.iter().copied());
    }

    /// Waits until `n` reviews were accepted (or panics after `within`).
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<Review> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} reviews expected within {within:?}, got {got:?} ({} calls, {} tokens)",
                self.calls(),
                self.tokens_minted()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn bearer(headers: &HeaderMap) -> String {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    auth.unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_string()
}

async fn answer(
    State(s): State<GitHubStandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *s.calls.lock().unwrap() += 1;
    let parts: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (Method::POST, ["app", "installations", _, "access_tokens"]) => {
            let mut check = Validation::new(Algorithm::RS256);
            // `iss` is checked below: GitHub takes it as a number, which the validator does not.
            check.set_required_spec_claims(&["exp"]);
            let key = DecodingKey::from_rsa_pem(key_pair().1.as_bytes()).unwrap();
            let claims = jsonwebtoken::decode::<Value>(&bearer(&headers), &key, &check);
            // GitHub takes the App id as a number (or a string) in `iss`.
            let iss = claims.map(|c| c.claims["iss"].clone());
            if !iss.is_ok_and(|i| i == json!(APP_ID) || i == json!(APP_ID.to_string())) {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"message": "A JSON web token could not be decoded"})),
                )
                    .into_response();
            }
            let mut tokens = s.tokens.lock().unwrap();
            let token = format!("ghs_test{:04}", tokens.len());
            tokens.push(token.clone());
            let expires = chrono::Utc::now() + chrono::Duration::hours(1);
            (StatusCode::CREATED, Json(json!({"token": token, "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "permissions": {"deployments": "write", "actions": "read"}, "repository_selection": "all"}))).into_response()
        }
        (Method::POST, ["repos", _, _, "actions", "runs", run, "deployment_protection_rule"]) => {
            let accepted = s.tokens.lock().unwrap().contains(&bearer(&headers));
            if !accepted {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"message": "Bad credentials"})),
                )
                    .into_response();
            }
            let trouble = s.trouble.lock().unwrap().pop_front();
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
            s.reviews.lock().unwrap().push(Review {
                run: run.parse().unwrap_or(0),
                state: text("state"),
                comment: text("comment"),
                environment: text("environment_name"),
                accepted: trouble.is_none(),
            });
            match trouble {
                None => StatusCode::NO_CONTENT.into_response(),
                Some((status, after)) => {
                    let mut r = (
                        StatusCode::from_u16(status).unwrap(),
                        Json(json!({"message": "trouble"})),
                    )
                        .into_response();
                    if let Some(after) = after {
                        r.headers_mut()
                            .insert("retry-after", after.to_string().parse().unwrap());
                    }
                    r
                }
            }
        }
        _ => (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response(),
    }
}
