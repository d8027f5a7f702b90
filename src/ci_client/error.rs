//! Why a call to Baton failed, which exit code that is, and whether a retry may help.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use super::retry::{shown, STORE_FULL_ATTEMPTS};

/// Why a call did not succeed.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// No HTTP answer: refused, timed out, TLS failure, connection dropped.
    Unreachable {
        /// The sentence to show.
        message: String,
        /// Whether the request may have reached Baton (false: the connection was never made).
        sent: bool,
    },
    /// Baton answered with an error status; `code` is the body's `error` if it had one.
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` field (`locked`, `frozen`, `not_holder`, …).
        code: Option<String>,
        /// The sentence to show.
        message: String,
    },
    /// A success status whose body was not Baton's API v1: most likely a wrong `--url`.
    Malformed(String),
    /// Retries ran out (or a full store stopped them); `last` is the final attempt's failure.
    GaveUp {
        /// What the operation was, like "take the lock on prod".
        what: String,
        /// The last attempt's failure.
        last: Box<ApiError>,
        /// How many requests were sent.
        attempts: u32,
        /// From the first request to giving up.
        elapsed: Duration,
        /// Whether the operation changes state.
        writes: bool,
        /// Whether any attempt may have taken effect.
        outcome_unknown: bool,
    },
}

/// A failure worth another attempt with the same idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transient {
    /// The attempt may have taken effect (its answer was lost, or Baton said so).
    pub outcome_unknown: bool,
    /// A cap on attempts below the deadline's, if this failure has one.
    pub max_attempts: Option<u32>,
}

impl ApiError {
    /// The exit code of docs/ci-api.md for this failure.
    pub fn exit_code(&self) -> u8 {
        let (status, code) = match self {
            Self::Unreachable { .. } | Self::Malformed(_) | Self::GaveUp { .. } => return 6,
            Self::Refused { status, code, .. } => (*status, code.as_deref()),
        };
        match (status.as_u16(), code) {
            (_, Some("frozen")) => 4,
            (_, Some("idempotency_key_reused")) => 2,
            (
                _,
                Some(
                    "locked" | "not_holder" | "not_locked" | "stale_fence" | "lock_ended"
                    | "superseded" | "pending_approval",
                ),
            ) => 3,
            (401 | 403, _) => 5,
            (409 | 410 | 423, _) => 3,
            (500..=599, _) => 6,
            // 400, 404 unknown_env, 413, and anything a wrong --url might produce.
            _ => 2,
        }
    }

    /// The body's `error` code, if Baton sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => code.as_deref(),
            Self::Unreachable { .. } | Self::Malformed(_) | Self::GaveUp { .. } => None,
        }
    }

    /// Baton refused the request itself (a 4xx): the same request would be refused again.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused { status, .. } if status.is_client_error())
    }

    /// Whether the operation may have taken effect even though it failed.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Self::GaveUp {
                outcome_unknown: true,
                ..
            }
        )
    }

    /// Whether a retry with the same idempotency key may succeed, and what this attempt may have
    /// done. Connection failures, timeouts, 503 (every code Baton gives it) and the 502/504 of a
    /// proxy whose Baton is restarting are retried; 4xx never, nor a 500 (a fault in Baton).
    pub fn transient(&self) -> Option<Transient> {
        let (outcome_unknown, max_attempts) = match self {
            Self::Unreachable { sent, .. } => (*sent, None),
            Self::Refused { status, code, .. } => match (status.as_u16(), code.as_deref()) {
                // Baton's word that nothing was changed.
                (503, Some("store_unavailable" | "shutting_down")) => (false, None),
                (503, Some("store_full")) => (false, Some(STORE_FULL_ATTEMPTS)),
                // `outcome_unknown`, or a 503 from something in front of Baton.
                (502..=504, _) => (true, None),
                _ => return None,
            },
            Self::Malformed(_) | Self::GaveUp { .. } => return None,
        };
        Some(Transient {
            outcome_unknown,
            max_attempts,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { message: m, .. }
            | Self::Refused { message: m, .. }
            | Self::Malformed(m) => f.write_str(m),
            Self::GaveUp {
                what,
                last,
                attempts,
                elapsed,
                writes,
                outcome_unknown,
            } => {
                let tries = if *attempts == 1 {
                    "attempt"
                } else {
                    "attempts"
                };
                let m = last.to_string();
                let m = m.trim_end_matches('.');
                write!(
                    f,
                    "could not {what}: {m}. Gave up after {attempts} {tries} in {}",
                    shown(*elapsed)
                )?;
                match (writes, outcome_unknown) {
                    (true, true) => {
                        f.write_str("; the outcome is unknown: it may or may not have taken effect")
                    }
                    (true, false) => f.write_str("; nothing was changed"),
                    (false, _) => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: Option<&str>) -> ApiError {
        ApiError::Refused {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.map(str::to_string),
            message: String::new(),
        }
    }

    #[test]
    fn each_answer_maps_to_the_documented_exit_code() {
        let cases = [
            (
                "granted elsewhere, after any wait",
                refused(423, Some("locked")),
                3,
            ),
            ("frozen env", refused(403, Some("frozen")), 4),
            (
                "token not scoped to the env",
                refused(403, Some("forbidden")),
                5,
            ),
            ("unknown token", refused(401, Some("unauthorized")), 5),
            ("bad duration", refused(400, Some("bad_request")), 2),
            ("unknown env", refused(404, Some("unknown_env")), 2),
            ("someone else's lock", refused(409, Some("not_holder")), 3),
            ("redis down", refused(503, Some("store_unavailable")), 6),
            ("proxy in front of a dead Baton", refused(502, None), 6),
            ("wrong --url path", refused(404, None), 2),
            (
                "connection refused",
                ApiError::Unreachable {
                    message: String::new(),
                    sent: false,
                },
                6,
            ),
            (
                "a key reused for another request",
                refused(409, Some("idempotency_key_reused")),
                2,
            ),
        ];
        for (what, err, code) in cases {
            assert_eq!(err.exit_code(), code, "{what}");
        }
    }

    #[test]
    fn only_lost_answers_and_503s_are_retried_and_only_some_leave_the_outcome_unknown() {
        let lost = ApiError::Unreachable {
            message: String::new(),
            sent: true,
        };
        let never_connected = ApiError::Unreachable {
            message: String::new(),
            sent: false,
        };
        let retried = |unknown| {
            Some(Transient {
                outcome_unknown: unknown,
                max_attempts: None,
            })
        };
        let cases = [
            ("answer lost or timed out", lost, retried(true)),
            ("connection never made", never_connected, retried(false)),
            (
                "store unreachable",
                refused(503, Some("store_unavailable")),
                retried(false),
            ),
            (
                "instance shutting down",
                refused(503, Some("shutting_down")),
                retried(false),
            ),
            (
                "store did not answer in time",
                refused(503, Some("outcome_unknown")),
                retried(true),
            ),
            ("a proxy's bare 503", refused(503, None), retried(true)),
            ("a proxy's 502", refused(502, None), retried(true)),
            ("a proxy's 504", refused(504, None), retried(true)),
            (
                "store full: a few tries only",
                refused(503, Some("store_full")),
                Some(Transient {
                    outcome_unknown: false,
                    max_attempts: Some(STORE_FULL_ATTEMPTS),
                }),
            ),
            ("a fault inside Baton", refused(500, Some("internal")), None),
            ("locked", refused(423, Some("locked")), None),
            ("rate limited is still 4xx", refused(429, None), None),
            ("not ours", refused(409, Some("not_holder")), None),
            ("wrong --url", ApiError::Malformed(String::new()), None),
        ];
        for (what, err, expected) in cases {
            assert_eq!(err.transient(), expected, "{what}");
        }
    }

    #[test]
    fn giving_up_says_whether_anything_may_have_changed() {
        let gave_up = |writes, unknown| ApiError::GaveUp {
            what: "take the lock on prod".into(),
            last: Box::new(refused(503, Some("store_unavailable"))),
            attempts: 4,
            elapsed: Duration::from_millis(2345),
            writes,
            outcome_unknown: unknown,
        };
        let unknown = gave_up(true, true);
        assert_eq!(unknown.exit_code(), 6);
        assert!(unknown.outcome_unknown());
        assert!(
            unknown
                .to_string()
                .starts_with("could not take the lock on prod: "),
            "{unknown}"
        );
        assert!(
            unknown.to_string().ends_with(
                "Gave up after 4 attempts in 2s 300ms; the outcome is unknown: it may or may not have taken effect"
            ),
            "{unknown}"
        );
        let unchanged = gave_up(true, false);
        assert!(!unchanged.outcome_unknown());
        assert!(unchanged.to_string().ends_with("; nothing was changed"));
        assert!(gave_up(false, false).to_string().ends_with("in 2s 300ms"));
    }
}
