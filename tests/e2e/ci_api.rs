//! The CI API over HTTP, against real Redis, with several app instances where it matters.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp, TOKEN_ALL, TOKEN_STAGING};

fn at(addr: std::net::SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

async fn body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_on_two_instances_never_overlap_across_two_thousand_cycles() {
    const CLIENTS: usize = 64;
    const CYCLES: usize = 2000;
    let mut app = spawn_app().await;
    let b = app.start_instance().await;
    let addrs = [app.addr.unwrap(), b];
    let held = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let fences = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (held, done, fences) = (held.clone(), done.clone(), fences.clone());
            let addr = addrs[i % 2];
            tokio::spawn(async move {
                let http = TestApp::http(TOKEN_ALL);
                while done.load(Ordering::SeqCst) < CYCLES {
                    let r = http
                        .post(at(addr, "/api/v1/locks/canary"))
                        .json(&json!({"holder": format!("client {i}"), "ttl": "1m"}))
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        200 => {
                            let grant: Value = r.json().await.unwrap();
                            assert!(
                                held.compare_exchange(
                                    false,
                                    true,
                                    Ordering::SeqCst,
                                    Ordering::SeqCst
                                )
                                .is_ok(),
                                "two 200s at once"
                            );
                            fences
                                .lock()
                                .unwrap()
                                .push(grant["fence"].as_u64().unwrap());
                            held.store(false, Ordering::SeqCst);
                            let released = http
                                .delete(at(addr, "/api/v1/locks/canary"))
                                .json(&json!({"token": grant["token"]}))
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(released.status(), 200);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        423 => tokio::time::sleep(Duration::from_millis(1)).await,
                        other => panic!("unexpected status {other}: {}", r.text().await.unwrap()),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let fences = fences.lock().unwrap();
    assert!(fences.len() >= CYCLES);
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences strictly increase"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiter_on_instance_b_is_woken_the_moment_instance_a_releases() {
    let mut app = spawn_app().await;
    let (a, b) = (app.addr.unwrap(), app.start_instance().await);
    let http = TestApp::http(TOKEN_ALL);
    let (status, first) = body(
        http.post(at(a, "/api/v1/locks/qa"))
            .json(&json!({"holder": "first"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    let waiters: Vec<_> = ["second", "third"]
        .into_iter()
        .map(|label| {
            let http = http.clone();
            let task = tokio::spawn(async move {
                let r = http
                    .post(at(b, "/api/v1/locks/qa"))
                    .json(&json!({"holder": label, "wait": "20s"}))
                    .send()
                    .await
                    .unwrap();
                (Instant::now(), body(r).await)
            });
            std::thread::sleep(Duration::from_millis(200)); // arrival order: second, then third
            task
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let released_at = Instant::now();
    let r = http
        .delete(at(a, "/api/v1/locks/qa"))
        .json(&json!({"token": first["token"]}))
        .send()
        .await
        .unwrap();
    let (_, released) = body(r).await;
    assert_eq!(released["next"], "second", "FIFO: the first waiter gets it");
    let mut waiters = waiters.into_iter();
    let (granted_at, (status, second)) = waiters.next().unwrap().await.unwrap();
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["holder"], "second");
    let latency = granted_at - released_at;
    eprintln!(
        "cross-instance hand-off: waiter answered {latency:?} after the release request was sent"
    );
    assert!(
        latency < Duration::from_secs(2),
        "woken by Pub/Sub, not the 2 s poll: {latency:?}"
    );

    http.delete(at(a, "/api/v1/locks/qa"))
        .json(&json!({"token": second["token"]}))
        .send()
        .await
        .unwrap();
    let (_, (status, third)) = waiters.next().unwrap().await.unwrap();
    assert_eq!((status, third["holder"].as_str()), (200, Some("third")));
}

#[tokio::test]
async fn a_wait_that_runs_out_answers_423_and_leaves_the_queue() {
    let app = spawn_app().await;
    let http = TestApp::http(TOKEN_ALL);
    http.post(app.url("/api/v1/locks/qa"))
        .json(&json!({"holder": "long deploy", "reason": "db migration"}))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let (status, refused) = body(
        http.post(app.url("/api/v1/locks/qa"))
            .json(&json!({"wait": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 423);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        (refused["holder"].as_str(), refused["reason"].as_str()),
        (Some("long deploy"), Some("db migration"))
    );
    let (_, env) = body(http.get(app.url("/api/v1/envs/qa")).send().await.unwrap()).await;
    assert_eq!(env["queue"], json!([]), "the expired waiter left the queue");
}

#[tokio::test]
async fn every_bad_request_gets_a_status_and_a_sentence_and_changes_nothing() {
    let app = spawn_app().await;
    let all = TestApp::http(TOKEN_ALL);
    let (_, grant) = body(
        all.post(app.url("/api/v1/locks/canary"))
            .json(&json!({"holder": "owner"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    all.post(app.url("/api/v1/commands"))
        .json(&json!({"text": "freeze qa 1h release freeze"}))
        .send()
        .await
        .unwrap();
    let before = app.snapshot().await;

    let anon = reqwest::Client::new();
    let wrong = TestApp::http("not-a-token");
    let staging = TestApp::http(TOKEN_STAGING);
    let huge = "x".repeat(1 << 20);
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (
            "no token",
            anon.post(app.url("/api/v1/locks/canary")),
            401,
            "unauthorized",
            "Bearer",
        ),
        (
            "wrong token",
            wrong.post(app.url("/api/v1/locks/canary")),
            401,
            "unauthorized",
            "not known",
        ),
        (
            "token not scoped to the env",
            staging.post(app.url("/api/v1/locks/prod")),
            403,
            "forbidden",
            "may not touch `prod`",
        ),
        (
            "release with a wrong lock token",
            all.delete(app.url("/api/v1/locks/canary"))
                .json(&json!({"token": "deadbeef"})),
            409,
            "not_holder",
            "not by you",
        ),
        (
            "release of an unlocked env",
            all.delete(app.url("/api/v1/locks/prod"))
                .json(&json!({"token": "deadbeef"})),
            404,
            "not_locked",
            "not locked",
        ),
        (
            "frozen env",
            all.post(app.url("/api/v1/locks/qa")),
            403,
            "frozen",
            "release freeze",
        ),
        (
            "malformed JSON",
            all.post(app.url("/api/v1/locks/canary")).body("{\"ttl\": "),
            400,
            "bad_request",
            "not valid JSON",
        ),
        (
            "unknown field",
            all.post(app.url("/api/v1/locks/canary"))
                .json(&json!({"tll": "5m"})),
            400,
            "bad_request",
            "unknown field `tll`",
        ),
        (
            "negative ttl",
            all.post(app.url("/api/v1/locks/staging-1"))
                .json(&json!({"ttl": -5})),
            400,
            "bad_request",
            "not a positive whole number",
        ),
        (
            "absurd ttl",
            all.post(app.url("/api/v1/locks/staging-1"))
                .json(&json!({"ttl": 1_000_000_000_000u64})),
            400,
            "bad_request",
            "absurdly long",
        ),
        (
            "ttl over the env's max",
            all.post(app.url("/api/v1/locks/staging-1"))
                .json(&json!({"ttl": "9h"})),
            400,
            "bad_request",
            "at most 8h",
        ),
        (
            "ttl that is not a duration",
            all.post(app.url("/api/v1/locks/staging-1"))
                .json(&json!({"ttl": "soon"})),
            400,
            "bad_request",
            "not a duration",
        ),
        (
            "wait beyond ci.max_wait",
            all.post(app.url("/api/v1/locks/staging-1"))
                .json(&json!({"wait": "2h"})),
            400,
            "bad_request",
            "ci.max_wait",
        ),
        (
            "a 1 MB body",
            all.post(app.url("/api/v1/locks/staging-1"))
                .body(format!("{{\"reason\":\"{huge}\"}}")),
            413,
            "too_large",
            "64 KiB",
        ),
        (
            "path traversal in the env",
            all.post(app.url("/api/v1/locks/..%2F..%2Fetc")),
            400,
            "bad_request",
            "not allowed",
        ),
        (
            "glob in the env",
            all.post(app.url("/api/v1/locks/prod*")),
            400,
            "bad_request",
            "not allowed",
        ),
        (
            "unknown env",
            all.post(app.url("/api/v1/locks/prdo")),
            404,
            "unknown_env",
            "did you mean `prod`",
        ),
        (
            "extend without a ttl",
            all.post(app.url("/api/v1/locks/canary/extend"))
                .json(&json!({"token": grant["token"]})),
            400,
            "bad_request",
            "how much longer",
        ),
        (
            "a chat command outside the token's envs",
            staging
                .post(app.url("/api/v1/commands"))
                .json(&json!({"text": "unlock canary"})),
            403,
            "forbidden",
            "may not touch",
        ),
        (
            "a stale fence on a deploy",
            all.post(app.url("/api/v1/deploys/canary"))
                .json(&json!({"sha": "abc", "fence": 999})),
            409,
            "stale_fence",
            "not recorded",
        ),
    ];
    for (what, request, want_status, want_code, want_text) in cases {
        let (status, json) = body(request.send().await.unwrap()).await;
        assert_eq!(status, want_status, "{what}: {json}");
        assert_eq!(json["error"], want_code, "{what}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains(want_text), "{what}: {message}");
        assert!(
            !message.contains(TOKEN_ALL) && !message.contains(TOKEN_STAGING),
            "{what}: no secret in {message}"
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn the_gate_lets_a_push_deploy_through_only_when_nobody_else_holds_the_env() {
    let app = spawn_app().await;
    let http = TestApp::http(TOKEN_ALL);
    let gate = |token: Option<&str>| {
        let req = http.get(app.url("/api/v1/gate/canary"));
        match token {
            Some(t) => req.header("Baton-Lock-Token", t),
            None => req,
        }
        .send()
    };
    assert_eq!(
        body(gate(None).await.unwrap()).await,
        (200, json!({"allowed": true, "env": "canary"}))
    );

    app.ok("alice", "lock canary 30m manual testing").await;
    let (status, refused) = body(gate(None).await.unwrap()).await;
    assert_eq!(
        (status, &refused["allowed"], &refused["holder"]),
        (423, &json!(false), &json!("alice"))
    );
    assert_eq!(refused["reason"], "manual testing");
    app.ok("alice", "unlock canary").await;

    // A pipeline's own lock passes when it shows the lock's token.
    let (_, grant) = body(
        http.post(app.url("/api/v1/locks/canary"))
            .json(&json!({"holder": "deploy 7", "ttl": "5m"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = grant["token"].as_str().unwrap();
    assert_eq!(body(gate(Some(token)).await.unwrap()).await.0, 200);
    assert_eq!(body(gate(None).await.unwrap()).await.0, 423);
    http.delete(app.url("/api/v1/locks/canary"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();

    app.ok("admin", "freeze canary 1h incident 12").await;
    let (status, frozen) = body(gate(None).await.unwrap()).await;
    assert_eq!(
        (status, &frozen["error"], &frozen["reason"]),
        (403, &json!("frozen"), &json!("incident 12"))
    );
}

#[tokio::test]
async fn a_recorded_deploy_shows_in_the_api_in_chat_status_and_in_history() {
    let app = spawn_app().await;
    let http = TestApp::http(TOKEN_ALL);
    let (_, grant) = body(
        http.post(app.url("/api/v1/locks/canary"))
            .json(&json!({"holder": "api #88"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let deploy = json!({"sha": "4f2a9c1", "version": "v4.2.0", "url": "https://ci.example/run/88", "fence": grant["fence"]});
    let (status, _) = body(
        http.post(app.url("/api/v1/deploys/canary"))
            .json(&deploy)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let (_, env) = body(
        http.get(app.url("/api/v1/envs/canary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(env["last_deploy"]["version"], "v4.2.0");
    assert_eq!(env["last_deploy"]["by"], "ci:all");
    assert_eq!(env["lock"]["holder"], "api #88");
    let status = app.ok("bob", "status canary").await;
    assert!(
        status
            .fields
            .iter()
            .any(|f| f.value.plain(0) == "v4.2.0 by ci:all"),
        "{status:?}"
    );
    let history = app.ok("bob", "history canary").await.text.unwrap();
    assert!(
        history
            .lines()
            .next()
            .unwrap()
            .contains("deployed v4.2.0 by ci:all"),
        "{history}"
    );
}

#[tokio::test]
async fn chat_commands_run_as_the_tokens_identity() {
    let app = spawn_app().await;
    let http = TestApp::http(TOKEN_STAGING);
    let (status, ok) = body(
        http.post(app.url("/api/v1/commands"))
            .json(&json!({"text": "claim staging 1h e2e suite"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{ok}");
    assert!(
        ok["reply"]["title"]
            .as_str()
            .unwrap()
            .starts_with("ci:staging claimed staging-"),
        "{ok}"
    );
    let (status, refused) = body(
        http.post(app.url("/api/v1/commands"))
            .json(&json!({"text": "lokc qa"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("unknown_command"))
    );
    assert!(refused["reply"]["title"]
        .as_str()
        .unwrap()
        .contains("did you mean `lock`"));
}

#[tokio::test]
async fn the_event_stream_reports_a_change_made_on_another_instance() {
    let mut app = spawn_app().await;
    let b = app.start_instance().await;
    let http = TestApp::http(TOKEN_ALL);
    let mut stream = http.get(at(b, "/api/v1/events")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.ok("alice", "lock canary 10m watch me").await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("event: locked") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"reason\":\"watch me\""), "{seen}");
    assert!(
        !seen.contains("token"),
        "lock tokens never leave Redis: {seen}"
    );
    assert_eq!(anon_status(&app, "/api/v1/events").await, 401);
}

async fn anon_status(app: &TestApp, path: &str) -> u16 {
    reqwest::get(app.url(path)).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn with_redis_down_the_api_answers_503_in_bounded_time_and_recovers_by_itself() {
    let mut app = spawn_app().await;
    let http = TestApp::http(TOKEN_ALL);
    app.redis.stop();
    let started = Instant::now();
    let (status, down) = body(
        http.post(app.url("/api/v1/locks/canary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, down["error"].as_str()),
        (503, Some("store_unavailable"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    app.redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = body(
            http.post(app.url("/api/v1/locks/canary"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API recovers without a restart (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(anon_status(&app, "/api/v1/openapi.json").await, 200);
}

#[tokio::test]
async fn a_waiter_whose_pipeline_is_cancelled_leaves_the_queue_and_never_gets_the_lock() {
    let app = spawn_app().await;
    let http = TestApp::http(TOKEN_ALL);
    let (_, first) = body(
        http.post(app.url("/api/v1/locks/qa"))
            .json(&json!({"holder": "first"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The pipeline gives up after 300 ms (its HTTP client times out), long before its 20 s wait.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gone = impatient
        .post(app.url("/api/v1/locks/qa"))
        .bearer_auth(TOKEN_ALL)
        .json(&json!({"holder": "cancelled", "wait": "20s"}))
        .send()
        .await;
    assert!(gone.is_err(), "the client timed out");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, env) = body(http.get(app.url("/api/v1/envs/qa")).send().await.unwrap()).await;
        if env["queue"] == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned waiter left the queue: {env}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    http.delete(app.url("/api/v1/locks/qa"))
        .json(&json!({"token": first["token"]}))
        .send()
        .await
        .unwrap();
    let (_, env) = body(http.get(app.url("/api/v1/envs/qa")).send().await.unwrap()).await;
    assert_eq!(
        env["lock"],
        Value::Null,
        "nobody holds qa: the cancelled pipeline was not handed it"
    );
}
