//! Faults never lie: what Baton answers under a paused Redis, a half-open connection, a crash with
//! waiters in line, refused credentials and a full Redis, and a long run with repeated crashes.

mod acknowledged;
mod chaos;
mod healing;
mod idempotency;
mod proxy;
mod set_waits;
mod store_errors;
mod waiters;

use serde_json::{json, Value};

use crate::support::{TestApp, TOKEN_ALL};

/// `POST /api/v1/locks/{env}` with `body`, and an `Idempotency-Key` when one is given.
async fn ci_lock(app: &TestApp, env: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    ci_lock_at(&app.url(&format!("/api/v1/locks/{env}")), body, key).await
}

/// The same against any instance's full URL.
async fn ci_lock_at(url: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut req = TestApp::http(TOKEN_ALL).post(url).json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.expect("Baton answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(json!(null)))
}
