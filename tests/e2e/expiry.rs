//! Nothing stays locked forever, and a lapse hands the lock on without anyone typing a command.

use std::time::Duration;

use redis::AsyncCommands;

use crate::support::spawn_core;

async fn history_kinds(app: &crate::support::TestApp, env: &str) -> Vec<String> {
    app.history(env, env)
        .await
        .into_iter()
        .filter_map(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == "kind")
                .map(|(_, v)| v)
        })
        .collect()
}

#[tokio::test]
async fn a_lock_with_a_two_second_ttl_expires_by_itself() {
    let mut app = spawn_core().await;
    app.start_sweeper(Duration::from_millis(100));
    app.ok("alice", "lock qa 2s quick check").await;
    let mut con = app.redis().await;
    assert!(con
        .exists::<_, bool>("baton:{qa}:lockmeta:qa")
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert!(
        !con.exists::<_, bool>("baton:{qa}:lockmeta:qa")
            .await
            .unwrap(),
        "the sweeper settled the expiry (details cleared)"
    );
    let kinds = history_kinds(&app, "qa").await;
    assert_eq!(kinds, ["locked", "lock_expired"]);
    app.ok("bob", "lock qa 5m").await;
}

#[tokio::test]
async fn a_queued_waiter_holds_the_lock_after_expiry_without_anyone_calling_a_command() {
    let mut app = spawn_core().await;
    app.start_sweeper(Duration::from_millis(100));
    app.ok("alice", "lock qa 2s first").await;
    let queued = app.ok("bob", "queue qa 10m second").await;
    assert!(queued.title.contains("#1 in line"), "{}", queued.title);

    tokio::time::sleep(Duration::from_millis(2700)).await;
    // Look behind Baton's back: no command has run since `queue`.
    let mut con = app.redis().await;
    let holder: Option<String> = con.hget("baton:{qa}:lockmeta:qa", "holder").await.unwrap();
    assert_eq!(holder.as_deref(), Some("console:bob"));
    let queue_len: usize = con.zcard("baton:{qa}:line:qa").await.unwrap();
    assert_eq!(queue_len, 0);
    let kinds = history_kinds(&app, "qa").await;
    assert_eq!(kinds, ["locked", "queued", "lock_expired", "handed_off"]);

    let history = app.ok("bob", "history qa").await;
    let text = history.text.unwrap();
    assert!(text.contains("lock of alice expired"), "{text}");
    assert!(text.contains("handed to bob from the queue"), "{text}");
}

#[tokio::test]
async fn a_release_hands_the_lock_to_the_first_waiter_in_arrival_order() {
    let app = spawn_core().await;
    app.ok("alice", "lock canary 10m").await;
    app.ok("bob", "queue canary 10m second").await;
    app.ok("carol", "queue canary 10m third").await;
    let released = app.ok("alice", "unlock canary").await;
    assert!(released.text.unwrap().contains("bob now holds canary"));
    let err = app.refused("carol", "lock canary").await;
    assert!(err.to_string().contains("locked by bob"), "{err}");
    app.ok("bob", "unlock canary").await;
    let status = app.ok("carol", "status canary").await;
    assert!(
        status.fields.iter().any(|f| f.value.plain(0) == "carol"),
        "carol is next: {status:?}"
    );
}

#[tokio::test]
async fn a_freeze_window_ends_by_itself_and_the_queue_moves_on() {
    let mut app = spawn_core().await;
    app.start_sweeper(Duration::from_millis(100));
    app.ok("admin", "freeze qa 2s change freeze").await;
    let refused = app.refused("bob", "lock qa").await;
    assert!(refused.to_string().contains("frozen by admin"), "{refused}");
    let queued = app.ok("bob", "queue qa 5m after the freeze").await;
    assert!(queued.text.unwrap().contains("frozen"));
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let mut con = app.redis().await;
    let holder: Option<String> = con.hget("baton:{qa}:lockmeta:qa", "holder").await.unwrap();
    assert_eq!(
        holder.as_deref(),
        Some("console:bob"),
        "bob got the lock when the freeze ended"
    );
}
