//! Outbound Slack behind the core's `Delivery` trait, against the fake Web API.

use std::time::Duration;

use baton_adapters::slack::SlackDelivery;
use baton_commands::domain::Secret;
use baton_commands::reply::{Reply, Tone, Value as Shown};
use baton_commands::{Delivery, DeliveryError};

use super::fake::FakeSlack;
use super::texts;

#[tokio::test]
async fn delivery_posts_with_the_bot_token_and_maps_slacks_refusals() {
    let fake = FakeSlack::start().await;
    let token = Secret::new("xoxb-test-token");
    let reply = Reply::new(Tone::Info, "prod is free again", 1_795_711_200_000)
        .field("Since", Shown::Time(1_795_711_200_000));
    let slack = SlackDelivery::new(&fake.url("/api"), &token);
    assert_eq!(slack.platform(), "slack");
    slack.to_channel("C0DEPLOY", &reply).await.unwrap();
    let call = fake.wait_for("/api/chat.postMessage", 1, 5).await;
    assert_eq!(call.method, "POST");
    assert_eq!(call.auth.as_deref(), Some("Bearer xoxb-test-token"));
    assert_eq!(call.body["channel"], "C0DEPLOY");
    assert!(
        texts(&call.body).contains("prod is free again"),
        "{}",
        call.body
    );

    slack.to_user("slack:UJANE01", &reply).await.unwrap();
    let opened = fake.wait_for("/api/conversations.open", 1, 5).await;
    assert_eq!(opened.body["users"], "UJANE01");
    assert_eq!(
        fake.wait_for("/api/chat.postMessage", 2, 5).await.body["channel"],
        "D0DM"
    );

    let reply = &reply;
    let outcome = |prefix: &'static str| {
        let slack = SlackDelivery::new(&fake.url(prefix), &token);
        async move { slack.to_channel("C0DEPLOY", reply).await }
    };
    assert_eq!(
        outcome("/limited/api").await,
        Err(DeliveryError::RateLimited(Duration::from_secs(7)))
    );
    assert!(
        matches!(outcome("/gone/api").await, Err(DeliveryError::Refused(m)) if m.contains("channel_not_found"))
    );
    assert!(matches!(
        outcome("/down/api").await,
        Err(DeliveryError::Failed(_))
    ));
    assert_eq!(
        fake.calls_to("/limited").len(),
        1,
        "no retry of its own after a 429"
    );
}
