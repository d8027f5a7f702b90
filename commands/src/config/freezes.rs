//! `[[freezes]]`: the freeze calendar. Each entry is one window: a name, the envs it covers, a
//! schedule (a cron start plus a duration, an explicit start and end, or a list of whole days), a
//! time zone and a reason. Zones, cron expressions and dates are parsed while decoding, so a bad
//! one is reported on its own line; the rules between keys are checked here.
//!
//! ```toml
//! [defaults]
//! timezone = "Europe/Berlin"
//!
//! [[freezes]]
//! name = "weekend"
//! envs = ["prod", "prod-*"]
//! cron = "0 16 * * FRI"
//! duration = "64h"
//! reason = "weekend: no deploys until Monday 08:00"
//! notice_before = "30m"
//! ```

use std::collections::HashMap;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Deserializer};

use super::decode::Ctx;
use super::{Config, Problem};
use crate::calendar::{self, Schedule, Window};
use crate::domain::{preview, MAX_REASON_LEN};

/// One `[[freezes]]` entry, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindowConfig {
    /// What people and `freeze skip` call it: letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// Env names or globs (`prod-*`), or `all`.
    pub envs: Vec<String>,
    /// When it starts: a cron expression in its zone (with `duration`).
    #[serde(default, deserialize_with = "cron")]
    pub cron: Option<Box<Cron>>,
    /// How long each cron occurrence lasts, in wall-clock time.
    #[serde(default, deserialize_with = "super::opt_duration")]
    pub duration: Option<Duration>,
    /// A one-off window's start, `YYYY-MM-DD HH:MM` in its zone (with `end`).
    #[serde(default, deserialize_with = "local_time")]
    pub start: Option<NaiveDateTime>,
    /// A one-off window's end.
    #[serde(default, deserialize_with = "local_time")]
    pub end: Option<NaiveDateTime>,
    /// Whole days (`YYYY-MM-DD`), midnight to midnight in its zone: holidays.
    #[serde(default, deserialize_with = "dates")]
    pub dates: Vec<NaiveDate>,
    /// Its IANA zone; `[defaults] timezone`, else UTC.
    #[serde(default, deserialize_with = "opt_tz")]
    pub timezone: Option<Tz>,
    /// Why, shown to everyone it refuses and in every announcement.
    #[serde(default)]
    pub reason: String,
    /// How long before each start the envs' channels, and holders whose lock or claim runs into
    /// it, are told.
    #[serde(default, deserialize_with = "super::opt_duration")]
    pub notice_before: Option<Duration>,
}

impl FreezeWindowConfig {
    /// The window, in the zone it names or `default` (already checked).
    pub fn window(&self, default: Tz) -> Option<Window> {
        let schedule = match (&self.cron, self.duration, self.start, self.end) {
            (Some(cron), Some(duration), None, None) if self.dates.is_empty() => {
                Schedule::Recurring {
                    cron: cron.clone(),
                    duration,
                }
            }
            (None, None, Some(start), Some(end)) if self.dates.is_empty() => {
                Schedule::Once { start, end }
            }
            (None, None, None, None) if !self.dates.is_empty() => {
                Schedule::Days(self.dates.clone())
            }
            _ => return None,
        };
        Some(Window {
            name: self.name.clone(),
            envs: self.envs.clone(),
            tz: self.timezone.unwrap_or(default),
            reason: self.reason.clone(),
            notice_before: self.notice_before,
            schedule,
        })
    }
}

/// The longest a window's name may be.
const MAX_NAME_LEN: usize = 64;

impl Config {
    /// The calendar's windows, each in its zone (the config has been checked).
    pub fn windows(&self) -> Vec<Window> {
        let default = self.defaults.timezone.unwrap_or(Tz::UTC);
        self.freezes
            .iter()
            .filter_map(|f| f.window(default))
            .collect()
    }

