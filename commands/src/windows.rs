//! The freeze calendar at work: `freeze skip` (an admin ends the occurrence on now, or skips the
//! next one not skipped yet), `freezes` (what is on and coming, per env), and the sweeper's part:
//! the notice before a window starts, and the queue moving on when one ends. Enforcement itself
//! is in the scripts (`prelude.lua`, `window_live`), in the same step as every lock.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::calendar::{Occurrence, Schedule, Window};
use crate::config::EnvSettings;
use crate::domain::{did_you_mean, preview, wall_clock, Actor, EnvName};
use crate::error::BatonError;
use crate::reply::{Reply, Tone};
use crate::services::{Expiry, Locks, Status};
use crate::store::contracts::{NoticeAnswer, NoticeArgs, SettleArgs, SkipAnswer, SkipArgs};

/// How far ahead `freezes` looks.
const LISTING_DAYS: i64 = 7;

/// A time in a window's zone, as people there read it: `Fri 2026-12-04 16:00 Europe/Berlin`.
pub(crate) fn local_clock(window: &Window, at: DateTime<Utc>) -> String {
    format!(
        "{} {}",
        at.with_timezone(&window.tz).format("%a %Y-%m-%d %H:%M"),
        window.tz.name()
    )
}

fn ms_to_utc(ms: u64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How many occurrences ahead `freeze skip` reaches: the one on now (if any) and the next eight.
/// Skipping again skips the next one not skipped yet, up to the eighth; beyond that, it is run
/// again once the first of them is over. Eight is two months of weekends or a week and a day of
/// nightly windows, and keeps what `status` searches to pass over skipped ones small.
pub(crate) const SKIP_AHEAD: usize = 8;

/// The mark an occurrence skipped on an env leaves in its marks hash (see `window.lua`).
pub(crate) fn skip_mark(window: &str, start_ms: u64) -> String {
    format!("skip:{window}@{start_ms}")
}

impl Locks {
    /// `freeze skip <window> [once] [reason]`: on every configured env the window covers, skips
    /// its first occurrence that is not skipped yet: the one on now (ending it early), else the
    /// next one ahead, so saying it twice skips the next two; at most [`SKIP_AHEAD`] ahead.
    /// Admin-only (by the grammar entry); recorded in each env's history with who and why.
    pub(crate) async fn skip_window(
        &self,
        actor: &Actor,
        name: &str,
        reason: String,
    ) -> Result<Reply, BatonError> {
        let window = self.window_named(name)?;
        let now = self.store.now();
        let envs = self.covered(window);
        if envs.is_empty() {
            return Err(BatonError::Refused(format!(
                "the `{}` freeze window covers no configured env; nothing to skip",
                window.name
            )));
        }
        // The candidates, in start order; the script skips the first not skipped yet.
        let ahead = window.upcoming(now, SKIP_AHEAD);
        let mut candidates: Vec<Occurrence> = window.active_at(now).into_iter().collect();
        // A one-off window or a list of days can run out; a cron schedule goes on (a yearly one
        // beyond what `upcoming` searches, a few years).
        let runs_out =
            ahead.len() < SKIP_AHEAD && !matches!(window.schedule, Schedule::Recurring { .. });
        candidates.extend(ahead);
        if candidates.is_empty() {
            return Err(BatonError::Refused(format!(
                "the `{}` freeze window has no occurrence from now on; nothing to skip",
                window.name
            )));
        }
        let args = SkipArgs {
            window: &window.name,
            occurrences: &candidates,
            actor: &actor.id,
            display: &actor.display,
            reason: &reason,
        };
        let (_, calls) = self.per_group(&args, envs);
        // Per occurrence skipped (each group picks its own; they agree unless the envs' marks
        // differ, say for an env added to the window since), the envs it was skipped on.
        let mut skipped: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
        let (mut handed, mut at) = (Vec::new(), 0);
        for answer in self.store.call_each(calls).await {
            let SkipAnswer::Ok {
                now,
                starts,
                ends,
                envs,
            } = answer?;
            at = at.max(now);
            for e in envs.into_iter().filter(|e| e.changed) {
                // Only a lock the skip handed on is news; one held all along is not.
                if let (true, Some(lock)) = (e.handed, &e.lock) {
                    handed.push(format!("{} is {}'s now", e.env, lock.display));
                }
                if let (Some(s), Some(t)) = (starts, ends) {
                    skipped.entry((s, t)).or_default().push(e.env);
                }
            }
        }
        if skipped.is_empty() {
            return Err(BatonError::Refused(all_skipped(
                window,
                &candidates,
                runs_out,
            )));
        }
        let what: Vec<String> = skipped
            .iter()
            .map(|(&(s, t), envs)| {
                let what = if s <= at && at < t {
                    format!("ended the `{}` freeze window early", window.name)
                } else {
                    format!(
                        "skipped the `{}` freeze window of {} → {}",
                        window.name,
                        local_clock(window, ms_to_utc(s)),
                        local_clock(window, ms_to_utc(t))
                    )
                };
                format!("{what} on {}", envs.join(", "))
            })
            .collect();
        // A window skipped or ended early overrides the calendar: it happened, and is worth a look.
        let mut reply = Reply::new(
            Tone::Warning,
            format!("{} {}", actor.display, what.join("; ")),
            wall_clock(),
        )
        .text_field("Reason", &reason);
        if !handed.is_empty() {
            reply = reply.with_text(format!("{}.", handed.join("; ")));
        }
        Ok(reply)
    }

    fn window_named(&self, name: &str) -> Result<&Window, BatonError> {
        let calendar = self.store.calendar();
        calendar.window(name).ok_or_else(|| {
            let known: Vec<&str> = calendar.windows().iter().map(|w| w.name.as_str()).collect();
            let near = did_you_mean(name, &known)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            let list = if known.is_empty() {
                "none are configured ([[freezes]] in the config)".to_string()
            } else {
                format!("the windows are {}", known.join(", "))
            };
            BatonError::Refused(format!(
                "there is no freeze window `{}`{near} ({list}; `freezes` lists them)",
                preview(name)
            ))
        })
    }

    /// The configured envs a window covers.
    fn covered(&self, window: &Window) -> Vec<&EnvSettings> {
        covered(self.catalog.envs(), window)
    }
}

fn covered<'a>(envs: &'a [EnvSettings], window: &Window) -> Vec<&'a EnvSettings> {
    envs.iter()
        .filter(|e| window.covers_env(e.name.as_str()))
        .collect()
}

