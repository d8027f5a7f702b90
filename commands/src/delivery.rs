//! Outbound messages. The core decides what to say and to whom; each platform adapter implements
//! [`Delivery`] to post it (Slack `chat.postMessage`, a Discord channel message, a DM). Retries,
//! rate limits and exactly-once claiming live with the caller (the notifier), not the platform.

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::reply::Reply;

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The platform asked us to slow down; try again after this long.
    #[error("rate limited by the platform; retry after {0:?}")]
    RateLimited(Duration),
    /// A transient failure (network, 5xx): worth retrying with backoff.
    #[error("delivery failed: {0}")]
    Failed(String),
    /// A permanent refusal (unknown channel, missing permission): retrying will not help.
    #[error("delivery refused: {0}")]
    Refused(String),
}

/// Posts replies on one platform.
pub trait Delivery: Send + Sync + 'static {
    /// The identity prefix this delivers for: `slack` or `discord`.
    fn platform(&self) -> &'static str;

    /// Posts `reply` to a channel, by the platform's channel id.
    fn to_channel<'a>(
        &'a self,
        channel: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;

    /// Whether `reply` goes out as one message on this platform with nothing cut or left out.
    /// The notifier asks before it sends, and splits an announcement that does not fit into
    /// several messages (each delivered, and retried, on its own).
    fn fits(&self, reply: &Reply) -> bool {
        let _ = reply;
        true
    }

    /// Sends `reply` to one person directly, by the platform's user id.
    fn to_user<'a>(
        &'a self,
        user: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}
