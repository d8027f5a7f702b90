//! Refused credentials, missing ACL rights and a full Redis: a clear 503 naming the cause, never
//! a 500, never the password, and nothing written.

use std::time::Duration;

use baton::redis_process::RedisProcess;
use baton_commands::config::Config;
use baton_commands::store::Cause;
use baton_commands::BatonError;
use serde_json::{json, Value};

use crate::support::{spawn_core_on, TestApp, TEST_CONFIG};

/// Runs one command on `redis` as its default (all-powerful) user.
async fn admin_says(redis: &RedisProcess, words: &[&str]) {
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd(words[0])
        .arg(&words[1..])
        .query_async(&mut con)
        .await
        .unwrap();
}

/// Baton serving HTTP on `url`, without loading scripts first (it may not be allowed to).
async fn serve_on(url: String) -> (baton_commands::Baton, String) {
    crate::support::init_logs();
    let mut config = Config::from_toml_str(TEST_CONFIG).unwrap();
    config.redis.url = url;
    let baton = baton::app::build(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = baton.clone();
    tokio::spawn(async move {
        baton::app::run(&config, served, listener, std::future::pending()).await
    });
    (baton, base)
}

/// `/readyz` and a chat lock both say the store is unavailable because of `cause`, in words that
/// never include `secret`.
async fn unavailable_because(url: String, cause: Cause, words: &str, secret: &str) {
    let (baton, base) = serve_on(url).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
    assert!(!body.to_string().contains(secret), "{body}");
    let actor = baton_commands::Actor::console("alice");
    match baton.run_text(actor, "lock qa 5m").await {
        Err((BatonError::StoreUnavailable(c), reply)) => {
            assert_eq!(c, cause);
            assert!(reply.title.contains(words), "{}", reply.title);
            assert!(!format!("{reply:?}").contains(secret));
        }
        other => panic!("expected the store to be unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_password_is_a_503_that_names_credentials_and_never_the_password() {
    let redis = RedisProcess::start().unwrap();
    admin_says(
        &redis,
        &["CONFIG", "SET", "requirepass", "the-right-secret"],
    )
    .await;
    let port = redis.port();
    let wrong = format!("redis://:hunter2-wrong@127.0.0.1:{port}");
    unavailable_because(wrong, Cause::Auth, "credentials", "hunter2-wrong").await;
    let missing = format!("redis://127.0.0.1:{port}");
    unavailable_because(missing, Cause::Auth, "credentials", "the-right-secret").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_without_the_rights_baton_needs_is_a_503_that_says_so() {
    let redis = RedisProcess::start().unwrap();
    let rules = ["on", ">acl-pass-77", "~*", "+ping", "+hello", "+client"];
    admin_says(&redis, &[&["ACL", "SETUSER", "baton"][..], &rules].concat()).await;
    let url = format!("redis://baton:acl-pass-77@127.0.0.1:{}", redis.port());
    unavailable_because(url, Cause::Permission, "permission", "acl-pass-77").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refuses_a_lock_before_anything_is_written() {
    let redis = RedisProcess::start_with(&["--maxmemory-policy", "noeviction"]).unwrap();
    let mut app = spawn_core_on(redis, |_| {}).await;
    app.start_instance().await;
    app.ok("alice", "lock canary 5m before it filled up").await;
    let before = app.snapshot().await;
    let mut con = app.redis().await;
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"][..])
        .query_async(&mut con)
        .await
        .unwrap();

    let err = app.refused("bob", "lock qa 5m").await;
    assert_eq!(err, BatonError::StoreFull);
    assert!(err.to_string().contains("state store is full"), "{err}");
    let res = TestApp::http(crate::support::TOKEN_ALL)
        .post(app.url("/api/v1/locks/prod"))
        .json(&json!({"ttl": "10m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "store_full", "{body}");
    let err = app.refused("alice", "unlock canary").await;
    assert_eq!(err, BatonError::StoreFull, "an unlock writes too");

    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"][..])
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        app.snapshot().await,
        before,
        "nothing was written while Redis was full"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.ok("bob", "lock qa 5m once there is room").await;
}

/// `GET` on the app as `TOKEN_ALL`, with a lock token when given: the status and JSON body.
async fn get(app: &TestApp, path: &str, lock_token: Option<&str>) -> (u16, Value) {
    let req = TestApp::http(crate::support::TOKEN_ALL).get(app.url(path));
    let req = match lock_token {
        Some(t) => req.header("Baton-Lock-Token", t),
        None => req,
    };
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_still_shows_who_holds_what_and_readyz_says_it_is_full() {
    let redis = RedisProcess::start_with(&["--maxmemory-policy", "noeviction"]).unwrap();
    let mut app = spawn_core_on(redis, |_| {}).await;
    app.start_instance().await;
    let (status, grant) = super::ci_lock(&app, "canary", json!({"holder": "pipeline"}), None).await;
    assert_eq!(status, 200, "{grant}");
    let token = grant["token"].as_str().unwrap().to_string();
    // A hold that ends while Redis is full: reads show it ended, though nothing could be written.
    let (status, short) =
        super::ci_lock(&app, "qa", json!({"holder": "short", "ttl": "1s"}), None).await;
    assert_eq!(status, 200, "{short}");
    let mut con = app.redis().await;
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"][..])
        .query_async(&mut con)
        .await
        .unwrap();
    let before = app.snapshot().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let (status, view) = get(&app, "/api/v1/envs/canary", None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["lock"]["holder"], "pipeline", "{view}");
    let (status, view) = get(&app, "/api/v1/envs/qa", None).await;
    assert_eq!(status, 200, "{view}");
    assert!(view["lock"].is_null(), "the ended hold shows ended: {view}");
    let (status, gate) = get(&app, "/api/v1/gate/canary", Some(&token)).await;
    assert_eq!((status, &gate["allowed"]), (200, &json!(true)), "{gate}");
    let (status, gate) = get(&app, "/api/v1/gate/canary", None).await;
    assert_eq!((status, &gate["allowed"]), (423, &json!(false)), "{gate}");
    let (status, gate) = get(&app, "/api/v1/gate/qa", None).await;
    assert_eq!((status, &gate["allowed"]), (200, &json!(true)), "{gate}");
    let status = app.ok("alice", "status").await;
    let shown = format!("{status:?}");
    assert!(shown.contains("pipeline"), "{shown}");

    let (status, refused) = super::ci_lock(&app, "prod", json!({"ttl": "10m"}), None).await;
    assert_eq!(
        (status, &refused["error"]),
        (503, &json!("store_full")),
        "{refused}"
    );
    let (status, ready) = get(&app, "/readyz", None).await;
    assert_eq!(
        (status, &ready["error"]),
        (503, &json!("store_full")),
        "{ready}"
    );
    assert!(
        ready["message"].as_str().unwrap().contains("full"),
        "{ready}"
    );
    assert_eq!(app.snapshot().await, before, "reading wrote nothing");

    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"][..])
        .query_async(&mut con)
        .await
        .unwrap();
    let (status, _) = get(&app, "/readyz", None).await;
    assert_eq!(status, 200, "ready again once there is room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_cuts_an_unauthenticated_call_short_every_answer_still_names_credentials() {
    let redis = RedisProcess::start().unwrap();
    admin_says(
        &redis,
        &["CONFIG", "SET", "requirepass", "the-right-secret"],
    )
    .await;
    let (baton, base) = serve_on(format!("redis://127.0.0.1:{}", redis.port())).await;
    // A lock is a long command: unauthenticated, Redis answers "Protocol error: unauthenticated
    // multibulk length" and closes the connection. What was in flight on it, and what comes
    // next, changed nothing: it is the credentials, never "did not answer" or "may have".
    for round in 0..3 {
        for text in ["lock qa 5m first", "status", "freeze all 1h drill"] {
            let actor = baton_commands::Actor::console("alice");
            match baton.run_text(actor, text).await {
                Err((BatonError::StoreUnavailable(c), _)) => {
                    assert_eq!(c, Cause::Auth, "round {round}: {text}")
                }
                other => panic!("round {round}: {text}: expected unavailable, got {other:?}"),
            }
            let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
            assert_eq!(ready.status(), 503);
            let body: Value = ready.json().await.unwrap();
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains("credentials"),
                "round {round}: after {text}: {message}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_without_fcall_is_named_at_start_up_and_by_readyz() {
    let redis = RedisProcess::start().unwrap();
    let rules = [
        "on",
        ">acl-pass-78",
        "~*",
        "&*",
        "+@all",
        "-fcall",
        "-fcall_ro",
    ];
    admin_says(&redis, &[&["ACL", "SETUSER", "baton"][..], &rules].concat()).await;
    let url = format!("redis://baton:acl-pass-78@127.0.0.1:{}", redis.port());
    let served =
        crate::served::Served::start("acl", &crate::served::config_text(&url, ""), &[]).await;
    let line = served.log_line(&["WARN", "FCALL"]).await;
    assert!(
        line.is_some(),
        "a start-up warning names FCALL:\n{}",
        served.log()
    );
    assert!(!served.log().contains("acl-pass-78"), "{}", served.log());
    let ready = reqwest::get(served.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("FCALL"), "{message}");
}
