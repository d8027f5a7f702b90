//! Every state-changing command is one Redis round trip: one FCALL that settles, changes,
//! fences, audits and publishes together. Counted by the server itself (MONITOR, where commands a
//! function runs are tagged `lua`), and by `INFO commandstats`.

use crate::monitor::Monitor;
use crate::support::{spawn_core, TestApp};

async fn fcall_calls(app: &TestApp) -> u64 {
    let mut con = app.redis().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_fcall:calls="))
        .and_then(|rest| rest.split(',').next())
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test]
async fn every_state_changing_command_is_exactly_one_fcall() {
    let app = spawn_core().await;
    let mut monitor = Monitor::start(&app).await;
    let steps = [
        ("alice", "lock canary 10m deploy"),
        ("bob", "queue canary 10m next"),
        ("bob", "leave canary"),
        ("alice", "extend canary 10m"),
        ("alice", "unlock canary"),
        ("carol", "claim staging 1h pool claim"),
        ("dave", "claim staging-3 1h"),
        ("dave", "extend staging-3 1h"),
        ("dave", "release staging-3"),
        ("alice", "freeze qa 1h incident"),
        ("alice", "unfreeze qa"),
        ("alice", "lock prod 10m hotfix"),
        ("admin", "unlock prod --force"),
    ];
    for (user, text) in steps {
        let before = fcall_calls(&app).await;
        monitor.mark(&app).await;
        app.ok(user, text).await;
        let seen = monitor.mark(&app).await;
        let seen: Vec<_> = seen.into_iter().filter(|c| c != "INFO").collect();
        assert_eq!(seen, ["FCALL"], "`{text}` sent {seen:?}");
        assert_eq!(fcall_calls(&app).await - before, 1, "`{text}`");
    }
}

#[tokio::test]
async fn freeze_all_is_one_pipelined_round_trip_with_one_call_per_group() {
    let app = spawn_core().await;
    let mut monitor = Monitor::start(&app).await;
    let trips = app.baton.store().round_trips();
    monitor.mark(&app).await;
    app.ok("alice", "freeze all 1h release week").await;
    let seen = monitor.mark(&app).await;
    assert_eq!(app.baton.store().round_trips() - trips, 1);
    // Groups: prod, canary, qa and the staging pool.
    assert_eq!(seen, ["FCALL"; 4]);
}
