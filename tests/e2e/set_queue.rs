//! Waiting for several envs together (`queue a,b`, and a CI set request with `wait`): the set
//! waiter holds its place in every line, nobody behind it overtakes it on any of its envs, and it
//! is handed all of them at once when it heads every line and all are free.

use std::time::Duration;

use baton_commands::store::audit::Kind;
use baton_commands::BatonError;

use crate::support::{spawn_core, TestApp};

/// Who holds `env`'s lock (its holder id), asking the core as chat would.
async fn holder(app: &TestApp, env: &str) -> Option<String> {
    let last = app.events(env, env).await.into_iter().rev().find(|e| {
        matches!(
            e.kind,
            Kind::Locked
                | Kind::HandedOff
                | Kind::Unlocked
                | Kind::ForceUnlocked
                | Kind::LockExpired
                | Kind::OfferLapsed
        )
    })?;
    matches!(last.kind, Kind::Locked | Kind::HandedOff).then_some(last.holder)
}

/// Polls until `env` is held by `who` (the sweeper settles a set's turn within a tick or two).
async fn until_held_by(app: &TestApp, env: &str, who: &str) {
    for _ in 0..100 {
        if holder(app, env).await.as_deref() == Some(who) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{env} never went to {who}; it is {:?}",
        holder(app, env).await
    );
}

#[tokio::test]
async fn a_set_waiter_keeps_its_place_in_every_line_and_is_served_whole_before_a_later_single_waiter(
) {
    let mut app = spawn_core().await;
    app.start_sweeper(Duration::from_millis(50));
    app.ok("bob", "lock canary 20m hotfix").await;
    app.ok("carol", "lock qa 20m tests").await;

    let queued = app.ok("alice", "queue canary,qa 30m release 4.2").await;
    assert_eq!(queued.title, "alice waits for canary and qa together");
    assert_eq!(queued.buttons[0].command, "leave canary,qa");
    app.ok("dave", "queue canary 10m").await;
    let status = app.ok("admin", "status canary").await;
    let queue = status.fields.iter().find(|f| f.name == "Queue").unwrap();
    assert_eq!(
        queue.value.plain(0),
        "1. alice (with qa), 2. dave",
        "a set waiter is shown with the envs it waits for together"
    );

    // canary comes free: it is kept for alice, first in its line, not handed to dave behind her.
    app.ok("bob", "unlock canary").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        holder(&app, "canary").await,
        None,
        "canary stays free for alice"
    );
    let refused = app.refused("erin", "lock canary").await;
    assert!(
        matches!(&refused, BatonError::Reserved { first, .. } if first == "alice"),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("kept for alice, first in line, who waits for canary and qa together"),
        "{refused}"
    );
    let text = app.refused("erin", "lock canary,qa").await.to_string();
    assert!(text.contains("canary is free but kept for alice"), "{text}");
    // Leaving one line of a set is refused: the set is one waiter.
    let text = app.refused("alice", "leave canary").await.to_string();
    assert!(text.contains("`leave canary,qa`"), "{text}");

    // The last holder leaves: alice gets both at once, and dave still waits behind her.
    app.ok("carol", "unlock qa").await;
    until_held_by(&app, "canary", "console:alice").await;
    until_held_by(&app, "qa", "console:alice").await;
    for env in ["canary", "qa"] {
        let handed = app
            .events(env, env)
            .await
            .into_iter()
            .rfind(|e| e.kind == Kind::HandedOff)
            .unwrap();
        assert_eq!(handed.set, "canary,qa", "{env}");
        assert_eq!(handed.reason, "release 4.2");
    }
    let canary = app.events("canary", "canary").await;
    let qa = app.events("qa", "qa").await;
    let (a, b) = (canary.last().unwrap(), qa.last().unwrap());
    assert_eq!(a.at, b.at, "both handed over in one step");
    assert!(a.fence > 0 && b.fence > 0);

    // Her set given back, canary goes on to dave.
    app.ok("alice", "unlock canary,qa").await;
    until_held_by(&app, "canary", "console:dave").await;
    assert_eq!(holder(&app, "qa").await, None);
}

#[tokio::test]
async fn leaving_a_set_hands_the_envs_it_kept_to_whoever_waits_next() {
    let app = spawn_core().await;
    app.ok("carol", "lock qa 20m tests").await;
    app.ok("alice", "queue canary,qa 30m").await;
    app.ok("dave", "queue canary 10m").await;
    assert_eq!(holder(&app, "canary").await, None);

    let left = app.ok("alice", "leave canary,qa").await;
    assert_eq!(left.title, "alice left the queues for canary and qa");
    assert_eq!(
        holder(&app, "canary").await.as_deref(),
        Some("console:dave"),
        "dave is next on canary the moment alice leaves"
    );
    let text = app.refused("alice", "leave canary,qa").await.to_string();
    assert!(
        text.contains("not waiting for canary and qa together"),
        "{text}"
    );
}

