//! Writes to BullMQ queues: `admin queue retry|pause|resume <name>`, through BullMQ's own
//! scripts (bullmq-official), only on a queue whose meta hash exists and only where the queue's
//! BullMQ major version makes it safe (the table in [`super::queues`]).
//!
//! bullmq-official opens its own connection (it cannot use Baton's), once, on the first write; an
//! open `Queue` writes `library` into the meta hash, which is why nothing opens one to look.
//!
//! # Format
//! `admin queue retry|pause|resume <name>`

use bullmq::options::RedisConnectionOptions;
use bullmq::redis_connection::RedisConnection;
use bullmq::{Queue, QueueOptions};
use redis::Value as RedisValue;

use super::queues::{shown_count, SCRIPTS_MAJOR};
use crate::command::{AdminArg, QueueAction};
use crate::domain::Actor;
use crate::error::BatonError;
use crate::reply::{Reply, Tone, Value};
use crate::router::{wall_clock, Baton};
use crate::store::{classify, Cause};

/// Jobs moved per retry script call (BullMQ's own default).
const RETRY_BATCH: u32 = 1000;
/// "Every job finished before the year 9999": retry them all, whatever this machine's clock says.
const RETRY_ALL_BEFORE: u64 = 253_402_300_799_000;

impl Baton {
    /// `admin queue retry|pause|resume <name>`, through BullMQ's own scripts.
    pub(super) async fn admin_queue_action(
        &self,
        actor: &Actor,
        action: QueueAction,
        queue: &AdminArg,
    ) -> Result<Reply, BatonError> {
        let name = self.known_queue(queue).await?;
        let answers = self.store.query_many(self.queue_reads(&name)).await?;
        let before = Self::snapshot(&answers);
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
        let mut after_cmds = self.queue_reads(&name);
        let detail = match action {
            QueueAction::Retry => format!("{failed} failed job(s) moved to waiting"),
            QueueAction::Pause => format!("paused with {} waiting", before.waiting().unwrap_or(0)),
            QueueAction::Resume => {
                format!("resumed with {} waiting", before.waiting().unwrap_or(0))
            }
        };
        let verb = format!("queue {}", action.as_str());
        after_cmds.push(self.admin.audit(actor, &verb, &name, &detail));
        let answers = self.store.query_many(after_cmds).await?;
        if let Some(RedisValue::ServerError(e)) = answers.last() {
            tracing::error!(error = ?e, "admin audit entry not written");
        }
        let after = Self::snapshot(&answers);
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

    /// Opens the queue with bullmq-official (its meta hash exists: checked by the caller) and runs
    /// the action, bounded in time.
    async fn bullmq_write(&self, name: &str, action: QueueAction) -> Result<(), BatonError> {
        let bound = self.admin.redis.timeout * 5;
        let conn = self.bullmq_connection().await?;
        let opts = QueueOptions::new().prefix(self.admin.config.bullmq_prefix.clone());
        let work = async {
            let q = Queue::with_connection(name, conn, opts).await?;
            match action {
                QueueAction::Retry => {
                    q.retry_jobs("failed", RETRY_BATCH, Some(RETRY_ALL_BEFORE))
                        .await
                }
                QueueAction::Pause => q.pause().await,
                // One resume moves at most 7000 jobs out of a BullMQ 5 `paused` list.
                QueueAction::Resume => {
                    for _ in 0..1000 {
                        q.resume().await?;
                        let left: u64 = q
                            .connection()
                            .cmd(redis::cmd("LLEN").arg(q.keys().paused()))
                            .await?;
                        if left == 0 {
                            break;
                        }
                    }
                    Ok(())
                }
            }
        };
        match tokio::time::timeout(bound, work).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, queue = name, action = action.as_str(), "BullMQ call failed");
                Err(match e {
                    bullmq::Error::Redis(e) => classify(&e, true).into(),
                    _ => BatonError::Internal,
                })
            }
            Err(_) => {
                tracing::error!(queue = name, ?bound, "BullMQ call timed out");
                Err(BatonError::OutcomeUnknown)
            }
        }
    }

    /// bullmq-official's own connection (it cannot use Baton's), opened once, on first write.
    async fn bullmq_connection(&self) -> Result<RedisConnection, BatonError> {
        let r = &self.admin.redis;
        if r.master_name.is_some() {
            return Err(BatonError::Refused(
                "queue writes are not available with Redis Sentinel yet: BullMQ's scripts would need the primary's address; use BullMQ's own tools for now".into(),
            ));
        }
        let opts = if r.cluster.is_empty() {
            RedisConnectionOptions::new().url(r.url.clone())
        } else {
            RedisConnectionOptions::new().cluster_nodes(r.cluster.clone())
        };
        let open = async {
            match tokio::time::timeout(r.timeout, RedisConnection::new_managed_only(&opts)).await {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "bullmq-official could not connect");
                    Err(match e {
                        bullmq::Error::Redis(e) => classify(&e, false).into(),
                        _ => BatonError::StoreUnavailable(Cause::Unreachable),
                    })
                }
                Err(_) => Err(BatonError::StoreUnavailable(Cause::Timeout)),
            }
        };
        self.admin.bullmq.get_or_try_init(|| open).await.cloned()
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
