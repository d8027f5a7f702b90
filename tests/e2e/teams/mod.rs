//! Microsoft Teams against real Redis: activities signed as Bot Framework signs them, by a local
//! issuer whose keys the tests control; the Bot Connector and the token endpoint replaced by a
//! stand-in ([`stand_in`]). Cards and the app manifest are checked with Microsoft's own
//! validators (tests/teams: the Adaptive Cards SDK and the Teams manifest schema).

mod stand_in;

use std::time::{Duration, Instant};

use baton_adapters::teams::manifest::{manifest, ManifestOptions};
use baton_commands::domain::Secret;
use serde_json::{json, Value};

use crate::support::{node_packages, spawn_core_with, Call, TestApp};
use stand_in::{keys, now, Microsoft, BOT_TOKEN};

const APP_ID: &str = "6b5f6a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CHANNEL: &str = "19:b2a0c8f04a5d4c6d9e1f0a1b2c3d4e5f@thread.tacv2";
/// Jane (a deployer) and Eve (no role), by Entra object id and Teams user id.
const JANE: (&str, &str, &str) = (
    "0f3a3a2c-5d1e-4b7a-9c8d-1e2f3a4b5c6d",
    "29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt7CZ-NJWi7me2kHTL3Bw",
    "Jane Doe",
);
const EVE: (&str, &str, &str) = (
    "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
    "29:1eveEVEeve5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt",
    "Eve",
);

struct Teams {
    app: TestApp,
    ms: Microsoft,
    http: reqwest::Client,
}

async fn teams_app() -> Teams {
    let ms = Microsoft::start().await;
    let (metadata, token, service) = (
        ms.url("/v1/.well-known/openidconfiguration"),
        ms.url(&format!("/{TENANT}/oauth2/v2.0/token")),
        ms.service_url(),
    );
    let mut app = spawn_core_with(|c| {
        c.teams.app_id = Some(APP_ID.into());
        c.teams.app_password = Some(Secret::new("bot-password"));
        c.teams.tenant_id = Some(TENANT.into());
        c.teams.openid_metadata_url = metadata;
        c.teams.token_url = Some(token);
        c.teams.service_url = service;
        c.roles.deployer.push(format!("teams:{}", JANE.0));
        let qa = c.envs.iter_mut().find(|e| e.name.as_str() == "qa").unwrap();
        qa.announce = Some(vec![format!("teams:{CHANNEL}")]);
    })
    .await;
    app.start_instance().await;
    Teams {
        app,
        ms,
        http: reqwest::Client::new(),
    }
}

/// Claims as Bot Framework issues them to this bot, for `service_url`.
fn claims(service_url: &str) -> Value {
    json!({
        "serviceurl": service_url,
        "nbf": now() - 10, "exp": now() + 3600, "iss": "https://api.botframework.com",
        "aud": APP_ID,
    })
}

/// A channel message from `who`, typed as Teams sends a message that @mentions the bot, in the
/// shape of Microsoft's example activities.
fn message(ms: &Microsoft, who: (&str, &str, &str), text: &str) -> Value {
    json!({
        "text": format!("<at>Baton</at> {text}"),
        "textFormat": "plain",
        "type": "message",
        "timestamp": "2026-12-05T16:40:00.0000000Z",
        "localTimestamp": "2026-12-05T17:40:00.0000000+01:00",
        "id": format!("17334168{}", now() % 100_000),
        "channelId": "msteams",
        "serviceUrl": ms.service_url(),
        "from": {"id": who.1, "name": who.2, "aadObjectId": who.0},
        "conversation": {
            "isGroup": true, "conversationType": "channel", "tenantId": TENANT,
            "id": format!("{CHANNEL};messageid=1733416800000"),
        },
        "recipient": {"id": format!("28:{APP_ID}"), "name": "Baton"},
        "entities": [
            {"mentioned": {"id": format!("28:{APP_ID}"), "name": "Baton"}, "text": "<at>Baton</at>", "type": "mention"},
            {"locale": "en-US", "country": "US", "platform": "Web", "timezone": "Europe/Berlin", "type": "clientInfo"},
        ],
        "channelData": {
            "teamsChannelId": CHANNEL, "teamsTeamId": CHANNEL,
            "channel": {"id": CHANNEL}, "team": {"id": CHANNEL}, "tenant": {"id": TENANT},
        },
        "locale": "en-US",
    })
}

