//! The two-person rule: on an env with `approvals = 1`, a lock is a pending request until someone
//! else who may deploy approves it (command or button); self-approval is refused; a rejection or
//! the timeout ends it; admins bypass, on the record; a pipeline polls with its key or waits.

use std::time::Duration;

use baton_commands::config::Config;
use baton_commands::reply::Value;
use baton_commands::store::audit::Kind;
use baton_commands::BatonError;

use crate::support::{spawn_core_with, TestApp, TOKEN_ALL};

fn prod_needs_one(c: &mut Config) {
    let prod = c
        .envs
        .iter_mut()
        .find(|e| e.name.as_str() == "prod")
        .unwrap();
    prod.approvals = 1;
    prod.approval_timeout = Some(Duration::from_secs(2));
}

fn request_of(reply: &baton_commands::reply::Reply) -> String {
    let field = reply.fields.iter().find(|f| f.name == "Request").unwrap();
    match &field.value {
        Value::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_lock_waits_for_someone_else_s_approval_and_history_names_both() {
    let app = spawn_core_with(prod_needs_one).await;
    let pending = app.ok("alice", "lock prod 30m release 4.2").await;
    assert_eq!(
        pending.title,
        "alice asks to lock prod: waiting for 1 approval"
    );
    let request = request_of(&pending);
    assert!(request.starts_with('#'), "{request}");
    assert_eq!(
        pending.buttons[0].command,
        format!("reject prod {request}"),
        "the requester may withdraw"
    );
    let asked = app.events("prod", "prod").await;
    let asked = asked.last().unwrap();
    assert_eq!(asked.kind, Kind::ApprovalRequested);
    assert_eq!(format!("#{}", asked.request), request);

    // Nobody holds prod yet; the requester cannot approve; nor can someone without a role.
    let text = app.refused("alice", "approve prod").await.to_string();
    assert!(text.contains("cannot approve your own request"), "{text}");
    let no_role = app.refused("carol", "approve prod").await;
    assert!(matches!(no_role, BatonError::Forbidden(_)), "{no_role}");
    assert!(
        !app.events("prod", "prod")
            .await
            .iter()
            .any(|e| e.kind == Kind::Locked),
        "nothing was granted"
    );

    // Another deployer approves, with the announcement's button command: alice holds prod.
    let approved = app.ok("bob", &format!("approve prod {request}")).await;
    assert_eq!(approved.title, "bob approved: alice holds prod");
    let events = app.events("prod", "prod").await;
    let kinds: Vec<Kind> = events.iter().rev().take(2).map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Locked, Kind::Approved]);
    let locked = events.last().unwrap();
    assert_eq!(locked.holder, "console:alice");
    assert_eq!(locked.approved_by, "bob");
    assert_eq!(events[events.len() - 2].actor, "console:bob");
    let history = app.ok("bob", "history prod").await;
    let lines = format!("{history:?}");
    assert!(
        lines.contains("locked by alice (terminal console), approved by bob"),
        "{lines}"
    );
    assert!(
        lines.contains("bob (terminal console) approved alice's request (1 of 1)"),
        "{lines}"
    );

    // An admin takes it without approval, and that is on the record.
    app.ok("alice", "unlock prod").await;
    let bypass = app.ok("admin", "lock prod 10m hotfix").await;
    assert!(
        bypass
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("recorded as a bypass"),
        "{:?}",
        bypass.text
    );
    assert!(app.events("prod", "prod").await.last().unwrap().bypass);
    // A set with prod in it needs prod approved on its own first.
    app.ok("admin", "unlock prod").await;
    let text = app.refused("alice", "lock prod,qa").await.to_string();
    assert!(text.contains("prod needs approval"), "{text}");
}

