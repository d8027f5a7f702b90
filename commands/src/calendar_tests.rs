//! The calendar against the real 2026 and 2027 transitions of Europe/Berlin (last Sundays of
//! March and October, at 01:00 UTC) and America/New_York (second Sunday of March, first Sunday of
//! November, at 02:00 local).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a test instant")
        .with_timezone(&Utc)
}

fn weekly(tz: &str, cron: &str, hours: f64) -> Window {
    Window {
        name: "w".into(),
        envs: vec!["all".into()],
        tz: parse_tz(tz).expect("a zone"),
        reason: "test".into(),
        notice_before: None,
        schedule: Schedule::Recurring {
            cron: Box::new(parse_cron(cron).expect("a cron")),
            duration: Duration::from_secs_f64(hours * 3600.0),
        },
    }
}

/// The occurrence that starts on the day of `start` (UTC), as RFC 3339 instants.
fn occurrence_from(w: &Window, from: &str) -> (String, String) {
    let o = w.upcoming(utc(from), 1)[0];
    (o.start.to_rfc3339(), o.end.to_rfc3339())
}

#[test]
fn a_weekly_berlin_window_keeps_its_wall_clock_times_across_every_transition() {
    // Friday 16:00 to Monday 08:00 local: 63 real hours over spring-forward, 65 over fall-back.
    let w = weekly("Europe/Berlin", "0 16 * * FRI", 64.0);
    for (from, start, end) in [
        (
            "2026-03-26T00:00:00Z",
            "2026-03-27T15:00:00+00:00",
            "2026-03-30T06:00:00+00:00",
        ),
        (
            "2026-10-22T00:00:00Z",
            "2026-10-23T14:00:00+00:00",
            "2026-10-26T07:00:00+00:00",
        ),
        (
            "2027-03-25T00:00:00Z",
            "2027-03-26T15:00:00+00:00",
            "2027-03-29T06:00:00+00:00",
        ),
        (
            "2027-10-28T00:00:00Z",
            "2027-10-29T14:00:00+00:00",
            "2027-11-01T07:00:00+00:00",
        ),
    ] {
        assert_eq!(
            occurrence_from(&w, from),
            (start.into(), end.into()),
            "from {from}"
        );
    }
}

#[test]
fn a_weekly_new_york_window_keeps_its_wall_clock_times_across_every_transition() {
    // Friday 18:00 to Monday 08:00 local.
    let w = weekly("America/New_York", "0 18 * * FRI", 62.0);
    for (from, start, end) in [
        (
            "2026-03-05T00:00:00Z",
            "2026-03-06T23:00:00+00:00",
            "2026-03-09T12:00:00+00:00",
        ),
        (
            "2026-10-29T00:00:00Z",
            "2026-10-30T22:00:00+00:00",
            "2026-11-02T13:00:00+00:00",
        ),
        (
            "2027-03-11T00:00:00Z",
            "2027-03-12T23:00:00+00:00",
            "2027-03-15T12:00:00+00:00",
        ),
        (
            "2027-11-04T00:00:00Z",
            "2027-11-05T22:00:00+00:00",
            "2027-11-08T13:00:00+00:00",
        ),
    ] {
        assert_eq!(
            occurrence_from(&w, from),
            (start.into(), end.into()),
            "from {from}"
        );
    }
}

#[test]
fn a_start_in_the_spring_forward_gap_begins_when_the_gap_ends() {
    // 02:30 does not exist on these Sundays: the window starts at 03:00 local and still lasts
    // its two hours (until 05:00 local).
    let berlin = weekly("Europe/Berlin", "30 2 * * SUN", 2.0);
    assert_eq!(
        occurrence_from(&berlin, "2026-03-28T12:00:00Z"),
        (
            "2026-03-29T01:00:00+00:00".into(),
            "2026-03-29T03:00:00+00:00".into()
        )
    );
    assert_eq!(
        occurrence_from(&berlin, "2027-03-27T12:00:00Z"),
        (
            "2027-03-28T01:00:00+00:00".into(),
            "2027-03-28T03:00:00+00:00".into()
        )
    );
    let new_york = weekly("America/New_York", "30 2 * * SUN", 2.0);
    assert_eq!(
        occurrence_from(&new_york, "2026-03-07T12:00:00Z"),
        (
            "2026-03-08T07:00:00+00:00".into(),
            "2026-03-08T09:00:00+00:00".into()
        )
    );
    assert_eq!(
        occurrence_from(&new_york, "2027-03-13T12:00:00Z"),
        (
            "2027-03-14T07:00:00+00:00".into(),
            "2027-03-14T09:00:00+00:00".into()
        )
    );
}

