//! Socket Mode: the same commands and buttons over a websocket Baton opens to (a fake) Slack,
//! with no public URL and no signing secret.

use serde_json::json;

use super::fake::{FakeSlack, FakeSocket};
use super::{button_values, holder, press_payload, texts, CHANNEL, JANE};
use crate::support::spawn_core_with;
use baton_commands::domain::Secret;

#[tokio::test]
async fn socket_mode_runs_commands_and_presses_through_the_same_handler_as_http() {
    let fake = FakeSlack::start().await;
    let mut socket = FakeSocket::start().await;
    fake.open_sockets_at(socket.url());
    let api_url = fake.url("/api");
    let mut app = spawn_core_with(|c| {
        c.slack.app_token = Some(Secret::new("xapp-1-A0123456-test"));
        c.slack.api_url = api_url;
        c.roles.deployer.push(format!("slack:{}", JANE.0));
    })
    .await;
    app.start_instance().await;
    let mut slack = socket.connection().await;
    let opened = fake.wait_for("/api/apps.connections.open", 1, 5).await;
    assert_eq!(opened.auth.as_deref(), Some("Bearer xapp-1-A0123456-test"));

    let command = json!({
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0001", "team_domain": "example",
        "channel_id": CHANNEL, "channel_name": "deploys", "user_id": JANE.0, "user_name": JANE.1,
        "command": "/baton", "text": "lock prod 20m via socket", "api_app_id": "A0123456",
        "is_enterprise_install": "false", "response_url": fake.url("/response/socket-command"),
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    });
    slack.send("envelope-1", "slash_commands", command).await;
    let ack = slack.ack("envelope-1").await;
    let answer = &ack["payload"];
    assert_eq!(answer["response_type"], "in_channel", "{ack}");
    // The envelope's user_name, as over HTTP: never the Slack id.
    assert!(
        texts(answer).contains("*jane locked prod for 20m*"),
        "{answer}"
    );
    assert!(!texts(answer).contains("UJANE01"), "{answer}");
    // The public status page shows the name, never a platform id.
    let page: serde_json::Value = reqwest::get(app.url("/status/envs.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prod = page["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == "prod");
    assert_eq!(prod.unwrap()["lock"]["holder"], "jane", "{page}");
    assert!(!page.to_string().contains("UJANE01"), "{page}");
    assert_eq!(button_values(answer), ["unlock prod", "extend prod 1h"]);
    assert_eq!(holder(&app, "prod").await.as_deref(), Some("slack:UJANE01"));

    let url = fake.url("/response/socket-press");
    let press = press_payload(JANE, "unlock prod", Some(answer), &url);
    slack.send("envelope-2", "interactive", press).await;
    slack.ack("envelope-2").await;
    let updated = fake.wait_for("/response/socket-press", 1, 5).await.body;
    assert_eq!(updated["replace_original"], true, "{updated}");
    // A press payload does carry the user name.
    assert!(
        texts(&updated).contains("*jane unlocked prod*"),
        "{updated}"
    );
    assert_eq!(holder(&app, "prod").await, None);

    // Without a signing secret there are no HTTP routes to forge requests against.
    let r = reqwest::Client::new()
        .post(app.url("/slack/commands"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
