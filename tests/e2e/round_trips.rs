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
        ("alice", "lock canary,qa 10m release"),
        ("alice", "unlock canary,qa"),
        ("erin", "claim staging 2 1h"),
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

#[tokio::test]
async fn a_redis_that_lost_the_library_is_given_it_again_and_the_command_runs_once() {
    let app = spawn_core().await;
    // Another Baton version's library on the same Redis (a rolling upgrade): its names carry its
    // own code hash, so neither is in the other's way.
    let other = "#!lua name=baton_0000000000000000\n\
        redis.register_function('baton_0000000000000000_lock', function() return 'old' end)";
    let mut con = app.redis().await;
    // Ours goes, as after a restart of a Redis that keeps nothing on disk; the other comes.
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query_async(&mut con)
        .await
        .unwrap();
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(other)
        .query_async(&mut con)
        .await
        .unwrap();
    let mut monitor = Monitor::start(&app).await;
    monitor.mark(&app).await;
    app.ok("alice", "lock canary 10m deploy").await;
    let seen = monitor.mark(&app).await;
    // Refused for the missing function (nothing ran), loaded, sent again: one lock.
    assert_eq!(seen.first().map(String::as_str), Some("FCALL"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("FCALL"), "{seen:?}");
    assert_eq!(seen.iter().filter(|c| *c == "FCALL").count(), 2, "{seen:?}");
    assert!(seen.iter().any(|c| c == "FUNCTION"), "{seen:?}");
    let kinds: Vec<String> = app
        .history("canary", "canary")
        .await
        .into_iter()
        .filter_map(|f| f.into_iter().find(|(k, _)| k == "kind").map(|(_, v)| v))
        .collect();
    assert_eq!(kinds, ["locked"]);
    let libraries: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query_async(&mut con)
        .await
        .unwrap();
    let text = format!("{libraries:?}");
    let ours = baton_commands::store::scripts::LIBRARY
        .source
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("#!lua name=")
        .to_string();
    assert!(text.contains(&ours), "{text}");
    assert!(text.contains("baton_0000000000000000"), "{text}");
    app.ok("alice", "unlock canary").await;
}
