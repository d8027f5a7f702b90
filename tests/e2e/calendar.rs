//! The freeze calendar against a real Redis: scheduled windows refuse locks in the scripts, hold
//! the queue until they end, warn before they start (once, across instances), and admins can skip
//! or end them, on the record.

use std::time::Duration;

use baton_commands::config::FreezeWindowConfig;
use baton_commands::domain::EnvName;
use baton_commands::{BatonError, Config};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::support::{spawn_core_with, TestApp, TOKEN_ALL};

/// `[[freezes]]` entries from TOML, as the config file writes them.
fn windows(toml: &str) -> Vec<FreezeWindowConfig> {
    Config::from_toml_str(toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .freezes
}

/// A UTC wall-clock time `secs` from now, as `[[freezes]] start`/`end` write it.
fn at(secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A one-off window on `envs` from `from` to `to` seconds from now, in UTC.
fn once(name: &str, envs: &str, from: i64, to: i64, extra: &str) -> Vec<FreezeWindowConfig> {
    windows(&format!(
        "[[freezes]]\nname = \"{name}\"\nenvs = [{envs}]\nstart = \"{}\"\nend = \"{}\"\ntimezone = \"UTC\"\nreason = \"quarterly close\"\n{extra}\n",
        at(from),
        at(to)
    ))
}

/// The env's audit entries of `kind`, oldest first.
async fn entries(app: &TestApp, env: &str, kind: &str) -> Vec<Vec<(String, String)>> {
    app.history(env, env)
        .await
        .into_iter()
        .filter(|f| f.iter().any(|(k, v)| k == "kind" && v == kind))
        .collect()
}

fn field<'a>(entry: &'a [(String, String)], name: &str) -> &'a str {
    entry
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

async fn holder(app: &TestApp, env: &str) -> Option<String> {
    let settings = app
        .config
        .env_settings(&EnvName::parse(env).unwrap())
        .unwrap();
    let (states, _) = app.baton.env_states(vec![&settings]).await.unwrap();
    states[0].lock.as_ref().map(|l| l.display.clone())
}

#[tokio::test]
async fn a_window_refuses_locks_with_its_name_reason_and_end_and_an_admin_override_is_recorded() {
    let mut app = spawn_core_with(|c| c.freezes = once("close", "\"prod\"", -60, 3600, "")).await;
    let err = app.refused("bob", "lock prod 10m hotfix").await;
    let BatonError::Frozen { freeze, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(freeze.window.as_deref(), Some("close"));
    let text = err.to_string();
    assert!(
        text.contains("the `close` freeze window") && text.contains("quarterly close"),
        "{text}"
    );
    // Other envs are not covered.
    app.ok("bob", "lock canary").await;

    let admin = app.ok("admin", "lock prod 10m emergency fix").await;
    let note = admin.text.unwrap();
    assert!(
        note.contains("you took it as an admin") && note.contains("`close`"),
        "{note}"
    );
    let locked = entries(&app, "prod", "locked").await;
    assert_eq!(field(&locked[0], "window"), "close");
    assert_eq!(field(&locked[0], "over_freeze"), "1");
    let history = app.ok("bob", "history prod").await.text.unwrap();
    assert!(
        history.contains("as an admin, over the `close` freeze window"),
        "{history}"
    );

    // The CI API's gate names the window, its reason and its end.
    app.ok("admin", "unlock prod").await;
    app.start_instance().await;
    let r = TestApp::http(TOKEN_ALL)
        .get(app.url("/api/v1/gate/prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "frozen", "{body}");
    assert_eq!(body["window"], "close", "{body}");
    assert_eq!(body["reason"], "quarterly close", "{body}");
    let until: DateTime<Utc> = body["until"].as_str().unwrap().parse().unwrap();
    assert!(until > Utc::now() + chrono::Duration::minutes(50), "{body}");
}

#[tokio::test]
async fn a_window_keeps_the_holder_and_hands_the_queue_on_only_when_it_ends() {
    let ends = tokio::time::Instant::now() + Duration::from_secs(7);
    let mut app = spawn_core_with(|c| c.freezes = once("release", "\"prod\"", 3, 7, "")).await;
    app.start_sweeper(Duration::from_millis(200));
    app.ok("alice", "lock prod 1h deploying").await;
    app.ok("bob", "queue prod 30m next").await;

    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        holder(&app, "prod").await.as_deref(),
        Some("alice"),
        "a window never ends a lock"
    );
    app.ok("alice", "unlock prod").await;
    assert_eq!(
        holder(&app, "prod").await,
        None,
        "the queue waits while the window is on"
    );

    // The window ends 7 s after start-up: the sweeper hands the lock on within a tick or two.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    loop {
        if holder(&app, "prod").await.as_deref() == Some("bob") {
            // The window's end is a whole second (`at` writes seconds): allow for the rounding.
            assert!(
                tokio::time::Instant::now() + Duration::from_secs(1) >= ends,
                "bob was handed prod while the window was still on"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob was not handed prod after the window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let handed = entries(&app, "prod", "handed_off").await;
    assert_eq!(handed.len(), 1);
}

#[tokio::test]
async fn three_instances_give_each_notice_once_naming_the_holders_it_runs_into() {
    let windows = once(
        "weekend",
        "\"prod\", \"canary\"",
        3,
        60,
        "notice_before = \"2s\"",
    );
    let mut app = spawn_core_with(|c| c.freezes = windows).await;
    app.ok("alice", "lock prod 1h long migration").await;
    // Before it starts, status shows it as the env's next window.
    let settings = app
        .config
        .env_settings(&EnvName::parse("prod").unwrap())
        .unwrap();
    let (states, _) = app.baton.env_views(vec![&settings]).await.unwrap();
    let next = states[0].next_window.as_ref().expect("a next window");
    assert_eq!((next.name.as_str(), next.zone.as_str()), ("weekend", "UTC"));
    let status = app.ok("bob", "status prod").await;
    let shown = format!("{:?}", status.fields);
    assert!(
        shown.contains("Next freeze") && shown.contains("`weekend`"),
        "{shown}"
    );
    for _ in 0..3 {
        app.start_sweeper(Duration::from_millis(100));
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let prod = entries(&app, "prod", "window_notice").await;
    let canary = entries(&app, "canary", "window_notice").await;
    assert_eq!((prod.len(), canary.len()), (1, 1), "{prod:?} {canary:?}");
    assert_eq!(field(&prod[0], "window"), "weekend");
    assert_eq!(
        field(&prod[0], "holder"),
        "console:alice",
        "the holder whose lock runs into the window is named"
    );
    assert_eq!(field(&canary[0], "holder"), "", "nobody holds canary");
}

#[tokio::test]
async fn skipping_and_ending_a_window_is_admin_only_and_recorded_with_who_and_why() {
    let both = [
        once("close", "\"prod\"", -60, 3600, ""),
        once("later", "\"prod\"", 1800, 3600, ""),
    ]
    .concat();
    let app = spawn_core_with(|c| c.freezes = both).await;
    app.ok("bob", "queue prod 30m waiting").await;

    let err = app.refused("bob", "freeze skip close").await;
    assert!(matches!(err, BatonError::Forbidden(_)), "{err:?}");
    assert!(err.to_string().contains("admin"), "{err}");
    let err = app.refused("admin", "freeze skip clsoe").await;
    assert!(err.to_string().contains("did you mean `close`"), "{err}");

    let ended = app
        .ok("admin", "freeze skip close once hotfix for login")
        .await;
    assert!(
        ended
            .title
            .contains("ended the `close` freeze window early on prod"),
        "{}",
        ended.title
    );
    assert_eq!(
        holder(&app, "prod").await.as_deref(),
        Some("bob"),
        "the queue moves at once"
    );
    assert!(
        format!("{ended:?}").contains("prod is bob's now"),
        "{ended:?}"
    );
    let skipped = entries(&app, "prod", "window_skipped").await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(field(&skipped[0], "actor"), "console:admin");
    assert_eq!(field(&skipped[0], "reason"), "hotfix for login");
    assert_eq!(field(&skipped[0], "early"), "1");
    let again = app.refused("admin", "freeze skip close").await;
    assert!(again.to_string().contains("skipped already"), "{again}");

    // The next window is skipped ahead of time, and `freezes` says so.
    let later = app.ok("admin", "freeze skip later release train").await;
    assert!(
        later.title.contains("skipped the `later` freeze window of"),
        "{}",
        later.title
    );
    let listing = app.ok("bob", "freezes prod").await.text.unwrap();
    assert!(
        listing.contains("close") && listing.contains("ended early"),
        "{listing}"
    );
    assert!(
        listing.contains("later") && listing.contains("skipped"),
        "{listing}"
    );
    let history = app.ok("bob", "history prod").await.text.unwrap();
    assert!(
        history.contains(
            "the `close` freeze window ended early by admin (terminal console): hotfix for login"
        ),
        "{history}"
    );
}

#[tokio::test]
async fn freeze_until_a_bare_time_of_day_is_the_next_one_in_the_default_zone() {
    let app = spawn_core_with(|c| c.defaults.timezone = Some(chrono_tz::Europe::Berlin)).await;
    let reply = app.ok("alice", "freeze qa until 18:00 release train").await;
    let text = format!("{reply:?}");
    assert!(
        text.contains("Europe/Berlin"),
        "the reply names the zone: {text}"
    );
    let refused = app.refused("bob", "lock qa").await;
    assert!(matches!(refused, BatonError::Frozen { .. }), "{refused:?}");
    let BatonError::Frozen { freeze, now, .. } = refused else {
        unreachable!()
    };
    // The next 18:00 in Berlin: within a day, and at 18:00 there.
    assert!(
        freeze.until > now && freeze.until - now <= 24 * 3_600_000,
        "{freeze:?}"
    );
    let at = chrono::DateTime::from_timestamp_millis(freeze.until as i64)
        .unwrap()
        .with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(at.format("%H:%M").to_string(), "18:00");
}

#[tokio::test]
async fn ending_a_window_early_names_a_hand_off_only_when_there_was_one() {
    let app = spawn_core_with(|c| c.freezes = once("close", "\"prod\"", -60, 3600, "")).await;
    // An admin holds prod over the window: ending it early hands nothing on.
    app.ok("admin", "lock prod 30m over the window").await;
    let ended = format!("{:?}", app.ok("admin", "freeze skip close").await);
    assert!(!ended.contains("'s now"), "nothing was handed on: {ended}");
    assert_eq!(holder(&app, "prod").await.as_deref(), Some("admin"));
}

/// A recurring window on `envs`, in UTC.
fn recurring(name: &str, envs: &str, cron: &str, duration: &str) -> Vec<FreezeWindowConfig> {
    windows(&format!(
        "[[freezes]]\nname = \"{name}\"\nenvs = [{envs}]\ncron = \"{cron}\"\nduration = \"{duration}\"\ntimezone = \"UTC\"\nreason = \"change freeze\"\n"
    ))
}

/// The start (Unix ms) of `env`'s next window, as the views see it (`env_views`), as `status` shows
/// it, on `GET /api/v1/envs/{env}` and on the status page: all four must agree.
async fn next_window_starts(app: &TestApp, env: &str) -> Option<u64> {
    let settings = app
        .config
        .env_settings(&EnvName::parse(env).unwrap())
        .unwrap();
    let (states, _) = app.baton.env_views(vec![&settings]).await.unwrap();
    let direct = states[0].next_window.as_ref().map(|w| w.starts);

    let status = app.ok("bob", &format!("status {env}")).await;
    let shown = status
        .fields
        .iter()
        .find(|f| f.name == "Starts")
        .map(|f| match f.value {
            baton_commands::reply::Value::Time(ms) => ms,
            ref other => panic!("{other:?}"),
        });
    assert_eq!(shown, direct, "`status {env}`: {status:?}");

    let api: Value = TestApp::http(TOKEN_ALL)
        .get(app.url(&format!("/api/v1/envs/{env}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_env = api["envs"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["env"] == env))
        .unwrap_or(&api);
    assert_eq!(
        instant(&api_env["next_window"]["starts"]),
        direct,
        "the API's env view: {api}"
    );
    assert!(
        api_env.get("skips").is_none(),
        "the skip marks are not shown: {api}"
    );

    let page: Value = reqwest::get(app.url("/status/envs.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let on_page = page["envs"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["env"] == env))
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(
        instant(&on_page["next_window"]["starts"]),
        direct,
        "the status page: {page}"
    );
    direct
}

/// A time as the API writes it (RFC 3339) or as ms, in Unix ms.
fn instant(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_str()
            .map(|t| ms(t.parse().unwrap_or_else(|e| panic!("{t}: {e}"))))
    })
}

fn ms(t: DateTime<Utc>) -> u64 {
    t.timestamp_millis() as u64
}

#[tokio::test]
async fn a_skipped_occurrence_is_not_next_and_each_skip_takes_the_next_one_not_skipped() {
    // Three holidays in the coming week (none is on now), on prod and canary.
    let today = Utc::now().date_naive();
    let days: Vec<chrono::NaiveDate> = [2, 4, 6]
        .iter()
        .map(|d| today + chrono::Duration::days(*d))
        .collect();
    let starts: Vec<u64> = days
        .iter()
        .map(|d| ms(d.and_hms_opt(0, 0, 0).unwrap().and_utc()))
        .collect();
    let toml = format!(
        "[[freezes]]\nname = \"holidays\"\nenvs = [\"prod\", \"canary\"]\ndates = [{}]\ntimezone = \"UTC\"\nreason = \"holiday\"\n",
        days.iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut app = spawn_core_with(|c| c.freezes = windows(&toml)).await;
    app.start_instance().await;
    assert_eq!(next_window_starts(&app, "prod").await, Some(starts[0]));

    // The first skip takes the next occurrence, and says which.
    let first = app.ok("admin", "freeze skip holidays release train").await;
    let day = |i: usize| days[i].format("%Y-%m-%d").to_string();
    assert!(
        first
            .title
            .contains("skipped the `holidays` freeze window of")
            && first.title.contains(&day(0))
            && first.title.contains("prod")
            && first.title.contains("canary"),
        "{}",
        first.title
    );
    assert_eq!(
        next_window_starts(&app, "prod").await,
        Some(starts[1]),
        "the skipped occurrence is not next"
    );
    assert_eq!(next_window_starts(&app, "canary").await, Some(starts[1]));

    // Again: the one after it, not a refusal.
    let second = app
        .ok("admin", "freeze skip holidays once big launch")
        .await;
    assert!(
        second.title.contains(&day(1)) && !second.title.contains(&day(0)),
        "{}",
        second.title
    );
    assert_eq!(next_window_starts(&app, "prod").await, Some(starts[2]));

    // Both are really skipped (the time-travelling test below shows they do not freeze), and
    // `freezes` says so of those two only.
    let listing = app.ok("bob", "freezes prod").await.text.unwrap();
    assert_eq!(listing.matches("— skipped").count(), 2, "{listing}");
    let skipped = entries(&app, "prod", "window_skipped").await;
    assert_eq!(
        skipped
            .iter()
            .map(|e| (field(e, "starts"), field(e, "reason"), field(e, "early")))
            .collect::<Vec<_>>(),
        vec![
            (starts[0].to_string().as_str(), "release train", "0"),
            (starts[1].to_string().as_str(), "big launch", "0"),
        ],
        "each skip is recorded once"
    );
    assert_eq!(entries(&app, "canary", "window_skipped").await.len(), 2);

    // The last one, then nothing is left: the refusal says so, and records nothing.
    app.ok("admin", "freeze skip holidays").await;
    assert_eq!(next_window_starts(&app, "prod").await, None);
    let none = app
        .refused("admin", "freeze skip holidays")
        .await
        .to_string();
    assert!(
        none.contains("skipped already") && none.contains("nothing is left"),
        "{none}"
    );
    assert_eq!(entries(&app, "prod", "window_skipped").await.len(), 3);
}

#[tokio::test]
async fn skipping_reaches_eight_occurrences_ahead_and_then_says_when_to_try_again() {
    // Daily, an hour long, starting three hours from now's hour: never on during the test.
    let hour = chrono::Timelike::hour(&(Utc::now() + chrono::Duration::hours(3)));
    let daily = recurring("nightly", "\"prod\"", &format!("0 {hour} * * *"), "1h");
    let app = spawn_core_with(|c| c.freezes = daily).await;
    let first_start = {
        let settings = app
            .config
            .env_settings(&EnvName::parse("prod").unwrap())
            .unwrap();
        let (states, _) = app.baton.env_views(vec![&settings]).await.unwrap();
        states[0].next_window.as_ref().unwrap().starts
    };
    const DAY: u64 = 86_400_000;
    for i in 0..8u64 {
        app.ok("admin", "freeze skip nightly").await;
        let settings = app
            .config
            .env_settings(&EnvName::parse("prod").unwrap())
            .unwrap();
        let (states, _) = app.baton.env_views(vec![&settings]).await.unwrap();
        assert_eq!(
            states[0].next_window.as_ref().map(|w| w.starts),
            Some(first_start + (i + 1) * DAY),
            "after {} skips",
            i + 1
        );
    }
    let err = app.refused("admin", "freeze skip nightly").await;
    assert!(matches!(err, BatonError::Refused(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("next 8 occurrences")
            && text.contains("reaches no further")
            && text.contains("run it again after"),
        "{text}"
    );
    let skipped = entries(&app, "prod", "window_skipped").await;
    let mut starts: Vec<&str> = skipped.iter().map(|e| field(e, "starts")).collect();
    starts.dedup();
    assert_eq!(starts.len(), 8, "eight different occurrences, each once");
}

#[tokio::test]
async fn two_occurrences_skipped_ahead_do_not_freeze_and_the_next_one_does() {
    // Every 6 s, for 3 s.
    let mut app =
        spawn_core_with(|c| c.freezes = recurring("tick", "\"prod\"", "*/6 * * * * *", "3s")).await;
    app.start_instance().await;
    // Wait for a gap between two occurrences, with a second and more to spare.
    let cycle = 6_000u64;
    let now = ms(Utc::now());
    let into = now % cycle;
    if !(3_200..4_500).contains(&into) {
        let wait = (cycle + 3_300 - into) % cycle;
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    let next = (ms(Utc::now()) / cycle + 1) * cycle;
    app.ok("admin", "freeze skip tick").await;
    app.ok("admin", "freeze skip tick").await;
    let skipped: Vec<u64> = entries(&app, "prod", "window_skipped")
        .await
        .iter()
        .map(|e| field(e, "starts").parse().unwrap())
        .collect();
    assert_eq!(skipped, vec![next, next + cycle], "the next two, in order");
    assert_eq!(
        next_window_starts(&app, "prod").await,
        Some(next + 2 * cycle)
    );

    let sleep_to = |at: u64| {
        let left = at.saturating_sub(ms(Utc::now()));
        tokio::time::sleep(Duration::from_millis(left))
    };
    for start in [next, next + cycle] {
        sleep_to(start + 1_500).await;
        app.ok("bob", "lock prod 10m during a skipped occurrence")
            .await;
        app.ok("bob", "unlock prod").await;
    }
    sleep_to(next + 2 * cycle + 1_500).await;
    let err = app
        .refused("bob", "lock prod 10m during the next one")
        .await;
    let BatonError::Frozen { freeze, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(freeze.window.as_deref(), Some("tick"));
    assert_eq!(entries(&app, "prod", "window_skipped").await.len(), 2);
}

#[tokio::test]
async fn freezes_lists_each_envs_windows_in_the_order_they_happen_as_plain_text() {
    let app = spawn_core_with(|c| {
        c.freezes = once("late", "\"qa\"", 3 * 86_400, 3 * 86_400 + 3_600, "");
        c.freezes
            .extend(once("early", "\"qa\"", 86_400, 86_400 + 3_600, ""));
    })
    .await;
    let text = app.ok("alice", "freezes qa").await.text.unwrap();
    assert!(
        text.starts_with("qa:\n"),
        "a plain heading, no markup: {text}"
    );
    let (early, late) = (text.find("early").unwrap(), text.find("late").unwrap());
    assert!(early < late, "by time, not by window: {text}");
}