#[tokio::test]
async fn a_rejection_or_the_timeout_ends_a_request_and_an_approved_busy_env_puts_it_in_line() {
    let mut app = spawn_core_with(prod_needs_one).await;
    app.start_sweeper(Duration::from_millis(50));
    app.ok("bob", "lock prod 30m deploy").await;
    let rejected = app.ok("alice", "reject prod not during the incident").await;
    assert_eq!(rejected.title, "alice rejected bob's request to lock prod");
    let last = app.events("prod", "prod").await.pop().unwrap();
    assert_eq!(
        (last.kind, last.actor.as_str(), last.reason.as_str()),
        (
            Kind::ApprovalRejected,
            "console:alice",
            "not during the incident"
        )
    );
    let text = app.refused("alice", "approve prod").await.to_string();
    assert!(
        text.contains("no request waits for approval on prod"),
        "{text}"
    );

    // Nobody decides: the request is rejected when its two seconds are up.
    app.ok("bob", "lock prod 30m deploy").await;
    let mut timed_out = false;
    for _ in 0..80 {
        let last = app.events("prod", "prod").await.pop().unwrap();
        if last.kind == Kind::ApprovalRejected && last.reason == "timed out" {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(timed_out, "the request timed out by itself");

    // Approved while someone holds prod (an admin, bypassing): bob joins its line.
    app.ok("admin", "lock prod 10m hotfix").await;
    app.ok("bob", "lock prod 30m deploy").await;
    let approved = app.ok("alice", "approve prod").await;
    assert_eq!(approved.title, "alice approved: bob is #1 in line for prod");
    app.ok("admin", "unlock prod").await;
    let last = app.events("prod", "prod").await.pop().unwrap();
    assert_eq!(
        (last.kind, last.holder.as_str()),
        (Kind::HandedOff, "console:bob")
    );
}

#[tokio::test]
async fn a_pipeline_polls_its_pending_request_with_its_key_or_waits_for_the_decision() {
    let mut app = spawn_core_with(prod_needs_one).await;
    app.start_instance().await;
    let http = TestApp::http(TOKEN_ALL);
    let url = app.url("/api/v1/locks/prod");
    let ask = |key: &'static str, body: serde_json::Value| {
        http.post(&url)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };

    // Without `wait`: 202 while pending (the same key polls), the grant once approved.
    let first = ask("deploy-1", serde_json::json!({"holder": "deploy #1"}))
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 202);
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["error"], "pending_approval");
    assert!(
        body["message"].as_str().unwrap().contains("approve prod"),
        "{body}"
    );
    let again = ask("deploy-1", serde_json::json!({"holder": "deploy #1"}))
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 202);
    let asked = app
        .events("prod", "prod")
        .await
        .into_iter()
        .filter(|e| e.kind == Kind::ApprovalRequested)
        .count();
    assert_eq!(asked, 1, "polling asks once");
    app.ok("bob", "approve prod").await;
    let granted = ask("deploy-1", serde_json::json!({"holder": "deploy #1"}))
        .await
        .unwrap();
    assert_eq!(granted.status().as_u16(), 200);
    let grant: serde_json::Value = granted.json().await.unwrap();
    let token = grant["token"].as_str().unwrap().to_string();
    http.delete(&url)
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .unwrap();

    // With `wait`: held open until approved, then granted.
    let waiting = {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            http.post(url)
                .json(&serde_json::json!({"holder": "deploy #2", "wait": "30s"}))
                .send()
                .await
                .unwrap()
        })
    };
    let mut asked = false;
    for _ in 0..100 {
        let last = app.events("prod", "prod").await.pop().unwrap();
        if last.kind == Kind::ApprovalRequested && last.display == "deploy #2" {
            asked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(asked);
    app.ok("alice", "approve prod").await;
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let grant: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(grant["holder"], "deploy #2");
    let token = grant["token"].as_str().unwrap().to_string();
    http.delete(&url)
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .unwrap();

    // Rejected while waiting: 403 naming who and why.
    let waiting = {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            http.post(url)
                .json(&serde_json::json!({"holder": "deploy #3", "wait": "30s"}))
                .send()
                .await
                .unwrap()
        })
    };
    for _ in 0..100 {
        let last = app.events("prod", "prod").await.pop().unwrap();
        if last.kind == Kind::ApprovalRequested && last.display == "deploy #3" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.ok("alice", "reject prod wrong build").await;
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body["message"],
        "alice rejected the lock on prod: wrong build"
    );
}
