//! Time-driven work: the expiry sweeper settles due locks, claims, freezes and reminders so that a
//! hand-off happens when a lock lapses, not when someone next looks.
//!
//! What it costs Redis does not grow with the envs or the instances while nothing happens:
//!
//! - **One sweeper at a time.** Every instance runs the loop, but only the holder of the sweeper
//!   lease (`SET NX PX`, renewed every tick with `GETEX` and announced on a heartbeat channel)
//!   sweeps. The others hear the heartbeat on the event bus they keep anyway and ask Redis
//!   nothing; when it falls silent they try to take the lease, which lapses two ticks after its
//!   holder died, so another instance sweeps within a tick of that.
//! - **It knows what is due without asking every group.** On taking the lease (and after any
//!   gap in its subscription) the holder reads each group's earliest deadline once; after that
//!   it re-reads only the groups whose envs published a change (every change to a deadline is
//!   published by the same atomic script that made it), and settles a group when its earliest
//!   deadline is due.
//!
//! The lease is an economy, not a safety device: two sweepers at once (a paused holder) still
//! settle each expiry exactly once, because the settle script is atomic and idempotent.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::TryRecvError;

use crate::bus::BusMessage;
use crate::domain::EnvName;
use crate::error::BatonError;
use crate::router::Baton;
use crate::services::Expiry;
use crate::store::contracts::SettleArgs;

/// The holder's view of what is due, in Redis' clock.
struct Schedule {
    /// Each group with its member envs.
    groups: HashMap<EnvName, Vec<EnvName>>,
    /// An env's group.
    group_of: HashMap<String, EnvName>,
    /// Each group's earliest deadline, as last read.
    next: HashMap<EnvName, u64>,
    /// Groups to read again (a change was published on one of their envs).
    dirty: HashSet<EnvName>,
    /// Every group must be read again (newly holding, or events may have been missed).
    rescan: bool,
}

impl Expiry {
    fn schedule(&self) -> Schedule {
        let mut groups = HashMap::new();
        let mut group_of = HashMap::new();
        for (group, envs) in self.catalog.by_group(self.catalog.envs()) {
            for env in &envs {
                group_of.insert(env.to_string(), group.clone());
            }
            groups.insert(group, envs);
        }
        Schedule {
            groups,
            group_of,
            next: HashMap::new(),
            dirty: HashSet::new(),
            rescan: true,
        }
    }

    /// Reads the earliest deadline of the groups that need it: all of them after a rescan
    /// request, else only those a change was published on. One round trip, or none.
    async fn refresh(&self, s: &mut Schedule) -> Result<(), BatonError> {
        let groups: Vec<EnvName> = if s.rescan {
            s.groups.keys().cloned().collect()
        } else {
            s.dirty.iter().cloned().collect()
        };
        if groups.is_empty() {
            return Ok(());
        }
        let refs: Vec<&EnvName> = groups.iter().collect();
        let answer = self.store.next_deadlines(&refs).await?;
        s.rescan = false;
        s.dirty.clear();
        for (group, next) in groups.into_iter().zip(answer.next) {
            match next {
                Ok(Some(at)) => {
                    s.next.insert(group, at);
                }
                Ok(None) => {
                    s.next.remove(&group);
                }
                Err(_) => {
                    s.dirty.insert(group);
                }
            }
        }
        Ok(())
    }

    /// Settles every group whose earliest deadline is due; returns how many envs were settled.
    /// A settled group is read again next tick, whether or not its settling published anything.
    async fn settle_due(&self, s: &mut Schedule) -> Result<usize, BatonError> {
        // Redis' clock, as the last read (`next_deadlines`) or script answer showed it.
        let now = self.store.now_ms();
        let due: Vec<EnvName> = s
            .next
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(g, _)| g.clone())
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let calls = due
            .iter()
            .filter_map(|g| Some((g, s.groups.get(g)?)))
            .map(|(g, envs)| {
                let refs: Vec<&EnvName> = envs.iter().collect();
                self.store.prepare(&SettleArgs::SWEEP, g, &refs)
            })
            .collect();
        let mut settled = 0;
        let mut failed = None;
        let mut sets: Vec<String> = Vec::new();
        for (group, answer) in due.into_iter().zip(self.store.call_each(calls).await) {
            s.next.remove(&group);
            s.dirty.insert(group);
            match answer {
                Ok(answer) => {
                    let envs = answer.into_parts().1;
                    settled += envs.len();
                    sets.extend(envs.into_iter().filter_map(|e| e.set_head));
                }
                Err(e) => failed = Some(e),
            }
        }
        sets.sort();
        sets.dedup();
        if let Err(e) = self.settle_sets(&sets).await {
            failed = Some(e);
        }
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(settled),
        }
    }

    /// Settles each set whose waiter heads a free env's line, with every env of the set in one
    /// call, so the set's turn is decided (prelude.lua's `set_turn`): handed over whole, or looked
    /// at again when the waiter would lapse.
    async fn settle_sets(&self, sets: &[String]) -> Result<(), crate::store::StoreError> {
        for set in sets {
            let names: Vec<EnvName> = set
                .split(',')
                .filter_map(|n| EnvName::parse(n).ok())
                .collect();
            let Ok(envs) = names
                .iter()
                .map(|n| self.catalog.env(n))
                .collect::<Result<Vec<_>, _>>()
            else {
                tracing::warn!(
                    set,
                    "a set waiter waits for an env that is no longer configured"
                );
                continue;
            };
            let pairs: Vec<(&EnvName, &EnvName)> = envs
                .iter()
                .map(|e| (self.catalog.group_of(e), &e.name))
                .collect();
            match self.store.prepare_across(&SettleArgs::SWEEP, &pairs) {
                Ok(call) => {
                    self.store.call(call).await?;
                }
                Err(why) => {
                    tracing::warn!(set, why, "a set waiter's envs cannot be settled together")
                }
            }
        }
        Ok(())
    }

    /// Notes what the bus says: a change on an env makes its group dirty; a gap (resubscribed,
    /// or this listener fell behind) means anything may have changed.
    fn listen(s: &mut Schedule, rx: &mut tokio::sync::broadcast::Receiver<BusMessage>) {
        loop {
            match rx.try_recv() {
                Ok(BusMessage::Event(e)) => {
                    if let Some(group) = s.group_of.get(&e.env) {
                        s.dirty.insert(group.clone());
                    }
                }
                Ok(BusMessage::Resync) | Err(TryRecvError::Lagged(_)) => s.rescan = true,
                Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => return,
            }
        }
    }
}

