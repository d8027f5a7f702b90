//! The event bus between instances: one Redis Pub/Sub subscription per instance, fanned out to
//! local listeners (CI waiters, the SSE stream). Pub/Sub is a wake-up call, not a source of truth:
//! after a reconnect listeners get [`BusMessage::Resync`] and re-read state, because anything
//! published while the subscription was down is lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::store::{Store, SubMsg};

/// A state change as published by the scripts.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// What happened: `locked`, `handed_off`, `lock_expired`, …
    pub kind: String,
    /// Where.
    pub env: String,
    /// The holder it concerns, when there is one.
    #[serde(default)]
    pub holder: Option<String>,
    /// The JSON as published, for the SSE stream.
    #[serde(skip)]
    pub raw: String,
}

/// What listeners receive.
#[derive(Clone, Debug)]
pub enum BusMessage {
    /// A state change.
    Event(Arc<Event>),
    /// The subscription was (re)established: events may have been missed, re-read state.
    Resync,
}

/// The instance's subscription to the event channel (and the sweeper's heartbeat channel).
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<BusMessage>,
    heartbeats: tokio::sync::watch::Sender<u64>,
}

impl EventBus {
    /// Subscribes on a connection of its own and keeps reconnecting, with backoff, for as long
    /// as the runtime lives.
    /// Stops (quietly) once `closing` turns true, when the service shuts down.
    pub fn start(store: Store, mut closing: tokio::sync::watch::Receiver<bool>) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let heartbeats = tokio::sync::watch::Sender::new(0);
        let bus = Self {
            tx: tx.clone(),
            heartbeats: heartbeats.clone(),
        };
        let heartbeat_channel = store.keys().sweeper_channel();
        let subscription = async move {
            let mut backoff = Duration::from_millis(100);
            // When the store replaces a connection that stopped answering, the subscription went
            // through the same broken path: subscribe again on a fresh connection too.
            let mut replaced = store.connection_replaced();
            loop {
                match store.subscribe_events().await {
                    Ok(mut stream) => {
                        backoff = Duration::from_millis(100);
                        replaced.mark_unchanged();
                        let _ = tx.send(BusMessage::Resync);
                        loop {
                            let msg = tokio::select! {
                                msg = stream.next() => msg,
                                _ = replaced.changed() => None,
                            };
                            let Some(msg) = msg else { break };
                            match msg {
                                SubMsg::Message { channel, .. } if channel == heartbeat_channel => {
                                    heartbeats.send_modify(|n| *n += 1);
                                }
                                // Nobody here listens (a CI-only instance between waits):
                                // a message no receiver would get is not worth reading.
                                SubMsg::Message { .. } if tx.receiver_count() == 0 => {}
                                SubMsg::Message { payload: raw, .. } => {
                                    match serde_json::from_str::<Event>(&raw) {
                                        Ok(mut event) => {
                                            event.raw = raw;
                                            let _ = tx.send(BusMessage::Event(Arc::new(event)));
                                        }
                                        Err(e) => {
                                            tracing::warn!(error = %e, "unreadable event on the bus")
                                        }
                                    }
                                }
                                SubMsg::Reconnected => {
                                    let _ = tx.send(BusMessage::Resync);
                                }
                            }
                        }
                        tracing::warn!("event subscription lost; reconnecting");
                    }
                    Err(e) => tracing::debug!(error = %e, "event bus cannot reach Redis yet"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = subscription => {}
                _ = closing.wait_for(|closing| *closing) => {}
            }
        });
        bus
    }

    /// Counts the sweeper lease holder's heartbeats heard (see `events.rs`): while it moves, no
    /// other instance needs to ask Redis whether the lease is taken.
    pub fn heartbeats(&self) -> tokio::sync::watch::Receiver<u64> {
        self.heartbeats.subscribe()
    }

    /// A new listener; it sees what is published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.tx.subscribe()
    }
}
