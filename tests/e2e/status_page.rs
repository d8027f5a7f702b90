//! The status page (`GET /`) and its public feeds: server-rendered HTML that escapes what users
//! typed and never shows a token, one state per env with times in the team's zone, a token-less
//! event stream, the `status_page = false` switch, and a real headless Chromium (Debian's, driven
//! by `tests/browser`) that fits 30 envs on a 1920×1080 wall screen and sees a lock taken through
//! the CI API appear without a reload.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use baton_commands::Config;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::{missing, node_packages, spawn_app, spawn_core_with, TestApp, TOKEN_ALL};

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

/// A UTC wall-clock time `secs` from now, as `[[freezes]] start`/`end` write it.
fn at(secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The test config's envs plus `envs`, the freeze windows in `freezes` (TOML) and the team's
/// `zone`.
fn with(envs: &[&str], freezes: &str, zone: &str) -> impl FnOnce(&mut Config) {
    let mut toml = format!("[defaults]\ntimezone = \"{zone}\"\n");
    for name in envs {
        toml.push_str(&format!("[[envs]]\nname = \"{name}\"\n"));
    }
    toml.push_str(freezes);
    let extra = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    move |c: &mut Config| {
        c.envs.extend(extra.envs);
        c.freezes = extra.freezes;
        c.defaults.timezone = extra.defaults.timezone;
    }
}

/// A one-off window `name` on `envs` from `from` to `to` seconds from now (its own zone UTC).
fn window(name: &str, envs: &str, from: i64, to: i64, reason: &str) -> String {
    format!(
        "[[freezes]]\nname = \"{name}\"\nenvs = [{envs}]\nstart = \"{}\"\nend = \"{}\"\ntimezone = \"UTC\"\nreason = \"{reason}\"\n",
        at(from),
        at(to)
    )
}

/// The card of `env` in the page's HTML.
fn card<'a>(html: &'a str, env: &str) -> &'a str {
    let name = format!("<span class=\"name\" title=\"{env}\">{env}</span>");
    let at = html
        .find(&name)
        .unwrap_or_else(|| panic!("no card for {env}: {html}"));
    let start = html[..at].rfind("<article").unwrap();
    let end = at + html[at..].find("</article>").unwrap();
    &html[start..end]
}

