//! The HTTP service's health checks, and behaviour while Redis is away.

use std::time::{Duration, Instant};

use baton_commands::BatonError;

use crate::support::spawn_app;

#[tokio::test]
async fn readyz_follows_redis_and_commands_fail_closed_then_recover_without_a_restart() {
    let mut app = spawn_app().await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
    app.ok("alice", "lock canary 30m before the outage").await;

    app.redis.stop();
    let started = Instant::now();
    let ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable");
    // The first write may meet the connection that broke under it: its outcome is then unknown
    // (on a multiplexed connection a dropped socket fails every call in flight, run or not). Once
    // Baton can only get refused connections, nothing was changed, and it says so.
    let mut err = app.refused("bob", "lock qa").await;
    for _ in 0..3 {
        if err != BatonError::OutcomeUnknown {
            break;
        }
        err = app.refused("bob", "lock qa").await;
    }
    assert!(matches!(err, BatonError::StoreUnavailable(_)), "{err:?}");
    assert!(err.to_string().contains("state store is unavailable"));
    // Bounded: the test config's redis.timeout is 1 s per call (a retried read may take two).
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answers came in {:?}",
        started.elapsed()
    );

    app.redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if http.get(app.url("/readyz")).send().await.unwrap().status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "Baton reconnected by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restarted Redis kept nothing (no persistence in this test) and lost the script cache:
    // the first command reloads the scripts by itself.
    app.ok("bob", "lock qa 10m after the outage").await;
}
