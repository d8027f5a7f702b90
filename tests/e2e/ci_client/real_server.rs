//! The same client against the whole service (`spawn_core_with` + an HTTP instance) on a
//! throwaway Redis, with CI tokens of its own: `pipeline` may touch every env and is a deployer,
//! `previews` may touch only `staging-*`.

use baton_commands::config::CiTokenConfig;

use super::{baton_ci, finish, sha256_hex};
use crate::support::{spawn_core_with, TestApp};

const TOKEN: &str = "baton_real-server-test-token";
const PREVIEWS_TOKEN: &str = "baton_real-server-previews-token";

async fn spawn_with_ci_token() -> (TestApp, String) {
    let mut app = spawn_core_with(|cfg| {
        cfg.ci.tokens.push(CiTokenConfig {
            name: "pipeline".into(),
            sha256: sha256_hex(TOKEN),
            envs: vec!["*".into()],
            ..Default::default()
        });
        cfg.ci.tokens.push(CiTokenConfig {
            name: "previews".into(),
            sha256: sha256_hex(PREVIEWS_TOKEN),
            envs: vec!["staging-*".into()],
            ..Default::default()
        });
        cfg.roles.deployer.push("ci:pipeline".into());
    })
    .await;
    let addr = app.start_instance().await;
    (app, format!("http://{addr}"))
}

#[tokio::test]
async fn against_the_service_a_second_lock_exits_3_and_the_token_from_stdout_unlocks() {
    let (_app, url) = spawn_with_ci_token().await;
    let first = finish(baton_ci(
        &url,
        TOKEN,
        &["lock", "--env", "qa", "--ttl", "5m"],
    ))
    .await;
    assert_eq!(first.code, Some(0), "{first}");
    let lock_token = first.stdout.trim().to_string();
    assert!(!lock_token.is_empty(), "{first}");

    let second = finish(baton_ci(&url, TOKEN, &["lock", "--env", "qa"])).await;
    assert_eq!(second.code, Some(3), "{second}");

    let unlock = ["unlock", "--env", "qa", "--lock-token", lock_token.as_str()];
    let out = finish(baton_ci(&url, TOKEN, &unlock)).await;
    assert_eq!(out.code, Some(0), "{out}");
    let again = finish(baton_ci(&url, TOKEN, &unlock)).await;
    assert_eq!(again.code, Some(0), "unlocking twice is fine: {again}");
}

#[tokio::test]
async fn against_the_service_run_gives_the_fence_and_leaves_the_env_free() {
    let (app, url) = spawn_with_ci_token().await;
    let out = finish(baton_ci(
        &url,
        TOKEN,
        &[
            "run",
            "--env",
            "qa",
            "--ttl",
            "5m",
            "--",
            "sh",
            "-c",
            "echo fence=$BATON_FENCE; exit 7",
        ],
    ))
    .await;
    assert_eq!(out.code, Some(7), "{out}");
    let fence: u64 = out
        .stdout
        .trim()
        .strip_prefix("fence=")
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("the command saw its fence: {out}"));
    assert!(fence >= 1, "{out}");
    app.ok("alice", "lock qa 10m").await;
}

#[tokio::test]
async fn against_the_service_gate_exits_3_while_a_person_holds_the_env_and_4_when_frozen() {
    let (app, url) = spawn_with_ci_token().await;
    let free = finish(baton_ci(&url, TOKEN, &["gate", "--env", "canary"])).await;
    assert_eq!(free.code, Some(0), "{free}");

    app.ok("alice", "lock canary 10m").await;
    let held = finish(baton_ci(&url, TOKEN, &["gate", "--env", "canary"])).await;
    assert_eq!(held.code, Some(3), "{held}");

    app.ok("admin", "freeze qa 1h release week").await;
    let frozen = finish(baton_ci(&url, TOKEN, &["gate", "--env", "qa"])).await;
    assert_eq!(frozen.code, Some(4), "{frozen}");
    let run = finish(baton_ci(
        &url,
        TOKEN,
        &["run", "--env", "qa", "--", "echo", "ran"],
    ))
    .await;
    assert_eq!(run.code, Some(4), "{run}");
    assert!(run.stdout.is_empty(), "the command never ran: {run}");
}

