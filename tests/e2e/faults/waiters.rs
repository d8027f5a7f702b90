//! Waiting is a lease: after a Redis crash, no waiter that went away or was told 503 is handed the
//! lock; the next live waiter is.

use std::time::Duration;

use baton::redis_process::RedisProcess;
use redis::AsyncCommands;
use serde_json::{json, Value};

use super::ci_lock_at;
use crate::support::{spawn_core_on, TestApp, TOKEN_ALL};

/// A waiting lock request against `base`; `hang_up_after` makes the client give up first.
fn wait_for_prod(
    base: String,
    holder: &'static str,
    wait: &'static str,
    hang_up_after: Option<Duration>,
) -> tokio::task::JoinHandle<Result<(u16, Value), String>> {
    tokio::spawn(async move {
        let mut req = TestApp::http(TOKEN_ALL)
            .post(format!("{base}/api/v1/locks/prod"))
            .header("Idempotency-Key", format!("{holder}-key"))
            .json(&json!({"holder": holder, "ttl": "10m", "wait": wait}));
        if let Some(after) = hang_up_after {
            req = req.timeout(after);
        }
        match req.send().await {
            Ok(res) => Ok((
                res.status().as_u16(),
                res.json().await.unwrap_or(Value::Null),
            )),
            Err(e) => Err(e.to_string()),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_crash_no_waiter_that_went_away_or_was_told_503_is_handed_the_lock() {
    let redis =
        RedisProcess::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).unwrap();
    let mut app = spawn_core_on(redis, |_| {}).await;
    let mut bases = Vec::new();
    for _ in 0..3 {
        bases.push(format!("http://{}", app.start_instance().await));
    }
    let (status, holder) = ci_lock_at(
        &format!("{}/api/v1/locks/prod", bases[0]),
        json!({"holder": "holder", "ttl": "30m"}),
        Some("holder-key"),
    )
    .await;
    assert_eq!(status, 200, "{holder}");
    let token = holder["token"].as_str().unwrap().to_string();

    // In line, in this order, across the three instances: one whose wait runs out during the
    // outage (told 503), two whose clients hang up during it, then two that keep waiting.
    let lineup = [
        ("told-503", "2s", None),
        ("hung-up-1", "60s", Some(Duration::from_secs(2))),
        ("hung-up-2", "60s", Some(Duration::from_secs(2))),
        ("live-1", "15s", None),
        ("live-2", "15s", None),
    ];
    let mut waiters = Vec::new();
    for (i, (name, wait, hang_up)) in lineup.into_iter().enumerate() {
        waiters.push(wait_for_prod(bases[i % 3].clone(), name, wait, hang_up));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut con = app.redis().await;
    let queued: usize = con.zcard("baton:{prod}:line:prod").await.unwrap();
    assert_eq!(queued, 5);

    app.redis.stop(); // kill -9
    tokio::time::sleep(Duration::from_millis(4500)).await;
    app.redis.restart().unwrap(); // the AOF is replayed: the queue entries are all still there

    let mut waiters = waiters.into_iter();
    let told = waiters.next().unwrap().await.unwrap().expect("answered");
    assert_eq!(told.0, 503, "{}", told.1);
    for _ in 0..2 {
        assert!(
            waiters.next().unwrap().await.unwrap().is_err(),
            "the client hung up"
        );
    }

    // The holder releases (retrying while Baton reconnects): the next *live* waiter gets prod.
    let http = TestApp::http(TOKEN_ALL);
    for attempt in 0.. {
        let res = http
            .delete(format!("{}/api/v1/locks/prod", bases[1]))
            .header("Idempotency-Key", "holder-unlock")
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            attempt < 100,
            "the unlock never went through: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live: Vec<(u16, Value)> = futures_util::future::join_all(waiters)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let granted: Vec<&Value> = live
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        granted.len(),
        1,
        "exactly one live waiter got prod: {live:?}"
    );

    // Nobody else was ever handed prod, by any instance.
    for fields in app.history("prod", "prod").await {
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        if matches!(get("kind"), Some("handed_off" | "locked")) {
            let who = get("display").unwrap_or_default();
            assert!(
                who == "holder" || who.starts_with("live-"),
                "{who} was handed prod after it went away or was told 503"
            );
        }
    }
}

#[tokio::test]
async fn a_waiter_whose_lease_ran_out_is_never_handed_the_lock_even_if_no_cleanup_ran() {
    let app = crate::support::spawn_core().await;
    app.ok("alice", "lock prod 30m hotfix").await;
    // A CI waiter whose instance died without any cleanup: first in line, its wait still long,
    // its lease already run out. Written behind Baton's back, as the dead instance left it.
    let mut con = app.redis().await;
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut con).await.unwrap();
    let now = secs * 1000 + micros / 1000;
    let entry = json!({"holder": "ci:all#deadbeef", "display": "dead-waiter", "reason": "",
        "ttl": 600_000, "token": "t0", "at": now - 5_000, "until": now + 600_000, "span": 3_000});
    let _: () = redis::pipe()
        .zadd("baton:{prod}:line:prod", "ci:all#deadbeef", 1)
        .hset(
            "baton:{prod}:waiters:prod",
            "ci:all#deadbeef",
            entry.to_string(),
        )
        .zadd("baton:{prod}:gone:prod", "ci:all#deadbeef", now - 1_000)
        .query_async(&mut con)
        .await
        .unwrap();
    app.ok("bob", "queue prod 20m next in line").await;

    let unlocked = app.ok("alice", "unlock prod").await;
    let text = unlocked.text.unwrap_or_default();
    assert!(text.contains("bob now holds prod"), "{text}");
    let history = app.ok("bob", "history prod").await.text.unwrap();
    assert!(history.contains("dead-waiter"), "{history}");
    assert!(history.contains("waiter went away"), "{history}");
}

#[tokio::test]
async fn a_queue_an_earlier_version_left_keeps_its_order_across_the_upgrade() {
    let app = crate::support::spawn_core().await;
    app.ok("alice", "lock prod 30m hotfix").await;
    // What a version before the three-key line left: one list of JSON entries, first first.
    let mut con = app.redis().await;
    let (secs, _): (u64, u64) = redis::cmd("TIME").query_async(&mut con).await.unwrap();
    let now = secs * 1000;
    for (who, at) in [("console:bob", now - 2_000), ("console:carol", now - 1_000)] {
        let entry = json!({"holder": who, "display": &who[8..], "reason": "next", "ttl": 600_000,
            "token": "", "at": at, "until": now + 3_600_000});
        let _: () = con
            .rpush("baton:{prod}:queue:prod", entry.to_string())
            .await
            .unwrap();
    }
    let store = app.baton.store();
    assert_eq!(store.move_old_queues(app.baton.catalog()).await.unwrap(), 2);
    // Once moved, nothing is moved again, and the old list is gone.
    assert_eq!(store.move_old_queues(app.baton.catalog()).await.unwrap(), 0);
    let old: bool = con.exists("baton:{prod}:queue:prod").await.unwrap();
    assert!(!old);

    let status = app.ok("alice", "status prod").await;
    let text = format!("{status:?}");
    assert!(text.contains("1. bob, 2. carol"), "{text}");
    let unlocked = app.ok("alice", "unlock prod").await;
    let text = unlocked.text.unwrap_or_default();
    assert!(text.contains("bob now holds prod"), "{text}");
}
