//! Every door checked: what chat refuses, the CI API, `/api/v1/commands` and buttons refuse
//! too; pipelines sharing a token cannot take each other's locks; the gate asks for proof.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp, TOKEN_ALL, TOKEN_NOBODY, TOKEN_STAGING};

async fn body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn lock(
    http: &reqwest::Client,
    app: &TestApp,
    env: &str,
    key: &str,
    b: Value,
) -> (u16, Value) {
    let req = http.post(app.url(&format!("/api/v1/locks/{env}"))).json(&b);
    let req = if key.is_empty() {
        req
    } else {
        req.header("Idempotency-Key", key)
    };
    body(req.send().await.unwrap()).await
}

async fn command(http: &reqwest::Client, app: &TestApp, text: &str) -> (u16, Value) {
    let req = http
        .post(app.url("/api/v1/commands"))
        .json(&json!({ "text": text }));
    body(req.send().await.unwrap()).await
}

#[tokio::test]
async fn a_role_less_token_scoped_everywhere_takes_no_protected_env_on_any_ci_road() {
    let app = spawn_app().await;
    let nobody = TestApp::http(TOKEN_NOBODY);
    let before = app.snapshot().await;

    let cases = [
        ("a lock", json!({"holder": "deploy 1", "ttl": "5m"})),
        (
            "a waiting lock",
            json!({"holder": "deploy 2", "wait": "5s"}),
        ),
    ];
    for (what, b) in cases {
        let (status, refused) = lock(&nobody, &app, "prod", "", b.clone()).await;
        assert_eq!(
            (status, &refused["error"]),
            (403, &json!("forbidden")),
            "{what}: {refused}"
        );
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("deployer"),
            "{what} names the role: {message}"
        );
        assert!(
            message.contains("roles.deployer"),
            "{what} says what to do: {message}"
        );
        // With a key too: a refusal is not a record a retry could replay as a grant.
        let (status, _) = lock(&nobody, &app, "prod", "k-protected-1", b).await;
        assert_eq!(status, 403, "{what}, with a key");
    }
    for text in ["lock prod 5m", "queue prod 5m", "claim prod 1h"] {
        let (status, refused) = command(&nobody, &app, text).await;
        assert_eq!(
            (status, &refused["error"]),
            (403, &json!("forbidden")),
            "`{text}`: {refused}"
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing was written");

    // The same token on an open env is fine, and a deployer's token on prod too.
    let (status, _) = lock(&nobody, &app, "canary", "", json!({"ttl": "1m"})).await;
    assert_eq!(status, 200);
    let (status, _) = lock(
        &TestApp::http(TOKEN_ALL),
        &app,
        "prod",
        "",
        json!({"ttl": "1m"}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_pipeline_sharing_a_token_learns_nothing_from_a_refusal_that_gets_the_other_ones_lock() {
    let app = spawn_app().await;
    let http = TestApp::http(TOKEN_ALL);
    let (status, a) = lock(
        &http,
        &app,
        "canary",
        "pipeline-a-key",
        json!({"holder": "A", "ttl": "5m"}),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    let a_token = a["token"].as_str().unwrap().to_string();

    let (status, refused) = lock(
        &http,
        &app,
        "canary",
        "pipeline-b-key",
        json!({"holder": "B"}),
    )
    .await;
    assert_eq!(status, 423, "{refused}");
    assert!(!refused.to_string().contains(&a_token), "{refused}");
    // The same token sees the holder id; its ticket is 128 bits, a digest no request inverts.
    let holder_id = refused["holder_id"]
        .as_str()
        .expect("the same token sees the holder id");
    let ticket = holder_id
        .strip_prefix("ci:all#")
        .expect("a pipeline's holder id");
    assert!(
        ticket.len() >= 32 && ticket.chars().all(|c| c.is_ascii_hexdigit()),
        "{holder_id}"
    );

    // B replays everything A's refusal showed, under any key: 423, never A's token.
    // (`#` is not a key character: the holder id as a key is spelled with `:`.)
    let mut keys: Vec<String> = vec![
        holder_id.replace('#', ":"),
        ticket.into(),
        ticket[..8].into(),
    ];
    keys.extend((0..20).map(|i| format!("guess-{i}")));
    for key in &keys {
        for label in [json!(holder_id), json!("A"), json!(ticket)] {
            let (status, answer) = lock(
                &http,
                &app,
                "canary",
                key,
                json!({"holder": label, "ttl": "5m"}),
            )
            .await;
            // 423 the first time a key is used; 409 when it comes back with another label.
            assert!(
                matches!(status, 423 | 409),
                "key {key}, label {label}: {answer}"
            );
            assert!(!answer.to_string().contains(&a_token), "{answer}");
        }
    }
    // A's own retry still gets its grant.
    let (status, again) = lock(
        &http,
        &app,
        "canary",
        "pipeline-a-key",
        json!({"holder": "A", "ttl": "5m"}),
    )
    .await;
    assert_eq!((status, &again["token"]), (200, &json!(a_token)));
    // A lock still held by A.
    let history = app.history("canary", "canary").await;
    let kinds: BTreeSet<String> = history
        .iter()
        .filter_map(|e| e.iter().find(|(k, _)| k == "kind").map(|(_, v)| v.clone()))
        .collect();
    assert!(!kinds.contains("unlocked"), "{kinds:?}");
}

#[tokio::test]
async fn holder_ids_show_only_to_the_token_that_holds_them_and_platform_ids_only_in_scope() {
    let app = spawn_app().await;
    let all = TestApp::http(TOKEN_ALL);
    let staging = TestApp::http(TOKEN_STAGING);
    let (status, _) = lock(
        &all,
        &app,
        "canary",
        "",
        json!({"holder": "A", "ttl": "5m"}),
    )
    .await;
    assert_eq!(status, 200);
    app.ok("alice", "lock qa 10m").await;

    let view = |http: &reqwest::Client, env: &str| {
        let req = http.get(app.url(&format!("/api/v1/envs/{env}")));
        async move { body(req.send().await.unwrap()).await.1 }
    };
    // A pipeline's holder id: its own token sees it, another token does not.
    assert!(view(&all, "canary").await["lock"]["holder_id"].is_string());
    let other = view(&staging, "canary").await;
    assert_eq!(other["lock"]["holder"], "A");
    assert!(other["lock"].get("holder_id").is_none(), "{other}");
    let (status, refused) = lock(&staging, &app, "canary", "", json!({})).await;
    assert_eq!(
        status, 403,
        "canary is outside the staging token's scope: {refused}"
    );
    // A person's platform id: only to tokens scoped to the env (qa is in both scopes).
    assert_eq!(
        view(&staging, "qa").await["lock"]["holder_id"],
        "console:alice"
    );
    let (status, refused) = lock(&staging, &app, "qa", "", json!({})).await;
    assert_eq!(
        (status, &refused["holder_id"]),
        (423, &json!("console:alice"))
    );
}

#[tokio::test]
async fn the_gate_is_closed_to_a_pipeline_that_does_not_hold_the_env_whatever_it_names() {
    let app = spawn_app().await;
    let all = TestApp::http(TOKEN_ALL);
    let staging = TestApp::http(TOKEN_STAGING);
    app.ok("alice", "lock canary 30m release").await;
    let gate = |http: &reqwest::Client, env: &str, query: &str, token: Option<&str>| {
        let req = http.get(app.url(&format!("/api/v1/gate/{env}{query}")));
        let req = match token {
            Some(t) => req.header("Baton-Lock-Token", t),
            None => req,
        };
        async move { body(req.send().await.unwrap()).await }
    };
    // (the token, whether it may see alice's id: only a token scoped to canary)
    for (http, sees_id) in [(&all, true), (&staging, false)] {
        let (status, answer) = gate(http, "canary", "", None).await;
        assert_eq!(
            (status, &answer["allowed"]),
            (423, &json!(false)),
            "{answer}"
        );
        assert_eq!(answer["holder_id"].is_string(), sees_id, "{answer}");
        for token in ["alice", "console:alice", "0123456789abcdef0123456789abcdef"] {
            let (status, answer) = gate(http, "canary", "", Some(token)).await;
            assert_eq!(status, 423, "token {token}: {answer}");
        }
        // A name in the query string is refused as such, with what to send instead.
        for name in ["alice", "console:alice"] {
            let (status, answer) = gate(http, "canary", &format!("?holder={name}"), None).await;
            assert_eq!(status, 400, "{answer}");
            assert!(
                answer["message"]
                    .as_str()
                    .unwrap()
                    .contains("Baton-Lock-Token"),
                "{answer}"
            );
        }
    }
    // The holder's proof opens it.
    let (_, grant) = lock(&staging, &app, "qa", "", json!({"holder": "qa deploy"})).await;
    let token = grant["token"].as_str().unwrap();
    assert_eq!(gate(&staging, "qa", "", Some(token)).await.0, 200);
    assert_eq!(gate(&staging, "qa", "", None).await.0, 423);
    assert_eq!(gate(&staging, "qa", "", Some(&token[1..])).await.0, 423);
}
