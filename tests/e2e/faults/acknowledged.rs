//! Every acknowledged lock is real: a stale clean-up never releases its retry's lock, a replayed
//! grant that has ended is told as ended, a lock handed to a dead instance's waiter passes on, and
//! a keyed waiter that reconnects keeps its place.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use serde_json::{json, Value};

use super::proxy::FreezingProxy;
use super::{ci_lock, ci_lock_at};
use crate::ci_client::{baton_ci, finish};
use crate::support::{serve_process, spawn_app, TestApp, TOKEN_ALL};

fn at(addr: std::net::SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn signal(child: &tokio::process::Child, sig: libc::c_int) {
    let pid = child.id().expect("the instance runs") as libc::pid_t;
    // SAFETY: a signal to a child process this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

async fn queue_len(app: &TestApp, env: &str) -> usize {
    let mut con = app.redis().await;
    con.zcard(format!("baton:{{{env}}}:line:{env}"))
        .await
        .unwrap()
}

async fn until(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn view(app: &TestApp, env: &str) -> Value {
    let r = TestApp::http(TOKEN_ALL)
        .get(app.url(&format!("/api/v1/envs/{env}")))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn unlock(app: &TestApp, env: &str, token: &str) -> u16 {
    TestApp::http(TOKEN_ALL)
        .delete(app.url(&format!("/api/v1/locks/{env}")))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_clean_up_never_releases_the_lock_its_retry_was_granted() {
    let app = spawn_app().await;
    let dir = temp_dir("stale-cleanup");
    let (a, a_addr) = serve_process(&app, &dir, 0).await;
    app.ok("alice", "lock canary 10m release").await;
    let body = json!({"holder": "deploy 9", "ttl": "5m", "wait": "30s"});

    // The first attempt waits on instance A; its client gives up; A stops before it cleans up.
    let first = {
        let url = at(a_addr, "/api/v1/locks/canary");
        let body = body.clone();
        tokio::spawn(async move { ci_lock_at(&url, body, Some("deploy-9")).await })
    };
    until(
        "the first attempt is in line",
        Duration::from_secs(5),
        async || queue_len(&app, "canary").await == 1,
    )
    .await;
    first.abort();
    signal(&a, libc::SIGSTOP);

    // The retry, on another instance, takes the first attempt's place and is granted.
    let retry = {
        let url = app.url("/api/v1/locks/canary");
        let body = body.clone();
        tokio::spawn(async move { ci_lock_at(&url, body, Some("deploy-9")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        queue_len(&app, "canary").await,
        1,
        "the retry took over, it did not line up"
    );
    app.ok("alice", "unlock canary").await;
    let (status, granted) = retry.await.unwrap();
    assert_eq!(status, 200, "{granted}");
    let token = granted["token"].as_str().unwrap().to_string();

    // A resumes, and its clean-up runs: it must not touch the retry's lock.
    signal(&a, libc::SIGCONT);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let now = view(&app, "canary").await;
    assert_eq!(now["lock"]["fence"], granted["fence"], "{now}");
    assert_eq!(now["lock"]["holder"], "deploy 9");
    assert_eq!(unlock(&app, "canary", "not-the-token").await, 409);
    assert_eq!(
        unlock(&app, "canary", &token).await,
        200,
        "only its token releases it"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_retry_after_the_hold_ended_is_told_it_ended_and_never_handed_the_old_grant() {
    let app = spawn_app().await;
    let short = json!({"holder": "deploy 1", "ttl": "2s"});
    let (status, first) = ci_lock(&app, "canary", short.clone(), Some("k-expires")).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["expires_in_ms"].as_u64().unwrap() <= 2000, "{first}");
    let (status, again) = ci_lock(&app, "canary", short.clone(), Some("k-expires")).await;
    assert_eq!(
        (status, &again["token"]),
        (200, &first["token"]),
        "a retry while it lives"
    );

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, ended) = ci_lock(&app, "canary", short, Some("k-expires")).await;
    assert_eq!(
        (status, &ended["error"]),
        (410, &json!("lock_ended")),
        "{ended}"
    );
    assert!(!ended.to_string().contains(first["token"].as_str().unwrap()));

    let long = json!({"holder": "deploy 2", "ttl": "10m"});
    let (_, grant) = ci_lock(&app, "canary", long.clone(), Some("k-released")).await;
    assert_eq!(
        unlock(&app, "canary", grant["token"].as_str().unwrap()).await,
        200
    );
    let (status, ended) = ci_lock(&app, "canary", long, Some("k-released")).await;
    assert_eq!(status, 410, "{ended}");
    assert!(
        ended["message"].as_str().unwrap().contains("released"),
        "{ended}"
    );
}

#[tokio::test]
async fn baton_ci_run_behind_a_link_that_drops_answers_never_runs_on_an_ended_lock() {
    let app = spawn_app().await;
    let proxy = FreezingProxy::start(app.addr.unwrap()).await;
    let url = format!("http://{}", proxy.addr);
    // Redis holds writes a moment, so the lock call is in flight when the link goes silent.
    let mut con = app.redis().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .arg("WRITE")
        .query_async(&mut con)
        .await
        .unwrap();
    let run = tokio::spawn(finish({
        let mut cmd = baton_ci(
            &url,
            TOKEN_ALL,
            &[
                "run",
                "--env",
                "canary",
                "--ttl",
                "3s",
                "--request-timeout",
                "5s",
                "--retry-for",
                "30s",
                "--",
                "echo",
                "ran",
            ],
        );
        cmd.kill_on_drop(true);
        cmd
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.freeze_established();
    // The grant's answer is lost; the 3 s lock lapses, and another pipeline takes the env.
    until(
        "the lost grant is taken",
        Duration::from_secs(3),
        async || view(&app, "canary").await["lock"].is_object(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let (status, other) = ci_lock(
        &app,
        "canary",
        json!({"holder": "other", "ttl": "5m"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{other}");

    let out = run.await.unwrap();
    assert!(
        !out.stdout.contains("ran"),
        "the command ran without the lock: {out}"
    );
    assert_eq!(out.code, Some(3), "{out}");
    assert!(out.stderr.contains("has ended"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_handed_to_a_dead_instances_waiter_passes_to_the_live_one_within_seconds() {
    let app = spawn_app().await;
    let dir = temp_dir("dead-waiter");
    let (mut a, a_addr) = serve_process(&app, &dir, 0).await;
    app.ok("alice", "lock canary 10m release").await;
    let first = tokio::spawn(async move {
        ci_lock_at(
            &at(a_addr, "/api/v1/locks/canary"),
            json!({"holder": "on A", "ttl": "5m", "wait": "60s"}),
            None,
        )
        .await
    });
    until(
        "A's waiter is in line",
        Duration::from_secs(5),
        async || queue_len(&app, "canary").await == 1,
    )
    .await;
    let second = {
        let url = app.url("/api/v1/locks/canary");
        tokio::spawn(async move {
            ci_lock_at(
                &url,
                json!({"holder": "on B", "ttl": "5m", "wait": "60s"}),
                None,
            )
            .await
        })
    };
    until(
        "B's waiter is in line",
        Duration::from_secs(5),
        async || queue_len(&app, "canary").await == 2,
    )
    .await;
    a.start_kill().unwrap(); // SIGKILL: A's waiter still has most of its lease
    a.wait().await.unwrap();
    first.abort();
    let released = Instant::now();
    app.ok("alice", "unlock canary").await;
    let (status, granted) = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("the live waiter holds the env within 5 s")
        .unwrap();
    assert_eq!(
        (status, &granted["holder"]),
        (200, &json!("on B")),
        "{granted}"
    );
    eprintln!("handed on in {:?}", released.elapsed());
    let kinds: Vec<String> = app
        .history("canary", "canary")
        .await
        .iter()
        .filter_map(|e| e.iter().find(|(k, _)| k == "kind").map(|(_, v)| v.clone()))
        .collect();
    assert!(kinds.contains(&"offer_lapsed".to_string()), "{kinds:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_keyed_waiter_that_reconnects_within_a_second_keeps_its_place_ahead_of_a_later_one() {
    let app = spawn_app().await;
    app.ok("alice", "lock canary 10m release").await;
    let url = app.url("/api/v1/locks/canary");
    let body = json!({"holder": "keyed", "ttl": "5m", "wait": "30s"});
    let first = {
        let (url, body) = (url.clone(), body.clone());
        tokio::spawn(async move { ci_lock_at(&url, body, Some("keyed-1")).await })
    };
    until(
        "the keyed waiter is in line",
        Duration::from_secs(5),
        async || queue_len(&app, "canary").await == 1,
    )
    .await;
    first.abort(); // its connection drops (a proxy's idle timeout)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = {
        let url = url.clone();
        tokio::spawn(async move {
            ci_lock_at(
                &url,
                json!({"holder": "later", "ttl": "5m", "wait": "30s"}),
                Some("later-1"),
            )
            .await
        })
    };
    until(
        "the later waiter is in line",
        Duration::from_secs(5),
        async || queue_len(&app, "canary").await == 2,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retry = tokio::spawn(async move { ci_lock_at(&url, body, Some("keyed-1")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let line = view(&app, "canary").await;
    assert_eq!(line["queue"][0]["holder"], "keyed", "{line}");
    assert_eq!(line["queue"][1]["holder"], "later", "{line}");
    assert_eq!(line["queue"].as_array().unwrap().len(), 2, "{line}");

    app.ok("alice", "unlock canary").await;
    let (status, granted) = retry.await.unwrap();
    assert_eq!(
        (status, &granted["holder"]),
        (200, &json!("keyed")),
        "{granted}"
    );
    // The first attempt's clean-up, a lease later, leaves the retry's lock alone.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(view(&app, "canary").await["lock"]["holder"], "keyed");
    assert_eq!(
        unlock(&app, "canary", granted["token"].as_str().unwrap()).await,
        200
    );
    let (status, _) = later.await.unwrap();
    assert_eq!(status, 200, "the later waiter gets it next");
}
