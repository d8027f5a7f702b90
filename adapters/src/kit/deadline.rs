//! Answer within the deadline, or acknowledge and follow up. A chat platform drops an answer
//! that comes too late (Slack and Discord allow 3 s), so a request runs on its own task: what
//! finishes within the deadline is answered directly; anything slower is acknowledged at once
//! ("working on it", a deferral) and answered when it is done, by the platform's follow-up call.

use std::future::Future;
use std::time::Duration;

use baton_commands::{Baton, Outcome, Request};
use tokio::task::{JoinError, JoinHandle};

/// A request's outcome within the deadline, or the request still running.
pub enum Timely {
    /// Done in time: answer it directly.
    Now(Box<Outcome>),
    /// Past the deadline: acknowledge now, follow up with [`Pending::outcome`].
    Later(Pending),
}

/// A request still running after the deadline.
pub struct Pending(JoinHandle<Outcome>);

impl Pending {
    /// The outcome once the request is done (a lost task is answered as a bug, to the asker).
    pub async fn outcome(self) -> Outcome {
        settled(self.0.await)
    }
}

/// Runs `request` through the core on its own task and waits at most `deadline` for it; a zero
/// deadline acknowledges at once.
pub async fn run(baton: &Baton, request: Request, deadline: Duration) -> Timely {
    let baton = baton.clone();
    let work = async move { baton.run(request).await };
    if deadline.is_zero() {
        return Timely::Later(Pending(tokio::spawn(work)));
    }
    match within(deadline, work).await {
        Ok(joined) => Timely::Now(Box::new(settled(joined))),
        Err(task) => Timely::Later(Pending(task)),
    }
}

/// Runs `work` on its own task: how it ended if that was within `deadline`, else the task,
/// which keeps running (for work that answers by itself, such as a press posting its result).
pub async fn within<T: Send + 'static>(
    deadline: Duration,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<Result<T, JoinError>, JoinHandle<T>> {
    let mut task = tokio::spawn(work);
    match tokio::time::timeout(deadline, &mut task).await {
        Ok(joined) => Ok(joined),
        Err(_) => Err(task),
    }
}

fn settled(joined: Result<Outcome, JoinError>) -> Outcome {
    joined.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a chat command task failed");
        Outcome::lost()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quick_work_is_answered_and_slow_work_keeps_running_past_the_deadline() {
        let quick = within(Duration::from_millis(200), async { 7 }).await;
        assert_eq!(quick.ok().and_then(Result::ok), Some(7));
        let slow = within(Duration::from_millis(20), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            8
        })
        .await;
        let task = slow.expect_err("past the deadline");
        assert_eq!(task.await.unwrap(), 8, "the work finished after the ack");
    }
}
