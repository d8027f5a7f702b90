//! The freeze calendar: scheduled windows (`[[freezes]]`) in real time zones, turned into UTC
//! instants. Pure: no Redis, no clock of its own; the store hands the windows near "now" to the
//! scripts, which compare them with Redis' clock, so a window is enforced in the same atomic step
//! as the lock it refuses.
//!
//! # Daylight saving
//! A window's start and end are wall-clock times in its zone, so "Friday 16:00 for 64h" ends on
//! Monday at 08:00 local time whatever the clocks did over the weekend. Where a wall-clock time
//! does not exist or exists twice:
//! - a **start in the spring-forward gap** begins at the first instant after the gap (02:30 on
//!   the day clocks jump from 02:00 to 03:00 starts at 03:00), as croner schedules it, and
//!   still lasts its whole duration from there;
//! - a **start in the fall-back overlap** begins at its first (earlier) instant;
//! - an **end in the overlap** is its second (later) instant, and an **end in the gap** the first
//!   instant after it: a window never ends early.

use std::time::Duration;

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// One scheduled freeze window, as configured.
#[derive(Clone, Debug)]
pub struct Window {
    /// Its name (`weekend`): what `freeze skip` and the replies call it.
    pub name: String,
    /// The envs it covers: names or globs (`prod-*`), or `all`.
    pub envs: Vec<String>,
    /// The zone its times are in.
    pub tz: Tz,
    /// Why, shown to everyone it refuses.
    pub reason: String,
    /// How long before each start the envs' channels and the holders it runs into are told.
    pub notice_before: Option<Duration>,
    /// When it happens.
    pub schedule: Schedule,
}

/// When a window happens.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Starts whenever the cron expression fires, for a wall-clock duration.
    Recurring {
        /// The start, as a five-field (or six, with seconds) cron expression.
        cron: Box<Cron>,
        /// How long, in wall-clock time.
        duration: Duration,
    },
    /// Once, between two wall-clock times.
    Once {
        /// The start.
        start: NaiveDateTime,
        /// The end.
        end: NaiveDateTime,
    },
    /// Whole days (holidays), each from midnight to midnight in the zone; adjacent days merge.
    Days(Vec<NaiveDate>),
}

/// One occurrence of a window, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    /// When it starts.
    pub start: DateTime<Utc>,
    /// When it ends (exclusive).
    pub end: DateTime<Utc>,
}

impl Occurrence {
    /// Whether it is on at `at`.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// Its start in Unix milliseconds, as the scripts and skip marks name it.
    pub fn start_ms(&self) -> u64 {
        self.start.timestamp_millis().max(0) as u64
    }

    /// Its end in Unix milliseconds.
    pub fn end_ms(&self) -> u64 {
        self.end.timestamp_millis().max(0) as u64
    }
}

/// The most occurrences one search looks at: a cron that fires every minute with a week-long
/// duration still ends its search.
const SEARCH_LIMIT: usize = 20_000;

impl Window {
    /// Whether it covers the env `name`.
    pub fn covers_env(&self, name: &str) -> bool {
        self.envs
            .iter()
            .any(|g| g == "all" || crate::domain::glob_match(g, name))
    }

