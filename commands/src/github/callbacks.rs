//! GitHub's answers, each sent once however many instances run: a consumer group (`github`) of
//! its own on every env's audit stream, read like the notifier's. A grant of a GitHub holder
//! (`locked`, `handed_off`) is answered `approved` with the lock and fence; a GitHub waiter that
//! left the line without a grant (its wait ran out, an admin took it out) `rejected` with why.
//! An entry is acknowledged once answered (or given up on); an instance that dies first leaves
//! it pending, and another takes it over after `redeliver_after`. Transient failures (5xx, a
//! timeout) are retried with backoff, 429 after its Retry-After, within the notifier's policy.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::Reviews;
use crate::delivery::{Delivery, DeliveryError};
use crate::notify::deliver::{self, RetryPolicy};
use crate::notify::outbox::{Entry, Outbox};
use crate::notify::Target;
use crate::reply::Reply;
use crate::router::Baton;
use crate::store::github::RunRecord;
use crate::store::Store;

/// The consumer group on every env's history stream.
const GROUP: &str = "github";

/// Answers GitHub for one instance.
pub struct Callbacks {
    inner: Arc<Inner>,
    baton: Baton,
    poll: Duration,
}

struct Inner {
    outbox: Outbox,
    store: Store,
    reviews: Arc<dyn Reviews>,
    retry: RetryPolicy,
    in_flight: Mutex<HashMap<(String, String), Entry>>,
}

impl Callbacks {
    /// The answering side of `baton`'s envs, posting through `reviews`.
    pub fn new(baton: &Baton, reviews: Arc<dyn Reviews>, redeliver_after: Duration) -> Self {
        let outbox = Outbox::new(baton, redeliver_after).with_group(GROUP);
        Self {
            inner: Arc::new(Inner {
                outbox,
                store: baton.store().clone(),
                reviews,
                retry: RetryPolicy::default(),
                in_flight: Mutex::default(),
            }),
            baton: baton.clone(),
            poll: Duration::from_secs(1),
        }
    }

    /// Joins the consumer groups (`run` does it too); a test awaits it before changing state.
    pub async fn prepare(&self) -> Result<(), crate::store::StoreError> {
        self.inner.outbox.create_groups().await
    }

    /// Answers until `shutdown` resolves; what is in flight then is left for another instance.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wake = self.baton.events().subscribe();
        let keeper = self.inner.clone();
        let every = self.inner.outbox.keep_alive_every();
        let keep = tokio::spawn(async move { keeper.keep_alive(every).await });
        let mut prepared = false;
        let mut prune_at = Instant::now() + crate::notify::PRUNE_EVERY;
        loop {
            let cycle = async {
                if !prepared {
                    prepared = self.prepare().await.is_ok();
                }
                // Consumers of instances that are gone, as the notifier prunes its own group.
                if Instant::now() >= prune_at {
                    prune_at = Instant::now() + crate::notify::PRUNE_EVERY;
                    if let Err(e) = self.inner.outbox.prune_consumers().await {
                        tracing::debug!(error = %e, "pruning GitHub consumers failed");
                    }
                }
                while let Ok(n) = self.tick().await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = tokio::time::timeout(self.poll, wake.recv()).await;
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = cycle => {}
            }
        }
        keep.abort();
    }

    /// One read of the groups: entries that ask nothing are acknowledged, the others answered
    /// on tasks of their own. Returns how many entries were read.
    async fn tick(&self) -> Result<usize, crate::store::StoreError> {
        let entries = self.inner.outbox.read().await?;
        let read = entries.len();
        let mut silent = Vec::new();
        for e in entries {
            if self.inner.is_in_flight(&e) {
                continue;
            }
            // The comment's times in the team's zone, as the channel shows them.
            let zone = self.baton.zone();
            match crate::reply::with_zone(zone, || crate::wording::github_review(&e.event)) {
                None => silent.push(e),
                Some((approved, comment)) => {
                    self.inner.track(&e);
                    let inner = self.inner.clone();
                    tokio::spawn(async move { inner.answer(e, approved, comment).await });
                }
            }
        }
        self.inner
            .outbox
            .skip(&silent.iter().collect::<Vec<_>>())
            .await;
        Ok(read)
    }
}

impl Inner {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_in_flight(&self, e: &Entry) -> bool {
        self.in_flight()
            .contains_key(&(e.stream.clone(), e.id.clone()))
    }

    fn track(&self, e: &Entry) {
        self.in_flight()
            .insert((e.stream.clone(), e.id.clone()), e.clone());
    }

    /// Answers the run of `e`, then acknowledges `e`.
    async fn answer(&self, e: Entry, approved: bool, comment: String) {
        let holder = &e.event.holder;
        match self.store.github_run(holder).await {
            Ok(runs) => match runs.get(&e.event.env) {
                Some(run) => {
                    let deadline = Instant::now() + self.retry.give_up_after;
                    send(
                        &self.reviews,
                        run,
                        approved,
                        &comment,
                        &self.retry,
                        deadline,
                    )
                    .await;
                }
                None => {
                    tracing::warn!(%holder, "no callback is known for this GitHub run; it was never requested here or its record expired")
                }
            },
            // Left pending: another read (here or elsewhere) tries again.
            Err(err) => {
                tracing::warn!(error = %err, %holder, "cannot read the GitHub run's callback; retrying later");
                self.in_flight().remove(&(e.stream.clone(), e.id.clone()));
                return;
            }
        }
        self.outbox.finish(&[&e], "github", &[]).await;
        self.in_flight().remove(&(e.stream.clone(), e.id.clone()));
    }

    async fn keep_alive(&self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let entries: Vec<Entry> = self.in_flight().values().cloned().collect();
            if !entries.is_empty() {
                let _ = self.outbox.keep_claimed(&entries).await;
            }
        }
    }
}

/// One answer to GitHub, retried as the notifier retries a message.
pub async fn send(
    reviews: &Arc<dyn Reviews>,
    run: &RunRecord,
    approved: bool,
    comment: &str,
    retry: &RetryPolicy,
    deadline: Instant,
) -> bool {
    let one = OneRun {
        reviews: reviews.clone(),
        run: run.clone(),
        approved,
    };
    let target = Target::Person("github".into(), run.callback.clone());
    let reply = Reply::new(crate::reply::Tone::Info, comment, 0);
    matches!(
        deliver::deliver(&one, &target, &reply, retry, deadline).await,
        deliver::Outcome::Delivered
    )
}

/// One run's callback seen as a delivery target, so the notifier's retry loop (backoff,
/// Retry-After, give-up) applies unchanged.
struct OneRun {
    reviews: Arc<dyn Reviews>,
    run: RunRecord,
    approved: bool,
}

impl Delivery for OneRun {
    fn platform(&self) -> &'static str {
        "github"
    }

    fn to_channel<'a>(
        &'a self,
        _: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.reviews.review(&self.run, self.approved, &reply.title)
    }

    fn to_user<'a>(
        &'a self,
        _: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.reviews.review(&self.run, self.approved, &reply.title)
    }
}
