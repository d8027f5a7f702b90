//! Interop with the real Node BullMQ, 5 and 6 (`tests/bullmq`, installed by `npm ci`): Baton's
//! counts equal BullMQ's own `getJobCounts()` for queues in every state and both paused layouts,
//! its writes go through BullMQ's scripts and BullMQ sees their effect, and writes that would
//! lose jobs on a BullMQ 5 queue are refused before anything is opened.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use super::{field, redis, rows, spawn_admin};
use crate::support::{node_packages, TestApp};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bullmq");

/// Runs `node queues.mjs <args>` against the test's own Redis port and returns its JSON.
async fn node(app: &TestApp, command: &str, major: u8, queues: &[&str]) -> Json {
    for package in ["bullmq5", "bullmq6", "ioredis"] {
        let installed = Path::new(DIR)
            .join("node_modules")
            .join(package)
            .join("package.json");
        assert!(
            installed.exists(),
            "{package} is missing: run `npm ci --prefix tests/bullmq`"
        );
    }
    let port = app.redis.port().to_string();
    let mut args = vec![
        "queues.mjs",
        command,
        if major == 5 { "5" } else { "6" },
        &port,
        "bull",
    ];
    args.extend_from_slice(queues);
    let out = tokio::process::Command::new("node")
        .args(&args)
        .current_dir(DIR)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("node finished within a minute")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("node printed no JSON ({e}): {stdout}"))
}

const QUEUES: [&str; 4] = ["mixed", "paused", "retry", "paused-failed"];

fn names(major: u8) -> Vec<String> {
    QUEUES.iter().map(|q| format!("v{major}-{q}")).collect()
}

/// BullMQ's view of its queues, by name.
async fn bullmq_view(app: &TestApp, major: u8) -> BTreeMap<String, Json> {
    let names = names(major);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let Json::Object(map) = node(app, "counts", major, &refs).await else {
        panic!("counts is an object")
    };
    map.into_iter().collect()
}

fn n(v: &Json, state: &str) -> u64 {
    v["counts"][state].as_u64().unwrap_or(0)
}

/// Baton's table row equals what BullMQ's own `getJobCounts()` says. BullMQ 5 counts a paused
/// queue's jobs as `paused`, BullMQ 6 as `waiting`: Baton's waiting is both.
fn assert_same(name: &str, baton: &BTreeMap<String, String>, bullmq: &Json) {
    let expected = [
        ("Waiting", n(bullmq, "waiting") + n(bullmq, "paused")),
        ("Active", n(bullmq, "active")),
        ("Delayed", n(bullmq, "delayed")),
        ("Prioritized", n(bullmq, "prioritized")),
        ("Completed", n(bullmq, "completed")),
        ("Failed", n(bullmq, "failed")),
    ];
    for (column, want) in expected {
        assert_eq!(baton[column], want.to_string(), "{name} {column}: {bullmq}");
    }
    let state = if bullmq["paused"].as_bool().unwrap() {
        "paused"
    } else {
        "running"
    };
    assert_eq!(baton["State"], state, "{name}");
    let version = bullmq["version"]
        .as_str()
        .unwrap()
        .trim_start_matches("bullmq:");
    assert_eq!(baton["Version"], version, "{name}");
}

async fn meta(app: &TestApp, queue: &str) -> BTreeMap<String, String> {
    redis(app, redis::cmd("HGETALL").arg(format!("bull:{queue}:meta"))).await
}

#[tokio::test]
async fn counts_match_bullmq_5_and_6_in_every_state_and_looking_never_writes() {
    if !node_packages(DIR, "the BullMQ interop test") {
        return;
    }
    let app = spawn_admin().await;
    let seeded = [
        node(&app, "seed", 5, &[]).await,
        node(&app, "seed", 6, &[]).await,
    ];
    let metas_before = [meta(&app, "v5-paused").await, meta(&app, "v6-paused").await];

    let table = app.ok("admin", "admin queues").await;
    assert_eq!(table.title, "8 BullMQ queues");
    let baton = rows(&table);
    for major in [5, 6] {
        for (name, view) in bullmq_view(&app, major).await {
            assert_same(&name, &baton[&name], &view);
        }
    }
    assert_eq!(baton["v5-mixed"]["Active"], "1");
    assert_eq!(
        baton["v5-paused"]["Waiting"], "5",
        "BullMQ 5 keeps them in its paused list"
    );
    assert_eq!(
        baton["v6-paused"]["Waiting"], "5",
        "BullMQ 6 keeps them in wait"
    );

    let detail = app.ok("admin", "admin queues v5-mixed").await;
    assert_eq!(detail.title, "Queue v5-mixed: running, BullMQ 5.81.5");
    assert_eq!(field(&detail, "Failed"), "3");
    let text = detail.text.unwrap();
    let failed_ids = seeded[0]["failed"]["v5-mixed"].as_array().unwrap();
    assert_eq!(failed_ids.len(), 3);
    assert!(
        text.contains("#3 send-email · 1 attempts · SMTP 550 mailbox 2 unavailable"),
        "newest first: {text}"
    );

    // Looking opened no BullMQ Queue: the meta hashes are untouched (no `library` field).
    assert_eq!(
        [meta(&app, "v5-paused").await, meta(&app, "v6-paused").await],
        metas_before
    );
}

