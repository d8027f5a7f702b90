//! Writes to BullMQ queues: `admin queue retry|pause|resume <name>`, through BullMQ's own
//! scripts (bullmq-official), only on a queue whose meta hash exists and only where the queue's
//! BullMQ major version makes it safe (the table in [`super::queues`]).
//!
//! The writes themselves are the store's (`store::queue_writes`): bullmq-official opens its own
//! connection, once, on the first write.
//!
//! # Format
//! `admin queue retry|pause|resume <name>`

use super::audit;
use super::queues::shown_count;
use super::AdminDesk;
use crate::command::{AdminArg, QueueAction};
use crate::domain::wall_clock;
use crate::domain::Actor;
use crate::error::BatonError;
use crate::reply::{Reply, Tone, Value};
use crate::store::queue_writes::{QueueWrite, QueueWriteError};
use crate::store::queues::SCRIPTS_MAJOR;

impl AdminDesk {
    /// `admin queue retry|pause|resume <name>`, through BullMQ's own scripts.
    pub(super) async fn admin_queue_action(
        &self,
        actor: &Actor,
        action: QueueAction,
        queue: &AdminArg,
    ) -> Result<Reply, BatonError> {
        let name = self.known_queue(queue).await?;
        let before = self.queue_snapshot(&name).await?;
        if before.meta.is_empty() {
            return Err(self.no_such_queue(queue).await);
        }
        let (version, major) = before.version();
        safe_to_write(&name, &version, major, action, before.paused())
            .map_err(BatonError::Refused)?;
        let now = wall_clock();
        let failed = before.count("failed").unwrap_or(0);
        let unchanged = match action {
            QueueAction::Retry if failed == 0 => {
                Some(format!("{name} has no failed jobs to retry"))
            }
            QueueAction::Pause if before.paused() => Some(format!("{name} is already paused")),
            QueueAction::Resume if !before.paused() && before.count("paused") == Some(0) => {
                Some(format!("{name} is not paused"))
            }
            _ => None,
        };
        if let Some(title) = unchanged {
            return Ok(Reply::new(Tone::Info, title, now));
        }
        self.bullmq_write(&name, action).await?;
        let detail = match action {
            QueueAction::Retry => format!("{failed} failed job(s) moved to waiting"),
            QueueAction::Pause => format!("paused with {} waiting", before.waiting().unwrap_or(0)),
            QueueAction::Resume => {
                format!("resumed with {} waiting", before.waiting().unwrap_or(0))
            }
        };
        let verb = format!("queue {}", action.as_str());
        let entry = audit(actor, &verb, &name, &detail);
        let prefix = &self.admin.config.bullmq_prefix;
        let after = self
            .store
            .queue_snapshot(prefix, &name, Some(entry))
            .await?;
        let title = match action {
            QueueAction::Retry => {
                let moved = failed.saturating_sub(after.count("failed").unwrap_or(0));
                format!(
                    "{} retried {moved} failed jobs of {name}; BullMQ sees them as waiting again",
                    actor.display
                )
            }
            QueueAction::Pause => format!("{} paused {name}", actor.display),
            QueueAction::Resume => format!("{} resumed {name}", actor.display),
        };
        Ok(Reply::new(Tone::Success, title, wall_clock())
            .field("State", Value::Text(after.state().into()))
            .field("Waiting", shown_count(after.waiting()))
            .field("Failed", shown_count(after.count("failed")))
            .field("BullMQ", Value::Text(version)))
    }

    /// Runs `action` through BullMQ's own scripts (the queue's meta hash exists: checked by
    /// the caller).
    async fn bullmq_write(&self, name: &str, action: QueueAction) -> Result<(), BatonError> {
        let write = match action {
            QueueAction::Retry => QueueWrite::Retry,
            QueueAction::Pause => QueueWrite::Pause,
            QueueAction::Resume => QueueWrite::Resume,
        };
        let prefix = &self.admin.config.bullmq_prefix;
        match self.store.bullmq_write(prefix, name, write).await {
            Ok(()) => Ok(()),
            Err(QueueWriteError::Store(e)) => Err(e.into()),
            Err(e @ QueueWriteError::NotWithSentinel) => Err(BatonError::Refused(e.to_string())),
            Err(QueueWriteError::Library) => Err(BatonError::Internal),
        }
    }
}

/// Whether BullMQ 6's scripts may do `action` to a queue written by BullMQ `version`; if not, why
/// and what to do instead.
fn safe_to_write(
    name: &str,
    version: &str,
    major: Option<u64>,
    action: QueueAction,
    paused: bool,
) -> Result<(), String> {
    match (major, action) {
        (Some(SCRIPTS_MAJOR), _) => Ok(()),
        (Some(5), QueueAction::Resume) => Ok(()),
        (Some(5), QueueAction::Retry) if !paused => Ok(()),
        (Some(5), QueueAction::Retry) => Err(format!(
            "{name} is a paused BullMQ {version} queue: retrying it with BullMQ {SCRIPTS_MAJOR}'s scripts puts jobs where BullMQ 5 loses them when it resumes. Resume it first (`admin queue resume {name}`), then retry"
        )),
        (Some(5), QueueAction::Pause) => Err(format!(
            "{name} is a BullMQ {version} queue: BullMQ {SCRIPTS_MAJOR}'s pause leaves BullMQ 5's paused layout half-done, and a later BullMQ 5 resume loses jobs. Pause it from the app with BullMQ 5 (`queue.pause()`), or move its producers and workers to BullMQ {SCRIPTS_MAJOR} first"
        )),
        (Some(_), _) => Err(format!(
            "{name} was written by BullMQ {version}, but Baton writes with BullMQ {SCRIPTS_MAJOR}'s scripts (bullmq-official), which could corrupt it; use BullMQ {version}'s own tools to {} it",
            action.as_str()
        )),
        (None, _) => Err(format!(
            "{name}'s meta hash records no BullMQ version, so Baton cannot tell whether BullMQ {SCRIPTS_MAJOR}'s scripts are safe on it; open the queue once with BullMQ (`new Queue('{name}')`) so it records its version, then try again"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bullmq_5_queues_may_be_resumed_and_retried_only_while_running() {
        let ok = |major, action, paused| safe_to_write("q", "v", major, action, paused).is_ok();
        assert!(ok(Some(6), QueueAction::Pause, false));
        assert!(ok(Some(6), QueueAction::Retry, true));
        assert!(ok(Some(5), QueueAction::Resume, true));
        assert!(ok(Some(5), QueueAction::Retry, false));
        assert!(!ok(Some(5), QueueAction::Retry, true));
        assert!(!ok(Some(5), QueueAction::Pause, false));
        assert!(!ok(Some(7), QueueAction::Resume, true));
        assert!(!ok(None, QueueAction::Retry, false));
        let why =
            safe_to_write("emails", "5.81.5", Some(5), QueueAction::Pause, false).unwrap_err();
        assert!(
            why.contains("loses jobs") && why.contains("BullMQ 5"),
            "{why}"
        );
    }
}
