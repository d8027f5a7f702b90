//! One message to one target, with retries: backoff for transient failures, exactly the
//! platform's Retry-After for a 429, none for a refusal. A message is retried until it is
//! [`RetryPolicy::give_up_after`] old (counted from the change it announces), so a channel that
//! is down for a while still gets its messages once it is back. Every attempt is counted in
//! `baton_deliveries_total{platform, outcome}`.

use std::time::{Duration, Instant};

use crate::delivery::{Delivery, DeliveryError};
use crate::reply::Reply;

use super::Target;

/// How hard the notifier tries before it gives up on a message (and logs why).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// A message whose change is older than this is not tried again: the bound on how long a
    /// channel may be down (or rate limited) and still get everything afterwards.
    pub give_up_after: Duration,
    /// Wait after the first transient failure; it doubles after each one.
    pub first_backoff: Duration,
    /// The longest wait between two attempts after transient failures.
    pub max_backoff: Duration,
    /// One attempt that takes longer than this counts as a transient failure.
    pub attempt_timeout: Duration,
    /// A Retry-After longer than this is not waited for: the message is given up.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(3600),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

/// How a message ended. Either way it is settled: the notifier acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The platform took it.
    Delivered,
    /// The platform refused it for good (unknown channel, missing permission).
    Refused(String),
    /// Every attempt failed, or the platform asked for too long a pause.
    GaveUp(String),
}

/// Sends `reply` to `target` through `delivery`, retrying as `policy` says until `deadline`.
pub(crate) async fn deliver(
    delivery: &dyn Delivery,
    target: &Target,
    reply: &Reply,
    policy: &RetryPolicy,
    deadline: Instant,
) -> Outcome {
    let platform = delivery.platform();
    let count = |outcome: &'static str| {
        metrics::counter!("baton_deliveries_total", "platform" => platform, "outcome" => outcome)
            .increment(1);
    };
    let mut backoff = policy.first_backoff;
    let mut attempt = 0u32;
    let last = loop {
        attempt += 1;
        let wait = match attempt_once(delivery, target, reply, policy).await {
            Ok(()) => {
                count("delivered");
                if attempt > 1 {
                    tracing::info!(%target, attempt, "message delivered after retrying");
                }
                return Outcome::Delivered;
            }
            Err(DeliveryError::Refused(why)) => {
                count("refused");
                tracing::warn!(%target, reason = %why, title = %reply.title, "the platform refused the message; not retrying");
                return Outcome::Refused(why);
            }
            Err(DeliveryError::RateLimited(after)) => {
                count("rate_limited");
                let last = format!("rate limited; the platform asked to retry after {after:?}");
                if after > policy.max_retry_after {
                    break last;
                }
                (after, last)
            }
            Err(DeliveryError::Failed(why)) => {
                count("failed");
                let wait = backoff;
                backoff = (backoff * 2).min(policy.max_backoff);
                (wait, why)
            }
        };
        let (wait, last) = wait;
        if Instant::now() + wait > deadline {
            break last;
        }
        tracing::debug!(%target, attempt, ?wait, reason = %last, "delivery failed; retrying");
        tokio::time::sleep(wait).await;
    };
    count("gave_up");
    tracing::warn!(%target, attempt, reason = %last, title = %reply.title, "message could not be delivered; giving up");
    Outcome::GaveUp(last)
}

