//! Slack over HTTP against real Redis: slash commands and button presses signed exactly as Slack
//! signs them, Slack's own side (Web API, `response_url`) replaced by a local fake.

mod delivery;
mod fake;
mod manifest;
mod socket;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_commands::config::Config;
use baton_commands::domain::Secret;
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::support::{spawn_core_with, TestApp};
use fake::{sign, FakeSlack};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CHANNEL: &str = "C2147483705";

/// A Slack user: id, user name. Jane and Bob are deployers, Eve has no role.
type Who = (&'static str, &'static str);
const JANE: Who = ("UJANE01", "jane");
const BOB: Who = ("UBOB002", "bob");
const EVE: Who = ("UEVE003", "eve");

struct Slack {
    app: TestApp,
    fake: FakeSlack,
    http: reqwest::Client,
}

/// How a request is signed.
enum Signing {
    Now,
    At(i64),
    WithSecret(&'static str),
    Unsigned,
}

async fn slack_app_with(edit: impl FnOnce(&mut Config)) -> Slack {
    let fake = FakeSlack::start().await;
    let api_url = fake.url("/api");
    let mut app = spawn_core_with(|c| {
        c.slack.signing_secret = Some(Secret::new(SECRET));
        c.slack.api_url = api_url;
        for (id, _) in [JANE, BOB] {
            c.roles.deployer.push(format!("slack:{id}"));
        }
        edit(c);
    })
    .await;
    app.start_instance().await;
    Slack {
        app,
        fake,
        http: reqwest::Client::new(),
    }
}

async fn slack_app() -> Slack {
    slack_app_with(|_| {}).await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `application/x-www-form-urlencoded`, encoded the way Slack encodes it.
fn form(pairs: &[(&str, &str)]) -> String {
    let req = reqwest::Client::new()
        .post("http://localhost/")
        .form(pairs)
        .build()
        .unwrap();
    String::from_utf8(req.body().unwrap().as_bytes().unwrap().to_vec()).unwrap()
}

/// A slash command form with every field Slack sends, used or not.
fn slash_form(who: Who, text: &str, response_url: &str) -> String {
    form(&[
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0001"),
        ("team_domain", "example"),
        ("enterprise_id", "E0001"),
        ("enterprise_name", "Globular Construct Inc"),
        ("channel_id", CHANNEL),
        ("channel_name", "deploys"),
        ("user_id", who.0),
        ("user_name", who.1),
        ("command", "/baton"),
        ("text", text),
        ("api_app_id", "A0123456"),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ])
}

/// A `block_actions` payload for pressing the Baton button that runs `command`, with the fields
/// Slack sends; `message` is the pressed message's blocks, `None` for an ephemeral one.
fn press_payload(who: Who, command: &str, message: Option<&Value>, response_url: &str) -> Value {
    let mut payload = json!({
        "type": "block_actions",
        "user": {"id": who.0, "username": who.1, "name": who.1, "team_id": "T0001"},
        "api_app_id": "A0123456",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "container": {"type": "message", "message_ts": "1795711200.000100",
                      "channel_id": CHANNEL, "is_ephemeral": message.is_none()},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": "T0001", "domain": "example", "enterprise_id": "E0001",
                 "enterprise_name": "Globular Construct Inc"},
        "enterprise": {"id": "E0001", "name": "Globular Construct Inc"},
        "is_enterprise_install": false,
        "channel": {"id": CHANNEL, "name": "deploys"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{
            "type": "button", "action_id": format!("baton:{command}"), "block_id": "Xa1",
            "text": {"type": "plain_text", "text": "Press", "emoji": true},
            "value": command, "action_ts": "1795711201.840180",
        }],
    });
    if let Some(m) = message {
        payload["message"] = json!({
            "type": "message", "subtype": "bot_message", "bot_id": "B0BATON", "app_id": "A0123456",
            "text": m["text"], "ts": "1795711200.000100", "team": "T0001", "blocks": m["blocks"],
        });
    }
    payload
}

/// The form Slack posts a press in: the payload as JSON in one field.
fn press_form(who: Who, command: &str, message: Option<&Value>, response_url: &str) -> String {
    let payload = press_payload(who, command, message, response_url);
    form(&[("payload", &payload.to_string())])
}

impl Slack {
    async fn post(&self, path: &str, body: String, signing: Signing) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded");
        let signed = match signing {
            Signing::Now => Some((now(), SECRET)),
            Signing::At(ts) => Some((ts, SECRET)),
            Signing::WithSecret(secret) => Some((now(), secret)),
            Signing::Unsigned => None,
        };
        if let Some((ts, secret)) = signed {
            req = req
                .header("x-slack-request-timestamp", ts.to_string())
                .header("x-slack-signature", sign(secret, ts, &body));
        }
        req.body(body).send().await.unwrap()
    }

