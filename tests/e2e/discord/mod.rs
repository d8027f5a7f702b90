//! Discord over HTTP against real Redis: signed interactions in, Discord's API faked out.

mod harness;

use std::sync::atomic::Ordering;
use std::time::Duration;

use baton_adapters::discord::delivery::DiscordDelivery;
use baton_adapters::discord::rest::Rest;
use baton_adapters::discord::{limits, register};
use baton_commands::domain::Secret;
use baton_commands::reply::{Reply, Tone};
use baton_commands::{Delivery, DeliveryError};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use harness::*;

#[tokio::test]
async fn a_ping_is_answered_with_a_pong() {
    let d = spawn_discord(|_| {}).await;
    let ping = json!({"id": "1", "application_id": APP_ID, "type": 1, "token": "t", "version": 1});
    assert_eq!(d.post(&ping).await, (200, json!({"type": 1})));
}

#[tokio::test]
async fn a_slash_lock_takes_the_env_and_a_second_member_sees_the_holder_and_a_join_queue_button() {
    let d = spawn_discord(|_| {}).await;
    let lock = |who| {
        slash(
            who,
            "lock",
            json!([
                s("env", "prod"),
                s("duration", "30m"),
                s("reason", "hotfix 4.2")
            ]),
        )
    };

    let (status, answer) = d.post(&lock(&ALICE)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], 4, "CHANNEL_MESSAGE_WITH_SOURCE: {answer}");
    assert_eq!(title(&answer), "Alice locked prod for 30m");
    assert!(
        !ephemeral(&answer),
        "a lock is announced to the channel: {answer}"
    );
    let fields = answer["data"]["embeds"][0]["fields"].to_string();
    assert!(
        fields.contains("hotfix 4.2") && fields.contains("<t:"),
        "{fields}"
    );
    assert_eq!(custom_ids(&answer), ["unlock prod", "extend prod 1h"]);
    assert_eq!(d.holder("prod").await.as_deref(), Some("discord:111"));
    assert!(d.locked("prod").await);

    let (_, answer) = d.post(&lock(&BOB)).await;
    assert_eq!(answer["type"], 4);
    assert!(
        ephemeral(&answer),
        "a refusal is for the asker only: {answer}"
    );
    assert!(
        title(&answer).starts_with("prod is locked by Alice since"),
        "{answer}"
    );
    assert!(title(&answer).contains(": hotfix 4.2"), "{answer}");
    assert_eq!(custom_ids(&answer), ["queue prod"]);
    assert_eq!(d.holder("prod").await.as_deref(), Some("discord:111"));
}

/// One way a request's signature can be wrong.
struct Forged {
    what: &'static str,
    body: String,
    signature: Option<String>,
    timestamp: Option<String>,
}

#[tokio::test]
async fn unsigned_tampered_and_stale_requests_get_401_and_change_nothing() {
    let d = spawn_discord(|_| {}).await;
    let body = slash(&ALICE, "lock", json!([s("env", "qa")])).to_string();
    let other_key = SigningKey::generate(&mut rand::rngs::OsRng);
    let now = unix_now() as i64;
    let at = |offset: i64| (now + offset).to_string();
    let forged = |what, body: &str, signature: Option<String>, timestamp: Option<String>| Forged {
        what,
        body: body.to_string(),
        signature,
        timestamp,
    };
    let cases = [
        forged("no headers", &body, None, None),
        forged(
            "no timestamp",
            &body,
            Some(sign(&d.key, &at(0), &body)),
            None,
        ),
        forged("no signature", &body, None, Some(at(0))),
        forged(
            "signed by another key",
            &body,
            Some(sign(&other_key, &at(0), &body)),
            Some(at(0)),
        ),
        forged(
            "body changed after signing",
            &body.replace("\"qa\"", "\"canary\""),
            Some(sign(&d.key, &at(0), &body)),
            Some(at(0)),
        ),
        forged(
            "signature not hex",
            &body,
            Some("zz".repeat(64)),
            Some(at(0)),
        ),
        forged(
            "signed six minutes ago",
            &body,
            Some(sign(&d.key, &at(-360), &body)),
            Some(at(-360)),
        ),
        forged(
            "signed six minutes ahead",
            &body,
            Some(sign(&d.key, &at(360), &body)),
            Some(at(360)),
        ),
    ];
    let before = d.app.snapshot().await;
    for case in &cases {
        let mut headers = Vec::new();
        if let Some(sig) = &case.signature {
            headers.push(("x-signature-ed25519", sig.as_str()));
        }
        if let Some(ts) = &case.timestamp {
            headers.push(("x-signature-timestamp", ts.as_str()));
        }
        let (status, _) = d.post_raw(&case.body, &headers).await;
        assert_eq!(status, 401, "{}", case.what);
    }
    assert_eq!(d.app.snapshot().await, before, "nothing changed");
    assert!(!d.locked("qa").await);
}

