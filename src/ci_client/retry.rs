//! Retrying one logical operation: the same idempotency key on every attempt, exponential backoff
//! with jitter between attempts, and a deadline after which `baton ci` gives up and says whether
//! the operation may have taken effect.
//!
//! The schedule is pure (it takes the clock and the random draw as arguments) so the unit tests
//! can check it without sleeping; [`with_retries`] is the only place that sleeps.

use std::future::Future;
use std::time::Duration;

use rand::RngCore;
use tokio::time::Instant;

use super::error::ApiError;

/// The first pause between attempts (before jitter); each later pause doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// A retry is started only if it can have at least this long before the deadline.
const MIN_ATTEMPT: Duration = Duration::from_secs(1);
/// How many attempts an operation gets while Baton's store is full. A Redis at `maxmemory` does
/// not drain in seconds; it needs an operator or expiring keys. A few quick tries cover a brief
/// spike; a minute of them would only delay the pipeline's failure message.
pub const STORE_FULL_ATTEMPTS: u32 = 3;

/// The `Idempotency-Key` of one logical operation, sent unchanged with every retry of it, so
/// Baton answers a retry with the original outcome instead of doing the operation twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A fresh key: 128 random bits from the OS, as 32 lowercase hex digits.
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A key given on the command line: 1 to 200 of `A-Z a-z 0-9 . _ : -`, as Baton accepts.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (1..=200).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "`{raw}` is not an idempotency key: use 1 to 200 letters, digits, `.`, `_`, `:` or `-`"
            ))
        }
    }

    /// The key as the header carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for IdempotencyKey {
    fn default() -> Self {
        Self::new()
    }
}

/// How hard `baton ci` tries: `--retry-for` and `--request-timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// How long to keep retrying one operation, on top of any `--wait`; zero sends it once.
    pub retry_for: Duration,
    /// How long one request may take (a waiting lock gets its wait on top).
    pub request_timeout: Duration,
}

/// The pause before retry number `retry` (0 for the first retry): the exponential step, capped
/// at [`MAX_PAUSE`], of which a random half (`unit` in 0..1) is added to the other half, so
/// pipelines that failed together do not all come back at the same instant.
pub fn pause(retry: u32, unit: f64) -> Duration {
    let step = FIRST_PAUSE
        .saturating_mul(2u32.saturating_pow(retry.min(16)))
        .min(MAX_PAUSE);
    step / 2 + (step / 2).mul_f64(unit.clamp(0.0, 1.0))
}

/// When one operation must be over.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// None: one attempt only (`--retry-for 0`).
    deadline: Option<Instant>,
}

impl Schedule {
    /// The schedule of an operation started at `start`; `wait` is a waiting lock's wait.
    pub fn new(start: Instant, patience: &Patience, wait: Duration) -> Self {
        let deadline = (!patience.retry_for.is_zero()).then(|| start + wait + patience.retry_for);
        Self { deadline }
    }

    /// The first attempt's time limit: its own, cut to the deadline (but never below
    /// [`MIN_ATTEMPT`]) so a request that hangs cannot outlast it.
    pub fn first(&self, now: Instant, own: Duration) -> Duration {
        match self.deadline {
            Some(d) => own.min(d.saturating_duration_since(now).max(MIN_ATTEMPT)),
            None => own,
        }
    }

    /// The time limit of a retry that would start after `pause`, or None when it could not have
    /// [`MIN_ATTEMPT`] before the deadline.
    pub fn retry(&self, now: Instant, pause: Duration, own: Duration) -> Option<Duration> {
        let left = self.deadline?.checked_duration_since(now + pause)?;
        (left >= MIN_ATTEMPT).then(|| own.min(left))
    }
}

/// One logical operation, for messages: what it does and whether it changes anything.
pub struct Op<'a> {
    /// "take the lock on prod", for the retry lines on stderr.
    pub what: &'a str,
    /// Whether the operation changes state (so a lost answer leaves its outcome unknown).
    pub writes: bool,
}

/// Runs `attempt` (given each attempt's time limit) until it succeeds, fails in a way a retry
/// cannot help, or the schedule runs out; then [`ApiError::GaveUp`] carries the last error and
/// whether any attempt may have taken effect.
pub async fn with_retries<T, F, Fut>(
    op: Op<'_>,
    schedule: Schedule,
    own: Duration,
    mut attempt: F,
) -> Result<T, ApiError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let start = Instant::now();
    let mut limit = schedule.first(start, own);
    let mut attempts = 0u32;
    let mut unknown = false;
    loop {
        attempts += 1;
        let err = match attempt(limit).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(transient) = err.transient() else {
            return Err(err);
        };
        unknown |= op.writes && transient.outcome_unknown;
        let pause = pause(attempts - 1, rand::random());
        let next = match transient.max_attempts {
            Some(max) if attempts >= max => None,
            _ => schedule.retry(Instant::now(), pause, own),
        };
        let Some(next) = next else {
            return Err(ApiError::GaveUp {
                what: op.what.to_string(),
                last: Box::new(err),
                attempts,
                elapsed: start.elapsed(),
                writes: op.writes,
                outcome_unknown: unknown,
            });
        };
        eprintln!(
            "baton: could not {} yet ({err}); trying again in {}",
            op.what,
            shown(pause)
        );
        tokio::time::sleep(pause).await;
        limit = next;
    }
}

