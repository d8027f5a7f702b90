//! Mattermost against real Redis: slash commands with their per-command token, button presses with the context Baton signed; the server API replaced by a stand-in.

mod buttons;
mod delivery;
mod stand_in;

use baton_commands::config::Config;
use baton_commands::domain::Secret;
use redis::AsyncCommands;
use serde_json::Value;

use crate::support::{spawn_core_with, TestApp};
use stand_in::StandIn;

/// Two slash command tokens (one per team, say): either is accepted.
const TOKEN: &str = "xr3j5x3p5pfcbf7mkkxsgjgp1w";
const OTHER_TOKEN: &str = "9dbfwq1ti3ny8bd1ssb5k5ogah";
const BOT_TOKEN: &str = "k3m4y8c9u3gq7xj6kqw1ofdh9a";
const ACTION_SECRET: &str = "buttons-are-batons-own";
const PUBLIC_URL: &str = "https://baton.example.com";
const CHANNEL: &str = "4yjq9ge5k7ffx8b3dq9h3b1j8r";
const ANNOUNCE: &str = "an0unce0an0unce0an0unce001";

/// A Mattermost user: id, user name. Jane and Bob are deployers, Eve has no role.
type Who = (&'static str, &'static str);
const JANE: Who = ("jane0jane0jane0jane0jane01", "jane");
const BOB: Who = ("bob0bob0bob0bob0bob0bob001", "bob");

struct Mattermost {
    app: TestApp,
    server: StandIn,
    http: reqwest::Client,
}

async fn mattermost_app_with(edit: impl FnOnce(&mut Config)) -> Mattermost {
    let server = StandIn::start().await;
    let url = server.url("");
    let mut app = spawn_core_with(|c| {
        let m = &mut c.mattermost;
        m.url = Some(url);
        m.bot_token = Some(Secret::new(BOT_TOKEN));
        m.command_tokens = vec![Secret::new(TOKEN), Secret::new(OTHER_TOKEN)];
        m.public_url = Some(PUBLIC_URL.into());
        m.action_secret = Some(Secret::new(ACTION_SECRET));
        for (id, _) in [JANE, BOB] {
            c.roles.deployer.push(format!("mattermost:{id}"));
        }
        edit(c);
    })
    .await;
    app.start_instance().await;
    Mattermost {
        app,
        server,
        http: reqwest::Client::new(),
    }
}

async fn mattermost_app() -> Mattermost {
    mattermost_app_with(|_| {}).await
}

