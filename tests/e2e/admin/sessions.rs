//! `admin session` and `admin kick`: one session key per user; the token never leaves Redis.

use futures_util::StreamExt;

use super::{field, redis, spawn_admin};

const TOKEN: &str = "7f3c9a51e0b24d6f8a1c2e3d4b5a69788f0e1d2c3b4a5968778695a4b3c2d1e0";

#[tokio::test]
async fn a_session_shows_its_ttl_age_and_fingerprint_but_never_the_token() {
    let app = spawn_admin().await;
    let key = "session:alice";
    let _: () = redis(
        &app,
        redis::cmd("SET")
            .arg(key)
            .arg(TOKEN)
            .arg("EX")
            .arg(86_400 - 600),
    )
    .await;
    let sha1: String = redis(
        &app,
        redis::cmd("EVAL")
            .arg("return redis.sha1hex(ARGV[1])")
            .arg(0)
            .arg(TOKEN),
    )
    .await;

    let reply = app.ok("admin", "admin session alice").await;
    assert_eq!(reply.title, "alice has a session");
    assert_eq!(field(&reply, "Fingerprint"), format!("sha1:{}", &sha1[..8]));
    assert_eq!(field(&reply, "Key"), key);
    assert!(field(&reply, "TTL").ends_with("left"), "{reply:#?}");
    assert!(field(&reply, "Age").starts_with("10m"), "{reply:#?}");
    assert_eq!(field(&reply, "Value"), "string of 64 bytes");
    assert_eq!(reply.buttons[0].command, "admin kick alice");
    let json = serde_json::to_string(&reply).unwrap();
    assert!(
        !json.contains(TOKEN) && !json.contains(&TOKEN[..16]),
        "{json}"
    );

    let none = app.ok("admin", "admin session a*").await;
    assert_eq!(
        none.title, "a* has no session",
        "the id is a key part, not a pattern"
    );

    let _: () = redis(
        &app,
        redis::cmd("HSET")
            .arg("session:bob")
            .arg("token")
            .arg(TOKEN)
            .arg("device")
            .arg("ios"),
    )
    .await;
    let hash = app.ok("admin", "admin session bob").await;
    assert_eq!(field(&hash, "Value"), "hash of 2 fields");
    assert_eq!(field(&hash, "TTL"), "no expiry");
    assert!(!serde_json::to_string(&hash).unwrap().contains(TOKEN));
}

#[tokio::test]
async fn kick_deletes_the_session_and_announces_it_in_one_script() {
    let app = spawn_admin().await;
    let _: () = redis(&app, redis::cmd("SET").arg("session:alice").arg(TOKEN)).await;
    let _: () = redis(&app, redis::cmd("SET").arg("session:alice2").arg("other")).await;
    let client = redis::Client::open(app.redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("app:sessions").await.unwrap();
    let mut messages = pubsub.into_on_message();

    let calls = super::command_calls(&app).await;
    let reply = app.ok("admin", "admin kick alice").await;
    let after = super::command_calls(&app).await;
    assert_eq!(reply.title, "admin ended alice's session");
    assert_eq!(
        field(&reply, "Announced"),
        "on app:sessions, to 1 subscriber"
    );
    assert!(field(&reply, "Fingerprint").starts_with("sha1:"));
    let json = serde_json::to_string(&reply).unwrap();
    assert!(!json.contains(TOKEN), "{json}");
    // One EVALSHA did the DEL and the PUBLISH; the audit XADD went in the same pipeline.
    let delta = |c: &str| after.get(c).unwrap_or(&0) - calls.get(c).unwrap_or(&0);
    assert_eq!(
        (
            delta("evalsha"),
            delta("del"),
            delta("publish"),
            delta("xadd")
        ),
        (1, 1, 1, 1)
    );

    let message = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next())
        .await
        .expect("the kick is announced")
        .unwrap();
    let payload: serde_json::Value =
        serde_json::from_str(&message.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(payload["event"], "session_kicked");
    assert_eq!(payload["user"], "alice");
    assert_eq!(payload["key"], "session:alice");
    assert_eq!(payload["by"], "console:admin");
    assert!(!payload.to_string().contains(TOKEN));

    let exists: bool = redis(&app, redis::cmd("EXISTS").arg("session:alice")).await;
    assert!(!exists);
    let other: Option<String> = redis(&app, redis::cmd("GET").arg("session:alice2")).await;
    assert_eq!(other.as_deref(), Some("other"));

    let again = app.ok("admin", "admin kick alice").await;
    assert_eq!(
        again.title,
        "alice has no session, so there was nothing to end"
    );
}