/// One attempt, bounded by the policy's attempt timeout.
async fn attempt_once(
    delivery: &dyn Delivery,
    target: &Target,
    reply: &Reply,
    policy: &RetryPolicy,
) -> Result<(), DeliveryError> {
    let sent = match target {
        Target::Channel(_, id) => delivery.to_channel(id, reply),
        Target::Person(_, id) => delivery.to_user(id, reply),
    };
    tokio::time::timeout(policy.attempt_timeout, sent)
        .await
        .unwrap_or_else(|_| {
            Err(DeliveryError::Failed(format!(
                "no answer within {:?}",
                policy.attempt_timeout
            )))
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::reply::Tone;

    /// Answers with a script of results, then successes; records when each call came.
    struct Scripted {
        answers: Mutex<Vec<Result<(), DeliveryError>>>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn new(mut answers: Vec<Result<(), DeliveryError>>) -> Self {
            answers.reverse();
            Self {
                answers: Mutex::new(answers),
                calls: Mutex::new(Vec::new()),
            }
        }

        fn answer(&self) -> Result<(), DeliveryError> {
            self.calls.lock().unwrap().push(Instant::now());
            self.answers.lock().unwrap().pop().unwrap_or(Ok(()))
        }
    }

    impl Delivery for Scripted {
        fn platform(&self) -> &'static str {
            "slack"
        }
        fn to_channel<'a>(
            &'a self,
            _: &'a str,
            _: &'a Reply,
        ) -> BoxFuture<'a, Result<(), DeliveryError>> {
            let answer = self.answer();
            Box::pin(async move { answer })
        }
        fn to_user<'a>(
            &'a self,
            _: &'a str,
            _: &'a Reply,
        ) -> BoxFuture<'a, Result<(), DeliveryError>> {
            let answer = self.answer();
            Box::pin(async move { answer })
        }
    }

    static REPLY_UNUSED: std::sync::LazyLock<Reply> =
        std::sync::LazyLock::new(|| Reply::new(Tone::Info, "", 0));

    fn quick() -> RetryPolicy {
        RetryPolicy {
            give_up_after: Duration::from_secs(5),
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(40),
            attempt_timeout: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(5),
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    fn channel() -> Target {
        Target::Channel("slack".into(), "C1".into())
    }

    #[tokio::test]
    async fn a_429_waits_exactly_retry_after_then_delivers() {
        let d = Scripted::new(vec![Err(DeliveryError::RateLimited(
            Duration::from_millis(300),
        ))]);
        let later = Instant::now() + Duration::from_secs(5);
        let out = deliver(&d, &channel(), &REPLY_UNUSED, &quick(), later).await;
        assert_eq!(out, Outcome::Delivered);
        let calls = d.calls.lock().unwrap();
        assert_eq!(calls.len(), 2);
        assert!(calls[1] - calls[0] >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn transient_failures_back_off_and_give_up_at_the_deadline() {
        let failed = || Err(DeliveryError::Failed("503".into()));
        let d = Scripted::new((0..100).map(|_| failed()).collect());
        let deadline = Instant::now() + Duration::from_millis(300);
        let out = deliver(&d, &channel(), &REPLY_UNUSED, &quick(), deadline).await;
        assert_eq!(out, Outcome::GaveUp("503".into()));
        let calls = d.calls.lock().unwrap();
        assert!(calls.len() >= 3, "{} attempts", calls.len());
        assert!(
            calls.iter().all(|c| *c <= deadline),
            "none after the deadline"
        );
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] >= Duration::from_millis(20), "{gaps:?}");
        assert!(gaps[1] >= Duration::from_millis(40), "doubles: {gaps:?}");
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_a_huge_retry_after_is_not_waited_for() {
        let d = Scripted::new(vec![Err(DeliveryError::Refused(
            "channel_not_found".into(),
        ))]);
        let out = deliver(&d, &channel(), &REPLY_UNUSED, &quick(), soon()).await;
        assert_eq!(out, Outcome::Refused("channel_not_found".into()));
        assert_eq!(d.calls.lock().unwrap().len(), 1);

        let d = Scripted::new(vec![Err(DeliveryError::RateLimited(Duration::from_secs(
            3600,
        )))]);
        let started = Instant::now();
        let out = deliver(&d, &channel(), &REPLY_UNUSED, &quick(), soon()).await;
        assert!(matches!(out, Outcome::GaveUp(why) if why.contains("rate limited")));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
