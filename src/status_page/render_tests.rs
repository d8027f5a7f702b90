//! The wall screen's markup: one state per env, times in the page's zone, people's text inert.

use super::*;
use serde_json::json;

/// 2026-11-26 10:25 UTC, a Thursday.
const NOW: u64 = 1_795_688_700_000;

fn at(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

#[test]
fn countdowns_read_like_the_scripts() {
    for (ms, want) in [
        (0, "expiring"),
        (1, "0m 01s left"),
        (61_000, "1m 01s left"),
        (3_600_000, "1h 00m left"),
        (7_500_000, "2h 05m left"),
        (90_000_000, "1d 1h left"),
    ] {
        assert_eq!(left(ms), want, "{ms} ms");
    }
    assert_eq!(starts_in(61_000), "in 1m 01s");
    assert_eq!(starts_in(0), "now");
    assert_eq!(ago(59_999), "just now");
    assert_eq!(ago(120_000), "2m ago");
    assert_eq!(ago(7_200_000), "2h ago");
}

#[test]
fn clock_shows_the_time_today_the_day_this_week_and_the_date_beyond() {
    let ctx = Ctx {
        now: NOW,
        zone: &Utc,
    };
    assert_eq!(ctx.clock(NOW + 3_600_000), "11:25");
    assert_eq!(ctx.clock(NOW + DAY), "Fri 10:25");
    assert_eq!(ctx.clock(NOW + 7 * DAY), "2026-12-03 10:25");
    let berlin = chrono::FixedOffset::east_opt(3600).unwrap();
    let ctx = Ctx {
        now: NOW,
        zone: &berlin,
    };
    assert_eq!(ctx.clock(NOW), "11:25", "in the page's zone, not UTC");
}

#[test]
fn the_strip_ticks_every_six_local_hours_and_names_midnight_by_its_day() {
    let ctx = Ctx {
        now: NOW,
        zone: &Utc,
    };
    let labels: Vec<String> = ctx.ticks().into_iter().map(|(_, l)| l).collect();
    assert_eq!(labels, ["12:00", "18:00", "Fri", "06:00"]);
    assert_eq!(percent(ctx.pos(NOW + DAY / 8)), "12.5%");
    assert_eq!(percent(ctx.pos(NOW + 2 * DAY)), "100.0%");
}

#[test]
fn a_frozen_free_env_says_frozen_and_never_free() {
    let ctx = Ctx {
        now: NOW,
        zone: &Utc,
    };
    let env = json!({"env": "qa", "lock": null, "claim": null, "queued": 0,
        "freeze": {"by": "lunch", "window": "lunch", "reason": "eat", "until": at(NOW + 1_800_000)}});
    let mut out = String::new();
    card(&mut out, &env, None, &ctx);
    assert!(out.contains("<span class=\"state\">FROZEN</span>"), "{out}");
    assert!(out.contains(">lunch window<"), "{out}");
    let mut shown = String::new();
    for part in out.split('<') {
        shown.push_str(part.split_once('>').map_or(part, |(_, text)| text));
        shown.push(' ');
    }
    assert!(!shown.to_lowercase().contains("free"), "{shown}");
}

#[test]
fn each_combination_has_one_state_word() {
    let ctx = Ctx {
        now: NOW,
        zone: &Utc,
    };
    let hold = json!({"holder": "a", "expires_at": at(NOW + 60_000)});
    let freeze = json!({"by": "b", "until": null});
    let soon = json!({"name": "w", "starts": at(NOW + 600_000), "ends": at(NOW + DAY)});
    let later = json!({"name": "w", "starts": at(NOW + 2 * SOON), "ends": at(NOW + DAY)});
    for (lock, claim, f, w, want) in [
        (&hold, &Value::Null, &freeze, &soon, "LOCKED · FROZEN"),
        (
            &Value::Null,
            &hold,
            &freeze,
            &Value::Null,
            "CLAIMED · FROZEN",
        ),
        (&hold, &Value::Null, &Value::Null, &soon, "LOCKED"),
        (&Value::Null, &Value::Null, &freeze, &soon, "FROZEN"),
        (
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &soon,
            "FREE UNTIL 10:35",
        ),
        (&Value::Null, &Value::Null, &Value::Null, &later, "FREE"),
    ] {
        let e = json!({"lock": lock, "claim": claim, "freeze": f, "next_window": w});
        assert_eq!(state(&e, &ctx).1, want, "{e}");
    }
}

#[test]
fn people_s_text_stays_text_in_rows_titles_and_the_strip() {
    let ctx = Ctx {
        now: NOW,
        zone: &Utc,
    };
    let xss = "<img src=x onerror=\"alert(1)\">";
    let env = json!({"env": "prod", "queued": 1, "queue": [{"holder": xss}],
        "lock": {"holder": xss, "reason": xss, "expires_at": at(NOW + 60_000)}});
    let mut out = String::new();
    card(&mut out, &env, None, &ctx);
    assert!(!out.contains("<img"), "{out}");
    assert!(
        out.contains("title=\"&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\""),
        "{out}"
    );
}

#[test]
fn markup_characters_are_escaped() {
    assert_eq!(
        escape(r#"<script>alert("x") & 'y'</script>"#),
        "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
    );
}