    pub(super) fn check_freezes(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, f) in self.freezes.iter().enumerate() {
            let at = ctx.freeze_path(i);
            let mut problem = |key: &str, message: String| {
                let path = if key.is_empty() {
                    at.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.push(ctx.problem(&path, message));
            };
            if let Err(why) = check_name(&f.name) {
                problem("name", why);
            } else if let Some(first) = names.insert(&f.name, i) {
                let line = ctx.line(&ctx.freeze_path(first));
                let first = line
                    .map(|l| format!(" (first on line {l})"))
                    .unwrap_or_default();
                problem(
                    "name",
                    format!("freeze window `{}` is listed twice{first}", f.name),
                );
            }
            if f.envs.is_empty() {
                problem("envs", format!("`{at}.envs` is empty: name the envs it freezes, e.g. envs = [\"prod\"], or [\"all\"]"));
            }
            if f.reason.chars().count() > MAX_REASON_LEN {
                problem(
                    "reason",
                    format!("`{at}.reason` is longer than {MAX_REASON_LEN} characters"),
                );
            }
            if f.notice_before.is_some_and(|d| d < Duration::from_secs(1)) {
                problem(
                    "notice_before",
                    format!("`{at}.notice_before` must be at least 1s; leave it out for no notice"),
                );
            }
            let present = |key: &str| ctx.written(&format!("{at}.{key}"));
            for (key, why) in schedule_problems(f, present) {
                problem(key, format!("`{at}`: {why}"));
            }
        }
    }
}

/// What is wrong with a window's schedule: exactly one kind, each complete and positive. A key
/// written in the file but refused while decoding (`present` yet `None`) was reported already.
fn schedule_problems(
    f: &FreezeWindowConfig,
    present: impl Fn(&str) -> bool,
) -> Vec<(&'static str, String)> {
    let has = |set: bool, key: &str| set || present(key);
    let kinds = [
        has(f.cron.is_some(), "cron") || has(f.duration.is_some(), "duration"),
        has(f.start.is_some(), "start") || has(f.end.is_some(), "end"),
        has(!f.dates.is_empty(), "dates"),
    ];
    let mut out = Vec::new();
    match kinds.iter().filter(|k| **k).count() {
        0 => out.push(("", "say when it happens: `cron` and `duration`, `start` and `end`, or `dates`".to_string())),
        1 => {}
        _ => out.push(("", "give one schedule: `cron` with `duration`, or `start` with `end`, or `dates` — not several".to_string())),
    }
    let pair = [
        (
            "cron",
            f.cron.is_some(),
            "duration",
            f.duration.is_some(),
            "a `cron` start needs a `duration`, like \"64h\"",
        ),
        (
            "duration",
            f.duration.is_some(),
            "cron",
            f.cron.is_some(),
            "a `duration` needs a `cron` start, like \"0 16 * * FRI\"",
        ),
        (
            "start",
            f.start.is_some(),
            "end",
            f.end.is_some(),
            "a `start` needs an `end` (YYYY-MM-DD HH:MM)",
        ),
        (
            "end",
            f.end.is_some(),
            "start",
            f.start.is_some(),
            "an `end` needs a `start` (YYYY-MM-DD HH:MM)",
        ),
    ];
    for (key, set, partner, partner_set, why) in pair {
        if set && !partner_set && !present(partner) {
            out.push((key, why.to_string()));
        }
    }
    if f.duration.is_some_and(|d| d.is_zero()) {
        out.push((
            "duration",
            "`duration` must be positive, like \"2h\"".to_string(),
        ));
    }
    if let (Some(s), Some(e)) = (f.start, f.end) {
        if e <= s {
            out.push((
                "end",
                "`end` must be after `start`, so the window lasts a positive time".to_string(),
            ));
        }
    }
    out
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Ok(());
    }
    Err(format!(
        "freeze window name `{}` must be 1 to {MAX_NAME_LEN} letters, digits, `-`, `_` or `.`, like \"weekend\"",
        preview(name)
    ))
}

fn cron<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Cron>>, D::Error> {
    let text = String::deserialize(d)?;
    calendar::parse_cron(&text)
        .map(|c| Some(Box::new(c)))
        .map_err(serde::de::Error::custom)
}

fn opt_tz<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    let text = String::deserialize(d)?;
    calendar::parse_tz(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `[defaults] timezone`.
pub(super) fn default_tz<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    opt_tz(d)
}

fn local_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    let text = String::deserialize(d)?;
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S"))
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{}` is not a local time; write it as YYYY-MM-DD HH:MM, like \"2026-12-18 18:00\"",
                preview(&text)
            ))
        })
}

fn dates<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|text| {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{}` is not a date; write it as YYYY-MM-DD, like \"2026-12-25\"",
                    preview(text)
                ))
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "freezes_tests.rs"]
mod tests;