/// A duration for people, to a tenth of a second.
pub fn shown(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64 / 100 * 100))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn patience(retry_for: u64) -> Patience {
        Patience {
            retry_for: Duration::from_secs(retry_for),
            request_timeout: 15 * SECOND,
        }
    }

    #[test]
    fn pauses_double_from_a_quarter_second_and_stop_growing_at_five_seconds() {
        let cases = [
            ("first retry, least jitter", 0, 0.0, 125),
            ("first retry, most jitter", 0, 1.0, 250),
            ("second retry, half jitter", 1, 0.5, 375),
            ("fifth retry reaches the cap", 5, 1.0, 5000),
            ("a late retry stays capped", 40, 0.0, 2500),
            (
                "a late retry stays capped, most jitter",
                u32::MAX,
                1.0,
                5000,
            ),
            ("an out-of-range draw is clamped", 2, 7.0, 1000),
        ];
        for (what, retry, unit, ms) in cases {
            assert_eq!(pause(retry, unit), Duration::from_millis(ms), "{what}");
        }
    }

    #[test]
    fn no_retry_starts_unless_it_can_have_a_second_before_the_deadline() {
        let start = Instant::now();
        let s = Schedule::new(start, &patience(10), Duration::ZERO);
        let own = 15 * SECOND;
        assert_eq!(
            s.retry(start + 2 * SECOND, SECOND, own),
            Some(7 * SECOND),
            "a retry's limit is cut to what is left"
        );
        assert_eq!(s.retry(start + 8 * SECOND, SECOND, own), Some(SECOND));
        assert_eq!(s.retry(start + 8 * SECOND, 2 * SECOND, own), None);
        assert_eq!(s.retry(start + 11 * SECOND, SECOND, own), None);
        assert_eq!(
            s.retry(start, SECOND, 2 * SECOND),
            Some(2 * SECOND),
            "own limit when shorter"
        );
    }

    #[test]
    fn the_first_attempt_is_cut_to_the_deadline_but_keeps_a_second() {
        let start = Instant::now();
        let s = Schedule::new(start, &patience(10), Duration::ZERO);
        assert_eq!(s.first(start, 15 * SECOND), 10 * SECOND);
        assert_eq!(s.first(start, 3 * SECOND), 3 * SECOND);
        assert_eq!(s.first(start + 20 * SECOND, 15 * SECOND), SECOND);
    }

    #[test]
    fn a_waiting_lock_gets_its_wait_on_top_of_the_retry_time() {
        let start = Instant::now();
        let s = Schedule::new(start, &patience(60), 600 * SECOND);
        assert_eq!(s.first(start, 615 * SECOND), 615 * SECOND);
        assert_eq!(
            s.retry(start + 650 * SECOND, SECOND, 615 * SECOND),
            Some(9 * SECOND)
        );
    }

    #[test]
    fn retry_for_zero_sends_once_with_the_requests_own_limit() {
        let start = Instant::now();
        let s = Schedule::new(start, &patience(0), Duration::ZERO);
        assert_eq!(s.first(start, 15 * SECOND), 15 * SECOND);
        assert_eq!(s.retry(start, Duration::ZERO, 15 * SECOND), None);
    }

    fn answered(status: u16, code: &str) -> ApiError {
        ApiError::Refused {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            code: Some(code.into()),
            message: format!("{status} {code}"),
        }
    }

    /// Runs `with_retries` over scripted answers; returns its result and how many were used.
    async fn scripted(
        retry_for: u64,
        answers: Vec<Result<u8, ApiError>>,
    ) -> (Result<u8, ApiError>, usize) {
        let answers = std::sync::Mutex::new(answers.into_iter());
        let used = std::sync::atomic::AtomicUsize::new(0);
        let op = Op {
            what: "test",
            writes: true,
        };
        let schedule = Schedule::new(Instant::now(), &patience(retry_for), Duration::ZERO);
        let result = with_retries(op, schedule, SECOND, |_| {
            used.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = answers.lock().unwrap().next().expect("a scripted answer");
            async move { next }
        })
        .await;
        (result, used.into_inner())
    }

    #[tokio::test]
    async fn a_retry_after_an_unknown_outcome_returns_the_answer_baton_gives() {
        let (result, used) = scripted(
            30,
            vec![
                Err(answered(503, "outcome_unknown")),
                Err(answered(503, "store_unavailable")),
                Ok(7),
            ],
        )
        .await;
        assert_eq!((result.unwrap(), used), (7, 3));
    }

    #[tokio::test]
    async fn a_refusal_ends_the_retries_at_once() {
        let (result, used) = scripted(
            30,
            vec![
                Err(answered(503, "outcome_unknown")),
                Err(answered(423, "locked")),
            ],
        )
        .await;
        assert_eq!(result.unwrap_err().code(), Some("locked"));
        assert_eq!(used, 2);
    }

    #[tokio::test]
    async fn a_full_store_is_tried_three_times_and_nothing_was_changed() {
        let full = || Err(answered(503, "store_full"));
        let (result, used) = scripted(30, vec![full(), full(), full(), full()]).await;
        let err = result.unwrap_err();
        assert_eq!(used, STORE_FULL_ATTEMPTS as usize);
        assert!(matches!(err, ApiError::GaveUp { attempts: 3, .. }), "{err}");
        assert!(!err.outcome_unknown(), "{err}");
    }

    #[tokio::test]
    async fn one_unknown_attempt_makes_the_whole_outcome_unknown() {
        let (result, used) = scripted(0, vec![Err(answered(503, "outcome_unknown")), Ok(1)]).await;
        let err = result.unwrap_err();
        assert_eq!(used, 1, "--retry-for 0 sends once");
        assert!(err.outcome_unknown(), "{err}");
    }

    #[test]
    fn keys_are_128_random_bits_in_hex_and_given_keys_are_checked() {
        let (a, b) = (IdempotencyKey::new(), IdempotencyKey::new());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert!(IdempotencyKey::parse("deploy-42:lock.prod_1").is_ok());
        let long = "k".repeat(201);
        for bad in ["", "has space", "slash/", long.as_str()] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