/// This instance's side of the sweeper lease.
struct Lease {
    id: String,
    ttl: Duration,
    silence: Duration,
    holding: bool,
    last_heard: Option<Instant>,
    heartbeats: tokio::sync::watch::Receiver<u64>,
}

impl Lease {
    fn new(interval: Duration, heartbeats: tokio::sync::watch::Receiver<u64>) -> Self {
        Self {
            // The process id says which instance holds it (`redis-cli get baton:{sweeper}:lease`).
            id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            ttl: (interval * 2).max(Duration::from_millis(200)),
            silence: interval * 3 / 2,
            holding: false,
            last_heard: None,
            heartbeats,
        }
    }

    /// Keeps or seeks the lease; answers whether this instance sweeps this tick and whether it
    /// has just become the holder.
    async fn tick(&mut self, expiry: &Expiry) -> (bool, bool) {
        let store = &expiry.store;
        if self.holding {
            match store.lease_renew(&self.id, self.ttl).await {
                Ok(true) | Err(_) => return (true, false),
                Ok(false) => {
                    tracing::info!("another instance holds the sweeper lease now");
                    self.holding = false;
                    self.last_heard = Some(Instant::now());
                    return (false, false);
                }
            }
        }
        if self.heartbeats.has_changed().unwrap_or(false) {
            self.heartbeats.borrow_and_update();
            self.last_heard = Some(Instant::now());
        }
        if self.last_heard.is_some_and(|t| t.elapsed() < self.silence) {
            return (false, false);
        }
        match store.lease_take(&self.id, self.ttl).await {
            Ok(true) => {
                tracing::info!("this instance holds the sweeper lease");
                self.holding = true;
                (true, true)
            }
            Ok(false) | Err(_) => {
                // Someone holds it (or Redis is away): listen for a while before asking again.
                self.last_heard = Some(Instant::now());
                (false, false)
            }
        }
    }
}

/// The sweeper's loop for `baton` (see [`Baton::run_sweeper`]).
pub(crate) async fn run(
    baton: &Baton,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    {
        let this = baton;
        let expiry = this.core.expiry();
        let mut calendar = crate::windows::CalendarCursor::default();
        let mut rx = this.events().subscribe();
        let mut lease = Lease::new(interval, this.events().heartbeats());
        let mut schedule = expiry.schedule();
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {}
            }
            Expiry::listen(&mut schedule, &mut rx);
            let (sweeping, fresh) = lease.tick(&expiry).await;
            if fresh || !sweeping {
                schedule.rescan = true;
                schedule.next.clear();
                schedule.dirty.clear();
            }
            if !sweeping {
                continue;
            }
            let swept = match expiry.refresh(&mut schedule).await {
                Ok(()) => expiry.settle_due(&mut schedule).await,
                Err(e) => Err(e),
            };
            match swept {
                Ok(0) => {}
                Ok(n) => tracing::debug!(envs = n, "settled due deadlines"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying next tick"),
            }
            // The calendar's notices and window ends: also the lease holder's alone. A new holder
            // starts with a fresh cursor, so nothing that ended meanwhile is missed.
            if fresh {
                calendar = crate::windows::CalendarCursor::default();
            }
            if let Err(e) = expiry.calendar_tick(&mut calendar).await {
                tracing::warn!(error = %e, "freeze calendar tick failed; retrying next tick");
            }
        }
        if lease.holding {
            let _ = expiry.store.lease_release(&lease.id).await;
        }
    }
}
