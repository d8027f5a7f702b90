//! `admin …` over the team's other Redis patterns: BullMQ queues (against the real Node BullMQ),
//! sessions, rate limits and leaderboards. Here: the shared config and helpers, and the rule that
//! matters most: a non-admin is refused every admin command before anything is read.

mod bullmq;
mod leaderboards;
mod ratelimits;
mod sessions;

use std::collections::BTreeMap;

use baton_commands::config::Config;
use baton_commands::reply::Reply;
use baton_commands::BatonError;
use serde_json::json;

use crate::monitor::Monitor;
use crate::support::{spawn_core_with, TestApp, TEST_CONFIG, TOKEN_ALL};

/// The `[admin]` section every admin test runs with (BullMQ: the default prefix, discovered).
const ADMIN_CONFIG: &str = r#"
[admin]
session_key = "session:{user}"
session_channel = "app:sessions"
session_ttl = "24h"

[[admin.ratelimits]]
name = "otp"
pattern = "rl:otp:{id}"
kind = "fixed"
limit = 5
window = "10m"

[[admin.ratelimits]]
name = "login"
pattern = "rl:login:{id}:*"
kind = "fixed"
limit = 10

[[admin.ratelimits]]
name = "api"
pattern = "rl:api:{id}"
kind = "sliding"
limit = 100
window = "1m"

[[admin.leaderboards]]
name = "weekly"
key = "lb:weekly"

[[admin.leaderboards]]
name = "speedrun"
key = "lb:speedrun"
order = "asc"
"#;

/// The core on a fresh Redis, with the admin config (`console:admin` is the admin).
async fn spawn_admin() -> TestApp {
    let admin = Config::from_toml_str(&format!("{TEST_CONFIG}{ADMIN_CONFIG}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .admin;
    spawn_core_with(|c| c.admin = admin).await
}

/// Runs a Redis command on the test's Redis, behind Baton's back.
async fn redis<T: redis::FromRedisValue>(app: &TestApp, cmd: &mut redis::Cmd) -> T {
    cmd.query_async(&mut app.redis().await).await.unwrap()
}

/// The reply's table, as text rows keyed by their first cell.
fn rows(reply: &Reply) -> BTreeMap<String, BTreeMap<String, String>> {
    let table = reply.table.as_ref().expect("the reply has a table");
    table
        .rows
        .iter()
        .map(|row| {
            let cells = table
                .headers
                .iter()
                .zip(row)
                .map(|(h, v)| (h.clone(), v.plain(reply.now)))
                .collect();
            (row[0].plain(reply.now), cells)
        })
        .collect()
}

/// A field's text.
fn field(reply: &Reply, name: &str) -> String {
    reply
        .fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.plain(reply.now))
        .unwrap_or_else(|| panic!("no field {name} in {reply:#?}"))
}

/// Calls per command since the server started, from `INFO commandstats` (INFO itself left out).
async fn command_calls(app: &TestApp) -> BTreeMap<String, u64> {
    let info: String = redis(app, redis::cmd("INFO").arg("commandstats")).await;
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once(":calls=")?;
            let calls = rest.split(',').next()?.parse().ok()?;
            // `info` and `client|setinfo` are this measurement's own connection: a new one sends
            // CLIENT SETINFO, which Valkey and Redis 7.2+ count (Redis 7.0 refuses it).
            (name != "info" && name != "client|setinfo").then(|| (name.to_string(), calls))
        })
        .collect()
}

/// Every admin command, each with arguments that would read or change something.
const ADMIN_TEXTS: [&str; 14] = [
    "admin queues",
    "admin queues emails",
    "admin queue retry emails",
    "admin queue pause emails",
    "admin queue resume emails",
    "admin session alice",
    "admin kick alice",
    "admin ratelimit otp alice",
    "admin ratelimit reset otp *",
    "admin leaderboard weekly",
    "admin leaderboard weekly top 5 around bob",
    "admin history",
    "unlock prod --force",
    "release staging-1 --force",
];

#[tokio::test]
async fn non_admins_are_refused_every_admin_command_and_nothing_is_read() {
    let app = spawn_admin().await;
    let _: () = redis(&app, redis::cmd("SET").arg("session:alice").arg("t0ken")).await;
    let _: () = redis(&app, redis::cmd("SET").arg("rl:otp:alice").arg(3)).await;
    let calls = command_calls(&app).await;
    let trips = app.baton.store().round_trips();
    for user in ["alice", "carol"] {
        for text in ADMIN_TEXTS {
            let e = app.refused(user, text).await;
            assert!(
                matches!(e, BatonError::Forbidden(_)),
                "{user}: {text}: {e:?}"
            );
            let says = e.to_string();
            assert!(
                says.contains("needs the admin role") && says.contains("roles.admin"),
                "{text}: {says}"
            );
        }
    }
    let refused = app.refused("carol", "admin kick alice").await.to_string();
    assert!(
        refused.starts_with("`admin kick` needs the admin role"),
        "{refused}"
    );
    assert_eq!(
        command_calls(&app).await,
        calls,
        "a refused admin command reached Redis"
    );
    assert_eq!(app.baton.store().round_trips(), trips);
    let session: Option<String> = redis(&app, redis::cmd("GET").arg("session:alice")).await;
    assert_eq!(session.as_deref(), Some("t0ken"));
}

#[tokio::test]
async fn the_ci_api_runs_admin_commands_only_for_an_admin_token() {
    let mut app = spawn_admin().await;
    app.start_instance().await;
    let _: () = redis(&app, redis::cmd("SET").arg("session:alice").arg("t0ken")).await;
    // `ci:all` may touch every env, but it is a deployer, not an admin.
    let response = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/commands"))
        .json(&json!({"text": "admin kick alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "forbidden", "{body}");
    let session: Option<String> = redis(&app, redis::cmd("GET").arg("session:alice")).await;
    assert_eq!(session.as_deref(), Some("t0ken"));
}

#[tokio::test]
async fn admin_history_names_who_did_each_action_newest_first() {
    let app = spawn_admin().await;
    assert_eq!(
        app.ok("admin", "admin history").await.title,
        "No admin actions yet"
    );
    let _: () = redis(&app, redis::cmd("SET").arg("session:bob").arg("s3cret")).await;
    app.ok("admin", "admin kick bob").await;
    app.ok("admin", "admin ratelimit reset otp bob").await;
    let history = app.ok("admin", "admin history").await.text.unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(
        lines[0].contains("admin (console:admin) ratelimit reset otp bob"),
        "{history}"
    );
    assert!(
        lines[1].contains("admin (console:admin) kick bob: session key session:bob"),
        "{history}"
    );
    assert!(!history.contains("s3cret"), "{history}");
    let len: u64 = redis(&app, redis::cmd("XLEN").arg("baton:{admin}:history")).await;
    assert_eq!(len, 2);
}

#[tokio::test]
async fn unknown_names_are_refused_with_the_configured_ones() {
    let app = spawn_admin().await;
    for (text, says) in [
        (
            "admin ratelimit otpp alice",
            "unknown rate limiter `otpp` (did you mean `otp`?); known: otp, login, api",
        ),
        (
            "admin leaderboard monthly",
            "unknown leaderboard `monthly`; known: weekly, speedrun",
        ),
        ("admin queue pause nope", "unknown queue `nope`"),
    ] {
        let e = app.refused("admin", text).await.to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
    let exists: bool = redis(&app, redis::cmd("EXISTS").arg("bull:nope:meta")).await;
    assert!(!exists, "refusing a queue must not create it");
}