#[tokio::test]
async fn against_the_service_an_unknown_token_or_one_scoped_elsewhere_exits_5() {
    let (_app, url) = spawn_with_ci_token().await;
    let out = finish(baton_ci(&url, "baton_unknown", &["lock", "--env", "qa"])).await;
    assert_eq!(out.code, Some(5), "{out}");
    assert!(!out.stderr.contains("baton_unknown"), "{out}");

    let out = finish(baton_ci(&url, PREVIEWS_TOKEN, &["lock", "--env", "prod"])).await;
    assert_eq!(out.code, Some(5), "{out}");
    let out = finish(baton_ci(
        &url,
        PREVIEWS_TOKEN,
        &["lock", "--env", "staging-1"],
    ))
    .await;
    assert_eq!(out.code, Some(0), "{out}");
}

#[tokio::test]
async fn against_the_service_run_keeps_a_short_lock_alive_past_its_ttl() {
    let (app, url) = spawn_with_ci_token().await;
    let run = baton_ci(
        &url,
        TOKEN,
        &["run", "--env", "qa", "--ttl", "2s", "--", "sleep", "4"],
    );
    let running = tokio::spawn(finish(run));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    app.refused("bob", "lock qa 10m").await;
    let out = running.await.unwrap();
    assert_eq!(out.code, Some(0), "{out}");
    app.ok("bob", "lock qa 10m").await;
}

#[tokio::test]
async fn against_the_service_status_shows_the_lock_in_the_table() {
    let (app, url) = spawn_with_ci_token().await;
    app.ok("alice", "lock qa 10m hotfix").await;
    let out = finish(baton_ci(&url, TOKEN, &["status", "--env", "qa"])).await;
    assert_eq!(out.code, Some(0), "{out}");
    let row = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("qa "), "{out}");
    assert!(
        row.contains("(fence 1) until ") && row.contains(": hotfix"),
        "{out}"
    );
    let all = finish(baton_ci(&url, TOKEN, &["status"])).await;
    assert_eq!(all.code, Some(0), "{all}");
    assert!(all.stdout.lines().any(|l| l.starts_with("qa ")), "{all}");
}

#[tokio::test]
async fn against_the_service_run_holds_a_set_together_and_gives_it_back_whole() {
    let (app, url) = spawn_with_ci_token().await;
    let out = finish(baton_ci(
        &url,
        TOKEN,
        &[
            "run",
            "--env",
            "canary,qa",
            "--ttl",
            "3s",
            "--",
            "sh",
            "-c",
            "echo \"$BATON_ENV $BATON_FENCES\"; sleep 2; exit 5",
        ],
    ))
    .await;
    assert_eq!(out.code, Some(5), "{out}");
    let seen = out.stdout.trim();
    assert!(seen.starts_with("canary,qa canary="), "{out}");
    assert!(seen.contains(",qa="), "{out}");
    assert!(
        out.stderr.contains("extended canary,qa"),
        "kept alive: {out}"
    );
    // Both free again: another set takes them.
    app.ok("alice", "lock canary,qa 10m").await;

    // A set in use: `run` exits 3 without running, and takes nothing.
    let busy = finish(baton_ci(
        &url,
        TOKEN,
        &["run", "--env", "staging-1,qa", "--", "echo", "ran"],
    ))
    .await;
    assert_eq!(busy.code, Some(3), "{busy}");
    assert!(busy.stdout.is_empty(), "the command never ran: {busy}");
    assert!(busy.stderr.contains("qa is locked by alice"), "{busy}");
    app.ok("bob", "claim staging-1 10m").await;

    // `lock` takes one env.
    let lock = finish(baton_ci(&url, TOKEN, &["lock", "--env", "canary,qa"])).await;
    assert_eq!(lock.code, Some(2), "{lock}");
}
