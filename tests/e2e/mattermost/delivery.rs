//! Outbound Mattermost: announcements through the notifier (exactly once, typed mentions inert),
//! DMs through the bot's direct channel, and Mattermost's rate limit passed on to the notifier.

use std::time::Duration;

use baton_adapters::mattermost::{Api, MattermostDelivery};
use baton_commands::domain::Secret;
use baton_commands::reply::{Reply, Tone, Value as Shown};
use baton_commands::{Delivery, DeliveryError};

use super::stand_in::{StandIn, BOT_ID, DM_CHANNEL};
use super::{mattermost_app_with, texts, ANNOUNCE, BOT_TOKEN, JANE};

#[tokio::test]
async fn an_announcement_posts_once_with_the_bot_token_and_a_typed_channel_mention_inert() {
    let m = mattermost_app_with(|c| {
        let qa = c.envs.iter_mut().find(|e| e.name.as_str() == "qa").unwrap();
        qa.announce = Some(vec![format!("mattermost:{ANNOUNCE}")]);
    })
    .await;
    // Changes from before the notifier's start are history, not news: wait for it to start.
    let mut con = m.app.redis().await;
    for _ in 0..200 {
        let started: bool = redis::AsyncCommands::exists(&mut con, "baton:{notify}:epoch")
            .await
            .unwrap();
        if started {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m.slash(
        JANE,
        "lock qa 10m release @channel @here ~town-square [go](https://evil.example)",
    )
    .await;
    let first = m.server.wait_for("/api/v4/posts", 1, 15).await;
    assert_eq!(first.method, "POST");
    assert_eq!(first.auth, Some(format!("Bearer {BOT_TOKEN}")));
    assert_eq!(first.body["channel_id"], ANNOUNCE);
    let shown = texts(&first.body);
    assert!(shown.contains("jane locked qa"), "{shown}");
    assert!(shown.contains("@\u{200B}channel @\u{200B}here"), "{shown}");
    for live in ["@channel", "@here", "~town", "[go](https"] {
        assert!(!shown.contains(live), "{live} is live in {shown}");
    }
    // The notifier has had time to post again, were it going to (it polls every second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(m.server.posts_to(ANNOUNCE).len(), 1, "exactly once");
}

#[tokio::test]
async fn a_dm_opens_the_bots_direct_channel_and_a_429_says_how_long_to_wait() {
    let server = StandIn::start().await;
    let token = Secret::new(BOT_TOKEN);
    let delivery = MattermostDelivery::new(Api::new(&server.url(""), &token), None);
    assert_eq!(delivery.platform(), "mattermost");
    let reply = Reply::new(Tone::Info, "qa is yours now", 1_795_711_200_000)
        .field("Since", Shown::Time(1_795_711_200_000));
    for _ in 0..2 {
        delivery
            .to_user(&format!("mattermost:{}", JANE.0), &reply)
            .await
            .unwrap();
    }
    assert_eq!(server.calls_to("/api/v4/users/me").len(), 1, "asked once");
    let opened = server.calls_to("/api/v4/channels/direct");
    assert_eq!(opened.len(), 2);
    assert_eq!(opened[0].body, serde_json::json!([BOT_ID, JANE.0]));
    let posts = server.posts_to(DM_CHANNEL);
    assert_eq!(posts.len(), 2);
    assert!(texts(&posts[0].body).contains("qa is yours now"));
    assert!(
        texts(&posts[0].body).contains("2026-11-26 16:40 UTC"),
        "times in the reply's zone: {:?}",
        posts[0].body
    );

    let limited = MattermostDelivery::new(Api::new(&server.url("/limited"), &token), None);
    assert_eq!(
        limited.to_channel(super::CHANNEL, &reply).await,
        Err(DeliveryError::RateLimited(Duration::from_secs(7)))
    );
    let gone = MattermostDelivery::new(Api::new(&server.url("/gone"), &token), None);
    assert!(matches!(
        gone.to_channel(super::CHANNEL, &reply).await,
        Err(DeliveryError::Refused(_))
    ));
    assert!(matches!(
        delivery.to_channel("town-square", &reply).await,
        Err(DeliveryError::Refused(_))
    ));
}