/// The press of the `Action.Execute` `action` (as Baton sent it) on message `card_message`.
fn press(ms: &Microsoft, who: (&str, &str, &str), action: &Value, card_message: &str) -> Value {
    let mut activity = message(ms, who, "");
    activity["type"] = json!("invoke");
    activity["name"] = json!("adaptiveCard/action");
    activity["text"] = Value::Null;
    activity["replyToId"] = json!(card_message);
    activity["value"] = json!({"action": action, "trigger": "manual"});
    activity
}

impl Teams {
    async fn send(&self, token: Option<String>, activity: &Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.app.url("/teams/messages"))
            .json(activity);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Sends `activity` with a valid token for its `serviceUrl`.
    async fn signed(&self, activity: &Value) -> reqwest::Response {
        let service_url = activity["serviceUrl"].as_str().unwrap().to_string();
        let token = keys().0.sign(&claims(&service_url));
        self.send(Some(token), activity).await
    }

    /// The Connector calls whose path starts with `prefix`, once there are at least `n`.
    async fn connector_calls(&self, prefix: &str, n: usize) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.ms.calls_to(prefix);
            if calls.len() >= n || Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn qa_holder(&self) -> Option<String> {
        let reply = self.app.ok("console:alice", "status qa").await;
        let shown = serde_json::to_string(&reply).unwrap();
        if reply.title.contains("free") || shown.contains("is free") {
            return None;
        }
        Some(shown)
    }
}

/// The Adaptive Card in a posted message.
fn card_of(call: &Call) -> Value {
    assert_eq!(call.body["type"], "message", "{:?}", call.body);
    let attachment = &call.body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    attachment["content"].clone()
}

