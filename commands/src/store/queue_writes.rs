//! Writes to BullMQ queues, through BullMQ's own scripts (bullmq-official). bullmq-official opens
//! its own connection (it cannot use Baton's), once, on the first write; an open `Queue` writes
//! `library` into the meta hash, which is why nothing opens one to look ([`super::queues`]).
//! Whether a write is safe on a queue's BullMQ version is the caller's decision.

use bullmq::options::RedisConnectionOptions;
use bullmq::redis_connection::RedisConnection;
use bullmq::{Queue, QueueOptions};

use super::{classify, Cause, Store, StoreError};

/// Jobs moved per retry script call (BullMQ's own default).
const RETRY_BATCH: u32 = 1000;
/// "Every job finished before the year 9999": retry them all, whatever this machine's clock says.
const RETRY_ALL_BEFORE: u64 = 253_402_300_799_000;

/// What to do to a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueWrite {
    /// Move every failed job back to waiting.
    Retry,
    /// Pause the queue.
    Pause,
    /// Resume it, moving a BullMQ 5 `paused` list back to `wait`.
    Resume,
}

/// Why a queue write did not happen (or may not have).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueWriteError {
    /// The store could not be used, or did not answer (see [`StoreError`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// With Sentinel, BullMQ's scripts would need the primary's address, which they cannot
    /// follow across a failover.
    #[error("queue writes are not available with Redis Sentinel yet: BullMQ's scripts would need the primary's address; use BullMQ's own tools for now")]
    NotWithSentinel,
    /// bullmq-official failed for a reason of its own (not Redis').
    #[error("BullMQ failed")]
    Library,
}

impl Store {
    /// Opens queue `name` under `prefix` with bullmq-official and runs `action`, bounded by five
    /// times `redis.timeout`. The caller has checked that the queue's meta hash exists.
    pub(crate) async fn bullmq_write(
        &self,
        prefix: &str,
        name: &str,
        action: QueueWrite,
    ) -> Result<(), QueueWriteError> {
        let bound = self.config.timeout * 5;
        let conn = self.bullmq_connection().await?;
        let opts = QueueOptions::new().prefix(prefix.to_string());
        let work = async {
            let q = Queue::with_connection(name, conn, opts).await?;
            match action {
                QueueWrite::Retry => {
                    q.retry_jobs("failed", RETRY_BATCH, Some(RETRY_ALL_BEFORE))
                        .await
                }
                QueueWrite::Pause => q.pause().await,
                // One resume moves at most 7000 jobs out of a BullMQ 5 `paused` list.
                QueueWrite::Resume => {
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
                tracing::error!(error = %e, queue = name, ?action, "BullMQ call failed");
                Err(match e {
                    bullmq::Error::Redis(e) => classify(&e, true).into(),
                    _ => QueueWriteError::Library,
                })
            }
            Err(_) => {
                tracing::error!(queue = name, ?bound, "BullMQ call timed out");
                Err(StoreError::Unknown.into())
            }
        }
    }

    /// bullmq-official's own connection (it cannot use Baton's), opened once, on first write.
    async fn bullmq_connection(&self) -> Result<RedisConnection, QueueWriteError> {
        let r = &self.config;
        if r.master_name.is_some() {
            return Err(QueueWriteError::NotWithSentinel);
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
                        bullmq::Error::Redis(e) => classify(&e, false),
                        _ => StoreError::Unavailable(Cause::Unreachable),
                    }
                    .into())
                }
                Err(_) => Err(StoreError::Unavailable(Cause::Timeout).into()),
            }
        };
        self.bullmq.get_or_try_init(|| open).await.cloned()
    }
}