/// The refusal when every candidate of a skip was skipped already: when the schedule runs out,
/// there is nothing left; otherwise the skip reaches no further, and says when it will.
fn all_skipped(window: &Window, candidates: &[Occurrence], runs_out: bool) -> String {
    let (Some(first), Some(last)) = (candidates.first(), candidates.last()) else {
        return format!("the `{}` freeze window has nothing to skip", window.name);
    };
    if runs_out {
        return format!(
            "every occurrence of the `{}` freeze window from now on (the last starts {}) is skipped already; nothing is left to skip",
            window.name,
            local_clock(window, last.start)
        );
    }
    format!(
        "the `{}` freeze window's next {} occurrences (up to the one starting {}) are all skipped already, and `freeze skip` reaches no further ahead; run it again after {}, when the first of them is over (`freezes` lists what is skipped)",
        window.name,
        candidates.len(),
        local_clock(window, last.start),
        local_clock(window, first.end)
    )
}

impl Status {
    /// `freezes [env]`: per env, the scheduled windows on now and those starting in the next
    /// seven days, each in its zone; skipped occurrences say so.
    pub(crate) async fn freezes(&self, target: Option<&EnvName>) -> Result<Reply, BatonError> {
        let envs: Vec<&EnvSettings> = match target {
            Some(name) => vec![self.catalog.env(name)?],
            None => self.catalog.envs().iter().collect(),
        };
        let calendar = self.store.calendar();
        let now = self.store.now();
        let until = now + chrono::Duration::days(LISTING_DAYS);
        let mut lines = Vec::new();
        for env in envs {
            let mut windows: Vec<(&Window, Occurrence)> = calendar
                .windows()
                .iter()
                .filter(|w| w.covers_env(env.name.as_str()))
                .flat_map(|w| w.occurrences(now, until).into_iter().map(move |o| (w, o)))
                .collect();
            // In the order they happen, whichever window each belongs to.
            windows.sort_by_key(|(w, o)| (o.start, w.name.clone()));
            if windows.is_empty() {
                continue;
            }
            let group = self.catalog.group_of(env);
            let marks: HashSet<String> = self.store.window_marks(group, &env.name).await?;
            // Plain text: every platform shows it as written (markup would show as `*prod*`).
            lines.push(format!("{}:", env.name));
            for (w, o) in windows {
                lines.push(listing_line(w, &o, now, &marks));
            }
        }
        let title = match target {
            Some(env) => format!("Freeze windows for {env}, next {LISTING_DAYS} days"),
            None => format!("Freeze windows, next {LISTING_DAYS} days"),
        };
        let text = if lines.is_empty() {
            "No scheduled freeze window is on or starts in the next 7 days.".to_string()
        } else {
            lines.join("\n")
        };
        Ok(Reply::new(Tone::Info, title, wall_clock()).with_text(text))
    }
}

