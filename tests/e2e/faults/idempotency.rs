//! A Redis that pauses mid-request: the answer is "outcome unknown", and a retry with the same
//! idempotency key gets the original outcome.

use baton::redis_process::RedisProcess;
use redis::AsyncCommands;
use serde_json::json;

use super::ci_lock;
use crate::support::{spawn_core_on, TestApp, TOKEN_ALL};

/// Stops Redis answering anyone for `secs` seconds (`CLIENT PAUSE … ALL`: commands that arrive
/// meanwhile run when it ends, as after a stall). The pause is in force when this returns — Redis
/// has said so, no guess from timing that a loaded machine could outrun — and the handle finishes
/// when Redis answers again.
async fn pause_redis(app: &TestApp, secs: u64) -> tokio::task::JoinHandle<()> {
    let mut direct = app.redis().await;
    let mut probe = app.redis().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(secs * 1000)
        .arg("ALL")
        .query_async(&mut direct)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _: String = redis::cmd("PING").query_async(&mut probe).await.unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ci_lock_during_a_redis_pause_is_outcome_unknown_and_its_retry_gets_that_same_lock() {
    let mut app = spawn_core_on(RedisProcess::start().unwrap(), |_| {}).await;
    app.start_instance().await;
    let body = json!({"holder": "deploy-42", "ttl": "30m", "reason": "release 4.2"});
    let key = "deploy-42-lock-prod";

    // Redis stops answering for 5 s; the test config's redis.timeout is 1 s (the margin lets a
    // request on a loaded machine still reach Redis while it is paused).
    let pause = pause_redis(&app, 5).await;
    let (status, first) = ci_lock(&app, "prod", body.clone(), Some(key)).await;
    assert_eq!(status, 503, "{first}");
    assert_eq!(first["error"], "outcome_unknown", "{first}");
    let message = first["message"].as_str().unwrap();
    assert!(message.contains("cannot tell whether"), "{message}");
    assert!(!message.contains("nothing was changed"), "{message}");
    pause.await.unwrap();

    // Redis ran the script when it woke: prod is locked by that request. The retry is told so,
    // with the lock's own token, instead of "locked by deploy-42".
    let (status, retry) = ci_lock(&app, "prod", body.clone(), Some(key)).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["holder"], "deploy-42");
    assert_eq!(retry["fence"], 1, "one acquisition, not two: {retry}");
    let token = retry["token"].as_str().unwrap().to_string();
    let mut con = app.redis().await;
    let in_redis: String = con
        .hget("baton:{prod}:lockmeta:prod", "token")
        .await
        .unwrap();
    assert_eq!(
        in_redis, token,
        "the token given back is the lock Redis holds"
    );
    let (status, mut again) = ci_lock(&app, "prod", body.clone(), Some(key)).await;
    // The same grant, with how long it has left as it is now.
    let mut retry = retry;
    for answer in [&mut again, &mut retry] {
        let left = answer["expires_in_ms"].take().as_u64().unwrap();
        assert!(left > 0 && left <= 30 * 60_000, "{left}");
    }
    assert_eq!(
        (status, &again),
        (200, &retry),
        "every retry gets the same answer"
    );

    // The same key with a different request is refused, and changes nothing.
    let other = json!({"holder": "deploy-43", "ttl": "30m"});
    let (status, reused) = ci_lock(&app, "prod", other, Some(key)).await;
    assert_eq!(status, 409, "{reused}");
    assert_eq!(reused["error"], "idempotency_key_reused");

    // With its token the pipeline releases the lock: nothing is left behind.
    let res = TestApp::http(TOKEN_ALL)
        .delete(app.url("/api/v1/locks/prod"))
        .header("Idempotency-Key", "deploy-42-unlock-prod")
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let exists: bool = con.exists("baton:{prod}:lockmeta:prod").await.unwrap();
    assert!(!exists, "prod is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_unlock_gets_its_first_answer_not_a_refusal() {
    let mut app = crate::support::spawn_app().await;
    let _ = &mut app;
    let (_, lock) = ci_lock(&app, "qa", json!({"ttl": "10m"}), Some("lock-qa-1")).await;
    let token = lock["token"].as_str().unwrap();
    let unlock = || async {
        let res = TestApp::http(TOKEN_ALL)
            .delete(app.url("/api/v1/locks/qa"))
            .header("Idempotency-Key", "unlock-qa-1")
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let first = unlock().await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(
        unlock().await,
        first,
        "a retry after a lost answer is not told `not_locked`"
    );
    let bad = TestApp::http(TOKEN_ALL)
        .delete(app.url("/api/v1/locks/qa"))
        .header("Idempotency-Key", "not a valid key!")
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn baton_ci_run_through_a_redis_pause_runs_its_command_once_and_leaves_no_lock() {
    let mut app = spawn_core_on(RedisProcess::start().unwrap(), |_| {}).await;
    let url = format!("http://{}", app.start_instance().await);
    let runs = std::env::temp_dir().join(format!("baton-ci-run-{}", std::process::id()));
    let _ = std::fs::remove_file(&runs);

    let pause = pause_redis(&app, 3).await;
    let script = format!("echo ran >> {}", runs.display());
    let out = crate::ci_client::finish(crate::ci_client::baton_ci(
        &url,
        TOKEN_ALL,
        &[
            "run",
            "--retry-for",
            "20s",
            "--env",
            "prod",
            "--ttl",
            "5m",
            "--",
            "sh",
            "-c",
            &script,
        ],
    ))
    .await;
    pause.await.unwrap();
    assert_eq!(out.code, Some(0), "{out}");
    let ran = std::fs::read_to_string(&runs).unwrap_or_default();
    assert_eq!(ran.lines().count(), 1, "the command ran exactly once");
    let _ = std::fs::remove_file(&runs);
    let mut con = app.redis().await;
    let held: bool = con.exists("baton:{prod}:lockmeta:prod").await.unwrap();
    assert!(!held, "no lock is left behind");
    let again = crate::ci_client::finish(crate::ci_client::baton_ci(
        &url,
        TOKEN_ALL,
        &["run", "--env", "prod", "--", "true"],
    ))
    .await;
    assert_eq!(
        again.code,
        Some(0),
        "a second run is not refused by the first: {again}"
    );
}
