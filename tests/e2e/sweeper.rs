//! One sweeper at a time, and another within a tick when it dies: three `baton serve` processes
//! share a Redis; the one holding the sweeper lease is killed (SIGKILL) just before a lock with a
//! waiter lapses, and the waiter still gets the env, the expiry recorded and announced once.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::process::Child;

use crate::support::{spawn_core, TestApp};

/// `baton serve` on the test's Redis; returns once it is ready.
async fn serve(app: &TestApp, dir: &std::path::Path, n: usize) -> Child {
    crate::support::serve_process(app, dir, n).await.0
}

/// Which process holds the sweeper lease (its id starts with the holder's process id).
async fn lease_holder(app: &TestApp) -> Option<u32> {
    let mut con = app.redis().await;
    let id: Option<String> = con.get("baton:{sweeper}:lease").await.unwrap();
    id?.split('-').next()?.parse().ok()
}

#[tokio::test]
async fn when_the_lease_holder_is_killed_another_instance_hands_the_lock_on_once() {
    let app = spawn_core().await;
    let dir = std::env::temp_dir().join(format!("baton-sweeper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut instances = Vec::new();
    for n in 0..3 {
        instances.push(serve(&app, &dir, n).await);
    }
    // Listen to the announcements before anything happens.
    let client = redis::Client::open(app.redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("baton:events").await.unwrap();
    let mut announced = pubsub.into_on_message();

    let locked = Instant::now();
    app.ok("alice", "lock qa 2s first").await;
    app.ok("bob", "queue qa 10m second").await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let holder = lease_holder(&app)
        .await
        .expect("one instance holds the sweeper lease");
    let victim = instances
        .iter_mut()
        .find(|c| c.id() == Some(holder))
        .expect("the lease holder is one of the three instances");
    victim.start_kill().unwrap(); // SIGKILL: no chance to give the lease back
    victim.wait().await.unwrap();

    // The lock lapses at 2 s; the waiter must hold the env within 2 s after that.
    let deadline = locked + Duration::from_secs(4);
    let mut con = app.redis().await;
    loop {
        let now: Option<String> = con.hget("baton:{qa}:lockmeta:qa", "holder").await.unwrap();
        if now.as_deref() == Some("console:bob") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob did not get qa within 2 s of the expiry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_holder = lease_holder(&app)
        .await
        .expect("a surviving instance took the lease");
    assert_ne!(new_holder, holder);

    // Give any duplicate time to show, then count: one expiry, announced once.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut kinds = Vec::new();
    while let Ok(Some(msg)) =
        tokio::time::timeout(Duration::from_millis(100), announced.next()).await
    {
        let event: serde_json::Value =
            serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
        kinds.push(event["kind"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(kinds, ["locked", "queued", "lock_expired", "handed_off"]);
    let expired = app
        .history("qa", "qa")
        .await
        .into_iter()
        .filter(|fields| {
            fields
                .iter()
                .any(|(k, v)| k == "kind" && v == "lock_expired")
        })
        .count();
    assert_eq!(expired, 1, "the expiry is recorded exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn only_the_lease_holder_sweeps_and_idle_instances_ask_redis_almost_nothing() {
    let mut app = spawn_core().await;
    // Ticks of 250 ms (the lease lasts two): a busy 2-core machine running the suite in
    // parallel can stall a tick of 100 ms long enough for the lease to lapse and pass on, which
    // is right, but is not what this test watches.
    for _ in 0..3 {
        app.start_sweeper(Duration::from_millis(250));
    }
    let mut monitor = crate::monitor::Monitor::start(&app).await;
    tokio::time::sleep(Duration::from_millis(750)).await; // the lease is settled
    monitor.mark(&app).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = monitor.mark(&app).await;
    // About ten ticks: the holder's GETEX + PUBLISH each; the listeners none. Never a read per
    // group (the test config has six), nor a settle while nothing is due.
    let others: Vec<&String> = seen
        .iter()
        .filter(|c| !matches!(c.as_str(), "GETEX" | "PUBLISH"))
        .collect();
    assert!(others.is_empty(), "idle sweepers sent {others:?}");
    let renewals = seen.iter().filter(|c| *c == "GETEX").count();
    assert!(
        (1..=15).contains(&renewals),
        "one renewer, not three: {seen:?}"
    );
}
