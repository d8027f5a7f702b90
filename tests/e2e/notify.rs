//! Notifications: announcements, reminders and hand-off notices, delivered once however many
//! instances run, and not lost when the instance that claimed one dies. The platforms are a
//! recording stand-in, or the real Slack adapter against a local fake of Slack's Web API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_adapters::slack::SlackDelivery;
use baton_commands::config::{Config, PoolConfig};
use baton_commands::domain::{EnvName, Secret};
use baton_commands::reply::{Reply, ReplyData};
use baton_commands::{Actor, Baton};
use baton_commands::{Delivery, DeliveryError};
use baton_commands::{Notifier, NotifyOptions};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::support::{spawn_core_with, TestApp, TOKEN_ALL, TOKEN_STAGING};

mod inert;
mod lanes;
mod limits;
mod stand_in;

/// One message a platform was asked to post.
#[derive(Clone, Debug)]
struct Sent {
    /// Which instance's notifier sent it.
    instance: usize,
    /// A channel id, or `dm:<user id>`.
    to: String,
    reply: Reply,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Sent>>>;

/// A platform that records what it is sent; `hang` makes it never answer (a dying instance).
struct Recorder {
    platform: &'static str,
    instance: usize,
    log: Log,
    hang: Option<Arc<tokio::sync::Notify>>,
}

impl Recorder {
    fn post<'a>(
        &'a self,
        to: String,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            if let Some(entered) = &self.hang {
                entered.notify_one();
                std::future::pending::<()>().await;
            }
            self.log.lock().unwrap().push(Sent {
                instance: self.instance,
                to,
                reply: reply.clone(),
                at: Instant::now(),
            });
            Ok(())
        })
    }
}

impl Delivery for Recorder {
    fn platform(&self) -> &'static str {
        self.platform
    }
    fn to_channel<'a>(
        &'a self,
        channel: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.post(channel.to_string(), reply)
    }
    fn to_user<'a>(
        &'a self,
        user: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.post(format!("dm:{user}"), reply)
    }
}

fn recorder(platform: &'static str, instance: usize, log: &Log) -> Arc<dyn Delivery> {
    Arc::new(Recorder {
        platform,
        instance,
        log: log.clone(),
        hang: None,
    })
}

/// An instance's background work: the expiry sweeper and the notifier, on a Baton of its own.
struct Instance {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts an instance whose notifier has joined the outbox, so the next change is news to it.
async fn start(
    app: &TestApp,
    deliveries: Vec<Arc<dyn Delivery>>,
    options: NotifyOptions,
) -> Instance {
    let baton: Baton = baton::app::build(&app.config).unwrap();
    let sweeper = {
        let baton = baton.clone();
        tokio::spawn(async move {
            baton
                .run_sweeper(Duration::from_millis(100), std::future::pending())
                .await
        })
    };
    let notifier = Notifier::new(&baton, &app.config, deliveries).with_options(options);
    notifier
        .prepare()
        .await
        .expect("the notifier joins the outbox");
    Instance {
        tasks: vec![sweeper, tokio::spawn(notifier.run(std::future::pending()))],
    }
}

/// Production timings, with a take-over after 1.5 s instead of 30 s.
fn quick() -> NotifyOptions {
    NotifyOptions {
        redeliver_after: Duration::from_millis(1500),
        poll_interval: Duration::from_millis(500),
        ..NotifyOptions::default()
    }
}

fn announce(config: &mut Config, name: &str, channels: &[&str]) {
    let list = Some(channels.iter().map(|c| c.to_string()).collect());
    if let Some(e) = config.envs.iter_mut().find(|e| e.name.as_str() == name) {
        e.announce = list;
    } else if let Some(p) = config.pools.iter_mut().find(|p| p.name.as_str() == name) {
        p.announce = list;
    } else {
        panic!("no env or pool {name}");
    }
}

fn stream(group: &str, env: &str) -> String {
    format!("baton:{{{group}}}:history:{env}")
}

async fn until(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The changes an announcement reports: its title, or its lines when it batches several.
fn lines(r: &Reply) -> Vec<String> {
    match &r.text {
        Some(text) if r.title.ends_with(" changes") => text
            .lines()
            .map(|l| l.trim_start_matches("• ").to_string())
            .collect(),
        _ => vec![r.title.clone()],
    }
}

/// The `load-NN` env a line is about.
fn load_env(line: &str) -> Option<String> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("load-"))
        .map(String::from)
}

