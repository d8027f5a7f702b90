//! Notifications: every state change announced in its env's channels, reminders and hand-offs
//! sent to the holder directly, each delivered once however many instances run.
//!
//! The outbox is the env's audit stream: the scripts already append every change there, in the
//! same atomic step as the change (reminders too: the sweeper turns a due reminder into an entry).
//! Every instance runs a [`Notifier`]; through one Redis consumer group per stream each entry is
//! claimed by exactly one of them, acknowledged once delivered (or given up on), and taken over by
//! another instance if its claimer dies first (after [`NotifyOptions::redeliver_after`]). Pub/Sub
//! only wakes the notifier early; it polls every second anyway. Delivery runs on its own tasks,
//! one lane per channel or person, so a platform that is down or rate limiting never slows a
//! command, and a channel in trouble never holds up another channel's messages or anyone's DMs.
//!
//! - `outbox`: the consumer groups: read, take over, keep claims alive, acknowledge.
//! - `render`: entries as messages; the changes of one moment become as few messages per
//!   channel as the platform's size limits allow, none of them cut.
//! - `lanes`: one queue per target, delivered in order; entries acknowledged once settled.
//! - `deliver`: one message to one target, with backoff and the platform's Retry-After.

pub(crate) mod deliver;
mod lanes;
pub(crate) mod outbox;
mod render;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;

use crate::store::audit::{Event, Kind};
pub use deliver::RetryPolicy;
use lanes::{Batch, Lanes, Shared};
use outbox::{Entry, Outbox};

use crate::bus::{BusMessage, EventBus};
use crate::config::Config;
use crate::delivery::Delivery;
use crate::reply::Reply;
use crate::router::Baton;

/// How often gone instances' consumers are pruned from the groups.
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Where a message goes: a platform and an id on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    /// An announcement channel.
    Channel(String, String),
    /// A person, by user id (a direct message).
    Person(String, String),
}

impl Target {
    fn platform(&self) -> &str {
        match self {
            Target::Channel(p, _) | Target::Person(p, _) => p,
        }
    }

    /// `slack:C024BE91L` or `discord:80351110224678912` (an identity or a configured channel).
    fn parse(text: &str, person: bool) -> Option<Self> {
        let (platform, id) = text.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        let (platform, id) = (platform.to_string(), id.to_string());
        Some(if person {
            Target::Person(platform, id)
        } else {
            Target::Channel(platform, id)
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Channel(p, id) => write!(f, "{p}:{id}"),
            Target::Person(p, id) => write!(f, "dm:{p}:{id}"),
        }
    }
}

/// Timings of the notifier; the defaults suit production, tests shorten them.
#[derive(Clone, Debug)]
pub struct NotifyOptions {
    /// An entry claimed by an instance that has not acknowledged it this long (and is not
    /// keeping its claim alive) is taken over by another: the bound on how late a message is
    /// when its first claimer died.
    pub redeliver_after: Duration,
    /// How often the outbox is read when no wake-up came over Pub/Sub.
    pub poll_interval: Duration,
    /// After a wake-up, how long to let the rest of the moment's changes arrive, so that one
    /// `freeze all` is one message and not one per env.
    pub batch_window: Duration,
    /// Retries of one message.
    pub retry: RetryPolicy,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            redeliver_after: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            batch_window: Duration::from_millis(150),
            retry: RetryPolicy::default(),
        }
    }
}

/// One message planned in a tick: its target, its text, and the entries (of its batch) it
/// covers.
struct Message {
    target: Target,
    reply: Reply,
    entries: Vec<usize>,
}

/// Delivers announcements, reminders and hand-off notices for one instance.
pub struct Notifier {
    /// The outbox, the platforms and the retry policy, shared with the delivery lanes.
    shared: Arc<Shared>,
    bus: EventBus,
    /// Announcement channels per env (only those of platforms that can deliver).
    channels: HashMap<String, Vec<Target>>,
    /// `ci:<name>` of the quiet CI tokens: their changes are not announced.
    quiet: HashSet<String>,
    options: NotifyOptions,
    /// Whether the consumer groups were joined.
    ready: AtomicBool,
    /// The zone the messages' text shows times in (`[defaults] timezone`).
    zone: chrono_tz::Tz,
}