fn listing_line(w: &Window, o: &Occurrence, now: DateTime<Utc>, marks: &HashSet<String>) -> String {
    let skipped = marks.contains(&skip_mark(&w.name, o.start_ms()));
    let when = if o.covers(now) {
        format!("on now, until {}", local_clock(w, o.end))
    } else {
        format!("{} → {}", local_clock(w, o.start), local_clock(w, o.end))
    };
    let state = match (skipped, o.covers(now)) {
        (true, true) => " — ended early",
        (true, false) => " — skipped",
        _ => "",
    };
    let reason = if w.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", w.reason)
    };
    format!("• {} — {when}{state}{reason}", w.name)
}

/// What the sweeper remembers between ticks about the calendar.
#[derive(Debug)]
pub struct CalendarCursor {
    /// Up to when window ends have been handled.
    last: DateTime<Utc>,
    /// The notices this instance saw given (by any instance): `(window, start ms)`.
    noticed: HashSet<(String, u64)>,
}

impl Default for CalendarCursor {
    /// A fresh instance settles what ended in the last day, in case no instance was running then.
    fn default() -> Self {
        Self {
            last: Utc::now() - chrono::Duration::days(1),
            noticed: HashSet::new(),
        }
    }
}

impl Expiry {
    /// The calendar's part of one sweep: the notices that are due (once per env and occurrence
    /// across instances, by the notice script), and a settle of every env whose window ended
    /// since the last tick, so a waiter is handed the lock when the window ends. Nothing runs
    /// while no notice is due and no window ends.
    pub async fn calendar_tick(&self, cursor: &mut CalendarCursor) -> Result<(), BatonError> {
        let calendar = self.store.calendar();
        if calendar.windows().is_empty() {
            return Ok(());
        }
        let now = self.store.now();
        for window in calendar.windows() {
            self.notices(window, now, cursor).await?;
        }
        let mut ended: Vec<&EnvSettings> = Vec::new();
        for window in calendar.windows() {
            let done = window
                .occurrences(cursor.last, now)
                .iter()
                .any(|o| o.end > cursor.last && o.end <= now);
            if done {
                ended.extend(covered(self.catalog.envs(), window));
            }
        }
        ended.sort_by(|a, b| a.name.cmp(&b.name));
        ended.dedup_by(|a, b| a.name == b.name);
        if !ended.is_empty() {
            let (_, calls) = self.per_group(&SettleArgs::SWEEP, ended);
            // A group that did not answer is settled when it is next touched or swept; the rest
            // go on (trouble stays local).
            for answer in self.store.call_each(calls).await {
                if let Err(e) = answer {
                    tracing::warn!(error = %e, "settling after a freeze window ended failed");
                }
            }
        }
        cursor.last = now;
        cursor.noticed.retain(|(_, start)| ms_to_utc(*start) > now);
        Ok(())
    }

    async fn notices(
        &self,
        window: &Window,
        now: DateTime<Utc>,
        cursor: &mut CalendarCursor,
    ) -> Result<(), BatonError> {
        let Some(lead) = window.notice_before else {
            return Ok(());
        };
        let lead = chrono::Duration::from_std(lead).unwrap_or(chrono::Duration::MAX);
        for o in window.occurrences(now, now + lead) {
            let key = (window.name.clone(), o.start_ms());
            if o.start <= now || cursor.noticed.contains(&key) {
                continue;
            }
            let args = NoticeArgs {
                window: &window.name,
                start_ms: o.start_ms(),
                end_ms: o.end_ms(),
                reason: &window.reason,
            };
            let (_, calls) = self.per_group(&args, covered(self.catalog.envs(), window));
            let (mut given, mut failed) = (Vec::new(), None);
            for answer in self.store.call_each(calls).await {
                match answer {
                    Ok(NoticeAnswer::Ok { envs }) => {
                        given.extend(envs.into_iter().filter(|e| e.given).map(|e| e.env))
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if !given.is_empty() {
                let envs = given.join(",");
                tracing::info!(window = %window.name, envs, "freeze window notice given");
            }
            match failed {
                // Asked again next tick: the envs that got it are marked and skip it then.
                Some(e) => return Err(e.into()),
                None => cursor.noticed.insert(key),
            };
        }
        Ok(())
    }
}