#[tokio::test]
async fn a_set_asked_for_while_free_is_taken_at_once_and_asking_twice_keeps_one_place() {
    let app = spawn_core().await;
    let reply = app.ok("alice", "queue canary,qa 30m").await;
    assert_eq!(reply.title, "alice locked canary and qa for 30m");
    app.ok("alice", "unlock canary,qa").await;

    app.ok("bob", "lock qa 20m").await;
    app.ok("alice", "queue canary,qa 30m").await;
    let again = app.ok("alice", "queue canary,qa 30m").await;
    assert_eq!(
        again.title,
        "alice already waits for canary and qa together"
    );
    let queued = app
        .events("qa", "qa")
        .await
        .into_iter()
        .filter(|e| e.kind == Kind::Queued)
        .count();
    assert_eq!(queued, 1, "one place in qa's line");
    // A single place of one's own in one of the lines is named, and nothing is queued.
    app.ok("alice", "leave canary,qa").await;
    app.ok("alice", "queue qa").await;
    let text = app.refused("alice", "queue canary,qa").await.to_string();
    assert!(
        text.contains("you already wait for qa on its own"),
        "{text}"
    );
}

#[tokio::test]
async fn a_pipeline_waits_for_a_set_on_the_server_and_is_granted_whole_or_told_what_stands_in_the_way(
) {
    let mut app = spawn_core().await;
    app.start_instance().await;
    app.ok("bob", "lock qa 20m tests").await;
    let http = TestApp::http(crate::support::TOKEN_ALL);

    let url = app.url("/api/v1/locks");
    let waiting = {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            http.post(url)
                .header("Idempotency-Key", "train-42")
                .json(&serde_json::json!({"envs": ["canary", "qa"], "ttl": "10m", "wait": "30s", "holder": "train #42"}))
                .send()
                .await
                .unwrap()
        })
    };
    // Its place is taken in both lines; dave queues for canary after it.
    for _ in 0..100 {
        let queued = app.events("qa", "qa").await;
        if queued
            .iter()
            .any(|e| e.kind == Kind::Queued && e.set == "canary,qa")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.ok("dave", "queue canary 10m").await;
    assert_eq!(holder(&app, "canary").await, None);

    app.ok("bob", "unlock qa").await;
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting request is answered once the set is free")
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let granted: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(granted["holder"], "train #42");
    assert_eq!(granted["locks"].as_array().unwrap().len(), 2);
    let token = granted["token"].as_str().unwrap().to_string();
    let dave_waits = app.events("canary", "canary").await;
    assert!(
        !dave_waits
            .iter()
            .any(|e| e.kind == Kind::HandedOff && e.holder == "console:dave"),
        "dave did not overtake the set"
    );

    let released = http
        .delete(&url)
        .json(&serde_json::json!({"envs": ["canary", "qa"], "token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status().as_u16(), 200);
    assert_eq!(
        holder(&app, "canary").await.as_deref(),
        Some("console:dave")
    );

    // A wait that runs out answers 409 naming what is in the way, and leaves no place behind.
    app.ok("bob", "lock qa 20m tests").await;
    let late = http
        .post(&url)
        .json(&serde_json::json!({"envs": ["canary", "qa"], "wait": "2s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status().as_u16(), 409);
    let body: serde_json::Value = late.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("nothing was locked when the wait ran out:"),
        "{message}"
    );
    assert!(message.contains("canary is locked by dave"), "{message}");
    assert!(message.contains("qa is locked by bob"), "{message}");
    app.ok("bob", "unlock qa").await;
    assert_eq!(
        holder(&app, "qa").await,
        None,
        "no set place was left in qa's line"
    );
}

#[tokio::test]
async fn a_waiting_pipeline_whose_wait_runs_out_does_not_take_an_env_kept_for_a_set() {
    let mut app = spawn_core().await;
    app.start_instance().await;
    app.ok("bob", "lock qa 20m tests").await;
    // canary is free, and kept for alice, who waits for canary and qa together.
    app.ok("alice", "queue canary,qa 30m release").await;
    let answer = TestApp::http(crate::support::TOKEN_ALL)
        .post(app.url("/api/v1/locks/canary"))
        .json(&serde_json::json!({"holder": "deploy #9", "wait": "2s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 423);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "reserved", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("kept for alice, first in line"),
        "{body}"
    );
    assert_eq!(
        holder(&app, "canary").await,
        None,
        "canary stayed kept for alice"
    );
    app.ok("bob", "unlock qa").await;
    let text = app.refused("erin", "lock canary").await.to_string();
    assert!(text.contains("kept for alice"), "{text}");
}