#[test]
fn an_end_in_the_fall_back_overlap_is_its_later_instant() {
    // 02:30 happens twice: the window runs until the second one, never ending early.
    let berlin = weekly("Europe/Berlin", "0 1 * * SUN", 1.5);
    assert_eq!(
        occurrence_from(&berlin, "2026-10-24T12:00:00Z"),
        (
            "2026-10-24T23:00:00+00:00".into(),
            "2026-10-25T01:30:00+00:00".into()
        )
    );
    assert_eq!(
        occurrence_from(&berlin, "2027-10-30T12:00:00Z"),
        (
            "2027-10-30T23:00:00+00:00".into(),
            "2027-10-31T01:30:00+00:00".into()
        )
    );
    let new_york = weekly("America/New_York", "0 0 * * SUN", 1.5);
    assert_eq!(
        occurrence_from(&new_york, "2026-10-31T12:00:00Z"),
        (
            "2026-11-01T04:00:00+00:00".into(),
            "2026-11-01T06:30:00+00:00".into()
        )
    );
    assert_eq!(
        occurrence_from(&new_york, "2027-11-06T12:00:00Z"),
        (
            "2027-11-07T04:00:00+00:00".into(),
            "2027-11-07T06:30:00+00:00".into()
        )
    );
}

#[test]
fn a_start_in_the_fall_back_overlap_is_its_first_instant() {
    let berlin = weekly("Europe/Berlin", "30 2 * * SUN", 1.0);
    let o = berlin.upcoming(utc("2026-10-24T12:00:00Z"), 1)[0];
    assert_eq!(o.start, utc("2026-10-25T00:30:00Z"));
}

#[test]
fn a_window_is_active_from_its_start_until_just_before_its_end() {
    let w = weekly("Europe/Berlin", "0 16 * * FRI", 64.0);
    assert_eq!(w.active_at(utc("2026-03-27T14:59:59Z")), None);
    let on = w
        .active_at(utc("2026-03-27T15:00:00Z"))
        .expect("on at its start");
    assert_eq!(on.end, utc("2026-03-30T06:00:00Z"));
    assert!(w.active_at(utc("2026-03-30T05:59:59Z")).is_some());
    assert_eq!(w.active_at(utc("2026-03-30T06:00:00Z")), None);
}

#[test]
fn holidays_are_whole_local_days_and_adjacent_ones_merge() {
    let w = Window {
        schedule: Schedule::Days(vec![
            NaiveDate::from_ymd_opt(2026, 12, 26).unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        ]),
        ..weekly("Europe/Berlin", "0 0 * * *", 1.0)
    };
    let all = w.occurrences(utc("2026-12-01T00:00:00Z"), utc("2027-02-01T00:00:00Z"));
    assert_eq!(
        all,
        vec![
            Occurrence {
                start: utc("2026-12-23T23:00:00Z"),
                end: utc("2026-12-26T23:00:00Z")
            },
            Occurrence {
                start: utc("2026-12-31T23:00:00Z"),
                end: utc("2027-01-01T23:00:00Z")
            },
        ]
    );
}

#[test]
fn a_once_window_resolves_both_ends_in_its_zone() {
    let w = Window {
        schedule: Schedule::Once {
            start: NaiveDate::from_ymd_opt(2026, 12, 18)
                .unwrap()
                .and_hms_opt(18, 0, 0)
                .unwrap(),
            end: NaiveDate::from_ymd_opt(2027, 1, 4)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap(),
        },
        ..weekly("America/New_York", "0 0 * * *", 1.0)
    };
    let o = w.upcoming(utc("2026-12-01T00:00:00Z"), 1)[0];
    assert_eq!(
        (o.start, o.end),
        (utc("2026-12-18T23:00:00Z"), utc("2027-01-04T13:00:00Z"))
    );
}

#[test]
fn unknown_zones_and_bad_cron_are_refused_in_words() {
    let e = parse_tz("Europe/Berln").unwrap_err();
    assert!(e.contains("did you mean `Europe/Berlin`"), "{e}");
    let e = parse_cron("0 25 * * FRI").unwrap_err();
    assert!(e.contains("is not a cron expression"), "{e}");
    assert!(parse_cron("0 16 * * FRI").is_ok());
}
