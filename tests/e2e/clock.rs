//! Redis' clock decides: an instance whose own clock is hours off (libfaketime) answers exactly
//! as a correct one, on the freeze calendar's windows and on `freeze … until`. The Redis the test
//! starts keeps the true time.

use chrono::Utc;
use serde_json::{json, Value};

use crate::served::{config_text, Served};
use crate::support::{missing, TestApp, TOKEN_ALL};

/// Where Debian's `faketime` package (libfaketime) puts the preload library.
fn libfaketime() -> Option<&'static str> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}

/// A true UTC time `secs` from now, as `[[freezes]]` and `freeze … until` write it.
fn at(secs: i64, format: &str) -> String {
    (Utc::now() + chrono::Duration::seconds(secs))
        .format(format)
        .to_string()
}

async fn post(served: &Served, path: &str, body: Value) -> (u16, Value) {
    let res = TestApp::http(TOKEN_ALL)
        .post(served.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn command(served: &Served, text: &str) -> (u16, Value) {
    post(served, "/api/v1/commands", json!({ "text": text })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_clock_is_hours_off_answers_like_a_correct_one() {
    let Some(lib) = libfaketime() else {
        missing(
            "an_instance_whose_clock_is_hours_off_answers_like_a_correct_one",
            "libfaketime (apt-get install faketime)",
        );
        return;
    };
    let redis = baton::redis_process::RedisProcess::start().expect("redis-server is installed");
    // A window on `qa` from a minute ago to an hour from now, by the true clock.
    let window = format!(
        "\n[[freezes]]\nname = \"close\"\nenvs = [\"qa\"]\nstart = \"{}\"\nend = \"{}\"\ntimezone = \"UTC\"\nreason = \"quarterly close\"\n",
        at(-60, "%Y-%m-%d %H:%M:%S"),
        at(3600, "%Y-%m-%d %H:%M:%S"),
    );
    let config = config_text(&redis.url(), &window);
    for skew in ["-3h", "+2h", "+0"] {
        let served = Served::start(
            "clock",
            &config,
            &[
                ("LD_PRELOAD", lib),
                ("FAKETIME", skew),
                // Tokio's timers read the monotonic clock; moving it back could take it below 0.
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ],
        )
        .await;
        // The instance's clock is off indeed: its HTTP `Date` says so.
        let res = reqwest::get(served.url("/healthz")).await.unwrap();
        let date = res.headers()["date"].to_str().unwrap().to_string();
        let its = chrono::DateTime::parse_from_rfc2822(&date).unwrap();
        let off = (its.with_timezone(&Utc) - Utc::now()).num_minutes();
        let want = match skew {
            "-3h" => -180,
            "+2h" => 120,
            _ => 0,
        };
        assert!((off - want).abs() <= 1, "clock {skew}: its Date is {date}");
        let (status, body) = post(&served, "/api/v1/locks/qa", json!({"holder": skew})).await;
        assert_eq!(
            status, 403,
            "clock {skew}: a lock inside the window: {body}"
        );
        assert_eq!(body["error"], "frozen", "clock {skew}: {body}");

        // A real time half an hour ahead is in the future, whatever this instance's clock says.
        let until = at(1800, "%Y-%m-%dT%H:%M:%SZ");
        let (status, body) = command(&served, &format!("freeze canary until {until} drill")).await;
        assert_eq!(status, 200, "clock {skew}: freeze until {until}: {body}");
        let (status, body) = post(&served, "/api/v1/locks/canary", json!({"holder": skew})).await;
        assert_eq!(status, 403, "clock {skew}: canary frozen: {body}");
        let (status, body) = command(&served, "unfreeze canary").await;
        assert_eq!(status, 200, "clock {skew}: {body}");

        // And one half an hour ago is past.
        let until = at(-1800, "%Y-%m-%dT%H:%M:%SZ");
        let (status, body) = command(&served, &format!("freeze canary until {until} drill")).await;
        assert_eq!(status, 400, "clock {skew}: freeze until {until}: {body}");
        assert!(
            body.to_string().contains("in the past"),
            "clock {skew}: {body}"
        );
        let (status, body) = post(&served, "/api/v1/locks/canary", json!({"holder": skew})).await;
        assert_eq!(status, 200, "clock {skew}: canary not frozen: {body}");
        let token = body["token"].as_str().unwrap().to_string();
        let res = TestApp::http(TOKEN_ALL)
            .delete(served.url("/api/v1/locks/canary"))
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "clock {skew}: release");
    }
}
