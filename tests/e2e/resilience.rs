//! Outages, restarts, graceful shutdown and metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::redis_process::RedisProcess;
use baton_commands::BatonError;
use serde_json::json;

use crate::support::{spawn_app, spawn_core_with, TestApp, TOKEN_ALL};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_crash_mid_load_never_hangs_a_request_and_an_fsynced_lock_survives_it() {
    let mut app = spawn_core_with(|_| {}).await;
    // Swap in a Redis that fsyncs every write to its append-only file.
    let aof =
        RedisProcess::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).unwrap();
    let url = aof.url();
    app.redis = aof;
    let mut config = app.config.clone();
    config.redis.url = url;
    let baton = baton::app::build(&config).unwrap();
    app.baton = baton.clone();
    app.ok("alice", "lock prod 30m survives a crash").await;

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|i| {
            let (baton, stop) = (baton.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut slowest, mut ok, mut unavailable) = (Duration::ZERO, 0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let actor = baton_commands::Actor::console(&format!("load{i}"));
                    match baton.run_text(actor, "status canary").await {
                        Ok(_) => ok += 1,
                        Err((BatonError::StoreUnavailable(_), _)) => unavailable += 1,
                        Err((e, _)) => panic!("unexpected: {e}"),
                    }
                    slowest = slowest.max(started.elapsed());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (slowest, ok, unavailable)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    app.redis.stop(); // SIGKILL: a crash
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.redis.restart().unwrap(); // same dir: the AOF is replayed
    let back = Instant::now();
    loop {
        if app.run("bob", "status prod").await.is_ok() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "Baton reconnected by itself"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in load {
        let (slowest, ok, unavailable) = worker.await.unwrap();
        // redis.timeout is 1 s in the test config; a read is retried once.
        assert!(
            slowest < Duration::from_millis(2500),
            "a request took {slowest:?}"
        );
        assert!(
            ok > 0 && unavailable > 0,
            "the load saw both the outage and the recovery ({ok} ok, {unavailable} unavailable)"
        );
    }
    // After the restart every request succeeds, and the lock taken before the crash is still held.
    for _ in 0..20 {
        app.ok("bob", "status canary").await;
    }
    let err = app.refused("bob", "lock prod").await;
    assert!(
        err.to_string().contains("locked by alice") && err.to_string().contains("survives a crash"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_waiting_pipelines_at_once_and_takes_them_out_of_the_queue() {
    let mut app = spawn_core_with(|_| {}).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (config, baton) = (app.config.clone(), app.baton.clone());
    let server = tokio::spawn(async move {
        baton::app::run(&config, baton, listener, async move {
            let _ = stop_rx.await;
        })
        .await
    });
    app.addr = Some(addr);
    let http = TestApp::http(TOKEN_ALL);
    http.post(app.url("/api/v1/locks/qa"))
        .json(&json!({"holder": "long deploy"}))
        .send()
        .await
        .unwrap();
    let waiter = {
        let http = http.clone();
        let url = app.url("/api/v1/locks/qa");
        tokio::spawn(async move {
            http.post(url)
                .json(&json!({"holder": "waiter", "wait": "10m"}))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let asked = Instant::now();
    stop_tx.send(()).unwrap();
    let answer = waiter.await.unwrap().unwrap();
    assert_eq!(answer.status(), 503);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "shutting_down");
    server.await.unwrap().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        asked.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let qa = app.ok("bob", "status qa").await;
    assert!(
        !qa.fields.iter().any(|f| f.name == "Queue"),
        "the waiter left the queue: {qa:?}"
    );
}

#[tokio::test]
async fn metrics_expose_commands_latency_redis_round_trips_and_live_state() {
    let app = spawn_app().await;
    app.ok("alice", "lock canary 10m").await;
    app.ok("bob", "queue canary").await;
    app.ok("carol", "claim staging 1h").await;
    app.refused("dave", "lock canary").await;
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "baton_commands_total",
        "baton_command_duration_seconds_bucket",
        "baton_redis_roundtrip_seconds_bucket",
        "baton_redis_calls_total",
        "baton_active_locks",
        "baton_active_claims",
        "baton_queued_waiters",
        "baton_store_up",
    ] {
        assert!(
            text.contains(family),
            "{family} missing from /metrics:\n{text}"
        );
    }
    assert!(
        text.contains(r#"baton_commands_total{command="lock",outcome="locked"}"#),
        "{text}"
    );
    // The recorder is process-wide, so counters may include other tests' traffic; the live-state
    // gauges are read from this app's Redis at scrape time, so they must match it exactly.
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} has no value:\n{text}"))
    };
    assert_eq!(gauge("baton_active_locks"), 1.0);
    assert_eq!(gauge("baton_active_claims"), 1.0);
    assert_eq!(gauge("baton_queued_waiters"), 1.0);
    assert_eq!(gauge("baton_store_up"), 1.0);
}