#[tokio::test]
async fn the_holders_button_press_releases_and_updates_the_message_and_anyone_elses_is_refused_privately(
) {
    let d = spawn_discord(|_| {}).await;
    let (_, locked) = d
        .post(&slash(&ALICE, "lock", json!([s("env", "prod")])))
        .await;
    assert_eq!(custom_ids(&locked)[0], "unlock prod", "{locked}");
    let message = &locked["data"];

    let (status, answer) = d.post(&press(&BOB, "unlock prod", message)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], 4, "a refusal is a new message: {answer}");
    assert!(ephemeral(&answer), "{answer}");
    assert!(
        title(&answer).contains("locked by Alice, not by you"),
        "{answer}"
    );
    assert_eq!(
        d.holder("prod").await.as_deref(),
        Some("discord:111"),
        "the lock stays"
    );

    let (_, answer) = d.post(&press(&ALICE, "unlock prod", message)).await;
    assert_eq!(answer["type"], 7, "UPDATE_MESSAGE: {answer}");
    assert_eq!(title(&answer), "Alice unlocked prod");
    assert!(!d.locked("prod").await);
}

#[tokio::test]
async fn a_change_pressed_on_a_private_prompt_is_posted_for_the_channel_and_extend_keeps_the_buttons(
) {
    let d = spawn_discord(|_| {}).await;
    let lock = |who| slash(who, "lock", json!([s("env", "prod")]));
    let (_, locked) = d.post(&lock(&ALICE)).await;
    let (_, refused) = d.post(&lock(&BOB)).await;
    assert!(ephemeral(&refused), "{refused}");
    assert_eq!(custom_ids(&refused), ["queue prod"]);

    let mut prompt = press(&BOB, "queue prod", &refused["data"]);
    prompt["message"]["flags"] = json!(64);
    let (_, answer) = d.post(&prompt).await;
    assert_eq!(
        answer["type"], 4,
        "a new message, not an update of the prompt: {answer}"
    );
    assert!(
        !ephemeral(&answer),
        "the channel sees Bob join the queue: {answer}"
    );
    assert!(title(&answer).contains("Bob"), "{answer}");

    let (_, answer) = d
        .post(&press(&ALICE, "extend prod 1h", &locked["data"]))
        .await;
    assert_eq!(answer["type"], 7, "UPDATE_MESSAGE: {answer}");
    assert_eq!(
        custom_ids(&answer),
        ["unlock prod", "extend prod 1h"],
        "the hold's buttons stay: {answer}"
    );
}

#[tokio::test]
async fn a_member_whose_guild_role_is_mapped_to_admin_may_force_unlock_and_others_may_not() {
    let d = spawn_discord(|_| {}).await;
    d.post(&slash(&ALICE, "lock", json!([s("env", "prod")])))
        .await;
    let force = |who| {
        slash(
            who,
            "unlock",
            json!([s("env", "prod"), {"name": "force", "type": 5, "value": true}]),
        )
    };

    let (_, answer) = d.post(&force(&BOB)).await;
    assert!(ephemeral(&answer), "{answer}");
    assert!(title(&answer).contains("needs the admin role"), "{answer}");
    assert!(
        title(&answer).contains("discord:222"),
        "names the identity to add: {answer}"
    );
    assert_eq!(d.holder("prod").await.as_deref(), Some("discord:111"));

    let (_, answer) = d.post(&force(&OPS)).await;
    assert_eq!(answer["type"], 4);
    assert!(!ephemeral(&answer), "{answer}");
    assert_eq!(title(&answer), "Ops force-unlocked prod, held by Alice");
    assert!(!d.locked("prod").await, "{answer}");
}

