//! A connection that goes silent (half-open behind a load balancer or NAT) costs one timeout: the
//! store opens a fresh connection, and service and readiness come back by themselves.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use baton::redis_process::RedisProcess;
use baton_commands::BatonError;
use serde_json::json;

use super::ci_lock;
use super::proxy::FreezingProxy;
use crate::support::{spawn_core_on, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_that_goes_silent_is_replaced_and_service_resumes_within_one_timeout() {
    let redis = RedisProcess::start().unwrap();
    let upstream = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    let proxy = FreezingProxy::start(upstream).await;
    let url = format!("redis://{}", proxy.addr);
    let mut app = spawn_core_on(redis, move |c| c.redis.url = url).await;
    app.start_instance().await;
    let timeout = app.config.redis.timeout;
    let bound = timeout + Duration::from_secs(1);
    app.ok("alice", "lock canary 5m before the freeze").await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );

    proxy.freeze_established();
    let frozen = Instant::now();
    loop {
        let asked = Instant::now();
        match app.run("bob", "status canary").await {
            Ok(_) => break,
            Err((BatonError::StoreUnavailable(_) | BatonError::OutcomeUnknown, _)) => {}
            Err((e, _)) => panic!("unexpected answer while the connection is silent: {e}"),
        }
        assert!(
            asked.elapsed() <= bound,
            "an answer took {:?}",
            asked.elapsed()
        );
        assert!(
            frozen.elapsed() < Duration::from_secs(20),
            "service never resumed"
        );
    }
    let resumed = frozen.elapsed();
    assert!(resumed <= bound, "service resumed after {resumed:?}");

    // The HTTP instance has connections of its own, frozen too: readiness comes back likewise.
    let frozen = Instant::now();
    loop {
        if http.get(app.url("/readyz")).send().await.unwrap().status() == 200 {
            break;
        }
        assert!(
            frozen.elapsed() < Duration::from_secs(20),
            "/readyz never recovered"
        );
    }
    assert!(
        frozen.elapsed() <= bound,
        "/readyz recovered after {:?}",
        frozen.elapsed()
    );

    // Writes work on the fresh connections, on both, and a waiter is handed the lock.
    let waiter = {
        let url = app.url("/api/v1/locks/canary");
        tokio::spawn(async move {
            let res = TestApp::http(crate::support::TOKEN_ALL)
                .post(url)
                .json(&json!({"holder": "after-heal", "wait": "20s"}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.ok("alice", "unlock canary").await;
    let (status, body) = waiter.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(proxy.connections() > 2, "fresh connections were opened");
    let (status, _) = ci_lock(&app, "qa", json!({}), None).await;
    assert_eq!(status, 200);
}
