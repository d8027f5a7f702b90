//! The status page (`GET /`) and its public feeds: server-rendered HTML that escapes what users
//! typed and never shows a token, a token-less event stream, the `status_page = false` switch,
//! and a real headless Chromium (Debian's, driven by `tests/browser`) that sees a lock taken
//! through the CI API appear without a reload.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::{missing, node_packages, spawn_app, spawn_core_with, TestApp, TOKEN_ALL};

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
const SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/status-page.png");

/// Locks `env` through the CI API; returns the grant (with its token).
async fn ci_lock(app: &TestApp, env: &str, body: Value) -> Value {
    let response = TestApp::http(TOKEN_ALL)
        .post(app.url(&format!("/api/v1/locks/{env}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "lock {env}");
    response.json().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = reqwest::get(app.url(path)).await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, response.text().await.unwrap(), headers)
}

#[tokio::test]
async fn the_page_shows_every_env_and_a_locks_holder_and_reason_escaped_and_never_a_token() {
    let app = spawn_app().await;
    let grant = ci_lock(
        &app,
        "canary",
        json!({"holder": "release-bot", "reason": "ship v4.2 & <b>friends</b>"}),
    )
    .await;
    let token = grant["token"].as_str().unwrap();
    app.ok("alice", "lock qa 10m <script>alert(1)</script>")
        .await;
    app.ok("bob", "claim staging 1h e2e suite").await;

    let (status, html, headers) = get(&app, "/").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    for name in [
        "prod",
        "canary",
        "qa",
        "staging-1",
        "staging-2",
        "staging-3",
    ] {
        assert!(
            html.contains(&format!("<span class=\"name\">{name}</span>")),
            "{name}: {html}"
        );
    }
    assert!(
        html.contains("Pool staging"),
        "the pool has its own section: {html}"
    );
    assert!(html.contains(">release-bot<"), "{html}");
    assert!(
        html.contains("ship v4.2 &amp; &lt;b&gt;friends&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert(1)"),
        "a reason became markup: {html}"
    );
    assert!(
        html.contains(">e2e suite<"),
        "the claim's note shows: {html}"
    );

    let (status, json, _) = get(&app, "/status/envs.json").await;
    assert_eq!(status, 200, "{json}");
    let view: Value = serde_json::from_str(&json).unwrap();
    let canary = view["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == "canary")
        .unwrap();
    assert_eq!(canary["lock"]["holder"], "release-bot");
    assert_eq!(view["pools"][0]["members"].as_array().unwrap().len(), 3);
    for (body, what) in [(&html, "the page"), (&json, "envs.json")] {
        assert!(!body.contains(token), "{what} shows the lock token");
        assert!(!body.contains(TOKEN_ALL), "{what} shows the CI token");
        for private in [
            "holder_id",
            "fence",
            "ci:all",
            "console:alice",
            "console:bob",
        ] {
            assert!(!body.contains(private), "{what} shows `{private}`: {body}");
        }
    }
}

#[tokio::test]
async fn the_public_event_stream_needs_no_token_and_names_only_the_kind_and_env() {
    let app = spawn_app().await;
    let mut stream = reqwest::get(app.url("/status/events")).await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.ok("alice", "lock canary 10m private-ish reason").await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("\"kind\":\"locked\"") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"env\":\"canary\""), "{seen}");
    for private in ["private-ish", "token", "holder", "alice"] {
        assert!(
            !seen.contains(private),
            "`{private}` left on the public stream: {seen}"
        );
    }
}

#[tokio::test]
async fn status_page_false_removes_the_page_and_both_feeds() {
    let mut app = spawn_core_with(|c| c.server.status_page = false).await;
    app.start_instance().await;
    for path in ["/", "/status/envs.json", "/status/events"] {
        assert_eq!(get(&app, path).await.0, 404, "{path}");
    }
    assert_eq!(get(&app, "/healthz").await.0, 200);
}

/// The public page says the store is unavailable, never why: the cause names Baton's Redis
/// settings, and is for `/readyz` and the logs.
#[tokio::test]
async fn with_redis_down_the_page_and_feed_say_store_unavailable_without_the_cause() {
    let mut app = spawn_app().await;
    app.redis.stop();
    let cause = "cannot connect";
    let (status, html, _) = get(&app, "/").await;
    assert_eq!(status, 503);
    assert!(
        html.contains("The state store is unavailable. This page keeps trying."),
        "{html}"
    );
    assert!(!html.contains(cause), "{html}");
    assert!(
        html.contains("<script>"),
        "the page still loads its script to recover"
    );
    let (status, json, _) = get(&app, "/status/envs.json").await;
    assert_eq!(status, 503);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        json!({"error": "store_unavailable", "message": "the state store is unavailable"})
    );
    let (status, ready, _) = get(&app, "/readyz").await;
    assert_eq!(status, 503);
    assert!(ready.contains(cause), "/readyz keeps the cause: {ready}");
}

