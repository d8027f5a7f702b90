//! Redis' clock, as this instance knows it. Whatever compares times to decide (which calendar
//! windows apply, whether an `until` is past, when the sweeper's deadlines fall) goes by Redis'
//! clock, never the instance's: an instance whose clock is hours off must answer as a correct one.
//! The scripts read Redis' own `TIME`; what is chosen before a call (the windows sent with it, an
//! `until` resolved from a wall-clock time) goes by the offset learned here: from `TIME` at
//! start-up (or before the first call that needs it) and from the `now` every script answers with.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use redis::Value;

use super::{Store, StoreError};
use crate::domain::wall_clock;

/// Redis' clock minus this machine's, in ms, once seen.
#[derive(Debug, Default)]
pub(super) struct Offset {
    ms: AtomicI64,
    known: AtomicBool,
}

impl Offset {
    /// Redis said `redis_ms` just now.
    pub(super) fn learn(&self, redis_ms: u64) {
        let offset = redis_ms as i64 - wall_clock() as i64;
        self.ms.store(offset, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
    }

    /// Redis' clock now, by the last offset seen (this machine's own until one is).
    pub(super) fn now_ms(&self) -> u64 {
        (wall_clock() as i64 + self.ms.load(Ordering::Relaxed)).max(0) as u64
    }

    pub(super) fn known(&self) -> bool {
        self.known.load(Ordering::Relaxed)
    }
}

impl Store {
    /// Redis' clock now, in Unix ms, as last learned: what decides which calendar windows are near
    /// and when an `until` falls. This machine's clock only until Redis has first answered.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// [`Store::now_ms`] as a time.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms() as i64).unwrap_or_default()
    }

    /// Asks Redis the time (`TIME`) and keeps the offset: at start-up, and before the first call
    /// that needs it when Redis was not reachable then.
    pub async fn learn_clock(&self) -> Result<u64, StoreError> {
        let time: Value = self.query(&redis::cmd("TIME")).await?;
        let Value::Array(parts) = time else {
            return Err(StoreError::Unexpected);
        };
        let now = time_ms(&parts).ok_or(StoreError::Unexpected)?;
        self.clock.learn(now);
        Ok(now)
    }

    /// Redis' clock for choosing what a call carries: learned first if it never was.
    pub(super) async fn clock_for_call(&self) -> Result<DateTime<Utc>, StoreError> {
        if !self.clock.known() {
            self.learn_clock().await?;
        }
        Ok(self.now())
    }

    /// Learns Redis' clock from a script's answer (every answer carries `"now":<ms>` at its top
    /// level; a user's text cannot fake it, since JSON escapes its quotes).
    pub(super) fn learn_from_answer(&self, answer: &Value) {
        if let Value::BulkString(text) = answer {
            if let Some(now) = now_in(text) {
                self.clock.learn(now);
            }
        }
    }
}

/// `TIME`'s seconds and microseconds as ms.
pub(super) fn time_ms(t: &[Value]) -> Option<u64> {
    let part = |v: &Value| match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse::<u64>().ok(),
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    };
    Some(part(t.first()?)? * 1000 + part(t.get(1)?)? / 1000)
}

/// The `"now":<ms>` of a script's JSON answer.
fn now_in(text: &[u8]) -> Option<u64> {
    const FIELD: &[u8] = b"\"now\":";
    let at = text.windows(FIELD.len()).position(|w| w == FIELD)? + FIELD.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answers_now_is_read_and_a_quoted_one_in_text_is_not() {
        assert_eq!(
            now_in(br#"{"status":"ok","now":1700000000123,"x":1}"#),
            Some(1700000000123)
        );
        assert_eq!(
            now_in(br#"{"reason":"\"now\":5","status":"ok"}"#),
            None,
            "a reason cannot set the clock"
        );
        assert_eq!(now_in(br#"{"status":"ok"}"#), None);
    }

    #[test]
    fn the_offset_moves_the_local_clock_to_redis() {
        let offset = Offset::default();
        assert!(!offset.known());
        let hours_ahead = wall_clock() + 3 * 3_600_000;
        offset.learn(hours_ahead);
        assert!(offset.known());
        assert!(offset.now_ms().abs_diff(hours_ahead) < 1_000);
    }
}
