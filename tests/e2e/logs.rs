//! `baton serve` writing its log to a file gathers lines and writes them in batches (src/logs.rs):
//! a state change's line still reaches the file while the service runs, and nothing logged up to
//! a SIGTERM is missing once the process has exited.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::support::{spawn_core, TEST_CONFIG, TOKEN_ALL};

const BATON: &str = env!("CARGO_BIN_EXE_baton");

#[tokio::test]
async fn a_served_log_file_gets_each_state_change_and_everything_up_to_a_sigterm() {
    let app = spawn_core().await;
    let dir = std::env::temp_dir().join(format!("baton-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("baton.toml");
    let text = TEST_CONFIG.replace(
        "[redis]\n",
        &format!("[redis]\nurl = \"{}\"\n", app.redis.url()),
    ) + &format!(
        "\n[[ci.tokens]]\nname = \"all\"\nsha256 = \"{}\"\nenvs = [\"*\"]\n",
        baton_adapters::ci::sha256_hex(TOKEN_ALL)
    );
    std::fs::write(&config, text).unwrap();
    let log_path = dir.join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BATON)
        .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the baton binary runs");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "baton serve did not become ready");

    let locked = http
        .post(format!("{base}/api/v1/locks/qa"))
        .bearer_auth(TOKEN_ALL)
        .json(&serde_json::json!({"holder": "log test", "reason": "logs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 200);
    let read = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut seen = false;
    for _ in 0..100 {
        if read().contains("command=\"ci lock\"") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen,
        "the lock's line reaches the file while the service runs:\n{}",
        read()
    );

    let pid = child.id().expect("running") as i32;
    // SAFETY: a plain signal to the child this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("baton serve exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}\n{}", read());
    let text = read();
    assert!(
        text.contains("shutting down"),
        "the last lines before exit are written: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