async fn pending(app: &TestApp, stream: &str) -> i64 {
    let mut con = app.redis().await;
    let summary: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(stream)
        .arg("notify")
        .query_async(&mut con)
        .await
        .unwrap();
    match summary.first() {
        Some(redis::Value::Int(n)) => *n,
        other => panic!("XPENDING answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn threeinstances_deliver_each_reminder_and_each_expiry_notice_exactly_once() {
    let members: Vec<EnvName> = (1..=50)
        .map(|i| EnvName::parse(&format!("load-{i:02}")).unwrap())
        .collect();
    let app = spawn_core_with(|c| {
        c.pools.push(PoolConfig {
            name: EnvName::parse("load").unwrap(),
            members: members.clone(),
            default_ttl: Some(Duration::from_secs(4)),
            max_ttl: Some(Duration::from_secs(3600)),
            announce: Some(vec!["slack:CLOAD".into()]),
            remind_before: Some(Duration::from_secs(2)),
        });
        assert_eq!(c.validate(), []);
    })
    .await;
    let log = Log::default();
    let mut instances = Vec::new();
    for i in 0..3 {
        instances.push(start(&app, vec![recorder("slack", i, &log)], quick()).await);
    }

    let claims = (1..=50).map(|i| {
        let baton = app.baton.clone();
        async move {
            let user = format!("slack:U{i:03}");
            let reply = baton
                .run_text(Actor::console(&user), "claim load 4s")
                .await
                .unwrap_or_else(|(e, _)| panic!("{user} could not claim: {e}"));
            match reply.data {
                Some(ReplyData::Grant { env, .. }) => (format!("dm:U{i:03}"), env),
                other => panic!("claim answered {other:?}"),
            }
        }
    });
    let held: HashMap<String, String> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .collect();
    assert_eq!(held.len(), 50);

    // Who heard what: reminders by person, claim and expiry notices by env.
    let tally = || {
        let log = log.lock().unwrap();
        let (mut reminders, mut claimed, mut expired) = (
            HashMap::<String, Vec<Sent>>::new(),
            HashMap::new(),
            HashMap::new(),
        );
        for sent in log.iter() {
            if sent.to.starts_with("dm:") {
                reminders
                    .entry(sent.to.clone())
                    .or_default()
                    .push(sent.clone());
                continue;
            }
            assert_eq!(sent.to, "CLOAD");
            for line in lines(&sent.reply) {
                let env = load_env(&line).unwrap_or_else(|| panic!("no env in {line:?}"));
                let counts = if line.ends_with("expired") {
                    &mut expired
                } else {
                    assert!(line.contains(" claimed "), "{line}");
                    &mut claimed
                };
                *counts.entry(env).or_insert(0usize) += 1;
            }
        }
        (reminders, claimed, expired)
    };
    let all_in = until(30, || {
        let (reminders, claimed, expired) = tally();
        reminders.len() == 50 && claimed.len() == 50 && expired.len() == 50
    })
    .await;
    // Longer than the take-over delay: a second copy of anything would show up now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (reminders, claimed, expired) = tally();
    assert!(
        all_in,
        "{} reminders, {} claim notices, {} expiry notices arrived",
        reminders.len(),
        claimed.len(),
        expired.len()
    );
    for (person, env) in &held {
        let got = &reminders[person];
        assert_eq!(got.len(), 1, "{person} was reminded {} times", got.len());
        let r = &got[0].reply;
        assert!(
            r.title.starts_with(&format!("Your claim on {env} ends")),
            "{}",
            r.title
        );
        let commands: Vec<&str> = r.buttons.iter().map(|b| b.command.as_str()).collect();
        assert_eq!(
            commands,
            [format!("extend {env} 1h"), format!("release {env}")]
        );
        assert_eq!(expired[env], 1, "expiry notices for {env}");
        assert_eq!(claimed[env], 1, "claim notices for {env}");
    }
    let by: Vec<usize> = log.lock().unwrap().iter().map(|s| s.instance).collect();
    eprintln!(
        "messages per instance: {:?}",
        (0..3)
            .map(|i| by.iter().filter(|&&x| x == i).count())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_reminder_is_armed_with_each_grant_moved_by_extend_and_dropped_with_the_hold() {
    let app = spawn_core_with(|c| {
        let qa = c.envs.iter_mut().find(|e| e.name.as_str() == "qa").unwrap();
        qa.remind_before = Some(Duration::from_secs(15 * 60));
    })
    .await;
    let con = app.redis().await;
    let deadline = |member: &'static str| {
        let mut con = con.clone();
        async move {
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg("baton:{qa}:deadlines")
                .arg(member)
                .query_async(&mut con)
                .await
                .unwrap();
            score.map(|s| s as u64)
        }
    };
    let minutes = |n: u64| n * 60_000;

    let trips = app.baton.store().round_trips();
    app.ok("alice", "lock qa 30m").await;
    assert_eq!(
        app.baton.store().round_trips() - trips,
        1,
        "arming the reminder is part of the lock's one script call"
    );
    let expires = deadline("lock:qa").await.unwrap();
    assert_eq!(
        deadline("remind:lock:qa").await,
        Some(expires - minutes(15))
    );
    app.ok("alice", "extend qa 20m").await;
    assert_eq!(
        deadline("remind:lock:qa").await,
        Some(expires + minutes(20) - minutes(15))
    );
    // A hold shorter than the lead gets no reminder; other envs get none at all.
    app.ok("bob", "lock canary 1h").await;
    assert_eq!(deadline("remind:lock:canary").await, None);
    app.ok("alice", "unlock qa").await;
    assert_eq!(deadline("remind:lock:qa").await, None);
    app.ok("alice", "lock qa 10m").await;
    assert_eq!(deadline("remind:lock:qa").await, None);
    assert!(app
        .history("qa", "qa")
        .await
        .iter()
        .all(|f| !f.iter().any(|(_, v)| v.ends_with("_reminder"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_whose_claimer_dies_before_sending_arrives_once_from_another_instance() {
    let app = spawn_core_with(|c| announce(c, "canary", &["slack:CDEPLOY"])).await;
    let log = Log::default();
    let entered = Arc::new(tokio::sync::Notify::new());
    let hangs: Arc<dyn Delivery> = Arc::new(Recorder {
        platform: "slack",
        instance: 0,
        log: log.clone(),
        hang: Some(entered.clone()),
    });
    let options = NotifyOptions {
        redeliver_after: Duration::from_secs(1),
        ..quick()
    };
    let doomed = start(&app, vec![hangs], options.clone()).await;

    app.ok("slack:UALICE", "lock canary 10m hotfix").await;
    // Generous: under a full parallel suite on two cores the first tick can be seconds late.
    tokio::time::timeout(Duration::from_secs(20), entered.notified())
        .await
        .expect("the first instance claimed the announcement and started sending it");
    let _survivor = start(&app, vec![recorder("slack", 1, &log)], options).await;
    // The first instance is slow, not dead: it keeps its claim, and nobody sends a second copy.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    let died = Instant::now();
    drop(doomed);
    assert!(until(10, || !log.lock().unwrap().is_empty()).await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    let (sent, waited) = (&log[0], log[0].at - died);
    assert_eq!((sent.instance, sent.to.as_str()), (1, "CDEPLOY"));
    assert_eq!(sent.reply.title, "UALICE locked canary");
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(5),
        "taken over {waited:?} after the claimer died (redeliver_after 1s)"
    );
    assert_eq!(pending(&app, &stream("canary", "canary")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn freeze_all_is_one_message_per_channel_not_one_per_env() {
    const DISCORD: &str = "discord:123456789012345678";
    let app = spawn_core_with(|c| {
        for name in ["prod", "canary", "qa", "staging"] {
            announce(c, name, &["slack:CALL"]);
        }
        announce(c, "prod", &["slack:CALL", DISCORD]);
        announce(c, "qa", &["slack:CALL", DISCORD]);
        assert_eq!(c.validate(), []);
    })
    .await;
    let log = Log::default();
    let mut instances = Vec::new();
    for i in 0..3 {
        let platforms = vec![recorder("slack", i, &log), recorder("discord", i, &log)];
        instances.push(start(&app, platforms, quick()).await);
    }
    let envs = [
        "prod",
        "canary",
        "qa",
        "staging-1",
        "staging-2",
        "staging-3",
    ];

    app.ok("alice", "freeze all 1h release week").await;
    let to = |channel: &str| -> Vec<Sent> {
        let log = log.lock().unwrap();
        log.iter().filter(|s| s.to == channel).cloned().collect()
    };
    assert!(
        until(10, || !to("CALL").is_empty()
            && !to("123456789012345678").is_empty())
        .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let slack = to("CALL");
    assert_eq!(slack.len(), 1, "one Slack message: {slack:#?}");
    let title = &slack[0].reply.title;
    assert!(title.starts_with("alice froze "), "{title}");
    for env in envs {
        assert!(title.contains(env), "{env} missing from {title:?}");
    }
    let reason = slack[0].reply.fields.iter().find(|f| f.name == "Reason");
    assert!(format!("{reason:?}").contains("release week"), "{reason:?}");

    let discord = to("123456789012345678");
    assert_eq!(discord.len(), 1, "one Discord message: {discord:#?}");
    assert_eq!(discord[0].reply.title, "alice froze prod and qa");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_by_a_quiet_ci_token_are_not_announced_and_a_loud_ones_are() {
    let mut app = spawn_core_with(|c| {
        announce(c, "qa", &["slack:CCI"]);
        announce(c, "canary", &["slack:CCI"]);
        let staging = c.ci.tokens.iter_mut().find(|t| t.name == "staging");
        staging.expect("the test config has a staging token").quiet = true;
    })
    .await;
    app.start_instance().await;
    let log = Log::default();
    let _instance = start(&app, vec![recorder("slack", 0, &log)], quick()).await;
    let qa = stream("qa", "qa");

    let quiet = TestApp::http(TOKEN_STAGING);
    let lock = |http: &reqwest::Client, env: &str, holder: &str| {
        http.post(app.url(&format!("/api/v1/locks/{env}")))
            .json(&json!({"holder": holder, "ttl": "10m"}))
            .send()
    };
    let locked: Value = lock(&quiet, "qa", "nightly")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let released = quiet
        .delete(app.url("/api/v1/locks/qa"))
        .json(&json!({"token": locked["token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);
    let loud = TestApp::http(TOKEN_ALL);
    assert_eq!(
        lock(&loud, "canary", "deploy 7").await.unwrap().status(),
        200
    );

    let sent = || log.lock().unwrap().clone();
    assert!(until(10, || !sent().is_empty()).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let titles: Vec<String> = sent().iter().map(|s| s.reply.title.clone()).collect();
    assert_eq!(titles, ["deploy 7 locked canary"]);
    // The quiet pipeline's entries were read and settled, not left behind.
    assert_eq!(pending(&app, &qa).await, 0);

    // People's changes on the same env are still announced.
    app.ok("alice", "lock qa 5m").await;
    assert!(until(10, || sent().len() == 2).await, "{:?}", sent());
    assert_eq!(sent()[1].reply.title, "alice locked qa");
}

/// Slack's Web API, as far as delivery needs it: with `limited`, the first `chat.postMessage`
/// gets a 429 with `Retry-After: 2`; the others succeed; `conversations.open` opens DM `D0DM`.
#[derive(Clone, Default)]
struct FakeSlack {
    calls: Arc<Mutex<Vec<(String, Value, Instant)>>>,
    limited: bool,
}

impl FakeSlack {
    async fn start(limited: bool) -> (Self, String) {
        let fake = Self {
            limited,
            ..Self::default()
        };
        let app = axum::Router::new()
            .fallback(slack_api)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    fn calls(&self, method: &str) -> Vec<(Value, Instant)> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(path, ..)| path.ends_with(method))
            .map(|(_, body, at)| (body.clone(), *at))
            .collect()
    }
}

async fn slack_api(State(fake): State<FakeSlack>, uri: Uri, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    let posts = {
        let mut calls = fake.calls.lock().unwrap();
        calls.push((path.clone(), body.clone(), Instant::now()));
        calls
            .iter()
            .filter(|(p, ..)| p.ends_with("chat.postMessage"))
            .count()
    };
    if path.ends_with("conversations.open") {
        return Json(json!({"ok": true, "channel": {"id": "D0DM"}})).into_response();
    }
    if fake.limited && posts == 1 {
        let limited = json!({"ok": false, "error": "ratelimited"});
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            Json(limited),
        )
            .into_response();
    }
    let ts = "1795711200.000100";
    let message = json!({"text": body["text"], "ts": ts});
    Json(json!({"ok": true, "channel": body["channel"], "ts": ts, "message": message}))
        .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_from_slack_delays_the_announcement_until_retry_after_and_hand_offs_reach_the_new_holder(
) {
    let (fake, url) = FakeSlack::start(true).await;
    let app = spawn_core_with(|c| announce(c, "canary", &["slack:CDEPLOY"])).await;
    let slack: Arc<dyn Delivery> = Arc::new(SlackDelivery::new(&url, &Secret::new("xoxb-test")));
    let _instance = start(&app, vec![slack], quick()).await;

    app.ok("slack:UALICE", "lock canary 10m hotfix").await;
    assert!(until(10, || fake.calls("chat.postMessage").len() >= 2).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts = fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "one 429, then the message: {posts:#?}");
    let waited = posts[1].1 - posts[0].1;
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
        "retried {waited:?} after a 429 with Retry-After: 2"
    );
    assert_eq!(posts[1].0["channel"], "CDEPLOY");
    assert!(
        posts[1].0.to_string().contains("UALICE locked canary"),
        "{}",
        posts[1].0
    );

    app.ok("slack:UBOB", "queue canary 10m next").await;
    app.ok("slack:UALICE", "unlock canary").await;
    let dm = || {
        fake.calls("chat.postMessage")
            .into_iter()
            .find(|(body, _)| body["channel"] == "D0DM")
    };
    assert!(until(10, || dm().is_some()).await, "{:#?}", fake.calls(""));
    let (body, _) = dm().unwrap();
    assert!(
        body.to_string().contains("You now hold canary, until"),
        "{body}"
    );
    assert_eq!(fake.calls("conversations.open")[0].0["users"], "UBOB");
    // The channel's announcement and the DM are separate deliveries: either may land first.
    let announced = || -> Vec<String> {
        fake.calls("chat.postMessage")
            .iter()
            .filter(|(b, _)| b["channel"] == "CDEPLOY")
            .map(|(b, _)| b.to_string())
            .collect()
    };
    let handed = || {
        announced()
            .iter()
            .any(|b| b.contains("UBOB now holds canary"))
    };
    assert!(until(10, handed).await, "{:#?}", announced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_announces_through_slack_once_a_bot_token_is_set() {
    let (fake, url) = FakeSlack::start(false).await;
    let mut app = spawn_core_with(|c| {
        announce(c, "canary", &["slack:CDEPLOY"]);
        c.slack.bot_token = Some(Secret::new("xoxb-test"));
        c.slack.api_url = url;
    })
    .await;
    app.ok("alice", "lock canary 5m before").await;
    app.ok("alice", "unlock canary").await;
    app.start_instance().await;
    // `baton serve` joined the outbox: what happened before it is history, not news.
    let mut con = app.redis().await;
    let mut joined = false;
    for _ in 0..200 {
        let groups: redis::RedisResult<Vec<redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream("canary", "canary"))
            .query_async(&mut con)
            .await;
        joined = groups.is_ok_and(|g| !g.is_empty());
        if joined {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(joined, "the service's notifier never joined the outbox");

    app.ok("alice", "lock canary 5m release 1.2").await;
    assert!(until(10, || !fake.calls("chat.postMessage").is_empty()).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let posts = fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].0["channel"], "CDEPLOY");
    assert_eq!(posts[0].0["text"], "alice locked canary");
}

/// The wall time `ms` as people in Berlin read it, with the zone's name (`11:25 CET`).
fn berlin(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M %Z")
        .to_string()
}

#[tokio::test]
async fn with_a_team_zone_refusals_the_api_and_dms_show_its_times_and_name_it() {
    let log = Log::default();
    let mut app = spawn_core_with(|c| {
        c.defaults.timezone = Some(chrono_tz::Europe::Berlin);
        announce(c, "canary", &["slack:CDEPLOY"]);
    })
    .await;
    app.start_instance().await;
    let _instance = start(&app, vec![recorder("slack", 0, &log)], quick()).await;

    let locked = app.ok("slack:UALICE", "lock canary 30m hotfix").await;
    let Some(ReplyData::Grant { hold, .. }) = locked.data.clone() else {
        panic!("{locked:?}")
    };
    let (since, ends) = (berlin(hold.since), berlin(hold.expires));
    // Chat: the refusal's sentence, in Berlin time, saying so.
    let (_, refused) = app.run("slack:UBOB", "lock canary").await.unwrap_err();
    let sentence = refused.title;
    assert!(
        sentence.contains(&since) && sentence.contains(&ends),
        "{sentence} should show {since} and {ends}"
    );
    assert!(!sentence.contains("UTC"), "{sentence}");
    // The CI API: the same sentence (its JSON times stay RFC 3339 UTC, for machines).
    let answer: Value = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/locks/canary"))
        .json(&json!({"ttl": "10m"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(&ends), "{answer}");
    assert!(
        answer["expires_at"].as_str().unwrap().ends_with('Z'),
        "{answer}"
    );

    // A DM: the hand-off notice names its end in Berlin time.
    app.ok("slack:UBOB", "queue canary 20m next").await;
    app.ok("slack:UALICE", "unlock canary").await;
    let dm = || {
        log.lock()
            .unwrap()
            .iter()
            .find(|s| s.to == "dm:UBOB")
            .map(|s| s.reply.title.clone())
    };
    assert!(until(10, || dm().is_some()).await, "no DM reached bob");
    let title = dm().unwrap();
    let zone = berlin(hold.since);
    let zone = zone.split(' ').next_back().unwrap();
    assert!(
        title.contains(zone) && !title.contains("UTC"),
        "the DM names Berlin's zone: {title}"
    );
}
