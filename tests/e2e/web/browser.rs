//! The sign-in and lock flow in real Chromium (Debian's, through playwright-core), with
//! JavaScript off on the pages: `tests/browser/console.mjs`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use baton_commands::store::audit::Kind;

use super::spawn_web;
use crate::support::{missing, node_packages};

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

#[tokio::test]
async fn a_deployer_signs_in_and_locks_qa_in_chromium_then_signs_out() {
    const WHAT: &str = "the web console browser test";
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing(WHAT, &format!("Chromium at {chromium} (Debian/Ubuntu: `sudo apt-get install -y chromium`, or set CHROMIUM)"));
        return;
    }
    if !node_packages(BROWSER_DIR, WHAT) {
        return;
    }
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let screenshot = std::env::temp_dir().join(format!("baton-console-{}.png", std::process::id()));
    let job = serde_json::json!({
        "base": web.base,
        "issuer": web.issuer,
        "who": "alice",
        "env": "qa",
        "reason": "release 4.2 <b>now</b>",
        "screenshot": screenshot,
    });
    let run = tokio::process::Command::new("node")
        .arg("console.mjs")
        .arg(job.to_string())
        .env("CHROMIUM", &chromium)
        .current_dir(BROWSER_DIR)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the browser run finishes within 90 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["pkce"], "S256");
    assert_eq!(result["holder"], "Alice Archer");
    assert_eq!(result["state"], "held");
    assert!(
        result["holds"].as_u64() >= Some(1),
        "the history's timeline draws the hold: {result}"
    );
    let after = result["afterOut"].as_str().unwrap();
    assert!(
        after.starts_with(&web.issuer),
        "signed out, /console goes back to the provider: {after}"
    );

    let events = web.app.events("qa", "qa").await;
    let locked = events
        .iter()
        .find(|e| e.kind == Kind::Locked)
        .expect("the lock is recorded");
    assert_eq!(
        (locked.holder.as_str(), locked.reason.as_str()),
        ("oidc:alice", "release 4.2 <b>now</b>")
    );
    eprintln!("console screenshot: {}", screenshot.display());
}