    /// `/baton TEXT` as `who`; the status and the JSON answer.
    async fn slash(&self, who: Who, text: &str) -> (u16, Value) {
        let body = slash_form(who, text, &self.fake.url("/response/command"));
        let r = self.post("/slack/commands", body, Signing::Now).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Presses the button running `command` as `who`; returns what reached the response_url.
    async fn press(&self, who: Who, command: &str, message: Option<&Value>) -> Vec<Value> {
        static PRESSES: AtomicUsize = AtomicUsize::new(0);
        let path = format!(
            "/response/press-{}",
            PRESSES.fetch_add(1, Ordering::Relaxed)
        );
        let body = press_form(who, command, message, &self.fake.url(&path));
        let r = self.post("/slack/interactions", body, Signing::Now).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // A quick press is answered before the acknowledgement.
        self.fake
            .calls_to(&path)
            .into_iter()
            .map(|c| c.body)
            .collect()
    }

    async fn holder(&self, env: &str) -> Option<String> {
        holder(&self.app, env).await
    }
}

/// Who holds `env`'s lock, read from Redis behind Baton's back.
async fn holder(app: &TestApp, env: &str) -> Option<String> {
    let mut con = app.redis().await;
    con.hget(format!("baton:{{{env}}}:lockmeta:{env}"), "holder")
        .await
        .unwrap()
}

/// Every `text` in a Slack message, joined: what a reader sees, give or take layout.
fn texts(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("text", Value::String(s)) => s.clone(),
                _ => texts(v),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Array(items) => items.iter().map(texts).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// The `value` of every button in a message.
fn button_values(v: &Value) -> Vec<String> {
    let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
    blocks
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["value"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn a_signed_lock_answers_in_block_kit_and_a_second_user_is_offered_the_queue() {
    let s = slack_app().await;
    let (status, answer) = s.slash(JANE, "lock prod 30m hotfix").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response_type"], "in_channel", "{answer}");
    assert_eq!(
        answer["blocks"][0]["text"]["text"],
        ":white_check_mark: *jane locked prod for 30m*"
    );
    let shown = texts(&answer);
    for part in [
        "jane locked prod for 30m",
        "*Holder*\njane",
        "*Reason*\nhotfix",
        "*Fence*\n1",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    assert!(
        shown.contains("*Expires*\n<!date^") && shown.contains("{date_short_pretty} {time}|"),
        "expiry in the reader's time zone: {shown}"
    );
    assert_eq!(button_values(&answer), ["unlock prod", "extend prod 1h"]);
    assert_eq!(s.holder("prod").await.as_deref(), Some("slack:UJANE01"));

    let (status, refused) = s.slash(BOB, "lock prod").await;
    assert_eq!(status, 200);
    assert_eq!(refused["response_type"], "ephemeral", "{refused}");
    assert!(
        texts(&refused).contains("prod is locked by jane"),
        "{refused}"
    );
    assert_eq!(button_values(&refused), ["queue prod"]);

    // Bob joins the queue from his private answer: the channel hears it, his prompt goes away.
    let posted = s.press(BOB, "queue prod", None).await;
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert_eq!(posted[0]["response_type"], "in_channel");
    assert!(
        texts(&posted[0]).contains("bob is #1 in line for prod"),
        "{}",
        posted[0]
    );
    assert_eq!(posted[1], json!({"delete_original": true}));
}

#[tokio::test]
async fn a_button_takes_a_protected_env_only_for_whom_the_slash_command_would() {
    let s = slack_app().await;
    let (_, locked) = s.slash(JANE, "lock prod 30m hotfix").await;
    let (_, refused) = s.slash(EVE, "lock prod").await;
    assert!(
        texts(&refused).contains("needs the deployer role"),
        "{refused}"
    );
    let before = s.app.snapshot().await;
    // Eve presses the buttons a deployer's messages carry: refused, to her only, nothing written.
    for command in ["queue prod", "lock prod", "claim prod 1h"] {
        let posted = s.press(EVE, command, Some(&locked)).await;
        assert_eq!(posted.len(), 1, "{command}: {posted:?}");
        assert_eq!(posted[0]["response_type"], "ephemeral", "{command}");
        assert!(
            texts(&posted[0]).contains("needs the deployer role"),
            "{command}: {}",
            posted[0]
        );
    }
    assert_eq!(s.app.snapshot().await, before);
}

#[tokio::test]
async fn requests_slack_did_not_sign_are_refused_and_change_nothing() {
    let s = slack_app().await;
    s.slash(JANE, "lock qa 10m before").await;
    let before = s.app.snapshot().await;
    let url = s.fake.url("/response/forged");
    let lock = || slash_form(EVE, "unlock qa --force", &url);
    let huge = slash_form(
        JANE,
        &format!("lock canary {}", "x".repeat(70 * 1024)),
        &url,
    );
    let cases = [
        (
            "a wrong signature",
            lock(),
            Signing::WithSecret("not-the-secret"),
            401,
        ),
        ("no signature headers", lock(), Signing::Unsigned, 401),
        (
            "a timestamp 6 minutes old",
            lock(),
            Signing::At(now() - 360),
            401,
        ),
        (
            "a timestamp 6 minutes ahead",
            lock(),
            Signing::At(now() + 360),
            401,
        ),
        ("a body over the limit", huge, Signing::Now, 413),
    ];
    for (what, body, signing, expected) in cases {
        for path in ["/slack/commands", "/slack/interactions"] {
            let r = s.post(path, body.clone(), signing_copy(&signing)).await;
            assert_eq!(r.status().as_u16(), expected, "{what} on {path}");
        }
    }
    assert_eq!(s.app.snapshot().await, before, "nothing changed");
    assert!(s.fake.calls_to("/response/forged").is_empty());
}

fn signing_copy(s: &Signing) -> Signing {
    match s {
        Signing::Now => Signing::Now,
        Signing::At(ts) => Signing::At(*ts),
        Signing::WithSecret(k) => Signing::WithSecret(k),
        Signing::Unsigned => Signing::Unsigned,
    }
}

#[tokio::test]
async fn the_holders_press_releases_and_updates_the_message_and_anyone_elses_is_refused() {
    let s = slack_app().await;
    let (_, locked) = s.slash(JANE, "lock prod 30m hotfix").await;
    let (_, claimed) = s.slash(JANE, "claim staging-1 1h QA").await;

    let refused = s.press(BOB, "unlock prod", Some(&locked)).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["response_type"], "ephemeral");
    assert_eq!(refused[0]["replace_original"], false);
    assert!(
        texts(&refused[0]).contains("locked by jane, not by you"),
        "{}",
        refused[0]
    );
    assert_eq!(
        s.holder("prod").await.as_deref(),
        Some("slack:UJANE01"),
        "the lock stays"
    );

    let unlocked = s.press(JANE, "unlock prod", Some(&locked)).await;
    assert_eq!(unlocked.len(), 1, "{unlocked:?}");
    assert_eq!(unlocked[0]["replace_original"], true);
    assert!(
        texts(&unlocked[0]).contains("jane unlocked prod"),
        "{}",
        unlocked[0]
    );
    assert!(
        button_values(&unlocked[0]).is_empty(),
        "no buttons on a released lock"
    );
    assert_eq!(s.holder("prod").await, None, "released");

    let released = s.press(JANE, "release staging-1", Some(&claimed)).await;
    assert_eq!(released[0]["replace_original"], true);
    assert!(
        texts(&released[0]).contains("jane released staging-1"),
        "{}",
        released[0]
    );
}

#[tokio::test]
async fn extending_by_button_keeps_the_holds_buttons_on_the_updated_message() {
    let s = slack_app().await;
    let (_, locked) = s.slash(JANE, "lock canary 30m").await;
    let extended = s.press(JANE, "extend canary 1h", Some(&locked)).await;
    assert_eq!(extended[0]["replace_original"], true);
    assert!(texts(&extended[0]).contains("jane extended their lock on canary by 1h"));
    assert_eq!(
        button_values(&extended[0]),
        ["unlock canary", "extend canary 1h"]
    );
}

#[tokio::test]
async fn help_unknown_verbs_and_malformed_durations_answer_privately_with_usage() {
    let s = slack_app().await;
    let before = s.app.snapshot().await;
    let cases = [
        (
            "help",
            "help",
            &["Commands:", "lock &lt;env&gt;", "after `/baton`"][..],
        ),
        ("no text", "", &["Commands:"][..]),
        (
            "one command's help",
            "help lock",
            &["Examples:", "lock prod 30m hotfix for login"][..],
        ),
        (
            "an unknown verb",
            "lokc prod",
            &[
                "did you mean `lock`?",
                "Commands:",
                "`/baton help &lt;command&gt;`",
            ][..],
        ),
        (
            "a malformed duration",
            "lock prod 3x",
            &[
                "`3x` is not a duration",
                "Usage: lock &lt;env&gt;",
                "`/baton help lock`",
            ][..],
        ),
        (
            "a missing env",
            "extend",
            &["`extend` needs an &lt;env&gt;", "Usage: extend"][..],
        ),
    ];
    for (what, text, says) in cases {
        let (status, answer) = s.slash(EVE, text).await;
        assert_eq!(status, 200, "{what}");
        assert_eq!(answer["response_type"], "ephemeral", "{what}: {answer}");
        let shown = texts(&answer);
        for part in says {
            assert!(shown.contains(part), "{what}: `{part}` in {shown}");
        }
    }
    assert_eq!(s.app.snapshot().await, before);
}

#[tokio::test]
async fn a_command_slower_than_slacks_deadline_is_acknowledged_and_answered_on_the_response_url() {
    // A patient store (one Redis call may take a part of redis.timeout before it is retried)...
    let s = slack_app_with(|c| c.redis.timeout = Duration::from_secs(30)).await;
    // ...that holds every write for 3.5 s: the lock script cannot finish within Slack's 3 s.
    let mut con = s.app.redis().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3500)
        .arg("WRITE")
        .query_async(&mut con)
        .await
        .unwrap();
    let started = Instant::now();
    let (status, ack) = s.slash(JANE, "lock qa 10m slow store").await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ack["response_type"], "ephemeral", "{ack}");
    assert!(
        texts(&ack).contains("Working on `lock qa 10m slow store`"),
        "{ack}"
    );

    let follow_up = s.fake.wait_for("/response/command", 1, 10).await.body;
    assert_eq!(follow_up["response_type"], "in_channel", "{follow_up}");
    assert!(
        texts(&follow_up).contains("jane locked qa for 10m"),
        "{follow_up}"
    );
    assert_eq!(s.holder("qa").await.as_deref(), Some("slack:UJANE01"));
}

#[tokio::test]
async fn real_slack_fields_baton_does_not_use_do_not_break_parsing() {
    let s = slack_app().await;
    // Both forms carry enterprise_id/name, api_app_id, is_enterprise_install, trigger_id,
    // channel_name and team_domain (see slash_form and press_form).
    let (status, answer) = s.slash(JANE, "lock canary").await;
    assert_eq!(
        (status, answer["response_type"].as_str()),
        (200, Some("in_channel"))
    );
    let mut message = answer.clone();
    // Slack adds ids and flags of its own to the blocks it sends back.
    for block in message["blocks"].as_array_mut().unwrap() {
        block["block_id"] = json!("auto1");
        if let Some(text) = block.get_mut("text") {
            text["verbatim"] = json!(false);
        }
    }
    let posted = s.press(JANE, "unlock canary", Some(&message)).await;
    assert!(
        texts(&posted[0]).contains("jane unlocked canary"),
        "{posted:?}"
    );
}

#[tokio::test]
async fn an_enterprise_grid_org_install_press_with_no_team_is_handled() {
    let s = slack_app().await;
    let (_, locked) = s.slash(JANE, "lock canary 30m grid").await;
    // An org-wide install's block_actions payload, in the shape Slack documents for Enterprise
    // Grid (api.slack.com/enterprise/apps, reference/interaction-payloads/block-actions):
    // `team` is null, `enterprise` names the org, and `user.team_id` is the org's id.
    let url = s.fake.url("/response/grid");
    let mut payload = press_payload(JANE, "unlock canary", Some(&locked), &url);
    payload["team"] = Value::Null;
    payload["user"]["team_id"] = json!("E0001");
    payload["is_enterprise_install"] = json!(true);
    payload["authorizations"] = json!([{"enterprise_id": "E0001", "team_id": null,
        "user_id": "UBATON01", "is_bot": true, "is_enterprise_install": true}]);
    let body = form(&[("payload", &payload.to_string())]);
    let r = s.post("/slack/interactions", body, Signing::Now).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let answer = s.fake.wait_for("/response/grid", 1, 5).await.body;
    assert!(texts(&answer).contains("jane unlocked canary"), "{answer}");
    assert_eq!(s.holder("canary").await, None);
}
