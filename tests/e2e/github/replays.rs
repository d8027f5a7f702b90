//! Every door checked: a signed request replayed under a new delivery id changes nothing, a
//! delivery id is a bounded UUID, and a run takes a protected env only when the App is a deployer
//! (the same road, privilege, log line and metrics as chat and CI).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::stand_in::GitHubStandIn;
use super::{deliver, deployment_status, requested, spawn, spawn_as, EXAMPLE_DEPLOYMENT};
use crate::support::TestApp;

/// A delivery id as GitHub makes them (a UUID), the `n`th of a test.
fn uuid(n: u64) -> String {
    format!("72d3162e-cc78-11e3-81ab-{n:012x}")
}

/// Every key but the delivery ids seen (each new delivery id is one more, by design).
async fn state(app: &TestApp) -> BTreeMap<String, String> {
    let mut all = app.snapshot().await;
    all.retain(|key, _| !key.starts_with("baton:{github}:delivery:"));
    all
}

async fn status(app: &TestApp, env: &str) -> String {
    format!("{:?}", app.ok("bob", &format!("status {env}")).await)
}

#[tokio::test]
async fn a_finished_runs_request_replayed_under_a_new_delivery_id_takes_nothing_and_is_not_approved_again(
) {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 2).await;
    let run = requested("Codertocat/Hello-World", 601, EXAMPLE_DEPLOYMENT);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(1), &run).await;
    assert_eq!(body["result"], "granted", "{body}");
    gh.wait_for(1, Duration::from_secs(3)).await;
    // Asked again while it holds prod: nothing new.
    let (_, body) = deliver(addrs[1], "deployment_protection_rule", &uuid(2), &run).await;
    assert_eq!(body["result"], "already", "{body}");
    // GitHub reports the deployment finished: prod is free.
    let (code, _) = deliver(
        addrs[0],
        "deployment_status",
        &uuid(3),
        &deployment_status(),
    )
    .await;
    assert_eq!(code, 200);
    assert!(!status(&app, "prod").await.contains("run 601"));
    let finished = state(&app).await;
    let calls = gh.calls();

    // The same signed request, under delivery ids never seen, on both instances.
    for (n, addr) in [(4, addrs[0]), (5, addrs[1])] {
        let (code, body) = deliver(addr, "deployment_protection_rule", &uuid(n), &run).await;
        assert_eq!((code, body["result"].as_str()), (200, Some("replayed")));
    }
    assert_eq!(finished, state(&app).await, "a replay writes nothing");
    assert!(!status(&app, "prod").await.contains("run 601"), "no lock");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gh.calls(), calls, "GitHub hears nothing of a replay");
    assert_eq!(gh.accepted().len(), 1, "approved once");

    // A re-run of the same workflow run is a new deployment: let in, and approved.
    let rerun = requested("Codertocat/Hello-World", 601, EXAMPLE_DEPLOYMENT + 1);
    let (_, body) = deliver(addrs[1], "deployment_protection_rule", &uuid(6), &rerun).await;
    assert_eq!(body["result"], "granted", "{body}");
    let reviews = gh.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(
        (reviews[1].run, reviews[1].state.as_str()),
        (601, "approved")
    );
}

#[tokio::test]
async fn a_rejected_runs_request_replayed_after_the_thaw_stays_rejected_and_a_stale_one_is_refused()
{
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    app.ok("admin", "freeze prod 1h release week").await;
    let run = requested("Codertocat/Hello-World", 602, 52);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(1), &run).await;
    assert_eq!(body["result"], "rejected", "{body}");
    let reviews = gh.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(reviews[0].state, "rejected");
    app.ok("admin", "unfreeze prod").await;
    let thawed = state(&app).await;
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(2), &run).await;
    assert_eq!(body["result"], "replayed", "{body}");
    assert_eq!(thawed, state(&app).await, "a replay writes nothing");

    // A deployment older than GitHub ever waits (30 days) is a replay of something long over.
    let mut old = requested("Codertocat/Hello-World", 603, 53);
    let month_ago = chrono::Utc::now() - chrono::Duration::days(31);
    old["deployment"]["created_at"] = json!(month_ago.to_rfc3339());
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(3), &old).await;
    assert_eq!(body["result"], "stale", "{body}");
    assert!(!status(&app, "prod").await.contains("run 603"), "no lock");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gh.accepted().len(), 1, "rejected once, nothing else said");
}