/// Chromium, Node and playwright-core (see `support::node_packages` for when a missing one fails).
fn browser_prerequisites() -> Option<String> {
    const WHAT: &str = "the status page browser test";
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing(WHAT, &format!("Chromium at {chromium} (Debian/Ubuntu: `sudo apt-get install -y chromium`, or set CHROMIUM)"));
        return None;
    }
    if !node_packages(BROWSER_DIR, WHAT) {
        return None;
    }
    let package = Path::new(BROWSER_DIR).join("node_modules/playwright-core/package.json");
    assert!(
        package.exists(),
        "playwright-core is missing: run `npm ci --prefix tests/browser`"
    );
    Some(chromium)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_headless_chromium_a_lock_taken_through_the_ci_api_shows_without_a_reload() {
    let Some(chromium) = browser_prerequisites() else {
        return;
    };
    let app = spawn_app().await;
    // Something in every state, so the screenshot shows the whole design.
    app.ok("alice", "lock prod 45m hotfix for checkout latency")
        .await;
    app.ok("bob", "queue prod 20m migrate the orders table")
        .await;
    app.ok("alice", "freeze qa 2h release candidate soak").await;
    app.ok("bob", "claim staging 3h e2e suite").await;
    let deploy =
        json!({"sha": "4f2a9c1e0b7d", "version": "v4.2.0", "url": "https://ci.example/88"});
    let recorded = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/deploys/canary"))
        .json(&deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(recorded.status(), 200);

    let holder = "release-bot #42";
    let reason = r#"<img src=x onerror="window.__xss=1">deploy v4.3"#;
    std::fs::create_dir_all(Path::new(SCREENSHOT).parent().unwrap()).unwrap();
    let job = json!({
        "url": app.url("/"),
        "expect": [holder, reason],
        "absent": [holder],
        "screenshot": SCREENSHOT,
    });
    let mut node = tokio::process::Command::new("node")
        .arg("status_page.mjs")
        .arg(job.to_string())
        .env("CHROMIUM", &chromium)
        .current_dir(BROWSER_DIR)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdout = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stderr = node.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let ready = tokio::time::timeout(Duration::from_secs(60), stdout.next_line()).await;
    if !matches!(&ready, Ok(Ok(Some(line))) if line == "ready") {
        let _ = node.kill().await;
        panic!(
            "Chromium did not load the live page ({ready:?}):\n{}",
            stderr.await.unwrap()
        );
    }
    // The page is loaded and subscribed: now the lock, through the CI API, with no reload.
    ci_lock(
        &app,
        "canary",
        json!({"holder": holder, "reason": reason, "ttl": "25m"}),
    )
    .await;

    let status = tokio::time::timeout(Duration::from_secs(60), node.wait())
        .await
        .expect("the browser check finished within a minute")
        .unwrap();
    let mut result = String::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        result.push_str(&line);
    }
    let stderr = stderr.await.unwrap();
    assert!(
        status.success(),
        "the browser check failed:\n{stderr}\n{result}"
    );
    assert!(result.contains("\"ok\":true"), "{result}\n{stderr}");
    assert!(
        Path::new(SCREENSHOT).exists(),
        "no screenshot at {SCREENSHOT}"
    );
}
