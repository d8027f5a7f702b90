use super::super::Config;

fn problems(text: &str) -> Vec<(Option<usize>, String)> {
    Config::from_toml_str(text)
        .unwrap_err()
        .problems
        .into_iter()
        .map(|p| (p.line, p.message))
        .collect()
}

fn has(found: &[(Option<usize>, String)], line: usize, fragment: &str) -> bool {
    found
        .iter()
        .any(|(l, m)| *l == Some(line) && m.contains(fragment))
}

#[test]
fn an_unknown_zone_a_bad_cron_and_a_non_positive_duration_are_refused_on_their_lines() {
    let found = problems(
        r#"
[[freezes]]
name = "weekend"
envs = ["prod"]
cron = "0 16 * * FRI"
duration = "0s"
timezone = "Europe/Berln"

[[freezes]]
name = "nightly"
envs = ["all"]
cron = "0 25 * * *"
duration = "2h"

[[freezes]]
name = "year-end"
envs = ["prod"]
start = "2026-12-24 18:00"
end = "2026-12-20 08:00"
"#,
    );
    assert!(has(&found, 6, "`duration` must be positive"), "{found:#?}");
    assert!(has(&found, 7, "did you mean `Europe/Berlin`"), "{found:#?}");
    assert!(has(&found, 12, "is not a cron expression"), "{found:#?}");
    assert!(has(&found, 19, "`end` must be after `start`"), "{found:#?}");
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn a_window_needs_exactly_one_complete_schedule() {
    let found = problems(
        r#"
[[freezes]]
name = "a"
envs = ["prod"]

[[freezes]]
name = "b"
envs = ["prod"]
cron = "0 16 * * FRI"

[[freezes]]
name = "c"
envs = ["prod"]
dates = ["2026-12-25"]
start = "2026-12-24 18:00"
end = "2026-12-26 08:00"

[[freezes]]
name = "a"
envs = []
dates = ["2026-13-01"]
"#,
    );
    assert!(has(&found, 2, "say when it happens"), "{found:#?}");
    assert_eq!(found.len(), 6, "{found:#?}");
    assert!(has(&found, 9, "needs a `duration`"), "{found:#?}");
    assert!(has(&found, 11, "give one schedule"), "{found:#?}");
    assert!(has(&found, 19, "listed twice"), "{found:#?}");
    assert!(has(&found, 20, "is empty"), "{found:#?}");
    assert!(has(&found, 21, "is not a date"), "{found:#?}");
}

#[test]
fn valid_windows_become_the_calendar_in_their_zones() {
    let config = Config::from_toml_str(
        r#"
[defaults]
timezone = "Europe/Berlin"

[[freezes]]
name = "weekend"
envs = ["prod", "prod-*"]
cron = "0 16 * * FRI"
duration = "64h"
reason = "weekend"
notice_before = "30m"

[[freezes]]
name = "holidays"
envs = ["all"]
dates = ["2026-12-24", "2026-12-25"]
timezone = "America/New_York"
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let windows = config.windows();
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0].tz, chrono_tz::Europe::Berlin);
    assert_eq!(windows[1].tz, chrono_tz::America::New_York);
    assert!(windows[0].covers_env("prod-eu") && !windows[0].covers_env("staging"));
    assert!(windows[1].covers_env("anything"));
}