/// Everything a reader sees of a card: its text runs and text blocks.
fn shown(card: &Value) -> String {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(t)) = map.get("text") {
                    out.push(t.clone());
                }
                for (k, child) in map {
                    if k != "data" {
                        walk(child, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(card, &mut out);
    out.join("\n")
}

/// Problems Microsoft's validators find in `cards` and `manifest` (tests/teams/validate.mjs).
fn validate(cards: &[Value], manifest: Option<&Value>) -> Option<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/teams");
    if !node_packages(dir, "validating Teams cards and the manifest") {
        return None;
    }
    let mut child = std::process::Command::new("node")
        .arg(format!("{dir}/validate.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"cards": cards, "manifest": manifest});
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "validate.mjs failed");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_misaddressed_expired_and_redirected_tokens_are_refused_and_change_nothing() {
    let t = teams_app().await;
    let lock = message(&t.ms, JANE, "lock qa 10m");
    let service_url = t.ms.service_url();
    let (listed, forger) = keys();
    let mut wrong_audience = claims(&service_url);
    wrong_audience["aud"] = json!("00000000-0000-0000-0000-000000000000");
    let mut expired = claims(&service_url);
    expired["exp"] = json!(now() - 600);
    let mut wrong_issuer = claims(&service_url);
    wrong_issuer["iss"] = json!("https://sts.windows.net/evil/");
    let elsewhere = claims("https://attacker.example/smba/");
    let cases = [
        ("no token", None, 401),
        (
            "a key not in the metadata",
            Some(forger.sign(&claims(&service_url))),
            401,
        ),
        (
            "another bot's audience",
            Some(listed.sign(&wrong_audience)),
            401,
        ),
        ("expired", Some(listed.sign(&expired)), 401),
        ("another issuer", Some(listed.sign(&wrong_issuer)), 401),
        ("another serviceUrl", Some(listed.sign(&elsewhere)), 403),
        ("not a JWT", Some("Bearer-ish".to_string()), 401),
    ];
    for (case, token, status) in cases {
        let response = t.send(token, &lock).await;
        assert_eq!(response.status().as_u16(), status, "{case}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{case}: {body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.qa_holder().await, None, "nothing was locked");
    assert!(t.ms.calls_to("/smba").is_empty(), "nothing was posted");
    assert!(t.ms.calls_to("/smba").is_empty());

    // The playground's probe: an empty body with a valid token is answered, not a 500; without
    // a token it is refused like anything else.
    let token = listed.sign(&claims(&service_url));
    let probe = t
        .http
        .post(t.app.url("/teams/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status().as_u16(), 200);
    let bare = t
        .http
        .post(t.app.url("/teams/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    let junk = t
        .http
        .post(t.app.url("/teams/messages"))
        .bearer_auth(&token)
        .body("{\"type\": 7")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_lock_takes_the_env_and_the_answer_card_reaches_the_connector_with_the_bots_token()
{
    let t = teams_app().await;
    let response = t
        .signed(&message(
            &t.ms,
            JANE,
            "lock qa 10m ship [it](https://evil.example) @channel",
        ))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let holder = t.qa_holder().await.expect("qa is locked");
    assert!(holder.contains("Jane Doe"), "{holder}");
    let history = t.app.history("qa", "qa").await;
    let by = history.last().unwrap();
    assert!(
        by.iter().any(|(_, v)| v == &format!("teams:{}", JANE.0)),
        "history names the Teams identity: {by:?}"
    );

    let posts = t.connector_calls("/smba/v3/conversations/", 1).await;
    let post = posts.last().expect("the answer was posted");
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.auth.as_deref(),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    assert!(
        post.path.starts_with("/smba/v3/conversations/19%3Ab2a0c8f04a5d4c6d9e1f0a1b2c3d4e5f%40thread.tacv2%3Bmessageid%3D1733416800000/activities/"),
        "a reply in the command's thread: {}",
        post.path
    );
    let card = card_of(post);
    let text = shown(&card);
    assert!(text.contains("locked qa"), "{text}");
    assert!(
        text.contains("https:\u{200B}//evil.example"),
        "the URL is inert: {text}"
    );
    assert_eq!(card["actions"][0]["type"], "Action.Execute");
    // The token was fetched once, with the client secret, for the Connector's scope.
    let tokens = t.ms.calls_to(&format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(tokens.len(), 1, "cached: {tokens:?}");

    // A refusal (Eve has no role on qa, and it is taken) is answered too.
    t.signed(&message(&t.ms, EVE, "unlock qa")).await;
    let posts = t.connector_calls("/smba/v3/conversations/", 2).await;
    let refused = shown(&card_of(&posts[1]));
    assert!(refused.to_lowercase().contains("jane"), "{refused}");
    assert!(t.qa_holder().await.is_some(), "still Jane's");

    if let Some(problems) = validate(&[card, card_of(&posts[1])], None) {
        assert_eq!(
            problems["cards"],
            json!([[], []]),
            "Adaptive Card 1.5: {problems}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execute_unlock_press_answers_with_the_replaced_card_and_updates_it_for_everyone() {
    let t = teams_app().await;
    t.signed(&message(&t.ms, JANE, "lock qa 10m")).await;
    let posts = t.connector_calls("/smba/v3/conversations/", 1).await;
    let card = card_of(&posts[0]);
    let actions = card["actions"].as_array().unwrap();
    let unlock = actions
        .iter()
        .find(|a| a["data"]["baton"] == "unlock qa")
        .unwrap_or_else(|| panic!("an Unlock button: {actions:?}"))
        .clone();

    // Eve presses it: refused, to her alone, as a message; the card stays.
    let response = t.signed(&press(&t.ms, EVE, &unlock, "1:card")).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["type"], "application/vnd.microsoft.activity.message",
        "{answer}"
    );
    assert!(t.qa_holder().await.is_some(), "Eve's press changed nothing");

    // Jane presses it: the invoke's answer is the replaced card, and the message is updated.
    let response = t.signed(&press(&t.ms, JANE, &unlock, "1:card")).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(
        answer["type"], "application/vnd.microsoft.card.adaptive",
        "{answer}"
    );
    let replaced = answer["value"].clone();
    assert!(
        shown(&replaced).contains("unlocked qa"),
        "{}",
        shown(&replaced)
    );
    assert_eq!(t.qa_holder().await, None, "qa is free");
    let updates: Vec<Call> = t
        .connector_calls("/smba/v3/conversations/", 2)
        .await
        .into_iter()
        .filter(|c| c.method == "PUT")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(
        updates[0].path.ends_with("/activities/1%3Acard"),
        "{}",
        updates[0].path
    );
    assert_eq!(card_of(&updates[0]), replaced);

    if let Some(problems) = validate(&[replaced], None) {
        assert_eq!(problems["cards"], json!([[]]), "{problems}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_to_a_teams_channel_arrives_once_and_a_hand_off_opens_a_personal_chat() {
    let t = teams_app().await;
    // Jane has written to the bot once (from the channel): Baton knows how to reach her.
    t.signed(&message(&t.ms, JANE, "status")).await;
    t.connector_calls("/smba/v3/conversations/", 1).await;
    // The Connector throttles, then stumbles: the notifier's lane waits as told and retries.
    t.ms.trouble(&[(429, Some(1)), (502, None)]);
    t.app
        .ok("console:alice", "lock qa 10m @channel see www.example.com")
        .await;
    let channel_path =
        "/smba/v3/conversations/19%3Ab2a0c8f04a5d4c6d9e1f0a1b2c3d4e5f%40thread.tacv2/activities";
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.ms.calls_to(channel_path).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let announced = t.ms.calls_to(channel_path);
    assert_eq!(announced.len(), 1, "exactly once: {announced:?}");
    assert_eq!(t.ms.troubled(), 2, "after a 429 and a 502");
    let text = shown(&card_of(&announced[0]));
    assert!(text.contains("alice locked qa"), "{text}");
    assert!(text.contains("www\u{200B}.example.com"), "{text}");
    assert_eq!(
        announced[0].auth.as_deref(),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );

    // Jane queues; when Alice unlocks, qa is handed to her and she is told in a personal chat.
    t.signed(&message(&t.ms, JANE, "queue qa 10m")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !serde_json::to_string(&t.app.ok("console:alice", "status qa").await)
        .unwrap()
        .contains("Jane")
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.app.ok("console:alice", "unlock qa").await;
    let opened = t.connector_calls("/smba/v3/conversations", 1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dm = Vec::new();
    while dm.is_empty() && Instant::now() < deadline {
        dm =
            t.ms.calls_to("/smba/v3/conversations/a%3A1personal-chat/activities");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open: Vec<&Call> = opened
        .iter()
        .filter(|c| c.path == "/smba/v3/conversations")
        .collect();
    let open =
        t.ms.calls_to("/smba/v3/conversations")
            .into_iter()
            .find(|c| c.path == "/smba/v3/conversations")
            .unwrap_or_else(|| panic!("a personal chat was opened: {open:?}"));
    assert_eq!(open.body["members"][0]["id"], JANE.1);
    assert_eq!(open.body["tenantId"], TENANT);
    assert_eq!(open.body["bot"]["id"], format!("28:{APP_ID}"));
    assert!(!dm.is_empty(), "the hand-off reached Jane's personal chat");
    assert!(
        shown(&card_of(&dm[0])).contains("qa"),
        "{}",
        shown(&card_of(&dm[0]))
    );
}

#[tokio::test]
async fn the_app_manifest_validates_against_the_teams_manifest_schema() {
    let m = manifest(&ManifestOptions {
        app_id: APP_ID.into(),
        url: "https://baton.example.com".into(),
        name: "Baton".into(),
        developer: "Platform team".into(),
    })
    .unwrap();
    if let Some(problems) = validate(&[], Some(&m)) {
        assert_eq!(problems["manifest"], json!([]), "{m:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_says_hello_when_added_and_an_action_submit_press_updates_the_card_keeping_its_buttons(
) {
    let t = teams_app().await;
    let mut added = message(&t.ms, JANE, "");
    added["type"] = json!("conversationUpdate");
    added["text"] = Value::Null;
    added["membersAdded"] = json!([{"id": format!("28:{APP_ID}")}]);
    assert_eq!(t.signed(&added).await.status().as_u16(), 200);
    let hello = t.connector_calls("/smba/v3/conversations/", 1).await;
    let text = shown(&card_of(&hello[0]));
    assert!(
        text.contains("Baton is here") && text.contains("@Baton help"),
        "{text}"
    );
    assert!(hello[0]
        .path
        .contains("19%3Ab2a0c8f04a5d4c6d9e1f0a1b2c3d4e5f%40thread.tacv2/activities"));

    // canary: qa's 1h limit would refuse an extension by an hour.
    t.signed(&message(&t.ms, JANE, "lock canary 10m")).await;
    let posts = t.connector_calls("/smba/v3/conversations/", 2).await;
    let card = card_of(&posts[1]);
    let extend = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["data"]["baton"]
                .as_str()
                .is_some_and(|c| c.starts_with("extend canary"))
        })
        .expect("an Extend button")
        .clone();
    // An older client sends the press as a message whose value is the action's data.
    let mut submit = message(&t.ms, JANE, "");
    submit["text"] = Value::Null;
    submit["replyToId"] = json!("1:card");
    submit["value"] = extend["data"].clone();
    assert_eq!(t.signed(&submit).await.status().as_u16(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut updates = Vec::new();
    while updates.is_empty() && Instant::now() < deadline {
        updates =
            t.ms.calls_to("/smba/v3/conversations/")
                .into_iter()
                .filter(|c| c.method == "PUT")
                .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let updated = card_of(updates.first().expect("the card was updated"));
    assert!(shown(&updated).contains("extended"), "{}", shown(&updated));
    assert_eq!(
        updated["actions"].as_array().map(Vec::len),
        card["actions"].as_array().map(Vec::len),
        "the hold's buttons stay"
    );
}