#[tokio::test]
async fn retry_pause_and_resume_go_through_bullmq_scripts_and_bullmq_sees_the_result() {
    if !node_packages(DIR, "the BullMQ interop test") {
        return;
    }
    let app = spawn_admin().await;
    let seeded = [
        node(&app, "seed", 5, &[]).await,
        node(&app, "seed", 6, &[]).await,
    ];

    // Retry on a running queue, BullMQ 6 and 5: the failed jobs are waiting again for BullMQ.
    for (major, seed) in [(6, &seeded[1]), (5, &seeded[0])] {
        let queue = format!("v{major}-retry");
        let reply = app.ok("admin", &format!("admin queue retry {queue}")).await;
        assert_eq!(
            reply.title,
            format!("admin retried 3 failed jobs of {queue}; BullMQ sees them as waiting again")
        );
        let view = &bullmq_view(&app, major).await[&queue];
        assert_eq!((n(view, "failed"), n(view, "waiting")), (0, 3), "{view}");
        let mut ids: Vec<&Json> = view["waiting"].as_array().unwrap().iter().collect();
        let mut failed: Vec<&Json> = seed["failed"][&queue].as_array().unwrap().iter().collect();
        ids.sort_by_key(|j| j.to_string());
        failed.sort_by_key(|j| j.to_string());
        assert_eq!(ids, failed, "the same jobs, now waiting");
    }

    // BullMQ 6 while paused: retry is safe, pause and resume round-trip.
    app.ok("admin", "admin queue retry v6-paused-failed").await;
    let view = &bullmq_view(&app, 6).await["v6-paused-failed"];
    assert_eq!(
        (
            n(view, "failed"),
            n(view, "waiting"),
            view["paused"].as_bool()
        ),
        (0, 4, Some(true))
    );
    let paused = app.ok("admin", "admin queue pause v6-mixed").await;
    assert_eq!(paused.title, "admin paused v6-mixed");
    let view = &bullmq_view(&app, 6).await["v6-mixed"];
    assert_eq!(
        (view["paused"].as_bool(), n(view, "waiting")),
        (Some(true), 4)
    );
    app.ok("admin", "admin queue resume v6-mixed").await;
    assert_eq!(
        bullmq_view(&app, 6).await["v6-mixed"]["paused"],
        Json::Bool(false)
    );

    // BullMQ 5: resume moves the paused list back to wait, as BullMQ 5 itself would.
    app.ok("admin", "admin queue resume v5-paused").await;
    let view = &bullmq_view(&app, 5).await["v5-paused"];
    assert_eq!(
        (
            view["paused"].as_bool(),
            n(view, "waiting"),
            n(view, "paused")
        ),
        (Some(false), 5, 0)
    );

    let history = app.ok("admin", "admin history").await.text.unwrap();
    for line in [
        "queue retry v6-retry: 3 failed job(s) moved to waiting",
        "queue pause v6-mixed",
        "queue resume v5-paused",
    ] {
        assert!(history.contains(line), "{line} in {history}");
    }
}

#[tokio::test]
async fn writes_that_would_lose_jobs_or_meet_an_unknown_version_are_refused_untouched() {
    if !node_packages(DIR, "the BullMQ interop test") {
        return;
    }
    let app = spawn_admin().await;
    node(&app, "seed", 5, &[]).await;
    let _: () = redis(
        &app,
        redis::cmd("HSET")
            .arg("bull:future:meta")
            .arg("version")
            .arg("bullmq:7.0.1"),
    )
    .await;
    let _: () = redis(
        &app,
        redis::cmd("HSET")
            .arg("bull:bare:meta")
            .arg("opts.maxLenEvents")
            .arg(10000),
    )
    .await;
    let before = [
        meta(&app, "v5-mixed").await,
        meta(&app, "v5-paused-failed").await,
    ];
    for (text, says) in [
        (
            "admin queue pause v5-mixed",
            "a later BullMQ 5 resume loses jobs",
        ),
        (
            "admin queue retry v5-paused-failed",
            "Resume it first (`admin queue resume v5-paused-failed`), then retry",
        ),
        ("admin queue resume future", "written by BullMQ 7.0.1"),
        ("admin queue retry bare", "records no BullMQ version"),
        ("admin queue pause ghost", "there is no key bull:ghost:meta"),
    ] {
        let e = app.refused("admin", text).await.to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
    let view = &bullmq_view(&app, 5).await;
    assert_eq!(view["v5-mixed"]["paused"], Json::Bool(false));
    assert_eq!(n(&view["v5-paused-failed"], "failed"), 2);
    assert_eq!(
        [
            meta(&app, "v5-mixed").await,
            meta(&app, "v5-paused-failed").await
        ],
        before
    );
    assert!(!redis::<bool>(&app, redis::cmd("EXISTS").arg("bull:ghost:meta")).await);
    assert_eq!(
        app.ok("admin", "admin history").await.title,
        "No admin actions yet"
    );
}
