//! The HTTP edge: every error status has a JSON body, the auth scheme is case-insensitive,
//! array bodies are refused, and invalid-token floods are counted and limited per address
//! without stopping valid callers.

use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp, TOKEN_ALL, TOKEN_STAGING};

/// `(what, request, expected status)`: one case per error status the server can give.
type Case = (&'static str, reqwest::RequestBuilder, u16);

async fn expect_json_error(what: &str, request: reqwest::RequestBuilder, status: u16) {
    let r = request.send().await.unwrap();
    assert_eq!(r.status().as_u16(), status, "{what}");
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(kind.as_deref(), Some("application/json"), "{what}");
    let body: Value = r.json().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn every_error_status_has_a_json_body_with_error_and_message() {
    let mut app = spawn_app().await;
    let all = TestApp::http(TOKEN_ALL);
    let plain = reqwest::Client::new();
    app.ok("alice", "lock canary 30m held").await;
    let base = app.url("");
    let url = |p: &str| format!("{base}{p}");
    let cases: Vec<Case> = vec![
        (
            "a JSON array body",
            all.post(url("/api/v1/locks/qa"))
                .body(r#"["holder", 7200, "reason", null]"#),
            400,
        ),
        (
            "no token",
            plain.post(url("/api/v1/locks/qa")).json(&json!({})),
            401,
        ),
        (
            "a token outside its envs",
            TestApp::http(TOKEN_STAGING)
                .post(url("/api/v1/locks/prod"))
                .json(&json!({})),
            403,
        ),
        ("an unknown path", all.get(url("/api/v1/nothing-here")), 404),
        ("a wrong method", all.put(url("/api/v1/locks/qa")), 405),
        (
            "someone else's token",
            all.delete(url("/api/v1/locks/canary"))
                .json(&json!({"token": "not-the-token"})),
            409,
        ),
        (
            "a body over 64 KiB",
            all.post(url("/api/v1/locks/qa"))
                .body(format!("{{\"reason\": \"{}\"}}", "x".repeat(70_000))),
            413,
        ),
        (
            "a URL over 8 KiB",
            all.get(url(&format!("/api/v1/envs/{}", "a".repeat(9_000)))),
            414,
        ),
        (
            "a held env",
            all.post(url("/api/v1/locks/canary")).json(&json!({})),
            423,
        ),
        (
            "headers over 16 KiB",
            all.get(url("/api/v1/envs"))
                .header("x-big", "b".repeat(20_000)),
            431,
        ),
    ];
    for (what, request, status) in cases {
        expect_json_error(what, request, status).await;
    }
    // 429: the per-address limit on failed authentication.
    let bad = TestApp::http("not-a-token");
    let mut limited = None;
    for _ in 0..50 {
        let r = bad.get(url("/api/v1/envs")).send().await.unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("failed authentications are limited");
    assert!(limited.headers().contains_key("retry-after"));
    expect_json_error("failed authentications", bad.get(url("/api/v1/envs")), 429).await;
    // 503: the store is down; locks fail closed.
    app.redis.stop();
    expect_json_error(
        "Redis is down",
        all.post(url("/api/v1/locks/qa")).json(&json!({})),
        503,
    )
    .await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = reqwest::Client::new()
            .get(app.url("/api/v1/envs"))
            .header("authorization", format!("{scheme} {TOKEN_ALL}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_json_array_body_locks_nothing() {
    let app = spawn_app().await;
    let before = app.snapshot().await;
    let r = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/locks/qa"))
        .body(r#"["holder", 7200, "reason", null]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("JSON object"),
        "{body}"
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn invalid_token_floods_are_counted_and_limited_while_valid_callers_get_through() {
    let app = spawn_app().await;
    let (bad, good) = (
        TestApp::http("baton_guessed_token"),
        TestApp::http(TOKEN_ALL),
    );
    let flood = (0..400).map(|_| bad.get(app.url("/api/v1/envs")).send());
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for chunk in flood.collect::<Vec<_>>().chunks_mut(50) {
        let valid = good.get(app.url("/api/v1/envs")).send();
        let (answers, valid) =
            tokio::join!(futures_util::future::join_all(chunk.iter_mut()), valid);
        assert_eq!(
            valid.unwrap().status(),
            200,
            "a valid caller during the flood"
        );
        for r in answers {
            *statuses.entry(r.unwrap().status().as_u16()).or_default() += 1;
        }
    }
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [401, 429],
        "{statuses:?}"
    );
    assert!(
        statuses[&429] > statuses[&401],
        "most of a flood is limited: {statuses:?}"
    );
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("baton_auth_failures_total{") && l.contains(r#"route="/api/v1/envs""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        counted >= 400.0,
        "every failure is counted by route: {counted}\n{metrics}"
    );
    assert!(
        !metrics.contains("baton_guessed_token"),
        "the token is never a label"
    );
}

/// A body that does not declare its length (chunked) is cut at the same 64 KiB while it is read:
/// 413 with the JSON body, as for one that declares too much.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_413_as_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let url = app.url("");
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let reason = "x".repeat(70_000);
    let body = format!("{{\"reason\": \"{reason}\"}}");
    let head = format!(
        "POST /api/v1/locks/qa HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN_ALL}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Sent in 8 KiB chunks; the server may answer (and close) before the last of them.
    for chunk in body.as_bytes().chunks(8 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").expect("a head and a body") + 4..];
    let body: Value = serde_json::from_str(json.trim()).expect("a JSON body");
    assert_eq!(body["error"], "too_large", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("64 KiB"),
        "{body}"
    );
    // Nothing was locked.
    let envs: Value = TestApp::http(TOKEN_ALL)
        .get(app.url("/api/v1/envs/qa"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(envs.get("queue").is_some(), "an env's view: {envs}");
    assert!(envs["lock"].is_null(), "{envs}");
}