    /// Every occurrence that overlaps `[from, until)`, in start order.
    pub fn occurrences(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Occurrence> {
        let mut out = match &self.schedule {
            Schedule::Recurring { cron, duration } => self.recurring(cron, *duration, from, until),
            Schedule::Once { start, end } => vec![Occurrence {
                start: self.start_at(*start),
                end: self.end_at(*end),
            }],
            Schedule::Days(days) => self.days(days),
        };
        out.retain(|o| o.end > from && o.start < until && o.start < o.end);
        out
    }

    /// The occurrence on at `at`, if any (the one that ends last, when several overlap).
    pub fn active_at(&self, at: DateTime<Utc>) -> Option<Occurrence> {
        self.occurrences(at, at + chrono::Duration::milliseconds(1))
            .into_iter()
            .filter(|o| o.covers(at))
            .max_by_key(|o| o.end)
    }

    /// The next `n` occurrences that start after `at` (not the one on now).
    pub fn upcoming(&self, at: DateTime<Utc>, n: usize) -> Vec<Occurrence> {
        let mut horizon = chrono::Duration::days(8);
        loop {
            let found: Vec<Occurrence> = self
                .occurrences(at, at + horizon)
                .into_iter()
                .filter(|o| o.start > at)
                .take(n)
                .collect();
            if found.len() >= n || horizon > chrono::Duration::days(800) {
                return found;
            }
            horizon = horizon * 4;
        }
    }

    fn recurring(
        &self,
        cron: &Cron,
        duration: Duration,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<Occurrence> {
        // An occurrence that started up to a duration (plus a DST hour) ago may still be on.
        let reach = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        let back = from
            .checked_sub_signed(reach + chrono::Duration::hours(2))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut out = Vec::new();
        for start in cron
            .iter_after(back.with_timezone(&self.tz))
            .take(SEARCH_LIMIT)
        {
            if start.with_timezone(&Utc) >= until {
                break;
            }
            let local_end = start
                .naive_local()
                .checked_add_signed(reach)
                .unwrap_or(NaiveDateTime::MAX);
            out.push(Occurrence {
                start: start.with_timezone(&Utc),
                end: self.end_at(local_end),
            });
        }
        out
    }

    fn days(&self, days: &[NaiveDate]) -> Vec<Occurrence> {
        let mut sorted = days.to_vec();
        sorted.sort();
        sorted.dedup();
        let mut out: Vec<Occurrence> = Vec::new();
        for day in sorted {
            let start = self.start_at(day.and_time(chrono::NaiveTime::MIN));
            let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
            let end = self.end_at(next.and_time(chrono::NaiveTime::MIN));
            match out.last_mut() {
                Some(last) if last.end >= start => last.end = last.end.max(end),
                _ => out.push(Occurrence { start, end }),
            }
        }
        out
    }

    /// A wall-clock start as an instant: the earlier of two, or the first after a gap.
    pub fn start_at(&self, local: NaiveDateTime) -> DateTime<Utc> {
        resolve(&self.tz, local, Pick::Earlier)
    }

    /// A wall-clock end as an instant: the later of two, or the first after a gap.
    pub fn end_at(&self, local: NaiveDateTime) -> DateTime<Utc> {
        resolve(&self.tz, local, Pick::Later)
    }
}

impl Window {
    /// How `config check` shows it: what was configured, then its next `n` occurrences in its
    /// zone and in UTC, so a person sees at once what the schedule means.
    pub fn summary(&self, now: DateTime<Utc>, n: usize) -> String {
        let what = match &self.schedule {
            Schedule::Recurring { cron, duration } => format!(
                "starts at \"{}\", lasts {}",
                cron.pattern,
                humantime::format_duration(*duration)
            ),
            Schedule::Once { start, end } => format!("from {start} to {end}"),
            Schedule::Days(days) => format!("{} whole day(s)", days.len()),
        };
        let mut out = format!(
            "freeze window `{}` ({}; {}): {what}",
            self.name,
            self.envs.join(", "),
            self.tz.name()
        );
        let mut shown = self.active_at(now).into_iter().collect::<Vec<_>>();
        shown.extend(self.upcoming(now, n.saturating_sub(shown.len())));
        if shown.is_empty() {
            out.push_str("\n  no occurrence from now on");
        }
        for o in shown {
            let fmt = "%a %Y-%m-%d %H:%M";
            out.push_str(&format!(
                "\n  {} → {} {}  ({} → {} UTC){}",
                o.start.with_timezone(&self.tz).format(fmt),
                o.end.with_timezone(&self.tz).format(fmt),
                self.tz.name(),
                o.start.format("%Y-%m-%d %H:%M"),
                o.end.format("%Y-%m-%d %H:%M"),
                if o.covers(now) { "  ← on now" } else { "" }
            ));
        }
        out
    }
}

/// Every configured window, with what the scripts need near "now" kept for a while: a call looks
/// up its envs' windows without searching cron expressions each time.
#[derive(Debug, Default)]
pub struct Calendar {
    windows: Vec<Window>,
    /// Per window: the span searched and the occurrences that overlap it.
    near: std::sync::Mutex<Vec<Option<Span>>>,
}

#[derive(Debug)]
struct Span {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    found: Vec<Occurrence>,
}

/// How far either side of "now" a call passes windows to the scripts: far more than any skew
/// between Baton's clock and Redis', which is what the scripts compare with.
pub const MARGIN: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How long a search's result serves before the next search.
const REFRESH: chrono::TimeDelta = chrono::TimeDelta::hours(6);

impl Calendar {
    /// The calendar of `windows`.
    pub fn new(windows: Vec<Window>) -> Self {
        let near = std::sync::Mutex::new(windows.iter().map(|_| None).collect());
        Self { windows, near }
    }

    /// Every window.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// A window by name.
    pub fn window(&self, name: &str) -> Option<&Window> {
        self.windows.iter().find(|w| w.name == name)
    }

    /// The occurrences of `env`'s windows within [`MARGIN`] of `now`, with their window.
    pub fn near(&self, env: &str, now: DateTime<Utc>) -> Vec<(&Window, Occurrence)> {
        let mut out = Vec::new();
        if self.windows.is_empty() {
            return out;
        }
        let (from, until) = (now - MARGIN, now + MARGIN);
        let mut near = self.near.lock().unwrap_or_else(|p| p.into_inner());
        for (i, w) in self.windows.iter().enumerate() {
            if !w.covers_env(env) {
                continue;
            }
            let fresh = near[i]
                .as_ref()
                .is_some_and(|s| s.from <= from && until <= s.until);
            if !fresh {
                let span_until = until + REFRESH;
                near[i] = Some(Span {
                    from,
                    until: span_until,
                    found: w.occurrences(from, span_until),
                });
            }
            let span = near[i].as_ref().map(|s| s.found.as_slice()).unwrap_or(&[]);
            out.extend(
                span.iter()
                    .filter(|o| o.end > from && o.start < until)
                    .map(|o| (w, *o)),
            );
        }
        out
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Pick {
    Earlier,
    Later,
}

/// `local` in `tz`: where it exists twice, the instant `pick` says; where it does not exist (a
/// spring-forward gap), the first instant after the gap.
pub(crate) fn resolve(tz: &Tz, local: NaiveDateTime, pick: Pick) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => match pick {
            Pick::Earlier => a.min(b).with_timezone(&Utc),
            Pick::Later => a.max(b).with_timezone(&Utc),
        },
        LocalResult::None => first_at_or_after(tz, local),
    }
}

/// The first instant whose wall clock in `tz` reads `local` or later: for a time in a
/// spring-forward gap, the instant the gap ends. A binary search over the two days around it
/// (no zone moves its clocks twice in two days, so the wall clock rises through the range).
fn first_at_or_after(tz: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let guess = Utc.from_utc_datetime(&local).timestamp();
    let (mut lo, mut hi) = (guess - 26 * 3600, guess + 26 * 3600);
    let wall = |secs: i64| {
        DateTime::<Utc>::from_timestamp(secs, 0).map(|t| t.with_timezone(tz).naive_local())
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall(mid).is_some_and(|w| w >= local) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A time zone by its IANA name (`Europe/Berlin`), or a sentence naming the mistake.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).collect();
        let near = crate::domain::did_you_mean(name, &names)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        format!(
            "`{}` is not an IANA time zone{near} (use a name like Europe/Berlin, America/New_York or UTC)",
            crate::domain::preview(name)
        )
    })
}

/// A cron expression (five fields, or six with seconds), or a sentence naming the mistake.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(text)
        .map_err(|e| {
            format!(
                "`{}` is not a cron expression ({e}); use five fields like \"0 16 * * FRI\" (minute hour day month weekday)",
                crate::domain::preview(text)
            )
        })
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
