//! The console's pages and actions: a lock from the console is the same lock chat sees, with the
//! console as its road; a form without its CSRF token changes nothing; typed text stays text;
//! the wall screen behind sign-in; the admin views for admins only.

use baton_commands::store::audit::Kind;

use super::signin::row;
use super::{spawn_web, Browser};

#[tokio::test]
async fn a_deployer_locks_qa_from_the_console_and_chat_and_history_say_so() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    let page = browser.sign_in(&web, "alice", "/console").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for env in ["prod", "canary", "qa", "staging-1"] {
        row(&page.body, env);
    }
    assert!(
        row(&page.body, "prod").contains(r#"data-action="lock""#),
        "alice is a deployer by her group"
    );
    let csrf = page.csrf().unwrap();

    let done = browser
        .post(
            &format!("{}/console/act", web.base),
            &[
                ("csrf", &csrf),
                ("action", "lock"),
                ("env", "qa"),
                ("duration", "30m"),
                ("reason", "release 4.2"),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("lock qa 30m release 4.2"),
        "{}",
        done.body
    );

    // Chat sees her holding it.
    let status = web.app.ok("bob", "status qa").await;
    let text = baton_adapters::console::render(&status);
    assert!(
        text.contains("Alice Archer") && text.contains("release 4.2"),
        "{text}"
    );
    let refused = web.app.refused("bob", "lock qa").await;
    assert!(refused.to_string().contains("Alice Archer"), "{refused}");

    // History names her identity, whose road is the console.
    let events = web.app.events("qa", "qa").await;
    let locked = events
        .iter()
        .find(|e| e.kind == Kind::Locked)
        .expect("a lock recorded");
    assert_eq!(locked.holder, "oidc:alice");
    let history = browser.get(&format!("{}/console/env/qa", web.base)).await;
    assert_eq!(history.status, 200);
    let table = &history.body[history.body.find(r#"id="history""#).unwrap()..];
    assert!(
        table.contains("Alice Archer") && table.contains(r#"<td class="road">web console</td>"#),
        "{table}"
    );
    assert!(
        history.body.contains(r#"class="hold""#),
        "the timeline draws her hold"
    );
    // Chat's `history qa` names the console as the road.
    let chat = web.app.ok("bob", "history qa").await.text.unwrap();
    assert!(
        chat.contains("locked by Alice Archer (web console): release 4.2"),
        "{chat}"
    );

    // The console now offers her the holder's actions.
    let page = browser.get(&format!("{}/console", web.base)).await;
    let qa = row(&page.body, "qa");
    assert!(
        qa.contains(r#"data-action="unlock""#) && qa.contains("Alice Archer"),
        "{qa}"
    );
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_403_and_changes_nothing() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    browser.sign_in(&web, "alice", "/console").await;
    let act = format!("{}/console/act", web.base);
    for (what, csrf) in [("no token", None), ("a wrong token", Some("not-the-token"))] {
        let mut form = vec![("action", "lock"), ("env", "qa")];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let page = browser.post(&act, &form).await;
        assert_eq!(page.status, 403, "{what}: {}", page.body);
    }
    // Without a session at all, too.
    let page = Browser::new()
        .post(&act, &[("action", "lock"), ("env", "qa")])
        .await;
    assert_eq!(page.status, 403);
    let events = web.app.events("qa", "qa").await;
    assert!(events.is_empty(), "nothing happened on qa: {events:?}");
}

#[tokio::test]
async fn what_people_typed_is_shown_as_text() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    web.app
        .ok(
            "bob",
            "lock canary 30m <script>alert(1)</script> <b>bold</b>",
        )
        .await;
    let mut browser = Browser::new();
    let page = browser.sign_in(&web, "alice", "/console").await;
    let canary = row(&page.body, "canary");
    assert!(
        canary.contains("&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;"),
        "{canary}"
    );
    assert!(!page.body.contains("<script") && !page.body.contains("<b>"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test]
async fn the_wall_screen_needs_a_sign_in_when_configured() {
    let Some(web) = spawn_web(|c| c.web.wall_needs_sign_in = true).await else {
        return;
    };
    let mut browser = Browser::new();
    let page = browser.get(&format!("{}/", web.base)).await;
    assert_eq!(page.status, 303);
    assert!(page.location().unwrap().path().starts_with("/web/login"));
    assert_eq!(
        browser
            .get(&format!("{}/status/envs.json", web.base))
            .await
            .status,
        403
    );
    let page = browser.sign_in(&web, "nora", "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.url.path() == "/",
        "back on the wall screen: {}",
        page.url
    );
    assert_eq!(
        browser
            .get(&format!("{}/status/envs.json", web.base))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_admin_views_calendar_and_history_pages_answer_whom_they_should() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut alice = Browser::new();
    let page = alice.sign_in(&web, "alice", "/console").await;
    assert!(
        !page.body.contains("/console/admin"),
        "no admin link for a deployer"
    );
    assert_eq!(
        alice
            .get(&format!("{}/console/admin", web.base))
            .await
            .status,
        403
    );
    assert_eq!(
        alice
            .get(&format!(
                "{}/console/calendar?tz=America/New_York",
                web.base
            ))
            .await
            .status,
        200
    );
    assert_eq!(
        alice
            .get(&format!("{}/console/env/nope", web.base))
            .await
            .status,
        404
    );

    let mut adam = Browser::new();
    let page = adam.sign_in(&web, "adam", "/console/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("BullMQ queues") && page.body.contains("admin history 20"),
        "{}",
        page.body
    );
    let prod = row(
        &adam.get(&format!("{}/console", web.base)).await.body,
        "prod",
    );
    assert!(prod.contains(r#"data-action="freeze""#), "{prod}");
}

#[tokio::test]
async fn the_freeze_calendar_shows_two_weeks_in_the_readers_zone_and_offers_skips_to_admins() {
    let window = "[[freezes]]\nname = \"weekend\"\nenvs = [\"prod\"]\ncron = \"0 16 * * FRI\"\nduration = \"64h\"\nreason = \"no deploys over the weekend\"\ntimezone = \"Europe/Berlin\"\n";
    let extra = baton_commands::Config::from_toml_str(window).unwrap();
    let Some(web) = spawn_web(|c| c.freezes = extra.freezes).await else {
        return;
    };
    let mut alice = Browser::new();
    alice.sign_in(&web, "alice", "/console").await;
    let page = alice
        .get(&format!(
            "{}/console/calendar?tz=America/New_York",
            web.base
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Times in America/New_York"),
        "the reader's zone is named"
    );
    assert_eq!(page.body.matches(r#"<div class="day">"#).count(), 14);
    let windows = &page.body[page.body.find(r#"id="windows""#).unwrap()..];
    assert!(windows.contains("weekend") && windows.contains("no deploys over the weekend"));
    assert!(
        windows.contains(" EST") || windows.contains(" EDT"),
        "{windows}"
    );
    assert!(!page.body.contains("freeze-skip"), "skips are for admins");

    let mut adam = Browser::new();
    let page = adam.sign_in(&web, "adam", "/console/calendar").await;
    assert!(
        page.body.contains(r#"value="freeze-skip""#),
        "{}",
        page.body
    );
    let csrf = page.csrf().unwrap();
    let done = adam
        .post(
            &format!("{}/console/act", web.base),
            &[
                ("csrf", &csrf),
                ("action", "freeze-skip"),
                ("target", "weekend"),
                ("reason", "release week"),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let skipped = web.app.events("prod", "prod").await;
    assert!(
        skipped
            .iter()
            .any(|e| e.kind == Kind::WindowSkipped && e.actor == "oidc:adam"),
        "{skipped:?}"
    );
}