/// The form Mattermost posts for `/baton TEXT`, with every field it sends, used or not.
fn slash_form(
    token: Option<&str>,
    who: Who,
    text: &str,
    response_url: &str,
) -> Vec<(String, String)> {
    let mut form = vec![
        ("channel_id", CHANNEL),
        ("channel_name", "deploys"),
        ("command", "/baton"),
        ("response_url", response_url),
        ("team_domain", "acme"),
        ("team_id", "teamteamteamteamteamteam01"),
        ("text", text),
        ("trigger_id", "dHJpZ2dlcjpqYW5lOjE3OTU3MTEyMDA6c2ln"),
        ("user_id", who.0),
        ("user_name", who.1),
    ];
    if let Some(token) = token {
        form.push(("token", token));
    }
    form.into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Mattermost {
    /// `/baton TEXT` as `who` with `token`; the status and the JSON answer.
    async fn slash_with(&self, token: Option<&str>, who: Who, text: &str) -> (u16, Value) {
        let url = self.server.url("/hooks/commands/c0mmandc0mmandc0mmand0001");
        let r = self
            .http
            .post(self.app.url("/mattermost/commands"))
            .form(&slash_form(token, who, text, &url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn slash(&self, who: Who, text: &str) -> Value {
        let (status, answer) = self.slash_with(Some(TOKEN), who, text).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    async fn holder(&self, env: &str) -> Option<String> {
        let mut con = self.app.redis().await;
        con.hget(format!("baton:{{{env}}}:lockmeta:{env}"), "holder")
            .await
            .unwrap()
    }
}

/// Every string in a message, joined: what a reader sees, give or take layout.
fn texts(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| *k != "integration")
            .map(|(_, v)| texts(v))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Array(items) => items.iter().map(texts).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// The actions of a command answer or a post (`attachments` at the top, or under `props`).
fn actions(v: &Value) -> Vec<Value> {
    let attachments = v["attachments"]
        .as_array()
        .or_else(|| v["props"]["attachments"].as_array())
        .or_else(|| v["update"]["props"]["attachments"].as_array())
        .cloned()
        .unwrap_or_default();
    attachments
        .iter()
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The action named `label` in `v`.
fn action(v: &Value, label: &str) -> Value {
    actions(v)
        .into_iter()
        .find(|a| a["name"] == label)
        .unwrap_or_else(|| panic!("no `{label}` button in {v}"))
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_with_401_and_changes_nothing() {
    let m = mattermost_app().await;
    m.slash(JANE, "lock canary 10m before").await;
    let before = m.app.snapshot().await;
    for (what, token) in [
        ("a wrong token", Some("wrongwrongwrongwrongwrong1")),
        ("a token one character short", Some(&TOKEN[..25])),
        ("an empty token", Some("")),
        ("no token", None),
    ] {
        let (status, answer) = m.slash_with(token, JANE, "lock qa 10m").await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(
            answer["text"].as_str().unwrap().contains("token"),
            "{what}: {answer}"
        );
    }
    assert_eq!(m.app.snapshot().await, before, "nothing changed");
    assert_eq!(m.holder("qa").await, None);
    assert!(m.server.calls_to("/hooks/").is_empty());
}

#[tokio::test]
async fn lock_qa_takes_the_lock_and_answers_in_the_channel_with_signed_buttons() {
    let m = mattermost_app().await;
    let (status, answer) = m.slash_with(Some(OTHER_TOKEN), JANE, "lock qa 10m").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response_type"], "in_channel", "{answer}");
    assert_eq!(
        answer["text"],
        ":white_check_mark: **jane locked qa for 10m**"
    );
    assert_eq!(answer["skip_slack_parsing"], true);
    let shown = texts(&answer);
    assert!(
        shown.contains("jane") && shown.contains("(in 10m)"),
        "{shown}"
    );
    let unlock = action(&answer, "Unlock");
    assert_eq!(
        unlock["integration"]["url"],
        format!("{PUBLIC_URL}/mattermost/actions")
    );
    assert_eq!(unlock["integration"]["context"]["command"], "unlock qa");
    assert!(unlock["integration"]["context"]["sig"].is_string());
    assert_eq!(
        m.holder("qa").await.as_deref(),
        Some(format!("mattermost:{}", JANE.0).as_str())
    );

    let status = m.slash(BOB, "status qa").await;
    assert_eq!(status["response_type"], "ephemeral", "{status}");
    assert!(texts(&status).contains("jane"), "{status}");
    let help = m.slash(BOB, "lokc qa").await;
    assert!(
        texts(&help).contains("Type `/baton help <command>`"),
        "{help}"
    );
}

#[tokio::test]
async fn a_slow_command_is_acknowledged_and_answered_on_the_response_url() {
    // A zero deadline acknowledges every command at once: the answer always comes later.
    let m = mattermost_app_with(|c| c.mattermost.defer_after = std::time::Duration::ZERO).await;
    let ack = m.slash(JANE, "lock qa 10m slow").await;
    assert_eq!(ack["response_type"], "ephemeral", "{ack}");
    assert!(
        texts(&ack).contains("Working on `lock qa 10m slow`"),
        "{ack}"
    );
    let follow_up = m.server.wait_for("/hooks/commands/", 1, 10).await;
    assert_eq!(follow_up.method, "POST");
    assert_eq!(
        follow_up.body["response_type"], "in_channel",
        "{:?}",
        follow_up.body
    );
    assert!(
        texts(&follow_up.body).contains("jane locked qa for 10m"),
        "{:?}",
        follow_up.body
    );
    assert!(m.holder("qa").await.is_some());
}