#[tokio::test]
async fn a_delivery_id_that_is_not_a_bounded_uuid_is_refused_400_and_a_real_ones_record_expires() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    let before = app.snapshot().await;
    let run = requested("Codertocat/Hello-World", 604, 54);
    for (what, id) in [
        ("5,000 characters", "a".repeat(5000)),
        ("65 hex digits", "f".repeat(65)),
        ("not hex", "delivery-one".to_string()),
    ] {
        let (code, body) = deliver(addrs[0], "deployment_protection_rule", &id, &run).await;
        assert_eq!(
            (code, body["error"].as_str()),
            (400, Some("bad_request")),
            "{what}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("X-GitHub-Delivery"), "{message}");
        assert!(message.len() < 300, "the id is not echoed whole: {message}");
    }
    assert_eq!(before, app.snapshot().await, "nothing stored");
    assert!(gh.calls() == 0);

    let id = uuid(1).to_uppercase();
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &id, &run).await;
    assert_eq!(body["result"], "granted", "{body}");
    let mut con = app.redis().await;
    let key = format!("baton:{{github}}:delivery:{}", uuid(1));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    let week = 7 * 24 * 3600 * 1000;
    assert!(ttl > week - 60_000 && ttl <= week, "{key}: PTTL {ttl}");
}

#[tokio::test]
async fn a_run_for_a_protected_env_is_refused_403_and_rejected_on_github_unless_the_app_deploys() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn_as(&gh, 1, &[]).await;
    let before = state(&app).await;
    let run = requested("Codertocat/Hello-World", 701, 61);
    let (code, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(1), &run).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("prod is protected")
            && message.contains("github:Codertocat/Hello-World")
            && message.contains("roles.deployer"),
        "{message}"
    );
    assert_eq!(before, state(&app).await, "nothing written");
    let reviews = gh.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(
        (reviews[0].run, reviews[0].state.as_str()),
        (701, "rejected")
    );
    assert!(
        reviews[0].comment.contains("roles.deployer"),
        "{:?}",
        reviews[0]
    );
    // qa is open: the App's run for it needs no role.
    let open = requested("octo-org/octo-repo", 702, 62);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(2), &open).await;
    assert_eq!(body["result"], "granted", "{body}");
    // The road counted both, under one label.
    let metrics = reqwest::get(format!("http://{}/metrics", addrs[0]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for outcome in ["forbidden", "ok"] {
        let line = format!(r#"baton_commands_total{{command="github run",outcome="{outcome}"}}"#);
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }

    // One repository named in the deployer role takes prod; the App itself is not needed.
    let (_other, addrs) = spawn_as(&gh, 1, &["github:Codertocat/Hello-World"]).await;
    let run = requested("Codertocat/Hello-World", 703, 63);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", &uuid(3), &run).await;
    assert_eq!(body["result"], "granted", "{body}");
}

#[test]
fn config_check_refuses_a_rule_to_a_protected_env_when_the_app_is_no_deployer() {
    let dir = std::env::temp_dir().join(format!("baton-gh-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("app.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let check = |roles: &str| {
        let config = dir.join("baton.toml");
        let text = format!(
            "[[envs]]\nname = \"prod\"\nprotected = true\n\n{roles}\n[github]\napp_id = 1\nprivate_key_file = {key:?}\nwebhook_secret_file = {key:?}\n\n[[github.rules]]\nrepos = \"acme/*\"\nenvironment = \"production\"\nenv = \"prod\"\n",
            key = key.display().to_string()
        );
        std::fs::write(&config, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["config", "check", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), text)
    };
    let (code, stderr) = check("[roles]\ndeployer = [\"slack:U1\"]\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`prod` is protected and the GitHub App is not a deployer")
            && stderr.contains("github:app"),
        "{stderr}"
    );
    let (code, stderr) = check("[roles]\ndeployer = [\"github:app\"]\n");
    assert_eq!(code, Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
