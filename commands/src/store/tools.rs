//! What the `baton dev` and `baton bench` commands need from Redis besides Baton's own state:
//! demo data on other services' keys (sessions, rate-limit counters, leaderboards, BullMQ queues
//! written by BullMQ's own scripts), and Redis' own command counts. Here, so that the binary never
//! builds a Redis command itself.

use std::collections::BTreeMap;
use std::time::Duration;

use bullmq::options::RedisConnectionOptions;
use bullmq::{Job, Queue, QueueOptions, Worker, WorkerOptions};
use redis::Value;

use super::queues::queue_key;
use super::{Store, StoreError};

/// A demo job: a name and JSON data, optionally delayed or with a priority.
#[derive(Clone, Debug)]
pub struct SeedJob {
    name: String,
    data: serde_json::Value,
    delay: Option<Duration>,
    priority: Option<u32>,
}

impl SeedJob {
    /// A job to run now.
    pub fn new(name: &str, data: serde_json::Value) -> Self {
        Self {
            name: name.to_string(),
            data,
            delay: None,
            priority: None,
        }
    }

    /// Runs only after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// With a priority (1 is the highest).
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = Some(priority);
        self
    }
}

/// One step of seeding a demo BullMQ queue, in order.
#[derive(Clone, Debug)]
pub enum SeedStep {
    /// Adds a job.
    Add(SeedJob),
    /// Takes the next job the way a worker does and fails it with this reason.
    Fail(String),
    /// Takes the next job, if any, and completes it with this JSON result.
    Complete(String),
    /// Pauses the queue.
    Pause,
}

/// Why seeding a demo queue failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The store could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// bullmq-official refused.
    #[error("BullMQ: {0}")]
    Bullmq(#[from] bullmq::Error),
    /// A `Fail` step found no job to take.
    #[error("no waiting job to fail")]
    NoJob,
}

impl Store {
    /// `SET key value EX ttl`: a demo string with a lifetime (a session, a fixed-window counter).
    pub async fn seed_text(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("EX").arg(ttl.as_secs());
        self.query::<Value>(&cmd).await.map(|_| ())
    }

    /// `ZADD key score member …`, then `PEXPIRE` when `ttl` is given: a demo sorted set (a
    /// sliding-window log, a leaderboard). Scores are sent as written.
    pub async fn seed_scores(
        &self,
        key: &str,
        members: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(key);
        for (score, member) in members {
            cmd.arg(score).arg(member);
        }
        self.query::<Value>(&cmd).await?;
        if let Some(ttl) = ttl {
            let mut cmd = redis::cmd("PEXPIRE");
            cmd.arg(key).arg(ttl.as_millis() as u64);
            self.query::<Value>(&cmd).await?;
        }
        Ok(())
    }

    /// Whether queue `name` under `prefix` exists (has its meta hash).
    pub async fn bullmq_queue_exists(&self, prefix: &str, name: &str) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(queue_key(prefix, name, "meta"));
        self.query(&cmd).await
    }

    /// Seeds queue `name` under `prefix` through bullmq-official, step by step, on connections
    /// of its own to `redis.url`: jobs taken, failed and completed the way a worker does, as a
    /// real app's would be.
    pub async fn seed_bullmq_queue(
        &self,
        prefix: &str,
        name: &str,
        steps: &[SeedStep],
    ) -> Result<(), SeedError> {
        let connection = RedisConnectionOptions::new().url(self.config.url.clone());
        let options = QueueOptions::new()
            .connection(connection.clone())
            .prefix(prefix.to_string());
        let queue = Queue::with_options(name, options).await?;
        let mut worker = None;
        for step in steps {
            if matches!(step, SeedStep::Fail(_) | SeedStep::Complete(_)) && worker.is_none() {
                let options = WorkerOptions::new()
                    .connection(connection.clone())
                    .prefix(prefix.to_string())
                    .autorun(false);
                let process = |_job: Job, _token| async move { Ok(serde_json::Value::Null) };
                worker = Some(Worker::with_options(name, process, options).await?);
            }
            match (step, &worker) {
                (SeedStep::Add(job), _) => add(&queue, job).await?,
                (SeedStep::Fail(reason), Some(w)) => {
                    let job = w.get_next_job_nonblocking("baton-dev-seed").await?;
                    let mut job = job.ok_or(SeedError::NoJob)?;
                    job.move_to_failed(reason).await?;
                }
                (SeedStep::Complete(result), Some(w)) => {
                    if let Some(mut job) = w.get_next_job_nonblocking("baton-dev-seed").await? {
                        job.move_to_completed(result).await?;
                    }
                }
                (SeedStep::Pause, _) => queue.pause().await?,
                _ => {}
            }
        }
        if let Some(worker) = worker {
            worker.close(0).await?;
        }
        queue.close().await;
        Ok(())
    }

    /// Per command its calls and server time, and the server's CPU time so far (`INFO
    /// commandstats cpu`): what `baton bench` compares before and after a run.
    pub async fn server_stats(&self) -> Result<ServerStats, StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("commandstats").arg("cpu");
        let info: String = self.query(&cmd).await?;
        let field = |rest: &str, name: &str| -> Option<u64> {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse::<f64>()
                .ok()
                .map(|f| f as u64)
        };
        let mut stats = ServerStats::default();
        for line in info.lines() {
            if let Some((name, rest)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            {
                let (Some(calls), Some(usec)) = (field(rest, "calls"), field(rest, "usec")) else {
                    continue;
                };
                stats
                    .commands
                    .insert(name.to_string(), CommandStat { calls, usec });
            } else if let Some(secs) = line
                .strip_prefix("used_cpu_sys:")
                .or_else(|| line.strip_prefix("used_cpu_user:"))
            {
                stats.cpu_us += (secs.trim().parse::<f64>().unwrap_or(0.0) * 1e6) as u64;
            }
        }
        Ok(stats)
    }

    /// Loads a script (`baton bench`'s comparison script) and answers its SHA-1.
    pub async fn script_load(&self, source: &str) -> Result<String, StoreError> {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(source);
        self.query_once(&cmd).await
    }

    /// Loads (or replaces) a function library (`baton bench`'s comparison library).
    pub async fn function_load(&self, source: &str) -> Result<String, StoreError> {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("LOAD").arg("REPLACE").arg(source);
        self.query_once(&cmd).await
    }
}

/// One command's totals in `INFO commandstats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandStat {
    /// Calls since the server started (or `CONFIG RESETSTAT`).
    pub calls: u64,
    /// Server time spent in them, µs (a script's own command includes what it runs).
    pub usec: u64,
}

/// What `INFO commandstats cpu` says.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// Per command name (lowercase, `evalsha`, `set`, …).
    pub commands: BTreeMap<String, CommandStat>,
    /// The server's user + system CPU time, µs.
    pub cpu_us: u64,
}

async fn add(queue: &Queue, job: &SeedJob) -> Result<(), bullmq::Error> {
    let mut add = queue.add(&job.name, job.data.clone());
    if let Some(delay) = job.delay {
        add = add.delay(delay);
    }
    if let Some(priority) = job.priority {
        add = add.priority(priority);
    }
    add.await?;
    Ok(())
}