impl Notifier {
    /// A notifier for `baton`'s envs that posts through `deliveries` (one per platform).
    pub fn new(baton: &Baton, config: &Config, deliveries: Vec<Arc<dyn Delivery>>) -> Self {
        let deliveries: HashMap<&'static str, Arc<dyn Delivery>> =
            deliveries.into_iter().map(|d| (d.platform(), d)).collect();
        let catalog = baton.catalog();
        let mut channels = HashMap::new();
        for env in catalog.envs() {
            let mut targets = Vec::new();
            for channel in &env.announce {
                match Target::parse(channel, false) {
                    Some(t) if deliveries.contains_key(t.platform()) => targets.push(t),
                    _ => {
                        tracing::warn!(env = %env.name, %channel, "announcements to this channel are skipped: its platform has no bot token configured")
                    }
                }
            }
            channels.insert(env.name.to_string(), targets);
        }
        let quiet = config
            .ci
            .tokens
            .iter()
            .filter(|t| t.quiet)
            .map(|t| format!("ci:{}", t.name))
            .collect();
        let options = NotifyOptions::default();
        let outbox = Outbox::new(baton, options.redeliver_after);
        Self {
            shared: Arc::new(Shared::new(outbox, deliveries, options.retry.clone())),
            bus: baton.events().clone(),
            channels,
            quiet,
            options,
            ready: AtomicBool::new(false),
            zone: catalog.timezone(),
        }
    }

    /// The same notifier with other timings.
    pub fn with_options(mut self, options: NotifyOptions) -> Self {
        let shared = Arc::get_mut(&mut self.shared).expect("no lane runs before `run`");
        shared.outbox.set_redeliver_after(options.redeliver_after);
        shared.retry = options.retry.clone();
        self.options = options;
        self
    }

    fn outbox(&self) -> &Outbox {
        &self.shared.outbox
    }

    fn can_deliver(&self, platform: &str) -> bool {
        self.shared.deliveries.contains_key(platform)
    }

    /// Joins the consumer groups of the streams that exist; `run` does it first when this was
    /// not called (or failed). Changes made before this are history, not news: a caller that must
    /// not miss the very next change (a test) awaits it before making one.
    pub async fn prepare(&self) -> Result<(), crate::store::StoreError> {
        self.outbox().create_groups().await?;
        self.ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Delivers until `shutdown` resolves. What is in flight then is left unacknowledged, so
    /// another instance delivers it after `redeliver_after`. Never stops on an error.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        // Every message is planned (and its text written) on this task: in the team's zone.
        let zone = self.zone;
        crate::reply::in_zone(zone, self.deliver_until(shutdown)).await
    }

