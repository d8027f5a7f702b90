//! `until …` in a freeze: a date or a weekday, an optional time, an optional IANA zone.
//!
//! # Format
//! `until <YYYY-MM-DD | mon…sun | today | tomorrow> [HH:MM] [<zone>]`, `until HH:MM [<zone>]`
//! (the next such time: today while it is ahead, else tomorrow), or an RFC 3339 instant
//! (`2026-12-24T18:00:00Z`). Without a zone, the time is in `[defaults] timezone` (UTC when unset);
//! the grammar keeps it as typed and the freeze resolves it when it runs, against "now".

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::preview;

/// When a freeze ends, as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Until {
    /// The day.
    pub day: Day,
    /// The time of day (midnight when absent).
    pub time: Option<NaiveTime>,
    /// The zone it is in; the configured default when absent.
    pub zone: Option<Tz>,
}

/// The day of an `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Day {
    /// A calendar date.
    Date(NaiveDate),
    /// The next such weekday (today, if the time is still ahead).
    Weekday(Weekday),
    /// Today.
    Today,
    /// Tomorrow.
    Tomorrow,
    /// The next time the time of day comes: today while it is ahead, else tomorrow.
    Next,
}

/// How a refusal shows the format.
pub const UNTIL_FORMAT: &str =
    "write it like `until 18:00`, `until 2026-12-24 18:00` or `until fri 18:00 Europe/Berlin`";

impl Until {
    /// Reads `until`'s words: the day, then a time and a zone if the next words are one.
    pub fn read<'a>(
        day: &str,
        mut next_if: impl FnMut(&dyn Fn(&str) -> bool) -> Option<&'a str>,
    ) -> Result<Self, String> {
        if let Ok(instant) = DateTime::parse_from_rfc3339(day) {
            let utc = instant.with_timezone(&Utc).naive_utc();
            return Ok(Self {
                day: Day::Date(utc.date()),
                time: Some(utc.time()),
                zone: Some(Tz::UTC),
            });
        }
        let is_time =
            |w: &str| w.contains(':') && w.chars().next().is_some_and(|c| c.is_ascii_digit());
        let read_time = |w: &str| {
            NaiveTime::parse_from_str(w, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(w, "%H:%M:%S"))
                .map_err(|_| format!("`{}` is not a time of day; {UNTIL_FORMAT}", preview(w)))
        };
        let (day, time) = if is_time(day) {
            (Day::Next, Some(read_time(day)?))
        } else {
            let day = read_day(day)?;
            (day, next_if(&is_time).map(read_time).transpose()?)
        };
        // Parsed once: the word is taken as the zone only when it is one.
        let zone = std::cell::Cell::new(None);
        next_if(&|w| w.parse::<Tz>().map(|tz| zone.set(Some(tz))).is_ok());
        let zone = zone.get();
        Ok(Self { day, time, zone })
    }

    /// The instant it names, after `now`, in its zone or `default`. A wall-clock time that
    /// happens twice is its later instant; one in a spring-forward gap, the first after it.
    pub fn resolve(&self, now: DateTime<Utc>, default: Tz) -> DateTime<Utc> {
        let tz = self.zone.unwrap_or(default);
        let time = self.time.unwrap_or(NaiveTime::MIN);
        let today = now.with_timezone(&tz).date_naive();
        let at = |date: NaiveDate| {
            crate::calendar::resolve(&tz, date.and_time(time), crate::calendar::Pick::Later)
        };
        match self.day {
            Day::Date(date) => at(date),
            Day::Today => at(today),
            Day::Tomorrow => at(today + Days::new(1)),
            Day::Next => {
                let first = at(today);
                if first > now {
                    first
                } else {
                    at(today + Days::new(1))
                }
            }
            Day::Weekday(wd) => {
                let ahead =
                    (7 + wd.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
                let first = at(today + Days::new(u64::from(ahead)));
                if first > now {
                    first
                } else {
                    at(today + Days::new(u64::from(ahead) + 7))
                }
            }
        }
    }
}

fn read_day(word: &str) -> Result<Day, String> {
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "today" => return Ok(Day::Today),
        "tomorrow" => return Ok(Day::Tomorrow),
        _ => {}
    }
    if let Ok(wd) = lower.parse::<Weekday>() {
        return Ok(Day::Weekday(wd));
    }
    NaiveDate::parse_from_str(word, "%Y-%m-%d")
        .map(Day::Date)
        .map_err(|_| format!("`{}` is not a date and time: {UNTIL_FORMAT}", preview(word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(words: &[&str]) -> Result<Until, String> {
        let mut rest = words[1..].iter().copied().peekable();
        Until::read(words[0], |accept| rest.next_if(|w| accept(w)))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_weekday_and_zone_is_the_next_such_time_there() {
        // Monday 2026-11-30 10:00 UTC: the next Friday 18:00 in Berlin is 17:00 UTC on Dec 4.
        let u = read(&["fri", "18:00", "Europe/Berlin"]).unwrap();
        assert_eq!(u.zone, Some(chrono_tz::Europe::Berlin));
        let now = utc("2026-11-30T10:00:00Z");
        assert_eq!(u.resolve(now, Tz::UTC), utc("2026-12-04T17:00:00Z"));
        // On a Friday after 18:00 there, it is the Friday after.
        let late = utc("2026-12-04T18:00:00Z");
        assert_eq!(u.resolve(late, Tz::UTC), utc("2026-12-11T17:00:00Z"));
    }

    #[test]
    fn a_bare_time_of_day_is_the_next_one_in_the_default_zone() {
        let u = read(&["18:00"]).unwrap();
        assert_eq!(u.day, Day::Next);
        let berlin = chrono_tz::Europe::Berlin;
        // 10:00 UTC is 11:00 in Berlin: 18:00 there is today, 17:00 UTC.
        let morning = utc("2026-11-30T10:00:00Z");
        assert_eq!(u.resolve(morning, berlin), utc("2026-11-30T17:00:00Z"));
        // After 18:00 there, it is tomorrow's.
        let evening = utc("2026-11-30T17:30:00Z");
        assert_eq!(u.resolve(evening, berlin), utc("2026-12-01T17:00:00Z"));
        // A zone may follow.
        let u = read(&["18:00", "America/New_York"]).unwrap();
        assert_eq!(u.resolve(morning, Tz::UTC), utc("2026-11-30T23:00:00Z"));
        assert!(read(&["25:61"])
            .unwrap_err()
            .contains("is not a time of day"));
    }

    #[test]
    fn a_date_without_a_zone_is_in_the_default_zone() {
        let u = read(&["2026-12-24", "18:00", "holidays"]).unwrap();
        assert_eq!(u.zone, None);
        let now = utc("2026-11-30T10:00:00Z");
        assert_eq!(
            u.resolve(now, chrono_tz::America::New_York),
            utc("2026-12-24T23:00:00Z")
        );
        assert_eq!(u.resolve(now, Tz::UTC), utc("2026-12-24T18:00:00Z"));
    }

    #[test]
    fn an_rfc3339_instant_is_utc_and_nonsense_is_refused_with_the_format() {
        let u = read(&["2026-12-24T18:00:00Z"]).unwrap();
        assert_eq!(
            u.resolve(utc("2026-11-30T10:00:00Z"), chrono_tz::Asia::Tokyo),
            utc("2026-12-24T18:00:00Z")
        );
        let e = read(&["notadate"]).unwrap_err();
        assert!(e.contains("until fri 18:00 Europe/Berlin"), "{e}");
        let e = read(&["fri", "25:99"]).unwrap_err();
        assert!(e.contains("is not a time of day"), "{e}");
    }
}
