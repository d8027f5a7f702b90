//! The two-person rule from the console: a lock asked for there is a pending request shown on
//! the env's row and page; another deployer approves it there; the requester is offered only a
//! Withdraw, and a forged approval of their own is refused by the core. Set waiters are named
//! with the envs they wait for together, and leave them together.

use std::time::Duration;

use baton_commands::config::Config;
use baton_commands::store::audit::Kind;

use super::signin::row;
use super::{spawn_web, Browser, WebApp};

fn prod_needs_one(c: &mut Config) {
    let prod = c
        .envs
        .iter_mut()
        .find(|e| e.name.as_str() == "prod")
        .unwrap();
    prod.approvals = 1;
    prod.approval_timeout = Some(Duration::from_secs(600));
}

/// Posts one console form as whoever `browser` is signed in as.
async fn act(web: &WebApp, browser: &mut Browser, form: &[(&str, &str)]) -> super::Page {
    let page = browser.get(&format!("{}/console", web.base)).await;
    let csrf = page.csrf().unwrap();
    let mut form = form.to_vec();
    form.push(("csrf", &csrf));
    browser
        .post(&format!("{}/console/act", web.base), &form)
        .await
}

/// The `<div class="request">` of request `id` on `body`.
fn request<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body
        .find(&format!(r#"<div class="request" id="request-{id}">"#))
        .unwrap_or_else(|| panic!("no request {id} shown: {body}"));
    let end = body[start..].find("</div>").unwrap() + start;
    &body[start..end]
}

#[tokio::test]
async fn a_lock_asked_for_in_the_console_waits_for_another_deployers_approval_there() {
    let Some(web) = spawn_web(prod_needs_one).await else {
        return;
    };
    let mut alice = Browser::new();
    let page = alice.sign_in(&web, "alice", "/console").await;
    let prod = row(&page.body, "prod");
    assert!(
        prod.contains(r#"data-action="lock""#) && prod.contains("Ask to lock"),
        "{prod}"
    );

    // Alice asks: prod is not hers yet, the request is on its row.
    let asked = act(
        &web,
        &mut alice,
        &[
            ("action", "lock"),
            ("env", "prod"),
            ("duration", "30m"),
            ("reason", "release 4.2"),
        ],
    )
    .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let events = web.app.events("prod", "prod").await;
    let requested = events.last().unwrap();
    assert_eq!(requested.kind, Kind::ApprovalRequested);
    let id = requested.request.clone();
    let page = alice.get(&format!("{}/console", web.base)).await;
    let prod = row(&page.body, "prod");
    let mine = request(&prod, &id);
    assert!(
        mine.contains("Alice Archer asks to lock: release 4.2 · 0 of 1 approvals · until "),
        "{mine}"
    );
    assert!(
        mine.contains(r#"data-action="withdraw""#) && !mine.contains(r#"data-action="approve""#),
        "the requester may withdraw, not approve: {mine}"
    );
    assert!(
        !prod.contains(r#"data-action="lock""#),
        "no second request: {prod}"
    );

    // A forged approval of her own request is refused by the core, and nothing is granted.
    let forged = act(
        &web,
        &mut alice,
        &[("action", "approve"), ("env", "prod"), ("target", &id)],
    )
    .await;
    assert_ne!(forged.status, 200, "{}", forged.body);
    assert!(
        forged.body.contains("cannot approve your own request"),
        "{}",
        forged.body
    );
    assert!(
        !web.app
            .events("prod", "prod")
            .await
            .iter()
            .any(|e| matches!(e.kind, Kind::Locked | Kind::Approved)),
        "nothing was approved"
    );

    // Someone without a role sees the request and no way to decide it.
    let mut nora = Browser::new();
    let page = nora.sign_in(&web, "nora", "/console").await;
    let theirs = request(&page.body, &id);
    assert!(!theirs.contains("<form"), "{theirs}");

    // Another deployer sees it on prod's page too, and approves it from its row.
    let mut ursula = Browser::new();
    ursula.sign_in(&web, "ursula", "/console").await;
    let page = ursula.get(&format!("{}/console/env/prod", web.base)).await;
    assert!(
        request(&page.body, &id).contains(r#"data-action="approve""#),
        "{}",
        page.body
    );
    let page = ursula.get(&format!("{}/console", web.base)).await;
    let theirs = request(&page.body, &id);
    assert!(
        theirs.contains(r#"data-action="approve""#)
            && theirs.contains(r#"data-action="reject""#)
            && theirs.contains(r#"name="reason""#),
        "{theirs}"
    );
    let approved = act(
        &web,
        &mut ursula,
        &[("action", "approve"), ("env", "prod"), ("target", &id)],
    )
    .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert!(
        approved
            .body
            .contains(&format!("You ran <code>approve prod #{id}</code>")),
        "{}",
        approved.body
    );

    // Alice holds prod: chat says so, and history names both and their road.
    let status = baton_adapters::console::render(&web.app.ok("bob", "status prod").await);
    assert!(status.contains("Alice Archer"), "{status}");
    let locked = web.app.events("prod", "prod").await;
    let locked = locked.last().unwrap();
    assert_eq!(
        (locked.kind, locked.holder.as_str()),
        (Kind::Locked, "oidc:alice")
    );
    let history = web.app.ok("bob", "history prod").await.text.unwrap();
    assert!(
        history.contains("locked by Alice Archer (web console), approved by Ursula Userinfo"),
        "{history}"
    );
    assert!(
        history.contains("Ursula Userinfo (web console) approved Alice Archer's request (1 of 1)"),
        "{history}"
    );
    let page = alice.get(&format!("{}/console", web.base)).await;
    let prod = row(&page.body, "prod");
    assert!(
        prod.contains(r#"data-action="unlock""#) && !prod.contains("request-"),
        "{prod}"
    );
}

#[tokio::test]
async fn another_deployer_rejects_with_a_reason_and_the_requester_may_withdraw() {
    let Some(web) = spawn_web(prod_needs_one).await else {
        return;
    };
    let mut alice = Browser::new();
    alice.sign_in(&web, "alice", "/console").await;
    let mut ursula = Browser::new();
    ursula.sign_in(&web, "ursula", "/console").await;
    let ask = [("action", "lock"), ("env", "prod")];
    let last_request = |events: Vec<baton_commands::store::audit::Event>| {
        events.last().map(|e| e.request.clone()).unwrap()
    };

    act(&web, &mut alice, &ask).await;
    let id = last_request(web.app.events("prod", "prod").await);
    let rejected = act(
        &web,
        &mut ursula,
        &[
            ("action", "reject"),
            ("env", "prod"),
            ("target", &id),
            ("reason", "2h before the incident review"),
        ],
    )
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    let events = web.app.events("prod", "prod").await;
    let decided = events.last().unwrap();
    assert_eq!(decided.kind, Kind::ApprovalRejected);
    assert_eq!(decided.reason, "2h before the incident review");
    assert_eq!(decided.actor, "oidc:ursula");

    // Asked again, then withdrawn from the console.
    act(&web, &mut alice, &ask).await;
    let id = last_request(web.app.events("prod", "prod").await);
    let withdrawn = act(
        &web,
        &mut alice,
        &[("action", "withdraw"), ("env", "prod"), ("target", &id)],
    )
    .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    let events = web.app.events("prod", "prod").await;
    let decided = events.last().unwrap();
    assert_eq!(
        (decided.kind, decided.reason.as_str()),
        (Kind::ApprovalRejected, "withdrawn")
    );
    let page = ursula.get(&format!("{}/console", web.base)).await;
    assert!(!page.body.contains("request-"), "nothing pending");
    let history = web.app.ok("bob", "history prod").await.text.unwrap();
    assert!(
        history.contains("Alice Archer (web console) withdrew their request"),
        "{history}"
    );
}

#[tokio::test]
async fn a_set_waiter_is_shown_with_the_envs_it_waits_for_together() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    web.app.ok("bob", "lock canary 30m").await;
    web.app.ok("dave", "lock qa 30m").await;
    web.app.ok("carol", "queue canary,qa 10m").await;
    let mut alice = Browser::new();
    let page = alice.sign_in(&web, "alice", "/console").await;
    let canary = row(&page.body, "canary");
    let qa = row(&page.body, "qa");
    assert!(canary.contains("carol (with qa)"), "{canary}");
    assert!(qa.contains("carol (with canary)"), "{qa}");

    // Alice waits for the pair too (from chat, as her console identity): she is offered to leave
    // both lines together, and does.
    web.app.ok("oidc:alice", "queue canary,qa 10m").await;
    let page = alice.get(&format!("{}/console", web.base)).await;
    let canary = row(&page.body, "canary");
    assert!(
        canary.contains(r#"data-action="leave-set""#)
            && canary.contains("Leave queues for canary, qa")
            && !canary.contains(r#"data-action="leave""#),
        "{canary}"
    );
    let left = act(
        &web,
        &mut alice,
        &[("action", "leave-set"), ("target", "canary,qa")],
    )
    .await;
    assert_eq!(left.status, 200, "{}", left.body);
    for env in ["canary", "qa"] {
        let events = web.app.events(env, env).await;
        let last = events.last().unwrap();
        assert_eq!(
            (last.kind, last.holder.as_str()),
            (Kind::LeftQueue, "oidc:alice"),
            "{env}"
        );
    }
}