#[tokio::test]
async fn a_dm_invocation_takes_its_identity_from_the_user_object() {
    let d = spawn_discord(|_| {}).await;
    let (_, answer) = d
        .post(&slash(&DM_USER, "claim", json!([s("env", "staging")])))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(
        title(&answer).starts_with("Dee claimed staging-"),
        "{answer}"
    );
    let (_, answer) = d.post(&slash(&DM_USER, "help", json!([]))).await;
    assert!(ephemeral(&answer), "help is for the asker: {answer}");
    // `<` is escaped as Discord asks (so typed text cannot form a mention); it shows as `<`.
    assert!(answer["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("lock \\<env\\>"));
}

#[tokio::test]
async fn autocomplete_offers_the_configured_names_that_start_with_what_was_typed() {
    let d = spawn_discord(|_| {}).await;
    let typing = |sub: &str, option: &str, typed: &str| {
        envelope(
            4,
            &ALICE,
            json!({"id": "600000000000000001", "name": "baton", "type": 1,
            "options": [{"name": sub, "type": 1, "options": [
                {"name": option, "type": 3, "value": typed, "focused": true}]}]}),
        )
    };
    let choices = |answer: &Value| -> Vec<String> {
        assert_eq!(
            answer["type"], 8,
            "APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: {answer}"
        );
        answer["data"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap().to_string())
            .collect()
    };
    for (what, sub, option, typed, expected) in [
        (
            "envs only for lock",
            "lock",
            "env",
            "",
            vec![
                "prod",
                "canary",
                "qa",
                "staging-1",
                "staging-2",
                "staging-3",
            ],
        ),
        (
            "a prefix, any case",
            "lock",
            "env",
            "ST",
            vec!["staging-1", "staging-2", "staging-3"],
        ),
        (
            "pools for claim",
            "claim",
            "env",
            "stag",
            vec!["staging-1", "staging-2", "staging-3", "staging"],
        ),
        ("all for freeze", "freeze", "env", "a", vec!["all"]),
        (
            "commands for help",
            "help",
            "command",
            "admin k",
            vec!["admin kick"],
        ),
        ("nothing matches", "lock", "env", "zzz", vec![]),
    ] {
        let (_, answer) = d.post(&typing(sub, option, typed)).await;
        assert_eq!(choices(&answer), expected, "{what}");
    }
}

#[tokio::test]
async fn a_slow_command_is_deferred_and_its_answer_edited_into_the_original_response() {
    let d = spawn_discord(|c| c.discord.defer_after = Duration::ZERO).await;
    let (_, answer) = d
        .post(&slash(&ALICE, "lock", json!([s("env", "qa")])))
        .await;
    assert_eq!(
        answer["type"], 5,
        "DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: {answer}"
    );
    assert!(
        !ephemeral(&answer),
        "a state change is deferred in public: {answer}"
    );
    let edit = d
        .fake
        .wait_for(
            "PATCH",
            &format!("/api/v10/webhooks/{APP_ID}/interaction-token-abc/messages/@original"),
        )
        .await;
    assert_eq!(
        edit.body["embeds"][0]["title"], "Alice locked qa for 10m",
        "{edit:?}"
    );
    assert_eq!(
        edit.auth, None,
        "the interaction token authorizes webhook edits"
    );
    assert!(d.locked("qa").await);

    let (_, answer) = d.post(&slash(&ALICE, "status", json!([]))).await;
    assert_eq!(answer["type"], 5);
    assert!(ephemeral(&answer), "a read is deferred privately: {answer}");
}

#[tokio::test]
async fn a_slow_button_press_is_acknowledged_then_edits_its_message_or_follows_up_privately() {
    let d = spawn_discord(|c| c.discord.defer_after = Duration::ZERO).await;
    let original = format!("/api/v10/webhooks/{APP_ID}/interaction-token-abc/messages/@original");
    d.post(&slash(&ALICE, "lock", json!([s("env", "qa")])))
        .await;
    let message = d.fake.wait_for("PATCH", &original).await.body;
    d.fake.forget_calls();

    let (_, answer) = d.post(&press(&BOB, "unlock qa", &message)).await;
    assert_eq!(answer["type"], 6, "DEFERRED_UPDATE_MESSAGE: {answer}");
    let followup = d
        .fake
        .wait_for(
            "POST",
            &format!("/api/v10/webhooks/{APP_ID}/interaction-token-abc"),
        )
        .await;
    assert_eq!(
        followup.body["flags"], 64,
        "only Bob sees the refusal: {followup:?}"
    );
    let refused = followup.body["embeds"][0]["title"]
        .as_str()
        .unwrap_or_default();
    assert!(refused.contains("not by you"), "{refused}");
    assert!(d.locked("qa").await);

    let (_, answer) = d.post(&press(&ALICE, "unlock qa", &message)).await;
    assert_eq!(answer["type"], 6, "{answer}");
    let edit = d.fake.wait_for("PATCH", &original).await;
    assert_eq!(edit.body["embeds"][0]["title"], "Alice unlocked qa");
    assert!(!d.locked("qa").await);
}

#[tokio::test]
async fn the_registration_payload_keeps_within_discords_limits_and_register_puts_it_in_the_guild() {
    let payload = register::payload();
    let commands = payload.as_array().unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(limits::problems(&commands[0]), Vec::<String>::new());

    let (fake, api_url) = FakeDiscord::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["discord", "register", "--guild", "42"])
        .env_remove("BATON_CONFIG")
        .env("BATON_DISCORD__TOKEN", BOT_TOKEN)
        .env("BATON_DISCORD__API_URL", &api_url)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("in guild 42"), "{stdout}");
    let put = fake
        .wait_for("PUT", "/api/v10/applications/777/guilds/42/commands")
        .await;
    assert_eq!(put.auth.as_deref(), Some("Bot test-bot-token"));
    assert_eq!(put.body, payload, "what was sent is what was checked");
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.path == "/api/v10/applications/@me"),
        "the id was looked up"
    );
}

