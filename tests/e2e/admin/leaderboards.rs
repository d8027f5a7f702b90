//! Leaderboards: `top <n>` and `around <member>` are one round trip each, on a board of a million.

use super::{redis, rows, spawn_admin, Monitor};
use crate::support::TestApp;

/// `player:<i>` with score `i`, for i in 1..=n, built inside Redis: ZADDs of 1000 members, in
/// scripts of 20,000 (each well within the client's response timeout).
async fn build_board(app: &TestApp, key: &str, n: u64) {
    let script = r#"
        local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
        for start = from, to, 1000 do
          local args = {}
          for i = start, math.min(start + 999, to) do
            args[#args + 1] = i
            args[#args + 1] = 'player:' .. i
          end
          redis.call('ZADD', KEYS[1], unpack(args))
        end
        return redis.call('ZCARD', KEYS[1])
    "#;
    let mut size = 0;
    for from in (1..=n).step_by(20_000) {
        let to = (from + 19_999).min(n);
        size = redis(
            app,
            redis::cmd("EVAL")
                .arg(script)
                .arg(1)
                .arg(key)
                .arg(from)
                .arg(to),
        )
        .await;
    }
    assert_eq!(size, n);
}

#[tokio::test]
async fn top_and_around_on_a_million_members_are_one_round_trip_each() {
    let app = spawn_admin().await;
    build_board(&app, "lb:weekly", 1_000_000).await;
    let mut monitor = Monitor::start(&app).await;

    let trips = app.baton.store().round_trips();
    monitor.mark(&app).await;
    let top = app.ok("admin", "admin leaderboard weekly top 10").await;
    assert_eq!(monitor.mark(&app).await, ["ZREVRANGE"]);
    assert_eq!(app.baton.store().round_trips() - trips, 1);
    assert_eq!(top.title, "Leaderboard weekly: top 10");
    let table = rows(&top);
    assert_eq!(table["#1"]["Member"], "player:1000000");
    assert_eq!(table["#10"]["Score"], "999991");

    let trips = app.baton.store().round_trips();
    let around = app
        .ok("admin", "admin leaderboard weekly around player:500000")
        .await;
    assert_eq!(monitor.mark(&app).await, ["EVALSHA"]);
    assert_eq!(app.baton.store().round_trips() - trips, 1);
    assert_eq!(
        around.title,
        "player:500000 is #500,001 of 1,000,000 on weekly"
    );
    let table = rows(&around);
    assert_eq!(table.len(), 11);
    assert_eq!(table["#500,001"]["Member"], "→ player:500000");
    assert_eq!(table["#499,996"]["Member"], "player:500005");
    assert_eq!(table["#500,006"]["Score"], "499995");

    let trips = app.baton.store().round_trips();
    let both = app
        .ok(
            "admin",
            "admin leaderboard weekly top 3 around player:999999",
        )
        .await;
    assert_eq!(monitor.mark(&app).await, ["ZREVRANGE", "EVALSHA"]);
    assert_eq!(app.baton.store().round_trips() - trips, 1, "one pipeline");
    assert_eq!(rows(&both).len(), 7, "ranks 1 to 7, each once");
}

#[tokio::test]
async fn ascending_boards_rank_the_lowest_first_and_absent_members_are_named() {
    let app = spawn_admin().await;
    let _: () = redis(
        &app,
        redis::cmd("ZADD")
            .arg("lb:speedrun")
            .arg(61.5)
            .arg("ann")
            .arg(59.25)
            .arg("b*b")
            .arg(70)
            .arg("cy"),
    )
    .await;
    let top = app.ok("admin", "admin leaderboard speedrun").await;
    let table = rows(&top);
    assert_eq!(table["#1"]["Member"], "b*b");
    assert_eq!(table["#1"]["Score"], "59.25");
    assert_eq!(table["#3"]["Member"], "cy");
    let around = app
        .ok("admin", "admin leaderboard speedrun around b*b")
        .await;
    assert_eq!(around.title, "b*b is #1 of 3 on speedrun");
    let absent = app
        .ok("admin", "admin leaderboard speedrun around zed")
        .await;
    assert_eq!(absent.title, "zed is not on speedrun (3 members)");
    let empty = app.ok("admin", "admin leaderboard weekly").await;
    assert_eq!(empty.title, "Leaderboard weekly is empty (key lb:weekly)");
}
