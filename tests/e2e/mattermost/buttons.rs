//! Button presses: Mattermost posts the action's context back unsigned, so only a context Baton
//! signed runs anything, and it runs as whoever pressed.

use std::time::Duration;

use baton_adapters::mattermost::Signer;
use baton_commands::store::audit::Kind;
use serde_json::{json, Value};

use super::{
    action, actions, mattermost_app, texts, Mattermost, Who, ACTION_SECRET, BOB, CHANNEL, JANE,
};

impl Mattermost {
    /// Presses an action whose context is `context`, in `channel`, as `who`; the JSON answer.
    async fn press_in(&self, who: Who, channel: &str, context: &Value) -> Value {
        // The request Mattermost makes (PostActionIntegrationRequest), every field it sends.
        let body = json!({
            "user_id": who.0,
            "user_name": who.1,
            "channel_id": channel,
            "channel_name": "deploys",
            "team_id": "teamteamteamteamteamteam01",
            "team_domain": "acme",
            "post_id": "p0stp0stp0stp0stp0stp0st02",
            "trigger_id": "dHJpZ2dlcjpqYW5lOjE3OTU3MTEyMDA6c2ln",
            "type": "",
            "data_source": "",
            "context": context,
        });
        let r = self
            .http
            .post(self.app.url("/mattermost/actions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Presses the button `label` of `message` as `who`.
    async fn press(&self, who: Who, message: &Value, label: &str) -> Value {
        let context = action(message, label)["integration"]["context"].clone();
        self.press_in(who, CHANNEL, &context).await
    }
}

#[tokio::test]
async fn a_press_with_a_forged_or_expired_context_runs_nothing() {
    let m = mattermost_app().await;
    let locked = m.slash(JANE, "lock qa 10m").await;
    let mine = action(&locked, "Unlock")["integration"]["context"].clone();
    let before = m.app.snapshot().await;

    let mut forged = mine.clone();
    forged["command"] = json!("unlock qa --force");
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60;
    let ours = Signer::new(ACTION_SECRET.as_bytes(), Duration::from_secs(3600));
    let expired = ours.context_until("unlock qa", CHANNEL, false, &[], past);
    let theirs = Signer::new(b"someone else's key", Duration::from_secs(3600));
    let foreign = theirs.context("unlock qa", CHANNEL, false, &[], 0);
    for (what, who, channel, context, says) in [
        (
            "a changed command",
            JANE,
            CHANNEL,
            forged,
            "not made by this Baton",
        ),
        (
            "another key",
            JANE,
            CHANNEL,
            foreign,
            "not made by this Baton",
        ),
        (
            "a bare command",
            JANE,
            CHANNEL,
            json!({"command": "unlock qa"}),
            "not made by this Baton",
        ),
        (
            "no context",
            JANE,
            CHANNEL,
            Value::Null,
            "not made by this Baton",
        ),
        ("an expired context", JANE, CHANNEL, expired, "has expired"),
        (
            "another channel",
            JANE,
            "0therchannel0therchannel01",
            mine.clone(),
            "another channel",
        ),
    ] {
        let answer = m.press_in(who, channel, &context).await;
        let text = answer["ephemeral_text"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{what}: {answer}");
        assert!(answer.get("update").is_none(), "{what}: the post stays");
    }
    assert_eq!(m.app.snapshot().await, before, "nothing changed");
    assert_eq!(
        m.holder("qa").await.as_deref(),
        Some(format!("mattermost:{}", JANE.0).as_str())
    );
}

#[tokio::test]
async fn a_press_with_batons_own_context_runs_as_the_presser_and_updates_the_post() {
    let m = mattermost_app().await;
    let locked = m.slash(JANE, "lock qa 10m").await;

    // Bob presses Jane's Unlock: it runs as Bob, so it is refused, to him alone.
    let refused = m.press(BOB, &locked, "Unlock").await;
    assert!(
        refused["ephemeral_text"]
            .as_str()
            .unwrap_or_default()
            .contains("locked by jane, not by you"),
        "{refused}"
    );
    assert!(refused.get("update").is_none());

    // Bob's own `lock qa` is refused privately, with a Queue button; pressing it puts Bob in
    // line, posts the change to the channel as the bot and updates his private answer.
    let taken = m.slash(BOB, "lock qa").await;
    assert_eq!(taken["response_type"], "ephemeral", "{taken}");
    let queue = actions(&taken)
        .into_iter()
        .find(|a| a["integration"]["context"]["command"] == "queue qa")
        .unwrap_or_else(|| panic!("no queue button in {taken}"));
    assert_eq!(queue["integration"]["context"]["private"], true);
    let queued = m
        .press_in(BOB, CHANNEL, &queue["integration"]["context"])
        .await;
    assert!(
        texts(&queued["update"]).contains("posted in the channel"),
        "{queued}"
    );
    let posted = m.server.wait_for("/api/v4/posts", 1, 5).await;
    assert_eq!(posted.body["channel_id"], CHANNEL);
    assert!(
        texts(&posted.body).contains("bob is #1 in line for qa"),
        "{:?}",
        posted.body
    );

    // Jane presses her Unlock: the post is replaced in place, and qa passes to Bob.
    let unlocked = m.press(JANE, &locked, "Unlock").await;
    let update = &unlocked["update"];
    assert!(texts(update).contains("jane unlocked qa"), "{unlocked}");
    assert!(unlocked.get("ephemeral_text").is_none(), "{unlocked}");
    assert_eq!(
        m.holder("qa").await.as_deref(),
        Some(format!("mattermost:{}", BOB.0).as_str())
    );
    let status = m.slash(JANE, "status qa").await;
    assert!(texts(&status).contains("bob"), "{status}");
    let events = m.app.events("qa", "qa").await;
    let unlock = events
        .iter()
        .find(|e| e.kind == Kind::Unlocked)
        .unwrap_or_else(|| panic!("no unlock in {events:#?}"));
    assert_eq!(unlock.holder, format!("mattermost:{}", JANE.0));
    assert_eq!(unlock.display, "jane");
}
