//! Every state-changing command is one Redis round trip: one EVALSHA that settles, changes,
//! fences, audits and publishes together. Counted by the server itself (MONITOR, where commands a
//! script runs are tagged `lua`), and by `INFO commandstats`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::{spawn_core, TestApp};

/// A `redis-cli monitor` on the test's Redis.
struct Monitor {
    _child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    marker: usize,
}

impl Monitor {
    async fn start(app: &TestApp) -> Self {
        let mut child = Command::new("redis-cli")
            .args(["-p", &app.redis.port().to_string(), "monitor"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-cli is installed with redis-server");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut m = Self {
            _child: child,
            lines,
            marker: 0,
        };
        // MONITOR attaches asynchronously: echo until the server shows us our own marker.
        let mut con = app.redis().await;
        loop {
            let _: String = redis::cmd("ECHO")
                .arg("attached")
                .query_async(&mut con)
                .await
                .unwrap();
            if let Ok(Some(line)) =
                tokio::time::timeout(Duration::from_millis(200), m.lines.recv()).await
            {
                if line.contains("attached") {
                    break;
                }
            }
        }
        m.mark(app).await; // drain any late "attached" echoes
        m
    }

    /// Sends a marker and returns every top-level command the server saw since the last one
    /// (commands run inside scripts are tagged `lua` and left out).
    async fn mark(&mut self, app: &TestApp) -> Vec<String> {
        self.marker += 1;
        let marker = format!("marker-{}", self.marker);
        let mut con = app.redis().await;
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(&mut con)
            .await
            .unwrap();
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.recv())
                .await
                .expect("MONITOR shows the marker")
                .expect("MONITOR is running");
            if line.contains(&marker) {
                return seen;
            }
            if !line.contains("[0 lua]") && !line.contains("\"ECHO\"") {
                seen.push(line.split('"').nth(1).unwrap_or("").to_uppercase());
            }
        }
    }
}

async fn evalsha_calls(app: &TestApp) -> u64 {
    let mut con = app.redis().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test]
async fn every_state_changing_command_is_exactly_one_evalsha() {
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
        let before = evalsha_calls(&app).await;
        monitor.mark(&app).await;
        app.ok(user, text).await;
        let seen = monitor.mark(&app).await;
        let seen: Vec<_> = seen.into_iter().filter(|c| c != "INFO").collect();
        assert_eq!(seen, ["EVALSHA"], "`{text}` sent {seen:?}");
        assert_eq!(evalsha_calls(&app).await - before, 1, "`{text}`");
    }
}

#[tokio::test]
async fn freeze_all_is_one_pipelined_round_trip_with_one_script_per_group() {
    let app = spawn_core().await;
    let mut monitor = Monitor::start(&app).await;
    let trips = app.baton.store().round_trips();
    monitor.mark(&app).await;
    app.ok("alice", "freeze all 1h release week").await;
    let seen = monitor.mark(&app).await;
    assert_eq!(app.baton.store().round_trips() - trips, 1);
    // Groups: prod, canary, qa and the staging pool.
    assert_eq!(seen, ["EVALSHA"; 4]);
}
