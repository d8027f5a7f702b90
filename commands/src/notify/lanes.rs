//! Delivery lanes: one queue and one task per target (a channel, or a person's DMs). A target's
//! messages go out one after another, in the order the changes happened; a target that is down
//! or rate limited (a 500, a 429 with a long Retry-After) holds up only its own lane, never
//! another channel or person. Rate limits are per channel on both platforms, so that is also
//! where waiting belongs.
//!
//! An entry is acknowledged once every message that covers it is settled; until then this
//! instance keeps its claim on it fresh, so no other instance takes it over and sends it again.
//! A lane with nothing queued ends; the next message to its target starts a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::deliver::{self, RetryPolicy};
use super::outbox::{Entry, Outbox};
use super::{Message, Target};
use crate::delivery::Delivery;

/// The entries of one read of the outbox, and how many messages each still waits for.
pub(crate) struct Batch {
    pub entries: Vec<Entry>,
    owing: Mutex<Vec<usize>>,
}

impl Batch {
    pub fn new(entries: Vec<Entry>, owing: Vec<usize>) -> Self {
        Self {
            entries,
            owing: Mutex::new(owing),
        }
    }

    /// Counts one more message of `m` settled: the entries now finished, and those still owed
    /// elsewhere.
    fn settle(&self, m: &Message) -> (Vec<&Entry>, Vec<&Entry>) {
        let mut owing = self.owing.lock().unwrap_or_else(|p| p.into_inner());
        let (mut done, mut partly) = (Vec::new(), Vec::new());
        for &i in &m.entries {
            owing[i] -= 1;
            if owing[i] == 0 {
                done.push(&self.entries[i]);
            } else {
                partly.push(&self.entries[i]);
            }
        }
        (done, partly)
    }
}

/// What every lane shares: where to send, how hard to try, and the outbox to settle in.
pub(crate) struct Shared {
    pub outbox: Outbox,
    pub deliveries: HashMap<&'static str, Arc<dyn Delivery>>,
    pub retry: RetryPolicy,
    /// Entries handed to a lane and not yet acknowledged, by (stream, id).
    in_flight: Mutex<HashMap<(String, String), Entry>>,
}

impl Shared {
    pub fn new(
        outbox: Outbox,
        deliveries: HashMap<&'static str, Arc<dyn Delivery>>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            outbox,
            deliveries,
            retry,
            in_flight: Mutex::default(),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `e` is already being delivered here (read again by a take-over of our own).
    pub fn is_in_flight(&self, e: &Entry) -> bool {
        self.in_flight()
            .contains_key(&(e.stream.clone(), e.id.clone()))
    }

    /// Delivers one message, then acknowledges the entries it finished.
    async fn send(&self, m: &Message, batch: &Batch) {
        if let Some(delivery) = self.deliveries.get(m.target.platform()) {
            let deadline = self.deadline(m, batch);
            deliver::deliver(
                delivery.as_ref(),
                &m.target,
                &m.reply,
                &self.retry,
                deadline,
            )
            .await;
        }
        let (done, partly) = batch.settle(m);
        self.outbox
            .finish(&done, &m.target.to_string(), &partly)
            .await;
        let mut in_flight = self.in_flight();
        for e in done {
            in_flight.remove(&(e.stream.clone(), e.id.clone()));
        }
    }

    /// When to stop trying: `give_up_after` from the oldest change the message announces.
    fn deadline(&self, m: &Message, batch: &Batch) -> Instant {
        let born = m
            .entries
            .iter()
            .map(|&i| batch.entries[i].order().0)
            .min()
            .unwrap_or(0);
        let age = Duration::from_millis(self.outbox.redis_now().saturating_sub(born));
        Instant::now() + self.retry.give_up_after.saturating_sub(age)
    }

    /// Keeps this instance's claim on the entries in flight fresh, every `every`, forever.
    pub async fn keep_alive(&self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let entries: Vec<Entry> = self.in_flight().values().cloned().collect();
            if entries.is_empty() {
                continue;
            }
            // Acknowledged ids are no longer pending, and XCLAIM skips them.
            if let Err(e) = self.outbox.keep_claimed(&entries).await {
                tracing::debug!(error = %e, "could not refresh the claim on notifications being delivered");
            }
        }
    }
}

/// One message for a lane, with the read it came from.
struct Job {
    message: Message,
    batch: Arc<Batch>,
}

struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
    queued: Arc<AtomicUsize>,
}

/// The lanes of one notifier. Dropping it stops every lane (what is in flight stays
/// unacknowledged, for another instance to take over).
pub(crate) struct Lanes {
    shared: Arc<Shared>,
    lanes: HashMap<Target, Lane>,
    tasks: JoinSet<()>,
}

impl Lanes {
    /// The lanes, and the task that keeps their entries claimed every `keep_alive`.
    pub fn new(shared: Arc<Shared>, keep_alive: Duration) -> Self {
        let mut tasks = JoinSet::new();
        let keeper = shared.clone();
        tasks.spawn(async move { keeper.keep_alive(keep_alive).await });
        Self {
            shared,
            lanes: HashMap::new(),
            tasks,
        }
    }

    /// Queues each message on its target's lane; the batch's entries are in flight until every
    /// message covering them is settled.
    pub fn dispatch(&mut self, batch: Batch, messages: Vec<Message>) {
        self.end_idle();
        let batch = Arc::new(batch);
        {
            let mut in_flight = self.shared.in_flight();
            let covered = messages.iter().flat_map(|m| m.entries.iter().copied());
            for i in covered {
                let e = &batch.entries[i];
                in_flight.insert((e.stream.clone(), e.id.clone()), e.clone());
            }
        }
        for message in messages {
            let lane = self.lane(&message.target);
            lane.queued.fetch_add(1, Ordering::SeqCst);
            let job = Job {
                message,
                batch: batch.clone(),
            };
            if lane.jobs.send(job).is_err() {
                tracing::error!("a delivery lane stopped early; its messages go after a take-over");
            }
        }
    }

    fn lane(&mut self, target: &Target) -> &Lane {
        let (shared, tasks) = (&self.shared, &mut self.tasks);
        self.lanes.entry(target.clone()).or_insert_with(|| {
            let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
            let queued = Arc::new(AtomicUsize::new(0));
            let (shared, left) = (shared.clone(), queued.clone());
            tasks.spawn(async move {
                while let Some(job) = queue.recv().await {
                    shared.send(&job.message, &job.batch).await;
                    left.fetch_sub(1, Ordering::SeqCst);
                }
            });
            Lane { jobs, queued }
        })
    }

    /// Ends the lanes with nothing queued (closing its queue lets the task finish).
    fn end_idle(&mut self) {
        self.lanes
            .retain(|_, lane| lane.queued.load(Ordering::SeqCst) > 0);
        while self.tasks.try_join_next().is_some() {}
    }
}