/// Locks `env` through the CI API; returns the grant (with its token).
async fn ci_lock(app: &TestApp, env: &str, body: Value) -> Value {
    let response = TestApp::http(TOKEN_ALL)
        .post(app.url(&format!("/api/v1/locks/{env}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "lock {env}");
    response.json().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = reqwest::get(app.url(path)).await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, response.text().await.unwrap(), headers)
}

#[tokio::test]
async fn the_page_shows_every_env_and_a_locks_holder_and_reason_escaped_and_never_a_token() {
    let app = spawn_app().await;
    let grant = ci_lock(
        &app,
        "canary",
        json!({"holder": "release-bot", "reason": "ship v4.2 & <b>friends</b>"}),
    )
    .await;
    let token = grant["token"].as_str().unwrap();
    app.ok("alice", "lock qa 10m <script>alert(1)</script>")
        .await;
    app.ok("bob", "claim staging 1h e2e suite").await;

    let (status, html, headers) = get(&app, "/").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    for name in [
        "prod",
        "canary",
        "qa",
        "staging-1",
        "staging-2",
        "staging-3",
    ] {
        assert!(
            html.contains(&format!(
                "<span class=\"name\" title=\"{name}\">{name}</span>"
            )),
            "{name}: {html}"
        );
    }
    assert!(
        card(&html, "staging-2").contains("title=\"pool staging\""),
        "pool members carry their pool: {html}"
    );
    assert!(html.contains("staging 1 of 3 in use"), "{html}");
    assert!(card(&html, "canary").contains(">LOCKED<"), "{html}");
    assert!(card(&html, "prod").contains(">FREE<"), "{html}");
    assert!(html.contains(">release-bot<"), "{html}");
    assert!(
        html.contains("ship v4.2 &amp; &lt;b&gt;friends&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert(1)"),
        "a reason became markup: {html}"
    );
    assert!(
        html.contains(">e2e suite<"),
        "the claim's note shows: {html}"
    );

    let (status, json, _) = get(&app, "/status/envs.json").await;
    assert_eq!(status, 200, "{json}");
    let view: Value = serde_json::from_str(&json).unwrap();
    let canary = view["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == "canary")
        .unwrap();
    assert_eq!(canary["lock"]["holder"], "release-bot");
    assert_eq!(view["pools"][0]["members"].as_array().unwrap().len(), 3);
    for (body, what) in [(&html, "the page"), (&json, "envs.json")] {
        assert!(!body.contains(token), "{what} shows the lock token");
        assert!(!body.contains(TOKEN_ALL), "{what} shows the CI token");
        for private in [
            "holder_id",
            "fence",
            "ci:all",
            "console:alice",
            "console:bob",
        ] {
            assert!(!body.contains(private), "{what} shows `{private}`: {body}");
        }
    }
}

/// What issue 29 found on a wall screen: a frozen free env said "Free" above "FROZEN BY lunch",
/// and a UTC time was labelled with another zone.
#[tokio::test]
async fn each_env_says_one_state_with_times_in_the_team_zone_and_its_windows_of_the_next_24_hours()
{
    let freezes = [
        window("lunch", "\"ledger\"", -60, 2700, "team lunch"),
        window("release", "\"checkout\"", 1800, 5400, "release train"),
        window("evening", "\"checkout\"", 6 * 3600, 7 * 3600, ""),
        window("far", "\"checkout\"", 30 * 3600, 31 * 3600, ""),
    ]
    .concat();
    let envs = ["ledger", "checkout", "billing"];
    let mut app = spawn_core_with(with(&envs, &freezes, "America/New_York")).await;
    app.start_instance().await;
    app.ok("alice", "lock billing 1h audit prep").await;
    app.ok("alice", "freeze billing 2h audit").await;

    let (status, html, _) = get(&app, "/").await;
    assert_eq!(status, 200, "{html}");
    let ledger = card(&html, "ledger");
    assert!(
        ledger.contains("<span class=\"state\">FROZEN</span>"),
        "{ledger}"
    );
    assert!(ledger.contains(">lunch window<"), "{ledger}");
    assert!(
        !ledger.to_lowercase().contains(">free"),
        "a frozen env says Free: {ledger}"
    );
    let billing = card(&html, "billing");
    assert!(billing.contains(">LOCKED · FROZEN<"), "{billing}");
    assert!(billing.contains("Frozen by alice · audit"), "{billing}");

    let (_, json, _) = get(&app, "/status/envs.json").await;
    let view: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(view["zone"], "America/New_York");
    let checkout = view["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == "checkout")
        .unwrap();
    let names: Vec<&str> = checkout["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["release", "evening"], "the strip's next 24 hours");
    let starts = humantime::parse_rfc3339(checkout["next_window"]["starts"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let local = Utc
        .timestamp_opt(starts.as_secs() as i64, 0)
        .unwrap()
        .with_timezone(&chrono_tz::America::New_York)
        .format("%H:%M")
        .to_string();
    let checkout = card(&html, "checkout");
    assert!(
        checkout.contains(&format!(">FREE UNTIL {local}<")),
        "free, with the window's start in New York time: {checkout}"
    );
    assert!(checkout.contains("Next freeze release"), "{checkout}");
    assert!(
        html.contains("<span id=\"zone\">America/New_York</span>"),
        "the page names its zone"
    );
    assert!(!html.contains(" UTC"), "a time labelled UTC: {html}");
}

#[tokio::test]
async fn the_public_event_stream_needs_no_token_and_names_only_the_kind_and_env() {
    let app = spawn_app().await;
    let mut stream = reqwest::get(app.url("/status/events")).await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.ok("alice", "lock canary 10m private-ish reason").await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("\"kind\":\"locked\"") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"env\":\"canary\""), "{seen}");
    for private in ["private-ish", "token", "holder", "alice"] {
        assert!(
            !seen.contains(private),
            "`{private}` left on the public stream: {seen}"
        );
    }
}

#[tokio::test]
async fn status_page_false_removes_the_page_and_both_feeds() {
    let mut app = spawn_core_with(|c| c.server.status_page = false).await;
    app.start_instance().await;
    for path in ["/", "/status/envs.json", "/status/events"] {
        assert_eq!(get(&app, path).await.0, 404, "{path}");
    }
    assert_eq!(get(&app, "/healthz").await.0, 200);
}

/// The public page says the store is unavailable, never why: the cause names Baton's Redis
/// settings, and is for `/readyz` and the logs.
#[tokio::test]
async fn with_redis_down_the_page_and_feed_say_store_unavailable_without_the_cause() {
    let mut app = spawn_app().await;
    app.redis.stop();
    let cause = "cannot connect";
    let (status, html, _) = get(&app, "/").await;
    assert_eq!(status, 503);
    assert!(
        html.contains("The state store is unavailable. This page keeps trying."),
        "{html}"
    );
    assert!(!html.contains(cause), "{html}");
    assert!(
        html.contains("<script>"),
        "the page still loads its script to recover"
    );
    let (status, json, _) = get(&app, "/status/envs.json").await;
    assert_eq!(status, 503);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        json!({"error": "store_unavailable", "message": "the state store is unavailable"})
    );
    let (status, ready, _) = get(&app, "/readyz").await;
    assert_eq!(status, 503);
    assert!(ready.contains(cause), "/readyz keeps the cause: {ready}");
}

/// Chromium, Node and playwright-core (see `support::node_packages` for when a missing one fails).
fn browser_prerequisites() -> Option<String> {
    const WHAT: &str = "the status page browser test";
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing(WHAT, &format!("Chromium at {chromium} (Debian/Ubuntu: `sudo apt-get install -y chromium`, or set CHROMIUM)"));
        return None;
    }
    if !node_packages(BROWSER_DIR, WHAT) {
        return None;
    }
    let package = Path::new(BROWSER_DIR).join("node_modules/playwright-core/package.json");
    assert!(
        package.exists(),
        "playwright-core is missing: run `npm ci --prefix tests/browser`"
    );
    Some(chromium)
}

/// The 24 envs added to the test config's 6 for the wall screen: 30 in all.
const WALL: [&str; 24] = [
    "api-1",
    "api-2",
    "api-3",
    "api-4",
    "web-eu",
    "web-us",
    "billing",
    "search",
    "auth",
    "payments-reconciliation-eu-west-1-blue",
    "notifications",
    "reports",
    "ml-scoring",
    "data-pipeline",
    "cdn-edge",
    "mobile-api",
    "admin-portal",
    "partner-gateway",
    "ledger",
    "inventory",
    "checkout",
    "analytics",
    "geo",
    "mail",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_1920x1080_wall_screen_30_envs_fit_without_scrolling_and_a_lock_shows_without_a_reload(
) {
    let Some(chromium) = browser_prerequisites() else {
        return;
    };
    let freezes = [
        window(
            "lunch",
            "\"ledger\", \"inventory\"",
            -60,
            2700,
            "team lunch",
        ),
        window("release", "\"checkout\"", 1800, 5400, "release train"),
        window(
            "evening",
            "\"api-*\", \"web-*\", \"billing\"",
            5 * 3600,
            7 * 3600,
            "batch jobs",
        ),
    ]
    .concat();
    let mut app = spawn_core_with(with(&WALL, &freezes, "Europe/Berlin")).await;
    app.start_instance().await;
    // Something in every state, so the screenshot shows the whole design.
    app.ok("alice", "lock prod 45m hotfix for checkout latency")
        .await;
    app.ok("bob", "queue prod 20m migrate the orders table")
        .await;
    app.ok("alice", "freeze qa 2h release candidate soak").await;
    app.ok("bob", "claim staging 3h e2e suite").await;
    app.ok("alice", "lock billing 1h audit prep").await;
    app.ok("alice", "freeze billing 3h quarterly audit").await;
    app.ok("bob", "lock search 10m reindex").await;
    let long_holder =
        "github:octo-org/an-extremely-long-repository-name deploy workflow run #9876543210";
    let long_reason = "deploying the payments reconciliation service with the new ledger schema \
                       migration, the feature flags for the EU rollout and a rollback plan";
    let payments = "payments-reconciliation-eu-west-1-blue";
    ci_lock(
        &app,
        payments,
        json!({"holder": long_holder, "reason": long_reason, "ttl": "2h"}),
    )
    .await;
    let deploy =
        json!({"sha": "4f2a9c1e0b7d", "version": "v4.2.0", "url": "https://ci.example/88"});
    // billing is the fullest card: held, frozen, a window ahead and a deploy (four rows).
    for env in ["canary", "billing"] {
        let recorded = TestApp::http(TOKEN_ALL)
            .post(app.url(&format!("/api/v1/deploys/{env}")))
            .json(&deploy)
            .send()
            .await
            .unwrap();
        assert_eq!(recorded.status(), 200);
    }

    let holder = "release-bot #42";
    let reason = r#"<img src=x onerror="window.__xss=1">deploy v4.3"#;
    let screenshot = std::env::temp_dir().join(format!("baton-wall-{}.png", std::process::id()));
    let job = json!({
        "url": app.url("/"),
        "envs": 30,
        "zone": "Europe/Berlin",
        "expect": [holder, reason],
        "absent": [holder],
        "changed": "canary",
        "frozenFree": ["qa", "ledger", "inventory"],
        "truncated": [
            {"env": payments, "text": long_holder},
            {"env": payments, "text": long_reason},
            {"env": payments, "text": payments},
        ],
        "screenshot": screenshot,
    });
    let result = drive_browser(&chromium, &job, async {
        // The page is loaded and subscribed: now the lock, through the CI API, with no reload.
        ci_lock(
            &app,
            "canary",
            json!({"holder": holder, "reason": reason, "ttl": "25m"}),
        )
        .await;
    })
    .await;
    assert!(result.contains("\"ok\":true"), "{result}");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    eprintln!("wall screen screenshot: {}", screenshot.display());
}

/// Runs `tests/browser/status_page.mjs` with `job`; once it prints `ready` (the page is loaded
/// and live), runs `change`. Returns the script's last line; panics with its stderr on failure.
async fn drive_browser(chromium: &str, job: &Value, change: impl std::future::Future) -> String {
    let mut node = tokio::process::Command::new("node")
        .arg("status_page.mjs")
        .arg(job.to_string())
        .env("CHROMIUM", chromium)
        .current_dir(BROWSER_DIR)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdout = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stderr = node.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let ready = tokio::time::timeout(Duration::from_secs(60), stdout.next_line()).await;
    if !matches!(&ready, Ok(Ok(Some(line))) if line == "ready") {
        let _ = node.kill().await;
        panic!(
            "Chromium did not load the live page ({ready:?}):\n{}",
            stderr.await.unwrap()
        );
    }
    change.await;

    let status = tokio::time::timeout(Duration::from_secs(60), node.wait())
        .await
        .expect("the browser check finished within a minute")
        .unwrap();
    let mut result = String::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        result.push_str(&line);
    }
    let stderr = stderr.await.unwrap();
    assert!(
        status.success(),
        "the browser check failed:\n{stderr}\n{result}"
    );
    result
}