#[tokio::test]
async fn delivery_posts_channel_messages_and_dms_as_the_bot_and_a_429_is_rate_limited_with_discords_wait(
) {
    let (fake, api_url) = FakeDiscord::start().await;
    let delivery = DiscordDelivery::new(Rest::new(&api_url, Some(Secret::new(BOT_TOKEN))));
    let reply = Reply::new(Tone::Info, "prod's lock ends in 5m", 0).button(
        "Extend 1h",
        "extend prod 1h".into(),
        false,
    );

    delivery.to_channel("123456", &reply).await.unwrap();
    let posted = fake
        .wait_for("POST", "/api/v10/channels/123456/messages")
        .await;
    assert_eq!(posted.auth.as_deref(), Some("Bot test-bot-token"));
    assert_eq!(posted.body["embeds"][0]["title"], "prod's lock ends in 5m");
    assert_eq!(
        posted.body["components"][0]["components"][0]["custom_id"],
        "extend prod 1h"
    );
    assert_eq!(
        posted.body["allowed_mentions"]["parse"],
        json!([]),
        "no pings"
    );

    delivery.to_user("discord:98765", &reply).await.unwrap();
    let dm = fake.wait_for("POST", "/api/v10/users/@me/channels").await;
    assert_eq!(dm.body, json!({"recipient_id": "98765"}));
    fake.wait_for("POST", "/api/v10/channels/4444/messages")
        .await;

    assert!(matches!(
        delivery.to_channel("../../users", &reply).await,
        Err(DeliveryError::Refused(_))
    ));
    fake.rate_limited.store(true, Ordering::SeqCst);
    assert_eq!(
        delivery.to_channel("123456", &reply).await,
        Err(DeliveryError::RateLimited(Duration::from_millis(7500)))
    );
}
