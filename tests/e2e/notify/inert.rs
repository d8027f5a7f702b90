//! Text from people and pipelines never pings or links: a holder name, a reason, a version, a
//! link, and an admin command's argument carrying every kind of mention and link go through
//! every message kind, and each message renders inert on Slack, on Discord and on the page.

use std::time::Duration;

use baton_adapters::discord::render::render;
use baton_adapters::slack::blocks;
use baton_commands::reply::Reply;
use serde_json::{json, Value};

use super::{announce, quick, recorder, start, until, Log};
use crate::support::{spawn_core_with, TestApp, TOKEN_ALL};

const TYPED: &str =
    "<@U999> <!channel> <!here> <https://x.example|y> @everyone [x](https://y.example)";

fn assert_inert_on_slack(r: &Reply) {
    let v = serde_json::to_value(blocks::content(r, None))
        .unwrap()
        .to_string();
    for live in ["<@", "<!channel", "<!here", "<http"] {
        assert!(!v.contains(live), "{live} is live on Slack in {v}");
    }
}

fn assert_inert_on_discord(r: &Reply) {
    let v = serde_json::to_value(render(r).channel_message()).unwrap();
    assert_eq!(v["allowed_mentions"]["parse"], json!([]), "{v}");
    let v = v.to_string();
    for live in ["[x](", "@everyone", "@here"] {
        assert!(!v.contains(live), "{live} is live on Discord in {v}");
    }
    assert!(
        !v.replace("\\\\<", "").contains("<@"),
        "a mention on Discord in {v}"
    );
}

async fn ci(app: &TestApp, path: &str, body: Value) -> Value {
    let r = TestApp::http(TOKEN_ALL)
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typed_mentions_and_links_render_inert_in_every_message_kind_and_on_the_page() {
    let mut app = spawn_core_with(|c| {
        for env in ["qa", "canary"] {
            announce(c, env, &["slack:CALL", "discord:555500000000000005"]);
        }
        c.roles.deployer.push("slack:bob".into());
    })
    .await;
    app.start_instance().await;
    let log = Log::default();
    let _instance = start(
        &app,
        vec![recorder("slack", 0, &log), recorder("discord", 0, &log)],
        quick(),
    )
    .await;

    let mut replies: Vec<Reply> = Vec::new();
    // A pipeline's holder name, version and link.
    let lock = ci(
        &app,
        "/api/v1/locks/qa",
        json!({"holder": TYPED, "ttl": "10m", "reason": TYPED}),
    )
    .await;
    ci(
        &app,
        "/api/v1/deploys/qa",
        json!({"version": TYPED, "url": TYPED, "sha": "abc1234", "fence": lock["fence"]}),
    )
    .await;
    // People's reasons: lock, queue, hand-off (a DM), extend, unlock, freeze, unfreeze.
    for (who, text) in [
        ("slack:alice", format!("lock canary 10m {TYPED}")),
        ("slack:bob", format!("queue canary 10m {TYPED}")),
        ("slack:alice", "extend canary 5m".to_string()),
        ("slack:alice", "unlock canary".to_string()),
        ("console:admin", format!("freeze qa 1h {TYPED}")),
        ("console:admin", "unfreeze qa".to_string()),
        ("console:admin", format!("admin kick {TYPED}")),
        ("slack:alice", "history canary 50".to_string()),
        ("slack:alice", "status".to_string()),
    ] {
        replies.push(match app.run(who, &text).await {
            Ok(r) | Err((_, r)) => r,
        });
    }
    let kinds = [
        "locked qa",
        "deployed",
        "locked canary",
        "joined the queue",
        "now holds canary",
        "extended",
        "unlocked canary",
        "froze qa",
        "unfroze qa",
    ];
    let heard = || {
        let log = log.lock().unwrap();
        let all: String = log
            .iter()
            .map(|s| format!("{} {:?}\n", s.reply.title, s.reply.text))
            .collect();
        kinds.iter().all(|k| all.contains(k)) && log.iter().any(|s| s.to.starts_with("dm:"))
    };
    assert!(until(10, heard).await, "{:#?}", log.lock().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    replies.extend(log.lock().unwrap().iter().map(|s| s.reply.clone()));
    let carrying = replies
        .iter()
        .filter(|r| format!("{r:?}").contains("<@U999>"))
        .count();
    assert!(
        carrying >= 8,
        "the typed text reached only {carrying} messages"
    );
    for r in &replies {
        assert_inert_on_slack(r);
        assert_inert_on_discord(r);
    }

    let page = reqwest::get(app.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;@U999&gt;"),
        "the typed holder is on the page, escaped"
    );
    for live in ["<@U999", "<!channel", "<https://x"] {
        assert!(!page.contains(live), "{live} on the page");
    }
}
