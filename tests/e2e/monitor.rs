//! Counting what reaches Redis: a `redis-cli monitor` on the test's Redis, where commands a script
//! runs are tagged `lua` and so told apart from the round trips clients make.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::TestApp;

/// A `redis-cli monitor` on the test's Redis.
pub struct Monitor {
    _child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    marker: usize,
    /// One connection for every marker: a new one would show its handshake (`CLIENT SETINFO`,
    /// which Valkey and Redis 7.2+ accept) among the commands counted.
    con: redis::aio::MultiplexedConnection,
}

impl Monitor {
    pub async fn start(app: &TestApp) -> Self {
        let mut child = Command::new("redis-cli")
            .args(["-p", &app.redis.port().to_string(), "monitor"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-cli is installed with redis-server");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, mut lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut con = app.redis().await;
        // MONITOR attaches asynchronously: echo until the server shows us our own marker.
        loop {
            let _: String = redis::cmd("ECHO")
                .arg("attached")
                .query_async(&mut con)
                .await
                .unwrap();
            if let Ok(Some(line)) =
                tokio::time::timeout(Duration::from_millis(200), lines.recv()).await
            {
                if line.contains("attached") {
                    break;
                }
            }
        }
        let mut m = Self {
            _child: child,
            lines,
            marker: 0,
            con,
        };
        m.mark(app).await; // drain any late "attached" echoes
        m
    }

    /// Sends a marker and returns every top-level command the server saw since the last one
    /// (commands run inside scripts are tagged `lua` and left out).
    pub async fn mark(&mut self, _app: &TestApp) -> Vec<String> {
        self.marker += 1;
        let marker = format!("marker-{}", self.marker);
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(&mut self.con)
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