    async fn deliver_until(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wake = self.bus.subscribe();
        let mut prune_at = Instant::now() + PRUNE_EVERY;
        let mut lanes = Lanes::new(self.shared.clone(), self.outbox().keep_alive_every());
        tracing::info!(consumer = self.outbox().consumer(), platforms = ?self.shared.deliveries.keys().collect::<Vec<_>>(), "notifier started");
        loop {
            let cycle = async {
                if !self.ready.load(Ordering::Relaxed) {
                    if let Err(e) = self.prepare().await {
                        tracing::warn!(error = %e, "notifier cannot prepare its outbox yet; retrying");
                        tokio::time::sleep(self.options.poll_interval).await;
                        return;
                    }
                }
                self.drain(&mut lanes).await;
                if Instant::now() >= prune_at {
                    prune_at = Instant::now() + PRUNE_EVERY;
                    match self.outbox().prune_consumers().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(
                            consumers = n,
                            "pruned consumers of instances that are gone"
                        ),
                        Err(e) => tracing::debug!(error = %e, "pruning consumers failed"),
                    }
                }
                self.wait_for_news(&mut wake).await;
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = cycle => {}
            }
        }
    }

    /// Waits for a change on the bus (then lets the moment's other changes arrive) or the poll.
    async fn wait_for_news(&self, wake: &mut Receiver<BusMessage>) {
        match tokio::time::timeout(self.options.poll_interval, wake.recv()).await {
            Err(_) => {}
            Ok(Err(RecvError::Closed)) => tokio::time::sleep(self.options.poll_interval).await,
            Ok(_) => {
                tokio::time::sleep(self.options.batch_window).await;
                // Their entries are in the streams already (appended with the publish).
                while !matches!(
                    wake.try_recv(),
                    Err(TryRecvError::Empty | TryRecvError::Closed)
                ) {}
            }
        }
    }

    /// Ticks until the outbox has nothing more for this instance.
    async fn drain(&self, lanes: &mut Lanes) {
        loop {
            match self.tick(lanes).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading the notification outbox failed; retrying");
                    return;
                }
            }
        }
    }

    /// One read of the outbox, handed to the lanes: returns how many entries it read.
    async fn tick(&self, lanes: &mut Lanes) -> Result<usize, crate::store::StoreError> {
        let mut entries = self.outbox().read().await?;
        let read = entries.len();
        // Our own entries, taken over from ourselves while a lane still holds them.
        entries.retain(|e| !self.shared.is_in_flight(e));
        if entries.is_empty() {
            return Ok(read);
        }
        entries.sort_by_key(Entry::order);
        let now = self.outbox().redis_now();
        let mut wanted: Vec<Vec<Target>> = entries.iter().map(|e| self.targets(e, now)).collect();
        self.drop_delivered(&entries, &mut wanted).await?;
        let fits = |t: &Target, r: &Reply| {
            let delivery = self.shared.deliveries.get(t.platform());
            delivery.is_none_or(|d| d.fits(r))
        };
        let messages = plan(&entries, &wanted, now, &fits);
        let mut owing = vec![0usize; entries.len()];
        for m in &messages {
            for &i in &m.entries {
                owing[i] += 1;
            }
        }
        let silent: Vec<&Entry> = entries
            .iter()
            .zip(&owing)
            .filter(|(_, n)| **n == 0)
            .map(|(e, _)| e)
            .collect();
        self.outbox().skip(&silent).await;
        lanes.dispatch(Batch::new(entries, owing), messages);
        Ok(read)
    }

    /// An entry taken over from a dead instance may have reached some targets already: those
    /// are dropped from `wanted`.
    async fn drop_delivered(
        &self,
        entries: &[Entry],
        wanted: &mut [Vec<Target>],
    ) -> Result<(), crate::store::StoreError> {
        let owed: Vec<(usize, Target)> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.redelivered)
            .flat_map(|(i, _)| wanted[i].iter().map(move |t| (i, t.clone())))
            .collect();
        if owed.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(&Entry, String)> = owed
            .iter()
            .map(|(i, t)| (&entries[*i], t.to_string()))
            .collect();
        let done = self.outbox().delivered(&pairs).await?;
        for ((i, t), done) in owed.iter().zip(done) {
            if done {
                wanted[*i].retain(|w| w != t);
            }
        }
        Ok(())
    }

    /// Who hears of an entry: its env's channels (not for reminders, nor for a quiet CI token's
    /// own changes), and the holder directly for reminders and hand-offs, and for a freeze
    /// window's notice whoever holds a lock or claim that runs into it.
    fn targets(&self, entry: &Entry, now: u64) -> Vec<Target> {
        let e = &entry.event;
        let reminder = matches!(e.kind, Kind::LockReminder | Kind::ClaimReminder);
        let mut out = Vec::new();
        if !reminder && !self.quiet.contains(initiator(e)) {
            out.extend(self.channels.get(&e.env).into_iter().flatten().cloned());
        }
        // A reminder or "you hold it now" that arrives after the hold ended would mislead.
        let current = e.expires > now;
        if (reminder || e.kind == Kind::HandedOff) && current {
            let person = Target::parse(&e.holder, true).filter(|t| self.can_deliver(t.platform()));
            out.extend(person);
        }
        // A coming freeze window: whoever holds a lock or claim that runs into it, while it is
        // still ahead.
        if e.kind == Kind::WindowNotice && e.starts > now {
            for holder in [&e.holder, &e.claim_holder] {
                let person = Target::parse(holder, true).filter(|t| self.can_deliver(t.platform()));
                if let Some(p) = person.filter(|p| !out.contains(p)) {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// The identity that made the change: the actor, else the holder (who locked, claimed, queued),
/// without the `#…` a CI lock's holder carries (`ci:deploy#1a2b3c4d`). Expiries are Baton's own
/// doing, whoever held the env.
fn initiator(e: &Event) -> &str {
    let who = match e.kind {
        Kind::LockExpired
        | Kind::ClaimExpired
        | Kind::OfferLapsed
        | Kind::FreezeEnded
        | Kind::WindowNotice => "",
        _ => match e.actor.as_str() {
            "" => &e.holder,
            actor => actor,
        },
    };
    who.split('#').next().unwrap_or(who)
}

/// The tick's messages: per channel, the entries' announcements (batched into as few messages
/// as the platform `fits`); per person, one message per entry (each has its own buttons).
fn plan(
    entries: &[Entry],
    wanted: &[Vec<Target>],
    now: u64,
    fits: &dyn Fn(&Target, &Reply) -> bool,
) -> Vec<Message> {
    let mut channels: BTreeMap<&Target, Vec<usize>> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, targets) in wanted.iter().enumerate() {
        for t in targets {
            match t {
                Target::Channel(..) => channels.entry(t).or_default().push(i),
                Target::Person(..) => out.push(Message {
                    target: t.clone(),
                    reply: render::direct(&entries[i], t, now),
                    entries: vec![i],
                }),
            }
        }
    }
    for (target, members) in channels {
        let batch: Vec<&Entry> = members.iter().map(|&i| &entries[i]).collect();
        for (covered, reply) in render::announcements(&batch, now, &|r| fits(target, r)) {
            out.push(Message {
                target: target.clone(),
                reply,
                entries: covered.into_iter().map(|j| members[j]).collect(),
            });
        }
    }
    out
}
